"""The demo's stand-in for the Jetson's CUDA driver (libcuda), for the GPU probe inside `docker run`.

The demo sandbox's stand-in `docker` puts this folder on PYTHONPATH only for `--runtime nvidia`, as the
NVIDIA runtime mounts libcuda only then. Python imports sitecustomize at start-up; this one makes
`ctypes.CDLL("libcuda.so.1")` (or "libcuda.so") return an object with the driver API entry points the real
probe (assets/probe/gpu_probe.py) calls, answering with a Jetson Nano's figures. Everything else loads as
usual, so the probe itself runs unchanged: outputs go through the pointers and buffers it passes, exactly
as the C driver would write them.

Set WRNV_DEMO_CUDA_FAIL=<CUresult> to make cuInit fail with that code (e.g. 100, no device).
"""

from __future__ import annotations

import ctypes
import os

NAME = b"NVIDIA Tegra X1 (wrnv demo stand-in)"
TOTAL_MEM = 4156911616          # what a 4 GB Nano's driver reports (about 3.9 GiB)
DRIVER_VERSION = 10000          # CUDA 10.0, JetPack 4.3
ATTRIBUTES = {75: 5, 76: 3, 18: 1}   # compute capability major, minor; integrated
ERRORS = {0: b"CUDA_SUCCESS", 1: b"CUDA_ERROR_INVALID_VALUE", 3: b"CUDA_ERROR_NOT_INITIALIZED",
          100: b"CUDA_ERROR_NO_DEVICE", 101: b"CUDA_ERROR_INVALID_DEVICE", 999: b"CUDA_ERROR_UNKNOWN"}
LIBRARY_NAMES = ("libcuda.so.1", "libcuda.so")


def _out(ref):
    """The ctypes object behind a byref() the caller passed (or the object itself)."""
    return getattr(ref, "_obj", ref)


def _int(value) -> int:
    return int(getattr(value, "value", value) or 0)


class _Entry:
    """One driver entry point: callable, and takes argtypes/restype like a ctypes function does."""

    def __init__(self, fn):
        self._fn = fn
        self.argtypes = None
        self.restype = ctypes.c_int

    def __call__(self, *args):
        return self._fn(*args)


class StandinLibcuda:
    """A Jetson Nano's libcuda as the probe sees it: one integrated GPU, 4 GB shared memory."""

    def __init__(self, name: str):
        self._name = name
        self._initialized = False
        self._next_ptr = 0x1000000
        self._live: set = set()
        self._error_names: dict = {}   # keep the bytes alive while the caller holds char pointers to them
        for attr in dir(self):
            if attr.startswith("cu"):
                setattr(self, attr, _Entry(getattr(self, attr)))

    def __repr__(self) -> str:
        return f"<wrnv demo stand-in libcuda {self._name!r}>"

    def cuInit(self, flags):
        fail = int(os.environ.get("WRNV_DEMO_CUDA_FAIL") or 0)
        if fail:
            return fail
        self._initialized = True
        return 0

    def cuDriverGetVersion(self, ref):
        _out(ref).value = DRIVER_VERSION
        return 0

    def _ready(self, dev=None) -> int:
        if not self._initialized:
            return 3
        if dev is not None and _int(dev) != 0:
            return 101
        return 0

    def cuDeviceGetCount(self, ref):
        rc = self._ready()
        if rc == 0:
            _out(ref).value = 1
        return rc

    def cuDeviceGet(self, ref, index):
        rc = self._ready(index)
        if rc == 0:
            _out(ref).value = 0
        return rc

    def cuDeviceGetName(self, buf, length, dev):
        rc = self._ready(dev)
        if rc == 0:
            n = max(0, _int(length) - 1)
            _out(buf).value = NAME[:n]
        return rc

    def cuDeviceTotalMem_v2(self, ref, dev):
        rc = self._ready(dev)
        if rc == 0:
            _out(ref).value = TOTAL_MEM
        return rc

    def cuDeviceGetAttribute(self, ref, attr, dev):
        rc = self._ready(dev)
        if rc:
            return rc
        if _int(attr) not in ATTRIBUTES:
            return 1
        _out(ref).value = ATTRIBUTES[_int(attr)]
        return 0

    def cuCtxCreate_v2(self, ref, flags, dev):
        rc = self._ready(dev)
        if rc == 0:
            _out(ref).value = 0xC0DE
        return rc

    def cuCtxDestroy_v2(self, ctx):
        return 0 if _int(ctx) == 0xC0DE else 1

    def cuMemAlloc_v2(self, ref, size):
        if not self._initialized:
            return 3
        if _int(size) <= 0 or _int(size) > TOTAL_MEM:
            return 2   # CUDA_ERROR_OUT_OF_MEMORY
        ptr = self._next_ptr
        self._next_ptr += (_int(size) + 0xFFF) & ~0xFFF
        self._live.add(ptr)
        _out(ref).value = ptr
        return 0

    def cuMemFree_v2(self, ptr):
        p = _int(ptr)
        if p not in self._live:
            return 1
        self._live.discard(p)
        return 0

    def cuGetErrorName(self, code, ref):
        name = ERRORS.get(_int(code))
        if name is None:
            return 1
        self._error_names[_int(code)] = name
        _out(ref).value = name
        return 0


_real_cdll = ctypes.CDLL


class _CDLL(_real_cdll):
    """ctypes.CDLL, except that libcuda resolves to the stand-in (the demo board has no real GPU)."""

    def __new__(cls, name, *args, **kwargs):
        if name and os.path.basename(str(name)) in LIBRARY_NAMES:
            return StandinLibcuda(str(name))
        return super().__new__(cls)


ctypes.CDLL = _CDLL
