"""The installed `wrnv-wizard` in a real terminal (tmux): first frame, moving between steps, ctrl+q."""

from __future__ import annotations

import json

import pytest
from wrnvtest import wizard_command

pytestmark = pytest.mark.tmux


def test_welcome_then_next_then_quit(tmux, tmp_path):
    project = tmp_path / "proj"
    tmux.start([*wizard_command(), "--project", str(project)], env={"HOME": str(tmp_path)})
    tmux.wait_for("Step 1 of 12: Welcome")
    # the step marks (the sidebar folds into them at 80 columns) and the footer (a frame may be half drawn)
    for part in ("▸○○○○○○○○○○○○", "Quit"):
        tmux.wait_for(part, timeout=5)
    tmux.send("C-n")
    tmux.wait_for("Step 2 of 12: NVIDIA prerequisites")
    tmux.send("C-b")
    tmux.wait_for("Step 1 of 12: Welcome")
    tmux.send("C-q")
    assert tmux.exit_code() == 0
    state = json.loads((project / ".wrnv-wizard" / "state.json").read_text())
    assert state["steps"]["welcome"]["status"] == "done"


def test_restart_resumes_where_it_left_off(tmux, tmp_path):
    project = tmp_path / "proj"
    tmux.start([*wizard_command(), "--project", str(project)], env={"HOME": str(tmp_path)})
    tmux.wait_for("Step 1 of 12")
    tmux.send("C-n")
    tmux.wait_for("Step 2 of 12")
    tmux.send("C-q")
    assert tmux.exit_code() == 0
    tmux.kill()

    from wrnvtmux import Tmux

    again = Tmux(tmp_path)
    try:
        again.start([*wizard_command(), "--project", str(project)], env={"HOME": str(tmp_path)})
        again.wait_for("Step 2 of 12: NVIDIA prerequisites")
        again.send("C-q")
        assert again.exit_code() == 0
    finally:
        again.kill()
