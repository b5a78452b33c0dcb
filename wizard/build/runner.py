"""Start, follow, stop and re-attach to `bitbake <target>` -- a build that outlives the wizard.

Why detached: a build runs for hours; closing the terminal or losing the SSH session must not kill it. So the
build runs in its own session (no controlling terminal, its own process group) with its output appended to a
log file in the project. The wizard only *follows* that file. What it needs to find the build again -- pid,
the pid's kernel start time (pids are recycled: a live pid alone proves nothing), log path, start time -- is
saved in the step state. Nobody may be left waiting on the build to learn its exit code, so the detached
process is a tiny wrapper that runs bitbake and writes the exit code to a file next to the log.

Stopping is bitbake's own: one SIGINT to the group (like one Ctrl-C) lets running tasks finish cleanly; a
second, confirmed, stop forces it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wizard.build.bitbake_log import BitbakeLogParser, BuildSummary
from wizard.core.errors import WizardError
from wizard.core.paths import logs_dir
from wizard.core.steps import Status
from wizard.project.buildenv import build_dir, build_env_argv, build_env_vars, missing_env_scripts

STEP = "build"
EXIT_SUFFIX = ".exit"
# Written next to the log when the user stops the build: a forced stop leaves no trace in bitbake's log, and
# any wizard process (the TUI, `wrnv-wizard build`, a later session) must tell "stopped" from "killed".
STOP_SUFFIX = ".stop"
# The wrapper: ignores Ctrl-C and SIGTERM itself (with a handler, not SIG_IGN, so bitbake still receives them:
# ignored signals would be inherited across exec, handlers are not), runs bitbake, records how it ended.
_WRAPPER = r"""
import os, signal, subprocess, sys
signal.signal(signal.SIGINT, lambda *a: None)
signal.signal(signal.SIGTERM, lambda *a: None)
exit_path = sys.argv[1]
try:
    code = subprocess.call(sys.argv[2:])
except OSError as e:
    print("wrnv-wizard: cannot start %s: %s" % (sys.argv[2], e), flush=True)
    code = 127
tmp = exit_path + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % code)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, exit_path)
"""


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None if gone.
    Together with the pid it names one process for the life of the machine."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces: split after the last ')'
    rest = raw[raw.rfind(")") + 2:].split()
    if len(rest) < 20 or rest[0] in ("Z", "X"):   # a zombie has finished already
        return None
    return int(rest[19])


def pid_is(pid: int, start_time: int | None) -> bool:
    """Whether `pid` is still the very process that was started (not a recycled pid)."""
    if not pid or pid <= 0:
        return False
    now = proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


@dataclass
class BuildRun:
    """One build, live or finished, as saved in the state: enough to follow it from any wizard process."""

    pid: int
    pid_start: int | None
    log: Path
    target: str
    started: float
    exit_file: Path
    _proc: subprocess.Popen | None = None    # set only in the process that started it (to reap the child)

    @classmethod
    def from_data(cls, data: dict) -> BuildRun | None:
        try:
            log = Path(data["log"])
            return cls(pid=int(data["pid"]), pid_start=data.get("pid_start"), log=log,
                       target=str(data.get("target", "")), started=float(data.get("started", 0.0)),
                       exit_file=Path(data.get("exit_file") or str(log) + EXIT_SUFFIX))
        except (KeyError, TypeError, ValueError):
            return None

    def to_data(self) -> dict:
        return {"pid": self.pid, "pid_start": self.pid_start, "log": str(self.log), "target": self.target,
                "started": self.started, "exit_file": str(self.exit_file)}

    # -- is it running? ------------------------------------------------------------------------------
    def alive(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            return False
        return pid_is(self.pid, self.pid_start)

    def exit_code(self) -> int | None:
        """bitbake's exit code once the build has ended (the wrapper wrote it), else None."""
        try:
            text = self.exit_file.read_text().strip()
        except OSError:
            return None
        try:
            return int(text)
        except ValueError:
            return None

    def ended(self) -> bool:
        return self.exit_code() is not None or not self.alive()

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> int | None:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.ended():
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(poll)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return self.exit_code()

    # -- the log -------------------------------------------------------------------------------------
    def follow(self, offset: int, max_bytes: int = 1 << 20) -> tuple:
        """(new bytes from `offset`, next offset): at most `max_bytes`, so a reader that falls behind catches
        up in bounded steps. Cheap when nothing is new (one stat)."""
        try:
            size = os.stat(self.log).st_size
        except OSError:
            return b"", offset
        if size < offset:   # truncated or replaced: start again
            offset = 0
        if size == offset:
            return b"", offset
        with open(self.log, "rb") as f:
            f.seek(offset)
            data = f.read(min(size - offset, max_bytes))
        return data, offset + len(data)

    # -- stopping ------------------------------------------------------------------------------------
    @property
    def stop_file(self) -> Path:
        return Path(str(self.log) + STOP_SUFFIX)

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def _signal(self, sig: int) -> bool:
        if not self.alive():
            return False
        try:
            self.stop_file.write_text(f"{sig}\n")
        except OSError:
            pass
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError as e:
            raise WizardError(f"cannot signal the build (pid {self.pid}): {e}; stop it from its own terminal") from e
        return True

    def interrupt(self) -> bool:
        """Like one Ctrl-C: bitbake lets the running tasks finish, then stops. Returns whether it was sent."""
        return self._signal(signal.SIGINT)

    def force(self, grace: float = 5.0) -> bool:
        """Stop now: SIGTERM to the whole group, SIGKILL after `grace` seconds if anything is left."""
        if not self._signal(signal.SIGTERM):
            return False
        end = time.monotonic() + grace
        while time.monotonic() < end:
            if self.exit_code() is not None and not self.alive():
                return True
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return True


