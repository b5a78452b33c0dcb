"""Fixed states of the Write the card step for snapshots: three SD cards in readers (never real devices: the
paths cannot exist and the screen's disk monitor is replaced by one that reports exactly these), a fixed image,
and the write workers stopped before they start, so that each picture is drawn by the screen's own methods with
fixed progress and results. The writing itself is tested with loop devices in tests/flash."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

from wizard.card.disks import Disk, Partition
from wizard.core.progress import Progress

GB = 1000 ** 3
PUBKEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxTcmmFmD3bGk0JdYdG8dYpQv7wRXoGQpGbz1MNzVtG "
          "desk@lab-host\n")


class FixedClockProgress(Progress):
    """A progress ten seconds in: rate and time left do not depend on when the test runs."""

    @property
    def elapsed(self) -> float:
        return 10.0


def cards() -> list:
    def card(letter: str, minor: int, serial: str, model: str, size: int) -> Disk:
        return Disk(name=f"sd{letter}", path=f"/dev/wrnv-snap-sd{letter}", devnum=(8, minor), size_bytes=size,
                    vendor="Generic", model=model, serial=serial, bus="usb", kind="sd-card", removable=True,
                    partitions=[Partition(name=f"sd{letter}1", path=f"/dev/wrnv-snap-sd{letter}1", size_bytes=size - 4 * 1024 * 1024, fstype="vfat",
                                          label="boot")],
                    offered=True)

    return [card("x", 16, "000000000039", "SD/MMC", 31_914_983_424),
            card("y", 32, "058F63666485", "Multi-Card", 15_931_539_456),
            card("z", 48, "20120501030900000", "STORAGE DEVICE", 63_864_569_856)]


class FakeMonitor:
    """The disk monitor's shape (start/stop, callback from its own thread) with a fixed list."""

    disks: list = []

    def __init__(self, callback, image=None, allow_non_removable=False, **_kw):
        self.callback = callback

    def start(self) -> None:
        # From its own thread, as the real one does: the screen hands the list to the UI thread.
        threading.Thread(target=self.callback, args=(list(self.disks),), daemon=True).start()

    def stop(self) -> None:
        pass


def setup(monkeypatch, root: Path, session) -> Path:
    """The step with the three cards, a real (small, GPT) image at a fixed path, and no worker started.
    Returns the image's path."""
    import screens.flash as flash
    import wizard.card.disks as disks

    img = root / "jetson-nano.sdcard"
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:0", str(img)], check=True, capture_output=True)
    FakeMonitor.disks = cards()
    monkeypatch.setenv("HOME", str(root))     # no "Use ~/.ssh/..." button from the machine's own keys
    monkeypatch.setattr(disks, "DiskMonitor", FakeMonitor)
    monkeypatch.setattr(flash, "usage", lambda p: SimpleNamespace(apparent=16 * GB, allocated=int(4.2 * GB)))
    monkeypatch.setattr(flash.elevate, "route", lambda target: "in-process")
    monkeypatch.setattr(flash.elevate, "path_words", lambda target: "opened by the wizard itself (as root)")
    monkeypatch.setattr(flash.FlashScreen, "_write", lambda self, disk, image: None)
    monkeypatch.setattr(flash.FlashScreen, "_write_many", lambda self, disks, image, opts: None)
    monkeypatch.setattr(flash, "make_safe_to_remove",
                        lambda target: f"All data is on {Path(target).name}: it is safe to remove the card now.")
    from wizard.core.steps import Status

    session.mark("image", Status.DONE, "made", path=str(img))
    return img


def key_file(root: Path) -> Path:
    path = root / "id_ed25519.pub"
    path.write_text(PUBKEY)
    return path


def outcome(disk: Disk, card_options=None, *, error: str | None = None, seconds: float = 96.0):
    """A card's outcome as the fan-out returns it (written, verified, and customised when asked)."""
    from wizard.card.customise import CustomiseResult, FileCheck
    from wizard.card.fanout import CardJob, CardOutcome
    from wizard.card.writer import WriteOptions, WriteResult

    job = CardJob(target=disk.path, name=disk.name, identity=disk.identity(), route="in-process",
                  options=WriteOptions(), card_options=card_options, model=disk.model, serial=disk.serial,
                  size_bytes=disk.size_bytes)
    if error:
        return CardOutcome(job, result=WriteResult(disk.path, 16 * GB, written=int(1.9 * GB)), error=error,
                           seconds=seconds)
    result = WriteResult(disk.path, 16 * GB, written=int(4.2 * GB), verified=int(4.2 * GB), seconds=seconds - 30)
    customised = None
    if card_options is not None:
        files = tuple(FileCheck(p, 0o644, 0, 0, True) for p in ("/etc/hostname", "/etc/hosts"))
        if card_options.ssh_key:
            files += (FileCheck("/root/.ssh/authorized_keys", 0o600, 0, 0, True),)
        sshd = ("/etc/ssh/sshd_config",) if card_options.no_empty_password_ssh else ()
        files += tuple(FileCheck(p, 0o644, 0, 0, True) for p in sshd)
        customised = CustomiseResult(target=disk.path, partition="APP", partition_number=1, offset=0,
                                     route="patch", hostname=card_options.hostname, keys_added=1, sshd_files=sshd,
                                     sshd_before=(), empty_root_password=True, files=files, blocks=15,
                                     patch_bytes=15 * 4096, card_read_back=True)
    return CardOutcome(job, result=result, customised=customised, seconds=seconds)


async def wait_rows(pilot, table, n: int) -> None:
    """The fixed cards reach the table from the monitor's thread: wait for them."""
    from wrnvtest import wait_until

    await wait_until(pilot, lambda: table.row_count >= n, timeout=20)
