"""A umockdev testbed driven through ctypes (libumockdev.so.0), for the disk and USB tests.

Why ctypes and not the GI bindings: the GI typelib (gir1.2-umockdev-1.0) and python3-gi only work with
Debian's own Python, while the code under test runs in the project's virtualenv. The library itself is
installed with the `umockdev` package. Why in-process: only the process that owns the testbed can
synthesise uevents (the sender resolves the device through the preloaded /sys), so the test program runs
under `umockdev-wrapper` and owns the testbed; see _child.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class _GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


def library_path():
    return ctypes.util.find_library("umockdev")


class Testbed:
    def __init__(self):
        name = library_path() or "libumockdev.so.0"
        lib = ctypes.CDLL(name)
        gobject = ctypes.CDLL(ctypes.util.find_library("gobject-2.0") or "libgobject-2.0.so.0")
        lib.umockdev_testbed_new.restype = ctypes.c_void_p
        lib.umockdev_testbed_get_root_dir.restype = ctypes.c_char_p
        lib.umockdev_testbed_get_root_dir.argtypes = [ctypes.c_void_p]
        lib.umockdev_testbed_add_from_string.restype = ctypes.c_int
        lib.umockdev_testbed_add_from_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                         ctypes.POINTER(ctypes.POINTER(_GError))]
        lib.umockdev_testbed_uevent.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.umockdev_testbed_remove_device.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.umockdev_testbed_set_attribute.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                                       ctypes.c_char_p]
        gobject.g_object_unref.argtypes = [ctypes.c_void_p]
        self._lib, self._gobject = lib, gobject
        self._tb = lib.umockdev_testbed_new()
        self.root = Path(lib.umockdev_testbed_get_root_dir(self._tb).decode())

    def add_string(self, text: str) -> None:
        err = ctypes.POINTER(_GError)()
        ok = self._lib.umockdev_testbed_add_from_string(self._tb, text.encode(), ctypes.byref(err))
        if not ok:
            msg = err.contents.message.decode() if err else "unknown error"
            raise RuntimeError(f"umockdev rejected the device description: {msg}")

    def add_fixture(self, name: str) -> list:
        """Loads fixtures/<name>.umockdev (sending 'add' uevents); returns its sysfs paths."""
        text = (FIXTURES / f"{name}.umockdev").read_text()
        self.add_string(text)
        return fixture_paths(name)

    def uevent(self, syspath: str, action: str) -> None:
        self._lib.umockdev_testbed_uevent(self._tb, syspath.encode(), action.encode())

    def set_attribute(self, syspath: str, name: str, value: str) -> None:
        self._lib.umockdev_testbed_set_attribute(self._tb, syspath.encode(), name.encode(), value.encode())

    def remove_fixture(self, name: str) -> None:
        """Unplugs what a fixture added: 'remove' uevents deepest first (as the kernel sends them), then
        the sysfs directories."""
        paths = fixture_paths(name)
        for p in sorted(paths, key=lambda p: p.count("/"), reverse=True):
            self.uevent(p, "remove")
        tops = [p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)]
        for p in tops:
            self._lib.umockdev_testbed_remove_device(self._tb, p.encode())

    def write_proc(self, relpath: str, text: str) -> None:
        """Replaces /proc/<relpath> for processes under the testbed (umockdev diverts /proc lookups to
        files that exist in the testbed)."""
        path = self.root / "proc" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def close(self) -> None:
        if self._tb:
            self._gobject.g_object_unref(self._tb)
            self._tb = None


def fixture_paths(name: str) -> list:
    out = []
    for line in (FIXTURES / f"{name}.umockdev").read_text().splitlines():
        if line.startswith("P: "):
            out.append("/sys" + line[3:].strip())
    return out


def in_testbed() -> bool:
    return "umockdev-preload" in os.environ.get("LD_PRELOAD", "")


def mountinfo(*entries) -> str:
    """A /proc/self/mountinfo with (major:minor, mountpoint, source) entries, plus the usual pseudo
    filesystems (which never name a disk)."""
    lines = ["22 1 0:21 / /proc rw,relatime - proc proc rw", "23 1 0:22 / /sys rw,relatime - sysfs sysfs rw"]
    for i, (devnum, mountpoint, source) in enumerate(entries):
        lines.append(f"{30 + i} 1 {devnum} / {mountpoint} rw,relatime - ext4 {source} rw")
    return "\n".join(lines) + "\n"


def swaps(*devices) -> str:
    head = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    return head + "".join(f"{d}                               partition\t8386556\t\t0\t\t-2\n" for d in devices)
