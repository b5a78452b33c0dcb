"""Which disks may receive the SD-card image, and why every other one may not.

The one step of the tutorial where a newcomer can erase their own hard disk is `dd of=/dev/*****`. Here
every block disk is classified from sysfs/udev (pyudev) and refused unless it is plainly a card or a
flash stick that nothing on this host uses: system disks are found by following what is mounted
(/proc/self/mountinfo), what swaps (/proc/swaps) and what stacks on top (sysfs holders/slaves: LVM,
dm-crypt, RAID) down to the physical disk. Each refusal carries a plain-words reason, so the UI can show
the user why their disk is not offered instead of silently hiding it.

Policy in short -- offered: SD cards (USB readers, built-in readers even though the kernel says
removable=0), USB flash sticks. Refused: anything mounted/swapping/held, internal disks (NVMe, SATA/SAS,
virtio, eMMC), virtual devices, read-only media, empty readers, disks smaller than the image, the disk
holding the image. `allow_non_removable` lets fixed disks and loop devices through (tests, the demo,
VMs) but never what is in use, read-only, too small or holds the image.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Union

from wizard.card.target import LARGE_BYTES  # noqa: F401 - the one large-drive threshold, also for callers
from wizard.card.udev_watch import SubsystemWatcher, WatchedMonitor
from wizard.core.errors import WizardError

log = logging.getLogger(__name__)

SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/home")

# Virtual block devices by name prefix: (what it is, whether --allow-non-removable may pass it).
_VIRTUAL = (
    ("loop", "loop device (a file posing as a disk)", True),
    ("nbd", "network block device", True),
    ("zram", "compressed RAM disk (zram)", False),
    ("ram", "RAM disk", False),
    ("dm-", "device-mapper device (LVM, encryption)", False),
    ("md", "software RAID device", False),
)
_READER_WORDS = re.compile(r"reader|card|sdxc|sdhc|micro ?sd|\bsd\b|\bmmc\b|\bms\b|\bcf\b|\bxd\b", re.I)
_MMC_BOOT = re.compile(r"^mmcblk\d+(boot\d+|rpmb)$")
KIND_TEXT = {"sd-card": "SD card", "usb-stick": "USB stick", "usb-disk": "USB disk", "internal": "internal disk",
             "virtual": "virtual", "card-reader-empty": "empty card reader", "optical": "optical drive",
             "removable-disk": "removable disk", "unknown": "unknown"}


@dataclass
class Partition:
    name: str
    path: str
    size_bytes: int
    fstype: str = ""
    label: str = ""
    mountpoints: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, "size_bytes": self.size_bytes, "fstype": self.fstype,
                "label": self.label, "mountpoints": list(self.mountpoints)}


@dataclass
class Disk:
    name: str
    path: str
    devnum: tuple
    size_bytes: int
    vendor: str = ""
    model: str = ""
    serial: str = ""
    bus: str = "unknown"
    kind: str = "unknown"
    removable: bool = False
    readonly: bool = False
    partitions: list = field(default_factory=list)
    offered: bool = False
    reasons: list = field(default_factory=list)
    large: bool = False
    notes: list = field(default_factory=list)  # said alongside an offer ("larger than 128 GB", ...)
    sys_path: str = ""

    def identity(self) -> dict:
        """What the user confirms and the writer re-checks right before writing (devnum as a list so
        that it compares equal after a JSON round trip)."""
        return {"path": self.path, "devnum": [int(self.devnum[0]), int(self.devnum[1])], "serial": self.serial,
                "size_bytes": self.size_bytes, "model": self.model}

    @property
    def size_text(self) -> str:
        return human_size(self.size_bytes)

    @property
    def kind_text(self) -> str:
        return KIND_TEXT.get(self.kind, self.kind)

    @property
    def title(self) -> str:
        """'Generic SD/MMC' or a fallback that still says what it is."""
        words = " ".join(w for w in (self.vendor, self.model) if w)
        return words or {"sd-card": "SD card", "usb-stick": "USB drive"}.get(self.kind, self.kind)

    def describe(self) -> str:
        """One line: '/dev/sdb  31.9 GB  Generic SD/MMC  (usb, sd-card, serial 0001)'."""
        extra = ", ".join(x for x in (self.bus, self.kind, f"serial {self.serial}" if self.serial else "") if x)
        return f"{self.path}  {self.size_text}  {self.title}  ({extra})"

    def identity_lines(self) -> list:
        """What the confirmation dialog shows, one fact per line."""
        lines = [f"Device:      {self.path} ({self.devnum[0]}:{self.devnum[1]})",
                 f"Model:       {self.title}",
                 f"Serial:      {self.serial or '(none reported)'}",
                 f"Connected:   {self.bus} ({self.kind_text})",
                 f"Size:        {self.size_text} ({self.size_bytes:,} bytes)",
                 f"Partitions:  {self.partitions_text()}"]
        lines += [f"Note:        {n}" for n in self.notes]
        return lines

    def partitions_text(self) -> str:
        if not self.partitions:
            return "no partitions"
        parts = []
        for p in self.partitions:
            bits = [p.name, human_size(p.size_bytes)]
            if p.fstype:
                bits.append(p.fstype)
            if p.label:
                bits.append(f"'{p.label}'")
            parts.append(" ".join(bits))
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "path": self.path, "name": self.name, "offered": self.offered, "reasons": list(self.reasons),
            "size_bytes": self.size_bytes, "model": self.model, "vendor": self.vendor, "serial": self.serial,
            "bus": self.bus, "kind": self.kind, "removable": self.removable, "readonly": self.readonly,
            "large": self.large, "notes": list(self.notes), "devnum": [int(self.devnum[0]), int(self.devnum[1])],
            "partitions": [p.to_json() for p in self.partitions],
        }


def human_size(n: int) -> str:
    import humanize

    return humanize.naturalsize(n)  # decimal units: how cards are labelled


# -- what this host uses ------------------------------------------------------------------------

def _unescape(s: str) -> str:
    """mountinfo and /proc/swaps write space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


