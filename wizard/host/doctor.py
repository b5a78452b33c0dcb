"""Host check: everything setup.sh, bitbake and dosdcard.sh would otherwise fail on hours later.

Each check returns pass / warn / fail, what it found, and the command that fixes it on this host's
distribution. Thresholds and tool lists come from the profile's [host] table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import humanize

from wizard.core import hostinfo
from wizard.core.profile import Profile

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class HostContext:
    """What the checks look at; tests point it at a temporary HOME or PATH instead of faking results."""

    profile: Profile
    project: Path
    env: dict
    distro: hostinfo.Distro
    euid: int

    @classmethod
    def current(cls, profile: Profile, project: Path, env: Optional[dict] = None) -> HostContext:
        return cls(profile=profile, project=Path(project), env=dict(os.environ if env is None else env),
                   distro=hostinfo.read_os_release(), euid=os.geteuid())

    def which(self, tool: str) -> Optional[str]:
        return shutil.which(tool, path=self.env.get("PATH", os.defpath))

    def install_command(self, tools: list) -> str:
        fam = self.distro.family
        table = self.profile.host.get(f"packages_{fam}", {}) or self.profile.host.get("packages_debian", {})
        pkgs = sorted({table.get(t, t) for t in tools})
        if fam == "fedora":
            return "sudo dnf install -y " + " ".join(pkgs)
        if fam == "suse":
            return "sudo zypper install -y " + " ".join(pkgs)
        return "sudo apt-get install -y " + " ".join(pkgs)


def _version_check(ctx: HostContext, name: str, argv: list, minimum: str, fix_tools: list) -> Check:
    found = ctx.which(argv[0])
    if not found:
        return Check(name, FAIL, f"{argv[0]} not found on PATH", ctx.install_command(fix_tools))
    got = hostinfo.tool_version(argv, ctx.env)
    need = hostinfo.parse_version(minimum)
    if got is None:
        return Check(name, FAIL, f"{found} did not report its version", ctx.install_command(fix_tools))
    shown = ".".join(map(str, got))
    if got < need:
        return Check(name, FAIL, f"{found} is {shown}; {minimum} or newer needed", ctx.install_command(fix_tools))
    return Check(name, PASS, f"{found} {shown}")


def check_bash(ctx: HostContext) -> Check:
    found = ctx.which("bash")
    if not found:
        return Check("bash", FAIL, "bash not found: setup.sh and the build scripts need it", ctx.install_command(["bash"]))
    return Check("bash", PASS, found)


def check_python2(ctx: HostContext) -> Check:
    if not ctx.profile.host.get("python2_min", "2.7.3"):
        return Check("python2", PASS, "not needed by this profile")
    c = _version_check(ctx, "python2", ["python2", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                       ctx.profile.host.get("python2_min", "2.7.3"), ["python2"])
    if c.status == FAIL:
        c.detail += " (Wind River LTS 19's setup.sh requires python2)"
        if ctx.distro.family == "debian" and ctx.distro.key in ("ubuntu-24.04", "debian-12", "debian-13"):
            c.fix = "this distribution has no python2 package: build in an Ubuntu 18.04 container (crops/poky:ubuntu-18.04)"
    return c


def check_python3(ctx: HostContext) -> Check:
    probe = ("import sys, urllib.request; urllib.request.HTTPSHandler; "
             "print('%d.%d.%d' % sys.version_info[:3])")
    return _version_check(ctx, "python3", ["python3", "-c", probe], ctx.profile.host.get("python3_min", "3.4"),
                          ["python3"])


def check_host_python(ctx: HostContext) -> Check:
    got = hostinfo.tool_version(["python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], ctx.env)
    limit = ctx.profile.host.get("bitbake_python_max_exclusive", "3.10")
    if got is None:
        return Check("host python for bitbake", WARN, "python3 did not run", ctx.install_command(["python3"]))
    shown = ".".join(map(str, got))
    why = (f"Zeus's bitbake fails on Python {limit}+, but the wizard always sources the Wind River buildtools "
           "environment first, which brings its own Python 3.7")
    if got >= hostinfo.parse_version(limit):
        return Check("host python for bitbake", PASS, f"host python3 is {shown}; {why}")
    return Check("host python for bitbake", PASS, f"host python3 {shown} works with Zeus's bitbake")


def check_required_tools(ctx: HostContext) -> Check:
    tools = list(ctx.profile.host.get("required_tools", []))
    missing = [t for t in tools if not ctx.which(t)]
    if missing:
        return Check("required host tools", FAIL,
                     f"{len(missing)} of {len(tools)} missing: {' '.join(missing)}", ctx.install_command(missing))
    return Check("required host tools", PASS, f"all {len(tools)} tools setup.sh requires are on PATH")


def check_sdcard_tools(ctx: HostContext) -> Check:
    """dosdcard.sh calls bare sgdisk (the wizard adds /usr/sbin:/sbin to its PATH, so they count) and a bare
    `python` for NVIDIA's scripts: the wizard picks one (wizard.core.tegraflash_python) and says which."""
    from wizard.core.tegraflash_python import choose, with_sbin

    tools = [t for t in ctx.profile.host.get("sdcard_tools", ["sgdisk"]) if not t.startswith("python")]
    sbin_path = with_sbin(ctx.env.get("PATH", os.defpath))
    missing = [t for t in tools if not shutil.which(t, path=sbin_path)]
    interp = choose(ctx.env.get("PATH", os.defpath))
    if interp is None:
        missing.append("python3")
        return Check("SD-card tools", FAIL, f"dosdcard.sh needs: {' '.join(missing)} (NVIDIA's flashing scripts "
                     "need Python 2.7 or 3.5+; none found on PATH)", ctx.install_command(missing))
    if missing:
        return Check("SD-card tools", FAIL, f"dosdcard.sh needs: {' '.join(missing)}", ctx.install_command(missing))
    return Check("SD-card tools", PASS, f"sgdisk found; NVIDIA's flashing scripts will run on {interp.describe()}")


