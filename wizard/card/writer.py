"""Writing an SD-card image to a card (or a file, for VMs) fast and safely, then proving it reads back.

Why each step (the seed's `dd bs=8k` is slow and checks nothing):
- The target is re-checked right before writing against the identity the user confirmed (major:minor,
  serial, size), and again on the opened file descriptor, so a card swapped after the pick is refused.
- It is opened with O_EXCL: the kernel then refuses while any partition is mounted or in use.
- It is discarded first; if discarded blocks read back as zeros, writing zeros is pointless, so the image's
  holes (SEEK_DATA/SEEK_HOLE) and all-zero blocks are skipped. Otherwise zeros are written (an ext4 image's
  inode tables must read as zeros), unless the user asked for --sparse (bmaptool's semantics: holes are
  "don't care").
- Writes are large, aligned and O_DIRECT where possible (no huge dirty cache, so Ctrl-C never hangs), with
  a flush every few MiB otherwise; fsync at the end.
- Every written block is read back past the page cache and compared with the image; skipped blocks are
  covered by the discard check and spot reads. bmaptool never reads the card back; we do.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import humanize

from wizard.card.sparse import BLOCK, CHUNK, AlignedBuffer, aligned_extents, data_extents, iter_blocks
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


@dataclass
class ImageInfo:
    path: Path
    size: int
    extents: list        # (start, end) data ranges; holes read as zeros

    @property
    def data_bytes(self) -> int:
        return sum(e - s for s, e in self.extents)


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

    def summary(self) -> str:
        n = humanize.naturalsize
        text = (f"wrote {n(self.written)} of a {n(self.image_size)} image to {self.target} "
                f"({n(self.skipped)} skipped: already zeros) in {self.seconds:.1f} s")
        if self.verified:
            text += f"; verified {n(self.verified)} read back from the card"
            if self.spot_checked:
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


def check_image(path) -> ImageInfo:
    """The image exists, is a regular file and looks like a whole-disk image (MBR or GPT)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise WriteError(f"image {p} does not exist: give the path of the .sdcard file "
                         "(`wrnv-wizard image` makes it)", _UNTOUCHED)
    if not p.is_file():
        raise WriteError(f"image {p} is not a regular file: give the path of the .sdcard file", _UNTOUCHED)
    try:
        with open(p, "rb") as f:
            head = f.read(1024)
            size = os.fstat(f.fileno()).st_size
            extents = data_extents(f.fileno(), size)
    except PermissionError:
        raise WriteError(f"cannot read image {p}: permission denied", _UNTOUCHED) from None
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
    return ImageInfo(path=p.resolve(), size=size, extents=extents)


# -- the target ------------------------------------------------------------------------------------

def _sys_dev(devnum: tuple) -> Path:
    return Path(f"/sys/dev/block/{devnum[0]}:{devnum[1]}")