@dataclass
class _Mount:
    devnum: tuple
    source: str
    mountpoint: str


def _mounts() -> list:
    out = []
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        try:
            major, minor = (int(x) for x in fields[2].split(":"))
        except ValueError:
            continue
        source = _unescape(fields[sep + 2]) if len(fields) > sep + 2 else ""
        out.append(_Mount((major, minor), source, _unescape(fields[4])))
    return out


def _block_devnum(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return (os.major(st.st_rdev), os.minor(st.st_rdev))


def _mount_devnum(m: _Mount) -> tuple | None:
    """The block device behind a mount. Btrfs and friends report an anonymous 0:N device number;
    then the mount source (/dev/...) names the device."""
    if m.devnum[0] != 0:
        return m.devnum
    if m.source.startswith("/dev/"):
        return _block_devnum(m.source)
    return None


def _swaps() -> list:
    """[(device or file, devnum of the block device behind it)] for each active swap area."""
    out = []
    lines = _read("/proc/swaps").splitlines()[1:]
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        name = _unescape(fields[0])
        devnum = _block_devnum(name)
        if devnum is None:  # a swap file: the disk holding that file
            try:
                st = os.stat(name)
                devnum = _fs_devnum(st.st_dev)
            except OSError:
                devnum = None
        out.append((name, devnum))
    return out


def _fs_devnum(st_dev: int) -> tuple | None:
    """The block device of the filesystem with this st_dev (resolving btrfs' anonymous numbers)."""
    devnum = (os.major(st_dev), os.minor(st_dev))
    if devnum[0] != 0:
        return devnum
    for m in _mounts():
        if m.devnum == devnum:
            return _mount_devnum(m)
    return None


class _Tree:
    """Block devices by name and by device number, with the walk from any of them down to the physical
    disks under it (partition -> disk; dm/md -> their slaves, recursively)."""

    def __init__(self, context):
        import pyudev

        self._pyudev = pyudev
        self.ctx = context
        self.devices = list(context.list_devices(subsystem="block"))
        self.by_name = {d.sys_name: d for d in self.devices}
        self.by_devnum = {}
        for d in self.devices:
            dn = _devnum(d)
            if dn != (0, 0):
                self.by_devnum[dn] = d

    def device(self, devnum: tuple | None):
        if devnum is None:
            return None
        return self.by_devnum.get(tuple(devnum))

    def chains(self, dev, _depth: int = 0) -> list:
        """Paths from `dev` down to each physical disk: [[dev, ..., disk]] by sys_name."""
        if dev is None or _depth > 16:
            return []
        name = dev.sys_name
        if dev.device_type == "partition":
            parent = dev.find_parent("block", "disk")
            if parent is None:
                return []
            below = self.chains(parent, _depth + 1)
            return [[name] + c for c in below]
        slaves = _listdir(os.path.join(dev.sys_path, "slaves"))
        if not slaves:
            return [[name]]
        out = [[name]]  # the stacked device itself is "in use" too
        for s in slaves:
            sdev = self.by_name.get(s)
            for c in self.chains(sdev, _depth + 1):
                out.append([name] + c)
        return out

    def label(self, name: str) -> str:
        """'dm-0 (vg-root)' for device-mapper devices, else the kernel name."""
        dev = self.by_name.get(name)
        if dev is not None and name.startswith("dm-"):
            dm_name = udev_attr(dev, "dm/name")
            if dm_name:
                return f"{name} ({dm_name})"
        return name


def _listdir(path: str) -> list:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def udev_attr(dev, name: str) -> str:
    """A sysfs attribute as text ("" when absent or unreadable): udev hands back bytes, or raises."""
    try:
        value = dev.attributes.get(name)
    except Exception:
        value = None
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def _int_attr(dev, name: str) -> int:
    try:
        return int(udev_attr(dev, name) or 0)
    except ValueError:
        return 0


def _devnum(dev) -> tuple:
    text = udev_attr(dev, "dev")
    if ":" in text:
        try:
            major, minor = text.split(":", 1)
            return (int(major), int(minor))
        except ValueError:
            pass
    try:
        num = dev.device_number
    except Exception:
        num = 0
    return (os.major(num), os.minor(num)) if num else (0, 0)


def _prop(dev, key: str) -> str:
    """A udev property, preferring the _ENC form (which keeps spaces) over the underscored one."""
    props = dev.properties
    enc = props.get(key + "_ENC")
    if enc:
        try:
            return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), enc).strip()
        except Exception:
            pass
    return (props.get(key) or "").replace("_", " ").strip()


