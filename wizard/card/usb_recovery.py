"""Is a Jetson plugged in over USB in recovery mode?

dosdcard.sh at the tested meta-tegra commit reads the board's EEPROM over USB unless BOARDID/FAB are
given, so the SD-image and Flash screens show, live, whether a board in recovery mode is present. A
board in recovery mode enumerates as NVIDIA's vendor (profile `board.usb_vendor`) with a product id per
module (profile `usb_recovery`); several of those ids come from third parties, and the profile's
`verified = false` is passed on so that the UI says "unverified" next to the module name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from wizard.card.disks import udev_attr
from wizard.card.udev_watch import SubsystemWatcher, WatchedMonitor


@dataclass(frozen=True)
class RecoveryDevice:
    vendor: str          # "0955"
    product: str         # "7f21"
    module: str          # "Jetson Nano"
    verified: bool       # whether the product id -> module mapping is confirmed by the layer itself
    sys_path: str
    busnum: int = 0
    devnum: int = 0
    serial: str = ""

    @property
    def usb_id(self) -> str:
        return f"{self.vendor}:{self.product}"

    def describe(self) -> str:
        """'Jetson Nano in recovery mode (USB 0955:7f21, bus 1 device 9; id unverified)'."""
        where = f", bus {self.busnum} device {self.devnum}" if self.busnum else ""
        unverified = "" if self.verified else "; which module this id means is unverified"
        return f"{self.module} in recovery mode (USB {self.usb_id}{where}{unverified})"

    def to_json(self) -> dict:
        return {"vendor": self.vendor, "product": self.product, "module": self.module, "verified": self.verified,
                "sys_path": self.sys_path, "busnum": self.busnum, "devnum": self.devnum, "serial": self.serial}


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _known_ids(profile) -> dict:
    return {u.product.lower(): u for u in profile.usb_recovery}


def find_recovery(profile, context=None) -> list:
    """Every USB device that is a Jetson in recovery mode, per the profile's ids (first match wins
    when a product id is listed twice)."""
    import pyudev

    ctx = context or pyudev.Context()
    vendor = str(profile.board["usb_vendor"]).lower()
    known = _known_ids(profile)
    out = []
    for dev in ctx.list_devices(subsystem="usb", DEVTYPE="usb_device"):
        if udev_attr(dev, "idVendor").lower() != vendor:
            continue
        product = udev_attr(dev, "idProduct").lower()
        entry = known.get(product)
        if entry is None:
            continue
        out.append(RecoveryDevice(vendor=vendor, product=product, module=entry.module, verified=bool(entry.verified),
                                  sys_path=dev.sys_path, busnum=_int(udev_attr(dev, "busnum")),
                                  devnum=_int(udev_attr(dev, "devnum")), serial=udev_attr(dev, "serial")))
    return sorted(out, key=lambda d: (d.busnum, d.devnum, d.sys_path))


def _usb_fingerprint() -> tuple:
    import os

    base = "/sys/bus/usb/devices"
    try:
        return tuple(sorted(os.listdir(base)))
    except OSError:
        return ()


class RecoveryMonitor(WatchedMonitor):
    """Calls `callback(list[RecoveryDevice])` right after start() and within a second of a USB device
    appearing or vanishing."""

    def __init__(self, profile, callback: Callable[[list], None], context=None,
                 poll_interval: float | None = 0.5, on_error=None):
        self.profile = profile
        self.callback = callback
        self.context = context
        self._watch = SubsystemWatcher("usb", self._changed, context=context, fingerprint=_usb_fingerprint,
                                       poll_interval=poll_interval, on_error=on_error, name="recovery-monitor")

    def _changed(self) -> None:
        self.callback(find_recovery(self.profile, context=self.context))
