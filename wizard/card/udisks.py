"""Opening a disk the way GNOME Disks and Raspberry Pi Imager do: ask udisks2 over the system D-Bus, with
polkit deciding, and get back a file descriptor. No code of ours runs as root on this path.

Why jeepney: pure Python (no compiled extension, no GLib main loop), a blocking API that suits the writer's
plain threads, and it passes file descriptors (UNIX_FD, `enable_fds=True`), which is the whole point here.

The password, when polkit wants one, is asked by a polkit agent: the desktop's, or `pkttyagent` in the
terminal (started here for this process only, while the TUI is suspended).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

BUS_NAME = "org.freedesktop.UDisks2"
BLOCK = "org.freedesktop.UDisks2.Block"
ROOT = "/org/freedesktop/UDisks2"
TIMEOUT = 300.0          # a call may wait for the user to type a password in the polkit agent
HOLD_S = 120.0           # how long a descriptor opened at the password prompt waits for the write to take it


class UDisksError(Exception):
    """udisks2 answered with an error (`name` is the D-Bus error name)."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text
        super().__init__(f"{name}: {text}")

    @property
    def not_authorized(self) -> bool:
        return "NotAuthorized" in self.name or "AccessDenied" in self.name


def _connect():
    from jeepney.io.blocking import open_dbus_connection

    return open_dbus_connection(bus="SYSTEM", enable_fds=True)


def _call(conn, path: str, interface: str, method: str, signature: str = "", body: tuple = (),
          bus_name: str = BUS_NAME, timeout: Optional[float] = 10.0):
    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

    msg = new_method_call(DBusAddress(path, bus_name=bus_name, interface=interface), method, signature, body)
    reply = conn.send_and_get_reply(msg, timeout=timeout)
    if reply.header.message_type == MessageType.error:
        name = reply.header.fields.get(HeaderFields.error_name, "error")
        raise UDisksError(name, str(reply.body[0]) if reply.body else "")
    return reply.body


def available() -> bool:
    """Whether the system bus is there and udisks2 answers on it (or can be started by the bus).
    WRNV_NO_UDISKS=1 turns this path off (then the helper is used)."""
    if os.environ.get("WRNV_NO_UDISKS"):
        return False
    try:
        conn = _connect()
    except Exception:  # noqa: BLE001 - no system bus (a container, a bare build host): not available
        return False
    try:
        if _call(conn, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s", (BUS_NAME,),
                 bus_name="org.freedesktop.DBus")[0]:
            return True
        # Started on demand by the bus (through systemd): only where systemd runs.
        names = _call(conn, "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListActivatableNames",
                      bus_name="org.freedesktop.DBus")[0]
        return BUS_NAME in names and os.path.isdir("/run/systemd/system")
    except Exception:  # noqa: BLE001 - a bus that does not answer is as good as none
        return False
    finally:
        conn.close()


def block_object(conn, real: str) -> str:
    """udisks2's object for the block device at `real`, matched by device number (never by name alone)."""
    rdev = os.stat(real).st_rdev
    paths = _call(conn, f"{ROOT}/Manager", "org.freedesktop.UDisks2.Manager", "GetBlockDevices", "a{sv}",
                  ({},))[0]
    guess = f"{ROOT}/block_devices/{Path(real).name}"
    for path in sorted(paths, key=lambda p: p != guess):
        sig, num = _call(conn, path, "org.freedesktop.DBus.Properties", "Get", "ss", (BLOCK, "DeviceNumber"))[0]
        if num == rdev:
            return path
    raise UDisksError("NotFound", f"udisks2 does not know {real}")


