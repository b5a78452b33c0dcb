"""Several cards at once from one read of the image (`flash --target A --target B ...`), on real loop devices
of different write speeds (a block cgroup throttles each), one of them failing mid-write."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from cardimage import debugfs, fsck_clean, make_card_image
from flashkit import MiB, assert_clean_failure, make_image, run_cli
from test_udisks import user  # noqa: F401 - the fixture: a temporary unprivileged user

from wizard.card import fanout
from wizard.card.writer import WriteOptions, check_image


@pytest.fixture
def throttle(root):
    from throttle import Throttle

    try:
        t = Throttle(f"wrnv-fanout-test-{time.monotonic_ns()}")
    except (RuntimeError, OSError) as e:
        pytest.skip(f"cards of different speeds need a block cgroup: {e}")
    try:
        yield t
    finally:
        t.remove()


def same_bytes(dev, image: Path) -> bool:
    size = image.stat().st_size
    with open(dev, "rb") as d, open(image, "rb") as i:
        while True:
            a = i.read(4 * MiB)
            if not a:
                return True
            if d.read(len(a)) != a:
                return False
            size -= len(a)


def test_three_speeds_one_failing_card_and_one_read_of_the_image(tmp_path, loops, throttle):
    # The image lives on its own ext4 loop device, freshly mounted: every byte the writer reads from it is a
    # read of that device, counted by the cgroup (an independent count of "the image was read once").
    store = tmp_path / "store.fs"
    subprocess.run(["truncate", "-s", "96M", str(store)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(store)], check=True)
    store_dev = loops.attach(store)
    mnt = tmp_path / "store"
    make_image(tmp_path / "made.img", 40 * MiB, [(1 * MiB, 30 * MiB)], seed=7)
    loops.mount(store_dev, mnt)
    image = mnt / "card.img"
    subprocess.run(["cp", "--sparse=always", str(tmp_path / "made.img"), str(image)], check=True)
    subprocess.run(["umount", str(mnt)], check=True)        # drop the image's pages: the next read is real
    loops.mount(store_dev, mnt)
    throttle.count_reads(store_dev)

    speeds = {}                                             # device -> bytes per second
    cards = []
    for i, mbps in enumerate((4, 8, 16)):
        f = tmp_path / f"card{i}"
        subprocess.run(["truncate", "-s", "64M", str(f)], check=True)
        dev = loops.attach(f)
        throttle.limit(dev, mbps * 10**6)
        speeds[dev] = mbps
        cards.append(dev)
    small = tmp_path / "small"                              # the card that fails: 12 MiB of room for 30
    loops.mount("tmpfs", small, "-t", "tmpfs", "-o", "size=12m")
    subprocess.run(["truncate", "-s", "64M", str(small / "card")], check=True)
    bad = loops.attach(small / "card")
    throttle.limit(bad, 16 * 10**6)
    order = [cards[0], bad, cards[1], cards[2]]

    report = tmp_path / "report.json"
    args = ["flash", image, "--yes", "--allow-non-removable", "--report", report]
    for dev in order:
        args += ["--target", dev]
    t0 = time.monotonic()
    proc = run_cli(*args, timeout=240, preexec_fn=throttle.preexec)
    wall = time.monotonic() - t0
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in out + err

    # One read of the image for four cards (readahead may add a little, never a second pass).
    image_read = throttle.read_bytes(store_dev)
    assert 30 * MiB <= image_read < 36 * MiB, image_read
    m = re.search(r"the image was read once \(([\d,]+) bytes\)", out)
    assert m and 30 * MiB <= int(m.group(1).replace(",", "")) <= 40 * MiB, out

    # The failing card fails alone, with the reason; the others are written, verified and hold the image.
    bad_name = Path(bad).name
    assert re.search(rf"^{bad_name}: FAILED: .*(I/O error|pulled out)", out, re.M), out
    for dev in cards:
        assert re.search(rf"^{Path(dev).name}: wrote .* verified", out, re.M), out
        assert same_bytes(dev, tmp_path / "made.img")
    assert "3 of 4 cards written and verified" in out

    # Each card its own progress (rate), and finishing order follows the speeds, the failing card first.
    for dev in order:
        assert re.search(rf"^{Path(dev).name}: Writing: .* MB/s", err, re.M), err
    finished = [ln.split(":")[0] for ln in err.splitlines() if re.match(r"^loop\d+: (written and|FAILED)", ln)]
    assert finished == [bad_name] + [Path(d).name for d in reversed(cards)], err
    # The slowest card (30 MB at 4 MB/s) sets the pace; at once, the session is not the sum of the cards.
    assert wall < 7.5 + 3.75 + 1.9 + 30, wall

    data = json.loads(report.read_text())
    by_dev = {c["device"]: c for c in data["cards"]}
    assert [c["device"] for c in data["cards"]] == order
    assert by_dev[bad]["error"] and not by_dev[bad]["verified"]
    for dev in cards:
        c = by_dev[dev]
        assert c["verified"] and c["error"] is None and c["bytes_written"] >= 30 * MiB, c
    assert data["totals"]["ok"] == 3 and data["totals"]["failed"] == 1


def test_each_card_its_own_host_name_and_key(tmp_path, loops):
    image = make_card_image(tmp_path / "card.img", tmp_path)
    key = tmp_path / "id.pub"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "desk@lab", "-f", str(tmp_path / "id")],
                   check=True)
    devs = []
    for i in range(3):
        f = tmp_path / f"c{i}"
        subprocess.run(["truncate", "-s", "32M", str(f)], check=True)
        devs.append(loops.attach(f))
    report = tmp_path / "r.json"
    args = ["flash", image, "--yes", "--allow-non-removable", "--hostname", "jetson-{n:02}", "--ssh-key", key,
            "--no-empty-password-ssh", "--report", report]
    for d in devs:
        args += ["--target", d]
    proc = run_cli(*args, timeout=180)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    pub = key.read_text().strip()
    for n, dev in enumerate(devs, 1):
        assert debugfs(dev, "cat /etc/hostname").strip() == f"jetson-{n:02}"
        assert f"127.0.1.1\tjetson-{n:02}" in debugfs(dev, "cat /etc/hosts") or \
            re.search(rf"^127\.0\.1\.1\s+jetson-{n:02}\b", debugfs(dev, "cat /etc/hosts"), re.M)
        assert pub in debugfs(dev, "cat /root/.ssh/authorized_keys")
        sshd = debugfs(dev, "cat /etc/ssh/sshd_config")
        assert re.search(r"^PermitEmptyPasswords no$", sshd, re.M) and "PermitEmptyPasswords yes" not in sshd
        assert fsck_clean(dev)
    data = json.loads(report.read_text())
    assert [c["hostname"] for c in data["cards"]] == ["jetson-01", "jetson-02", "jetson-03"]
    assert all(c["verified"] and "debugfs" in c["verified_how"] and "read back from the card" in c["verified_how"]
               for c in data["cards"])


def test_bad_options_and_repeated_cards_write_nothing(tmp_path, loops):
    image = make_image(tmp_path / "img", 8 * MiB, [(1 * MiB, 2 * MiB)])
    devs = []
    for i in range(2):
        f = tmp_path / f"c{i}"
        f.write_bytes(b"\xa5" * (16 * MiB))
        devs.append(loops.attach(f))
    before = [Path(tmp_path / f"c{i}").read_bytes() for i in range(2)]
    # The same card twice (once through a symlink): a usage error before anything is opened.
    link = tmp_path / "again"
    link.symlink_to(devs[0])
    proc = run_cli("flash", image, "--yes", "--allow-non-removable", "--target", devs[0], "--target", link)
    assert_clean_failure(proc, "same card", code=2)
    # A host name without a number for two cards: both would be the same board.
    proc = run_cli("flash", image, "--yes", "--allow-non-removable", "--hostname", "jetson", "--target", devs[0],
                   "--target", devs[1])
    assert_clean_failure(proc, code=2)
    # No terminal and no --yes: the typed confirmation cannot happen.
    proc = run_cli("flash", image, "--allow-non-removable", "--target", devs[0], "--target", devs[1])
    assert_clean_failure(proc, "nothing was written")
    assert [Path(tmp_path / f"c{i}").read_bytes() for i in range(2)] == before


def test_engine_reads_each_unit_once_and_a_full_file_fails_alone(tmp_path, loops):
    """In-process, on files: every unit of the image is read once for three cards, and a card whose file
    system is full fails alone."""
    image = make_image(tmp_path / "img", 48 * MiB, [(1 * MiB, 40 * MiB)], seed=3)
    info = check_image(image)
    small = tmp_path / "small"
    loops.mount("tmpfs", small, "-t", "tmpfs", "-o", "size=8m")
    targets = [tmp_path / "a.img", small / "b.img", tmp_path / "c.img"]
    jobs = [fanout.CardJob(target=str(t), name=t.name, identity=None, route="in-process",
                           options=WriteOptions()) for t in targets]
    seen: list = []
    outcomes, shared = fanout.write_cards(info, jobs, progress_for=lambda i: None,
                                          on_done=lambda i, out: seen.append(i))
    assert outcomes[0].ok and outcomes[2].ok, [o.error for o in outcomes]
    assert not outcomes[1].ok and "no space left" in outcomes[1].error
    assert set(shared.reads.values()) == {1}
    assert 40 * MiB <= shared.bytes_read == len(shared.reads) * fanout.UNIT <= 48 * MiB
    assert sorted(seen) == [0, 1, 2] and seen[0] == 1
    for t in (targets[0], targets[2]):
        assert t.read_bytes()[:48 * MiB] == Path(image).read_bytes()
    recs = [fanout.record(o) for o in outcomes]
    assert recs[1].error and not recs[1].verified and recs[0].verified


def test_cards_wait_for_a_slower_one_but_not_for_a_stalled_one(tmp_path):
    """With a window of 2 units: a slow card (0.1 s per 4 MiB; the progress callback runs in its writer thread)
    is waited for, so every unit is read once; a card that stops for longer than `stall` is let go: the others
    finish first and only it reads again what it lost."""
    image = make_image(tmp_path / "img", 40 * MiB, [(1 * MiB, 36 * MiB)], seed=4)
    info = check_image(image)

    def run(pause, stall):
        targets = [tmp_path / f"{n}.img" for n in ("slow", "fast1", "fast2")]
        for t in targets:
            t.unlink(missing_ok=True)
        jobs = [fanout.CardJob(target=str(t), name=t.name, identity=None, route="in-process",
                               options=WriteOptions()) for t in targets]
        slept = []

        def progress_for(i):
            # From the card's first progress call on: progress is sent at most every 0.1 s, so on a fast
            # machine the only calls may be at 0 and near the end; a pause keyed to "after 8 MiB" came too late.
            def slow(p):
                if i == 0 and p.label.startswith("Writing") and p.done < 40 * MiB:
                    time.sleep(pause if not slept else 0.1)
                    slept.append(p.done)
            return slow

        seen: list = []
        outcomes, shared = fanout.write_cards(info, jobs, progress_for=progress_for, window=2, stall=stall,
                                              on_done=lambda i, out: seen.append(i))
        assert all(o.ok for o in outcomes), [o.error for o in outcomes]
        for t in targets:
            assert t.read_bytes()[:40 * MiB] == Path(image).read_bytes()
        return seen, shared

    seen, shared = run(pause=0.1, stall=30)
    assert set(shared.reads.values()) == {1} and not shared.let_go
    seen, shared = run(pause=3.0, stall=0.5)
    assert shared.let_go == {0} and seen[-1] == 0, seen
    assert max(shared.reads.values()) == 2


def test_a_card_changed_after_the_write_fails_its_digest_verify(tmp_path):
    """The verify compares the card with digests of the one read: a flipped byte is caught."""
    image = make_image(tmp_path / "img", 16 * MiB, [(1 * MiB, 12 * MiB)], seed=5)
    info = check_image(image)
    target = tmp_path / "t.img"
    flipped = []

    def flip_before_verify(i):
        def show(p):
            if p.label.startswith("Writing") and p.done == p.total and not flipped:
                with open(target, "r+b") as f:
                    f.seek(5 * MiB + 17)
                    b = f.read(1)
                    f.seek(5 * MiB + 17)
                    f.write(bytes([b[0] ^ 0xFF]))
                    f.flush()
                flipped.append(True)
        return show

    # The write's last report comes after the last block is written and before the verify starts.
    job = fanout.CardJob(target=str(target), name="t.img", identity=None, route="in-process",
                         options=WriteOptions())
    outcomes, _ = fanout.write_cards(info, [job], progress_for=flip_before_verify)
    assert flipped and not outcomes[0].ok, outcomes[0].error
    assert "verify failed" in outcomes[0].error and str(4 * MiB) in outcomes[0].error


def _slow_cards(tmp_path, loops, throttle, n: int) -> list:
    """n 32 MiB cards written at 2 MB/s: a 20 MB image takes ten seconds, so a stop lands mid-write."""
    devs = []
    for i in range(n):
        f = tmp_path / f"c{i}"
        subprocess.run(["truncate", "-s", "32M", str(f)], check=True)
        devs.append(loops.attach(f))
        throttle.limit(devs[-1], 2 * 10**6)
    return devs


def test_ctrl_c_stops_every_card_and_no_verify_still_exits_0(tmp_path, loops, throttle):
    import os
    import signal
    import sys

    from flashkit import REPO

    image = make_image(tmp_path / "img", 24 * MiB, [(1 * MiB, 20 * MiB)], seed=9)
    devs = _slow_cards(tmp_path, loops, throttle, 3)
    args = [sys.executable, "-m", "wizard.cli", "flash", str(image), "--yes", "--allow-non-removable"]
    for d in devs:
        args += ["--target", d]
    p = subprocess.Popen(args, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=throttle.preexec)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                (Path(f"/sys/block/{Path(d).name}/stat").read_text().split()[6] != "0") for d in devs):
            time.sleep(0.2)                       # every card has started writing
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    for d in devs:
        assert re.search(rf"^{Path(d).name}: FAILED: stopped at your request.*only partly written", out, re.M), out

    # --no-verify: written is what was asked for; the report says the cards were not verified.
    fast = devs[:2]
    for d in fast:
        throttle.limit(d, 10**12)
    report = tmp_path / "r.json"
    proc = run_cli("flash", image, "--yes", "--allow-non-removable", "--no-verify", "--report", report,
                   "--target", fast[0], "--target", fast[1], timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    data = json.loads(report.read_text())
    assert [c["verified"] for c in data["cards"]] == [False, False]
    assert all(c["verified_how"] == "not verified (--no-verify)" and c["error"] is None for c in data["cards"])
    for d in fast:
        assert same_bytes(d, image)


@pytest.mark.slow
def test_as_a_user_through_udisks2_a_card_polkit_refuses_fails_alone(desktop_stack, user, loops):  # noqa: F811
    """The route a desktop takes: every card opened through udisks2 by an unprivileged user. polkit allows two
    of the three cards; the third is refused when its thread opens it, and only that card fails."""
    import daemons
    from flashkit import fill
    from test_udisks import CANARY, _as

    name, box = user
    img = make_image(box / "a.sdcard", 16 * MiB, [(MiB, 6 * MiB), (9 * MiB, MiB)])
    img.chmod(0o644)
    devs, files = [], []
    for i in range(3):
        files.append(fill(box / f"card{i}", 32 * MiB, CANARY))
        devs.append(loops.attach(files[-1]))
    subprocess.run(["udevadm", "settle", "-t", "30"], check=False)
    rules = [daemons.allow_rule(f"fanout{i}", name, devs[i]) for i in range(2)]
    try:
        # Per-card changes on an image that has no root partition to change: refused before any card is
        # touched (they work on this route: tests/flash/test_customise_routes.py).
        key = box / "id.pub"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(box / "id")], check=True)
        key.chmod(0o644)
        proc = _as(name, box, "flash", img, "--yes", "--allow-non-removable", "--ssh-key", key,
                   "--target", devs[0], "--target", devs[1])
        assert_clean_failure(proc, "no partition named APP", "nothing was changed", code=1)
        assert files[0].read_bytes() == bytes([CANARY]) * (32 * MiB)

        # A report the user could not save afterwards is refused before any card is touched.
        proc = _as(name, box, "flash", img, "--yes", "--allow-non-removable", "--report", box / "r.json",
                   "--target", devs[0], "--target", devs[1])
        assert_clean_failure(proc, "cannot write into", code=2)
        assert files[1].read_bytes() == bytes([CANARY]) * (32 * MiB)

        report = box / "home" / "r.json"
        proc = _as(name, box, "flash", img, "--yes", "--allow-non-removable", "--report", report,
                   "--target", devs[0], "--target", devs[1], "--target", devs[2])
        out = proc.stdout
        assert proc.returncode == 1, (out, proc.stderr)
        assert "Traceback" not in out + proc.stderr
        assert proc.stderr.count("opened through udisks2") == 3, proc.stderr
        for dev in devs[:2]:
            assert re.search(rf"^{Path(dev).name}: wrote .*opened through udisks2.* verified", out, re.M), out
            assert same_bytes(dev, img)
        assert re.search(rf"^{Path(devs[2]).name}: FAILED: .*did not allow opening", out, re.M), out
        assert files[2].read_bytes() == bytes([CANARY]) * (32 * MiB)
        data = json.loads(report.read_text())
        assert [c["verified"] for c in data["cards"]] == [True, True, False]
    finally:
        for r in rules:
            r.unlink()


def test_a_stop_in_the_middle_of_a_helper_write_many_stops_every_card(tmp_path, loops, throttle):
    """Stop (the wizard's Ctrl+X / Ctrl-C, sent as `cancel` on the helper's stdin) while two cards are being
    written at 2 MB/s by ONE helper process: both stop mid-write and say so, none is reported written, and the
    helper process exits (the call returns) within seconds."""
    import sys

    from wizard.card import elevate
    from wizard.card.fanout import CardJob
    from wizard.card.writer import identity_of

    image = make_image(tmp_path / "img", 24 * MiB, [(1 * MiB, 20 * MiB)], seed=11)
    devs = _slow_cards(tmp_path, loops, throttle, 2)
    jobs = [CardJob(target=d, name=Path(d).name, identity=identity_of(d), route="helper",
                    options=WriteOptions(allow_non_removable=True)) for d in devs]
    helper = str(Path(elevate._package_root()) / "wizard" / "card" / "flash_helper.py")
    # The helper as sudo would start it, but inside the throttled cgroup.
    argv_for = lambda args: ["sh", "-c", f'echo $$ > {throttle.path}/cgroup.procs && exec "$0" "$@"',  # noqa: E731
                             sys.executable, "-I", helper, "--control-stdin", *args]
    started: dict = {}

    def writing() -> bool:
        """True one second after both cards have written something (the user presses Stop then)."""
        if all(Path(f"/sys/block/{Path(d).name}/stat").read_text().split()[6] != "0" for d in devs):
            started.setdefault("at", time.monotonic())
        return "at" in started and time.monotonic() - started["at"] > 1

    finished: dict = {}
    t0 = time.monotonic()
    data = elevate.write_cards(image, jobs, progress_for=lambda k: None, cancel=writing,
                               on_card=lambda k, r, e: finished.update({k: (r, e)}), argv_for=argv_for)
    assert time.monotonic() - t0 < 8, "the helper did not stop when asked"
    assert "at" in started and sorted(finished) == [0, 1] and data["ok"] == 0, (finished, data)
    for k in (0, 1):
        result, error = finished[k]
        assert result is None and re.search(r"stopped at your request", error), error
