"""`wrnv-wizard disks`: on this very host, on umockdev hardware, and with bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from umock import mountinfo, swaps

REPO = Path(__file__).resolve().parents[2]
FIELDS = {"path", "offered", "reasons", "size_bytes", "model", "bus"}


def cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard.cli", *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=60)


def test_json_on_this_host_refuses_with_reasons():
    p = cli("disks", "--json")
    assert p.returncode == 0, p.stderr
    listed = json.loads(p.stdout)["disks"]
    assert listed, "this host has at least its own system disk"
    for d in listed:
        assert FIELDS <= set(d), d
        assert d["offered"] == (not d["reasons"]), d
    root = [d for d in listed if any(r.startswith("holds the running system: / ") for r in d["reasons"])]
    assert all(not d["offered"] for d in root)


def test_human_table_on_this_host():
    plain, full = cli("disks"), cli("disks", "--all")
    assert plain.returncode == 0 and full.returncode == 0
    listed = json.loads(cli("disks", "--json").stdout)["disks"]
    refused = [d for d in listed if not d["offered"]]
    if refused:
        assert "--all shows" in plain.stdout and "Not offered:" in full.stdout
        for d in refused:
            assert d["path"] in full.stdout and f"      - {d['reasons'][0]}" in full.stdout
            assert d["path"] not in plain.stdout


def test_missing_image_is_one_line_error():
    p = cli("disks", "--image", "/nonexistent/nano.sdcard")
    assert p.returncode == 1
    assert p.stderr == ("wrnv-wizard: error: image not found: /nonexistent/nano.sdcard; "
                        "give the path of the .sdcard image file\n")
    assert p.stdout == ""


def test_cli_over_umockdev_hardware(run_testbed):
    fixtures = ["usb-reader-sd", "usb-reader-empty", "sdhci-sd", "nvme-lvm", "sd-readonly"]
    proc = {"self/mountinfo": mountinfo(("253:0", "/", "/dev/mapper/vg-root")), "swaps": swaps()}
    out = run_testbed({"fixtures": fixtures, "proc": proc, "action": "cli", "argv": ["disks", "--json"]})
    assert out["rc"] == 0
    listed = {d["path"]: d for d in json.loads(out["stdout"])["disks"]}
    assert {p for p, d in listed.items() if d["offered"]} == {"/dev/sdb", "/dev/mmcblk0"}
    assert listed["/dev/sdc"]["reasons"] == ["no card in the reader"]
    assert listed["/dev/nvme0n1"]["reasons"] == [
        "holds the running system: / is mounted from dm-0 (vg-root) on nvme0n1p3", "internal NVMe disk"]

    table = run_testbed({"fixtures": fixtures, "proc": proc, "action": "cli", "argv": ["disks"]})["stdout"]
    lines = table.splitlines()
    assert lines[0] == "Disks that can receive the image:"
    assert any(ln.split()[:1] == ["/dev/sdb"] and "SD card (usb)" in ln and "serial 20120501030900000" in ln
               for ln in lines)
    assert "      partitions: sdb1 268.4 MB vfat 'boot'; sdb2 31.6 GB ext4 'rootfs'" in lines
    assert lines[-1] == "(4 other disks not offered; --all shows them and why)"
    full = run_testbed({"fixtures": fixtures, "proc": proc, "action": "cli", "argv": ["disks", "--all"]})["stdout"]
    assert "      - read-only (write-protect switch on, or read-only medium)" in full.splitlines()


@pytest.mark.root
def test_cli_allow_non_removable_offers_a_loop(loops):
    dev = loops.loop(16)
    listed = {d["path"]: d for d in json.loads(cli("disks", "--json").stdout)["disks"]}
    assert not listed[dev]["offered"]
    p = cli("disks", "--json", "--allow-non-removable")
    listed = {d["path"]: d for d in json.loads(p.stdout)["disks"]}
    assert listed[dev]["offered"] and listed[dev]["bus"] == "virtual"
