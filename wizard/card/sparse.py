"""Sparse files: where a file holds data (SEEK_DATA/SEEK_HOLE), which blocks are all zero, and making
a file sparse again.

Why: a zip archive loses sparseness, so a plain unzip turns the 14 GiB rootfs into 14 GiB of real disk, and
dosdcard.sh copies that rootfs with dd, so the 15.84 GB .sdcard ends up almost fully allocated although
most of it is zeros. Knowing where the data is also lets the writer skip what would write zeros onto zeros
(no .bmap file needed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

from wizard.core.errors import WizardError
from wizard.core.progress import Progress, ProgressFn, Throttle

BLOCK = 4096                 # zero detection granularity (a filesystem block)
CHUNK = 4 << 20              # read/write unit for copies

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_memcmp = _libc.memcmp
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_memcmp.restype = ctypes.c_int
_ZEROS = mmap.mmap(-1, CHUNK)           # a page-aligned buffer of zeros to compare against
_ZEROS_ADDR = ctypes.addressof(ctypes.c_char.from_buffer(_ZEROS))
_ZERO_BLOCKS: dict = {}

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
try:
    _fallocate = _libc.fallocate64
except AttributeError:  # pragma: no cover - every glibc has it; musl spells it without 64
    _fallocate = _libc.fallocate
_fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_fallocate.restype = ctypes.c_int


class AlignedBuffer:
    """A page-aligned buffer (mmap) usable for O_DIRECT I/O, with a fast all-zero test (memcmp, no copy).

    Comparing memoryviews in Python goes element by element (slow); memcmp against a zero page does not.
    """

    def __init__(self, size: int = CHUNK):
        if size > CHUNK or size % BLOCK:
            raise ValueError("size must be a multiple of 4 KiB up to 4 MiB")
        self.size = size
        self.mm = mmap.mmap(-1, size)
        self.view = memoryview(self.mm)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.addr = ctypes.addressof(self._anchor)

    def is_zero(self, start: int = 0, length: Optional[int] = None) -> bool:
        n = self.size - start if length is None else length
        return _memcmp(self.addr + start, _ZEROS_ADDR, n) == 0

    def nonzero_runs(self, length: int, block: int = BLOCK) -> list:
        """(start, end) runs of buf[:length] that are not whole all-zero blocks (aligned to `block`; a short
        tail block counts as data). mmap.find looks for a block's worth of zeros in C, skipping through data
        thousands of bytes at a time, so random data costs one call; zero runs are then measured with memcmp,
        256 KiB at a time where possible."""
        zeros: list = []
        pos = 0
        last = length - length % block          # aligned blocks end here; the rest is a short tail
        needle = _ZERO_BLOCKS.get(block) or _ZERO_BLOCKS.setdefault(block, bytes(block))
        span = 64 * block
        while pos < last:
            i = self.mm.find(needle, pos, length)
            if i < 0:
                break
            b = -(-i // block) * block
            if b + block > last:
                break
            if not self.is_zero(b, block):
                pos = b + 1
                continue
            e = b + block
            while e < last:
                if e + span <= last and self.is_zero(e, span):
                    e += span
                elif self.is_zero(e, block):
                    e += block
                else:
                    break
            zeros.append((b, e))
            pos = e
        runs: list = []
        cursor = 0
        for zs, ze in zeros:
            if zs > cursor:
                runs.append((cursor, zs))
            cursor = ze
        if cursor < length:
            runs.append((cursor, length))
        return runs

    def close(self) -> None:
        try:
            del self._anchor
            self.view.release()
            self.mm.close()
        except (BufferError, AttributeError):
            # A slice is still referenced (e.g. by a traceback being raised through us): the mapping is
            # freed by the garbage collector once that goes; never mask the real error with this one.
            pass

    def __enter__(self) -> AlignedBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_zero(data) -> bool:
    """All-zero test for any bytes-like object (used on small reads)."""
    mv = memoryview(data).cast("B")
    n = len(mv)
    off = 0
    while off < n:
        step = min(CHUNK, n - off)
        if bytes(mv[off:off + step]) != _ZEROS[:step]:
            return False
        off += step
    return True


def data_extents(fd: int, size: Optional[int] = None) -> list:
    """The (start, end) byte ranges of `fd` that hold data; holes read as zeros and are left out.
    Where SEEK_DATA is not supported the whole file counts as data (always safe)."""
    if size is None:
        size = os.fstat(fd).st_size
    out: list = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:   # no data after pos
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            out.append((start, end))
            pos = end
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTTY):
            return [(0, size)] if size else []
        raise
    finally:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError:
            pass
    return out


def aligned_extents(extents: list, align: int, size: int) -> list:
    """Widen extents to `align` boundaries (clipped to `size`) and merge what then touches."""
    out: list = []
    for s, e in extents:
        s = s - s % align
        e = min(size, -(-e // align) * align)
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass
class Usage:
    apparent: int        # the file's size
    allocated: int       # what it really takes on disk

    @property
    def data_fraction(self) -> float:
        return self.allocated / self.apparent if self.apparent else 0.0


def usage(path) -> Usage:
    st = os.stat(path)
    return Usage(apparent=st.st_size, allocated=st.st_blocks * 512)


def punch_hole(fd: int, offset: int, length: int) -> None:
    if _fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def resparsify(path, progress: Optional[ProgressFn] = None, cancel: Optional[Callable[[], bool]] = None,
               label: str = "Making sparse") -> Usage:
    """Turn every all-zero 4 KiB block of `path` into a hole, in place (fallocate PUNCH_HOLE). The content
    reads back identical. Returns the usage afterwards. A filesystem that cannot punch holes is told plainly."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        extents = data_extents(fd, size)
        total = sum(e - s for s, e in extents)
        prog = Progress(0, total, label=label)
        tick = Throttle(progress, 0.2)
        with AlignedBuffer() as buf:
            for start, end in extents:
                pos = start
                while pos < end:
                    if cancel is not None and cancel():
                        from wizard.core.progress import Cancelled
                        raise Cancelled(f"stopped making {path.name} sparse; the file is intact")
                    n = os.preadv(fd, [buf.view[:min(CHUNK, end - pos)]], pos)
                    if n <= 0:
                        break
                    _punch_zero_runs(fd, buf, pos, n)
                    pos += n
                    prog.done += n
                    tick(prog)
        tick(prog, final=True)
        os.fsync(fd)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS):
            raise WizardError(f"the filesystem holding {path} cannot make files sparse (no hole punching); "
                              "put the project on ext4, xfs or btrfs") from None
        raise
    finally:
        os.close(fd)
    return usage(path)


