"""Fixtures for the disk-discovery tests: umockdev testbeds (in a child process) and real loop devices.

Every loop device, mount and swap area a test creates is undone at teardown, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from umock import library_path  # noqa: E402


def _umockdev_missing() -> str:
    if shutil.which("umockdev-wrapper") is None:
        return "umockdev-wrapper not installed (Debian package umockdev)"
    if library_path() is None:
        return "libumockdev not installed (Debian package libumockdev0)"
    return ""


@pytest.fixture(scope="session")
def run_testbed():
    """run_testbed(job) -> dict: runs _child.py under umockdev-wrapper with the job on stdin."""
    why = _umockdev_missing()
    if why:
        pytest.skip(why)

    def run(job: dict, timeout: float = 60) -> dict:
        proc = subprocess.run(["umockdev-wrapper", sys.executable, str(HERE / "_child.py")],
                              input=json.dumps(job), capture_output=True, text=True, timeout=timeout,
                              cwd=REPO)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        assert proc.returncode == 0 and lines, f"testbed child failed (rc {proc.returncode}): {proc.stderr[-3000:]}"
        out = json.loads(lines[-1])
        assert "fatal" not in out, out
        return out

    return run


class LoopKit:
    """Creates loop devices over sparse files, file systems, mounts and swap; undoes all of it."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._undo: list = []
        self._n = 0

    def _run(self, *argv, **kw) -> str:
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout.strip()

    def loop(self, size_mb: int = 32, readonly: bool = False, partitioned: bool = False) -> str:
        self._n += 1
        backing = self.tmp / f"disk{self._n}.img"
        with open(backing, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        if partitioned:
            self._run("sgdisk", "-q", "-n", "1:2048:0", "-c", "1:wrnvtest", str(backing))
        argv = ["losetup", "--find", "--show"] + (["--read-only"] if readonly else []) + (
            ["--partscan"] if partitioned else []) + [str(backing)]
        dev = self._run(*argv)
        self._undo.append(("losetup", "-d", dev))
        if partitioned:
            for _ in range(10):  # the kernel's partition scan; udev may create the node a moment later
                if os.path.exists(dev + "p1"):
                    break
                time.sleep(0.02)
            else:
                # a kernel built without GPT support: tell it about the partition directly (BLKPG)
                sectors = size_mb * 2048
                self._run("addpart", dev, "1", "2048", str(sectors - 2048 - 34))
            for _ in range(100):
                if os.path.exists(dev + "p1"):
                    break
                time.sleep(0.02)
        return dev

    def detach(self, dev: str) -> None:
        self._run("losetup", "-d", dev)
        self._undo.remove(("losetup", "-d", dev))

    def mkfs_mount(self, dev: str, label: str = "wrnvtest") -> Path:
        self._run("mkfs.ext4", "-q", "-F", "-L", label, dev)
        where = self.tmp / f"mnt{self._n}"
        where.mkdir(exist_ok=True)
        self._run("mount", dev, str(where))
        self._undo.append(("umount", str(where)))
        return where

    def swap(self, dev: str) -> None:
        self._run("mkswap", "-q", dev) if _mkswap_has_quiet() else self._run("mkswap", dev)
        self._run("swapon", dev)
        self._undo.append(("swapoff", dev))

    def cleanup(self) -> None:
        errors = []
        for argv in reversed(self._undo):
            p = subprocess.run(argv, capture_output=True, text=True)
            if p.returncode != 0:
                errors.append(f"{' '.join(argv)}: {p.stderr.strip()}")
        self._undo.clear()
        assert not errors, "cleanup failed: " + "; ".join(errors)


def _mkswap_has_quiet() -> bool:
    return "--quiet" in subprocess.run(["mkswap", "--help"], capture_output=True, text=True).stdout


@pytest.fixture
def loops(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("real loop devices need root")
    for tool in ("losetup", "mkfs.ext4", "mount", "mkswap", "swapon", "sgdisk", "addpart"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop device support here (/dev/loop-control missing)")
    kit = LoopKit(tmp_path)
    try:
        yield kit
    finally:
        kit.cleanup()
