"""Each card its own board on every route the card can be opened: the host name and key are planned on the image
in the user's process and written as a few blocks through the card's own descriptor.

Checked on real parts: a file target and root loop devices (in process), loop devices opened through the real
udisks2/polkit stack by an unprivileged user, and through the sudo helper typed at a real terminal. Each card is
read back with `debugfs -R cat` on its APP partition and `e2fsck -fn` must find it clean. Plus: the patch is a
few blocks of a realistic image, an unused inode-table range holding old bytes is handled, and the helper
refuses a patch that reaches outside the partition, onto the GPT or past the card.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cardimage import APP_START, SECTOR, debugfs, fsck_clean, make_card_image, stat_of
from flashkit import MiB, fill, run_cli

from wizard.card import cardpatch, elevate
from wizard.card.customise import CardOptions, CustomiseError, ImagePlanner, load_public_key
from wizard.card.gpt import find_partition
from wizard.card.sparse import data_extents
from wizard.card.writer import WriteError, identity_of

pytestmark = pytest.mark.skipif(shutil.which("debugfs") is None and not Path("/usr/sbin/debugfs").exists(),
                                reason="needs e2fsprogs")
CANARY = 0x5C


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    d = tmp_path_factory.mktemp("key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "desk@lab", "-f", str(d / "id")],
                   check=True)
    (d / "id.pub").chmod(0o644)
    return d / "id", d / "id.pub"


def _card_is(dev, name: str, pub: Path | None = None) -> None:
    """What every customised card must hold, read with debugfs on the card's partition, and a clean fsck."""
    assert debugfs(dev, "cat /etc/hostname") == f"{name}\n"
    assert f"127.0.1.1\t{name}" in debugfs(dev, "cat /etc/hosts").splitlines()
    if pub is not None:
        assert pub.read_text().strip() in debugfs(dev, "cat /root/.ssh/authorized_keys")
        assert stat_of(dev, "/root/.ssh/authorized_keys") == ("regular", 0o600, 0, 0)
        assert stat_of(dev, "/root/.ssh") == ("directory", 0o700, 0, 0)
    assert "root::" in debugfs(dev, "cat /etc/shadow")        # a file the patch must not touch
    assert fsck_clean(dev)


def _realistic(path: Path, work: Path) -> Path:
    """64 MiB APP partition, 4 KiB blocks, metadata_csum (mkfs.ext4's default), 30 MB of library-like files."""
    def extra(root: Path) -> None:
        lib = root / "usr" / "lib"
        lib.mkdir(parents=True)
        for i in range(300):
            (lib / f"lib{i}.so.1").write_bytes(os.urandom(100_000 + 37 * i))
    return make_card_image(path, work, app_sectors=131072, mkfs_args=("-b", "4096"), extra=extra)


# ------------------------------------------------------------------ the engine

def test_a_realistic_image_gets_a_patch_of_a_few_blocks(tmp_path, keypair):
    img = _realistic(tmp_path / "real.img", tmp_path)
    sb = subprocess.run(["dumpe2fs", "-h", f"{img}?offset={APP_START * SECTOR}"], capture_output=True,
                        text=True).stdout
    assert "metadata_csum" in sb and re.search(r"Block size:\s+4096", sb)
    before = img.read_bytes()
    with ImagePlanner(img, "APP") as planner:
        meta = planner.metadata()
        # The metadata copy holds no file data: a small part of the partition is allocated.
        assert meta.stat().st_blocks * 512 < 2 * MiB < 30 * MiB
        plans = [planner.plan(CardOptions(hostname=f"jetson-{n:02}", ssh_key=load_public_key(keypair[1]),
                                          no_empty_password_ssh=True)) for n in (1, 2)]
        assert planner.metadata() == meta          # made once per session
    assert not meta.exists()                        # and removed with it
    assert img.read_bytes() == before               # planning never writes the image
    for plan in plans:
        size = cardpatch.total_bytes(list(plan.records))
        assert 0 < size <= 64 * 4096 and size * 1000 < len(before)      # bytes patched << image
        app = plan.partition
        assert all(app.offset <= r.offset and r.end <= app.offset + app.size for r in plan.records)
    assert plans[0].digests != plans[1].digests     # each card its own name
    card = tmp_path / "card.img"
    card.write_bytes(before)
    fd = os.open(card, os.O_RDWR)
    try:
        digests = cardpatch.apply(fd, False, list(plans[1].records), "APP", "card.img")
    finally:
        os.close(fd)
    result = plans[1].result(card, digests)
    assert result.verified and "read back from the card" in result.how, result.how
    wrong = plans[1].result(card, ["0" * 64] + digests[1:])         # a block the card did not keep
    assert not wrong.verified and "NOT verified" in wrong.how and "reads back differently" in wrong.how
    _card_is(card, "jetson-02", keypair[1])
    assert "PermitEmptyPasswords no" in debugfs(card, "cat /etc/ssh/sshd_config").splitlines()
    # Every byte outside the patch is the image's.
    after = card.read_bytes()
    for r in plans[1].records:
        after = after[:r.offset] + before[r.offset:r.end] + after[r.end:]
    assert after == before