class _Usage:
    """Per physical disk: the plain-words reasons it is in use (mounted, swap, holders)."""

    def __init__(self, tree: _Tree):
        self.tree = tree
        self.by_disk: dict = {}          # disk name -> [reason]
        self.mountpoints: dict = {}      # any block device name -> [mountpoint]
        self.via: dict = {}              # disk name -> names of stacked devices already explained
        for m in _mounts():
            dev = tree.device(_mount_devnum(m))
            if dev is None:
                continue
            self.mountpoints.setdefault(dev.sys_name, []).append(m.mountpoint)
            for chain in tree.chains(dev):
                src = self._chain_text(chain)
                if m.mountpoint in SYSTEM_MOUNTS:
                    text = f"holds the running system: {m.mountpoint} is mounted from {src}"
                else:
                    text = f"mounted at {m.mountpoint} ({src})"
                self._add(chain[-1], text, chain)
        for name, devnum in _swaps():
            dev = tree.device(devnum)
            if dev is None:
                continue
            for chain in tree.chains(dev):
                self._add(chain[-1], f"active swap on {name}", chain)

    def _chain_text(self, chain: list) -> str:
        if len(chain) == 1:
            return chain[0]
        return " on ".join(self.tree.label(n) for n in chain[:-1])

    def _add(self, disk: str, text: str, chain: list) -> None:
        reasons = self.by_disk.setdefault(disk, [])
        if text not in reasons:
            reasons.append(text)
        self.via.setdefault(disk, set()).update(chain)


# -- the image ----------------------------------------------------------------------------------

@dataclass
class _Image:
    path: Path
    size: int
    disks: set  # physical disks under the filesystem that holds the file


