"""Helpers for the flash tests: real loop devices, tmpfs mounts, disk images, running the CLI.

Everything a test attaches or mounts is detached/unmounted at teardown, even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mounts)")
    for tool in ("losetup", "sgdisk", "mkfs.ext4"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists() and not Path("/sbin", tool).exists():
            pytest.skip(f"needs {tool}")
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop device support here")


class Loops:
    def __init__(self):
        self.devs: list = []
        self.mounts: list = []
        self.tainted: list = []

    def attach(self, path, readonly: bool = False, partscan: bool = False, dev: str = "") -> str:
        argv = ["losetup", "--show"]
        argv += ["-r"] if readonly else []
        argv += ["-P"] if partscan else []
        argv += [dev] if dev else ["-f"]
        out = subprocess.run(argv + [str(path)], check=True, capture_output=True, text=True).stdout.strip()
        out = out or dev
        if out not in self.devs:
            self.devs.append(out)
        return out

    def detach(self, dev: str) -> None:
        subprocess.run(["losetup", "-d", dev], check=False, capture_output=True)

    def mount(self, what, where, *opts: str) -> None:
        Path(where).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *opts, str(what), str(where)], check=True, capture_output=True)
        self.mounts.append(str(where))

    def no_discard(self, dev: str) -> None:
        """Make `dev` a card without discard. The kernel keeps this limit for the device's lifetime and
        refuses to raise it again, so cleanup removes and re-creates the loop device."""
        Path(f"/sys/block/{Path(dev).name}/queue/discard_max_bytes").write_text("0")
        self.tainted.append(dev)

    def cleanup(self) -> None:
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], check=False, capture_output=True)
        for d in self.devs:
            self.detach(d)
        for d in self.tainted:
            _recreate_loop(int(Path(d).name[len("loop"):]))


def _recreate_loop(n: int) -> None:
    import fcntl

    LOOP_CTL_ADD, LOOP_CTL_REMOVE = 0x4C80, 0x4C81
    fd = os.open("/dev/loop-control", os.O_RDWR)
    try:
        for _ in range(50):           # the detach above may still be settling
            try:
                fcntl.ioctl(fd, LOOP_CTL_REMOVE, n)
                break
            except OSError:
                import time

                time.sleep(0.1)
        try:
            fcntl.ioctl(fd, LOOP_CTL_ADD, n)
        except OSError:
            pass
    finally:
        os.close(fd)


def make_image(path, size: int, data: list, seed: int = 1) -> Path:
    """A sparse GPT disk image of `size` bytes with random data at each (offset, length) of `data`."""
    import random

    path = Path(path)
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:0", str(path)], check=True, capture_output=True)
    rnd = random.Random(seed)
    block = rnd.randbytes(MiB)
    with open(path, "r+b") as f:
        for off, length in data:
            f.seek(off)
            if length <= 4 * MiB:
                f.write(rnd.randbytes(length))
                continue
            for i in range(0, length, MiB):     # big regions: one random MiB, stamped with its offset
                piece = (off + i).to_bytes(8, "little") + block[8:]
                f.write(piece[:min(MiB, length - i)])
    return path


def fill(path, size: int, byte: int = 0xA5) -> Path:
    """A non-sparse file of `size` bytes of one non-zero value (an old card's leftovers)."""
    block = bytes([byte]) * MiB
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    return Path(path)


def run_cli(*args, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "wizard.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def assert_clean_failure(proc: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """A fault: non-zero exit, one `error:` line, no traceback, the card's state said."""
    err = proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    lines = [ln for ln in err.splitlines() if ln.startswith("wrnv-wizard: error:")]
    assert len(lines) == 1, err
    line = lines[0]
    for w in words:
        assert w.lower() in line.lower(), (w, line)
    return line
