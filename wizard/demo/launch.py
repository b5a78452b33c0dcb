"""`wrnv-wizard --demo`: build the sandbox, point the session at it, run the real wizard (TUI or plain)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from wizard.core.errors import UsageError
from wizard.demo import sandbox


def _ensure_git_identity(root: Path) -> None:
    """setup.sh commits the project; a host without a git identity gets a demo one (this process only)."""
    have = subprocess.run(["git", "config", "--get", "user.email"], capture_output=True, text=True).stdout.strip()
    if have:
        return
    cfg = root / "gitconfig"
    cfg.write_text("[user]\n\tname = wrnv demo\n\temail = demo@wrnv.invalid\n")
    os.environ["GIT_CONFIG_GLOBAL"] = str(cfg)


def _last_demo_file() -> Path:
    from wizard.core.paths import cache_dir

    return cache_dir() / "last-demo-dir"


def _demo_root(args) -> tuple:
    """(folder, resumed): --demo-dir as given; else the last sandbox `--demo` made, unless --new or it is gone;
    else a new temporary one, remembered for next time."""
    if args.demo_dir:
        root = Path(args.demo_dir).expanduser()
        return root, sandbox.is_sandbox(root)
    record = _last_demo_file()
    if not getattr(args, "new", False):
        try:
            last = Path(record.read_text(encoding="utf-8").strip())
        except OSError:
            last = None
        if last is not None and sandbox.is_sandbox(last):
            return last, True
    root = Path(tempfile.mkdtemp(prefix="wrnv-demo-"))
    try:
        from wizard.core.atomic import atomic_write

        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(record, f"{root}\n")
    except OSError:
        pass   # not remembered: the next --demo starts a new sandbox, nothing worse
    return root, False


def prepare(args):
    """Build the sandbox and a session on it; the caller closes the sandbox."""
    from wizard.core.session import Session

    if args.demo_speed <= 0:
        raise UsageError("--demo-speed must be above 0 (1 is the default pace)")
    faults = tuple(f for f in (args.demo_fault or "").split(",") if f)
    unknown = set(faults) - {"checksum", "build"}
    if unknown:
        raise UsageError(f"--demo-fault: unknown {', '.join(sorted(unknown))}; use checksum and/or build")
    root, resumed = _demo_root(args)
    if resumed:
        print(f"wrnv-wizard demo: resuming the sandbox in {root} (start over: wrnv-wizard --demo --new)",
              file=sys.stderr)
    else:
        print(f"wrnv-wizard demo: building the sandbox in {root} ...", file=sys.stderr)
    sb = sandbox.build(root, speed=args.demo_speed, faults=faults)
    sb.resumed = resumed
    os.environ.update(sb.env)
    os.environ["PATH"] = f"{sb.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    _ensure_git_identity(root)
    session = Session.open(sb.project, str(sb.profile_path))
    session.update_answers(**sb.answers())
    session.banner = sb.banner()
    session.resumed_demo = resumed
    return sb, session


def _exit_on_hangup() -> None:
    """A closed terminal or a kill must still stop the stand-in board and detach the virtual card."""
    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, stop)


def run_demo(args, run_tui) -> int:
    if args.answers and not args.plain:
        raise UsageError("--answers needs --plain")
    sb, session = prepare(args)
    _exit_on_hangup()
    try:
        if args.plain:
            from wizard.plain import run_plain

            print(sb.banner())
            return run_plain(args, session=session, given=set(sb.answers()),
                             extra_args={"flash": ["--target", sb.card_target, "--allow-non-removable"],
                                         # the sandbox's own sshd: its key was made a moment ago
                                         "check-board": ["--accept-new-host-key"]})
        if run_tui is None:
            raise UsageError("the full-screen demo is started by the wrnv-wizard command; here use --plain")
        return int(run_tui(session, auto=args.auto, exit_at_end=args.exit_at_end, card=sb.card_target,
                           allow_non_removable=True, only_target=sb.card_target,
                           only_reason="not the demo's virtual card: the demo writes only its own") or 0)
    finally:
        sb.close()