def _inode_table(img: Path) -> tuple:
    out = subprocess.run(["dumpe2fs", f"{img}?offset={APP_START * SECTOR}"], capture_output=True, text=True).stdout
    first = int(re.search(r"Inode table at (\d+)-(\d+)", out).group(1))
    last = int(re.search(r"Inode table at (\d+)-(\d+)", out).group(2))
    unused = int(re.search(r"(\d+) unused inodes", out).group(1))
    per_group = int(re.search(r"Inodes per group:\s+(\d+)", out).group(1))
    isize = int(re.search(r"Inode size:\s+(\d+)", out).group(1))
    block = int(re.search(r"Block size:\s+(\d+)", out).group(1))
    return first, last, per_group - unused, isize, block


def test_new_inodes_in_an_unused_inode_table_range_holding_old_bytes(tmp_path, keypair):
    """mkfs leaves the inode table past the used inodes out of the metadata copy (itable_unused). Here that
    range holds old bytes on the image, as a reused card or a lazily initialised table may: the first new inode
    lands in a block the copy does not have; the card must still come out clean."""
    def extra(root: Path) -> None:           # 20 inodes in use: the next one starts a fresh table block
        (root / "etc" / "issue").write_text("Jetson\n")
        (root / "etc" / "motd").write_text("\n")
    img = make_card_image(tmp_path / "g.img", tmp_path, extra=extra)
    first, last, used, isize, block = _inode_table(img)
    fresh = first + used * isize // block
    assert used * isize % block == 0, "the test image must end its used inodes on a block boundary"
    app = APP_START * SECTOR
    with open(img, "r+b") as f:              # old bytes in every unused table block
        f.seek(app + fresh * block)
        f.write(b"\xaa" * ((last - fresh + 1) * block))
    assert fsck_clean(img)                   # unused inodes are not looked at
    with ImagePlanner(img, "APP") as planner:
        plan = planner.plan(CardOptions(hostname="jetson-09", ssh_key=load_public_key(keypair[1])))
    assert any(r.offset <= app + fresh * block < r.end for r in plan.records), \
        "the first new inode's table block must be in the patch"
    fd = os.open(img, os.O_RDWR)
    try:
        digests = cardpatch.apply(fd, False, list(plan.records), "APP", "g.img")
    finally:
        os.close(fd)
    assert plan.result(img, digests).verified
    _card_is(img, "jetson-09", keypair[1])


def test_problems_with_the_image_are_one_line_before_anything(tmp_path, keypair):
    img = make_card_image(tmp_path / "root.img", tmp_path, app_name="ROOT")
    with pytest.raises(CustomiseError, match="no partition named APP") as e:
        ImagePlanner(img, "APP")
    assert "\n" not in str(e.value) and str(e.value).endswith("nothing was changed")
    swap = make_card_image(tmp_path / "swap.img", tmp_path, app_fs="swap")
    with pytest.raises(CustomiseError, match="does not hold an ext4 file system"):
        ImagePlanner(swap, "APP")


