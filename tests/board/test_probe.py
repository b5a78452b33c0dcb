"""The GPU probe, run for real: no driver here (clean JSON, exit 2), and against the stand-in libcuda."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "assets" / "probe" / "gpu_probe.py"


def _run(argv, env=None, stdin=None):
    full = dict(os.environ)
    full.pop("LD_LIBRARY_PATH", None)
    full.update(env or {})
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=full, timeout=60)


def _has_real_driver() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


@pytest.mark.skipif(_has_real_driver(), reason="this host has a CUDA driver: the no-driver path cannot be shown")
@pytest.mark.parametrize("via_stdin", [False, True])
def test_no_driver_is_clean_json_exit_2(via_stdin):
    if via_stdin:  # the way docker gets it: `python3 -` with the file on stdin
        r = _run([sys.executable, "-"], stdin=PROBE.read_text())
    else:
        r = _run([sys.executable, str(PROBE)])
    assert r.returncode == 2, r
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["error"] == "no CUDA driver"
    assert "libcuda.so.1" in doc["detail"]


def _python27():
    for cand in ("/root/.pyenv/versions/2.7.18/bin/python2.7", "/usr/bin/python2.7"):
        if os.path.exists(cand):
            return cand
    return None


@pytest.mark.skipif(_python27() is None, reason="no python2.7 on this host")
def test_runs_on_python27_too():
    r = _run([_python27(), str(PROBE)])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r
    assert json.loads(r.stdout)["python"].startswith("2.7")


def test_standin_driver_reports_device(libcuda_standin):
    r = _run([sys.executable, str(PROBE)], env={"LD_LIBRARY_PATH": str(libcuda_standin.parent)})
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["count"] == 1 and doc["driver_version"] == "10.0"
    dev = doc["devices"][0]
    assert dev["name"] == "NVIDIA Tegra X1 (stand-in)"
    assert dev["total_memory_mib"] == 3964 and dev["compute_capability"] == "5.3"
    assert dev["alloc_test_bytes"] == 1 << 20 and dev["integrated"] is True


def test_driver_error_names_the_call(libcuda_standin):
    r = _run([sys.executable, str(PROBE)],
             env={"LD_LIBRARY_PATH": str(libcuda_standin.parent), "STANDIN_CUDA_FAIL": "100"})
    assert r.returncode == 1, r
    doc = json.loads(r.stdout)
    assert doc["call"] == "cuInit" and doc["cuda_error"] == "CUDA_ERROR_NO_DEVICE" and doc["cuda_code"] == 100
    assert "Traceback" not in r.stderr
