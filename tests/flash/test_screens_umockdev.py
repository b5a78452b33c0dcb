"""The insert session's hotplug with the event from umockdev: the Write the card step runs under
`umockdev-wrapper` (umock_insert_child.py) with the sysfs poll off, so the card appears only through the "add"
uevent umockdev sends for a loop device's recorded sysfs entry; it is asked for with its host name (n=1).

The bytes cannot go to the loop device from that process: under umockdev's preload every block-device ioctl
on a real device fails with ENOTTY (checked: BLKGETSIZE64, BLKSSZGET, BLKFLSBUF, BLKDISCARD, even with an empty
testbed), and the writer needs them. So here the card is left untouched (and must be), and the writing of
inserted cards is tested with real loop devices and real uevents in test_screens_many.py and
test_screens_options.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cardimage import make_card_image
from flashkit import MiB, fill

from wizard.core.steps import Status

HERE = Path(__file__).resolve().parent


def _record(dev: str) -> str:
    """The loop device's sysfs entry as umockdev-record writes it, without its node (N:) line, so that
    /dev/loopN stays the real device under the testbed."""
    text = subprocess.run(["umockdev-record", dev], check=True, capture_output=True, text=True).stdout
    return "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith("N: "))


def test_inserted_card_from_a_umockdev_event_is_asked_for(session, project, tmp_path, loops):
    if shutil.which("umockdev-wrapper") is None or shutil.which("umockdev-record") is None:
        pytest.skip("needs umockdev (umockdev-wrapper, umockdev-record)")
    img = make_card_image(tmp_path / "jetson.sdcard", tmp_path)
    session.mark("image", Status.DONE, "made", path=str(img))
    dev = loops.attach(fill(tmp_path / "card", 16 * MiB))
    job = {"project": str(project), "dev": dev, "pattern": "desk-{n:02}", "record": _record(dev), "key": "n"}
    proc = subprocess.run(["umockdev-wrapper", sys.executable, str(HERE / "umock_insert_child.py")],
                          input=json.dumps(job), capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (proc.returncode, proc.stderr[-3000:])
    out = json.loads(lines[-1])
    assert out["in_testbed"] and "fatal" not in out, out
    assert dev not in out["before"]                 # not there before the event
    assert out["asked_after"] is not None and out["asked_after"] < 5, out
    assert out["becomes"] == "It becomes: host name desk-01", out
    name = dev.rsplit("/", 1)[-1]
    assert out["line"] == f"{name}: left untouched (not confirmed)", out
    assert "0 card(s) written and verified, 0 failed" in out["result"], out
    with open(dev, "rb") as f:
        assert f.read(MiB) == b"\xa5" * MiB
