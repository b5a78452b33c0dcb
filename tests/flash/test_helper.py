"""The elevated helper, run for real as root (the way sudo runs it: `python -I flash_helper.py`), and every
way the issue found to talk it into writing something else.

Each abuse case: the helper refuses with one clear error message, nothing is written (a canary pattern in
the file or loop device survives) and no file is created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flashkit import MiB, fill, make_image

from wizard.card import elevate, protocol
from wizard.card.writer import WriteCancelled, WriteError, identity_of

CANARY = 0x5C


def _argv(args: list) -> list:
    return [sys.executable, "-I", str(Path(elevate._package_root()) / "wizard" / "card" / "flash_helper.py"),
            "--control-stdin", *args]


def _run(args: list, **kw):
    return elevate.run_helper(args, argv=_argv(args), **kw)


def _canary_intact(path: Path, size: int) -> bool:
    data = path.read_bytes()
    return len(data) == size and data == bytes([CANARY]) * size


def _fake_identity() -> str:
    return json.dumps({"devnum": [7, 0], "serial": "", "size_bytes": 1, "model": ""})


def _image(tmp_path, name="a.sdcard", size=16 * MiB) -> Path:
    return make_image(tmp_path / name, size, [(MiB, 2 * MiB)])


@pytest.mark.usefixtures("root")
class TestAbuse:
    def test_a_regular_file_is_never_written(self, tmp_path):
        victim = fill(tmp_path / "victim", MiB, CANARY)
        with pytest.raises(WriteError) as e:
            _run(["write", "--image", str(_image(tmp_path)), "--target", str(victim), "--identity", _fake_identity()])
        assert "not a disk" in e.value.problem and e.value.card_state == "Nothing was written."
        assert _canary_intact(victim, MiB)

    def test_a_root_only_file_is_never_written(self, tmp_path):
        victim = fill(tmp_path / "shadow", MiB, CANARY)
        os.chmod(victim, 0o600)
        with pytest.raises(WriteError, match="not a disk"):
            _run(["write", "--image", str(_image(tmp_path)), "--target", str(victim), "--identity", _fake_identity()])
        assert _canary_intact(victim, MiB) and (victim.stat().st_mode & 0o777) == 0o600

    def test_profile_d_script_is_not_created(self, tmp_path):
        """The issue's exploit: an "image" that is a shell script with 0x55AA at byte 510, aimed at a new file."""
        script = tmp_path / "evil.sdcard"
        body = b"#!/bin/sh\ntouch /tmp/pwned\n"
        script.write_bytes(body + b"\0" * (510 - len(body)) + b"\x55\xaa" + b"\0" * 512)
        folder = tmp_path / "profile.d"
        folder.mkdir()
        with pytest.raises(WriteError, match="not a disk"):
            _run(["write", "--image", str(script), "--target", str(folder / "x.sh"), "--identity", _fake_identity()])
        assert list(folder.iterdir()) == []

    @pytest.mark.parametrize("spelling", ["//dev/wrnv-test-nothing", "/dev/../dev/wrnv-test-nothing"])
    def test_nothing_is_created_under_dev(self, tmp_path, spelling):
        with pytest.raises(WriteError) as e:
            _run(["write", "--image", str(_image(tmp_path)), "--target", spelling, "--identity", _fake_identity()])
        assert "does not exist" in e.value.problem and "nothing is ever created under /dev" in e.value.problem
        assert not Path("/dev/wrnv-test-nothing").exists()

    def test_a_folder_symlinked_to_dev(self, tmp_path):
        (tmp_path / "devlink").symlink_to("/dev")
        with pytest.raises(WriteError, match="does not exist"):
            _run(["write", "--image", str(_image(tmp_path)), "--target", str(tmp_path / "devlink" / "wrnv-test-x"),
                  "--identity", _fake_identity()])
        assert not Path("/dev/wrnv-test-x").exists()

    def test_it_takes_no_log_path(self, tmp_path):
        work = tmp_path / "work"
        work.mkdir()
        (work / "dosdcard.sh").write_text("#!/bin/sh\necho hi\n")
        victim = fill(tmp_path / "victim.log", MiB, CANARY)
        argv = _argv(["dosdcard", "--dir", str(work), "--log", str(victim)])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and "unrecognized arguments: --log" in proc.stderr
        assert _canary_intact(victim, MiB)

    def test_dosdcard_output_comes_back_over_the_pipe_and_nothing_is_chowned(self, tmp_path):
        work = tmp_path / "work"
        work.mkdir()
        (work / "dosdcard.sh").write_text("#!/bin/sh\necho made the image\ntouch out.sdcard\n")
        (work / "dosdcard.sh").chmod(0o755)
        os.chown(work, 65534, 65534)
        lines: list = []
        res = _run(["dosdcard", "--dir", str(work)], on_line=lines.append)
        assert res.data == {"rc": 0} and "made the image" in lines
        assert (work / "out.sdcard").stat().st_uid == 0       # root made it; the helper gave nothing away

    def test_a_write_needs_the_confirmed_identity(self, tmp_path, loops):
        dev = loops.attach(fill(tmp_path / "card", 32 * MiB, CANARY))
        args = ["write", "--image", str(_image(tmp_path)), "--target", dev, "--allow-non-removable"]
        proc = subprocess.run(_argv(args), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and "--identity" in proc.stderr
        assert _canary_intact(tmp_path / "card", 32 * MiB)

    def test_a_device_swapped_after_the_pick_is_refused(self, tmp_path, loops):
        """The path the user confirmed now names another loop device (a symlink swapped between the pick and
        the helper's open): the identity check on the opened descriptor refuses it."""
        confirmed = loops.attach(fill(tmp_path / "card1", 32 * MiB, CANARY))
        other = loops.attach(fill(tmp_path / "card2", 32 * MiB, CANARY))
        ident = identity_of(confirmed)
        link = tmp_path / "card-link"
        link.symlink_to(other)
        with pytest.raises(WriteError) as e:
            _run(["write", "--image", str(_image(tmp_path)), "--target", str(link), "--identity", json.dumps(ident),
                  "--allow-non-removable"])
        assert "not the card you confirmed" in e.value.problem
        assert _canary_intact(tmp_path / "card1", 32 * MiB) and _canary_intact(tmp_path / "card2", 32 * MiB)

    def test_a_file_swapped_for_a_disk_is_refused(self, tmp_path, loops):
        """A symlink that named a file when the user looked and a loop device when the helper opens it: the
        helper checks the device it opened (a loop device is refused without --allow-non-removable)."""
        dev = loops.attach(fill(tmp_path / "card", 32 * MiB, CANARY))
        link = tmp_path / "vm.raw"
        link.symlink_to(dev)
        with pytest.raises(WriteError) as e:
            _run(["write", "--image", str(_image(tmp_path)), "--target", str(link), "--identity", _fake_identity()])
        assert "refusing to write" in e.value.problem or "not the card you confirmed" in e.value.problem
        assert _canary_intact(tmp_path / "card", 32 * MiB)

    def test_an_image_the_user_cannot_read_is_not_copied(self, tmp_path, loops):
        dev = loops.attach(fill(tmp_path / "card", 32 * MiB, CANARY))
        secret = _image(tmp_path, "secret.sdcard")
        os.chmod(secret, 0o600)
        args = ["write", "--image", str(secret), "--target", dev, "--identity", json.dumps(identity_of(dev)),
                "--allow-non-removable"]
        env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534")
        proc = subprocess.run(_argv(args), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                              env=env, cwd="/")
        err = protocol.decode(proc.stdout.splitlines()[-1])
        assert isinstance(err, protocol.ErrorMsg) and "may not read the image" in err.problem
        assert _canary_intact(tmp_path / "card", 32 * MiB)


@pytest.mark.usefixtures("root")
def test_helper_writes_and_verifies_a_confirmed_loop_device(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB + 1536, [(MiB, 2 * MiB), (16 * MiB, 1536)])  # odd size
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB, CANARY))
    seen: list = []
    res = _run(["write", "--image", str(img), "--target", dev, "--identity", json.dumps(identity_of(dev)),
                "--allow-non-removable", "--verify-full"], progress=seen.append)
    assert res.ok and res.data["verified"] == res.data["written"] > 0 and res.data["path_used"] == "helper"
    assert res.data["zeros_checked"] + res.data["verified"] == img.stat().st_size
    assert {p.label for p in seen} >= {"Writing", "Verifying"}
    size = img.stat().st_size
    with open(dev, "rb") as f:
        assert f.read(size) == img.read_bytes()
    res = _run(["verify", "--image", str(img), "--target", dev, "--full", "--allow-non-removable"])
    assert res.data["verified"] > 0 and res.data["zeros_checked"] > 0