def _punch_zero_runs(fd: int, buf: AlignedBuffer, pos: int, n: int) -> None:
    """Punch the zero blocks of buf[:n] (file offset `pos`); only whole 4 KiB blocks of the file."""
    data = buf.nonzero_runs(n)
    cursor = 0
    for s, e in data + [(n, n)]:
        if s > cursor:
            # zero run [cursor, s): only punch whole blocks (the file's tail block may be short)
            zs, ze = cursor, s
            if ze - zs >= BLOCK:
                punch_hole(fd, pos + zs, ze - zs)
        cursor = e


def sparse_copy(src: BinaryIO, dst_fd: int, size: int, progress: Optional[ProgressFn] = None,
                cancel: Optional[Callable[[], bool]] = None, label: str = "Unpacking") -> int:
    """Copy a stream into `dst_fd`, leaving holes where whole 4 KiB blocks are zero. Returns the bytes of
    data written. The destination ends at exactly `size` bytes."""
    prog = Progress(0, size, label=label)
    tick = Throttle(progress, 0.2)
    written = 0
    pos = 0
    with AlignedBuffer() as buf:
        while True:
            if cancel is not None and cancel():
                from wizard.core.progress import Cancelled
                raise Cancelled("stopped unpacking")
            n = _read_full(src, buf.view)
            if n == 0:
                break
            for s, e in buf.nonzero_runs(n):
                os.pwritev(dst_fd, [buf.view[s:e]], pos + s)
                written += e - s
            pos += n
            prog.done = pos
            tick(prog)
    os.ftruncate(dst_fd, pos)
    tick(prog, final=True)
    return written


def _read_full(src: BinaryIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def iter_blocks(extents: list, chunk: int = CHUNK) -> Iterator:
    """(offset, length) pieces of at most `chunk` bytes covering `extents`, each starting chunk-aligned
    where the extent allows (so O_DIRECT reads and writes stay aligned)."""
    for s, e in extents:
        pos = s
        while pos < e:
            nxt = min(e, (pos // chunk + 1) * chunk)
            yield pos, nxt - pos
            pos = nxt
