"""Hotplug: the disk list follows plugs, pulls and card changes within a second (umockdev uevents and
real loop devices), and the recovery-mode detector follows a Jetson appearing on USB."""

from __future__ import annotations

import queue
import time

import pytest
from umock import fixture_paths, mountinfo, swaps

IDLE = {"self/mountinfo": mountinfo(), "swaps": swaps()}
SDC = [p for p in fixture_paths("usb-reader-empty") if p.endswith("/block/sdc")][0]


def test_disk_monitor_follows_uevents_within_a_second(run_testbed):
    res = run_testbed({
        "fixtures": ["sata"], "proc": IDLE, "action": "watch", "monitor": "disks",
        "poll_interval": None,  # uevents only: the sysfs poll must not be what notices
        "initial": {"present": ["sda"], "absent": ["sdb"]},
        "steps": [
            {"op": "add", "fixture": "usb-reader-sd",
             "expect": {"fields": {"sdb": {"kind": "sd-card", "offered": True}}}},
            {"op": "remove", "fixture": "usb-reader-sd", "expect": {"absent": ["sdb"], "present": ["sda"]}},
            {"op": "add", "fixture": "usb-reader-empty",
             "expect": {"fields": {"sdc": {"kind": "card-reader-empty", "offered": False}}}},
            # a card goes into the reader: the kernel sends "change" with the new size
            {"op": "set", "path": SDC, "attr": "size", "value": "31116288", "event": "change",
             "expect": {"fields": {"sdc": {"kind": "sd-card", "offered": True, "size_bytes": 31116288 * 512}}}},
            {"op": "set", "path": SDC, "attr": "size", "value": "0", "event": "change",
             "expect": {"fields": {"sdc": {"kind": "card-reader-empty", "offered": False}}}},
            # without a uevent (and without polling) nothing is reported: the events above did the work
            {"op": "set", "path": SDC, "attr": "size", "value": "31116288", "timeout": 1.2,
             "expect": {"fields": {"sdc": {"kind": "sd-card"}}}},
        ]})
    steps = res["steps"]
    assert steps[0]["latency"] is not None  # the initial list comes right after start()
    for step in steps[1:-1]:
        assert step["latency"] is not None, step
        assert step["latency"] < 1.0, step
    assert steps[-1]["latency"] is None
    assert res["stopped"]


def test_disk_monitor_sysfs_poll_catches_silent_changes(run_testbed):
    res = run_testbed({
        "fixtures": ["usb-reader-empty"], "proc": IDLE, "action": "watch", "monitor": "disks",
        "poll_interval": 0.3, "initial": {"fields": {"sdc": {"kind": "card-reader-empty"}}},
        "steps": [{"op": "set", "path": SDC, "attr": "size", "value": "31116288",
                   "expect": {"fields": {"sdc": {"kind": "sd-card"}}}}]})
    step = res["steps"][1]
    assert step["latency"] is not None and step["latency"] < 1.0, step


def test_recovery_mode_detected_and_followed(run_testbed):
    found = run_testbed({"fixtures": ["other-usb", "jetson-nano-recovery"], "action": "find_recovery"})["found"]
    assert [(d["vendor"], d["product"], d["module"], d["verified"], d["busnum"], d["devnum"]) for d in found] == [
        ("0955", "7f21", "Jetson Nano", False, 1, 9)]
    assert "unverified" in found[0]["text"] and "0955:7f21" in found[0]["text"]
    # a Jetson running L4T (0955:7020) and a keyboard are not recovery mode
    assert run_testbed({"fixtures": ["other-usb"], "action": "find_recovery"})["found"] == []

    res = run_testbed({
        "fixtures": ["other-usb"], "action": "watch", "monitor": "recovery", "poll_interval": None,
        "initial": {"absent": ["0955:7f21"]},
        "steps": [
            {"op": "add", "fixture": "jetson-nano-recovery",
             "expect": {"fields": {"0955:7f21": {"module": "Jetson Nano", "verified": False}}}},
            {"op": "remove", "fixture": "jetson-nano-recovery", "expect": {"absent": ["0955:7f21"]}},
        ]})
    for step in res["steps"][1:]:
        assert step["latency"] is not None and step["latency"] < 1.0, step


@pytest.mark.root
def test_real_loop_device_attach_and_detach(loops):
    """Real kernel uevents: attaching a loop device makes it appear (it is a disk from then on),
    detaching makes it go, each within a second."""
    from wizard.card.disks import DiskMonitor

    got: queue.Queue = queue.Queue()
    mon = DiskMonitor(lambda disks: got.put((time.monotonic(), {d.path for d in disks})),
                      allow_non_removable=True, poll_interval=None)

    def wait(pred, since, timeout=3.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                t, paths = got.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if t >= since and pred(paths):
                return t - since
        return None

    mon.start()
    try:
        assert wait(lambda paths: True, 0.0) is not None
        t0 = time.monotonic()
        dev = loops.loop(8)
        latency = wait(lambda paths: dev in paths, t0)
        assert latency is not None and latency < 1.0, latency
        t0 = time.monotonic()
        loops.detach(dev)
        latency = wait(lambda paths: dev not in paths, t0)
        assert latency is not None and latency < 1.0, latency
    finally:
        mon.stop()
    assert not mon.running


def test_monitor_can_stop_from_its_callback_and_restart():
    from wizard.card.disks import DiskMonitor

    calls: queue.Queue = queue.Queue()

    def callback(disks):
        calls.put(disks)
        mon.stop()

    mon = DiskMonitor(callback, poll_interval=0.05)
    for _ in range(2):
        mon.start()
        assert isinstance(calls.get(timeout=5), list)
        deadline = time.monotonic() + 5
        while mon.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not mon.running
    time.sleep(0.3)
    assert calls.empty()  # stopped means no further callbacks, even with a fast poll
