"""Ctrl+X and Ctrl+Q during a build, in a real terminal (tmux, 80x24): both ask first; quitting says the build
goes on after the wizard quits, and it does (the build is detached)."""

from __future__ import annotations

import json
import time

from wrnvtest import wizard_command
from wrnvtmux import tmux  # noqa: F401  (fixture)

from wizard.build.runner import BuildRun
from wizard.core.steps import Status

from .conftest import REPO, make_project, stop_leftover_build


def _project_at_build_step(tmp_path):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    # the suite runs as root: a profile copy that says its bitbake (the stand-in) runs as root, as the demo's
    # profile does; the product's profile keeps bitbake_refuses_root = true
    src = (REPO / "assets" / "profiles" / "wrlinux-lts19-jetpack-4.3.toml").read_text()
    assert "bitbake_refuses_root = true" in src
    profile = tmp_path / "test-profile.toml"
    profile.write_text(src.replace("bitbake_refuses_root = true", "bitbake_refuses_root = false"))
    proj = make_project(tmp_path)
    session = Session(load_profile(str(profile)), proj)
    for step in ("welcome", "prereqs", "host", "downloads", "board", "project", "localconf"):
        session.mark(step, Status.DONE)
    return proj, profile


def test_ctrl_x_and_ctrl_q_ask_during_a_build(tmux, tmp_path):  # noqa: F811
    proj, profile = _project_at_build_step(tmp_path)
    env = {"HOME": str(tmp_path), "WRNV_FAKE_BITBAKE_ALLOW_ROOT": "1", "WRNV_FAKE_BITBAKE_SPEED": "0.05"}
    try:
        tmux.start([*wizard_command(), "--project", str(proj), "--profile", str(profile)], env=env)
        tmux.wait_for("Ready to build", timeout=60)
        tmux.send("C-r")
        tmux.wait_for("Building wrlinux-image-glibc-std", timeout=60)
        tmux.wait_for("Running (", timeout=60)
        # Ctrl+X asks; Escape keeps building
        tmux.send("C-x")
        screen = tmux.wait_for("Stop the build?", timeout=20)
        assert "Keep building" in screen
        tmux.send("Escape")
        deadline = time.monotonic() + 20
        while "Stop the build?" in tmux.screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        state = json.loads((proj / ".wrnv-wizard" / "state.json").read_text())["steps"]["build"]
        run = BuildRun.from_data(state["data"])
        assert state["status"] == "running" and run.alive() and not run.stop_requested()
        # Ctrl+Q asks and says the build goes on; quitting leaves it running
        tmux.send("C-q")
        tmux.wait_for("Quit the wizard?", timeout=20)
        time.sleep(0.5)
        screen = tmux.screen()
        # the box wraps the text between its borders; what shows beside the box is the step underneath
        inside = [line[line.index("█") + 1:line.rindex("█")] for line in screen.splitlines() if line.count("█") >= 2]
        words = " ".join(" ".join(inside).split())
        assert "goes on after the wizard quits" in words, screen
        tmux.send("Tab")
        tmux.send("Enter")
        assert tmux.exit_code(timeout=30) == 0
        assert run.alive() and run.exit_code() is None and not run.stop_requested()
    finally:
        stop_leftover_build(proj)
