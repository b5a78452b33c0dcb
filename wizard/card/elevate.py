"""Running the privileged part (writing a card, reading a recovery-mode board) as root, from an
unprivileged wizard.

Why like this: the wizard itself never runs as root. Only `wizard.card.flash_helper` does, started through sudo
(password asked in the real terminal: the TUI suspends itself for `sudo -v`) or pkexec (its own prompt).
The helper repeats the safety checks and talks back in JSON lines; this module is the engine-side client
that turns those lines into Progress updates, output lines and a result or a WriteError. Run as root, the
work happens in-process, with no helper at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import fields
from pathlib import Path
from typing import Callable, Iterator, Optional

from wizard.core.errors import WizardError
from wizard.core.progress import Progress, ProgressFn

LineFn = Callable[[str], None]
CancelFn = Callable[[], bool]


def is_root() -> bool:
    return os.geteuid() == 0


def _package_root() -> str:
    """The folder holding the `wizard` package, so root's python finds this very code (sudo resets env)."""
    return str(Path(__file__).resolve().parents[2])


def method() -> str:
    """How root is obtained here: "root" (already), "sudo", "pkexec", or "" (no way)."""
    if is_root():
        return "root"
    if shutil.which("sudo"):
        return "sudo"
    if shutil.which("pkexec"):
        return "pkexec"
    return ""


PROMPT = "[wrnv-wizard] password for %u (to write the card): "
# Set once sudo -v accepted the password in this process: a later "password is required" then means that
# sudo keeps no timestamp here, not that the user skipped the prompt.
_authenticated = threading.Event()


def authenticate() -> None:
    """Ask for the password in the terminal now (sudo -v), so that the helper can then start without a
    prompt (sudo -n) while the wizard draws progress. The TUI calls this with the app suspended."""
    how = method()
    if how in ("root", "pkexec"):
        return      # pkexec asks through its own agent when the helper starts
    if not how:
        raise _no_way()
    with _sigint_noted() as interrupted:
        rc = subprocess.call(["sudo", "-v", "-p", PROMPT])
    if interrupted():
        err = WizardError("password prompt cancelled: nothing was changed")
        err.exit_code = 130
        raise err
    if rc != 0:
        raise WizardError("sudo did not accept the password (or you may not use sudo here): nothing was changed; "
                          "try again with your login password, or run the command as root")
    _authenticated.set()


@contextlib.contextmanager
def _sigint_noted() -> Iterator[Callable[[], bool]]:
    """Ctrl-C at sudo's prompt reaches sudo and us alike (one process group). sudo stops by itself; here it
    must only be noted: a KeyboardInterrupt raised in the TUI's event loop would end the whole app."""
    hit: list = []      # not an Event: its lock would deadlock when a second SIGINT lands inside set()
    if threading.current_thread() is not threading.main_thread():
        yield lambda: bool(hit)
        return
    old = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, old)


def _no_way() -> WizardError:
    return WizardError("writing the card needs root and neither sudo nor pkexec is installed: run "
                       "`su -c 'wrnv-wizard flash ...'` as root")


def helper_argv(action_args: list) -> list:
    base = [sys.executable, "-m", "wizard.card.flash_helper", "--control-stdin", *action_args]
    how = method()
    if how == "root":
        return base
    env = ["env", f"PYTHONPATH={_package_root()}"]
    if how == "sudo":
        return ["sudo", "-n", "--", *env, *base]
    if how == "pkexec":
        return ["pkexec", *env, *base]
    raise _no_way()


