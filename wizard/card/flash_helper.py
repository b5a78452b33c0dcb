"""The small elevated helper, run through sudo/pkexec where there is no udisks2:
`wrnv-flash-helper write|verify|dosdcard|doflash ...` (installed by `wrnv-wizard install-helper`), or this file run
with `python -I`.

Why it can be trusted with root: it trusts nothing it is given.
- It writes only a whole block device: the target path is resolved once and opened once (read-only), fstat
  must say block device, THAT device (by major:minor) is classified by wizard.card.disks and compared with
  the identity the user confirmed (required), and only then is the same inode re-opened for writing,
  exclusively (wizard.card.writer.Opener). A regular file, a path under /dev that is not a disk, a partition,
  a system, mounted or internal disk: refused, nothing created.
- The image is opened with the calling user's rights (SUDO_UID/PKEXEC_UID), so root's rights never let the
  user copy a file they cannot read onto a card.
- The card's own changes (`write --patch FILE --patch-partition APP`: host name, key) are a list of blocks the
  wizard worked out on the image; it opens FILE with the caller's rights, refuses any block outside that
  partition of the image's GPT (and again of the card's, read through its descriptor after the verify), on the
  partition table or past the card's end before writing anything, writes them through the same descriptor and
  returns their sha256 as read back from the card. It never parses a file system.
- It never takes a path it would write (no log file: dosdcard.sh's output goes back over the pipe), never
  creates a file and never chowns.
It talks back in wizard.card.protocol messages, one JSON line each, and stops at the next block when stdin
says `cancel` or closes (the wizard went away), or on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Optional

if __name__ == "__main__" and not __package__:
    # Run as a file (`python -I .../wizard/card/flash_helper.py`): the package is the one this file is in.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from wizard.card import protocol  # noqa: E402
from wizard.core.errors import WizardError  # noqa: E402
from wizard.core.progress import Cancelled, Progress  # noqa: E402

_EMIT = threading.Lock()     # several cards' threads talk at once (write-many): one whole line each


def _emit(msg: protocol.Message) -> None:
    with _EMIT:
        sys.stdout.write(protocol.encode(msg) + "\n")
        sys.stdout.flush()


def _progress(p: Progress) -> None:
    _emit(protocol.ProgressMsg(label=p.label, done=int(p.done), total=p.total))


def _watch_stdin(ev: threading.Event) -> None:
    """`cancel` on stdin, or stdin closing, asks for a stop."""
    def run() -> None:
        try:
            for line in sys.stdin:
                if line.strip() == protocol.CANCEL:
                    break
        except (OSError, ValueError):
            pass
        ev.set()

    threading.Thread(target=run, daemon=True, name="helper-stdin").start()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wrnv-flash-helper", description=__doc__.splitlines()[0])
    p.add_argument("--control-stdin", action="store_true", help="read `cancel` from stdin; EOF also cancels")
    sub = p.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write", help="write an image to a card and verify it")
    w.add_argument("--image", required=True)
    w.add_argument("--target", required=True)
    w.add_argument("--identity", required=True, help="JSON identity the user confirmed")
    w.add_argument("--no-verify", action="store_true")
    w.add_argument("--verify-full", action="store_true")
    w.add_argument("--sparse", action="store_true")
    w.add_argument("--allow-non-removable", action="store_true")
    w.add_argument("--patch", default="", help="the card's own changes (host name, key) to write after the verify: "
                   "a file the wizard made, opened with the caller's rights; applied only inside --patch-partition")
    w.add_argument("--patch-partition", default="", help="GPT name of the partition the changes must lie in")
    m = sub.add_parser("write-many", help="write an image to several cards at once from one read of it")
    m.add_argument("--image", required=True)
    m.add_argument("--card", action="append", required=True,
                   help='JSON {"target": PATH, "identity": {...}, "patch": FILE or ""}, once per card')
    m.add_argument("--patch-partition", default="")
    m.add_argument("--no-verify", action="store_true")
    m.add_argument("--verify-full", action="store_true")
    m.add_argument("--sparse", action="store_true")
    m.add_argument("--allow-non-removable", action="store_true")
    v = sub.add_parser("verify", help="read a card back and compare it with an image")
    v.add_argument("--image", required=True)
    v.add_argument("--target", required=True)
    v.add_argument("--identity", default="")
    v.add_argument("--full", action="store_true")
    v.add_argument("--allow-non-removable", action="store_true")
    d = sub.add_parser("dosdcard", help="run dosdcard.sh (the board is read over USB: needs root)")
    d.add_argument("--dir", required=True)
    f = sub.add_parser("doflash", help="run doflash.sh (rewrites the board's QSPI firmware over USB: needs root)")
    f.add_argument("--dir", required=True, help="the unpacked package: the only place written here")
    return p


class HelperOpener:
    """wizard.card.writer.Opener, limited to block devices."""

    blocks_only = True

    def __init__(self) -> None:
        from wizard.card.elevate import INSTALL_DIR
        from wizard.card.writer import Opener

        self._opener = Opener()
        installed = str(Path(__file__).resolve()).startswith(str(INSTALL_DIR) + "/")
        self.path_used = "helper-installed" if installed else "helper"

    def open_block(self, real, check, write):
        return self._opener.open_block(real, check, write)


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
            if args.action == "write-many":
                return _write_many(args, cancel)
            if args.action == "verify":
                return _verify(args, cancel)
            if args.action == "doflash":
                return _doflash(args, cancel)
            return _dosdcard(args, cancel)
        except WriteError as e:
            _emit(protocol.ErrorMsg(problem=e.problem, card_state=e.card_state, exit_code=e.exit_code))
            return e.exit_code
        except Cancelled as e:
            _emit(protocol.ErrorMsg(problem=str(e), exit_code=130))
            return 130
        except WizardError as e:
            _emit(protocol.ErrorMsg(problem=str(e), exit_code=e.exit_code))
            return e.exit_code


def _identity(text: str) -> Optional[dict]:
    from wizard.card.writer import WriteError

    if not text:
        return None
    try:
        ident = json.loads(text)
    except ValueError:
        ident = None
    if not isinstance(ident, dict) or not ident.get("devnum"):
        raise WriteError("the confirmed identity is not readable: pick the card again", "Nothing was written.")
    return ident


def _caller() -> tuple:
    """(uid, gid) of the user who asked (sudo/pkexec say so); root's own when run by root."""
    uid = os.environ.get("SUDO_UID") or os.environ.get("PKEXEC_UID") or str(os.getuid())
    gid = os.environ.get("SUDO_GID") or ""
    try:
        import pwd

        pw = pwd.getpwuid(int(uid))
        return pw.pw_uid, int(gid) if gid else pw.pw_gid, pw.pw_name
    except (KeyError, ValueError):
        return int(uid), int(gid or 0), ""


