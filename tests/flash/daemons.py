"""The real desktop stack for one test session: the system D-Bus, systemd-udevd, polkitd and udisksd.

Why real daemons: the udisks2 path is only proven when udisksd opens the device and polkit decides, the way a
desktop does. They start here as root (tests/run.sh installs dbus, udisks2, polkitd and pkexec) and are
stopped by pid at the end. Nothing is started when a system bus already runs (a real desktop or CI host
with systemd): then that stack is used as it is and left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from wrnvtest import stop_process

SOCKET = Path("/run/dbus/system_bus_socket")
UDEVD = "/lib/systemd/systemd-udevd"
POLKITD = "/usr/lib/polkit-1/polkitd"
UDISKSD = "/usr/libexec/udisks2/udisksd"
RULES = Path("/etc/polkit-1/rules.d")


def missing() -> str:
    for path in ("/usr/bin/dbus-daemon", UDEVD, POLKITD, UDISKSD, "/usr/bin/udevadm"):
        if not Path(path).exists():
            return path
    return ""


class Stack:
    def __init__(self) -> None:
        self.procs: list = []       # (name, Popen) we started, stopped in reverse order
        self.pids: list = []        # forked daemons (dbus-daemon --fork, udevd --daemon)
        self.made_socket = False
        self.made_udev_db = False   # udevd's database changes how disks are probed: removed again at stop

    def start(self) -> None:
        if not SOCKET.exists():
            Path("/run/dbus").mkdir(parents=True, exist_ok=True)
            _drop_stale_pidfile()
            if not Path("/etc/machine-id").exists() and not Path("/var/lib/dbus/machine-id").exists():
                subprocess.run(["dbus-uuidgen", "--ensure"], check=True)
            out = subprocess.run(["dbus-daemon", "--system", "--fork", "--print-pid"], check=True,
                                 capture_output=True, text=True).stdout
            self.pids.append(int(out.split()[0]))
            self.made_socket = True
            _wait(SOCKET.exists, "the system bus")
        if subprocess.run(["pgrep", "-x", "systemd-udevd"], capture_output=True).returncode != 0:
            before = set(_pids("systemd-udevd"))
            self.made_udev_db = not Path("/run/udev").exists()
            subprocess.run([UDEVD, "--daemon"], check=True, capture_output=True)
            self.pids += [p for p in _pids("systemd-udevd") if p not in before]
            subprocess.run(["udevadm", "trigger", "--subsystem-match=block"], check=False)
            subprocess.run(["udevadm", "settle", "-t", "30"], check=False)
        if not _has_name("org.freedesktop.PolicyKit1"):
            self.procs.append(("polkitd", subprocess.Popen([POLKITD, "--no-debug"], stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.DEVNULL)))
            _wait(lambda: _has_name("org.freedesktop.PolicyKit1"), "polkitd")
        if not _has_name("org.freedesktop.UDisks2"):
            self.procs.append(("udisksd", subprocess.Popen([UDISKSD], stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.DEVNULL)))
            _wait(lambda: _has_name("org.freedesktop.UDisks2"), "udisksd")

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            stop_process(proc, timeout=10)
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.1)
        if self.made_socket:
            SOCKET.unlink(missing_ok=True)
            _drop_stale_pidfile()
        if self.made_udev_db:
            shutil.rmtree("/run/udev", ignore_errors=True)


def _drop_stale_pidfile() -> None:
    """dbus-daemon refuses to start while /run/dbus/pid names a bus that is gone."""
    pidfile = Path("/run/dbus/pid")
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not Path(f"/proc/{pid}").exists():
        pidfile.unlink(missing_ok=True)


def _pids(name: str) -> list:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _has_name(name: str) -> bool:
    if not shutil.which("busctl"):
        return False
    r = subprocess.run(["busctl", "--system", "status", name], capture_output=True, timeout=10)
    return r.returncode == 0


def _wait(cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def allow_rule(name: str, user: str, device: str, result: str = "YES") -> Path:
    """A polkit rule (JavaScript, polkit >= 0.106) that lets `user` open exactly `device` through udisks2
    (`result` AUTH_SELF: after typing their own password in a polkit agent)."""
    path = RULES / f"49-wrnv-test-{name}.rules"
    path.write_text(
        "polkit.addRule(function(action, subject) {\n"
        '    if ((action.id == "org.freedesktop.udisks2.open-device" ||\n'
        '         action.id == "org.freedesktop.udisks2.open-device-system") &&\n'
        f'        subject.user == "{user}" && action.lookup("device") == "{device}")\n'
        f"        return polkit.Result.{result};\n"
        "});\n")
    time.sleep(1.5)     # polkitd reloads rules on inotify
    return path
