"""The stand-in board's logins must not depend on this computer's shell startup files.

bash started by sshd reads ~/.bashrc; on the CI host root's ~/.bashrc runs `pyenv init`, and one stale rehash
lock made every login wait a minute, so every board check "did not answer in time". Here the stand-in's sshd
runs in its own mount namespace where $HOME holds a .bashrc and .profile that hang (and leave a mark); the
host's own files are never touched. A plain sshd config is the control: it must hang the same way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from wrnvtest import stop_process

from wizard.demo.board import free_port, sshd_config

from .conftest import SSHD, _wait_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not SSHD.exists() or not shutil.which("unshare"),
                                reason="needs root, /usr/sbin/sshd and unshare (a private mount namespace)")


@pytest.fixture
def hanging_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    for name in (".bashrc", ".profile", ".bash_profile"):
        (home / name).write_text(f"touch {tmp_path}/read-{name}\nsleep 30\n")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "id.pub").read_text())
    return home


def _start(tmp_path: Path, home: Path, config: str, port: int) -> subprocess.Popen:
    (tmp_path / "sshd_config").write_text(config)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user_home = pwd.getpwuid(os.getuid()).pw_dir
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
         'mount --bind "$1" "$2" && exec "$3" -D -e -f "$4"', "sh", str(home), user_home, str(SSHD),
         str(tmp_path / "sshd_config")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_port(port, proc)
    return proc


def _ssh(tmp_path: Path, port: int, *args: str, timeout: float, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", f"UserKnownHostsFile={tmp_path}/kh", "-i", str(tmp_path / "id"), "-p", str(port),
         "root@127.0.0.1", *args],
        input=stdin, capture_output=True, text=True, timeout=timeout)


def test_login_never_reads_the_hosts_startup_files(hanging_home, tmp_path):
    port = free_port()
    proc = _start(tmp_path, hanging_home, sshd_config(port, tmp_path, tmp_path / "host_key",
                                                      {"PATH": "/usr/bin:/bin", "FAKE_JETSON": "here"}), port)
    try:
        start = time.monotonic()
        done = _ssh(tmp_path, port, 'echo "$FAKE_JETSON:$PATH"; echo "a b" | tr " " _', timeout=20)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["here:/usr/bin:/bin", "a_b"]
        # An interactive session (no command) gets a shell that reads nothing either.
        shell = _ssh(tmp_path, port, "-tt", timeout=20, stdin="echo inter-$FAKE_JETSON\nexit\n")
        assert "inter-here" in shell.stdout, shell.stdout + shell.stderr
        assert time.monotonic() - start < 15
        assert not list(tmp_path.glob("read-*")), "a startup file of this computer's user was read"
    finally:
        stop_process(proc)


def test_control_a_plain_sshd_hangs_on_the_same_home(hanging_home, tmp_path):
    """Without the stand-in's settings the same login hangs: the first test can fail."""
    port = free_port()
    plain = "\n".join(line for line in sshd_config(port, tmp_path, tmp_path / "host_key", {"PATH": "/usr/bin:/bin"})
                      .splitlines() if not line.startswith(("ForceCommand", "SetEnv")))
    proc = _start(tmp_path, hanging_home, plain + "\n", port)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            _ssh(tmp_path, port, "true", timeout=4)
        assert (tmp_path / "read-.bashrc").exists()
    finally:
        stop_process(proc)
