"""Disk classification over umockdev descriptions of real hardware classes (tests/disks/fixtures)."""

from __future__ import annotations

import pytest
from umock import mountinfo, swaps

ALL_DISKS = ["usb-reader-sd", "usb-reader-empty", "sdhci-sd", "emmc", "nvme-lvm", "sata", "virtio",
             "sd-readonly", "usb-large", "usb-hdd", "usb-stick"]
NANO_IMAGE_BYTES = 15_840_000_000  # the Nano's .sdcard image (profile sdcard.image_size_bytes)


def by_name(result: dict) -> dict:
    return {d["name"]: d for d in result["disks"]}


@pytest.fixture(scope="module")
def idle(run_testbed):
    """All disk classes plugged in; nothing mounted, no swap."""
    return by_name(run_testbed({"fixtures": ALL_DISKS, "proc": {"self/mountinfo": mountinfo(), "swaps": swaps()},
                                "action": "scan"}))


@pytest.fixture(scope="module")
def idle_allowed(run_testbed):
    return by_name(run_testbed({"fixtures": ALL_DISKS, "proc": {"self/mountinfo": mountinfo(), "swaps": swaps()},
                                "action": "scan", "kwargs": {"allow_non_removable": True}}))


# The system lives on the NVMe (/ through LVM, /boot, /boot/efi), /home is on the built-in SD card and
# reported btrfs-style (anonymous 0:45, named by its source), a USB stick is mounted, sda2 swaps.
BUSY_PROC = {
    "self/mountinfo": mountinfo(("253:0", "/", "/dev/mapper/vg-root"), ("259:2", "/boot", "/dev/nvme0n1p2"),
                                ("259:1", "/boot/efi", "/dev/nvme0n1p1"), ("0:45", "/home", "/dev/mmcblk0p1"),
                                ("8:97", "/media/user/STICK", "/dev/sdg1")),
    "swaps": swaps("/dev/sda2"),
}


@pytest.fixture(scope="module")
def busy(run_testbed):
    return run_testbed({"fixtures": ALL_DISKS, "proc": BUSY_PROC, "action": "scan",
                        "kwargs": {"allow_non_removable": True}, "who_holds": ["sdg", "nvme0n1", "sda"]})


def test_every_refused_disk_says_why_and_offered_ones_do_not(idle, idle_allowed):
    assert len(idle) == 14
    for disks in (idle, idle_allowed):
        for d in disks.values():
            assert d["offered"] == (not d["reasons"]), d
            assert all(isinstance(r, str) and r for r in d["reasons"])


def test_sd_card_in_usb_reader_is_offered_with_its_identity(idle):
    d = idle["sdb"]
    assert d["offered"] and d["kind"] == "sd-card" and d["bus"] == "usb"
    assert d["path"] == "/dev/sdb" and d["devnum"] == [8, 16] and d["size_bytes"] == 62333952 * 512
    assert (d["vendor"], d["model"], d["serial"]) == ("Generic-", "SD/MMC", "20120501030900000")
    assert [(p["name"], p["fstype"], p["label"]) for p in d["partitions"]] == [
        ("sdb1", "vfat", "boot"), ("sdb2", "ext4", "rootfs")]
    assert not d["large"]


def test_reader_without_card_is_refused_identity_from_sysfs(idle):
    d = idle["sdc"]
    assert not d["offered"] and d["kind"] == "card-reader-empty"
    assert d["reasons"] == ["no card in the reader"]
    # no udev properties in that fixture: the SCSI and USB parents supply the identity
    assert (d["model"], d["serial"], d["bus"]) == ("SD/MMC/MS PRO", "058F63666485", "usb")


def test_builtin_reader_sd_card_is_offered_although_not_removable(idle):
    d = idle["mmcblk0"]
    assert d["offered"] and d["kind"] == "sd-card" and d["bus"] == "mmc" and d["removable"] is False
    assert (d["model"], d["serial"]) == ("SC64G", "0x1a2b3c4d")
    assert d["partitions"][0]["label"] == "SDXC"


def test_internal_emmc_and_its_boot_partitions_are_refused(idle, idle_allowed):
    assert idle["mmcblk1"]["kind"] == "internal"
    assert any("eMMC" in r for r in idle["mmcblk1"]["reasons"])
    for name in ("mmcblk1boot0", "mmcblk1boot1"):
        for disks in (idle, idle_allowed):
            assert not disks[name]["offered"]
            assert "read-only" in disks[name]["reasons"]
            assert any("boot partition" in r for r in disks[name]["reasons"])


@pytest.mark.parametrize("name,bus,words", [("nvme0n1", "nvme", "NVMe"), ("sda", "ata", "SATA"),
                                             ("vdb", "virtio", "virtio")])
def test_internal_disks_are_refused(idle, name, bus, words):
    d = idle[name]
    assert not d["offered"] and d["kind"] == "internal" and d["bus"] == bus
    assert any(words in r for r in d["reasons"]), d["reasons"]


def test_internal_identity(idle):
    assert idle["nvme0n1"]["model"] == "Samsung SSD 970 EVO Plus 1TB"
    assert idle["nvme0n1"]["serial"] == "S4EWNX0N123456A"
    assert (idle["sda"]["vendor"], idle["sda"]["model"]) == ("", "Samsung SSD 860 EVO 500GB")


def test_unmounted_lvm_member_is_still_in_use(idle):
    assert "in use by dm-0 (vg-root)" in idle["nvme0n1"]["reasons"]
    assert idle["dm-0"]["kind"] == "virtual" and not idle["dm-0"]["offered"]