def _image_info(image, tree: _Tree) -> _Image | None:
    if image is None:
        return None
    path = Path(image).expanduser()
    try:
        st = os.stat(path)
    except OSError:
        raise WizardError(f"image not found: {path}; give the path of the .sdcard image file") from None
    if stat.S_ISDIR(st.st_mode):
        raise WizardError(f"{path} is a folder, not an image file; give the path of the .sdcard image file")
    size = st.st_size
    if stat.S_ISBLK(st.st_mode):
        dev = tree.device((os.major(st.st_rdev), os.minor(st.st_rdev)))
        size = _int_attr(dev, "size") * 512 if dev is not None else 0
        disks = {c[-1] for c in tree.chains(dev)} if dev is not None else set()
    else:
        dev = tree.device(_fs_devnum(st.st_dev))
        disks = {c[-1] for c in tree.chains(dev)} if dev is not None else set()
    return _Image(path, size, disks)


# -- classification -----------------------------------------------------------------------------

def _ancestor_subsystems(dev) -> list:
    out = []
    for p in dev.ancestors:
        try:
            if p.subsystem:
                out.append(p.subsystem)
        except Exception:
            continue
    return out


def _bus(dev) -> str:
    name = dev.sys_name
    for prefix, _what, _ok in _VIRTUAL:
        if name.startswith(prefix):
            return "virtual"
    subs = _ancestor_subsystems(dev)
    if "usb" in subs:
        return "usb"
    if "mmc" in subs:
        return "mmc"
    if "nvme" in subs or "nvme-subsystem" in subs or name.startswith("nvme"):
        return "nvme"
    if "virtio" in subs:
        return "virtio"
    id_bus = (dev.properties.get("ID_BUS") or "").lower()
    if id_bus in ("ata", "scsi", "usb"):
        return id_bus
    if "/ata" in dev.sys_path:
        return "ata"
    if "scsi" in subs:
        return "scsi"
    if "/devices/virtual/" in dev.sys_path:
        return "virtual"
    return "unknown"


def _identity_fields(dev, bus: str) -> tuple:
    """(vendor, model, serial) from udev properties, then from the sysfs parents that know them."""
    vendor, model, serial = _prop(dev, "ID_VENDOR"), _prop(dev, "ID_MODEL"), dev.properties.get("ID_SERIAL_SHORT", "")
    scsi = dev.find_parent("scsi", "scsi_device")
    if scsi is not None:
        vendor = vendor or udev_attr(scsi, "vendor")
        model = model or udev_attr(scsi, "model")
    if bus == "usb":
        usb = dev.find_parent("usb", "usb_device")
        if usb is not None:
            vendor = vendor or udev_attr(usb, "manufacturer")
            model = model or udev_attr(usb, "product")
            serial = serial or udev_attr(usb, "serial")
    elif bus == "mmc":
        card = dev.find_parent("mmc")
        if card is not None:
            model = model or udev_attr(card, "name")
            serial = serial or udev_attr(card, "serial")
    elif bus == "nvme":
        for p in dev.ancestors:
            if p.subsystem in ("nvme", "nvme-subsystem"):
                model = model or udev_attr(p, "model")
                serial = serial or udev_attr(p, "serial")
    elif bus == "virtio":
        vendor = vendor or "virtio"
    if dev.sys_name.startswith("loop"):
        model = model or udev_attr(dev, "loop/backing_file")
    elif dev.sys_name.startswith("dm-"):
        model = model or udev_attr(dev, "dm/name")
    serial = serial or udev_attr(dev, "serial") or udev_attr(dev, "device/serial")
    if vendor.upper() == "ATA":  # libata's placeholder, not a maker
        vendor = ""
    return " ".join(vendor.split()), " ".join(model.split()), serial.strip()


