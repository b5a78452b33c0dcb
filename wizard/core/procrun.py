"""Run one external command the way every step needs it: live lines, a log file, cancel, a useful failure.

The user watches long commands (git clone, setup.sh, bitbake-layers) scroll by in a log pane, and when one fails
they need the last lines, where the full log is, and -- when the cause is a familiar one -- what to do. Every
step runs its commands through `run()` so that all of this, and the hiding of passwords, is done once.

API (kept small on purpose):
    run(argv, step=, project=, on_line=, cwd=, env=, secrets=, cancel=) -> Result
    CommandFailed (a WizardError): .lines, .log_path, .hint, .returncode
    CancelToken: .cancel() from any thread; run() then stops the command's whole process group
    redact(text, secrets) / redact_argv(argv, secrets): what the log and the screen see instead
    hint_for(lines): the one-line hint for a recognisable failure, or ""
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from wizard.core.errors import WizardError
from wizard.core.paths import logs_dir
from wizard.core.progress import Cancelled

LineFn = Callable[[str], None]
MASK = "********"
TAIL_LINES = 20

# Options whose value is a secret whatever its text is (setup.sh's windshare login).
_SECRET_OPTIONS = ("--password",)

_HINTS = (
    (re.compile(r"No space left on device|Disk quota exceeded", re.I),
     "the disk is full: free some space (the build needs 150 GB or more) and run this step again"),
    (re.compile(r"Please tell me who you are|unable to auto-detect email address|empty ident name", re.I),
     "git needs your name and e-mail: run git config --global user.name \"Your Name\" and "
     "git config --global user.email you@example.com, then run this step again"),
    (re.compile(r"Authentication failed|could not read Username|could not read Password|"
                r"terminal prompts disabled|HTTP Basic: Access denied|401 Unauthorized|403 Forbidden|returned error: 40[13]|"
                r"Permission denied \(publickey", re.I),
     "the server asked for a login: check your Wind River (windshare) user name and password, or choose the "
     "public BASE source, then run this step again"),
    (re.compile(r"Could not resolve host|Temporary failure in name resolution|Network is unreachable|"
                r"Connection refused|Connection timed out|Failed to connect to|unable to access|"
                r"Name or service not known|No route to host", re.I),
     "the network or the server cannot be reached: check the connection (and a proxy, if you use one) or use "
     "a mirror URL (wrlinux_url / meta_tegra_url: Board & distro's Advanced in the full-screen wizard, the "
     "answers file otherwise), then run this step again"),
)


class CommandFailed(WizardError):
    """A command exited non-zero. The message is one line; the screen also shows `lines` and `hint`."""

    def __init__(self, title: str, returncode: int, lines: list, log_path: Optional[Path], hint: str):
        self.title, self.returncode, self.lines, self.log_path, self.hint = title, returncode, lines, log_path, hint
        msg = f"{title} failed (exit code {returncode})"
        if hint:
            msg += f": {hint}"
        if log_path is not None:
            msg += f"; full log: {log_path}"
        super().__init__(msg)


class CancelToken:
    """Shared between the screen (which cancels) and the worker thread (which runs the command)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancel() was called; long loops call this between pieces of work."""
        if self.cancelled:
            raise Cancelled("cancelled")


@dataclass
class Result:
    argv: list
    returncode: int
    log_path: Optional[Path]
    tail: list = field(default_factory=list)


def redact(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, MASK)
    return text


def redact_argv(argv: list, secrets: Iterable[str] = ()) -> list:
    """argv for display and logs: the value after --password (or in --password=...) and every secret masked."""
    out, hide_next = [], False
    for a in (str(x) for x in argv):
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        opt = a.split("=", 1)[0]
        if opt in _SECRET_OPTIONS:
            if "=" in a:
                out.append(f"{opt}={MASK}")
            else:
                out.append(a)
                hide_next = True
            continue
        out.append(redact(a, secrets))
    return out


def argv_secrets(argv: list) -> list:
    """Secrets found in argv itself (the values of --password), so that output echoing them is masked too."""
    found, argv = [], [str(a) for a in argv]
    for i, a in enumerate(argv):
        opt, _, val = a.partition("=")
        if opt in _SECRET_OPTIONS:
            if val:
                found.append(val)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
    return found


def hint_for(lines: Iterable[str]) -> str:
    """The most specific hint matching any of `lines` (disk full beats a network error it caused)."""
    text = "\n".join(lines)
    for pattern, hint in _HINTS:
        if pattern.search(text):
            return hint
    return ""


def display(argv: list, secrets: Iterable[str] = ()) -> str:
    """One shell-quoted line, secrets masked: what the log pane shows as `$ ...`."""
    return " ".join(shlex.quote(a) for a in redact_argv(argv, secrets))


def log_path_for(project: Path, step: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", step).strip("-") or "command"
    return logs_dir(project) / f"{safe}.log"


def run(argv: list, *, step: str, project: Optional[Path] = None, on_line: Optional[LineFn] = None,
        cwd=None, env: Optional[dict] = None, secrets: Iterable[str] = (), cancel: Optional[CancelToken] = None,
        title: Optional[str] = None, log_path: Optional[Path] = None, ok_codes: Iterable[int] = (0,)) -> Result:
    """Run `argv` (no shell), streaming each output line (stdout and stderr merged) to `on_line` and to the
    step's log file; return a Result, or raise CommandFailed / Cancelled / WizardError (program missing).

    `step` names the log file (`<project>/.wrnv-wizard/logs/<step>.log`, appended to); `secrets` are masked
    everywhere, as is any --password value. `cancel` stops the command's whole process group (setup.sh starts
    many children) with SIGTERM, then SIGKILL after 5 s."""
    import sh  # imported here: the TUI starts faster without it

    argv = [str(a) for a in argv]
    secrets = [s for s in [*secrets, *argv_secrets(argv)] if s]
    title = title or os.path.basename(argv[0])
    if log_path is None and project is not None:
        log_path = log_path_for(Path(project), step)
    tail: deque = deque(maxlen=TAIL_LINES)
    lock = threading.Lock()
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "a", encoding="utf-8", errors="replace")
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} in {cwd or os.getcwd()}\n$ {display(argv, secrets)}\n")
        log.flush()

    def emit(raw: str) -> None:
        # A progress meter rewrites its line with \r: keep only what the line finally said.
        parts = [p for p in raw.rstrip("\n").split("\r") if p.strip()]
        line = redact(parts[-1] if parts else "", secrets)
        with lock:
            tail.append(line)
            if log is not None:
                log.write(line + "\n")
                log.flush()
        if on_line is not None:
            on_line(line)

    try:
        try:
            cmd = sh.Command(argv[0])
        except sh.CommandNotFound:
            raise WizardError(f"{argv[0]} is not installed (or not on PATH): install it and run this step "
                              "again") from None
        ok = sorted({*ok_codes, 0})
        try:
            proc = cmd(*argv[1:], _bg=True, _bg_exc=False, _out=emit, _err_to_out=True, _tty_out=False,
                       _cwd=None if cwd is None else str(cwd), _env=env, _new_session=True, _in=None,
                       _decode_errors="replace", _ok_code=ok, _no_out=True, _log_msg=_quiet_log_msg)
        except (FileNotFoundError, PermissionError) as e:
            raise WizardError(f"cannot start {argv[0]}: {e.strerror}; check it exists and is executable") from None
        rc = _wait(proc, cancel, sh)
        if log is not None:
            log.write(f"=== exit code {rc}\n")
        if cancel is not None and cancel.cancelled:
            if log is not None:
                log.write("=== cancelled by the user\n")
            raise Cancelled(f"{title} was cancelled")
        if rc not in ok:
            lines = list(tail)
            raise CommandFailed(title, rc, lines, log_path, hint_for(lines))
        return Result(argv=redact_argv(argv, secrets), returncode=rc, log_path=log_path, tail=list(tail))
    finally:
        if log is not None:
            log.close()


def _quiet_log_msg(cmd, call_args, pid=None) -> str:
    # sh logs the full command line at DEBUG level; that would include passwords.
    return f"<command pid {pid}>" if pid else "<command>"


def _wait(proc, cancel: Optional[CancelToken], sh) -> int:
    """Wait for the process, polling the cancel token; returns the exit code (negative: killed by a signal).
    The final wait() without a timeout also waits until every output line has reached the callback."""
    deadline = None
    try:
        while proc.is_alive():
            if cancel is not None and cancel.cancelled:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + 5.0
                    _signal_group(proc, signal.SIGTERM)
                elif now > deadline:
                    _signal_group(proc, signal.SIGKILL)
            time.sleep(0.05)
    except KeyboardInterrupt:
        # The command runs in its own session, so Ctrl-C reaches only us: stop it too.
        _signal_group(proc, signal.SIGTERM)
        raise
    try:
        proc.wait()
        return int(proc.exit_code)
    except sh.ErrorReturnCode as e:  # never str(e): it holds the full command line
        return int(e.exit_code)


def _signal_group(proc, sig: int) -> None:
    try:
        proc.signal_group(sig)
    except (ProcessLookupError, OSError):
        pass