@pytest.mark.usefixtures("root")
def test_cancel_reaches_the_helper(tmp_path, loops):
    img = make_image(tmp_path / "a.sdcard", 256 * MiB, [(MiB, 250 * MiB)])
    dev = loops.attach(fill(tmp_path / "card", 300 * MiB, CANARY))
    state = {"n": 0}

    def progress(p):
        if p.label == "Writing":
            state["n"] += 1

    args = ["write", "--image", str(img), "--target", dev, "--identity", json.dumps(identity_of(dev)),
            "--allow-non-removable"]
    with pytest.raises(WriteCancelled) as e:
        _run(args, progress=progress, cancel=lambda: state["n"] > 0)
    assert "partly written" in str(e.value) or "erased" in str(e.value)


def test_protocol_round_trip_and_plain_lines():
    for msg in (protocol.ProgressMsg("Writing", 5, 10), protocol.LineMsg("hi"),
                protocol.ResultMsg(True, {"rc": 0}), protocol.ErrorMsg("bad", "Nothing was written.", 1)):
        assert protocol.decode(protocol.encode(msg)) == msg
    assert protocol.decode("not json") is None
    assert protocol.decode('{"event": "progress", "label": 3, "done": "x"}') is None
    assert protocol.decode('{"event": "weird"}') is None


