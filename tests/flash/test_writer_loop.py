"""The writer on real loop devices: what it writes, what it skips, and every fault in the issue's list.

Each fault must give one clear line, no traceback, a non-zero exit and the card's state in plain words.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from flashkit import REPO, MiB, assert_clean_failure, fill, make_image, run_cli

from wizard.card import protocol
from wizard.card.writer import WriteError, WriteOptions, check_image, write_image

pytestmark = pytest.mark.root

DATA = [(1 * MiB, 3 * MiB), (20 * MiB, 2 * MiB + 4096), (40 * MiB + 8192, 12288)]


def _card_bytes(dev: str, n: int) -> bytes:
    fd = os.open(dev, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return os.pread(fd, n, 0)
    finally:
        os.close(fd)


def test_write_and_verify_skips_zeros_on_a_discarding_card(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 64 * MiB, DATA)
    card = fill(tmp_path / "card", 96 * MiB)         # old contents everywhere
    dev = loops.attach(card)
    seen = []
    r = write_image(img, dev, options=WriteOptions(allow_non_removable=True), progress=seen.append)
    assert _card_bytes(dev, 64 * MiB) == img.read_bytes()
    assert r.discard_zeroes is True
    data = sum(n for _, n in DATA)
    assert data <= r.written < data + 1 * MiB      # the data (+ GPT sectors, merged short gaps), not 64 MiB
    assert r.verified == r.written and r.spot_checked > 0
    assert {p.label for p in seen} >= {"Erasing (discard)", "Writing", "Verifying"}
    assert "skipped" in r.summary()


def _io_bytes(dev: str) -> tuple:
    f = open(f"/sys/block/{os.path.basename(dev)}/stat").read().split()
    return int(f[2]) * 512, int(f[6]) * 512


def test_the_erase_check_costs_sectors_not_megabytes(tmp_path, loops):
    """On a card every byte read costs time: without verify, the writer reads only its spot sectors (one
    logical sector each) and writes only the data; with verify it reads back exactly what it wrote."""
    img = make_image(tmp_path / "a.sdcard", 64 * MiB, DATA)
    dev = loops.attach(fill(tmp_path / "card", 96 * MiB))
    subprocess.run(["blockdev", "--flushbufs", dev], check=True)
    r0, w0 = _io_bytes(dev)
    r = write_image(img, dev, options=WriteOptions(allow_non_removable=True, verify=False))
    r1, w1 = _io_bytes(dev)
    assert r.discard_zeroes is True and w1 - w0 == r.written
    assert 0 < r1 - r0 <= 2 * 64 * 512 + 16 * 512, r1 - r0     # spot reads of 512-byte sectors only
    assert _card_bytes(dev, 64 * MiB) == img.read_bytes()
    r0, _ = _io_bytes(dev)
    r = write_image(img, dev, options=WriteOptions(allow_non_removable=True))
    r1, _ = _io_bytes(dev)
    assert r.verified == r.written and r.written <= r1 - r0 <= r.written + 3 * 64 * 512


def test_without_discard_zeros_are_written_and_sparse_mode_skips_holes(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 32 * MiB, [(4 * MiB, MiB)])
    card = fill(tmp_path / "card", 32 * MiB)
    dev = loops.attach(card)
    loops.no_discard(dev)                              # a card without discard
    seen = []
    r = write_image(img, dev, options=WriteOptions(allow_non_removable=True), progress=seen.append)
    assert r.discard_zeroes is False and r.written == 32 * MiB
    assert any("cannot erase" in p.label for p in seen)     # why it takes the image's full size
    assert _card_bytes(dev, 32 * MiB) == img.read_bytes()   # every zero was really written
    fill(card, 32 * MiB)
    r = write_image(img, dev, options=WriteOptions(allow_non_removable=True, sparse=True))
    got = _card_bytes(dev, 32 * MiB)
    assert r.written < 2 * MiB
    assert got[4 * MiB:5 * MiB] == img.read_bytes()[4 * MiB:5 * MiB]
    assert got[8 * MiB:8 * MiB + 16] == b"\xa5" * 16     # bmaptool semantics: holes are left as they were


def test_regular_file_target_for_vms(tmp_path, root):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    out = tmp_path / "vm-disk.raw"
    proc = run_cli("flash", img, "--target", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == img.read_bytes()
    assert os.stat(out).st_blocks * 512 < 4 * MiB        # the copy stays sparse


def test_mounted_target_refused(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    card = tmp_path / "card"
    with open(card, "wb") as f:
        f.truncate(64 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(card)], check=True, capture_output=True)
    dev = loops.attach(card)
    loops.mount(dev, tmp_path / "mnt")
    before = _card_bytes(dev, 2 * MiB)
    proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
    line = assert_clean_failure(proc, "mounted", "nothing was written")
    assert "mnt" in line
    assert _card_bytes(dev, 2 * MiB) == before


def test_exclusive_open_busy_says_who_holds_it(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB))
    holder = subprocess.Popen([sys.executable, "-c", "import os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY|os.O_EXCL);"
                               " print('held', flush=True); time.sleep(60)", dev], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
        line = assert_clean_failure(proc, "nothing was written")
        assert "busy" in line or "held" in line or "in use" in line
        assert str(holder.pid) in line or "python" in line
    finally:
        holder.kill()
        holder.wait()
    assert _card_bytes(dev, MiB) == b"\xa5" * MiB


def test_read_only_card_refused(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB), readonly=True)
    proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
    assert_clean_failure(proc, "read-only", "nothing was written")


def test_card_pulled_mid_write_io_error(tmp_path, loops):
    """The loop's backing file lives on a 24 MiB tmpfs: writing 48 MiB of data runs it out of space, and the
    loop device answers with I/O errors, as a pulled card does."""
    small = tmp_path / "small"
    loops.mount("tmpfs", small, "-t", "tmpfs", "-o", "size=24m")
    card = small / "card"
    with open(card, "wb") as f:
        f.truncate(96 * MiB)
    img = make_image(tmp_path / "a.sdcard", 64 * MiB, [(MiB, 48 * MiB)])
    dev = loops.attach(card)
    proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
    line = assert_clean_failure(proc, "partly written", "will not boot")
    assert "stopped answering" in line


def test_ctrl_c_mid_write(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 768 * MiB, [(MiB, 760 * MiB)])
    card = tmp_path / "card"
    with open(card, "wb") as f:
        f.truncate(768 * MiB)
    dev = loops.attach(card)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "wizard.cli", "flash", str(img), "--target", dev, "--yes",
                             "--allow-non-removable"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    err = []
    for line in proc.stderr:
        err.append(line)
        if line.startswith("Writing"):
            proc.send_signal(signal.SIGINT)
            break
    t0 = time.monotonic()
    _, rest = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10            # never hangs on a dirty cache
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", "".join(err) + rest)
    assert_clean_failure(done, "stopped at your request", "partly written", code=130)


def test_target_changed_between_pick_and_write(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    first = fill(tmp_path / "card1", 64 * MiB)
    dev = loops.attach(first)
    from wizard.card.writer import identity_of

    confirmed = identity_of(dev)
    loops.detach(dev)
    second = fill(tmp_path / "card2", 48 * MiB, 0x11)   # another card in the same slot
    loops.attach(second, dev=dev)
    with pytest.raises(WriteError) as e:
        write_image(img, dev, identity=confirmed, options=WriteOptions(allow_non_removable=True))
    assert "not the card you confirmed" in str(e.value) and "size" in str(e.value)
    assert e.value.card_state == "Nothing was written."
    # The privileged helper repeats the check itself and reports it as an error message.
    helper = REPO / "wizard" / "card" / "flash_helper.py"
    proc = subprocess.run([sys.executable, "-I", str(helper), "write", "--image", str(img), "--target", dev,
                           "--identity", json.dumps(confirmed), "--allow-non-removable"], cwd="/",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    err = protocol.decode(proc.stdout.splitlines()[-1])
    assert isinstance(err, protocol.ErrorMsg) and "not the card you confirmed" in err.problem
    assert second.read_bytes()[:16] == b"\x11" * 16


def test_byte_differs_on_read_back(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 32 * MiB, [(MiB, 4 * MiB)])
    card = fill(tmp_path / "card", 32 * MiB)
    dev = loops.attach(card)
    where = 3 * MiB + 12345

    def corrupt() -> None:   # the card "forgets" one byte between the write and the read-back
        with open(card, "r+b") as f:
            f.seek(where)
            old = f.read(1)
            f.seek(where)
            f.write(bytes([old[0] ^ 0xFF]))

    with pytest.raises(WriteError) as e:
        write_image(img, dev, options=WriteOptions(allow_non_removable=True), before_verify=corrupt)
    assert f"at byte {where}" in str(e.value)
    assert "try another card" in e.value.card_state.lower()


@pytest.mark.parametrize("kind", ["missing", "zip", "no-table", "empty"])
def test_image_missing_or_not_an_image(tmp_path, loops, kind):
    dev = loops.attach(fill(tmp_path / "card", 16 * MiB))
    img = tmp_path / "x.sdcard"
    if kind == "zip":
        import zipfile

        img = tmp_path / "x.tegraflash.zip"
        with zipfile.ZipFile(img, "w") as z:
            z.writestr("dosdcard.sh", "#!/bin/sh\n")
    elif kind == "no-table":
        img.write_bytes(os.urandom(MiB))
    elif kind == "empty":
        img.write_bytes(b"")
    proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
    words = {"missing": "does not exist", "zip": "zip", "no-table": "not a disk image", "empty": "empty"}[kind]
    assert_clean_failure(proc, words, "nothing was written")
    assert _card_bytes(dev, MiB) == b"\xa5" * MiB


def test_image_larger_than_card(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 64 * MiB, [(MiB, MiB)])
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB))
    proc = run_cli("flash", img, "--target", dev, "--yes", "--allow-non-removable")
    line = assert_clean_failure(proc, "nothing was written")
    assert "larger" in line or "smaller" in line or "too small" in line
    with pytest.raises(WriteError):
        write_image(img, dev, options=WriteOptions(allow_non_removable=True))


def test_loop_refused_without_allow_non_removable(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB))
    proc = run_cli("flash", img, "--target", dev, "--yes")
    assert_clean_failure(proc, "loop", "nothing was written")


def test_check_image_reports_data_extents(tmp_path, root):
    img = make_image(tmp_path / "a.sdcard", 64 * MiB, DATA)
    info = check_image(img)
    assert info.size == 64 * MiB
    assert info.data_bytes < 8 * MiB          # the holes are known without a .bmap file
