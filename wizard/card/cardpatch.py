"""A card's own changes (host name, key, sshd setting) as a handful of blocks, and how they reach the card.

Why blocks and not a file-system tool on the card: after the write and verify the card holds exactly the image,
so what each card needs is computed in the user's own process from the image (wizard.card.customise) as a list
of (disk offset, bytes). The list is then written through the one descriptor the card was written with: the
wizard's own (root, or a file), the one udisks2 handed over, or the elevated helper's. Nothing re-opens the card
by path and no code parses the card's file system as root.

Whoever applies a patch trusts it only inside the named partition of the card's own GPT (read through the same
descriptor): a record that reaches outside that partition, onto the partition table or past the card's end is
refused before anything is written. After writing, every record is read back from the card past the page cache;
its sha256 is what the caller compares with what it asked for.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import struct
from dataclasses import dataclass

from wizard.card import gpt
from wizard.card.sparse import AlignedBuffer
from wizard.card.writer import _pread, _pwrite
from wizard.core.errors import WizardError

MAGIC = b"WRNV-CARD-PATCH 1\n"
_HEAD = struct.Struct("<QI")        # offset u64, length u32, then the bytes
MAX_RECORD = 1 << 20                # a record is split before this (the writer's aligned buffers)
MAX_BYTES = 64 << 20                # a host name and a key are a few blocks; anything near this is not ours
MAX_RECORDS = 65536
_ALIGN = 4096                       # read-modify-write unit: whole pages, so O_DIRECT always works
_BUF = MAX_RECORD + 2 * _ALIGN      # a record and the pages it starts and ends in


class PatchError(WizardError):
    """A patch that is damaged or reaches where it must not; the caller says what state the card is in."""


@dataclass(frozen=True)
class Record:
    offset: int         # bytes from the start of the disk
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


def total_bytes(records: list) -> int:
    return sum(len(r.data) for r in records)


def digests(records: list) -> list:
    return [hashlib.sha256(r.data).hexdigest() for r in records]


# -- the file the elevated helper is given -----------------------------------------------------------------

def encode(records: list) -> bytes:
    return MAGIC + b"".join(_HEAD.pack(r.offset, len(r.data)) + r.data for r in records)


def decode(raw: bytes) -> list:
    """The records in `raw`; a damaged, oversized or overlapping patch is refused as a whole."""
    if not raw.startswith(MAGIC):
        raise PatchError("the card's changes file is not one the wizard wrote")
    if len(raw) > MAX_BYTES + len(MAGIC) + MAX_RECORDS * _HEAD.size:
        raise PatchError("the card's changes file is too large to be a host name and key")
    out, pos = [], len(MAGIC)
    while pos < len(raw):
        if pos + _HEAD.size > len(raw) or len(out) >= MAX_RECORDS:
            raise PatchError("the card's changes file is damaged")
        off, n = _HEAD.unpack_from(raw, pos)
        pos += _HEAD.size
        if n == 0 or n > MAX_RECORD or pos + n > len(raw):
            raise PatchError("the card's changes file is damaged")
        out.append(Record(off, raw[pos:pos + n]))
        pos += n
    spans = sorted((r.offset, r.end) for r in out)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise PatchError("the card's changes file has overlapping pieces")
    return out


# -- checking and applying ------------------------------------------------------------------------------

def check(records: list, part, layout, disk_size: int, name: str) -> None:
    """Every record inside partition `part`, inside the table's usable area and inside the disk."""
    if total_bytes(records) > MAX_BYTES:
        raise PatchError(f"the changes for {name} are too large to be a host name and key")
    p0, p1 = part.offset, part.offset + part.size
    u0, u1 = layout.usable
    for r in records:
        if not r.data or r.offset < 0:
            raise PatchError(f"an empty change for {name}")
        if r.end > disk_size:
            raise PatchError(f"a change for {name} reaches past the end of the card (byte {r.end})")
        if r.offset < u0 or r.end > u1:
            raise PatchError(f"a change for {name} overlaps its partition table (bytes {r.offset}-{r.end})")
        if r.offset < p0 or r.end > p1:
            raise PatchError(f"a change for {name} reaches outside its {part.name} partition (bytes "
                             f"{r.offset}-{r.end})")


def check_against_table(fd: int, records: list, partition_name: str, name: str, disk_size: int) -> None:
    """`check` with the partition read from the GPT of the disk or image open at `fd`."""
    with _buffered(fd):
        parts, layout = gpt.read_table(fd, name)
    check(records, gpt.pick(parts, partition_name, name), layout, disk_size, name)


def apply(fd: int, direct: bool, records: list, partition_name: str, name: str) -> list:
    """Write `records` to the card open at `fd` (O_DIRECT when `direct`), after checking them against the
    card's own GPT; flush; read every record back past the page cache. Returns their sha256, in order."""
    size = _size(fd)
    check_against_table(fd, records, partition_name, name, size)
    with AlignedBuffer(_BUF) as buf:
        for r in records:
            a0, a1 = _span(r, size)
            view = buf.view[:a1 - a0]
            _read(fd, direct, view, a0)
            view[r.offset - a0:r.end - a0] = r.data
            _write(fd, direct, view, a0)
        os.fsync(fd)
        return read_back(fd, direct, records, buf, size)


def read_back(fd: int, direct: bool, records: list, buf: AlignedBuffer | None = None, size: int | None = None,
              ) -> list:
    """sha256 of each record's range as the card holds it now (read past the page cache)."""
    if buf is None:
        with AlignedBuffer(_BUF) as own:
            return read_back(fd, direct, records, own, size)
    size = _size(fd) if size is None else size
    if not direct:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    out = []
    for r in records:
        a0, a1 = _span(r, size)
        view = buf.view[:a1 - a0]
        _read(fd, direct, view, a0)
        out.append(hashlib.sha256(view[r.offset - a0:r.end - a0]).hexdigest())
    return out


def _size(fd: int) -> int:
    from wizard.card.writer import BLKGETSIZE64

    st = os.fstat(fd)
    if st.st_size:
        return st.st_size
    return struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]


def _span(r: Record, size: int) -> tuple:
    a0 = r.offset // _ALIGN * _ALIGN
    a1 = min(-(-r.end // _ALIGN) * _ALIGN, size)
    return a0, a1


def _read(fd: int, direct: bool, view: memoryview, offset: int) -> None:
    if _pread(fd, view, offset) < len(view):
        raise OSError(errno.EIO, "short read")


def _write(fd: int, direct: bool, view: memoryview, offset: int) -> None:
    _pwrite(fd, view, offset, direct)


class _buffered:
    """The GPT is read with small unaligned reads: O_DIRECT is turned off for that, and the page cache dropped
    first, so what is read is the card."""

    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self):
        self.flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        if self.flags & os.O_DIRECT:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, self.flags & ~os.O_DIRECT)
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return self

    def __exit__(self, *exc):
        if self.flags & os.O_DIRECT:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, self.flags)
        return False