def _read_sys(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _disks():
    """The disk classifier (wizard.card.disks), or None where it is not there."""
    try:
        from wizard.card import disks
    except ImportError:
        return None
    return disks


def identity_of(path) -> dict:
    """What the user confirms and the writer re-checks: device, major:minor, serial, size, model."""
    disks = _disks()
    if disks is not None:
        return dict(disks.get(str(path), allow_non_removable=True).identity())
    st = os.stat(path)
    devnum = (os.major(st.st_rdev), os.minor(st.st_rdev))
    sysd = _sys_dev(devnum)
    return {"path": str(path), "devnum": list(devnum), "serial": _read_sys(sysd / "device" / "serial"),
            "size_bytes": int(_read_sys(sysd / "size") or 0) * 512,
            "model": _read_sys(sysd / "device" / "model")}


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


def check_target(target, image: ImageInfo, identity: Optional[dict] = None,
                 allow_non_removable: bool = False) -> Target:
    """Every safety check that can be made before opening: the kind of target, the disk classifier's
    verdict (system, mounted, internal, read-only, too small, holds the image), and the confirmed identity."""
    p = Path(target)
    untouched = "Nothing was written."
    if not p.exists():
        if str(p).startswith("/dev/"):
            raise WriteError(f"{p} does not exist: the card was removed or not recognised; plug it in again "
                             "and pick it again", untouched)
        if not p.parent.is_dir():
            raise WriteError(f"cannot create {p}: folder {p.parent} does not exist", untouched)
        return Target(path=p, is_block=False, size=0, name=p.name)
    st = os.stat(p)
    if stat.S_ISREG(st.st_mode):
        if os.path.samefile(p, image.path):
            raise WriteError(f"{p} is the image itself: give the card (e.g. /dev/sdb) or another file", untouched)
        return Target(path=p, is_block=False, size=st.st_size, name=p.name)
    if not stat.S_ISBLK(st.st_mode):
        raise WriteError(f"{p} is neither a disk nor a regular file: give a card such as /dev/sdb", untouched)

    devnum = (os.major(st.st_rdev), os.minor(st.st_rdev))
    sysd = _sys_dev(devnum)
    name = Path(os.path.realpath(sysd)).name or p.name
    if (sysd / "partition").exists():
        raise WriteError(f"{p} is a partition: give the whole card (e.g. /dev/sdb, not /dev/sdb1)", untouched)
    size = int(_read_sys(sysd / "size") or 0) * 512
    if _read_sys(sysd / "ro") == "1":
        raise WriteError(f"{name} is read-only (is the card's write-protect switch on?): slide the switch "
                         "away from LOCK and plug it in again", untouched)
    if size == 0:
        raise WriteError(f"{name} has no medium (a reader with no card?): insert the card", untouched)
    if image.size > size:
        raise WriteError(f"the image ({humanize.naturalsize(image.size)}) is larger than {name} "
                         f"({humanize.naturalsize(size)}): use a card of at least "
                         f"{humanize.naturalsize(image.size)}", untouched)

    disks = _disks()
    now: dict
    if disks is not None:
        try:
            disk = disks.get(str(p), image=str(image.path), allow_non_removable=allow_non_removable)
        except WizardError as e:
            raise WriteError(str(e), untouched) from None
        if not disk.offered:
            reasons = "; ".join(disk.reasons) or "refused"
            raise WriteError(f"refusing to write {name}: {reasons}", untouched)
        now = dict(disk.identity())
    else:
        _basic_classify(name, devnum, image, allow_non_removable)
        now = identity_of(p)
    if identity:
        diffs = _same_identity(identity, now)
        if diffs:
            raise WriteError(f"{name} is not the card you confirmed ({', '.join(diffs)}): it was swapped or "
                             "re-plugged; pick it again", untouched)
    return Target(path=p, is_block=True, size=size, name=name, devnum=devnum, identity=identity or now)


def _basic_classify(name: str, devnum: tuple, image: ImageInfo, allow_non_removable: bool) -> None:
    """Stand-in for wizard.card.disks where that module is absent: virtual/internal disks need
    allow_non_removable, and the disk holding the image is never written."""
    untouched = "Nothing was written."
    sysd = _sys_dev(devnum)
    virtual = name.startswith(("loop", "zram", "dm-", "md", "nbd", "ram"))
    removable = _read_sys(sysd / "removable") == "1"
    if (virtual or not removable) and not allow_non_removable:
        kind = "a virtual device" if virtual else "not removable (an internal disk?)"
        raise WriteError(f"refusing to write {name}: it is {kind}; use --allow-non-removable only if you "
                         "are sure", untouched)
    img_dev = os.stat(image.path).st_dev
    holders = {devnum} | {tuple(int(x) for x in _read_sys(part / "dev").split(":"))
                          for part in Path(f"/sys/block/{name}").glob(f"{name}*") if (part / "dev").exists()}
    if (os.major(img_dev), os.minor(img_dev)) in holders:
        raise WriteError(f"refusing to write {name}: it holds the image itself", untouched)


def _who_holds(target: Target) -> str:
    disks = _disks()
    if disks is None:
        return "it is mounted or in use"
    try:
        who = disks.who_holds(disks.get(str(target.path), allow_non_removable=True))
    except Exception:  # noqa: BLE001 - best effort: the refusal itself is what matters
        who = []
    return ("held by " + ", ".join(who)) if who else "it is mounted or in use"


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
        return f"{what.capitalize()} was written."


def _open_target(target: Target, state: _State) -> tuple:
    """Open for writing: exclusive (block devices), O_DIRECT where the target supports it."""
    flags = os.O_RDWR | os.O_CLOEXEC
    if target.is_block:
        flags |= os.O_EXCL
    elif not target.path.exists():
        flags |= os.O_CREAT | os.O_EXCL
    for direct in (True, False):
        try:
            fd = os.open(target.path, flags | (os.O_DIRECT if direct else 0), 0o644)
            return fd, direct
        except OSError as e:
            if e.errno == errno.EINVAL and direct:
                continue        # e.g. tmpfs files: no O_DIRECT
            raise _open_error(e, target, state) from None
    raise AssertionError("unreachable")


def _open_error(e: OSError, target: Target, state: _State) -> WriteError:
    name = target.name
    if e.errno == errno.EBUSY:
        return WriteError(f"{name} is busy ({_who_holds(target)}): unmount it (or close what uses it) and "
                          "try again", state.text())
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        if e.errno == errno.EROFS:
            return WriteError(f"{name} is read-only (write-protect switch?): slide the switch away from LOCK",
                              state.text())
        return WriteError(f"no permission to write {target.path}: run with sudo (or let the wizard ask for "
                          "your password)", state.text())
    if e.errno in (errno.ENOMEDIUM, errno.ENXIO, errno.ENODEV, errno.ENOENT):
        return WriteError(f"{name} disappeared (card removed?): insert it and pick it again", state.text())
    return WriteError(f"cannot open {target.path}: {e.strerror}", state.text())


def _revalidate_fd(fd: int, target: Target, image: ImageInfo, state: _State) -> int:
    """The same checks on the opened descriptor: closes the window between the checks and the open."""
    st = os.fstat(fd)
    if not target.is_block:
        return st.st_size
    devnum = (os.major(st.st_rdev), os.minor(st.st_rdev))
    size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
    ro = struct.unpack("i", fcntl.ioctl(fd, BLKROGET, b"\0" * 4))[0]
    if devnum != target.devnum or size != target.size:
        raise WriteError(f"{target.name} changed while it was being opened (now {_devnum_text(devnum)}, "
                         f"{humanize.naturalsize(size)}): pick it again", state.text())
    if ro:
        raise WriteError(f"{target.name} is read-only (write-protect switch?): slide the switch away from LOCK",
                         state.text())
    if image.size > size:
        raise WriteError(f"the image is larger than {target.name}", state.text())
    try:
        target.sector = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0] or 512
    except OSError:
        target.sector = 512
    return size


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
    fd, _ = _open_verify(target)
    try:
        with AlignedBuffer(BLOCK) as buf:
            for off in offsets:
                n = _pread(fd, buf.view[:min(target.sector, end - off)], off)
                if n and not buf.is_zero(0, n):
                    return False
    except OSError as e:
        raise _io_error(e, target, state, doing) from None
    finally:
        os.close(fd)
    return True


