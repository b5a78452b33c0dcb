"""Getting at the card from an unprivileged wizard, with as little root as possible.

Which way, in order (README "Writing the card safely"):
1. udisks2 over the system D-Bus (a desktop, or any host running udisksd): polkit decides and udisks2 hands
   the user's process a descriptor of the disk. No code of ours runs as root.
2. The helper (`wizard.card.flash_helper`) through sudo, where there is no udisks2 (headless build hosts).
   It writes nothing but a whole block device that its own checks offer and that matches the identity the
   user confirmed. When `wrnv-wizard install-helper` installed a root-owned copy (and a sudoers rule for
   exactly that program), that copy runs; otherwise the wizard's own installation runs as root, which is
   the same as giving the wizard your sudo rights for that command.
3. The wizard itself when it already runs as root.
A regular file (a VM's disk) is never written elevated: always by the wizard, with the user's rights.

This module is also the engine-side client of the helper: the typed messages of wizard.card.protocol become
Progress updates, output lines and a result or a WriteError.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import fields
from pathlib import Path
from typing import Callable, Iterator, Optional

from wizard.card import protocol
from wizard.core.errors import WizardError
from wizard.core.progress import Progress, ProgressFn

LineFn = Callable[[str], None]
CancelFn = Callable[[], bool]

# Where `wrnv-wizard install-helper` puts the root-owned copy (a root-owned folder) and its sudoers rule.
INSTALL_DIR = Path("/usr/local/libexec/wrnv-wizard")
INSTALLED_HELPER = INSTALL_DIR / "wrnv-flash-helper"
SUDOERS_FILE = Path("/etc/sudoers.d/wrnv-wizard")


def is_root() -> bool:
    return os.geteuid() == 0


def _package_root() -> str:
    """The folder holding the `wizard` package: the helper run from this installation finds itself there."""
    return str(Path(__file__).resolve().parents[2])


def method() -> str:
    """How root is obtained for the helper: "root" (already), "sudo", "pkexec", or "" (no way)."""
    if is_root():
        return "root"
    if shutil.which("sudo"):
        return "sudo"
    if shutil.which("pkexec"):
        return "pkexec"
    return ""


def installed_helper() -> Optional[Path]:
    """The root-owned helper copy, when present, safe (root-owned all the way up) and of this version."""
    from wizard import __version__

    try:
        if (INSTALL_DIR / "VERSION").read_text().strip() != __version__:
            return None
    except OSError:
        return None
    return INSTALLED_HELPER if root_owned_chain(INSTALLED_HELPER) else None


def root_owned_chain(path: Path) -> bool:
    """`path` and every folder above it belong to root and nobody else may change them (a sticky folder such
    as /tmp may be writable by all: others cannot replace what root made in it)."""
    try:
        for p in [path, *path.parents]:
            st = os.lstat(p)
            if st.st_uid != 0 or stat.S_ISLNK(st.st_mode):
                return False
            if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
                return False
    except OSError:
        return False
    return True


def route(target) -> str:
    """Which way `target` is opened: "in-process" (a regular file, or as root), "udisks2" or "helper"."""
    from wizard.card import udisks
    from wizard.card.target import resolve

    try:
        _, kind = resolve(target)
    except WizardError:
        return "in-process"         # the writer says what is wrong with it, in the user's process
    if kind != "block" or is_root():
        return "in-process"
    return "udisks2" if udisks.available() else "helper"


def path_words(target) -> str:
    """What the user reads about how the card will be opened (the Flash screen, `flash`)."""
    from wizard.card.writer import PATH_WORDS

    r = route(target)
    if r == "in-process":
        return PATH_WORDS["root" if is_root() else "in-process"]
    if r == "helper":
        return PATH_WORDS["helper-installed" if installed_helper() else "helper"]
    return PATH_WORDS["udisks2"]


def needs_helper(target) -> bool:
    """Whether writing `target` needs a password asked first, in the terminal (call authenticate())."""
    return route(target) != "in-process"


PROMPT = "[wrnv-wizard] password for %u (to write the card): "
# Set once sudo -v accepted the password in this process: a later "password is required" then means that
# sudo keeps no timestamp here, not that the user skipped the prompt.
_authenticated = threading.Event()


def authenticate(target=None, write: bool = True) -> None:
    """Ask for the password in the terminal now, so that the write can then start without a prompt while the
    wizard draws progress. The TUI calls this with the app suspended. udisks2: polkit is asked (through
    pkttyagent) to open the card (for writing unless `write` is False) and that descriptor is kept for the
    write, so a one-shot polkit answer (auth_self, auth_admin) is asked once too. Helper: sudo -v."""
    if target is not None and route(target) == "udisks2":
        _authenticate_udisks(target, write)
        return
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


def _authenticate_udisks(target, write: bool = True) -> None:
    from wizard.card import udisks
    from wizard.card.target import resolve

    real, _ = resolve(target)
    with _sigint_noted() as interrupted, udisks.text_agent():
        try:
            fd, direct = udisks.open_device(real, write=write, interactive=True)
        except udisks.UDisksError as e:
            if interrupted():
                err = WizardError("password prompt cancelled: nothing was changed")
                err.exit_code = 130
                raise err from None
            raise WizardError(_udisks_problem(Path(real).name, e) + ". Nothing was written.") from None
    udisks.hold(real, fd, direct, write)


def _udisks_problem(name: str, e) -> str:
    if e.not_authorized:
        return (f"udisks2 (polkit) did not allow opening {name}: authenticate as an administrator when asked, or "
                "ask your administrator to allow org.freedesktop.udisks2.open-device for you")
    return f"udisks2 could not open {name} ({e.text or e.name})"


@contextlib.contextmanager
def _sigint_noted() -> Iterator[Callable[[], bool]]:
    """Ctrl-C at a password prompt reaches the prompting program and us alike (one process group). It stops
    by itself; here it must only be noted: a KeyboardInterrupt raised in the TUI's event loop would end the
    whole app."""
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
    return WizardError("writing the card needs root and neither udisks2, sudo nor pkexec is here: run "
                       "`su -c 'wrnv-wizard flash ...'` as root")


def helper_command() -> list:
    """The helper program as root runs it: the installed root-owned copy, else this installation's file run
    by this Python, isolated (-I: no PYTHONPATH, no user site, not the current folder)."""
    installed = installed_helper()
    if installed is not None:
        return [str(installed)]
    return [sys.executable, "-I", str(Path(_package_root()) / "wizard" / "card" / "flash_helper.py")]


def helper_argv(action_args: list) -> list:
    base = [*helper_command(), "--control-stdin", *action_args]
    how = method()
    if how == "root":
        return base
    if how == "sudo":
        return ["sudo", "-n", "--", *base]
    if how == "pkexec":
        return ["pkexec", *base]
    raise _no_way()


class UDisksOpener:
    """The writer's Opener for udisks2: the descriptor comes from udisks2, the checks run on it here."""

    path_used = "udisks2"
    blocks_only = False

    def open_block(self, real: str, check, write: bool):
        from wizard.card import udisks
        from wizard.card.writer import WriteError

        # A terminal agent only from the main thread (the CLI): in the TUI the write runs in a worker while the
        # app owns the terminal; authenticate() asked there already, with the app suspended, and polkit keeps it.
        agent = udisks.text_agent() if threading.current_thread() is threading.main_thread() \
            else contextlib.nullcontext()
        try:
            with agent:
                fd, direct = udisks.open_device(real, write=write, interactive=True)
        except udisks.UDisksError as e:
            raise WriteError(_udisks_problem(Path(real).name, e), "Nothing was written.") from None
        try:
            tgt = check(fd)
        except BaseException:
            os.close(fd)
            raise
        tgt.fd, tgt.direct = fd, direct
        return tgt


