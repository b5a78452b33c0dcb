"""The privileged helper's JSON-lines protocol and the engine-side client, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from flashkit import REPO, MiB, make_image

from wizard.card import elevate
from wizard.card.writer import WriteCancelled, WriteError


def _direct(args: list) -> list:
    return [sys.executable, "-m", "wizard.card.flash_helper", "--control-stdin", *args]


def test_client_gets_progress_and_result(tmp_path):
    img = make_image(tmp_path / "a.sdcard", 32 * MiB, [(MiB, 2 * MiB)])
    out = tmp_path / "vm.raw"
    seen = []
    args = ["write", "--image", str(img), "--target", str(out)]
    res = elevate.run_helper(args, progress=seen.append, argv=_direct(args))
    assert res["ok"] is True and res["verified"] == res["written"] > 0
    assert {p.label for p in seen} >= {"Writing", "Verifying"}
    assert out.read_bytes() == img.read_bytes()


def test_helper_errors_become_write_errors(tmp_path):
    args = ["write", "--image", str(tmp_path / "missing.sdcard"), "--target", str(tmp_path / "x")]
    with pytest.raises(WriteError) as e:
        elevate.run_helper(args, argv=_direct(args))
    assert "does not exist" in str(e.value) and e.value.card_state == "Nothing was written."


def test_cancel_reaches_the_helper(tmp_path):
    img = make_image(tmp_path / "a.sdcard", 512 * MiB, [(MiB, 500 * MiB)])
    out = tmp_path / "vm.raw"
    state = {"n": 0}

    def progress(p):
        if p.label == "Writing":
            state["n"] += 1

    args = ["write", "--image", str(img), "--target", str(out)]
    with pytest.raises(WriteCancelled) as e:
        elevate.run_helper(args, progress=progress, cancel=lambda: state["n"] > 0, argv=_direct(args))
    assert "partly written" in str(e.value) or "erased" in str(e.value)


def test_helper_output_is_json_lines_only(tmp_path):
    img = make_image(tmp_path / "a.sdcard", 16 * MiB, [(MiB, MiB)])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "wizard.card.flash_helper", "write", "--image", str(img), "--target",
                           str(tmp_path / "o.raw"), "--no-verify"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["verified"] == 0
    assert all(e["event"] in ("progress", "result") for e in events)


def test_as_root_no_sudo_is_used(monkeypatch):
    monkeypatch.setattr(elevate, "is_root", lambda: True)
    argv = elevate.helper_argv(["write"])
    assert argv[:3] == [sys.executable, "-m", "wizard.card.flash_helper"]


def test_unprivileged_uses_sudo_non_interactively_after_authenticate(monkeypatch):
    monkeypatch.setattr(elevate, "is_root", lambda: False)
    monkeypatch.setattr(elevate.shutil, "which", lambda name: "/usr/bin/sudo" if name == "sudo" else None)
    argv = elevate.helper_argv(["write"])
    assert argv[:3] == ["sudo", "-n", "--"] and any(a.startswith("PYTHONPATH=") for a in argv)
    monkeypatch.setattr(elevate.shutil, "which", lambda name: None)
    with pytest.raises(Exception, match="neither sudo nor pkexec"):
        elevate.helper_argv(["write"])
