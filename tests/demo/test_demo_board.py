"""The demo's stand-in board: a real sshd on 127.0.0.1 that the real `check-board` passes end to end.

Real parts: OpenSSH's sshd and client, ssh-keyscan host-key trust in the sandbox's own known_hosts, the
installed `wrnv-wizard` command, and the real GPU probe piped over ssh into the stand-in docker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.core.paths import asset
from wizard.demo import board as demo_board
from wizard.demo import sandbox

WIZARD = Path(sys.executable).with_name("wrnv-wizard")


def _need_board() -> None:
    why = demo_board.DemoBoard(Path("/nonexistent"), Path("/nonexistent")).why_not()
    if why:
        pytest.skip(f"the stand-in board cannot run here: {why}")
    for tool in ("ssh", "ssh-keyscan"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt install openssh-client)")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    _need_board()
    s = sandbox.build(tmp_path_factory.mktemp("demo") / "sb", use_loop=False)
    assert s.board is not None and s.board.running, s.board.reason if s.board else "no board"
    yield s
    s.close()


def _env(s) -> dict:
    env = dict(os.environ)
    env.update(s.env)
    env["PATH"] = f"{s.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_check_board_passes_every_check_against_the_sandbox_board(sb):
    if not WIZARD.exists():
        pytest.skip(f"{WIZARD} is not installed (pip install -e .)")
    a = sb.answers()
    assert (a["board_host"], a["board_port"]) == ("127.0.0.1", sb.board.port)
    argv = [str(WIZARD), "check-board", "--profile", str(sb.profile_path), "--project", str(sb.project),
            a["board_host"], "--port", str(a["board_port"]), "--user", a["board_user"],
            "--identity", a["board_identity"], "--accept-new-host-key", "--json"]
    r = subprocess.run(argv, env=_env(sb), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert [c["status"] for c in report["checks"]] == ["pass"] * 8, report
    dev = report["gpu"]["devices"][0]
    assert report["gpu"]["ok"] and dev["name"] == "NVIDIA Tegra X1 (wrnv demo stand-in)"
    assert dev["compute_capability"] == "5.3" and dev["integrated"] is True
    assert 3.5 * 2**30 < dev["total_memory_bytes"] < 4 * 2**30
    # The host key was trusted in the sandbox's config folder, never the user's.
    known = Path(sb.env["WRNV_CONFIG_DIR"]) / "known_hosts"
    assert f"[127.0.0.1]:{sb.board.port}" in known.read_text()
    # A second run trusts what is known: no flag needed, still every check passes.
    r2 = subprocess.run([x for x in argv if x != "--accept-new-host-key"], env=_env(sb), capture_output=True,
                        text=True, timeout=120)
    assert r2.returncode == 0, r2.stdout + r2.stderr


def test_probe_without_the_nvidia_runtime_finds_no_driver(sb, tmp_path):
    import ctypes.util

    from wizard.board.ssh import SshClient, SshTarget

    if ctypes.util.find_library("cuda"):
        pytest.skip("this machine has a real CUDA driver: a container without the runtime would find it")
    a = sb.answers()
    client = SshClient(SshTarget(a["board_host"], a["board_user"], a["board_port"]),
                       identity=a["board_identity"], known_hosts=tmp_path / "known_hosts", config_file="/dev/null")
    try:
        client.ensure_trusted(lambda keys: True)
        probe = asset("probe", "gpu_probe.py").read_bytes()
        plain = client.run("docker run --rm -i paroque28/l4t-tensorflow python3 -", timeout=60, stdin=probe)
        nvidia = client.run("docker run --rm -i --runtime nvidia paroque28/l4t-tensorflow python3 -", timeout=60,
                            stdin=probe)
    finally:
        client.close()
    out = json.loads(plain.stdout.strip().splitlines()[-1])
    assert plain.returncode == 2 and out["error"] == "no CUDA driver", plain.stdout + plain.stderr
    assert nvidia.returncode == 0 and json.loads(nvidia.stdout)["ok"] is True, nvidia.stdout + nvidia.stderr


def test_stop_leaves_no_sshd_running(tmp_path):
    _need_board()
    b = demo_board.DemoBoard(tmp_path, sandbox.make_bin(tmp_path))
    assert b.start(), b.reason
    pid = b.proc.pid
    # A session still open when the demo ends (ssh's ControlMaster keeps one): stop() must end it too.
    ssh = subprocess.Popen(["ssh", "-F", "/dev/null", "-i", str(b.identity), "-o", "BatchMode=yes",
                            "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={tmp_path / 'kh'}",
                            "-p", str(b.port), f"{b.user}@127.0.0.1", "sleep 60"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        def session_runs() -> bool:
            # sshd's own short-lived children come and go first: wait for the session's command itself
            for p in demo_board.descendants(pid):
                try:
                    if b"sleep" in Path(f"/proc/{p}/cmdline").read_bytes():
                        return True
                except OSError:
                    pass
            return False

        end = time.monotonic() + 10
        while not session_runs() and time.monotonic() < end:
            time.sleep(0.05)
        sessions = demo_board.descendants(pid)
        assert session_runs() and sessions, "the ssh session did not reach the stand-in board"
        b.stop()
        assert not b.running and not _listening(b.port)
        assert [p for p in [pid, *sessions] if demo_board.alive(p)] == []
        assert ssh.wait(timeout=10) != 0   # its connection was closed by the board
    finally:
        ssh.kill()
        ssh.wait()
        b.stop()


def test_without_root_nothing_starts_and_the_reason_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_board.os, "geteuid", lambda: 1000)
    b = demo_board.DemoBoard(tmp_path, sandbox.make_bin(tmp_path))
    assert b.start() is False and b.proc is None
    assert "needs root and openssh-server" in b.reason and "\n" not in b.reason
    assert b.note() == b.reason
    a = b.answers()
    assert a["board_host"] == "127.0.0.1" and a["board_identity"] == "" and not _listening(a["board_port"])
    assert not (tmp_path / "board" / "sshd_config").exists()
