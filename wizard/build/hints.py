"""Known build failures -> what to do. A first-time developer sees `ERROR: ... failed with exit code 1` and a
wall of compiler output; for the causes we know (most of them host problems, not bugs in the layers) the
wizard says in one or two sentences what happened and which step fixes it.

Each cause is a compiled pattern over the error messages, their raw output and the failing task's log tail.
The order matters: the most specific cause first (a full disk makes fetches and compiles fail too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Hint:
    id: str
    title: str
    text: str
    step: str = ""          # the wizard step that fixes it, when there is one

    def line(self) -> str:
        return f"{self.title}: {self.text}"


_CAUSES = [
    ("disk-full", re.compile(r"No space left on device|ENOSPC|disk space monitor action is \"?(?:STOPTASKS|ABORT)"
                             r"|free space of .* is running low", re.I),
     "The disk is full",
     "the build ran out of disk space. Free space on the disk that holds the project (a full build needs about "
     "{disk_gb} GB; deleting build/tmp-glibc frees most of it, at the cost of rebuilding), then retry.", "host"),
    ("root", re.compile(r"Do not use Bitbake as root|should not be run as root", re.I),
     "Running as root",
     "bitbake refuses to run as root. Run the wizard as your normal user (without sudo); if the project was "
     "created as root, give it to your user first (chown -R).", "host"),
    ("locale", re.compile(r"locale setting which supports UTF-8|supports utf-8|needs to support the en_US\.UTF-8 "
                          r"locale|unsupported locale setting", re.I),
     "No UTF-8 locale",
     "bitbake needs the en_US.UTF-8 locale. Generate it (Debian/Ubuntu: `sudo locale-gen en_US.UTF-8`, or "
     "`sudo dpkg-reconfigure locales`), then retry.", "host"),
    ("python-too-new", re.compile(r"cannot import name '(?:Mutable)?(?:Mapping|Sequence|Set|Callable|Iterable)' "
                                  r"from 'collections'|No module named '(?:imp|distutils|asynchat|asyncore)'"
                                  r"|module 'collections' has no attribute", re.I),
     "Python too new for this bitbake",
     "this release's bitbake needs a Python older than {python_max}, but it started with the host's newer one. "
     "The buildtools Python comes from environment-setup-x86_64-wrlinuxsdk-linux, which must be sourced before "
     "oe-init-build-env (the wizard does this); if the buildtools are missing, re-run the 'Create project' step.",
     "project"),
    ("cuda-gcc", re.compile(r"unsupported GNU version!? gcc versions? later than \d+|host_config\.h.*unsupported "
                            r"GNU version", re.I),
     "Host compiler too new for CUDA",
     "CUDA 10.0 only accepts gcc up to version 7. local.conf must pin GCCVERSION = \"7.%\" and include "
     "contrib/conf/include/gcc-compat.conf (the wizard's settings block does both): re-run the 'Configure "
     "local.conf' step, then retry.", "localconf"),
    ("nvidia-download", re.compile(r"(?:Fetcher failure|Unable to find file|Unable to fetch|Checksum mismatch"
                                   r"|checksum failed)[^\n]*(?:sdkm_downloads|developer\.nvidia\.com|devnet"
                                   r"|cuda-repo|libcudnn|libnvinfer|tensorrt|libvisionworks|nvidia-l4t|"
                                   r"NVIDIA_DEVNET_MIRROR)", re.I),
     "An NVIDIA download is missing",
     "the build reads the JetPack files (CUDA, cuDNN, TensorRT, VisionWorks) from your SDK Manager downloads "
     "folder, and one of them is missing or damaged. Go back to the 'Verify downloads' step "
     "(wrnv-wizard verify-downloads), fix what it reports, then retry.", "downloads"),
    ("memory", re.compile(r"Killed signal terminated program|virtual memory exhausted|Cannot allocate memory"
                          r"|fatal error: Killed|out of memory", re.I),
     "Out of memory",
     "a compiler was killed for lack of memory. Close other programs or lower the parallelism in local.conf "
     "(e.g. BB_NUMBER_THREADS = \"4\" and PARALLEL_MAKE = \"-j 4\"), then retry.", ""),
    ("another-bitbake", re.compile(r"Only one copy of bitbake should be run against a build directory", re.I),
     "Another bitbake is running",
     "another bitbake already uses this build folder. Wait for it to end or stop it, then retry.", ""),
    ("whitelist", re.compile(r"PNWHITELIST|was skipped: Recipe .* not in the whitelist|not in PNWHITELIST", re.I),
     "A recipe is not enabled",
     "Wind River's layer whitelist skips the recipe. The wizard's local.conf block removes the whitelist "
     "(INHERIT_DISTRO remove \"whitelist\"): re-run the 'Configure local.conf' step, then retry.", "localconf"),
    ("nothing-provides", re.compile(r"Nothing PROVIDES|Nothing RPROVIDES|no buildable providers", re.I),
     "A package name is not known",
     "a name in IMAGE_INSTALL (or a dependency) is provided by no layer. Check the package choices on the "
     "'Board & distro' step and that setup.sh added every layer, then retry.", "board"),
    ("parse", re.compile(r"ParseError|ExpansionError|Failure expanding variable|unparsed line", re.I),
     "A recipe or configuration file has an error",
     "bitbake could not read a file: the error names the file and line. If it is conf/local.conf, re-run the "
     "'Configure local.conf' step (it rewrites the wizard's block) and check your own lines; a layer's file "
     "means the layer does not match this release (re-run 'Create project').", "localconf"),
    ("implicit-declaration", re.compile(r"implicit declaration of function", re.I),
     "The source does not build with this compiler",
     "the recipe's source calls a C function that the C library does not declare (newer compilers make this an "
     "error). It is the recipe's problem, not your setup's: check that the layers are at the release's revisions "
     "(re-run 'Create project'), or patch the recipe (a .bbappend in your own layer).", "project"),
    ("python-task", re.compile(r"Error executing a python function", re.I),
     "A recipe's Python code failed",
     "a Python function in a recipe or class raised an error (its last line above says which). It usually "
     "means a layer does not match this release or a local.conf value it reads is wrong.", ""),
    ("fetch", re.compile(r"Fetcher failure|Unable to fetch URL|Network access disabled|BB_NO_NETWORK", re.I),
     "A download failed",
     "bitbake could not download a source. Check the network (and a proxy, if you need one), or set a source "
     "mirror in the wizard's settings, then retry: finished work is kept.", ""),
]


def _facts(profile) -> dict:
    """Release facts the hint texts quote, from the profile (the fallbacks are this release's own values)."""
    host = dict(getattr(profile, "host", None) or {})
    return {"disk_gb": host.get("recommended_disk_gb", 150),
            "python_max": host.get("bitbake_python_max_exclusive", "3.10")}


def find_hint(lines: Iterable[str], profile=None) -> Hint | None:
    """The first known cause found in `lines`, or None. `profile` supplies the figures the texts quote."""
    text = "\n".join(lines)
    if not text:
        return None
    for hid, pattern, title, body, step in _CAUSES:
        if pattern.search(text):
            return Hint(hid, title, body.format(**_facts(profile)), step)
    return None


def summary_lines(summary) -> list:
    """Every line of the parsed summary that may name a cause: error texts with their output, and warnings
    (a 'disk space running low' warning explains a later failure)."""
    out: list = []
    for m in list(summary.errors) + list(summary.warnings):
        out.append(m.text)
        out.extend(m.more)
    # the raw end of the log: what bitbake printed when it died before any message (a traceback at import)
    out.extend(getattr(summary, "tail", None) or ())
    return out


def hint_for_summary(summary, task_log_tail: Iterable[str] = (), profile=None) -> Hint | None:
    """The hint for a finished build: from its errors first, then the failing task's own log."""
    return find_hint(list(summary_lines(summary)) + list(task_log_tail), profile)


def failure_detail(summary) -> str:
    """One line for the step state: what failed, e.g. `tini-0.18.0-r0 do_compile failed`."""
    if summary.result == "cancelled":
        return "stopped before the end"
    if getattr(summary, "killed", 0) and not summary.failed_tasks:
        return f"bitbake was killed (signal {summary.killed}) before it finished"
    if summary.failed_tasks:
        f = summary.failed_tasks[0]
        more = f" (and {len(summary.failed_tasks) - 1} more)" if len(summary.failed_tasks) > 1 else ""
        return f"{f.recipe} {f.task} failed{more}"
    hint = hint_for_summary(summary)
    if hint is not None:
        return hint.title
    if getattr(summary, "fatal", ""):
        return summary.fatal[:120]
    if summary.errors:
        return summary.errors[0].text[:120]
    if summary.exit_code not in (None, 0):
        return f"bitbake exited with code {summary.exit_code}"
    return "bitbake failed"


# Lines that name a cause in a task's log: compiler and linker errors, bitbake's ERROR lines, a Python
# exception's last line, a shell's "not found".
_CAUSE = re.compile(r"(?:^|[\s:])(?:fatal )?error(?::|\s\[|\b(?=.*:))|^ERROR: |^(?:\w+\.)*\w*(?:Error|Exception): "
                    r"|undefined reference to|No such file or directory|command not found|Killed signal"
                    r"|No space left on device|cannot import name", re.I)
# bitbake's own frame around a task's output: not a cause
_NOISE = re.compile(r"^(?:WARNING: exit code \d+ from a shell command|DEBUG: |NOTE: |ERROR: Logfile of failure"
                    r"|ERROR: Task \(|Log data follows:)")


@dataclass(frozen=True)
class Causes:
    """What a failed build's screen shows first: the lines that say why, then the last lines before the
    failure, and where they came from."""

    cause: tuple            # lines that name a cause (compiler errors, ERROR: lines, exception lines)
    last: tuple             # the last lines before the failure (context), without those already in `cause`
    source: str             # the file they were read from, or "" for the console log


def cause_lines(summary, task_log_tail=(), *, max_cause: int = 8, max_last: int = 6) -> Causes:
    """The cause lines of a failed build, from the failed task's own log when there is one, else from the
    error messages' bodies, else from the end of the console log."""
    lines, source = [], ""
    if task_log_tail:
        lines = [ln.rstrip() for ln in task_log_tail]
        source = summary.failed_tasks[0].log if summary.failed_tasks else ""
    else:
        for m in summary.errors:
            lines.append(f"ERROR: {m.text}")
            lines.extend(ln.rstrip() for ln in m.more)
        if not lines:
            lines = [ln.rstrip() for ln in (getattr(summary, "tail", None) or ())]
    lines = [ln for ln in lines if ln.strip()]
    cause: list = []
    for ln in lines:
        if _NOISE.match(ln.lstrip("| ")):
            continue
        if _CAUSE.search(ln) and ln not in cause:
            cause.append(ln)
    cause = cause[:max_cause]
    last = [ln for ln in lines if ln not in cause and not _NOISE.match(ln.lstrip("| "))][-max_last:]
    return Causes(tuple(cause), tuple(last), source)
