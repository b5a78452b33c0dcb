"""Writing an SD-card image to a card (or a file, for VMs) fast and safely, then proving it reads back.

Why each step (the tutorial's `dd bs=8k` is slow and checks nothing):
- The target path is resolved once and opened once; every check is then made on the descriptor (fstat must
  say block device; THAT device, found by its major:minor in /sys/dev/block, is classified and compared
  with the identity the user confirmed), so a card or symlink swapped after the pick is refused. Nothing is
  ever created under /dev.
- How the descriptor is obtained is an Opener: udisks2 hands one to the user's own process (polkit decides;
  no code of ours runs as root), the elevated helper opens it itself, or the wizard does when run as root.
  Every byte afterwards goes through that one descriptor, the verify included.
- It is opened with O_EXCL: the kernel then refuses while any partition is mounted or in use.
- It is discarded first; if discarded blocks read back as zeros, writing zeros is pointless, so the image's
  holes (SEEK_DATA/SEEK_HOLE) and all-zero blocks are skipped. Otherwise zeros are written (an ext4 image's
  inode tables must read as zeros), unless the user asked for --sparse (bmaptool's semantics: holes are
  "don't care").
- Writes are large, aligned and O_DIRECT where possible (no huge dirty cache, so Ctrl-C never hangs), with
  a flush every few MiB otherwise; fsync at the end.
- Every written block is read back past the page cache and compared with the image; skipped blocks are
  covered by the discard check and spot reads (or all read back: --verify=full). bmaptool never reads the
  card back; we do.
- A regular file (a VM's disk) is only ever written in the user's own process, and an existing one only
  when the user confirmed overwriting it.
Every failure says plainly what state the card is left in.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import signal
import stat
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import humanize

from wizard.card import disks
from wizard.card.sparse import (
    BLOCK,
    CHUNK,
    AlignedBuffer,
    _memcmp,  # noqa: PLC2701 - the same libc memcmp the zero test uses
    aligned_extents,
    data_extents,
    iter_blocks,
)
from wizard.core.errors import WizardError
from wizard.core.progress import Progress, ProgressFn, Throttle

# <linux/fs.h>
BLKROGET = 0x125E
BLKRRPART = 0x125F
BLKSSZGET = 0x1268
BLKDISCARD = 0x1277
BLKGETSIZE64 = 0x80081272

FIRST_PIECE = 64 << 20        # discarded and checked for zeros before the copy starts
DISCARD_PIECE = 64 << 20      # the rest: in pieces, overlapping the copy
MERGE_GAP = 64 << 10          # write short zero gaps between data: fewer, larger writes suit SD cards
FLUSH_EVERY = 8 << 20         # buffered mode: flush this often so Ctrl-C never waits on a huge dirty cache
DIRECT_SYNC_EVERY = 64 << 20  # O_DIRECT mode: only the device's own cache needs flushing
SPOT_READS = 64               # skipped blocks read back to confirm they are zeros

CancelFn = Callable[[], bool]


class WriteError(WizardError):
    """A write that failed or was refused; the message ends with the state of the card."""

    def __init__(self, problem: str, card_state: str):
        self.problem, self.card_state = problem, card_state
        super().__init__(f"{problem}. {card_state}")


class WriteCancelled(WriteError):
    exit_code = 130


@dataclass
class WriteOptions:
    verify: bool = True
    sparse: bool = False              # skip holes even where the card does not read zeros after discard
    allow_non_removable: bool = False  # loop devices and internal disks; never overrides system/mounted/ro
    verify_full: bool = False         # also read back every skipped range (it must read as zeros)
    overwrite_file: bool = False      # an existing regular file is overwritten only when the user confirmed


@dataclass
class ImageInfo:
    path: Path
    size: int
    extents: list        # (start, end) data ranges; holes read as zeros
    fd: Optional[int] = None     # opened by the caller (the helper opens the image with the user's rights)

    def open(self) -> int:
        """A descriptor of the image for reading (a duplicate when the caller opened it)."""
        if self.fd is not None:
            return os.dup(self.fd)
        return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    @property
    def data_bytes(self) -> int:
        return sum(e - s for s, e in self.extents)

    def read_into(self, fd: int, view: memoryview, offset: int) -> int:
        """The copy's one way of reading image bytes: a fan-out (wizard.card.fanout) serves several cards
        from one read of each block by overriding it."""
        return _pread(fd, view, offset)


@dataclass
class Target:
    path: Path
    is_block: bool
    size: int
    name: str
    devnum: Optional[tuple] = None
    identity: dict = field(default_factory=dict)
    # What a spot read reads: the device's logical sector (a discard zeroes whole sectors, so one tells as
    # much as a 4 KiB block, and on a card every byte read costs time). Files: a page, safe for O_DIRECT.
    sector: int = BLOCK
    fd: int = -1            # the one descriptor every read and write goes through
    direct: bool = False    # fd is O_DIRECT

    def noun(self) -> str:
        return f"the card {self.name}" if self.is_block else f"the file {self.path}"


@dataclass
class WriteResult:
    target: str
    image_size: int
    written: int = 0
    skipped: int = 0
    verified: int = 0
    spot_checked: int = 0
    discard_zeroes: bool = False
    partitions_reread: bool = False
    seconds: float = 0.0
    verify_seconds: float = 0.0
    zeros_checked: int = 0          # bytes of skipped ranges read back in full (--verify=full)
    path_used: str = ""             # how the target was opened: a key of PATH_WORDS
    patch_sha256: Optional[list] = None     # the card's own changes as read back (wizard.card.cardpatch)

    def summary(self) -> str:
        n = humanize.naturalsize
        text = (f"wrote {n(self.written)} of a {n(self.image_size)} image to {self.target} "
                f"({n(self.skipped)} skipped: already zeros) in {self.seconds:.1f} s")
        if self.path_used:
            text += f", {PATH_WORDS.get(self.path_used, self.path_used)}"
        if self.verified:
            text += f"; verified {n(self.verified)} read back from the card"
            if self.zeros_checked:
                text += f" and all {n(self.zeros_checked)} skipped read as zeros"
            elif self.spot_checked:
                text += f" and {self.spot_checked} skipped blocks read as zeros"
        return text

    def to_json(self) -> dict:
        return dict(self.__dict__)


# -- the image -----------------------------------------------------------------------------------

_NOT_IMAGES = {
    b"PK\x03\x04": "a zip archive (the tegraflash package?): run `wrnv-wizard image` to make the .sdcard image",
    b"\x1f\x8b": "gzip-compressed: unpack it first (gunzip)",
    b"\xfd7zXZ": "xz-compressed: unpack it first (unxz)",
    b"(\xb5/\xfd": "zstd-compressed: unpack it first (unzstd)",
    b"BZh": "bzip2-compressed: unpack it first (bunzip2)",
}


_UNTOUCHED = "Nothing was written."
# How the card was opened, in the words the user reads (README "Writing the card safely").
PATH_WORDS = {"udisks2": "opened through udisks2 (no code of ours ran as root)",
              # Said plainly: this runs the wizard's own (user-changeable) files as root.
              "helper": "through the helper (sudo), run from the wizard's own files (`sudo wrnv-wizard "
                        "install-helper` makes a root-owned copy)",
              "helper-installed": "through the installed helper (sudo)",
              "root": "opened by the wizard running as root", "in-process": "written by the wizard itself, as you"}


def check_image(path, fd: Optional[int] = None) -> ImageInfo:
    """The image exists, is a regular file and looks like a whole-disk image (MBR or GPT). `fd`: the image
    already opened by the caller (the helper opens it with the user's rights, never root's)."""
    p = Path(path).expanduser()
    if fd is not None:
        return _check_image_fd(p, fd)
    if not p.exists():
        raise WriteError(f"image {p} does not exist: give the path of the .sdcard file "
                         "(`wrnv-wizard image` makes it)", _UNTOUCHED)
    if not p.is_file():
        raise WriteError(f"image {p} is not a regular file: give the path of the .sdcard file", _UNTOUCHED)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        raise WriteError(f"cannot read image {p}: permission denied", _UNTOUCHED) from None
    try:
        info = _check_image_fd(p, fd)
    finally:
        os.close(fd)
    info.path, info.fd = p.resolve(), None
    return info


def _check_image_fd(p: Path, fd: int) -> ImageInfo:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"image {p} is not a regular file: give the path of the .sdcard file", _UNTOUCHED)
    size = st.st_size
    head = os.pread(fd, 1024, 0)
    extents = data_extents(fd, size)
    if size == 0:
        raise WriteError(f"image {p} is empty: make it again with `wrnv-wizard image`", _UNTOUCHED)
    for magic, what in _NOT_IMAGES.items():
        if head.startswith(magic):
            raise WriteError(f"{p} is not a disk image, it is {what}", _UNTOUCHED)
    has_mbr = len(head) >= 512 and head[510:512] == b"\x55\xaa"
    has_gpt = head[512:520] == b"EFI PART"
    if not (has_mbr or has_gpt):
        raise WriteError(f"{p} is not a disk image (no partition table in its first sector): "
                         "give the .sdcard file that dosdcard.sh made", _UNTOUCHED)
    return ImageInfo(path=p, size=size, extents=extents, fd=fd)


# -- the target ------------------------------------------------------------------------------------

def _sys_dev(devnum: tuple) -> Path:
    return Path(f"/sys/dev/block/{devnum[0]}:{devnum[1]}")


def identity_of(path) -> dict:
    """What the user confirms and the writer re-checks: device, major:minor, serial, size, model."""
    return dict(disks.get(str(path), allow_non_removable=True).identity())


def _same_identity(confirmed: dict, now: dict) -> list:
    diffs = []
    if tuple(confirmed.get("devnum") or ()) != tuple(now.get("devnum") or ()):
        diffs.append(f"device number {_devnum_text(confirmed.get('devnum'))} -> {_devnum_text(now.get('devnum'))}")
    for key, what in (("serial", "serial"), ("size_bytes", "size"), ("model", "model")):
        if key in confirmed and confirmed.get(key) != now.get(key):
            a, b = confirmed.get(key), now.get(key)
            if key == "size_bytes":
                a, b = humanize.naturalsize(a or 0), humanize.naturalsize(b or 0)
            diffs.append(f"{what} {a or '(none)'} -> {b or '(none)'}")
    return diffs


def _devnum_text(devnum) -> str:
    return f"{devnum[0]}:{devnum[1]}" if devnum else "?"


def check_block_fd(fd: int, given, image: Optional[ImageInfo], identity: Optional[dict],
                   allow_non_removable: bool) -> Target:
    """Every check, made on the opened descriptor: a block device (fstat), the whole disk, THAT device (by its
    major:minor) classified by wizard.card.disks (system, mounted, internal, read-only, too small, holds the
    image), and the identity the user confirmed. Raises WriteError; nothing has been written yet."""
    st = os.fstat(fd)
    if not stat.S_ISBLK(st.st_mode):
        raise WriteError(f"{given} is not a disk (it changed while being opened?): give a card such as /dev/sdb",
                         _UNTOUCHED)
    devnum = (os.major(st.st_rdev), os.minor(st.st_rdev))
    sysd = _sys_dev(devnum)
    name = Path(os.path.realpath(sysd)).name
    if not sysd.exists() or not name:
        raise WriteError(f"{given} ({_devnum_text(devnum)}) is not known to the kernel any more: plug the card in "
                         "and pick it again", _UNTOUCHED)
    if (sysd / "partition").exists():
        raise WriteError(f"{given} is a partition: give the whole card (e.g. /dev/sdb, not /dev/sdb1)", _UNTOUCHED)
    size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
    ro = struct.unpack("i", fcntl.ioctl(fd, BLKROGET, b"\0" * 4))[0]
    if ro:
        raise WriteError(f"{name} is read-only (is the card's write-protect switch on?): slide the switch "
                         "away from LOCK and plug it in again", _UNTOUCHED)
    if size == 0:
        raise WriteError(f"{name} has no medium (a reader with no card?): insert the card", _UNTOUCHED)
    if image is not None and image.size > size:
        raise WriteError(f"the image ({humanize.naturalsize(image.size)}) is larger than {name} "
                         f"({humanize.naturalsize(size)}): use a card of at least "
                         f"{humanize.naturalsize(image.size)}", _UNTOUCHED)
    try:
        disk = disks.get(name, image=str(image.path) if image is not None else None,
                         allow_non_removable=allow_non_removable)
    except WizardError as e:
        raise WriteError(str(e), _UNTOUCHED) from None
    if tuple(disk.devnum) != devnum:
        raise WriteError(f"{name} changed while it was being checked: pick it again", _UNTOUCHED)
    if not disk.offered:
        raise WriteError(f"refusing to write {name}: {'; '.join(disk.reasons) or 'refused'}", _UNTOUCHED)
    now = dict(disk.identity())
    if identity:
        diffs = _same_identity(identity, now)
        if diffs:
            raise WriteError(f"{name} is not the card you confirmed ({', '.join(diffs)}): it was swapped or "
                             "re-plugged; pick it again", _UNTOUCHED)
    try:
        sector = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0] or 512
    except OSError:
        sector = 512
    return Target(path=Path(str(given)), is_block=True, size=size, name=name, devnum=devnum,
                  identity=identity or now, sector=sector)


def _who_holds(name: str) -> str:
    try:
        who = disks.who_holds(name)
    except Exception:  # noqa: BLE001 - best effort: the refusal itself is what matters
        who = []
    return ("held by " + ", ".join(who)) if who else "it is mounted or in use"


class Opener:
    """How the target's one descriptor is obtained. This one opens it in the calling process: the wizard run
    as root, or the elevated helper (`blocks_only`: it never writes a regular file)."""

    path_used = "in-process"
    blocks_only = False

    def open_block(self, real: str, check: Callable[[int], Target], write: bool) -> Target:
        """Open once read-only, check THAT descriptor, then re-open it (through /proc/self/fd, so the same
        inode, never the path again) for writing, exclusively."""
        try:
            ro = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as e:
            raise _open_error(e, real, Path(real).name) from None
        try:
            tgt = check(ro)
            flags = (os.O_RDWR | os.O_EXCL) if write else os.O_RDONLY
            fd, direct = _reopen(ro, flags, tgt)
        finally:
            os.close(ro)
        tgt.fd, tgt.direct = fd, direct
        return tgt


def _reopen(ro: int, flags: int, tgt: Target) -> tuple:
    want = os.fstat(ro).st_rdev
    for direct in (True, False):
        try:
            fd = os.open(f"/proc/self/fd/{ro}", flags | os.O_CLOEXEC | (os.O_DIRECT if direct else 0))
        except OSError as e:
            if e.errno == errno.EINVAL and direct:
                continue
            raise _open_error(e, str(tgt.path), tgt.name) from None
        st = os.fstat(fd)
        if not stat.S_ISBLK(st.st_mode) or st.st_rdev != want:
            os.close(fd)
            raise WriteError(f"{tgt.name} changed while it was being opened: pick it again", _UNTOUCHED)
        return fd, direct
    raise AssertionError("unreachable")


class RootOpener(Opener):
    path_used = "root"


def default_opener() -> Opener:
    """As root: open here. As a user: the caller (wizard.card.elevate) picks udisks2 or the helper."""
    return RootOpener() if os.geteuid() == 0 else Opener()


def _open_error(e: OSError, path: str, name: str) -> WriteError:
    if e.errno == errno.EBUSY:
        return WriteError(f"{name} is busy ({_who_holds(name)}): unmount it (or close what uses it) and "
                          "try again", _UNTOUCHED)
    if e.errno == errno.EROFS:
        return WriteError(f"{name} is read-only (write-protect switch?): slide the switch away from LOCK",
                          _UNTOUCHED)
    if e.errno in (errno.EACCES, errno.EPERM):
        return WriteError(f"no permission to open {path}: let the wizard ask udisks2 or sudo (or run as root)",
                          _UNTOUCHED)
    if e.errno == errno.ELOOP:
        return WriteError(f"{path} changed into a symbolic link while being opened: pick it again", _UNTOUCHED)
    if e.errno in (errno.ENOMEDIUM, errno.ENXIO, errno.ENODEV, errno.ENOENT):
        return WriteError(f"{name} disappeared (card removed?): insert it and pick it again", _UNTOUCHED)
    return WriteError(f"cannot open {path}: {e.strerror}", _UNTOUCHED)


def open_target(target, image: Optional[ImageInfo], identity: Optional[dict], opts: WriteOptions,
                opener: Optional[Opener] = None, write: bool = True) -> Target:
    """Resolve `target` once and open it once: a block device through `opener`, a regular file here (never
    elevated). Returns the Target holding the descriptor; raises WriteError with nothing written."""
    from wizard.card.target import resolve

    opener = opener or default_opener()
    try:
        real, kind = resolve(target)
    except WizardError as e:
        raise WriteError(str(e), _UNTOUCHED) from None
    if kind == "block":
        return opener.open_block(real, lambda fd: check_block_fd(fd, target, image, identity,
                                                                 opts.allow_non_removable), write)
    if opener.blocks_only:
        raise WriteError(f"{target} is not a disk: the elevated helper writes only removable disks (a file is "
                         "written by the wizard itself, with your rights)", _UNTOUCHED)
    if not write and kind == "new":
        raise WriteError(f"{target} does not exist", _UNTOUCHED)
    return _open_file(real, kind, image, opts, write)


def _open_file(real: str, kind: str, image: Optional[ImageInfo], opts: WriteOptions, write: bool) -> Target:
    p = Path(real)
    if kind == "file" and write and not opts.overwrite_file:
        raise WriteError(f"{p} exists: confirm overwriting it (or add --yes)", _UNTOUCHED)
    if write:
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT | os.O_EXCL if kind == "new" else 0)
    else:
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(p, flags, 0o644)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise WriteError(f"you may not {'write' if write else 'read'} {p}: pick a file you own (files "
                             "are written by the wizard itself, never as root)", _UNTOUCHED) from None
        if e.errno == errno.EEXIST:
            raise WriteError(f"{p} appeared while being opened: confirm overwriting it and try again",
                             _UNTOUCHED) from None
        if e.errno == errno.ELOOP:
            raise WriteError(f"{p} changed into a symbolic link while being opened: try again",
                             _UNTOUCHED) from None
        raise WriteError(f"cannot open {p}: {e.strerror}", _UNTOUCHED) from None
    try:    # O_DIRECT where the filesystem has it (tmpfs may not): set afterwards, so a create never repeats
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        direct = True
    except OSError:
        direct = False
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise WriteError(f"{p} changed while being opened (it is not a regular file now): try again", _UNTOUCHED)
    if image is not None:
        img_st = os.fstat(image.fd) if image.fd is not None else os.stat(image.path)
        if (st.st_dev, st.st_ino) == (img_st.st_dev, img_st.st_ino):
            os.close(fd)
            raise WriteError(f"{p} is the image itself: give the card (e.g. /dev/sdb) or another file",
                             _UNTOUCHED)
    return Target(path=p, is_block=False, size=st.st_size, name=p.name, fd=fd, direct=direct)


# -- the write -------------------------------------------------------------------------------------

@contextmanager
def sigint_cancels() -> Iterator[CancelFn]:
    """While writing, Ctrl-C (SIGINT/SIGTERM) asks the writer to stop at the next block instead of raising
    KeyboardInterrupt somewhere inside a system call; the card's state is then known and said."""
    ev = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield ev.is_set
        return
    old = {s: signal.signal(s, lambda *_: ev.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield ev.is_set
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _State:
    """What has happened to the target so far, for the one sentence every failure ends with."""

    def __init__(self, target: Target, total: int):
        self.target, self.total = target, total
        self.phase = "untouched"
        self.done = 0

    def text(self) -> str:
        what = self.target.noun()
        n = humanize.naturalsize
        if self.phase == "untouched":
            return f"Nothing was written; {what} is unchanged."
        if self.phase == "erased":
            return f"{what.capitalize()} was erased but not written: it holds no usable system now. Write it again."
        if self.phase == "partial":
            return (f"{what.capitalize()} is only partly written ({n(self.done)} of {n(self.total)}) and will not "
                    "boot. Write it again (or use another card).")
        if self.phase == "written":
            return f"{what.capitalize()} was fully written but not verified."
        if self.phase == "verifying":
            return "Nothing was changed."
        return f"{what.capitalize()} was written."


def _io_error(e: OSError, target: Target, state: _State, where: str) -> WriteError:
    if e.errno == errno.ENOSPC and not target.is_block:
        return WriteError(f"no space left on the filesystem holding {target.path} while {where}: free some "
                          "space", state.text())
    if e.errno in (errno.EIO, errno.ENOSPC, errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM):
        # A block device out of space is a device failing, not a full filesystem: call it what it is.
        return WriteError(f"{target.name} stopped answering while {where} (I/O error): the card was "
                          "pulled out or has failed", state.text())
    return WriteError(f"writing {target.path} failed while {where}: {e.strerror}", state.text())


def _pwrite(fd: int, view: memoryview, offset: int, direct: bool) -> None:
    """Write all of view at offset; an unaligned tail (images not a multiple of 512) goes buffered."""
    if direct and len(view) % 512:
        aligned = len(view) - len(view) % 512
        if aligned:
            _pwrite(fd, view[:aligned], offset, True)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        try:
            _pwrite(fd, view[aligned:], offset + aligned, False)
            os.fdatasync(fd)
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        return
    done = 0
    while done < len(view):
        n = os.pwritev(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        done += n


def _pread_any(fd: int, view: memoryview, offset: int, direct: bool) -> int:
    """Read all of view at offset; an unaligned tail (images not a multiple of 512) is read buffered."""
    if direct and len(view) % 512:
        aligned = len(view) - len(view) % 512
        got = _pread(fd, view[:aligned], offset) if aligned else 0
        if got < aligned:
            return got
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        try:
            os.posix_fadvise(fd, offset + aligned, len(view) - aligned, os.POSIX_FADV_DONTNEED)
            return got + _pread(fd, view[aligned:], offset + aligned)
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return _pread(fd, view, offset)


def _pread(fd: int, view: memoryview, offset: int) -> int:
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if n <= 0:
            break
        got += n
    return got


def _merge(runs: list, gap: int) -> list:
    out: list = []
    for s, e in runs:
        if out and s - out[-1][1] <= gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


class _Discarder:
    """Discards [start, end) piece by piece on a thread while the copy runs, so erasing and writing overlap.
    A write waits until the discard has passed it: a discard landing after a write would erase the data."""

    def __init__(self, fd: int, start: int, end: int):
        self.fd, self.pos, self.end = fd, start, end
        self.error: Optional[OSError] = None
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True, name="wrnv-discard")
        self._thread.start()

    def _run(self) -> None:
        pos = self.pos
        while pos < self.end and not self._stop:
            n = min(DISCARD_PIECE, self.end - pos)
            try:
                fcntl.ioctl(self.fd, BLKDISCARD, struct.pack("QQ", pos, n))
            except OSError as e:
                with self._cond:
                    self.error = e
                    self._cond.notify_all()
                return
            pos += n
            with self._cond:
                self.pos = pos
                self._cond.notify_all()

    def wait_until(self, offset: int, cancel: CancelFn) -> None:
        """Block until [.., offset) is discarded (or cancel); re-raises a failed discard."""
        with self._cond:
            while self.pos < min(offset, self.end) and self.error is None and not cancel():
                self._cond.wait(0.1)
            if self.error is not None:
                raise self.error

    def finish(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


def _begin_discard(fd: int, target: Target, length: int, progress: Throttle, state: _State) -> tuple:
    """Discard the start of [0, length) and check it reads back as zeros; the rest is discarded by a
    _Discarder while the copy runs. Returns (whether skipping zeros is safe, the discarder or None)."""
    if not target.is_block:
        # A file: dropping its blocks is truncation; what is past the end reads as zeros by definition.
        os.ftruncate(fd, 0)
        os.ftruncate(fd, max(length, target.size))
        state.phase = "erased"
        return True, None
    ssz = target.sector
    length = min(-(-length // ssz) * ssz, target.size)
    first = min(FIRST_PIECE, length)
    try:
        fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", 0, first))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
            return False, None      # no discard here: zeros will be written
        raise _io_error(e, target, state, "erasing") from None
    state.phase = "erased"
    progress(Progress(first, first, label="Erasing (discard)"), final=True)
    if not _reads_zero(target, first, state):
        return False, None          # discard does not zero on this card: write everything
    return True, (_Discarder(fd, first, length) if first < length else None)


def _reads_zero(target: Target, length: int, state: _State) -> bool:
    """Spot reads across a discarded range (first, last and spread 4 KiB blocks), past the page cache.
    Small reads: on a card, reads cost time too, and a spread of small ones tells more than a few big ones."""
    spots = {0, max(0, (length - BLOCK) // BLOCK * BLOCK)}
    rnd = random.Random(length)
    spots |= {rnd.randrange(0, max(1, length // BLOCK)) * BLOCK for _ in range(SPOT_READS // 4)}
    return _blocks_read_zero(target, sorted(spots), length, state, "checking the erase")


def _blocks_read_zero(target: Target, offsets: list, end: int, state: _State, doing: str) -> bool:
    """Read one block at each offset (up to `end`), past the page cache: are they all zeros?"""
    fd, direct = _open_verify(target)
    try:
        with AlignedBuffer(BLOCK) as buf:
            for off in offsets:
                n = _pread_any(fd, buf.view[:min(target.sector, end - off)], off, direct)
                if n and not buf.is_zero(0, n):
                    return False
    except OSError as e:
        raise _io_error(e, target, state, doing) from None
    finally:
        os.close(fd)
    return True


def _open_verify(target: Target) -> tuple:
    """A read descriptor that sees the card, not the page cache: the target's own descriptor, duplicated (it
    is O_DIRECT where the device allows; otherwise the cache is dropped first). Never the path again."""
    fd = os.dup(target.fd)
    if not target.direct:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return fd, target.direct


def write_image(image, target, identity: Optional[dict] = None, options: Optional[WriteOptions] = None,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                before_verify: Optional[Callable[[], None]] = None,
                opener: Optional[Opener] = None, verifier: Optional[Callable] = None,
                after_verify: Optional[Callable[[Target], None]] = None) -> WriteResult:
    """Write `image` to `target` (a whole-disk block device or a regular file) and verify it.
    Raises WriteError (WriteCancelled) with the card's state; returns what was done. `verifier` replaces
    the read-back (same arguments as _verify); `after_verify` gets the Target while its descriptor is still
    open and exclusive (per-card changes on the same card, no re-open by path)."""
    opts = options or WriteOptions()
    cancel = cancel or (lambda: False)
    tick = Throttle(progress, 0.1)
    info = image if isinstance(image, ImageInfo) else check_image(image)
    opener = opener or default_opener()
    tgt = open_target(target, info, identity, opts, opener)
    fd, direct = tgt.fd, tgt.direct
    state = _State(tgt, info.size)
    result = WriteResult(target=str(tgt.path), image_size=info.size,
                         path_used=opener.path_used if tgt.is_block else "in-process")
    t0 = time.monotonic()
    try:
        if cancel():
            raise WriteCancelled("stopped before writing", state.text())
        zero_ok, discarder = _begin_discard(fd, tgt, info.size, tick, state)
        try:
            written = _write_all(fd, direct, info, tgt, zero_ok, discarder, opts, tick, cancel, state, result)
        finally:
            if discarder is not None:
                discarder.stop()
        try:
            os.fsync(fd)
        except OSError as e:
            raise _io_error(e, tgt, state, "flushing the last blocks") from None
        if zero_ok and not _skipped_read_zero(tgt, info.size, written, state):
            # The start read back as zeros but somewhere else does not: write the zeros after all.
            zero_ok = False
            written = _fill_gaps(fd, direct, info.size, written, tgt, state, result)
        result.discard_zeroes = zero_ok
        state.phase = "written"
        result.seconds = time.monotonic() - t0
        if opts.verify:
            if before_verify is not None:
                before_verify()
            tv = time.monotonic()
            # With --sparse on a card that cannot erase, the holes keep old data: nothing to check there.
            check_gaps = zero_ok or not opts.sparse
            (verifier or _verify)(info, tgt, written, check_gaps, opts.verify_full, tick, cancel, state, result)
            result.verify_seconds = time.monotonic() - tv
            state.phase = "verified"
        if after_verify is not None:
            after_verify(tgt)
        if tgt.is_block:
            result.partitions_reread = _reread_partitions(fd)
    finally:
        os.close(fd)
    return result


def _write_all(fd: int, direct: bool, info: ImageInfo, tgt: Target, zero_ok: bool,
               discarder: Optional[_Discarder], opts: WriteOptions, tick: Throttle, cancel: CancelFn,
               state: _State, result: WriteResult) -> list:
    """The copy. Returns the written (start, end) ranges, for the verify."""
    skip_holes = zero_ok or opts.sparse
    extents = info.extents if skip_holes else [(0, info.size)]
    extents = aligned_extents(extents, BLOCK, info.size)
    written: list = []
    # Said while it happens: on a reader that cannot erase, every zero is written and the write takes the
    # image's full size at the card's speed, not its data's.
    label = "Writing" if skip_holes else "Writing every byte (this card cannot erase)"
    prog = Progress(0, info.size, label=label)
    since_sync = 0
    img_fd = info.open()
    try:
        os.posix_fadvise(img_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        with AlignedBuffer() as buf:
            last_end = 0
            for off, n in iter_blocks(extents, CHUNK):
                if cancel():
                    raise WriteCancelled("stopped at your request", state.text())
                got = info.read_into(img_fd, buf.view[:n], off)
                if got < n:     # the image shrank under us
                    raise WriteError(f"the image {info.path} changed while being written", state.text())
                runs = _merge(buf.nonzero_runs(n), MERGE_GAP) if zero_ok else [(0, n)]
                for s, e in runs:
                    try:
                        if discarder is not None:
                            discarder.wait_until(off + e, cancel)
                        if cancel():
                            raise WriteCancelled("stopped at your request", state.text())
                        _pwrite(fd, buf.view[s:e], off + s, direct)
                    except OSError as err:
                        raise _io_error(err, tgt, state, f"writing at {humanize.naturalsize(off + s)}") from None
                    state.phase = "partial"
                    if written and written[-1][1] == off + s:
                        written[-1] = (written[-1][0], off + e)
                    else:
                        written.append((off + s, off + e))
                    result.written += e - s
                    since_sync += e - s
                if since_sync >= (DIRECT_SYNC_EVERY if direct else FLUSH_EVERY):
                    try:
                        os.fdatasync(fd)
                    except OSError as err:
                        raise _io_error(err, tgt, state, "flushing") from None
                    since_sync = 0
                state.done = off + n
                prog.done = off + n
                last_end = off + n
                tick(prog)
            if discarder is not None:
                try:
                    discarder.finish()
                except OSError as err:
                    raise _io_error(err, tgt, state, "erasing") from None
            prog.done = max(last_end, info.size)
            tick(prog, final=True)
    finally:
        os.close(img_fd)
    result.skipped = info.size - result.written
    return written


def _verify(info: ImageInfo, tgt: Target, written: list, check_gaps: bool, full: bool, tick: Throttle,
            cancel: CancelFn, state: _State, result: WriteResult) -> None:
    """Read back every written range and compare; the skipped ranges must read as zeros: a spread sample,
    or every byte of them (`full`)."""
    total = sum(e - s for s, e in written)
    gaps = _gaps(info.size, written) if (full and check_gaps) else []
    prog = Progress(0, total + sum(e - s for s, e in gaps), label="Verifying")
    img_fd = info.open()
    try:
        dev_fd, direct = _open_verify(tgt)
    except OSError as e:
        os.close(img_fd)
        raise _io_error(e, tgt, state, "opening it to verify") from None
    try:
        # The image is read on a second thread while the card is read here (both release the GIL), and the two
        # are compared in place with memcmp: the verify then costs about one read of the card, not two reads
        # and two copies.
        with AlignedBuffer() as a, AlignedBuffer() as b, \
                ThreadPoolExecutor(1, thread_name_prefix="wrnv-verify") as pool:
            for off, n in iter_blocks(written, CHUNK):
                if cancel():
                    raise WriteCancelled("verify stopped at your request", state.text())
                img_read = pool.submit(_pread, img_fd, a.view[:n], off)
                try:
                    got = _pread_any(dev_fd, b.view[:n], off, direct)
                except OSError as e:
                    img_read.result()
                    raise _io_error(e, tgt, state, "reading back to verify") from None
                img_read.result()
                if got < n or _memcmp(a.addr, b.addr, n) != 0:
                    raise _verify_failed(tgt, off + _first_difference(a.view[:n], b.view[:got]))
                result.verified += n
                prog.done += n
                tick(prog)
            if gaps:
                result.zeros_checked = _read_all_zero(dev_fd, direct, gaps, b, tgt, state, cancel, prog, tick)
            tick(prog, final=True)
            if check_gaps and not gaps:
                result.spot_checked = _spot_check_skipped(dev_fd, direct, info.size, written, b, tgt, state)
    finally:
        os.close(dev_fd)
        os.close(img_fd)


def _verify_failed(tgt: Target, bad: int) -> WriteError:
    return WriteError(f"verify failed: {tgt.name} reads back differently from the image at byte {bad} "
                      f"({humanize.naturalsize(bad)} in)",
                      f"{tgt.noun().capitalize()} was written but does not hold the image: it may be failing or "
                      "fake. Try another card.")


def _gaps(size: int, written: list) -> list:
    """The (start, end) ranges of [0, size) that `written` does not cover."""
    gaps, cursor = [], 0
    for s, e in sorted(written) + [(size, size)]:
        if s > cursor:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    return gaps


def _read_all_zero(fd: int, direct: bool, gaps: list, buf: AlignedBuffer, tgt: Target, state: _State,
                   cancel: CancelFn, prog: Progress, tick: Throttle) -> int:
    """Read every byte of `gaps`: all must be zeros. It costs card time: a read of everything skipped."""
    checked = 0
    for off, n in iter_blocks(gaps, CHUNK):
        if cancel():
            raise WriteCancelled("verify stopped at your request", state.text())
        try:
            got = _pread_any(fd, buf.view[:n], off, direct)
        except OSError as e:
            raise _io_error(e, tgt, state, "reading back to verify") from None
        if got < n or not buf.is_zero(0, n):
            data = bytes(buf.view[:got])
            raise _verify_failed(tgt, off + len(data) - len(data.lstrip(b"\0")))
        checked += n
        prog.done += n
        tick(prog)
    return checked


def _first_difference(a: memoryview, b: memoryview) -> int:
    n = min(len(a), len(b))
    step = 4096
    for s in range(0, n, step):
        if bytes(a[s:s + step]) != bytes(b[s:s + step]):
            for i in range(s, min(s + step, n)):
                if a[i] != b[i]:
                    return i
    return n


def _gap_samples(size: int, written: list, count: int, seed: int = 0) -> list:
    """Offsets of `count` 4 KiB blocks picked at random (reproducibly) in the gaps between written ranges."""
    gaps: list = []
    cursor = 0
    for s, e in written + [(size, size)]:
        if s - cursor >= BLOCK:
            gaps.append((cursor, s))
        cursor = e
    total = sum(e - s for s, e in gaps)
    if not total:
        return []
    rnd = random.Random(size + seed)
    out = []
    for _ in range(count):
        pick = rnd.randrange(total)
        for s, e in gaps:
            if pick < e - s:
                off = (s + pick) // BLOCK * BLOCK
                out.append(max(-(-s // BLOCK) * BLOCK, min(off, e - BLOCK)))
                break
            pick -= e - s
    return sorted(set(out))


def _skipped_read_zero(tgt: Target, size: int, written: list, state: _State) -> bool:
    """After the copy: do the skipped blocks (spread over the whole card, not just the checked start) read
    as zeros?"""
    offsets = _gap_samples(size, written, SPOT_READS)
    if not offsets:
        return True
    return _blocks_read_zero(tgt, offsets, size, state, "checking skipped blocks")


def _fill_gaps(fd: int, direct: bool, size: int, written: list, tgt: Target, state: _State,
               result: WriteResult) -> list:
    """Write zeros into every gap the copy skipped; returns the written ranges, now the whole image."""
    cursor = 0
    with AlignedBuffer() as zeros:
        for s, e in written + [(size, size)]:
            pos = cursor
            while pos < s:
                n = min(CHUNK, s - pos)
                try:
                    _pwrite(fd, zeros.view[:n], pos, direct)
                except OSError as err:
                    raise _io_error(err, tgt, state, "writing zeros") from None
                result.written += n
                pos += n
            cursor = max(cursor, e)
    try:
        os.fsync(fd)
    except OSError as err:
        raise _io_error(err, tgt, state, "flushing") from None
    result.skipped = max(0, size - result.written)
    return [(0, size)]


def _spot_check_skipped(dev_fd: int, direct: bool, size: int, written: list, buf: AlignedBuffer,
                        tgt: Target, state: _State) -> int:
    """In the verify: a sample of the skipped blocks must still read as zeros."""
    checked = 0
    for off in _gap_samples(size, written, SPOT_READS, seed=1):     # other blocks than the first check
        n = _pread_any(dev_fd, buf.view[:min(tgt.sector, size - off)], off, direct)
        if n and not buf.is_zero(0, n):
            raise WriteError(f"verify failed: a block of {tgt.name} that should read as zeros (at byte {off}) "
                             "does not",
                             f"{tgt.noun().capitalize()} was written but does not hold the image: it may be "
                             "failing. Write it again; if this repeats, use another card.")
        checked += 1
    return checked


def _reread_partitions(fd: int) -> bool:
    try:
        fcntl.ioctl(fd, BLKRRPART)
        return True
    except OSError:
        return False


def make_safe_to_remove(target) -> str:
    """After a write: power the card's reader off through udisksctl where present (so it can be pulled at
    once), and say what the user may do now."""
    import shutil
    import subprocess

    p = Path(target)
    if not p.exists() or not stat.S_ISBLK(os.stat(p).st_mode):
        return f"{p} is ready."
    name = Path(os.path.realpath(p)).name
    if shutil.which("udisksctl") and not name.startswith(("loop", "nbd", "dm-", "md", "zram", "ram")):
        try:
            r = subprocess.run(["udisksctl", "power-off", "-b", str(p), "--no-user-interaction"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return f"{name} was powered off: it is safe to remove the card now."
        except (OSError, subprocess.TimeoutExpired):
            pass
    return f"All data is on {name}: it is safe to remove the card now."


# -- checking a card again, later ----------------------------------------------------------------------

@dataclass
class VerifyResult:
    target: str
    image_size: int
    verified: int = 0               # image data read back and compared
    zeros_checked: int = 0          # the image's empty ranges read back in full (--full)
    spot_checked: int = 0           # blocks of them sampled (without --full)
    seconds: float = 0.0
    path_used: str = ""

    def summary(self) -> str:
        n = humanize.naturalsize
        text = f"{self.target} holds the image: {n(self.verified)} of data compared"
        if self.zeros_checked:
            text += f", all {n(self.zeros_checked)} of the image's empty ranges read as zeros"
        elif self.spot_checked:
            text += f", {self.spot_checked} blocks of its empty ranges read as zeros (--full reads them all)"
        text += f", in {self.seconds:.1f} s"
        if self.path_used:
            text += f" ({PATH_WORDS.get(self.path_used, self.path_used)})"
        return text

    def to_json(self) -> dict:
        return dict(self.__dict__)


def verify_image(image, target, identity: Optional[dict] = None, full: bool = False,
                 allow_non_removable: bool = False, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None, opener: Optional[Opener] = None) -> VerifyResult:
    """Check a card (or a file) again, at any time: every data range of the image is read back and compared,
    and the image's holes must read as zeros (sampled; every byte with `full`). Nothing is written."""
    cancel = cancel or (lambda: False)
    tick = Throttle(progress, 0.1)
    info = image if isinstance(image, ImageInfo) else check_image(image)
    opener = opener or default_opener()
    opts = WriteOptions(allow_non_removable=allow_non_removable)
    unchanged = "Nothing was changed."
    try:
        tgt = open_target(target, info, identity, opts, opener, write=False)
    except WriteError as e:
        raise WriteError(e.problem, unchanged) from None
    res = WriteResult(target=str(tgt.path), image_size=info.size)
    t0 = time.monotonic()
    try:
        if tgt.size < info.size:
            raise WriteError(f"{tgt.path} is smaller than the image: it does not hold it", unchanged)
        state = _State(tgt, info.size)
        state.phase = "verifying"
        written = aligned_extents(info.extents, BLOCK, info.size)
        _verify(info, tgt, written, True, full, tick, cancel, state, res)
    except WriteCancelled:
        raise WriteCancelled("verify stopped at your request", unchanged) from None
    except WriteError as e:
        if e.card_state == unchanged:
            raise
        raise WriteError(e.problem, f"{unchanged} It does not hold the image: write it again.") from None
    finally:
        os.close(tgt.fd)
    return VerifyResult(target=str(tgt.path), image_size=info.size, verified=res.verified,
                        zeros_checked=res.zeros_checked, spot_checked=res.spot_checked,
                        seconds=time.monotonic() - t0, path_used=opener.path_used if tgt.is_block else "in-process")


def write_for(session, image, target, **kwargs):
    """The Write the card step for a session: write (through the helper when needed) and record the result
    with the target and image, whoever asked (screen, plain mode or `flash`)."""
    from wizard.card import elevate

    with session.step_run("flash", f"writing {target}") as run:
        result = elevate.write_card(image, target, **kwargs)
        run.done(result.summary(), **{**result.to_json(), "target": str(target), "image": str(image)})
    return result