def summarize(run: BuildRun, exit_code: int | None = None) -> BuildSummary:
    """Parse a build's whole log (a finished build shown after re-opening the wizard)."""
    from wizard.build.bitbake_log import parse_file

    if not run.log.exists():
        s = BuildSummary()
        if exit_code is not None:
            p = BitbakeLogParser()
            p.close(exit_code)
            s = p.summary
        return s
    return parse_file(run.log, exit_code, stopped=run.stop_requested())


class BuildRunner:
    """Pre-flight checks, starting a detached build, and finding it again through the session.

    `allow_root` exists for the test suite (which runs as root on CI machines); the product never sets it:
    bitbake refuses root, and so does the wizard, before starting anything. (The demo sandbox's profile, whose
    bitbake is a stand-in, says `host.bitbake_refuses_root = false`.)
    """

    def __init__(self, session, *, allow_root: bool = False, min_free_bytes: int | None = None,
                 euid: Callable[[], int] = os.geteuid, python: str = sys.executable):
        self.session = session
        host = getattr(session.profile, "host", {}) or {}
        # Only a profile whose "bitbake" is a stand-in (the demo sandbox's) may say that it runs as root.
        self.allow_root = allow_root or not host.get("bitbake_refuses_root", True)
        self.min_free_bytes = (int(host.get("min_disk_gb", 50)) << 30) if min_free_bytes is None else min_free_bytes
        self.euid = euid
        self.python = python

    @property
    def project(self) -> Path:
        return Path(self.session.project)

    @property
    def build_dir(self) -> Path:
        return build_dir(self.session.profile, self.project)

    def default_target(self) -> str:
        return self.session.answers.image or self.session.profile.default_image

    # -- checks --------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Raise WizardError for the first thing that would make bitbake fail at once."""
        if self.euid() == 0 and not self.allow_root:
            raise WizardError("bitbake does not run as root (its sanity check stops at once); run the wizard as "
                              "your normal user, e.g. leave `sudo` out")
        for path in missing_env_scripts(self.session.profile, self.project):
            raise WizardError(f"{path} is missing: the project is not set up; run the "
                              f"'Create project' step (wrnv-wizard setup) first")
        conf = self.build_dir / "conf" / "local.conf"
        if not conf.is_file():
            raise WizardError(f"{conf} is missing; run the 'Configure local.conf' step (wrnv-wizard localconf) first")
        # A project made elsewhere may hold the tutorial's lines without our block: adoption checked them and
        # recorded Configure local.conf as done.
        if not has_managed_block(conf) and self.session.status("localconf") is not Status.DONE:
            raise WizardError(f"{conf} has no wrnv-wizard settings block; run the 'Configure local.conf' step "
                              f"(wrnv-wizard localconf) first")
        free = free_bytes(self.project)
        if free is not None and free < self.min_free_bytes:
            raise WizardError(f"only {free / 1e9:.1f} GB free in {self.project}; the build needs at least "
                              f"{self.min_free_bytes / 1e9:.0f} GB: free some space or move the project")

    # -- the saved build -----------------------------------------------------------------------------
    def current(self) -> BuildRun | None:
        """The build recorded in the state (running or finished), or None."""
        return BuildRun.from_data(self.session.step_state(STEP).data)

    def running(self) -> BuildRun | None:
        run = self.current()
        if run is not None and self.session.status(STEP) is Status.RUNNING and run.exit_code() is None \
                and run.alive():
            return run
        return None

    # -- start ---------------------------------------------------------------------------------------
    def start(self, target: str | None = None, env: dict | None = None, keep_going: bool = False) -> BuildRun:
        """Start `bitbake <target>` detached. `keep_going` (bitbake -k) builds everything that does not depend
        on a failed task, so one failure shows all the others too."""
        target = target or self.default_target()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+:-]*", target):
            raise WizardError(f"{target!r} is not a bitbake target name (letters, digits, - _ . + :)")
        live = self.running()
        if live is not None:
            raise WizardError(f"a build is already running (pid {live.pid}, log {live.log}); follow it or stop "
                              f"it first")
        self.preflight()
        logs = logs_dir(self.project)
        logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log = logs / f"build-{stamp}.log"
        n = 1
        while log.exists():
            log = logs / f"build-{stamp}-{n}.log"
            n += 1
        exit_file = Path(str(log) + EXIT_SUFFIX)
        argv = build_env_argv(self.session.profile, self.project, ["bitbake", *(["-k"] if keep_going else []), target])
        full_env = build_env_vars(env)
        with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
            # Header lines are the wizard's, not bitbake's; the parser ignores them as plain text.
            out.write(f"wrnv-wizard: bitbake {target} in {self.build_dir} (started {time.ctime()})\n".encode())
            out.flush()
            proc = subprocess.Popen([self.python, "-c", _WRAPPER, str(exit_file), *argv], stdin=devnull,
                                    stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=str(self.project),
                                    start_new_session=True, close_fds=True)
        run = BuildRun(pid=proc.pid, pid_start=proc_start_time(proc.pid), log=log, target=target,
                       started=time.time(), exit_file=exit_file, _proc=proc)
        # exit_code/result of an earlier build must not linger next to this one's facts
        self.session.mark(STEP, Status.RUNNING, f"bitbake {target}", **run.to_data(), exit_code=None, result="")
        return run

    # -- result --------------------------------------------------------------------------------------
    def record_result(self, run: BuildRun, summary: BuildSummary) -> None:
        """Save how the build ended (DONE / FAILED with a one-line detail)."""
        from wizard.build.hints import failure_detail

        saved = self.current()
        if saved is not None and saved.log != run.log:
            return   # a newer build was started since: this one's result is history
        if summary.result == "succeeded":
            self.session.mark(STEP, Status.DONE, f"bitbake {run.target} succeeded", **run.to_data(),
                              exit_code=summary.exit_code)
        else:
            self.session.mark(STEP, Status.FAILED, failure_detail(summary), **run.to_data(),
                              exit_code=summary.exit_code, result=summary.result)



