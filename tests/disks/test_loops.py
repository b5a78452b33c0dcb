"""Real loop devices (root): what is mounted, swapping, read-only, too small or holds the image is never
offered -- not even with allow_non_removable, which is what lets a bare loop device through."""

from __future__ import annotations

import os

import pytest

from wizard.card import disks
from wizard.core.errors import WizardError

pytestmark = pytest.mark.root


def find(path: str, **kwargs) -> disks.Disk:
    for d in disks.scan(**kwargs):
        if d.path == path:
            return d
    raise AssertionError(f"{path} not listed")


def test_bare_loop_needs_allow_non_removable(loops):
    dev = loops.loop(16)
    d = find(dev)
    assert d.kind == "virtual" and d.bus == "virtual" and not d.offered
    assert d.reasons == ["loop device (a file posing as a disk)"]
    assert d.model.endswith("disk1.img")  # the backing file says which one it is
    allowed = find(dev, allow_non_removable=True)
    assert allowed.offered and allowed.reasons == [] and allowed.size_bytes == 16 * 1024 * 1024
    assert disks.get(dev, allow_non_removable=True).identity()["devnum"] == list(allowed.devnum)


def test_mounted_partition_refuses_the_whole_disk(loops):
    dev = loops.loop(48, partitioned=True)
    where = loops.mkfs_mount(dev + "p1", label="WRNVMNT")
    d = find(dev, allow_non_removable=True)
    assert not d.offered
    assert f"mounted at {where} ({os.path.basename(dev)}p1)" in d.reasons
    part = d.partitions[0]
    assert part.name == os.path.basename(dev) + "p1" and part.mountpoints == [str(where)]
    assert part.fstype == "ext4" and part.label == "WRNVMNT"
    held = disks.who_holds(d)
    assert f"{os.path.basename(dev)}p1 is mounted at {where}" in held


def test_active_swap_is_refused(loops):
    dev = loops.loop(16)
    loops.swap(dev)
    d = find(dev, allow_non_removable=True)
    assert not d.offered and d.reasons == [f"active swap on {dev}"]
    assert f"{dev} is active swap" in disks.who_holds(dev)


def test_disk_holding_the_image_and_too_small_disks(loops):
    holder = loops.loop(48)
    where = loops.mkfs_mount(holder)
    image = where / "nano.sdcard"
    with open(image, "wb") as f:
        f.truncate(24 * 1024 * 1024)
    small = loops.loop(16)
    big = loops.loop(32)
    found = {d.path: d for d in disks.scan(image=image, allow_non_removable=True)}
    assert f"holds the image file itself ({image})" in found[holder].reasons
    assert found[small].reasons == ["too small: 16.8 MB, the image needs 25.2 MB"]
    assert found[big].offered
    # a block device given as the image is sized by the device, not by st_size (0)
    assert not find(small, image=big, allow_non_removable=True).offered


def test_read_only_loop_is_refused_even_when_allowed(loops):
    dev = loops.loop(16, readonly=True)
    d = find(dev, allow_non_removable=True)
    assert d.readonly and not d.offered and d.reasons == ["read-only"]


def test_who_holds_names_processes(loops):
    dev = loops.loop(16)
    fd = os.open(dev, os.O_RDONLY)
    try:
        held = disks.who_holds(dev)
    finally:
        os.close(fd)
    assert any(h.startswith(f"process {os.getpid()} ") and h.endswith(f"has {dev} open") for h in held), held
    assert not any(h.startswith(f"process {os.getpid()} ") for h in disks.who_holds(dev))


def test_get_refuses_partitions_and_unattached_loops(loops):
    dev = loops.loop(48, partitioned=True)
    with pytest.raises(WizardError, match="is a partition; give the whole disk"):
        disks.get(dev + "p1")
    loops.detach(dev)
    with pytest.raises(WizardError, match="not attached to anything"):
        disks.get(dev)


def test_this_host_system_disk_is_refused():
    """Whatever this machine is, the disk holding / is listed and refused with a reason."""
    root = [d for d in disks.scan(allow_non_removable=True)
            if any(r.startswith("holds the running system: / ") for r in d.reasons)]
    if not root:
        pytest.skip("/ is not on a block device here (overlay or network root)")
    assert all(not d.offered for d in root)
