"""Benchmark: this writer against the tools people use instead, in one run, on the same loop device.

    sudo python tests/benchmarks/bench_writer.py          (or: pytest tests/benchmarks/bench_writer.py -s)

Tools: the seed's `dd bs=8k conv=fsync`, `dd bs=4M oflag=direct`, `bmaptool copy` with a .bmap, and this
writer with and without verify. Images: (a) 2 GiB sparse with ~240 MiB of data; (b) a realistic one: a GPT
image whose large ext4 partition was copied in fully allocated by dd (as dosdcard.sh does), holding a few
hundred MiB of files.

Loop devices are as fast as memory, so wall time on them says little about a card. "Card time" counts the
bytes each tool read from and wrote to the device (/sys/block/<dev>/stat) at a typical UHS-I card's
30 MB/s write and 80 MB/s read. Discards are not counted (no data moves). Wall times are printed too.

Goals (issue 6): (a) write <= 1.0x bmaptool and <= 0.05x the seed's dd; write+verify <= 2.0x bmaptool;
(b) write+verify <= 0.3x bmaptool copy, in card time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

MiB = 1 << 20
GiB = 1 << 30
CARD_WRITE = 30e6
CARD_READ = 80e6


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stat(dev: str) -> tuple:
    f = Path(f"/sys/block/{Path(dev).name}/stat").read_text().split()
    return int(f[2]) * 512, int(f[6]) * 512     # sectors read, sectors written


def _fill_card(card: Path, size: int) -> None:
    """An old card: junk everywhere (so skipping anything is only right if it really reads zeros)."""
    junk = bytes([0xA5]) * (4 * MiB)
    with open(card, "r+b") as f:
        for _ in range(size // len(junk)):
            f.write(junk)


def make_sparse_image(path: Path) -> None:
    """(a) 2 GiB, GPT, 12 data regions of 20 MiB (240 MiB) spread out, the rest holes."""
    with open(path, "wb") as f:
        f.truncate(2 * GiB)
    _run("sgdisk", "-o", "-n", "1:2048:0", str(path))
    with open(path, "r+b") as f:
        for i in range(12):
            f.seek(8 * MiB + i * 160 * MiB)
            f.write(os.urandom(20 * MiB))


def make_realistic_image(path: Path, work: Path) -> None:
    """(b) 2 GiB GPT image; its ext4 partition (~2 GiB, ~320 MiB of files) copied in by dd: all allocated."""
    tree = work / "tree"
    for d in range(8):
        sub = tree / "usr" / f"lib{d}"
        sub.mkdir(parents=True)
        for i in range(4):
            (sub / f"big{i}.so").write_bytes(os.urandom(10 * MiB))
        for i in range(200):
            (sub / f"small{i}.conf").write_bytes(os.urandom(1000 + 37 * i))
    ext4 = work / "rootfs.ext4"
    with open(ext4, "wb") as f:
        f.truncate(2 * GiB - 2 * MiB)
    _run("mkfs.ext4", "-q", "-F", "-d", str(tree), str(ext4))
    with open(path, "wb") as f:
        f.truncate(2 * GiB)
    _run("sgdisk", "-o", "-n", "1:2048:0", "-c", "1:APP", str(path))
    _run("dd", f"if={ext4}", f"of={path}", "bs=1M", "seek=1", "conv=notrunc,fsync", "status=none")
    ext4.unlink()
    shutil.rmtree(tree)


def measure(name: str, dev: str, card: Path, card_size: int, fn) -> dict:
    _fill_card(card, card_size)
    _run("blockdev", "--flushbufs", dev)
    r0, w0 = _stat(dev)
    t0 = time.monotonic()
    fn()
    wall = time.monotonic() - t0
    r1, w1 = _stat(dev)
    read, written = r1 - r0, w1 - w0
    return {"name": name, "wall": wall, "read": read, "written": written,
            "card": written / CARD_WRITE + read / CARD_READ}


def run_all(image: Path, bmap: Path, dev: str, card: Path, card_size: int) -> list:
    from wizard.writer import WriteOptions, write_image

    def writer(verify: bool):
        def go():
            write_image(image, dev, options=WriteOptions(verify=verify, allow_non_removable=True))
        return go

    runs = [
        ("seed dd bs=8k conv=fsync", lambda: _run("dd", f"if={image}", f"of={dev}", "bs=8k", "conv=fsync",
                                                  "status=none")),
        ("dd bs=4M oflag=direct", lambda: _run("dd", f"if={image}", f"of={dev}", "bs=4M", "oflag=direct",
                                               "status=none")),
        ("bmaptool copy (.bmap)", lambda: _run("bmaptool", "-q", "copy", "--bmap", str(bmap), str(image), dev)),
        ("this writer, no verify", writer(False)),
        ("this writer + verify", writer(True)),
    ]
    out = []
    for name, fn in runs:
        out.append(measure(name, dev, card, card_size, fn))
        # every tool must have produced the image on the card (bmaptool by design leaves the holes' old
        # contents, so only the others are compared byte for byte)
        if not name.startswith("bmaptool"):
            _run("blockdev", "--flushbufs", dev)
            _run("cmp", "-n", str(image.stat().st_size), str(image), dev)
    return out


def report(title: str, rows: list) -> dict:
    by = {r["name"]: r for r in rows}
    bmap, seed = by["bmaptool copy (.bmap)"], by["seed dd bs=8k conv=fsync"]
    print(f"\n== {title}")
    print(f"{'tool':28} {'wall s':>8} {'written MB':>11} {'read MB':>9} {'card s':>8} {'card/bmap':>10} "
          f"{'wall/bmap':>10} {'wall/seed':>10}")
    for r in rows:
        print(f"{r['name']:28} {r['wall']:8.2f} {r['written'] / 1e6:11.1f} {r['read'] / 1e6:9.1f} "
              f"{r['card']:8.1f} {r['card'] / bmap['card']:10.3f} {r['wall'] / bmap['wall']:10.3f} "
              f"{r['wall'] / seed['wall']:10.3f}")
    return by


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (loop devices)", file=sys.stderr)
        return 2
    for tool in ("bmaptool", "sgdisk", "mkfs.ext4", "losetup", "dd"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            print(f"needs {tool}", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    mnt = work / "ram"
    mnt.mkdir()
    _run("mount", "-t", "tmpfs", "-o", "size=7g", "tmpfs", str(mnt))
    dev = ""
    try:
        card_size = 2 * GiB + 64 * MiB
        card = mnt / "card"
        with open(card, "wb") as f:
            f.truncate(card_size)
        dev = subprocess.run(["losetup", "-f", "--show", str(card)], check=True, capture_output=True,
                             text=True).stdout.strip()
        results = {}
        for key, title, make in (("a", "(a) 2 GiB sparse image, ~240 MiB data", make_sparse_image),
                                 ("b", "(b) GPT + fully allocated ext4 (dd), ~320 MiB of files",
                                  lambda p: make_realistic_image(p, work))):
            img = mnt / f"{key}.img"
            make(img)
            bmap = mnt / f"{key}.bmap"
            _run("bmaptool", "-q", "create", "-o", str(bmap), str(img))
            results[key] = report(title, run_all(img, bmap, dev, card, card_size))
            img.unlink()
            bmap.unlink()
        a, b = results["a"], results["b"]
        goals = [
            ("(a) write <= 1.0x bmaptool (wall)", a["this writer, no verify"]["wall"] / a["bmaptool copy (.bmap)"]["wall"], 1.0),
            ("(a) write <= 1.0x bmaptool (card)", a["this writer, no verify"]["card"] / a["bmaptool copy (.bmap)"]["card"], 1.0),
            ("(a) write <= 0.05x seed dd (wall)", a["this writer, no verify"]["wall"] / a["seed dd bs=8k conv=fsync"]["wall"], 0.05),
            ("(a) write+verify <= 2.0x bmaptool (card)", a["this writer + verify"]["card"] / a["bmaptool copy (.bmap)"]["card"], 2.0),
            ("(a) write+verify <= 2.0x bmaptool (wall)", a["this writer + verify"]["wall"] / a["bmaptool copy (.bmap)"]["wall"], 2.0),
            ("(b) write+verify <= 0.3x bmaptool (card)", b["this writer + verify"]["card"] / b["bmaptool copy (.bmap)"]["card"], 0.3),
        ]
        print("\n== goals")
        ok = True
        for text, ratio, limit in goals:
            met = ratio <= limit
            ok &= met
            print(f"{text:44} {ratio:7.3f}  {'met' if met else 'NOT MET'}")
        extra = a["this writer, no verify"]["card"] / a["seed dd bs=8k conv=fsync"]["card"]
        print(f"(info) (a) write vs seed dd in card time: {extra:.3f}x")
        return 0 if ok else 1
    finally:
        if dev:
            subprocess.run(["losetup", "-d", dev], check=False)
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_bench_writer():
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    assert main() == 0


if __name__ == "__main__":
    sys.exit(main())