def test_unprivileged_uses_sudo_and_an_isolated_python(monkeypatch):
    monkeypatch.setattr(elevate, "is_root", lambda: False)
    monkeypatch.setattr(elevate, "installed_helper", lambda: None)
    monkeypatch.setattr(elevate.shutil, "which", lambda name: "/usr/bin/sudo" if name == "sudo" else None)
    argv = elevate.helper_argv(["write"])
    assert argv[:5] == ["sudo", "-n", "--", sys.executable, "-I"] and argv[5].endswith("flash_helper.py")
    assert not any(a.startswith("PYTHONPATH") for a in argv)
    monkeypatch.setattr(elevate.shutil, "which", lambda name: None)
    with pytest.raises(Exception, match="neither udisks2, sudo nor pkexec"):
        elevate.helper_argv(["write"])


@pytest.mark.usefixtures("root")
def test_what_dosdcard_made_as_root_becomes_the_users_without_chown(tmp_path):
    """elevate.take_back runs as the user: root's files in the user's folder are copied into files the user owns
    (sparse), never chowned by root; a link planted in the folder is left alone."""
    import shutil
    import tempfile

    box = Path(tempfile.mkdtemp(prefix="wrnv-takeback-"))
    try:
        box.chmod(0o755)
        work = box / "work"
        work.mkdir()
        made = work / "out.sdcard"
        with open(made, "wb") as f:
            f.write(b"\x55" * 4096)
            f.seek(64 * MiB)
            f.write(b"\xaa" * 4096)
        made.chmod(0o644)
        (work / "link").symlink_to("/etc/passwd")
        os.chown(work, 65534, 65534)
        code = "import sys; from pathlib import Path; from wizard.card.elevate import take_back; take_back(Path(sys.argv[1]))"
        proc = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", code, str(work)],
                              capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 0, proc.stderr
        st = made.stat()
        assert st.st_uid == 65534 and st.st_size == 64 * MiB + 4096
        assert st.st_blocks * 512 < 1 * MiB                   # copied sparse
        with open(made, "rb") as f:
            assert f.read(4096) == b"\x55" * 4096
        assert Path("/etc/passwd").stat().st_uid == 0 and (work / "link").is_symlink()
    finally:
        shutil.rmtree(box, ignore_errors=True)
