"""The seed's demo runs in the real terminal: the app is suspended, `ssh -t` gets the tty, and the app
comes back afterwards. Driven through tmux, against the real sshd and the fake Jetson."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import sys
sys.path.insert(0, {repo!r})
from wizard.session import Session
from screens.app import WizardApp
s = Session.open({project!r}, {profile!r})
s.update_answers(board_host="127.0.0.1", board_port={port}, board_identity={identity!r})
WizardApp(s, start_at="boot").run()
"""

DEMO = 'import sys\nprint("stand-in demo: NVIDIA Tegra X1, Compute Capability 5.3, tty=%s" % sys.stdout.isatty())\n'


def _pane(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout


def _wait(name: str, text: str, timeout: float = 60, log: Path = None) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pane = _pane(name)
        if text in pane:
            return pane
        time.sleep(0.2)
    errors = log.read_text() if log and log.exists() else ""
    raise AssertionError(f"{text!r} did not appear; the pane shows:\n{_pane(name)}\nstderr:\n{errors[-3000:]}")


@pytest.mark.tmux
def test_demo_runs_in_the_real_terminal(board_host, jetson, libcuda_standin, tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    from wizard.ssh import SshClient, SshTarget

    jetson.install_libcuda(libcuda_standin)
    (jetson.folder / "workdir").mkdir(exist_ok=True)
    (jetson.folder / "workdir" / "tensorflow_demo.py").write_text(DEMO)
    cfg = tmp_path / "cfg"
    with SshClient(SshTarget("127.0.0.1", "root", board_host["port"]), known_hosts=cfg / "known_hosts",
                   config_file="/dev/null", multiplex=False) as c:
        c.ensure_trusted(lambda keys: True)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(repo=str(REPO), project=str(tmp_path / "project"),
                                    profile=str(board_host["profile"]), port=board_host["port"],
                                    identity=str(board_host["identity"])))
    name = f"wrnv-demo-{uuid.uuid4().hex[:6]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "130", "-y", "45",
                    f"env WRNV_CONFIG_DIR={cfg} {sys.executable} {driver}; sleep 120"], check=True)
    try:
        _wait(name, "Step 11 of 12: Boot & check", log=tmp_path / "stderr.txt")
        subprocess.run(["tmux", "send-keys", "-t", name, "F5"], check=True)
        _wait(name, "every check passed", log=tmp_path / "stderr.txt")
        subprocess.run(["tmux", "send-keys", "-t", name, "F6"], check=True)
        pane = _wait(name, "Press Enter to go back")
        assert "stand-in demo: NVIDIA Tegra X1, Compute Capability 5.3, tty=True" in pane
        assert "docker run --runtime nvidia -it paroque28/l4t-tensorflow python3 ./tensorflow_demo.py" in pane
        subprocess.run(["tmux", "send-keys", "-t", name, "Enter"], check=True)
        _wait(name, "The demo ended with exit code 0")
        assert "Step 11 of 12: Boot & check" in _pane(name)
        subprocess.run(["tmux", "send-keys", "-t", name, "C-q"], check=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