def check_disk(ctx: HostContext) -> Check:
    where = hostinfo.existing_parent(ctx.project)
    free = hostinfo.free_bytes(ctx.project)
    minimum = int(ctx.profile.host["min_disk_gb"]) * 10**9
    recommended = int(ctx.profile.host.get("recommended_disk_gb", ctx.profile.host["min_disk_gb"])) * 10**9
    basis = ctx.profile.host.get("disk_basis", "")
    shown = f"{humanize.naturalsize(free)} free at {where}"
    fix = f"free space or choose another project folder (wrnv-wizard --project DIR); basis: {basis}"
    if free < minimum:
        return Check("free disk", FAIL, f"{shown}; at least {humanize.naturalsize(minimum)} needed", fix)
    if free < recommended:
        return Check("free disk", WARN, f"{shown}; {humanize.naturalsize(recommended)} recommended", fix)
    return Check("free disk", PASS, shown)


def check_memory(ctx: HostContext) -> Check:
    mem = hostinfo.total_memory_bytes()
    cores = os.cpu_count() or 1
    minimum = int(ctx.profile.host.get("min_ram_gb", 8)) * 10**9
    shown = f"{humanize.naturalsize(mem)} RAM, {cores} cores"
    if mem < minimum:
        return Check("memory and cores", WARN, f"{shown}; {humanize.naturalsize(minimum)} RAM recommended",
                     "add memory or swap; set BB_NUMBER_THREADS/PARALLEL_MAKE lower in local.conf")
    if cores < 4:
        return Check("memory and cores", WARN, f"{shown}; the build will take many hours on few cores")
    return Check("memory and cores", PASS, shown)