def _open_verify(target: Target) -> tuple:
    """A read descriptor that sees the card, not the page cache (O_DIRECT; else drop the cache first)."""
    try:
        return os.open(target.path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC), True
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
    fd = os.open(target.path, os.O_RDONLY | os.O_CLOEXEC)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return fd, False


def write_image(image, target, identity: Optional[dict] = None, options: Optional[WriteOptions] = None,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
                before_verify: Optional[Callable[[], None]] = None) -> WriteResult:
    """Write `image` to `target` (a whole-disk block device or a regular file) and verify it.
    Raises WriteError (WriteCancelled) with the card's state; returns what was done."""
    opts = options or WriteOptions()
    cancel = cancel or (lambda: False)
    tick = Throttle(progress, 0.1)
    info = image if isinstance(image, ImageInfo) else check_image(image)
    tgt = check_target(target, info, identity, opts.allow_non_removable)
    state = _State(tgt, info.size)
    result = WriteResult(target=str(tgt.path), image_size=info.size)
    t0 = time.monotonic()

    fd, direct = _open_target(tgt, state)
    try:
        _revalidate_fd(fd, tgt, info, state)
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
            _verify(info, tgt, written, zero_ok, tick, cancel, state, result)
            result.verify_seconds = time.monotonic() - tv
            state.phase = "verified"
        if tgt.is_block:
            result.partitions_reread = _reread_partitions(fd)
    finally:
        os.close(fd)
    if tgt.is_block and not result.partitions_reread:
        fd2 = os.open(tgt.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            result.partitions_reread = _reread_partitions(fd2)
        finally:
            os.close(fd2)
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
    img_fd = os.open(info.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(img_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        with AlignedBuffer() as buf:
            last_end = 0
            for off, n in iter_blocks(extents, CHUNK):
                if cancel():
                    raise WriteCancelled("stopped at your request", state.text())
                got = _pread(img_fd, buf.view[:n], off)
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


def _verify(info: ImageInfo, tgt: Target, written: list, zero_ok: bool, tick: Throttle, cancel: CancelFn,
            state: _State, result: WriteResult) -> None:
    total = sum(e - s for s, e in written)
    prog = Progress(0, total, label="Verifying")
    img_fd = os.open(info.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dev_fd, _ = _open_verify(tgt)
    except OSError as e:
        os.close(img_fd)
        raise _io_error(e, tgt, state, "opening it to verify") from None
    try:
        with AlignedBuffer() as a, AlignedBuffer() as b:
            for off, n in iter_blocks(written, CHUNK):
                if cancel():
                    raise WriteCancelled("verify stopped at your request", state.text())
                _pread(img_fd, a.view[:n], off)
                try:
                    got = _pread(dev_fd, b.view[:n], off)
                except OSError as e:
                    raise _io_error(e, tgt, state, "reading back to verify") from None
                if got < n or bytes(a.view[:n]) != bytes(b.view[:n]):
                    bad = off + _first_difference(a.view[:n], b.view[:got])
                    raise WriteError(f"verify failed: {tgt.name} reads back differently from the image at byte "
                                     f"{bad} ({humanize.naturalsize(bad)} in)",
                                     f"{tgt.noun().capitalize()} was written but does not hold the image: it "
                                     "may be failing or fake. Try another card.")
                result.verified += n
                prog.done += n
                tick(prog)
            tick(prog, final=True)
            if zero_ok:
                result.spot_checked = _spot_check_skipped(dev_fd, info.size, written, b, tgt, state)
    finally:
        os.close(dev_fd)
        os.close(img_fd)


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


def _spot_check_skipped(dev_fd: int, size: int, written: list, buf: AlignedBuffer, tgt: Target,
                        state: _State) -> int:
    """In the verify: a sample of the skipped blocks must still read as zeros."""
    checked = 0
    for off in _gap_samples(size, written, SPOT_READS, seed=1):     # other blocks than the first check
        n = _pread(dev_fd, buf.view[:tgt.sector], off)
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


LARGE_BYTES = 128 * 1000 ** 3


def identity_lines(disk) -> list:
    """What the user confirms, one fact a line: device, vendor/model, serial, bus, size, partitions."""
    if hasattr(disk, "identity_lines"):
        return list(disk.identity_lines())
    n = humanize.naturalsize
    vendor_model = " ".join(x for x in (getattr(disk, "vendor", ""), getattr(disk, "model", "")) if x) or "unknown"
    lines = [f"Device:  {disk.path}  ({_devnum_text(getattr(disk, 'devnum', None))})",
             f"Model:   {vendor_model}",
             f"Serial:  {getattr(disk, 'serial', '') or 'none reported'}",
             f"Bus:     {getattr(disk, 'bus', '') or 'unknown'}",
             f"Size:    {n(disk.size_bytes)} ({disk.size_bytes:,} bytes)"]
    parts = getattr(disk, "partitions", []) or []
    if parts:
        for part in parts:
            label = f" \"{part.label}\"" if getattr(part, "label", "") else ""
            fs = f" {part.fstype}" if getattr(part, "fstype", "") else ""
            lines.append(f"  {part.name}: {n(part.size_bytes)}{fs}{label}  -- will be erased")
    else:
        lines.append("  (no partitions)")
    return lines


def write_for(session, image, target, **kwargs):
    """The Write the card step for a session: write (through the helper when needed) and record the result
    with the target and image, whoever asked (screen, plain mode or `flash`)."""
    from wizard.card import elevate

    with session.step_run("flash", f"writing {target}") as run:
        result = elevate.write_card(image, target, **kwargs)
        run.done(result.summary(), **{**result.to_json(), "target": str(target), "image": str(image)})
    return result