@contextmanager
def text_agent() -> Iterator[None]:
    """A polkit agent in this terminal for this process (pkttyagent), while a call may need a password.
    Nothing happens where there is no terminal or no pkttyagent (the desktop's agent, or a rule, decides)."""
    agent = shutil.which("pkttyagent")
    if not agent or not (sys.stdin.isatty() and sys.stderr.isatty()):
        yield
        return
    r, w = os.pipe()
    # PID,START_TIME: the exact process polkit will see behind our bus name (a pid alone may be reused).
    # No --fallback: polkitd uses a fallback agent only after it found a session for the caller
    # (get_authentication_agent_for_subject returns early when there is none), so without systemd-logind
    # (containers, hosts booted without it, this project's test stack) a fallback agent is never asked and
    # polkit answers "not authorized" at once (seen with polkitd 122 and G_MESSAGES_DEBUG=all). Registered
    # plainly it is found for our process alone: the prompt is in this terminal, as sudo's is, even where a
    # desktop agent also runs.
    proc = subprocess.Popen([agent, "--process", _process_id(), "--notify-fd", str(w)], pass_fds=(w,))
    os.close(w)
    try:
        os.read(r, 1)           # EOF: the agent is registered (or gave up)
    finally:
        os.close(r)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _process_id() -> str:
    try:
        stat = Path("/proc/self/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]      # field 22, counted after the command name
        return f"{os.getpid()},{start}"
    except (OSError, IndexError):
        return str(os.getpid())


# Descriptors opened while the user was at the password prompt, kept for the write that follows: a polkit
# rule may answer AUTH_SELF / AUTH_ADMIN (one call, no "keep"), and then a second OpenDevice would ask the
# password again - in the TUI from a worker thread, where no terminal agent can run, so it would fail.
# st_rdev -> (fd, direct, write, timer); a timer closes a descriptor nobody took (the user went back).
_held: dict = {}
_held_lock = threading.Lock()


def hold(real: str, fd: int, direct: bool, write: bool) -> None:
    """Keep `fd` (from open_device for `real`) for the next open_device of the same device, for HOLD_S."""
    rdev = os.fstat(fd).st_rdev
    timer = threading.Timer(HOLD_S, _drop, (rdev, fd))
    timer.daemon = True
    with _held_lock:
        old = _held.pop(rdev, None)
        _held[rdev] = (fd, direct, write, timer)
    if old is not None:
        old[3].cancel()
        os.close(old[0])
    timer.start()


def _drop(rdev: int, fd: int) -> None:
    with _held_lock:
        entry = _held.get(rdev)
        if entry is None or entry[0] != fd:
            return
        del _held[rdev]
    os.close(fd)


def _take(real: str, write: bool) -> Optional[tuple]:
    try:
        rdev = os.stat(real).st_rdev
    except OSError:
        return None
    with _held_lock:
        entry = _held.get(rdev)
        if entry is None or (write and not entry[2]):
            return None
        del _held[rdev]
    entry[3].cancel()
    return entry[0], entry[1]


def open_device(real: str, write: bool, interactive: bool = True) -> tuple:
    """(fd, direct): the block device at `real` opened by udisks2 (exclusively and O_DIRECT where it can,
    for writing), or the descriptor hold() kept for it. Raises UDisksError."""
    held = _take(real, write)
    if held is not None:        # udisks2 opened it for this very device number; the caller checks it again
        return held
    conn = _connect()
    try:
        obj = block_object(conn, real)
        base = os.O_EXCL if write else 0
        last: Optional[UDisksError] = None
        for direct in (True, False):
            flags = base | (os.O_DIRECT if direct else 0)
            opts = {"flags": ("i", flags), "auth.no_user_interaction": ("b", not interactive)}
            try:
                fd = _call(conn, obj, BLOCK, "OpenDevice", "sa{sv}", ("rw" if write else "r", opts),
                           timeout=TIMEOUT)[0]
            except UDisksError as e:
                if "UnknownMethod" in e.name:       # udisks2 < 2.7.3: only the restore/backup calls
                    method = "OpenForRestore" if write else "OpenForBackup"
                    fd = _call(conn, obj, BLOCK, method, "a{sv}", ({"auth.no_user_interaction":
                                                                     ("b", not interactive)},), timeout=TIMEOUT)[0]
                    return fd.to_raw_fd(), False
                if e.not_authorized:
                    raise
                last = e
                continue
            return fd.to_raw_fd(), direct
        assert last is not None
        raise last
    finally:
        conn.close()
