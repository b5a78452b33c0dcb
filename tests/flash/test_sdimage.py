"""The SD-card image step on a real (small) tegraflash-like package: sparse unzip with modes, dosdcard.sh
with BOARDID/FAB, the .sdcard made sparse again; and the sparse-file helpers underneath."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from flashkit import REPO, MiB, assert_clean_failure, run_cli

from wizard.card.sdimage import deploy_dir, find_package, make_sdcard_image, unpack
from wizard.card.sparse import data_extents, resparsify, sparse_copy, usage
from wizard.core.errors import WizardError
from wizard.core.profile import load_profile
from wizard.demo.fake_tegraflash import make_tegraflash_zip

MACHINE, IMAGE = "jetson-nano-qspi-sd", "wrlinux-image-glibc-std"


def _need_tools():
    for t in ("mkfs.ext4", "sgdisk"):
        if shutil.which(t) is None and not Path("/usr/sbin", t).exists() and not Path("/sbin", t).exists():
            pytest.skip(f"needs {t}")


@pytest.fixture
def built(project):
    """A project whose build left a tegraflash package (the stand-in's, built by the real tools)."""
    _need_tools()
    prof = load_profile()
    z = deploy_dir(prof, project, MACHINE) / f"{IMAGE}-{MACHINE}-20260101000000.tegraflash.zip"
    make_tegraflash_zip(z, MACHINE, IMAGE)
    return prof, project, z


def test_resparsify_keeps_content_and_frees_zero_blocks(tmp_path):
    f = tmp_path / "x"
    data = os.urandom(64 << 10)
    with open(f, "wb") as out:
        out.write(b"\0" * (8 * MiB))            # fully allocated zeros, as dd writes them
        out.write(data)
        out.write(b"\0" * (8 * MiB) + b"tail")
    before = f.read_bytes()
    assert usage(f).allocated >= 16 * MiB
    u = resparsify(f)
    assert f.read_bytes() == before
    assert u.allocated < 1 * MiB and u.apparent == len(before)
    fd = os.open(f, os.O_RDONLY)
    try:
        ext = data_extents(fd)
    finally:
        os.close(fd)
    assert ext[0][0] == 8 * MiB and ext[-1][1] == len(before)


def test_sparse_copy_makes_holes_from_a_stream(tmp_path):
    import io

    payload = b"\0" * (5 * MiB) + b"x" * 4096 + b"\0" * (3 * MiB) + b"end"
    out = tmp_path / "o"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        written = sparse_copy(io.BytesIO(payload), fd, len(payload))
    finally:
        os.close(fd)
    assert out.read_bytes() == payload
    assert written == 4096 + 3
    assert usage(out).allocated <= 64 << 10


def test_unpack_is_sparse_and_keeps_modes(built, tmp_path):
    prof, project, z = built
    seen = []
    dest = unpack(z, tmp_path / "u", progress=seen.append)
    script = dest / "dosdcard.sh"
    assert os.access(script, os.X_OK)
    ext4 = dest / f"{IMAGE}.ext4"
    with zipfile.ZipFile(z) as zf:
        assert ext4.read_bytes() == zf.read(f"{IMAGE}.ext4")
    u = usage(ext4)
    assert u.allocated < u.apparent / 4          # a plain unzip would allocate all of it
    assert seen and seen[-1].done == seen[-1].total


def test_unpacking_again_keeps_the_untouched_rootfs_and_nothing_else(built, tmp_path):
    """Re-running the step must not inflate the 14 GiB rootfs again, yet start from exactly the zip's files."""
    prof, project, z = built
    dest = unpack(z, tmp_path / "u")
    ext4, script = dest / f"{IMAGE}.ext4", dest / "dosdcard.sh"
    ino = ext4.stat().st_ino
    (dest / "signed").mkdir()
    (dest / "signed" / "flash.xml").write_text("from the last run")
    (dest / f"{IMAGE}.sdcard").write_bytes(b"old image")
    script.write_text("#!/bin/sh\nexit 9\n")              # a small file changed: unpacked again
    seen = []
    unpack(z, dest, progress=seen.append)
    assert ext4.stat().st_ino == ino and "keeping" in seen[-1].label and seen[-1].done == seen[-1].total
    assert not (dest / "signed").exists() and not (dest / f"{IMAGE}.sdcard").exists()
    with zipfile.ZipFile(z) as zf:
        assert script.read_bytes() == zf.read("dosdcard.sh") and os.access(script, os.X_OK)
        assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == \
            sorted(i.filename for i in zf.infolist())


def test_a_changed_rootfs_or_a_new_package_is_unpacked_again(built, tmp_path):
    prof, project, z = built
    dest = unpack(z, tmp_path / "u")
    ext4 = dest / f"{IMAGE}.ext4"
    with zipfile.ZipFile(z) as zf:
        want = zf.read(f"{IMAGE}.ext4")
    with open(ext4, "r+b") as f:                             # changed by something: its mtime moves
        f.write(b"X" * 4096)
    seen = []
    unpack(z, dest, progress=seen.append)
    assert "keeping" not in seen[-1].label and ext4.read_bytes() == want
    st = ext4.stat()                                         # same size and mtime, but a rebuilt package
    with open(ext4, "r+b") as f:
        f.write(b"Y" * 4096)
    os.utime(ext4, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(z, (time.time() + 5, time.time() + 5))
    unpack(z, dest)
    assert ext4.read_bytes() == want


def test_a_half_unpacked_folder_is_never_trusted(built, tmp_path):
    from wizard.core.progress import Cancelled

    prof, project, z = built
    dest = unpack(z, tmp_path / "u")
    ext4 = dest / f"{IMAGE}.ext4"
    with open(ext4, "r+b") as f:                             # so the next run inflates it again...
        f.write(b"X" * 4096)
    seen = []
    with pytest.raises(Cancelled):                           # ...and is stopped in the middle of it
        unpack(z, dest, progress=seen.append, cancel=lambda: ext4.exists() and ext4.stat().st_blocks > 0)
    assert not (dest / ".wrnv-unpacked.json").exists()
    seen.clear()
    unpack(z, dest, progress=seen.append)
    assert "keeping" not in seen[-1].label
    with zipfile.ZipFile(z) as zf:
        assert ext4.read_bytes() == zf.read(f"{IMAGE}.ext4")


def test_newest_package_is_picked(built):
    prof, project, z = built
    older = z.with_name(f"{IMAGE}-{MACHINE}-20250101000000.tegraflash.zip")
    shutil.copy(z, older)
    past = time.time() - 3600
    os.utime(older, (past, past))
    link = z.with_name(f"{IMAGE}-{MACHINE}.tegraflash.zip")
    link.symlink_to(z.name)
    assert find_package(prof, project, MACHINE, IMAGE) == z.resolve()


def test_package_found_in_another_tmpdir(built):
    """A build whose TMPDIR is not the profile's tmp-glibc (e.g. `tmp`): its package is still found."""
    prof, project, z = built
    other = Path(str(deploy_dir(prof, project, MACHINE)).replace("tmp-glibc", "tmp"))
    other.mkdir(parents=True)
    newer = other / z.name.replace("2026", "2027")
    shutil.move(z, newer)
    assert find_package(prof, project, MACHINE, IMAGE) == newer.resolve()
    newer.unlink()
    with pytest.raises(WizardError, match="did not make the tegraflash package"):
        find_package(prof, project, MACHINE, IMAGE)


def test_make_image_with_board_revision(built):
    prof, project, z = built
    lines = []
    res = make_sdcard_image(prof, project, MACHINE, IMAGE, fab="b01", on_line=lines.append)
    assert res.path.name == f"{IMAGE}.sdcard"
    assert any("version(300)" in ln for ln in lines)          # FAB for b01 reached dosdcard.sh
    assert any("unverified" in n for n in res.notes)
    assert res.allocated < res.apparent / 4                    # sparse again after dd filled it
    table = subprocess.run(["sgdisk", "-p", str(res.path)], capture_output=True, text=True, check=True).stdout
    assert "APP" in table
    ext4 = res.path.parent / f"{IMAGE}.ext4"
    with open(res.path, "rb") as f:
        f.seek(5 * MiB)                                        # APP starts at sector 10240
        assert f.read(2 * MiB) == ext4.read_bytes()[:2 * MiB]


def test_no_revision_and_no_board_is_a_clear_error(built):
    prof, project, _ = built
    with pytest.raises(WizardError, match="recovery mode"):
        make_sdcard_image(prof, project, MACHINE, IMAGE)


def _host_path(tmp_path: Path, python: str) -> str:
    """A PATH like an ordinary user's on a modern host: `python` is the given interpreter, the usual tools are in
    /usr/bin and /bin, and there is no /usr/sbin or /sbin (so no sgdisk) and no other Python."""
    d = tmp_path / "hostbin"
    d.mkdir(parents=True)
    (d / "python").symlink_to(python)
    return f"{d}:/usr/local/bin:/usr/bin:/bin"


def test_image_is_made_on_a_host_with_python_311_and_no_sbin_on_path(built, tmp_path):
    """The issue's case: `python` is Python 3.11 (getiterator removed) and PATH lacks /usr/sbin (make-sdcard's
    bare sgdisk). The stand-in fails on both like the real scripts; the image step still makes the image."""
    py311 = shutil.which("python3.11")
    if not py311:
        pytest.skip("needs python3.11")
    _, project, _ = built
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=_host_path(tmp_path, py311))
    assert shutil.which("sgdisk", path=env["PATH"]) is None
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "image", "--project", str(project), "--fab", "b01"],
                          env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ".sdcard" in proc.stdout
    assert "Python 3.11" in proc.stdout and "shim" in proc.stdout          # said which interpreter ran them
    assert "Signing 5 partitions" in proc.stderr                           # the getiterator call really ran
    assert "Before you write the card:" in proc.stdout and "wrnv-wizard firmware" in proc.stdout


