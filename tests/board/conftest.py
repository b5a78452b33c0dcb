"""A board-like host for the checks: a real OpenSSH server on 127.0.0.1 and a fake Jetson behind it.

- sshd: Debian's /usr/sbin/sshd, started once per test session on a free port with a generated host key,
  key login as the current user (root) against the tests' own authorized_keys. `SetEnv` in its config puts
  the stand-in `docker` first on PATH and names the fake Jetson folder.
- The fake Jetson ($FAKE_JETSON): `scenario.json` (what the stand-in docker answers) and `root/`, a fake
  filesystem root holding daemon.json, config.toml, the CSV folder and a stand-in libcuda. The profile the
  product loads is a copy of the real one whose [board] paths point into that root.
- Each test gets the fake Jetson reset to a complete, healthy board (`jetson` fixture) and breaks one link.
Nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wrnvtest import stop_process
from wrnvtmux import tmux  # noqa: F401  (fixture: a real terminal)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SSHD = Path("/usr/sbin/sshd")
BOARD_KEYS = ("csv_dir", "runtime_config", "daemon_json")

# What the seed's image holds: the same description the demo's stand-in board uses.
from wizard.demo.board import DAEMON_JSON, free_port, sshd_config  # noqa: E402
from wizard.demo.board import RUNTIME_CONFIG as CONFIG_TOML  # noqa: E402


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt install openssh-client openssh-server)")
    return path


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {proc.stderr.read().decode(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not start listening")


class FakeJetson:
    """The folder behind the stand-in docker; `reset()` makes it a healthy seed image."""

    def __init__(self, folder: Path, profile_path: Path):
        self.folder = folder
        self.root = folder / "root"
        self.profile_path = profile_path
        from wizard.core.profile import load_profile

        self.profile = load_profile(profile_path)
        self.board = {k: self.profile.board[k][len(str(self.root)):] for k in BOARD_KEYS}

    def path(self, key: str) -> Path:
        """A [board] path as it is on the fake root."""
        return self.root / self.board[key].lstrip("/")

    def scenario(self, **changes) -> None:
        sc = json.loads((self.folder / "scenario.json").read_text()) if (self.folder / "scenario.json").exists() else {}
        sc.update(changes)
        (self.folder / "scenario.json").write_text(json.dumps(sc))

    def reset(self, packages) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.folder / "scenario.json").unlink(missing_ok=True)
        self.scenario(docker="ok", runtimes=["nvidia", "runc"], pull="ok", csv_dir=self.board["csv_dir"])
        dj = self.path("daemon_json")
        dj.parent.mkdir(parents=True)
        dj.write_text(json.dumps(DAEMON_JSON, indent=4))
        ldconfig = self.root / "sbin" / "ldconfig"
        ldconfig.parent.mkdir(parents=True)
        ldconfig.write_text("#!/bin/sh\n")
        ldconfig.chmod(0o755)
        cfg = self.path("runtime_config")
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(CONFIG_TOML.format(ldconfig=ldconfig))
        csv = self.path("csv_dir")
        csv.mkdir(parents=True)
        from wizard.board.check import expected_csv

        for name in expected_csv(self.profile, packages):
            (csv / name).write_text("lib, /usr/lib/placeholder.so\n")
        (csv / "l4t.csv").write_text("dev, /dev/nvhost-ctrl\ndev, /dev/nvmap\n")

    def install_libcuda(self, libcuda: Path) -> None:
        """Put the stand-in driver where tegra-libraries puts libcuda, and list it in tegra-libraries.csv."""
        lib = self.root / "usr" / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        shutil.copy(libcuda, lib / "libcuda.so.1")
        (self.path("csv_dir") / "tegra-libraries.csv").write_text("lib, /usr/lib/libcuda.so.1\n")


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    """Our known_hosts must never be the user's real one."""
    monkeypatch.setenv("WRNV_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(scope="session")
def libcuda_standin(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the stand-in libcuda (apt install gcc)")
    out = tmp_path_factory.mktemp("libcuda") / "libcuda.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(HERE / "standin" / "libcuda_standin.c")],
                   check=True)
    return out


@pytest.fixture(scope="session")
def board_host(tmp_path_factory):
    """A running sshd on 127.0.0.1 plus the fake Jetson folder and the client key that logs in."""
    if os.geteuid() != 0:
        pytest.skip("sshd needs root to log in as the current user (privilege separation)")
    if not SSHD.exists():
        pytest.skip("/usr/sbin/sshd is missing (apt install openssh-server)")
    keygen = _need("ssh-keygen")
    _need("ssh")
    _need("ssh-keyscan")
    base = tmp_path_factory.mktemp("board")
    fake = base / "jetson"
    (fake / "bin").mkdir(parents=True)
    # The stand-in runs with this interpreter (no PATH lookup, no version shims in between).
    body = (HERE / "standin" / "docker").read_text().split("\n", 1)[1]
    (fake / "bin" / "docker").write_text(f"#!{sys.executable}\n{body}")
    (fake / "bin" / "docker").chmod(0o755)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_key")], check=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(base / "id_ed25519")], check=True)
    # A passphrase-protected key too: ssh asks for its passphrase through SSH_ASKPASS, the same path a
    # typed password takes (root's password cannot be set on a test machine).
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "s3cret phrase", "-f", str(base / "id_locked")], check=True)
    (base / "authorized_keys").write_text((base / "id_ed25519.pub").read_text() + (base / "id_locked.pub").read_text())
    # The product reads the paths from the profile; the tests' copy points them into the fake root.
    text = (REPO / "assets" / "profiles" / "wrlinux-lts19-jetpack-4.3.toml").read_text()
    for key in BOARD_KEYS:
        import re

        text = re.sub(rf'^{key} = "(/[^"]*)"', lambda m, k=key: f'{k} = "{fake}/root{m.group(1)}"', text,
                      flags=re.MULTILINE)
    profile = base / "board-test.toml"
    profile.write_text(text)
    port = free_port()
    path = f"{fake / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    (base / "sshd_config").write_text(sshd_config(port, base, base / "host_key", {"PATH": path, "FAKE_JETSON": fake}))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # privilege-separation folder Debian's sshd expects
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(base / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        jet = FakeJetson(fake, profile)
        yield {"port": port, "identity": base / "id_ed25519", "host_key": base / "host_key",
               "locked_identity": base / "id_locked", "passphrase": "s3cret phrase",
               "jetson": jet, "profile": profile}
    finally:
        stop_process(proc)


@pytest.fixture
def jetson(board_host) -> FakeJetson:
    """A healthy fake board, freshly reset for this test (every default package's CSV present)."""
    jet = board_host["jetson"]
    jet.reset(jet.profile.default_packages)
    return jet


@pytest.fixture
def client(board_host, tmp_path):
    """An SshClient for the test sshd that already trusts its host key (via the real scan)."""
    from wizard.board.ssh import SshClient, SshTarget

    c = SshClient(SshTarget("127.0.0.1", "root", board_host["port"]), identity=str(board_host["identity"]),
                  known_hosts=tmp_path / "known_hosts", connect_timeout=5, config_file="/dev/null")
    c.ensure_trusted(lambda keys: True)
    yield c
    c.close()