def run_helper(action_args: list, progress: Optional[ProgressFn] = None, on_line: Optional[LineFn] = None,
               cancel: Optional[CancelFn] = None, argv: Optional[list] = None) -> dict:
    """Run the helper and return its result event; raise WriteError/WriteCancelled/WizardError from its
    error event. `argv` overrides the command (tests run the helper directly)."""
    from wizard.card.writer import WriteCancelled, WriteError

    cmd = argv or helper_argv(action_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = _package_root() + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        # cwd "/": `python -m` puts the working folder first on sys.path, so root would import a `wizard`
        # folder found in the user's current folder instead of this very package.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, text=True, bufsize=1, cwd="/")
    except OSError as e:
        raise WizardError(f"cannot start the privileged helper ({cmd[0]}): {e.strerror}") from None
    errtail: deque = deque(maxlen=20)
    done = threading.Event()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errtail.append(line.rstrip())

    def watch_cancel() -> None:
        while not done.wait(0.1):
            if cancel is not None and cancel():
                try:
                    assert proc.stdin is not None
                    proc.stdin.write("cancel\n")
                    proc.stdin.flush()
                except (OSError, ValueError):
                    pass
                return

    threads = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=watch_cancel, daemon=True)]
    for t in threads:
        t.start()
    result: Optional[dict] = None
    error: Optional[dict] = None
    started: dict = {}
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                if on_line and raw.strip():
                    on_line(raw.rstrip())
                continue
            kind = ev.get("event")
            if kind == "progress" and progress is not None:
                label = ev.get("label", "")
                p = Progress(int(ev.get("done", 0)), ev.get("total"), label=label,
                             started=started.setdefault(label, time.monotonic()))
                progress(p)
            elif kind == "line" and on_line is not None:
                on_line(ev.get("text", ""))
            elif kind == "result":
                result = ev
            elif kind == "error":
                error = ev
        rc = proc.wait()
    finally:
        done.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in (proc.stdin, proc.stdout):
            try:
                if s:
                    s.close()
            except OSError:
                pass
    threads[0].join(timeout=2)
    if error is not None:
        cls = WriteCancelled if error.get("exit_code") == 130 else WriteError
        if error.get("card_state"):
            raise cls(error.get("problem", "failed"), error["card_state"])
        err = WizardError(error.get("message", "the privileged helper failed"))
        err.exit_code = int(error.get("exit_code") or 1)
        raise err
    if result is None:
        said = " / ".join(line for line in errtail if line.strip())
        tail = said[-300:]
        if "is not allowed to execute" in said:     # sudo names the whole command first: check all of it
            raise WizardError("sudo accepted your password but does not let you run the wizard's helper as root: "
                              "nothing was written; ask your administrator for full sudo rights, or run the "
                              "command as root")
        if "password is required" in said or "a terminal is required" in said:
            if _authenticated.is_set():
                raise WizardError("sudo asked for the password again right after accepting it (this system keeps "
                                  "no sudo timestamp, timestamp_timeout=0): nothing was written; run the command "
                                  "as root")
            raise WizardError("sudo needs your password first: run the command in a terminal (it asks once)")
        raise WizardError(f"the privileged helper stopped without a result (exit {rc})"
                          + (f": {tail}" if tail else ""))
    return result


def write_card(image, target, identity: Optional[dict] = None, options=None,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
               in_process: Optional[bool] = None):
    """Write through the helper (or in-process as root, or for a regular file the user may write)."""
    from wizard.card.writer import WriteOptions, WriteResult, write_image

    opts = options or WriteOptions()
    if in_process is None:
        in_process = not needs_helper(target)
    if in_process:
        return write_image(image, target, identity=identity, options=opts, progress=progress, cancel=cancel)
    args = ["write", "--image", _absolute(image), "--target", _absolute(target)]
    if identity:
        args += ["--identity", json.dumps(identity)]
    if not opts.verify:
        args.append("--no-verify")
    if opts.sparse:
        args.append("--sparse")
    if opts.allow_non_removable:
        args.append("--allow-non-removable")
    ev = run_helper(args, progress=progress, cancel=cancel)
    known = {f.name for f in fields(WriteResult)}
    return WriteResult(**{k: v for k, v in ev.items() if k in known})


def needs_helper(target) -> bool:
    """Whether writing `target` goes through the privileged helper: then call authenticate() first, in the
    terminal. A device always does (even one the user's group may write: the helper opens it exclusively and
    repeats the checks); a regular file only when the user may not write it."""
    return not (is_root() or _user_writable_file(target))


def _absolute(path) -> str:
    """The helper runs in "/", not in the user's folder: relative paths (and ~) are made absolute here."""
    return os.path.abspath(os.path.expanduser(str(path)))


def _user_writable_file(target) -> bool:
    p = Path(target)
    if p.exists():
        return p.is_file() and os.access(p, os.W_OK)
    return not str(p).startswith("/dev/") and os.access(p.parent, os.W_OK)


def dosdcard_runner():
    """A runner for sdimage.make_sdcard_image when dosdcard.sh must read the board over USB (root): in
    process as root, else through the helper. Call authenticate() first (in the terminal)."""
    from wizard.card.sdimage import run_logged

    if is_root():
        return run_logged

    def runner(argv, cwd, env, on_line, log_path, cancel):
        args = ["dosdcard", "--dir", _absolute(cwd)] + (["--log", _absolute(log_path)] if log_path else [])
        ev = run_helper(args, on_line=on_line, cancel=cancel)
        return int(ev.get("rc", 1))

    return runner


def doflash_runner():
    """A runner for firmware.rewrite_qspi: doflash.sh talks to the board over USB (root), the same way as
    dosdcard.sh: in process as root, else through the helper, which gets only the package folder and sends
    every line back (the log is written here). Call authenticate() first (in the terminal)."""
    from wizard.card.firmware import logging_runner, run_in_process

    if is_root():
        return run_in_process

    def lines(argv, cwd, env, on_line, cancel):
        ev = run_helper(["doflash", "--dir", _absolute(cwd)], on_line=on_line, cancel=cancel)
        return int(ev.get("rc", 1))

    return logging_runner(lines)
