"""The small elevated helper: `python -m wizard.card.flash_helper write|dosdcard|doflash ...`, run through sudo/pkexec.

Why a separate process: the wizard runs unprivileged; only writing a card (and dosdcard.sh reading a
recovery-mode board over USB) needs root. The helper trusts nothing it is given: it repeats every safety
check itself (wizard.card.writer re-validates the target and the confirmed identity) and reports progress and the
result on stdout as JSON lines, one object each:

    {"event": "progress", "label": "Writing", "done": 123, "total": 456}
    {"event": "line", "text": "..."}                      (dosdcard.sh output)
    {"event": "result", "ok": true, ...}                  (WriteResult fields, or {"rc": 0})
    {"event": "error", "message": "...", "problem": "...", "card_state": "...", "exit_code": 1}

It stops at the next block when stdin says `cancel` or closes (the wizard went away), or on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Optional

from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled, Progress


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _progress(p: Progress) -> None:
    _emit({"event": "progress", "label": p.label, "done": p.done, "total": p.total})


def _watch_stdin(ev: threading.Event) -> None:
    """`cancel` on stdin, or stdin closing, asks for a stop."""
    def run() -> None:
        try:
            for line in sys.stdin:
                if line.strip() == "cancel":
                    break
        except (OSError, ValueError):
            pass
        ev.set()

    threading.Thread(target=run, daemon=True, name="helper-stdin").start()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wizard.card.flash_helper", description=__doc__.splitlines()[0])
    p.add_argument("--control-stdin", action="store_true", help="read `cancel` from stdin; EOF also cancels")
    sub = p.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write", help="write an image to a card and verify it")
    w.add_argument("--image", required=True)
    w.add_argument("--target", required=True)
    w.add_argument("--identity", default="", help="JSON identity the user confirmed")
    w.add_argument("--no-verify", action="store_true")
    w.add_argument("--sparse", action="store_true")
    w.add_argument("--allow-non-removable", action="store_true")
    d = sub.add_parser("dosdcard", help="run dosdcard.sh (the board is read over USB: needs root)")
    d.add_argument("--dir", required=True)
    d.add_argument("--script", default="dosdcard.sh")
    d.add_argument("--log", default="")
    f = sub.add_parser("doflash", help="run doflash.sh (rewrites the board's QSPI firmware over USB: needs root)")
    f.add_argument("--dir", required=True, help="the unpacked package: the only place written here")
    return p


def main(argv: Optional[list] = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 2)
    from wizard.card.writer import WriteError, sigint_cancels

    with sigint_cancels() as interrupted:
        ev = threading.Event()
        if args.control_stdin:
            _watch_stdin(ev)

        def cancel() -> bool:
            return ev.is_set() or interrupted()

        try:
            if args.action == "write":
                return _write(args, cancel)
            if args.action == "doflash":
                return _doflash(args, cancel)
            return _dosdcard(args, cancel)
        except WriteError as e:
            _emit({"event": "error", "message": str(e), "problem": e.problem, "card_state": e.card_state,
                   "exit_code": e.exit_code})
            return e.exit_code
        except Cancelled as e:
            _emit({"event": "error", "message": str(e), "problem": str(e), "card_state": "", "exit_code": 130})
            return 130
        except WizardError as e:
            _emit({"event": "error", "message": str(e), "problem": str(e), "card_state": "",
                   "exit_code": e.exit_code})
            return e.exit_code


def _write(args, cancel) -> int:
    from wizard.card.writer import WriteOptions, write_image

    identity = json.loads(args.identity) if args.identity else None
    opts = WriteOptions(verify=not args.no_verify, sparse=args.sparse,
                        allow_non_removable=args.allow_non_removable)
    result = write_image(args.image, args.target, identity=identity, options=opts, progress=_progress,
                         cancel=cancel)
    _emit({"event": "result", "ok": True, **result.to_json()})
    return 0


def _dosdcard(args, cancel) -> int:
    import os
    from pathlib import Path

    from wizard.card.sdimage import dosdcard_env, run_logged
    from wizard.core.tegraflash_python import elevated_path

    work = Path(args.dir)
    script = work / args.script
    if not script.is_file() or script.name != "dosdcard.sh":
        raise WizardError(f"no dosdcard.sh in {work}")
    # The environment is rebuilt here: never take BOARDID/FAB or anything else from the caller's sudo env.
    env = dosdcard_env(None)
    env["PATH"] = elevated_path(work, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    try:
        rc = run_logged([str(script.resolve())], work, env, lambda line: _emit({"event": "line", "text": line}),
                        Path(args.log) if args.log else None, cancel)
    finally:
        _give_back(work, Path(args.log) if args.log else None)
    _emit({"event": "result", "ok": rc == 0, "rc": rc})
    return 0 if rc == 0 else 1


def _doflash(args, cancel) -> int:
    """doflash.sh as root: the board's QSPI firmware over USB. Takes only the package folder (the script writes
    there and nowhere else on the host); no log path: every line goes back over the pipe and the unprivileged
    side writes the log. The environment is rebuilt here, nothing is taken from the caller's."""
    import os
    from pathlib import Path

    from wizard.card.firmware import run_in_process
    from wizard.card.sdimage import dosdcard_env
    from wizard.core.tegraflash_python import elevated_path

    work = Path(args.dir).resolve()
    script = work / "doflash.sh"
    if not work.is_dir() or script.is_symlink() or not script.is_file():
        raise WizardError(f"no doflash.sh in {work}")
    env = dosdcard_env(None)
    env["PATH"] = elevated_path(work, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    try:
        rc = run_in_process([str(script)], work, env, lambda line: _emit({"event": "line", "text": line}), None,
                            cancel)
    finally:
        _give_back(work, None)
    _emit({"event": "result", "ok": rc == 0, "rc": rc})
    return 0 if rc == 0 else 1


def _give_back(work, log) -> None:
    """What dosdcard.sh made as root goes back to the folder's owner (the user), who makes it sparse next."""
    import os

    st = os.stat(work)
    if os.geteuid() != 0 or st.st_uid == 0:
        return
    for root, dirs, files in os.walk(work):
        for name in dirs + files:
            try:
                os.lchown(os.path.join(root, name), st.st_uid, st.st_gid)
            except OSError:
                pass
    if log is not None and log.exists():
        try:
            os.lchown(log, st.st_uid, st.st_gid)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
