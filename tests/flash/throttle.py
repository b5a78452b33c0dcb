"""Cards of different speeds for the fan-out tests and benchmark: a block cgroup that throttles writes to each
loop device (cgroup v1 blkio's throttle.write_bps_device, else cgroup v2 io.max) and counts the bytes each
device served to the processes in it (how much of the image was really read)."""

from __future__ import annotations

import os
import re
from pathlib import Path

V1 = Path("/sys/fs/cgroup/blkio")
V2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def devnum(dev) -> str:
    st = os.stat(dev)
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


class Throttle:
    """One cgroup for the test; `limit(dev, bps)`, `preexec` puts a child in it, `read_bytes(dev)`."""

    def __init__(self, name: str):
        self.path, self.v2 = None, False
        if (V1 / "blkio.throttle.write_bps_device").exists():
            self.path = V1 / name
        else:
            for root in V2_ROOTS:
                ctl = root / "cgroup.subtree_control"
                if ctl.exists() and "io" in (root / "cgroup.controllers").read_text().split():
                    try:
                        if "io" not in ctl.read_text().split():
                            ctl.write_text("+io")
                    except OSError:
                        continue
                    self.path, self.v2 = root / name, True
                    break
        if self.path is None:
            raise RuntimeError("neither cgroup v1 blkio nor cgroup v2 io is available here")
        self.path.mkdir(exist_ok=True)

    def limit(self, dev, bps: int) -> None:
        if self.v2:
            (self.path / "io.max").write_text(f"{devnum(dev)} wbps={bps}")
        else:
            (self.path / "blkio.throttle.write_bps_device").write_text(f"{devnum(dev)} {bps}")

    def count_reads(self, dev) -> None:
        """cgroup v1 keeps per-device byte counts only for devices with a throttle rule: give it one no
        device reaches (v2's io.stat counts every device)."""
        if not self.v2:
            (self.path / "blkio.throttle.read_bps_device").write_text(f"{devnum(dev)} {10**13}")

    def preexec(self) -> None:
        """For subprocess preexec_fn: the child (and its threads) joins the cgroup before it execs."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def read_bytes(self, dev) -> int:
        num = devnum(dev)
        if self.v2:
            for line in (self.path / "io.stat").read_text().splitlines():
                if line.startswith(num + " "):
                    m = re.search(r"rbytes=(\d+)", line)
                    return int(m.group(1)) if m else 0
            return 0
        total = 0
        for line in (self.path / "blkio.throttle.io_service_bytes").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == num and parts[1] == "Read":
                total += int(parts[2])
        return total

    def remove(self) -> None:
        try:
            self.path.rmdir()       # the children have exited: the cgroup is empty
        except OSError:
            pass
