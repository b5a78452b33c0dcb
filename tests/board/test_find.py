"""Board candidates without scanning: a real neighbour table (in a private network namespace), the mDNS
name, and a USB serial adapter seen through pyudev (umockdev)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from wizard.board.find import candidates, mdns_candidate, neighbour_candidates, parse_neighbours
from wizard.core.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile():
    return load_profile()


def test_mdns_name_is_the_machine(profile):
    c = mdns_candidate(profile, "jetson-nano-qspi-sd")
    assert c.address == "jetson-nano-qspi-sd.local" and "nss-mdns" in c.note


def test_parse_neighbours_filters_nvidia_and_failed(profile):
    text = ('[{"dst":"10.0.0.5","dev":"eth0","lladdr":"00:04:4B:aa:bb:cc","state":["REACHABLE"]},'
            '{"dst":"10.0.0.6","dev":"eth0","lladdr":"48:b0:2d:00:00:01","state":["FAILED"]},'
            '{"dst":"10.0.0.7","dev":"eth0","lladdr":"02:00:00:00:00:01","state":["STALE"]},'
            '{"dst":"fd00::1","dev":"eth0","state":["FAILED"]}]')
    found = parse_neighbours(text, profile.board["mac_prefixes"])
    assert [c.address for c in found] == ["10.0.0.5"]
    assert "00:04:4b:aa:bb:cc" in found[0].title and "reachable" in found[0].title
    assert parse_neighbours("not json", ["00:04:4b"]) == []


@pytest.fixture
def netns():
    """A private network namespace with a veth and two permanent neighbour entries: nothing is sent."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"wrnvtest-{uuid.uuid4().hex[:8]}"
    ip = ["ip", "-n", name]
    try:
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run([*ip, "link", "add", "v0", "type", "veth", "peer", "name", "v1"], check=True)
        subprocess.run([*ip, "link", "set", "v0", "up"], check=True)
        subprocess.run([*ip, "neigh", "add", "192.0.2.77", "lladdr", "00:04:4b:12:34:56", "dev", "v0",
                        "nud", "permanent"], check=True)
        subprocess.run([*ip, "neigh", "add", "192.0.2.78", "lladdr", "02:00:00:00:00:01", "dev", "v0",
                        "nud", "permanent"], check=True)
    except subprocess.CalledProcessError as e:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        pytest.skip(f"network namespaces are not available here ({e})")
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


def test_real_neighbour_table(profile, netns):
    found = neighbour_candidates(profile, argv=["ip", "-n", netns, "-j", "neigh"])
    assert [c.address for c in found] == ["192.0.2.77"]
    everything = candidates(profile, "jetson-nano-qspi-sd", neigh_argv=["ip", "-n", netns, "-j", "neigh"])
    assert [c.kind for c in everything][:2] == ["neighbour", "mdns"]


UMOCKDEV_TTY = """P: /devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0
N: ttyUSB0
E: DEVNAME=/dev/ttyUSB0
E: SUBSYSTEM=tty
E: ID_BUS=usb
E: ID_VENDOR_ID=0403
E: ID_MODEL_ID=6001
E: ID_MODEL=FT232R_USB_UART

P: /devices/virtual/tty/ttyS9
N: ttyS9
E: DEVNAME=/dev/ttyS9
E: SUBSYSTEM=tty
"""


def test_usb_serial_adapter_via_umockdev(tmp_path):
    if shutil.which("umockdev-run") is None:
        pytest.skip("umockdev-run is not installed (apt install umockdev)")
    dev = tmp_path / "tty.umockdev"
    dev.write_text(UMOCKDEV_TTY)
    code = ("from wizard.core.profile import load_profile\nfrom wizard.board.find import serial_candidates\n"
            "for c in serial_candidates(load_profile()): print(c.title, '|', c.note)")
    r = subprocess.run(["umockdev-run", "-d", str(dev), "--", sys.executable, "-c", code], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1  # the built-in ttyS9 is not a USB adapter
    assert lines[0].startswith("/dev/ttyUSB0: FT232R USB UART (0403:6001)")
    assert "115200 8N1" in lines[0] and "ip -4 addr" in lines[0]