def test_the_standin_fails_like_the_real_scripts_without_the_wizard(built, tmp_path):
    """Run the unpacked stand-in dosdcard.sh by hand, as the tutorial does, on the same host: `python` 3.11
    dies on getiterator; with /usr/sbin missing, make-sdcard's bare sgdisk fails with its own words."""
    py311 = shutil.which("python3.11")
    if not py311:
        pytest.skip("needs python3.11")
    prof, project, z = built
    work = unpack(z, tmp_path / "pkg")
    env = dict(os.environ, BOARDID="3448", FAB="300", PATH=_host_path(tmp_path, py311))
    out = subprocess.run(["./dosdcard.sh"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "AttributeError" in out.stderr and "getiterator" in out.stderr
    # with a Python that works but still no sbin on PATH: the GPT step fails
    if not PY37.exists():
        pytest.skip("needs the pyenv 3.7.16 of this machine image")
    env["PATH"] = _host_path(tmp_path / "b", str(PY37))
    out = subprocess.run(["./dosdcard.sh"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "ERR: could not initialize GPT" in out.stderr


PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")


def test_dosdcard_failure_shows_its_last_20_lines_and_the_log(built, monkeypatch):
    prof, project, z = built
    # A package whose dosdcard.sh fails like the real one without a board: its last lines are shown, not only
    # those that contain "error".
    monkeypatch.delenv("BOARDID", raising=False)
    with pytest.raises(WizardError) as e:
        make_sdcard_image(prof, project, MACHINE, IMAGE, recovery_board=True)
    msg = str(e.value)
    assert "dosdcard.log" in msg and "full log:" in msg
    assert "  | Board ID and FAB not set; querying the board over USB" in msg      # a line without "error"
    assert "  | ERROR: set BOARDID and FAB" in msg
    assert "=== exit code" not in msg


def test_a_long_failure_keeps_only_its_last_20_lines(tmp_path):
    from wizard.card.sdimage import failure_message

    log = tmp_path / "x.log"
    log.write_text("# header\n" + "".join(f"line {i}\n" for i in range(50)) + "=== exit code 1\n")
    msg = failure_message("dosdcard.sh", 1, log)
    shown = [ln for ln in msg.splitlines() if ln.startswith("  | ")]
    assert shown == [f"  | line {i}" for i in range(30, 50)]
    assert msg.splitlines()[-1] == f"full log: {log}"


def test_a_board_in_recovery_mode_is_read_over_usb(built, root):
    """No revision chosen: the Jetson Nano plugged in in recovery mode (a umockdev testbed with NVIDIA
    0955:7f21) is found, and dosdcard.sh runs without BOARDID/FAB and reads the board itself."""
    if shutil.which("umockdev-run") is None:
        pytest.skip("needs umockdev-run (Debian package umockdev)")
    _, project, _ = built
    fixture = Path(__file__).resolve().parents[1] / "disks" / "fixtures" / "jetson-nano-recovery.umockdev"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("BOARDID", None)
    env.pop("FAB", None)
    proc = subprocess.run(["umockdev-run", "-d", str(fixture), "--", sys.executable, "-m", "wizard.cli", "image",
                           "--project", str(project)], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Jetson Nano" in out and "recovery mode (USB 0955:7f21" in out
    assert "read from EEPROM" in out and "version(300)" in out
    assert "third-party notes" not in out          # no revision was guessed: the board said it
    assert ".sdcard" in proc.stdout
    # the same without the board: one clear line saying what to do
    assert_clean_failure(run_cli("image", "--project", project, "--recovery"), "recovery mode")


def test_image_command_end_to_end(built):
    _, project, _ = built
    proc = run_cli("image", "--project", project, "--fab", "b01", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ".sdcard" in proc.stdout and "unverified" in (proc.stdout + proc.stderr)
    proc = run_cli("image", "--project", project, "--fab", "zz")
    assert proc.returncode == 1 and "unknown board revision" in proc.stderr and "Traceback" not in proc.stderr