def check_locale(ctx: HostContext) -> Check:
    want = ctx.profile.host.get("locale", "en_US.UTF-8")
    if not want:
        return Check("locale", PASS, "no particular locale needed by this profile")
    have = hostinfo.locales(ctx.env)
    if hostinfo.normalise_locale(want) in have:
        return Check("locale", PASS, f"{want} is available")
    if ctx.distro.family == "debian":
        fix = (f"sudo sed -i 's/^# *{want}/{want}/' /etc/locale.gen && sudo locale-gen"
               if ctx.distro.id == "debian" else f"sudo locale-gen {want}")
    else:
        fix = f"install the {want} locale (e.g. sudo dnf install glibc-langpack-en)"
    return Check("locale", FAIL, f"{want} is not available (bitbake refuses to start without it)", fix)


def _git_config(ctx: HostContext, key: str) -> str:
    try:
        out = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True, timeout=10,
                             env=ctx.env, cwd=str(hostinfo.existing_parent(ctx.project)))
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def check_git_identity(ctx: HostContext) -> Check:
    if not ctx.which("git"):
        return Check("git identity", FAIL, "git not found", ctx.install_command(["git"]))
    name, email = _git_config(ctx, "user.name"), _git_config(ctx, "user.email")
    missing = [k for k, v in (("user.name", name), ("user.email", email)) if not v]
    if missing:
        fix = " && ".join(
            f'git config --global {k} "{"Your Name" if k == "user.name" else "you@example.com"}"' for k in missing)
        return Check("git identity", FAIL, f"git {' and '.join(missing)} not set (setup.sh commits the project)", fix)
    return Check("git identity", PASS, f"{name} <{email}>")


def check_not_root(ctx: HostContext) -> Check:
    refuses = ctx.profile.host.get("bitbake_refuses_root", True)
    if ctx.euid == 0 and not refuses:
        return Check("not root", PASS, "running as root, which this profile's bitbake accepts")
    if ctx.euid == 0:
        return Check("not root", FAIL, "running as root: bitbake refuses to run as root",
                     "run wrnv-wizard as your normal user; it asks for sudo only to write the card")
    return Check("not root", PASS, f"running as uid {ctx.euid}")


def check_distro(ctx: HostContext) -> Check:
    tested = list(ctx.profile.host.get("tested_distros", []))
    if hostinfo.is_wsl():
        return Check("host distribution", WARN, f"{ctx.distro.pretty} under WSL: Yocto Zeus does not support WSL",
                     "build on a Linux machine or VM")
    if ctx.distro.key in tested:
        return Check("host distribution", PASS, f"{ctx.distro.pretty} is tested by Wind River for LTS 19")
    return Check("host distribution", WARN,
                 f"{ctx.distro.pretty} ({ctx.distro.key}) is not on Wind River's tested list for LTS 19 "
                 f"({', '.join(tested[:4])}, ...): bitbake only warns, but failures are more likely",
                 "if the build fails on the host side, build in crops/poky:ubuntu-18.04")


CHECKS = (check_bash, check_python2, check_python3, check_host_python, check_required_tools, check_sdcard_tools,
          check_disk, check_memory, check_locale, check_git_identity, check_not_root, check_distro)


def run_checks(ctx: HostContext) -> list:
    out = []
    for fn in CHECKS:
        try:
            out.append(fn(ctx))
        except Exception as e:  # a check that breaks must not hide the others
            out.append(Check(fn.__name__.replace("check_", "").replace("_", " "), WARN,
                             f"could not check: {e}"))
    return out


def overall(checks: list) -> str:
    if any(c.status == FAIL for c in checks):
        return FAIL
    if any(c.status == WARN for c in checks):
        return WARN
    return PASS


def python_running() -> str:
    return sys.executable


def check_host(session, ctx: Optional[HostContext] = None) -> list:
    """The Host check step: run every check and record the outcome (the TUI, plain mode and `doctor` all
    come here, so they record the same thing)."""
    with session.step_run("host") as run:
        checks = run_checks(ctx or HostContext.current(session.profile, session.project))
        failed = [c.name for c in checks if c.status == FAIL]
        if failed:
            run.fail(f"{len(failed)} check(s) failed: {', '.join(failed)}", failed=failed)
        else:
            run.done("no check failed")
    return checks
