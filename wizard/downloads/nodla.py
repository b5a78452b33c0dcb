"""Put the TensorRT debs where the recipe looks for them: the NoDLA/ (or, for Xavier, DLA/) sub-folder.

SDK Manager saves them at the top of its folder; the tensorrt recipe reads `${NVIDIA_DEVNET_MIRROR}/NoDLA/<file>`
because Xavier's debs carry the same names with other contents. The tutorial copies `libnv*` by hand; here a hard
link costs no space when the sub-folder is on the same filesystem, a copy (to a temporary name, then renamed, so
an interrupted copy never looks complete) is the fallback. Running it twice changes nothing; an existing different
file is never overwritten (the verification that follows says whether it is right).
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled, Progress, ProgressFn, Throttle
from wizard.downloads.verify import check_folder, show

COPY_CHUNK = 4 << 20


@dataclass
class Staged:
    rel: str
    action: str      # linked / copied / already / kept / no-source
    detail: str = ""


def stage(folder, needed: Iterable, progress: Optional[ProgressFn] = None, cancel=None) -> list:
    """Stage every needed sub-folder file from the top of `folder`. Returns one Staged per file."""
    folder = check_folder(folder)
    out = []
    wanted = [n.entry for n in needed if n.entry.staged]
    copies_total = 0
    for e in wanted:
        try:
            copies_total += os.stat(folder / e.name).st_size
        except OSError:
            pass
    prog = Progress(0, copies_total, label="Staging")
    tick = Throttle(progress, 0.1)
    for e in wanted:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        src, dst = folder / e.name, folder / e.rel
        try:
            sst = os.stat(src)
        except OSError:
            sst = None
        try:
            dst.parent.mkdir(exist_ok=True)
        except FileExistsError:
            raise WizardError(f"{show(dst.parent)} is a file, not a folder; move it aside and stage again") from None
        except OSError as ex:
            raise WizardError(f"cannot create {show(dst.parent)} ({ex.strerror}); check the folder's permissions")\
                from None
        try:
            dst_st = os.stat(dst)
        except FileNotFoundError:
            dst_st = None
        except OSError as ex:
            out.append(Staged(e.rel, "kept", f"cannot look at it ({ex.strerror}); left as it is"))
            continue
        if dst_st is not None:
            if sst is not None and (dst_st.st_dev, dst_st.st_ino) == (sst.st_dev, sst.st_ino):
                out.append(Staged(e.rel, "already", "already linked"))
            else:
                out.append(Staged(e.rel, "kept", "already there; left as it is"))
            prog.done += sst.st_size if sst else 0
            continue
        if os.path.islink(dst):
            out.append(Staged(e.rel, "kept", "a broken link is in the way; remove it and stage again"))
            continue
        if sst is None or not os.path.isfile(src):
            out.append(Staged(e.rel, "no-source", f"{e.name} is not in the top folder; download TensorRT "
                                                  "with SDK Manager first"))
            continue
        try:
            os.link(src, dst)
            out.append(Staged(e.rel, "linked", "hard link (no extra space)"))
            prog.done += sst.st_size
            tick(prog)
            continue
        except OSError as ex:
            if ex.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise WizardError(f"cannot stage {e.rel} ({ex.strerror}); check the folder's permissions") from None
        _copy(src, dst, prog, tick, cancel)
        out.append(Staged(e.rel, "copied", "copied (another filesystem)"))
    tick(prog, final=True)
    return out


def _copy(src: Path, dst: Path, prog: Progress, tick: Throttle, cancel) -> None:
    tmp = dst.with_name(f".{dst.name}.partial")
    try:
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                chunk = fi.read(COPY_CHUNK)
                if not chunk:
                    break
                fo.write(chunk)
                prog.done += len(chunk)
                tick(prog)
            fo.flush()
            os.fsync(fo.fileno())
        shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    except BaseException as ex:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(ex, OSError):
            raise WizardError(f"cannot copy {show(src.name)} into {show(dst.parent)} ({ex.strerror}); "
                              "free some space or check permissions") from None
        raise