def run_helper(action_args: list, progress: Optional[ProgressFn] = None, on_line: Optional[LineFn] = None,
               cancel: Optional[CancelFn] = None, argv: Optional[list] = None,
               on_card: Optional[Callable[[protocol.Message], None]] = None) -> protocol.ResultMsg:
    """Run the helper and return its result; raise WriteError/WriteCancelled/WizardError from its error.
    `argv` overrides the command (tests run the helper directly). `on_card` gets every message that names a
    card (`write-many`)."""
    from wizard.card.writer import WriteCancelled, WriteError

    cmd = argv or helper_argv(action_args)
    try:
        # cwd "/": nothing of the user's folder is near root's Python.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, bufsize=1, cwd="/")
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
                    proc.stdin.write(protocol.CANCEL + "\n")
                    proc.stdin.flush()
                except (OSError, ValueError):
                    pass
                return

    threads = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=watch_cancel, daemon=True)]
    for t in threads:
        t.start()
    result: Optional[protocol.ResultMsg] = None
    error: Optional[protocol.ErrorMsg] = None
    started: dict = {}
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            msg = protocol.decode(raw)
            if msg is not None and getattr(msg, "card", None) is not None:
                if on_card is not None:
                    on_card(msg)
            elif msg is None:
                if on_line and raw.strip():
                    on_line(raw.rstrip())
            elif isinstance(msg, protocol.ProgressMsg):
                if progress is not None:
                    progress(Progress(msg.done, msg.total, label=msg.label,
                                      started=started.setdefault(msg.label, time.monotonic())))
            elif isinstance(msg, protocol.LineMsg):
                if on_line is not None:
                    on_line(msg.text)
            elif isinstance(msg, protocol.ResultMsg):
                result = msg
            else:
                error = msg
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
        if error.card_state:
            cls = WriteCancelled if error.exit_code == 130 else WriteError
            raise cls(error.problem, error.card_state)
        err = WizardError(error.problem)
        err.exit_code = error.exit_code
        raise err
    if result is None:
        said = " / ".join(line for line in errtail if line.strip())
        tail = said[-300:]
        if "is not allowed to execute" in said:     # sudo names the whole command first: check all of it
            raise WizardError("sudo accepted your password but does not let you run the wizard's helper as root: "
                              "nothing was written; ask your administrator to run `wrnv-wizard install-helper`, "
                              "or run the command as root")
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
               in_process: Optional[bool] = None, patch: Optional[list] = None, patch_partition: str = ""):
    """Write `image` to `target` the least privileged way there is (see the module's docstring).
    `patch`: the card's own changes (wizard.card.cardpatch records inside partition `patch_partition`), written
    after the verify through the same descriptor; their sha256 as read back from the card come back in the
    result's `patch_sha256`."""
    from wizard.card.writer import WriteOptions, WriteResult, write_image

    opts = options or WriteOptions()
    way = "in-process" if in_process else route(target)
    if way in ("in-process", "udisks2"):
        from wizard.card.fanout import patcher

        applied: dict = {}
        after = patcher(patch, patch_partition, applied) if patch is not None else None
        result = write_image(image, target, identity=identity, options=opts, progress=progress, cancel=cancel,
                             opener=UDisksOpener() if way == "udisks2" else None, after_verify=after)
        result.patch_sha256 = applied.get("sha")
        return result
    if not identity:
        from wizard.card.writer import WriteError

        raise WriteError(f"{target} was not confirmed: pick the card and confirm it first", "Nothing was written.")
    args = ["write", "--image", _absolute(image), "--target", _absolute(target),
            "--identity", protocol.json.dumps(identity)]
    if not opts.verify:
        args.append("--no-verify")
    if opts.verify_full:
        args.append("--verify-full")
    if opts.sparse:
        args.append("--sparse")
    if opts.allow_non_removable:
        args.append("--allow-non-removable")
    with _patch_file(patch) as patch_path:
        if patch_path:
            args += ["--patch", patch_path, "--patch-partition", patch_partition]
        res = run_helper(args, progress=progress, cancel=cancel)
    known = {f.name for f in fields(WriteResult)}
    result = WriteResult(**{k: v for k, v in res.data.items() if k in known})
    result.patch_sha256 = res.patch_sha256
    return result