def _kind(dev, bus: str, size: int, removable: bool, vendor: str, model: str) -> tuple:
    """(kind, refusal or None, whether --allow-non-removable may lift that refusal)."""
    name = dev.sys_name
    for prefix, what, ok in _VIRTUAL:
        if name.startswith(prefix):
            return "virtual", what, ok
    if name.startswith("sr"):
        return "optical", "optical drive (CD/DVD)", False
    if bus == "mmc":
        if _MMC_BOOT.match(name):
            return "internal", "boot partition of an internal eMMC", False
        card = dev.find_parent("mmc")
        card_type = udev_attr(card, "type") if card is not None else ""
        has_boot = any(os.path.isdir(os.path.join(os.path.dirname(dev.sys_path), f"{name}boot{i}"))
                       for i in (0, 1))
        if card_type == "MMC" or has_boot:
            return "internal", "internal eMMC (card type MMC, has boot partitions)", True
        if card_type == "SD":
            return "sd-card", None, False
        return "unknown", f"MMC device of card type {card_type or 'unknown'}, not an SD card", True
    if bus == "usb":
        usb = dev.find_parent("usb", "usb_device")
        words = " ".join([vendor, model, udev_attr(usb, "product") if usb is not None else ""])
        flags = dev.properties
        reader = bool(_READER_WORDS.search(words)) or any(
            flags.get(k) == "1" for k in ("ID_DRIVE_FLASH_SD", "ID_DRIVE_MEDIA_FLASH_SD", "ID_DRIVE_FLASH_MS"))
        if size == 0:
            return "card-reader-empty", None, False
        if reader:
            return "sd-card", None, False
        if removable:
            return "usb-stick", None, False
        return ("usb-disk", "USB disk that reports itself as fixed, not removable (an external hard disk?)",
                True)
    if removable and bus in ("scsi", "ata", "unknown"):
        return "removable-disk", None, False
    what = {"nvme": "internal NVMe disk", "ata": "internal SATA disk", "scsi": "internal SCSI/SAS disk",
            "virtio": "internal virtio disk (a virtual machine's disk)"}.get(bus)
    if what:
        return "internal", what, True
    return "unknown", "cannot tell what kind of disk this is (not USB, not an SD card)", True


def _partitions(dev, tree: _Tree, usage: _Usage) -> list:
    out = []
    disk_path = dev.sys_path.rstrip("/") + "/"
    children = [d for d in tree.devices if d.device_type == "partition" and d.sys_path.startswith(disk_path)]
    for p in sorted(children, key=lambda d: _natural(d.sys_name)):
        fstype = p.properties.get("ID_FS_TYPE", "")
        label = _prop(p, "ID_FS_LABEL") or _prop(p, "ID_PART_ENTRY_NAME")
        node = p.device_node or f"/dev/{p.sys_name}"
        if not fstype and not label:
            fstype, label = _probe(node)
        out.append(Partition(p.sys_name, node, _int_attr(p, "size") * 512, fstype, label,
                             list(usage.mountpoints.get(p.sys_name, []))))
    return out


