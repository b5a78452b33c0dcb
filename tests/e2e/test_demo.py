"""Issue 8 end to end, in a real terminal, on the installed command: the unattended demo, the plain demo
answered by keystrokes, and a bad answers file."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from wrnvtest import run_cli, wizard_command

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


def demo_board_possible() -> bool:
    return os.geteuid() == 0 and Path("/usr/sbin/sshd").exists()


def statuses(project: Path) -> dict:
    state = json.loads((project / ".wrnv-wizard" / "state.json").read_text())
    return {k: v["status"] for k, v in state["steps"].items()}


def test_demo_auto_reaches_the_summary_and_exits(tmux, tmp_path):
    demo = tmp_path / "demo"
    t0 = time.monotonic()
    tmux.start([*wizard_command(), "--demo", "--auto", "--exit-at-end", "--demo-dir", str(demo)],
               env={"HOME": str(tmp_path)})
    tmux.wait_for("DEMO", 60)
    tmux.wait_for("Step 12 of 12: Summary", 180)
    code = tmux.exit_code(60)
    took = time.monotonic() - t0
    st = statuses(demo / "project")
    assert st["summary"] == "done" and st["build"] == "done" and st["flash"] == "done", st
    if demo_board_possible():
        assert code == 0 and set(st.values()) == {"done"}, st
    else:
        assert code == 1 and st["boot"] in ("failed", "skipped")
    assert took < 180, f"the unattended demo took {took:.0f}s (goal: under 3 minutes)"
    assert (demo / "card.img").stat().st_blocks > 0      # the virtual card was really written


PENDING = re.compile(r"^\? .*(\(Use arrow keys|\(y/N\)\s*$|\(Y/n\)\s*$|to erase it \(anything else cancels\):\s*$)")


def pending_prompt(screen: str):
    """The last questionary prompt on screen if it still waits for an answer."""
    prompts = [ln.rstrip() for ln in screen.splitlines() if ln.startswith("? ")]
    if prompts and PENDING.match(prompts[-1]):
        return prompts[-1]
    return None


def answer_prompts(tmux, until: str, timeout: float = 240) -> str:
    """Answer each prompt as a newcomer would: accept the defaults, say yes, type the card's name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = tmux.screen()
        if until in screen:
            return screen
        prompt = pending_prompt(screen)
        if prompt:
            typed = re.search(r"\? Type (\S+) to erase", prompt)
            if typed:
                tmux.send(typed.group(1), "Enter")
            elif prompt.endswith(("(y/N)", "(Y/n)")):
                tmux.send("y")
            else:
                tmux.send("Enter")
            # Wait for that prompt to be answered before looking for the next one.
            t = time.monotonic()
            while pending_prompt(tmux.screen()) == prompt and time.monotonic() - t < 10:
                time.sleep(0.1)
        time.sleep(0.2)
    raise AssertionError(f"{until!r} not reached; screen:\n{tmux.screen()}")


def test_plain_demo_answered_by_keystrokes(tmux, tmp_path):
    demo = tmp_path / "demo"
    tmux.width, tmux.height = 120, 40
    tmux.start([*wizard_command(), "--plain", "--demo", "--demo-dir", str(demo), "--demo-speed", "4"],
               env={"HOME": str(tmp_path)})
    screen = answer_prompts(tmux, "All steps done." if demo_board_possible() else "Step 11")
    if demo_board_possible():
        assert tmux.exit_code(30) == 0
        st = statuses(demo / "project")
        assert set(st.values()) == {"done"}, st
    assert "== Step 10 of 12: Write the card ==" in screen or statuses(demo / "project")["flash"] == "done"


def test_plain_answers_with_a_bad_key_fails_with_one_line(tmp_path):
    bad = tmp_path / "answers.toml"
    bad.write_text('machine = "jetson-nano-qspi-sd"\ndistros = "wrlinux"\n')
    out = run_cli("--plain", "--answers", str(bad), "--project", str(tmp_path / "p"))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'distros'" in lines[0] and str(bad) in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_plain_answers_with_a_bad_value_names_the_allowed_ones(tmp_path):
    bad = tmp_path / "answers.toml"
    bad.write_text('distro = "ubuntu"\n')
    out = run_cli("--plain", "--answers", str(bad), "--project", str(tmp_path / "p"))
    assert out.returncode == 1
    assert "distro = 'ubuntu' is not allowed; use one of: wrlinux, wrlinux-graphics" in out.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux missing")
def test_answers_example_drives_a_plain_demo_to_the_card(tmux, tmp_path):
    """With --answers nothing is asked except the typed card confirmation."""
    answers = tmp_path / "answers.toml"
    answers.write_text('distro = "wrlinux"\npackages = ["cudnn"]\n')
    demo = tmp_path / "demo"
    tmux.width, tmux.height = 120, 40
    tmux.start([*wizard_command(), "--plain", "--demo", "--answers", str(answers), "--demo-dir", str(demo),
                "--demo-speed", "4"], env={"HOME": str(tmp_path)})
    screen = tmux.wait_for("? Type", 180)
    assert "? Start?" not in screen and "Jetson board (machine)" not in screen
    name = re.search(r"\? Type (\S+) to erase", screen).group(1)
    tmux.send(name, "Enter")
    tmux.wait_for("== Step 11 of 12", 60)