def write_cards(image, jobs: list, *, progress_for: Callable[[int], Optional[ProgressFn]],
                cancel: Optional[CancelFn] = None, on_card: Callable, partition_name: str = "",
                patches: Optional[list] = None, argv_for: Optional[Callable[[list], list]] = None) -> dict:
    """Several cards through ONE helper process (`write-many`), which reads the image once for all of them
    (wizard.card.fanout inside the helper). `jobs`: wizard.card.fanout.CardJob, all confirmed (identity);
    `patches[k]`: job k's changes (cardpatch records) or None. Each card's progress goes to progress_for(k);
    `on_card(k, WriteResult or None, error text or None)` is called once per card as it finishes. Returns the
    helper's final data (e.g. {"cards": N, "bytes_read": B}); raises for the helper as a whole. `argv_for(args)`:
    the command instead of sudo's (tests run the helper directly)."""
    from wizard.card.writer import WriteError, WriteResult

    patches = patches or [None] * len(jobs)
    opts = jobs[0].options
    args = ["write-many", "--image", _absolute(image)]
    for flag, on in (("--no-verify", not opts.verify), ("--verify-full", opts.verify_full),
                     ("--sparse", opts.sparse), ("--allow-non-removable", opts.allow_non_removable)):
        if on:
            args.append(flag)
    if any(p is not None for p in patches):
        args += ["--patch-partition", partition_name]
    for job in jobs:
        if not job.identity:
            raise WriteError(f"{job.target} was not confirmed: pick the card and confirm it first",
                             "Nothing was written.")
    known = {f.name for f in fields(WriteResult)}
    started: dict = {}

    def card_msg(msg) -> None:
        k = msg.card
        if not 0 <= k < len(jobs):
            return
        if isinstance(msg, protocol.ProgressMsg):
            fn = progress_for(k)
            if fn is not None:
                fn(Progress(msg.done, msg.total, label=msg.label,
                            started=started.setdefault((k, msg.label), time.monotonic())))
        elif isinstance(msg, protocol.ResultMsg):
            result = WriteResult(**{key: v for key, v in msg.data.items() if key in known})
            result.patch_sha256 = msg.patch_sha256
            on_card(k, result, None)
        elif isinstance(msg, protocol.ErrorMsg):
            on_card(k, None, msg.message)

    with contextlib.ExitStack() as stack:
        for job, patch in zip(jobs, patches):
            path = stack.enter_context(_patch_file(patch))
            args += ["--card", protocol.json.dumps({"target": _absolute(job.target), "identity": job.identity,
                                                     "patch": path})]
        res = run_helper(args, cancel=cancel, on_card=card_msg, argv=argv_for(args) if argv_for else None)
    return res.data