def _probe(node: str) -> tuple:
    """(fstype, label) by blkid where no udev daemon recorded them (containers, minimal hosts)."""
    if os.path.exists("/run/udev/data") or not os.access(node, os.R_OK):
        return "", ""
    try:
        out = subprocess.run(["blkid", "-o", "export", node], capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return "", ""
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values.get("TYPE", ""), values.get("LABEL", "") or values.get("PARTLABEL", "")


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _listed(dev) -> bool:
    """Unattached loop devices and empty RAM-disk slots are not disks anyone could mean."""
    name = dev.sys_name
    if name.startswith("loop") and _int_attr(dev, "size") == 0 and not udev_attr(dev, "loop/backing_file"):
        return False
    return True


def _classify(dev, tree: _Tree, usage: _Usage, image: _Image | None, allow_non_removable: bool) -> Disk:
    name = dev.sys_name
    size = _int_attr(dev, "size") * 512
    removable = udev_attr(dev, "removable") == "1"
    readonly = udev_attr(dev, "ro") == "1" or udev_attr(dev, "force_ro") == "1"
    bus = _bus(dev)
    vendor, model, serial = _identity_fields(dev, bus)
    kind, fixed_reason, liftable = _kind(dev, bus, size, removable, vendor, model)
    disk = Disk(name=name, path=dev.device_node or f"/dev/{name}", devnum=_devnum(dev), size_bytes=size,
                vendor=vendor, model=model, serial=serial, bus=bus, kind=kind, removable=removable,
                readonly=readonly, sys_path=dev.sys_path)
    disk.partitions = _partitions(dev, tree, usage)

    hard: list = list(usage.by_disk.get(name, []))
    explained = usage.via.get(name, set())
    held = []
    for owner in [dev] + [tree.by_name[p.name] for p in disk.partitions if p.name in tree.by_name]:
        for h in _listdir(os.path.join(owner.sys_path, "holders")):
            if h not in explained and h not in held:
                held.append(h)
    if held:
        shown = ", ".join(tree.label(h) for h in held[:4])
        more = f" and {len(held) - 4} more" if len(held) > 4 else ""
        hard.append(f"in use by {shown}{more}")
    if image is not None and name in image.disks:
        hard.append(f"holds the image file itself ({image.path})")
    if readonly:
        hard.append("read-only (write-protect switch on, or read-only medium)"
                    if kind in ("sd-card", "usb-stick", "card-reader-empty") else "read-only")
    if size == 0:
        hard.append("no card in the reader" if kind == "card-reader-empty" else "empty (size 0)")
    elif image is not None and image.size > size:
        hard.append(f"too small: {human_size(size)}, the image needs {human_size(image.size)}")

    soft: list = []
    if fixed_reason:
        if liftable and allow_non_removable:
            disk.notes.append(f"{fixed_reason}: offered because non-removable disks were allowed")
        else:
            soft.append(fixed_reason)
    disk.reasons = hard + soft
    disk.offered = not disk.reasons
    disk.large = size > LARGE_BYTES
    if disk.large and disk.offered:
        disk.notes.append(f"larger than {LARGE_BYTES // 10**9} GB: is this really a card? (asks twice)")
    return disk


# -- the API ------------------------------------------------------------------------------------

def _context(context):
    if context is not None:
        return context
    import pyudev

    return pyudev.Context()


def scan(image=None, context=None, allow_non_removable: bool = False) -> list:
    """Every block disk on this host, classified (offered or refused with reasons), in name order.
    `image`: the image to be written (size and location checks); a missing file is a WizardError."""
    ctx = _context(context)
    tree = _Tree(ctx)
    usage = _Usage(tree)
    img = _image_info(image, tree)
    disks = []
    for dev in tree.devices:
        try:
            if dev.device_type == "disk" and _listed(dev):
                disks.append(_classify(dev, tree, usage, img, allow_non_removable))
        except (OSError, LookupError, tree._pyudev.DeviceError) as e:
            # pulled while being read: the event that follows brings a fresh scan
            log.debug("skipping %s: %s", dev.sys_name, e)
    return sorted(disks, key=lambda d: _natural(d.name))


def get(path_or_name: Union[str, Path], image=None, context=None, allow_non_removable: bool = False) -> Disk:
    """One whole disk by /dev path, by-id link or kernel name ('sdb'), classified like scan() does."""
    ctx = _context(context)
    text = str(path_or_name)
    import pyudev

    dev = None
    if "/" in text:
        path = os.path.realpath(text)
        try:
            st = os.stat(path)
        except OSError:
            raise WizardError(f"no such disk: {text}; 'wrnv-wizard disks --all' lists the disks") from None
        if stat.S_ISREG(st.st_mode):
            raise WizardError(f"{text} is a file, not a disk")
        if not stat.S_ISBLK(st.st_mode):
            raise WizardError(f"{text} is not a block device; 'wrnv-wizard disks --all' lists the disks")
        try:
            dev = pyudev.Devices.from_device_number(ctx, "block", st.st_rdev)
        except Exception:
            dev = None
    else:
        try:
            dev = pyudev.Devices.from_name(ctx, "block", text)
        except Exception:
            dev = None
    if dev is None:
        raise WizardError(f"no such disk: {text}; 'wrnv-wizard disks --all' lists the disks")
    if dev.device_type == "partition":
        parent = dev.find_parent("block", "disk")
        whole = f"/dev/{parent.sys_name}" if parent is not None else "the whole disk"
        raise WizardError(f"{text} is a partition; give the whole disk ({whole})")
    for disk in scan(image=image, context=ctx, allow_non_removable=allow_non_removable):
        if disk.name == dev.sys_name:
            return disk
    raise WizardError(f"{text} is not attached to anything (an unused loop device?)")


def only(disks: list, path: str, reason: str) -> list:
    """Refuse every disk but `path` (the demo offers its own virtual card, never another loop device of this
    host that --allow-non-removable would let through). Refusals are added, never lifted."""
    keep = os.path.realpath(path) if path else ""
    for d in disks:
        if os.path.realpath(d.path) != keep and d.offered:
            d.offered = False
            d.reasons.append(reason)
    return disks


def who_holds(disk: Union[Disk, str]) -> list:
    """Plain-words list of what keeps a disk busy: mounts, swap, holders (dm/md), processes with it or
    one of its partitions open. For the 'cannot open exclusively' message."""
    import pyudev

    ctx = pyudev.Context()
    if not isinstance(disk, Disk):
        disk = get(disk, context=ctx, allow_non_removable=True)
    tree = _Tree(ctx)
    names = {disk.name} | {p.name for p in disk.partitions}
    out: list = []
    for m in _mounts():
        dev = tree.device(_mount_devnum(m))
        if dev is None:
            continue
        for chain in tree.chains(dev):
            if chain[-1] == disk.name:
                src = " on ".join(tree.label(n) for n in (chain[:-1] or chain))
                text = f"{src} is mounted at {m.mountpoint}"
                if text not in out:
                    out.append(text)
    for name, devnum in _swaps():
        dev = tree.device(devnum)
        for chain in tree.chains(dev):
            if chain[-1] == disk.name:
                text = f"{name} is active swap"
                if text not in out:
                    out.append(text)
    for n in sorted(names, key=_natural):
        dev = tree.by_name.get(n)
        if dev is None:
            continue
        for h in _listdir(os.path.join(dev.sys_path, "holders")):
            out.append(f"{n} is used by {tree.label(h)}")
    devnums = {tuple(disk.devnum)}
    for n in names:
        dev = tree.by_name.get(n)
        if dev is not None:
            devnums.add(_devnum(dev))
    out.extend(_processes_holding(devnums))
    return out


def _processes_holding(devnums: Iterable[tuple]) -> list:
    wanted = {os.makedev(*d) for d in devnums}
    out = []
    for pid in _listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        for fd in _listdir(fd_dir):
            try:
                st = os.stat(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode) and st.st_rdev in wanted:
                comm = _read(f"/proc/{pid}/comm").strip() or "?"
                node = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
                try:
                    node = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    pass
                mine = " (this program)" if int(pid) == os.getpid() else ""
                out.append(f"process {pid} ({comm}){mine} has {node} open")
                break
    return out


def _block_fingerprint() -> tuple:
    """Cheap snapshot of the block devices (names, sizes, read-only flags) for the polling fallback."""
    out = []
    for name in _listdir("/sys/class/block"):
        base = f"/sys/class/block/{name}"
        out.append((name, _read(f"{base}/size").strip(), _read(f"{base}/ro").strip()))
    return tuple(out)


class DiskMonitor(WatchedMonitor):
    """Keeps the disk list live: calls `callback(list[Disk])` with a fresh scan right after start() and
    within a second of any block device appearing, vanishing or changing (card in, card out)."""

    def __init__(self, callback, image=None, context=None, allow_non_removable: bool = False,
                 poll_interval: float | None = 0.5, on_error=None):
        self.callback = callback
        self.image = image
        self.context = context
        self.allow_non_removable = allow_non_removable
        self.on_error = on_error
        self._watch = SubsystemWatcher("block", self._changed, context=context, fingerprint=_block_fingerprint,
                                       poll_interval=poll_interval, on_error=on_error, name="disk-monitor")

    def _changed(self) -> None:
        self.callback(scan(image=self.image, context=self.context, allow_non_removable=self.allow_non_removable))
