"""Where is the board? Candidates from what this host already knows; nothing is scanned.

Three sources, all passive:
- the mDNS name the image announces (avahi is in wrlinux-image-std; the host name is the MACHINE), offered as
  a name only: resolving it is left to ssh, so listing candidates sends no packet;
- the host's neighbour table (`ip -j neigh`), filtered by NVIDIA's MAC prefixes from the profile: a board that
  talked to this host recently (DHCP, mDNS, a ping) is listed with its address;
- USB-serial adapters (pyudev): the Nano's debug UART at the profile's baud rate, where the board prints its
  address after `ip -4 addr` (the tutorial's image has no USB device-mode network).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

from wizard.core.profile import Profile


@dataclass(frozen=True)
class Candidate:
    kind: str            # "mdns", "neighbour" or "serial"
    address: str         # what to give ssh; empty for a serial port
    title: str           # one line for a list
    note: str = ""       # how to use it / why it may not work


def mdns_candidate(profile: Profile, machine: str) -> Candidate:
    name = profile.board.get("mdns_name", "{machine}.local").format(machine=machine)
    return Candidate("mdns", name, f"{name} (the name the image announces over mDNS)",
                     "works when avahi runs on the board and this host resolves .local names "
                     "(nss-mdns: sudo apt install libnss-mdns)")


def parse_neighbours(text: str, prefixes) -> list:
    """Entries of `ip -j neigh` whose MAC starts with one of `prefixes` (NVIDIA's OUIs)."""
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return []
    wanted = tuple(p.lower() for p in prefixes)
    out, seen = [], set()
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            continue
        mac = str(e.get("lladdr", "")).lower()
        dst = str(e.get("dst", ""))
        states = e.get("state") or []
        if not mac or not dst or not mac.startswith(wanted) or "FAILED" in states or dst in seen:
            continue
        seen.add(dst)
        state = ", ".join(s.lower() for s in states) or "unknown"
        out.append(Candidate("neighbour", dst, f"{dst} on {e.get('dev', '?')} (NVIDIA MAC {mac}, {state})",
                             "seen in this host's neighbour table: an NVIDIA network interface"))
    return out


def neighbour_candidates(profile: Profile, argv: list | None = None) -> list:
    """Read the neighbour table (argv is for tests: `ip -n NETNS -j neigh`)."""
    argv = argv or ["ip", "-j", "neigh"]
    if shutil.which(argv[0]) is None:
        return []
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if r.returncode != 0:
        return []
    return parse_neighbours(r.stdout, profile.board.get("mac_prefixes", []))


def _serial_candidate(device, baud: int) -> Candidate | None:
    node = device.device_node
    props = device.properties
    if not node or props.get("ID_BUS") != "usb":
        return None
    model = (props.get("ID_MODEL_FROM_DATABASE") or props.get("ID_MODEL") or "USB serial adapter").replace("_", " ")
    vid, pid = props.get("ID_VENDOR_ID", "?"), props.get("ID_MODEL_ID", "?")
    return Candidate("serial", "", f"{node}: {model} ({vid}:{pid})",
                     f"open it at {baud} 8N1 (`picocom -b {baud} {node}` or `screen {node} {baud}`), "
                     "press Enter, log in as root and run `ip -4 addr`: the address on eth0 is the board's")


def serial_candidates(profile: Profile, context=None) -> list:
    """USB serial adapters present now (ttyUSB*/ttyACM* on the USB bus)."""
    import pyudev

    baud = int(profile.board.get("serial_baud", 115200))
    ctx = context or pyudev.Context()
    out = []
    for dev in ctx.list_devices(subsystem="tty"):
        c = _serial_candidate(dev, baud)
        if c is not None:
            out.append(c)
    return sorted(out, key=lambda c: c.title)


def watch_serial(profile: Profile, on_added: Callable[[Candidate], None], context=None):
    """Call `on_added` when a USB serial adapter is plugged in. Returns the started observer (call .stop())."""
    import pyudev

    baud = int(profile.board.get("serial_baud", 115200))
    ctx = context or pyudev.Context()
    monitor = pyudev.Monitor.from_netlink(ctx)
    monitor.filter_by("tty")

    def handle(device):
        if device.action == "add":
            c = _serial_candidate(device, baud)
            if c is not None:
                on_added(c)

    observer = pyudev.MonitorObserver(monitor, callback=handle)
    observer.daemon = True
    observer.start()
    return observer


def candidates(profile: Profile, machine: str, neigh_argv: list | None = None, mdns: bool = True) -> list:
    """Every candidate, most useful first: neighbours with addresses, the mDNS name, serial consoles.
    `mdns=False` when the cards were given their own host names: the image's default name is then nobody's."""
    out = neighbour_candidates(profile, neigh_argv)
    if mdns:
        out.append(mdns_candidate(profile, machine))
    try:
        out += serial_candidates(profile)
    except Exception:  # no udev (containers): serial adapters are a convenience only
        pass
    return out
