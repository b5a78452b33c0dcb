#!/usr/bin/env python3
"""GPU probe: is a CUDA GPU usable from here? Prints one JSON object on stdout.

wrnv-wizard pipes this file into `docker run --rm -i --runtime nvidia <image> python3 -` on the board, so it
must run in whatever Python the container has: standard library only, Python 3 or 2.7, one file.
It talks to the CUDA driver API (libcuda) through ctypes instead of TensorFlow or nvidia-smi, because
nvidia-smi does not exist on Jetson and a framework would hide which link of the chain is broken.

Exit codes: 0 the GPU works (a context was created and memory allocated and freed); 1 the driver loaded but
a call failed (the JSON names the call and the CUDA error); 2 no CUDA driver could be loaded; 3 the probe
itself failed unexpectedly (still JSON, never a traceback).
"""

# ruff: noqa: UP010, UP031  (Python 2.7 must run this file too: print_function and %-formatting stay)
from __future__ import print_function

import ctypes
import json
import sys

# Where libcuda lives: the loader's search path first, then Yocto's /usr/lib (meta-tegra's tegra-libraries)
# and Ubuntu L4T's tegra folder, which a container only sees when the CSV mounts put it there.
LIBCUDA_CANDIDATES = (
    "libcuda.so.1",
    "libcuda.so",
    "/usr/lib/libcuda.so.1",
    "/usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1",
    "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
    "/usr/lib64/libcuda.so.1",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
)

# Small on purpose: enough to prove the memory path works, harmless on a 4 GB Nano.
ALLOC_BYTES = 1 << 20

CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
CU_DEVICE_ATTRIBUTE_INTEGRATED = 18


class CudaCallError(Exception):
    def __init__(self, call, code, name):
        Exception.__init__(self, "%s failed: %s (%d)" % (call, name, code))
        self.call, self.code, self.name = call, code, name


def load_libcuda():
    """The first libcuda that loads, and the reasons the others did not (shown when none does)."""
    reasons = []
    for name in LIBCUDA_CANDIDATES:
        try:
            return ctypes.CDLL(name), name, reasons
        except OSError as e:
            reasons.append(str(e) if name in str(e) else "%s: %s" % (name, e))
    return None, None, reasons


def _symbol(lib, *names):
    """Newer drivers export `_v2` entry points for 64-bit sizes; the plain names are the old 32-bit ABI."""
    for n in names:
        fn = getattr(lib, n, None)
        if fn is not None:
            return fn, n
    raise CudaCallError(names[0], -1, "symbol not found in libcuda")


def _error_name(lib, code):
    fn = getattr(lib, "cuGetErrorName", None)
    if fn is None:
        return "CUDA error"
    out = ctypes.c_char_p()
    fn.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    if fn(code, ctypes.byref(out)) == 0 and out.value:
        return out.value.decode("ascii", "replace")
    return "CUDA error"


def _check(lib, call, code):
    if code != 0:
        raise CudaCallError(call, code, _error_name(lib, code))


def probe_device(lib, index):
    dev = ctypes.c_int()
    _check(lib, "cuDeviceGet", lib.cuDeviceGet(ctypes.byref(dev), index))
    buf = ctypes.create_string_buffer(256)
    _check(lib, "cuDeviceGetName", lib.cuDeviceGetName(buf, len(buf), dev))
    total_mem, total_name = _symbol(lib, "cuDeviceTotalMem_v2", "cuDeviceTotalMem")
    size = ctypes.c_size_t()
    _check(lib, total_name, total_mem(ctypes.byref(size), dev))
    info = {"index": index, "name": buf.value.decode("utf-8", "replace"), "total_memory_bytes": size.value,
            "total_memory_mib": size.value // (1 << 20)}
    attrs = {}
    for key, attr in (("major", CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                      ("minor", CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
                      ("integrated", CU_DEVICE_ATTRIBUTE_INTEGRATED)):
        value = ctypes.c_int()
        if lib.cuDeviceGetAttribute(ctypes.byref(value), attr, dev) == 0:
            attrs[key] = value.value
    if "major" in attrs and "minor" in attrs:
        info["compute_capability"] = "%d.%d" % (attrs["major"], attrs["minor"])
    if "integrated" in attrs:
        info["integrated"] = bool(attrs["integrated"])

    # A context and a real allocation: a device can be listed yet unusable (wrong mounts, no /dev/nvhost-*).
    ctx_create, ctx_name = _symbol(lib, "cuCtxCreate_v2", "cuCtxCreate")
    ctx_destroy, destroy_name = _symbol(lib, "cuCtxDestroy_v2", "cuCtxDestroy")
    mem_alloc, alloc_name = _symbol(lib, "cuMemAlloc_v2", "cuMemAlloc")
    mem_free, free_name = _symbol(lib, "cuMemFree_v2", "cuMemFree")
    ctx = ctypes.c_void_p()
    _check(lib, ctx_name, ctx_create(ctypes.byref(ctx), 0, dev))
    try:
        ptr = ctypes.c_uint64() if alloc_name.endswith("_v2") else ctypes.c_uint32()
        mem_alloc.argtypes = [ctypes.POINTER(type(ptr)), ctypes.c_size_t]
        _check(lib, alloc_name, mem_alloc(ctypes.byref(ptr), ALLOC_BYTES))
        mem_free.argtypes = [type(ptr)]
        _check(lib, free_name, mem_free(ptr))
        info["alloc_test_bytes"] = ALLOC_BYTES
    finally:
        ctx_destroy.argtypes = [ctypes.c_void_p]
        ctx_destroy(ctx)
    return info


def run():
    lib, name, reasons = load_libcuda()
    if lib is None:
        return 2, {"ok": False, "error": "no CUDA driver",
                   "detail": "libcuda could not be loaded (" + "; ".join(reasons[:3]) + ")",
                   "python": sys.version.split()[0]}
    out = {"ok": False, "library": name, "python": sys.version.split()[0]}
    try:
        _check(lib, "cuInit", lib.cuInit(0))
        version = ctypes.c_int()
        if lib.cuDriverGetVersion(ctypes.byref(version)) == 0:
            out["driver_version"] = "%d.%d" % (version.value // 1000, (version.value % 1000) // 10)
        count = ctypes.c_int()
        _check(lib, "cuDeviceGetCount", lib.cuDeviceGetCount(ctypes.byref(count)))
        out["count"] = count.value
        out["devices"] = [probe_device(lib, i) for i in range(count.value)]
    except CudaCallError as e:
        out.update(error=str(e), call=e.call, cuda_error=e.name, cuda_code=e.code)
        return 1, out
    if count.value == 0:
        out["error"] = "the CUDA driver sees no GPU"
        return 1, out
    out["ok"] = True
    return 0, out


def main():
    try:
        code, out = run()
    except Exception as e:  # the caller parses JSON; a traceback would hide the answer
        code, out = 3, {"ok": False, "error": "probe failed: %s: %s" % (type(e).__name__, e)}
    print(json.dumps(out, sort_keys=True))
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
