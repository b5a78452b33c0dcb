"""Read a GPT partition table from a whole disk or disk image, without partition devices.

Customising a written card must find its root partition while the card is held open by one fd (the elevated
helper's), and before the kernel has re-read the partition table; so we read the table ourselves rather than
waiting for /dev/sdX2 or calling sgdisk. Both the primary header's and the entry array's CRC32 are checked:
a half-written card must not send debugfs to a wrong offset.
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
import zlib
from dataclasses import dataclass

from wizard.core.errors import WizardError

BLKSSZGET = 0x1268  # logical sector size of a block device
_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_ENTRY = struct.Struct("<16s16sQQQ72s")


class GptError(WizardError):
    """The disk has no readable GPT (or not the partition asked for)."""


@dataclass(frozen=True)
class Partition:
    number: int  # 1-based, as sgdisk and the kernel count
    name: str
    first_lba: int
    last_lba: int
    sector_size: int

    @property
    def offset(self) -> int:
        return self.first_lba * self.sector_size

    @property
    def size(self) -> int:
        return (self.last_lba - self.first_lba + 1) * self.sector_size


def _sector_sizes(fd: int) -> list:
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        try:
            size = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0]
            return [size]
        except OSError:
            pass
    # An image file does not say its sector size; SD cards and dosdcard.sh images use 512.
    return [512, 4096]


@dataclass(frozen=True)
class Layout:
    """Where the table itself lies: sectors before `first_usable` (protective MBR, header, entries) and after
    `last_usable` (the backup entries and header) belong to the GPT, never to a partition."""
    first_usable: int
    last_usable: int
    sector_size: int

    @property
    def usable(self) -> tuple:
        """The byte range [start, end) a partition may use."""
        return self.first_usable * self.sector_size, (self.last_usable + 1) * self.sector_size


def read_partitions(path) -> list:
    """All used GPT entries of the disk or image at `path`, in table order."""
    try:
        fd = os.open(str(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise GptError(f"cannot read {path}: {e.strerror}; check the path and that you may read it") from None
    try:
        return read_table(fd, path)[0]
    finally:
        os.close(fd)


def read_table(fd: int, path) -> tuple:
    """(partitions, Layout) of the disk or image open at `fd` (a card is read through the one descriptor it
    was written with, never re-opened); `path` only names it in messages."""
    for ss in _sector_sizes(fd):
        table = _read_with_sector_size(fd, ss, path)
        if table is not None:
            return table
    raise GptError(f"{path} has no GPT partition table; is this a card written from a Jetson SD-card image?")


def _read_with_sector_size(fd: int, ss: int, path) -> tuple | None:
    raw = os.pread(fd, ss, ss)
    if len(raw) < _HEADER.size or raw[:8] != b"EFI PART":
        return None
    (_sig, _rev, hsize, hcrc, _res, _cur, _alt, first_usable, last_usable, _guid, entries_lba, count, esize,
     ecrc) = _HEADER.unpack_from(raw)
    if not (92 <= hsize <= ss) or esize < _ENTRY.size or count > 4096:
        raise GptError(f"{path}: the GPT header is damaged; write the image to the card again")
    hdr = bytearray(raw[:hsize])
    hdr[16:20] = b"\0\0\0\0"
    if zlib.crc32(bytes(hdr)) != hcrc:
        raise GptError(f"{path}: the GPT header checksum is wrong; write the image to the card again")
    table = os.pread(fd, count * esize, entries_lba * ss)
    if len(table) != count * esize or zlib.crc32(table) != ecrc:
        raise GptError(f"{path}: the GPT partition entries are damaged; write the image to the card again")
    parts = []
    for i in range(count):
        typ, _uniq, first, last, _attr, name = _ENTRY.unpack_from(table, i * esize)
        if typ == b"\0" * 16:
            continue
        parts.append(Partition(number=i + 1, name=name.decode("utf-16-le", "replace").split("\0", 1)[0],
                               first_lba=first, last_lba=last, sector_size=ss))
    return parts, Layout(first_usable, last_usable, ss)


def find_partition(path, name: str) -> Partition:
    """The one partition called `name`; refuses when there is none or more than one."""
    return pick(read_partitions(path), name, path)


def pick(parts: list, name: str, path) -> Partition:
    """The one partition of `parts` called `name`; refuses when there is none or more than one."""
    hits = [p for p in parts if p.name == name]
    if not hits:
        names = ", ".join(p.name or f"#{p.number}" for p in parts) or "none"
        raise GptError(f"{path} has no partition named {name} (it has: {names}); "
                       "is this a card written from a Jetson SD-card image?")
    if len(hits) > 1:
        raise GptError(f"{path} has {len(hits)} partitions named {name}; refusing to guess which one to change")
    return hits[0]