def test_e2image_missing_is_one_line(tmp_path, monkeypatch):
    from wizard.card import customise as cz

    img = make_card_image(tmp_path / "card.img", tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(shutil.which("debugfs") or "/usr/sbin/debugfs", bare / "debugfs")
    monkeypatch.setenv("PATH", str(bare))
    monkeypatch.setattr(cz, "_SBIN", str(bare))
    with pytest.raises(CustomiseError, match="e2image was not found; install e2fsprogs") as e:
        ImagePlanner(img, "APP")
    assert str(e.value).endswith("nothing was changed")


def test_a_too_old_e2image_is_named(tmp_path, monkeypatch):
    """An e2fsprogs before 1.43 has no -o: it answers with its usage. Stood in for by a script that does so."""
    from wizard.card import customise as cz

    img = make_card_image(tmp_path / "card.img", tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(shutil.which("debugfs") or "/usr/sbin/debugfs", bare / "debugfs")
    old = bare / "e2image"
    old.write_text("#!/bin/sh\necho \"e2image: invalid option -- 'o'\" >&2\n"
                   "echo 'Usage: e2image [-rsIQaf] [-b superblock] [-B blocksize] device image-file' >&2\nexit 1\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bare}:/usr/bin:/bin")
    monkeypatch.setattr(cz, "_SBIN", str(bare))
    with ImagePlanner(img, "APP") as planner, pytest.raises(CustomiseError, match="too old") as e:
        planner.plan(CardOptions(hostname="x"))
    assert "1.43" in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ in process: a file and root's loop devices

def test_a_file_target_through_the_cli(tmp_path, keypair):
    img = make_card_image(tmp_path / "card.img", tmp_path)
    vm = tmp_path / "vm.raw"
    proc = run_cli("flash", img, "--target", vm, "--yes", "--hostname", "vm-01", "--ssh-key", keypair[1],
                   "--report", tmp_path / "r.json", timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    _card_is(vm, "vm-01", keypair[1])
    card = json.loads((tmp_path / "r.json").read_text())["cards"][0]
    assert card["verified"] and re.search(r"host name and key written \(\d+ blocks\), read back from the card",
                                          card["verified_how"]), card


def test_root_loop_devices_in_process(tmp_path, loops, keypair):
    img = make_card_image(tmp_path / "card.img", tmp_path)
    devs = [loops.attach(fill(tmp_path / f"c{i}", 16 * MiB, CANARY)) for i in range(2)]
    proc = run_cli("flash", img, "--yes", "--allow-non-removable", "--hostname", "desk-{n}", "--ssh-key",
                   keypair[1], "--target", devs[0], "--target", devs[1], timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    for n, dev in enumerate(devs, 1):
        _card_is(dev, f"desk-{n}", keypair[1])
        assert re.search(rf"^{Path(dev).name}: wrote .*host name and key written \(\d+ blocks\), read back from "
                         "the card", proc.stdout, re.M), proc.stdout


# ------------------------------------------------------------------ the helper: refusals and digests

def _helper(args: list):
    argv = [sys.executable, "-I", str(Path(elevate._package_root()) / "wizard" / "card" / "flash_helper.py"),
            "--control-stdin", *args]
    return elevate.run_helper(args, argv=argv)


@pytest.fixture
def helper_card(tmp_path, loops):
    img = make_card_image(tmp_path / "card.img", tmp_path)
    backing = fill(tmp_path / "card", 16 * MiB, CANARY)
    dev = loops.attach(backing)
    return img, backing, dev


def _write_args(img, dev, patch: Path) -> list:
    return ["write", "--image", str(img), "--target", dev, "--identity", json.dumps(identity_of(dev)),
            "--allow-non-removable", "--patch", str(patch), "--patch-partition", "APP"]


def test_the_helper_writes_the_patch_and_returns_what_the_card_reads(tmp_path, helper_card, keypair):
    img, _backing, dev = helper_card
    with ImagePlanner(img, "APP") as planner:
        plan = planner.plan(CardOptions(hostname="helped-01", ssh_key=load_public_key(keypair[1])))
    patch = tmp_path / "p.bin"
    patch.write_bytes(cardpatch.encode(list(plan.records)))
    res = _helper(_write_args(img, dev, patch))
    assert res.patch_sha256 == plan.digests
    assert plan.result(dev, res.patch_sha256).verified
    _card_is(dev, "helped-01", keypair[1])


@pytest.mark.parametrize("where, words", [
    ("gpt", "overlaps its partition table"),
    ("other", "outside its APP partition"),
    ("straddle", "outside its APP partition"),
    ("end", "past the end"),
])
def test_the_helper_refuses_a_patch_outside_the_partition(tmp_path, helper_card, where, words):
    img, backing, dev = helper_card
    app = find_partition(img, "APP")
    size = img.stat().st_size
    offset = {"gpt": 512, "other": 2048 * SECTOR, "straddle": app.offset - 512,
              "end": size + 8 * MiB}[where]
    patch = tmp_path / "p.bin"
    patch.write_bytes(cardpatch.encode([cardpatch.Record(offset, b"\x01" * 1024)]))
    with pytest.raises(WriteError) as e:
        _helper(_write_args(img, dev, patch))
    assert words in e.value.problem and e.value.card_state == "Nothing was written.", e.value
    assert backing.read_bytes() == bytes([CANARY]) * (16 * MiB)      # refused before the image was written


def test_the_helper_refuses_a_damaged_patch_file(tmp_path, helper_card):
    img, backing, dev = helper_card
    patch = tmp_path / "p.bin"
    patch.write_bytes(cardpatch.MAGIC + b"\x00" * 7)
    with pytest.raises(WriteError, match="damaged"):
        _helper(_write_args(img, dev, patch))
    assert backing.read_bytes() == bytes([CANARY]) * (16 * MiB)


# ------------------------------------------------------------------ udisks2, as an unprivileged user

@pytest.mark.slow
@pytest.mark.root
def test_as_a_user_through_udisks2_each_card_gets_its_name(desktop_stack, user, loops, keypair):  # noqa: F811
    import daemons
    from test_udisks import _as

    name, box = user
    img = make_card_image(box / "card.img", box)
    img.chmod(0o644)
    key = box / "id.pub"
    shutil.copyfile(keypair[1], key)
    key.chmod(0o644)
    devs = [loops.attach(fill(box / f"c{i}", 16 * MiB, CANARY)) for i in range(2)]
    subprocess.run(["udevadm", "settle", "-t", "30"], check=False)
    rules = [daemons.allow_rule(f"custom{i}", name, d) for i, d in enumerate(devs)]
    try:
        report = box / "home" / "r.json"
        proc = _as(name, box, "flash", img, "--yes", "--allow-non-removable", "--hostname", "jetson-{n:02}",
                   "--ssh-key", key, "--report", report, "--target", devs[0], "--target", devs[1], timeout=180)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert proc.stderr.count("opened through udisks2") == 2, proc.stderr
        for n, dev in enumerate(devs, 1):
            assert subprocess.run(["runuser", "-u", name, "--", "test", "-w", dev]).returncode != 0
            _card_is(dev, f"jetson-{n:02}", key)
        cards = json.loads(report.read_text())["cards"]
        assert [c["hostname"] for c in cards] == ["jetson-01", "jetson-02"]
        assert all(c["verified"] and "read back from the card" in c["verified_how"] for c in cards), cards
    finally:
        for r in rules:
            r.unlink()


from test_udisks import user  # noqa: E402,F401 - the temporary user fixture

# ------------------------------------------------------------------ one helper, several cards, one read

def test_one_helper_process_writes_several_cards_from_one_read(tmp_path, loops, keypair):
    """`write-many`: the helper (run directly as root, as sudo would) writes three cards from one read of the
    image, each with its own progress, result and changes; a fourth that is not the confirmed card fails alone."""
    from wizard.card.fanout import CardJob
    from wizard.card.writer import WriteOptions

    img = make_card_image(tmp_path / "card.img", tmp_path)
    devs = [loops.attach(fill(tmp_path / f"c{i}", 16 * MiB, CANARY)) for i in range(4)]
    opts = WriteOptions(allow_non_removable=True)
    jobs = [CardJob(target=d, name=Path(d).name, identity=identity_of(d), route="helper", options=opts)
            for d in devs]
    jobs[3].identity = {**jobs[3].identity, "serial": "not-this-card"}
    with ImagePlanner(img, "APP") as planner:
        plans = [planner.plan(CardOptions(hostname=f"many-{n}", ssh_key=load_public_key(keypair[1])))
                 for n in range(4)]
    seen: dict = {}
    finished: dict = {}

    def progress_for(k):
        return lambda p: seen.setdefault(k, set()).add(p.label)

    helper = str(Path(elevate._package_root()) / "wizard" / "card" / "flash_helper.py")
    data = elevate.write_cards(img, jobs, progress_for=progress_for,
                               on_card=lambda k, r, e: finished.update({k: (r, e)}), partition_name="APP",
                               patches=[list(p.records) for p in plans],
                               argv_for=lambda args: [sys.executable, "-I", helper, "--control-stdin", *args])
    assert sorted(finished) == [0, 1, 2, 3]
    for k in range(3):
        result, error = finished[k]
        assert error is None and result.verified and result.patch_sha256 == plans[k].digests
        assert {"Writing", "Verifying"} <= seen[k], seen
        _card_is(devs[k], f"many-{k}", keypair[1])
    result, error = finished[3]
    assert result is None and "not the card you confirmed" in error
    assert (tmp_path / "c3").read_bytes() == bytes([CANARY]) * (16 * MiB)
    # One read of the image for all the cards: its data once, in 4 MiB units (the last one short).
    with open(img, "rb") as f:
        data_bytes = sum(e - s for s, e in data_extents(f.fileno()))
    assert data["cards"] == 4 and data["ok"] == 3
    assert data_bytes <= data["bytes_read"] <= img.stat().st_size < 2 * data_bytes, data


def test_a_debugfs_without_the_offset_option_is_named(tmp_path, monkeypatch):
    """A debugfs that ignores `?offset=` reads the disk's first bytes as the superblock and says "Bad magic";
    our own read found ext4 there, so the message names the old e2fsprogs. Stood in for by a script."""
    from wizard.card import customise as cz

    img = make_card_image(tmp_path / "card.img", tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(shutil.which("e2image") or "/usr/sbin/e2image", bare / "e2image")
    old = bare / "debugfs"
    old.write_text("#!/bin/sh\necho 'debugfs 1.42.9 (4-Feb-2014)' >&2\n"
                   "echo \"debugfs: Bad magic number in super-block while trying to open $3\" >&2\nexit 0\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bare}:/usr/bin:/bin")
    monkeypatch.setattr(cz, "_SBIN", str(bare))
    with pytest.raises(CustomiseError, match="too old") as e:
        ImagePlanner(img, "APP")
    assert str(e.value).endswith("nothing was changed")


def test_write_many_stops_every_card_when_asked(tmp_path, loops):
    """Cancel (the wizard's Ctrl-C, sent as `cancel` on the helper's stdin) reaches every card of a write-many;
    each says it stopped, none is reported written."""
    from wizard.card.fanout import CardJob
    from wizard.card.writer import WriteOptions

    img = make_card_image(tmp_path / "card.img", tmp_path)
    devs = [loops.attach(fill(tmp_path / f"c{i}", 16 * MiB, CANARY)) for i in range(2)]
    jobs = [CardJob(target=d, name=Path(d).name, identity=identity_of(d), route="helper",
                    options=WriteOptions(allow_non_removable=True)) for d in devs]
    finished: dict = {}
    helper = str(Path(elevate._package_root()) / "wizard" / "card" / "flash_helper.py")
    data = elevate.write_cards(img, jobs, progress_for=lambda k: None, cancel=lambda: True,
                               on_card=lambda k, r, e: finished.update({k: (r, e)}),
                               argv_for=lambda args: [sys.executable, "-I", helper, "--control-stdin", *args])
    assert sorted(finished) == [0, 1] and data["ok"] == 0
    for k in (0, 1):
        result, error = finished[k]
        assert result is None and re.search(r"stopped (before writing|at your request)", error), error


# ------------------------------------------------------------------ plain mode: the answers' per-card options

def test_plain_mode_names_its_card_from_the_answers_pattern(tmp_path, loops, keypair, capsys):
    """`--plain` with card_hostname_pattern/card_ssh_key in the answers: the card it writes gets the pattern's
    next name that no board of the project has (desk-03 after desk-01 and desk-02), and the key."""
    from wizard.core.session import Session
    from wizard.core.steps import Status
    from wizard.plain import PlainRun

    img = make_card_image(tmp_path / "card.img", tmp_path)
    dev = loops.attach(fill(tmp_path / "card", 16 * MiB, CANARY))
    s = Session.open(tmp_path / "project")
    s.mark("image", Status.DONE, "made", path=str(img))
    s.mark("flash", Status.DONE, "2 cards written and verified",
           cards=[{"device": "/dev/x", "hostname": h, "error": None} for h in ("desk-01", "desk-02")])
    s.update_answers(card_hostname_pattern="desk-{n:02}", card_ssh_key=str(keypair[1]),
                     card_no_empty_password_ssh=True)
    run = PlainRun(s, ask=False, extra_args={"flash": ["--target", dev, "--allow-non-removable", "--yes"]},
                   out=lambda line: None)
    assert run.step_flash()
    _card_is(dev, "desk-03", keypair[1])
    assert "\nPermitEmptyPasswords no\n" in debugfs(dev, "cat /etc/ssh/sshd_config")
    kept = Session.open(tmp_path / "project").step_state("flash").data["cards"]     # as the command saved it
    assert [c["hostname"] for c in kept] == ["desk-01", "desk-02", "desk-03"]