def test_write_protected_card_is_refused(idle, idle_allowed):
    for disks in (idle, idle_allowed):
        d = disks["sdd"]
        assert not d["offered"] and d["readonly"]
        assert any(r.startswith("read-only (write-protect") for r in d["reasons"])
    assert idle["sdd"]["kind"] == "sd-card"


def test_large_usb_drive_is_offered_with_a_warning(idle):
    d = idle["sde"]
    assert d["offered"] and d["large"] and d["kind"] == "usb-stick"
    assert any("128 GB" in n for n in d["notes"])


def test_usb_stick_is_offered(idle):
    d = idle["sdg"]
    assert d["offered"] and d["kind"] == "usb-stick" and not d["large"]
    assert d["partitions"][0]["label"] == "STICK"


def test_fixed_usb_disk_needs_allow_non_removable(idle, idle_allowed):
    assert not idle["sdf"]["offered"] and idle["sdf"]["kind"] == "usb-disk"
    assert any("not removable" in r for r in idle["sdf"]["reasons"])
    assert idle_allowed["sdf"]["offered"] and idle_allowed["sdf"]["large"]


def test_allow_non_removable_lifts_only_the_fixed_disk_refusal(idle, idle_allowed):
    lifted = {n for n, d in idle_allowed.items() if d["offered"]} - {n for n, d in idle.items() if d["offered"]}
    # nvme0n1 stays refused: its LVM volume is active
    assert lifted == {"sdf", "sda", "vdb", "mmcblk1"}
    for name in ("sdc", "sdd", "dm-0", "nvme0n1", "mmcblk1boot0"):
        assert not idle_allowed[name]["offered"], name


def test_image_size_and_location(run_testbed, tmp_path_factory):
    image = tmp_path_factory.mktemp("img") / "nano.sdcard"
    with open(image, "wb") as f:
        f.truncate(NANO_IMAGE_BYTES)  # sparse: no real space used
    res = by_name(run_testbed({"fixtures": ALL_DISKS, "proc": {"self/mountinfo": mountinfo(), "swaps": swaps()},
                               "action": "scan", "kwargs": {"image": str(image)}}))
    assert res["sdb"]["offered"] and res["mmcblk0"]["offered"] and res["sde"]["offered"]
    assert not res["sdg"]["offered"]
    assert res["sdg"]["reasons"] == ["too small: 8.0 GB, the image needs 15.8 GB"]
    assert not res["sdd"]["offered"]


def test_missing_image_is_one_clear_error(run_testbed, tmp_path):
    res = run_testbed({"fixtures": ["usb-stick"], "action": "scan", "kwargs": {"image": str(tmp_path / "nope")}})
    assert res["error"].startswith("image not found: ") and "disks" not in res


def test_system_disk_found_through_lvm_and_mounts(busy):
    disks = by_name(busy)
    nvme = disks["nvme0n1"]["reasons"]
    assert "holds the running system: / is mounted from dm-0 (vg-root) on nvme0n1p3" in nvme
    assert "holds the running system: /boot is mounted from nvme0n1p2" in nvme
    assert "holds the running system: /boot/efi is mounted from nvme0n1p1" in nvme
    assert not any(r.startswith("in use by") for r in nvme)  # dm-0 already explained by the mount
    assert "holds the running system: / is mounted from dm-0" in disks["dm-0"]["reasons"]
    root = [p for p in disks["nvme0n1"]["partitions"] if p["name"] == "nvme0n1p1"][0]
    assert root["mountpoints"] == ["/boot/efi"]


def test_anonymous_devnum_mount_resolved_by_source(busy):
    d = by_name(busy)["mmcblk0"]
    assert not d["offered"]
    assert "holds the running system: /home is mounted from mmcblk0p1" in d["reasons"]


def test_mounted_stick_and_swap_refused_even_when_allowed(busy):
    disks = by_name(busy)
    assert not disks["sdg"]["offered"]
    assert disks["sdg"]["reasons"] == ["mounted at /media/user/STICK (sdg1)"]
    assert not disks["sda"]["offered"]
    assert disks["sda"]["reasons"] == ["active swap on /dev/sda2"]
    assert disks["sdb"]["offered"]


def test_who_holds(busy):
    held = busy["who_holds"]
    assert "sdg1 is mounted at /media/user/STICK" in held["sdg"]
    assert "dm-0 (vg-root) on nvme0n1p3 is mounted at /" in held["nvme0n1"]
    assert "nvme0n1p3 is used by dm-0 (vg-root)" in held["nvme0n1"]
    assert "/dev/sda2 is active swap" in held["sda"]


def test_get_by_name_path_and_bad_input(run_testbed):
    res = run_testbed({"fixtures": ["usb-reader-sd", "usb-stick"], "action": "scan",
                       "proc": {"self/mountinfo": mountinfo(), "swaps": swaps()},
                       "get": ["sdb", "/dev/sdg", "/dev/sdb1", "sdz", "/dev/null", "/etc/hostname"]})
    got = res["get"]
    assert got["sdb"]["identity"] == {"path": "/dev/sdb", "devnum": [8, 16], "serial": "20120501030900000",
                                      "size_bytes": 62333952 * 512, "model": "SD/MMC"}
    assert got["/dev/sdg"]["disk"]["name"] == "sdg"
    assert got["/dev/sdb1"]["error"] == "/dev/sdb1 is a partition; give the whole disk (/dev/sdb)"
    assert got["sdz"]["error"].startswith("no such disk: sdz")
    assert "not a block device" in got["/dev/null"]["error"]
    assert got["/etc/hostname"]["error"] == "/etc/hostname is a file, not a disk"