def _open_image_as_caller(path: str, what: str = "the image") -> int:
    """Open the image with the calling user's rights: root's would let the user copy a file only root may
    read onto a card they own."""
    from wizard.card.writer import WriteError

    uid, gid, name = _caller()
    if os.geteuid() != 0 or uid == 0:
        return _open_ro(path)
    groups = os.getgroups()
    os.setgroups(os.getgrouplist(name, gid) if name else [gid])
    os.setegid(gid)
    os.seteuid(uid)
    try:
        return _open_ro(path)
    except PermissionError:
        raise WriteError(f"you may not read {what} {path}", "Nothing was written.") from None
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


def _open_ro(path: str) -> int:
    from wizard.card.writer import WriteError

    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WriteError(f"image {path} does not exist: give the path of the .sdcard file", "Nothing was written.") \
            from None


def _write(args, cancel) -> int:
    from wizard.card.fanout import patcher
    from wizard.card.writer import WriteError, WriteOptions, check_image, write_image

    identity = _identity(args.identity)
    if identity is None:
        raise WriteError("no confirmed identity: the helper writes only a card the user confirmed",
                         "Nothing was written.")
    if bool(args.patch) != bool(args.patch_partition):
        raise WriteError("--patch and --patch-partition go together", "Nothing was written.")
    fd = _open_image_as_caller(args.image)
    try:
        info = check_image(args.image, fd=fd)
        records = _read_patch(args.patch, fd, args.patch_partition, info.size) if args.patch else None
        opts = WriteOptions(verify=not args.no_verify, verify_full=args.verify_full, sparse=args.sparse,
                            allow_non_removable=args.allow_non_removable)
        applied: dict = {}
        result = write_image(info, args.target, identity=identity, options=opts, progress=_progress,
                             cancel=cancel, opener=HelperOpener(),
                             after_verify=patcher(records, args.patch_partition, applied) if records is not None
                             else None)
    finally:
        os.close(fd)
    _emit(protocol.ResultMsg(ok=True, data=result.to_json(), patch_sha256=applied.get("sha")))
    return 0


