"""The seed's demo runs in the real terminal: the app is suspended, `ssh -t` gets the tty, and the app
comes back afterwards. Driven through tmux, against the real sshd and the fake Jetson."""

from __future__ import annotations

import sys
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


@pytest.mark.tmux
def test_demo_runs_in_the_real_terminal(board_host, jetson, libcuda_standin, tmp_path, tmux):
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
    tmux.start([sys.executable, str(driver)], env={"WRNV_CONFIG_DIR": cfg})   # 80x24, like a default terminal
    tmux.wait_for("Step 11 of 12: Boot & check")
    tmux.send("F5")
    screen = tmux.wait_for("every check passed", timeout=60)
    assert "Board reachable on the network" in screen   # the checks are in view at 80x24
    tmux.send("F6")
    screen = tmux.wait_for("Press Enter to go back")
    assert "stand-in demo: NVIDIA Tegra X1, Compute Capability 5.3, tty=True" in screen
    assert f"$ ssh -t -p {board_host['port']} root@127.0.0.1 docker run --runtime nvidia -it" in screen
    tmux.send("Enter")
    tmux.wait_for("The demo ended with exit code 0")
    assert "Step 11 of 12: Boot & check" in tmux.screen()
    tmux.send("C-q")
    assert tmux.exit_code() == 0