class BuildFollower:
    """Reads a build's log as it grows and keeps its parsed summary; records the result once it ended.

    The CLI, the Build screen and the tests all follow a build through this one class, so "what counts as
    finished" is decided once: the build process has gone *and* every byte of its log has been read.
    """

    def __init__(self, runner: BuildRunner | None, run: BuildRun, clock: Callable[[], float] = time.time,
                 record: bool = True, task_events: bool = False):
        self.runner, self.run, self.record = runner, run, record
        self.parser = BitbakeLogParser(clock=clock, task_events=task_events)
        self.offset = 0
        self.done = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    @property
    def summary(self) -> BuildSummary:
        return self.parser.summary

    def poll(self, max_bytes: int = 1 << 20) -> tuple:
        """(new log text, parser events). Call it every fraction of a second; cheap when nothing is new."""
        if self.done:
            return "", []
        ended = self.run.ended()          # checked before reading, so no byte written before the end is missed
        data, self.offset = self.run.follow(self.offset, max_bytes)
        text = self._decoder.decode(data) if data else ""
        events = self.parser.feed(text) if text else []
        if ended and len(data) < max_bytes:
            more, self.offset = self.run.follow(self.offset, max_bytes)
            if more:
                tail = self._decoder.decode(more)
                text += tail
                events += self.parser.feed(tail)
                return text, events
            text += self._decoder.decode(b"", final=True)
            code = self.run.exit_code()
            # no exit code: the wrapper itself was killed (a forced stop, or the machine went down)
            events += self.parser.close(code if code is not None else -signal.SIGKILL,
                                        stopped=self.run.stop_requested())
            self.done = True
            if self.record and self.runner is not None:
                self.runner.record_result(self.run, self.summary)
        return text, events


def has_managed_block(conf: Path) -> bool:
    """Whether local.conf holds the wizard's managed block (as the local.conf step writes it). A block that is
    broken (a begin marker without its end) is an error that says how to repair it."""
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    from wizard.project.localconf import find_block

    return find_block(text, origin=str(conf)) is not None


def free_bytes(path: Path) -> int | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None



def time_text(elapsed: float, eta: float | None = None) -> str:
    """`elapsed 1 hour and 3 minutes, about 2 hours left` (humanized, the same words everywhere)."""
    import humanize

    unit = "seconds" if elapsed < 3600 else "minutes"
    text = f"elapsed {humanize.precisedelta(int(elapsed), minimum_unit=unit, format='%d')}"
    if eta is not None:
        text += f", about {humanize.naturaldelta(eta)} left"
    return text


def tail_lines(path, n: int = 200, max_bytes: int = 256 << 10) -> list:
    """The last `n` lines of a file without reading all of it (a failed task's log can be large)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - max_bytes, 0))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]   # the first one is probably cut
    return lines[-n:]