def _write_many(args, cancel) -> int:
    """Several cards from one read of the image: the wizard's own fan-out (wizard.card.fanout), run here with
    this helper's opener (whole block devices only, each checked against the identity the user confirmed).
    Every card is checked (identity given, changes file inside its partition) before any is written; then one
    card failing stops that card only."""
    from wizard.card import fanout
    from wizard.card.writer import WriteError, WriteOptions, check_image

    cards = []
    for text in args.card:
        try:
            card = json.loads(text)
        except ValueError:
            card = None
        if not isinstance(card, dict) or not isinstance(card.get("target"), str) or \
                not isinstance(card.get("patch", ""), str):
            raise WriteError("a card's description is not readable: pick the cards again", "Nothing was written.")
        identity = _identity(json.dumps(card.get("identity"))) if card.get("identity") else None
        if identity is None:
            raise WriteError(f"{card['target']} has no confirmed identity: the helper writes only cards the user "
                             "confirmed", "Nothing was written.")
        cards.append((card["target"], identity, card.get("patch", "")))
    if any(p for _, _, p in cards) and not args.patch_partition:
        raise WriteError("a changes file needs --patch-partition", "Nothing was written.")
    fd = _open_image_as_caller(args.image)
    try:
        info = check_image(args.image, fd=fd)
        opts = WriteOptions(verify=not args.no_verify, verify_full=args.verify_full, sparse=args.sparse,
                            allow_non_removable=args.allow_non_removable)
        opener = HelperOpener()
        jobs = [fanout.CardJob(target=t, name=Path(t).name, identity=ident, route="in-process", options=opts,
                               opener=opener,
                               patch=_read_patch(p, fd, args.patch_partition, info.size) if p else None)
                for t, ident, p in cards]

        def progress_for(k: int):
            return lambda p: _emit(protocol.ProgressMsg(label=p.label, done=int(p.done), total=p.total, card=k))

        def done(k: int, out) -> None:
            if out.error is None and out.result is not None:
                _emit(protocol.ResultMsg(ok=True, data=out.result.to_json(), patch_sha256=out.result.patch_sha256,
                                         card=k))
            else:
                _emit(protocol.ErrorMsg(problem=out.error or "not written", card=k,
                                        exit_code=130 if cancel() else 1))

        outcomes, shared = fanout.write_cards(info, jobs, progress_for=progress_for, cancel=cancel,
                                              partition_name=args.patch_partition or "APP", on_done=done)
    finally:
        os.close(fd)
    ok = sum(1 for o in outcomes if o.error is None and o.result is not None)
    _emit(protocol.ResultMsg(ok=ok == len(outcomes), data={"cards": len(outcomes), "ok": ok,
                                                          "bytes_read": shared.bytes_read}))
    return 0 if ok == len(outcomes) else 1


def _read_patch(path: str, image_fd: int, partition: str, image_size: int) -> list:
    """The card's changes, read with the caller's rights and checked against the image's GPT before the card is
    touched (the card will hold the image): a record outside the partition, on the table or past the end is
    refused now, with nothing written."""
    from wizard.card import cardpatch
    from wizard.card.gpt import GptError
    from wizard.card.writer import WriteError

    pfd = _open_image_as_caller(path, "the card's changes file")
    try:
        raw = b""
        while len(raw) <= cardpatch.MAX_BYTES * 2:
            chunk = os.read(pfd, 1 << 20)
            if not chunk:
                break
            raw += chunk
    finally:
        os.close(pfd)
    try:
        records = cardpatch.decode(raw)
        cardpatch.check_against_table(image_fd, records, partition, "the image", image_size)
    except (cardpatch.PatchError, GptError) as e:
        raise WriteError(str(e).rstrip("."), "Nothing was written.") from None
    return records


def _verify(args, cancel) -> int:
    from wizard.card.writer import check_image, verify_image

    fd = _open_image_as_caller(args.image)
    try:
        info = check_image(args.image, fd=fd)
        result = verify_image(info, args.target, identity=_identity(args.identity), full=args.full,
                              allow_non_removable=args.allow_non_removable, progress=_progress, cancel=cancel,
                              opener=HelperOpener())
    finally:
        os.close(fd)
    _emit(protocol.ResultMsg(ok=True, data=result.to_json()))
    return 0


def _dosdcard(args, cancel) -> int:
    from wizard.card.sdimage import dosdcard_env, run_logged
    from wizard.core.tegraflash_python import elevated_path

    work = Path(os.path.realpath(args.dir))
    script = work / "dosdcard.sh"
    if not work.is_dir() or not script.is_file() or script.is_symlink():
        raise WizardError(f"no dosdcard.sh in {work}")
    # The environment is rebuilt here: never take BOARDID/FAB or anything else from the caller's sudo env.
    env = dosdcard_env(None)
    env["PATH"] = elevated_path(work, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    rc = run_logged([str(script)], work, env, lambda line: _emit(protocol.LineMsg(text=line)), None, cancel)
    _emit(protocol.ResultMsg(ok=rc == 0, data={"rc": rc}))
    return 0 if rc == 0 else 1


def _doflash(args, cancel) -> int:
    """doflash.sh as root: the board's QSPI firmware over USB. Takes only the package folder (the script writes
    there and nowhere else on the host); no log path: every line goes back over the pipe and the unprivileged
    side writes the log and takes back what root made. The environment is rebuilt here, nothing is taken from
    the caller's."""
    from wizard.card.firmware import run_in_process
    from wizard.card.sdimage import dosdcard_env
    from wizard.core.tegraflash_python import elevated_path

    work = Path(os.path.realpath(args.dir))
    script = work / "doflash.sh"
    if not work.is_dir() or script.is_symlink() or not script.is_file():
        raise WizardError(f"no doflash.sh in {work}")
    env = dosdcard_env(None)
    env["PATH"] = elevated_path(work, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    rc = run_in_process([str(script)], work, env, lambda line: _emit(protocol.LineMsg(text=line)), None, cancel)
    _emit(protocol.ResultMsg(ok=rc == 0, data={"rc": rc}))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