@contextlib.contextmanager
def _patch_file(patch: Optional[list]) -> Iterator[str]:
    """The card's changes in a file of the user's own (mode 600) for the helper, which opens it with the
    user's rights like the image; removed afterwards."""
    if patch is None:
        yield ""
        return
    import tempfile

    from wizard.card import cardpatch

    fd, path = tempfile.mkstemp(prefix="wrnv-card-changes-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cardpatch.encode(patch))
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def verify_card(image, target, identity: Optional[dict] = None, full: bool = False,
                allow_non_removable: bool = False, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelFn] = None):
    """Check a card again: the same ways as write_card, opened read-only."""
    from wizard.card.writer import VerifyResult, verify_image

    way = route(target)
    kw = dict(identity=identity, full=full, allow_non_removable=allow_non_removable, progress=progress,
              cancel=cancel)
    if way == "in-process":
        return verify_image(image, target, **kw)
    if way == "udisks2":
        return verify_image(image, target, opener=UDisksOpener(), **kw)
    args = ["verify", "--image", _absolute(image), "--target", _absolute(target)]
    if identity:
        args += ["--identity", protocol.json.dumps(identity)]
    if full:
        args.append("--full")
    if allow_non_removable:
        args.append("--allow-non-removable")
    res = run_helper(args, progress=progress, cancel=cancel)
    known = {f.name for f in fields(VerifyResult)}
    return VerifyResult(**{k: v for k, v in res.data.items() if k in known})


def _absolute(path) -> str:
    """The helper runs in "/", not in the user's folder: relative paths (and ~) are made absolute here."""
    return os.path.abspath(os.path.expanduser(str(path)))


def dosdcard_runner():
    """A runner for sdimage.make_sdcard_image when dosdcard.sh must read the board over USB (root): in
    process as root, else through the helper. Call authenticate() first (in the terminal). The helper sends
    the script's output back over the pipe and this process writes the log (root never opens a path of
    ours for writing); what the script made as root is then copied into files the user owns."""
    from wizard.card.sdimage import run_logged

    if is_root():
        return run_logged

    def runner(argv, cwd, env, on_line, log_path, cancel):
        log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115 - closed below

        def line(text: str) -> None:
            if log is not None:
                log.write(text + "\n")
                log.flush()
            if on_line is not None:
                on_line(text)

        try:
            res = run_helper(["dosdcard", "--dir", _absolute(cwd)], on_line=line, cancel=cancel)
        finally:
            if log is not None:
                log.close()
        take_back(Path(_absolute(cwd)))
        return int(res.data.get("rc", 1))

    return runner


def take_back(work: Path) -> None:
    """Files the script made as root in the user's folder become the user's: each is copied (sparse) into a
    new file the user owns, which then replaces it. No chown as root, so no link can trick root into giving
    away a file elsewhere."""
    me = os.geteuid()
    for root, _dirs, files in os.walk(work):
        for name in files:
            p = Path(root) / name
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_uid == me:
                continue
            tmp = p.with_name(f".{name}.wrnv-copy")
            try:
                subprocess.run(["cp", "--sparse=always", "--preserve=mode,timestamps", "--", str(p), str(tmp)],
                               check=True, capture_output=True)
                os.replace(tmp, p)
            except (OSError, subprocess.CalledProcessError):
                with contextlib.suppress(OSError):
                    tmp.unlink()


def doflash_runner():
    """A runner for firmware.rewrite_qspi: doflash.sh talks to the board over USB (root), the same way as
    dosdcard.sh: in process as root, else through the helper, which gets only the package folder and sends
    every line back (the log is written here). Call authenticate() first (in the terminal)."""
    from wizard.card.firmware import logging_runner, run_in_process

    if is_root():
        return run_in_process

    def lines(argv, cwd, env, on_line, cancel):
        try:
            res = run_helper(["doflash", "--dir", _absolute(cwd)], on_line=on_line, cancel=cancel)
        finally:
            take_back(Path(_absolute(cwd)))
        return int(res.data.get("rc", 1))

    return logging_runner(lines)
