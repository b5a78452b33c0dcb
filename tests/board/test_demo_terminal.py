"""The seed's demo runs in the real terminal: the app is suspended, `ssh -t` gets the tty, and the app
comes back afterwards, however the demo is left at "Press Enter to go back" (Enter, Ctrl-C, Ctrl-D).
Driven through tmux, against the real sshd and the fake Jetson.

Why the ways out: input() raises EOFError on Ctrl-D, and Ctrl-C reaches the suspended app as SIGINT. An
exception leaving Textual's suspend block leaves the app suspended for good, and asyncio's SIGINT handler
would cancel the app's main task (the whole wizard quits); screens/terminal.in_terminal catches both.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import sys
sys.path.insert(0, {repo!r})
from wizard.core.session import Session
from screens.app import WizardApp
s = Session.open({project!r}, {profile!r})
s.update_answers(board_host="127.0.0.1", board_port={port}, board_identity={identity!r})
WizardApp(s, start_at="boot").run()
"""

DEMO = 'import sys\nprint("stand-in demo: NVIDIA Tegra X1, Compute Capability 5.3, tty=%s" % sys.stdout.isatty())\n'


ENDINGS = [
    ("C-c", "The demo was stopped with Ctrl+C."),
    ("C-d", "The demo was stopped: the terminal closed its input (Ctrl+D)."),
    ("Enter", "The demo ended with exit code 0."),
]


def _demo_at_the_prompt(board_host, jetson, libcuda_standin, tmp_path, tmux, parent=()) -> str:
    """The app at the Boot step (run under `parent`, if any), checks passed, the demo run: "Press Enter"."""
    from wizard.board.ssh import SshClient, SshTarget

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
    tmux.start([*parent, sys.executable, str(driver)], env={"WRNV_CONFIG_DIR": cfg})   # 80x24 by default
    tmux.wait_for("Step 11 of 12: Boot & check")
    tmux.send("F5")
    screen = tmux.wait_for("every check passed", timeout=60)
    assert "Board reachable on the network" in screen   # the checks are in view at 80x24
    tmux.send("F6")
    screen = tmux.wait_for("Press Enter to go back")    # the app is suspended: ssh -t ran the demo
    assert "stand-in demo: NVIDIA Tegra X1, Compute Capability 5.3, tty=True" in screen
    return screen


def _back_in_the_wizard(tmux, said: str) -> None:
    """The app is back, says how the demo ended, had not quit by itself, and quits on ctrl+q with 0."""
    screen = tmux.wait_toast(said, timeout=20)
    assert "Step 11 of 12: Boot & check" in screen
    assert "Traceback" not in screen
    assert not tmux.exit_file.exists(), screen
    tmux.send("C-q")
    assert tmux.exit_code() == 0, tmux.screen()


@pytest.mark.tmux
def test_demo_runs_in_the_real_terminal(board_host, jetson, libcuda_standin, tmp_path, tmux):
    screen = _demo_at_the_prompt(board_host, jetson, libcuda_standin, tmp_path, tmux)
    assert f"$ ssh -t -p {board_host['port']} root@127.0.0.1 docker run --runtime nvidia -it" in screen
    tmux.send("Enter")
    _back_in_the_wizard(tmux, ENDINGS[2][1])


@pytest.mark.tmux
@pytest.mark.parametrize("key, said", ENDINGS[:2], ids=["ctrl-c", "ctrl-d"])
def test_leaving_the_demo_otherwise_comes_back_to_the_wizard(board_host, jetson, libcuda_standin, tmp_path, tmux,
                                                              key, said):
    _demo_at_the_prompt(board_host, jetson, libcuda_standin, tmp_path, tmux)
    tmux.send(key)
    _back_in_the_wizard(tmux, said)


@pytest.mark.tmux
def test_ctrl_c_that_arrives_twice_still_comes_back(board_host, jetson, libcuda_standin, tmp_path, tmux):
    """Under a parent that passes SIGINT on to its child (umockdev-run does, as some wrappers do), one Ctrl-C
    reaches the wizard twice, microseconds apart: the second must not hit the app while it resumes."""
    umockdev = shutil.which("umockdev-run")
    if umockdev is None:
        pytest.skip("needs umockdev-run (apt install umockdev) as a parent that passes SIGINT on")
    _demo_at_the_prompt(board_host, jetson, libcuda_standin, tmp_path, tmux, parent=(umockdev, "--"))
    tmux.send("C-c")
    _back_in_the_wizard(tmux, ENDINGS[0][1])
