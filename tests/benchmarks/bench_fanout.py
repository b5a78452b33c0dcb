"""Benchmark: several cards at once from one read of the image, against the slowest card written alone.

    sudo python tests/benchmarks/bench_fanout.py          (or: pytest tests/benchmarks/bench_fanout.py -s)

Three loop devices stand for three cards of different speeds: a block cgroup throttles writes to them at 20,
30 and 40 MB/s (cgroup v1 blkio's throttle.write_bps_device, else v2 io.max). The image (a GPT image with
160 MiB of random data) lives on an ext4 file system of its own loop device, remounted before each run so its
pages are not cached: the cgroup's count of bytes read from that device is how much of the image was read.

Goals (issue 16): writing all three at once (`wrnv-wizard flash IMG --target A --target B --target C`) takes
<= 1.15x the wall time of the slowest card written alone (`flash IMG --target C`), and reads the image once.
Also printed: the three written one after another (what a desk does without the fan-out). Best of two runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "flash"))
MiB = 1 << 20
DATA = 160 * MiB
SPEEDS = (20, 30, 40)     # MB/s


def _run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw)


def _flash(targets, image, throttle, counted: list | None = None, extra: tuple = ()) -> float:
    args = [sys.executable, "-m", "wizard.cli", "flash", str(image), "--yes", "--allow-non-removable", *extra]
    for t in targets:
        args += ["--target", t]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.monotonic()
    p = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       preexec_fn=throttle.preexec, timeout=600)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"flash failed: {p.stdout}{p.stderr}")
    m = re.search(r"the image was read once \(([\d,]+) bytes\)", p.stdout)
    if counted is not None and m:
        counted.append(int(m.group(1).replace(",", "")))     # the fan-out's own count of image bytes read
    return wall


def main() -> dict:
    from flashkit import make_image
    from throttle import Throttle

    if os.geteuid() != 0:
        raise SystemExit("run as root (loop devices, cgroups)")
    work = Path(tempfile.mkdtemp(prefix="wrnv-bench-fanout-"))
    devs, mnt = [], work / "store"
    throttle = Throttle(f"wrnv-bench-fanout-{os.getpid()}")
    try:
        store = work / "store.fs"
        _run("truncate", "-s", f"{DATA // MiB + 96}M", store)
        _run("mkfs.ext4", "-q", "-F", store)
        store_dev = _run("losetup", "-f", "--show", store).stdout.strip()
        devs.append(store_dev)
        mnt.mkdir()
        _run("mount", store_dev, mnt)
        image = mnt / "card.img"
        make_image(image, DATA + 16 * MiB, [(1 * MiB, DATA)], seed=11)
        throttle.count_reads(store_dev)
        cards = []
        for mbps in SPEEDS:
            f = work / f"card{mbps}"
            _run("truncate", "-s", f"{DATA // MiB + 64}M", f)
            dev = _run("losetup", "-f", "--show", f).stdout.strip()
            devs.append(dev)
            throttle.limit(dev, mbps * 10**6)
            cards.append(dev)

        def fresh() -> int:
            _run("umount", mnt)         # the image's pages leave the cache: every read below is real
            _run("mount", store_dev, mnt)
            return throttle.read_bytes(store_dev)

        slowest = cards[0]
        res = {"alone": [], "at_once": [], "one_by_one": [], "read_at_once": [], "read_alone": []}
        for _ in range(2):
            before = fresh()
            res["alone"].append(_flash([slowest], image, throttle))
            res["read_alone"].append(throttle.read_bytes(store_dev) - before)
            before = fresh()
            res["at_once"].append(_flash(cards, image, throttle, res.setdefault("own_count", [])))
            res["read_at_once"].append(throttle.read_bytes(store_dev) - before)
        fresh()
        t0 = time.monotonic()
        for c in cards:
            _flash([c], image, throttle)
        res["one_by_one"].append(time.monotonic() - t0)

        alone, at_once = min(res["alone"]), min(res["at_once"])
        read = max(res["read_at_once"])
        image_size = image.stat().st_size
        print(f"\nimage: {image_size / MiB:.0f} MiB, {DATA / MiB:.0f} MiB of data; cards throttled at "
              f"{', '.join(map(str, SPEEDS))} MB/s (writes)")
        print(f"slowest card alone ({SPEEDS[0]} MB/s):  {alone:6.1f} s   image read {max(res['read_alone']) / MiB:.0f} MiB")
        print(f"all three at once:              {at_once:6.1f} s   image read {read / MiB:.0f} MiB "
              f"({read / DATA:.2f}x its data)")
        print(f"the three one after another:    {res['one_by_one'][0]:6.1f} s")
        own = max(res.get("own_count") or [0])
        print(f"image bytes the fan-out itself read for three cards: {own / MiB:.0f} MiB (page cache or not)")
        ratio = at_once / alone
        print(f"at once / slowest alone: {ratio:.2f}x (goal <= 1.15x); image read {read / DATA:.2f}x its data "
              "(goal: once)")
        res["customise"] = _customise_cost(work, cards, throttle)
        return {"ratio": ratio, "read_ratio": read / DATA, **res}
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        for d in devs:
            subprocess.run(["losetup", "-d", d], capture_output=True)
        throttle.remove()
        subprocess.run(["rm", "-rf", str(work)], capture_output=True)


def _customise_cost(work: Path, cards: list, throttle) -> float:
    """The same three cards with a Jetson-like card image (GPT, ext4 APP with 40 MB of files, 4 KiB blocks),
    written plain and with `--hostname jetson-{n:02} --ssh-key`: what giving each card its own name and key
    costs on top of writing it (planned on the image, a few blocks per card through the same descriptor)."""
    from cardimage import make_card_image

    def extra(root: Path) -> None:
        lib = root / "usr" / "lib"
        lib.mkdir(parents=True)
        for i in range(400):
            (lib / f"lib{i}.so.1").write_bytes(os.urandom(100_000))
    image = make_card_image(work / "jetson.img", work, app_sectors=131072 * 2, mkfs_args=("-b", "4096"),
                            extra=extra)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", work / "id")
    opts = ("--hostname", "jetson-{n:02}", "--ssh-key", str(work / "id.pub"))
    plain = min(_flash(cards, image, throttle) for _ in range(2))
    named = min(_flash(cards, image, throttle, extra=opts) for _ in range(2))
    print(f"Jetson-like image ({image.stat().st_size / MiB:.0f} MiB, 40 MB of files) to the three cards: "
          f"{plain:.1f} s; with a host name and key for each: {named:.1f} s (+{named - plain:.1f} s)")
    return named / plain


def test_fanout_benchmark():
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        from throttle import Throttle

        Throttle(f"wrnv-probe-{os.getpid()}").remove()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"needs a block cgroup: {e}")
    r = main()
    assert r["ratio"] <= 1.15
    assert r["read_ratio"] < 1.1


if __name__ == "__main__":
    main()
