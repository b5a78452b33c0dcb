"""The Image step's sudo prompt, for real: an unprivileged user runs the wizard in a real terminal (tmux) with
a Jetson Nano in recovery mode "plugged in" (umockdev), picks "board in recovery mode", presses Start, and
sudo asks for the password with the app suspended.

Why: dosdcard.sh reads a recovery-mode board over USB, which needs root, so the Image screen suspends the
app for `sudo -v` first. A refused password (three wrong ones) or Ctrl-C at the prompt leaves that block by
an exception; the app must come back from its suspension (not frozen on sudo's last words, not quit) and say
in one notification that no image was made. The successful path cannot run here: root's helper does not see
umockdev's fake /sys (it reads the real one), so it is not tested.

Needs what tests/flash/test_sudo.py needs (root, sudo, useradd, tmux, a venv other users may run), plus
umockdev-run, mkfs.ext4 and sgdisk (the stand-in tegraflash package).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import test_sudo
from test_sudo import User, _tool
from wrnvtest import wizard_command
from wrnvtmux import Tmux

pytestmark = [pytest.mark.root, pytest.mark.tmux, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "disks" / "fixtures" / "jetson-nano-recovery.umockdev"
MACHINE, IMAGE = "jetson-nano-qspi-sd", "wrlinux-image-glibc-std"
WRONG = "not-the-password"

make_user = test_sudo.make_user     # fixture: a temporary user who may run the wizard's helper through sudo
installed = test_sudo.installed     # fixture: the root-owned helper copy the sudoers rule names


@pytest.fixture
def term(make_user, tmp_path):
    """A real terminal, closed before the user is removed."""
    t = Tmux(tmp_path, width=160, height=50)
    yield t
    t.kill()


@pytest.fixture(scope="module")
def tegraflash_zip(tmp_path_factory) -> Path:
    """The stand-in tegraflash package, built once by the real tools (mkfs.ext4, sgdisk)."""
    for t in ("mkfs.ext4", "sgdisk"):
        if not _tool(t):
            pytest.skip(f"needs {t} (apt install e2fsprogs gdisk)")
    from wizard.demo.fake_tegraflash import make_tegraflash_zip

    z = tmp_path_factory.mktemp("tegraflash") / f"{IMAGE}-{MACHINE}-20260101000000.tegraflash.zip"
    make_tegraflash_zip(z, MACHINE, IMAGE)
    return z


def _project_at_image(user: User, package: Path) -> Path:
    """A project owned by the user whose steps before "SD-card image" are done and whose build left a
    tegraflash package: the app resumes at the Image step."""
    from wizard.card.sdimage import deploy_dir
    from wizard.core.profile import load_profile
    from wizard.core.session import Session
    from wizard.core.steps import STEP_IDS, Status

    project = user.home / "project"
    session = Session.open(project)
    session.update_answers(machine=MACHINE, image=IMAGE)
    for sid in STEP_IDS[:STEP_IDS.index("image")]:
        session.mark(sid, Status.DONE, "done by the test")
    deploy = deploy_dir(load_profile(), project, MACHINE)
    deploy.mkdir(parents=True)
    shutil.copyfile(package, deploy / package.name)
    subprocess.run(["chown", "-R", f"{user.name}:{user.name}", str(project)], check=True)
    return project


def _image_status(project: Path) -> str:
    state = json.loads((project / ".wrnv-wizard" / "state.json").read_text())
    return state["steps"]["image"]["status"]


def _start_at_the_prompt(term: Tmux, user: User, project: Path) -> None:
    """Run the wizard as the user with a Jetson Nano in recovery mode plugged in (umockdev), pick that source
    and press Start: the app suspends itself and sudo's prompt shows in the terminal."""
    umockdev = shutil.which("umockdev-run")
    if not umockdev:
        pytest.skip("needs umockdev-run (apt install umockdev)")
    # As from an interactive shell: the wizard is the terminal's foreground job (bash -m), so Ctrl-C reaches it
    # and sudo once. umockdev-run stays in the background group: in the foreground it would pass on a second
    # SIGINT of its own to the wizard.
    job = ["bash", "-mc", '"$@"; exit $?', "bash", *wizard_command(), "--project", project]
    term.start(user.run_as(umockdev, "-d", FIXTURE, "--", *job), cwd=user.box)
    term.wait_for("Step 9 of 12: SD-card image")
    # The board is seen only because umockdev shows NVIDIA 0955:7f21 on USB.
    screen = term.wait_for("Detected: Jetson Nano in recovery mode (USB 0955:7f21")
    assert f"Package: {IMAGE}-{MACHINE}-" in screen, screen
    assert "USB recovery mode" not in screen                # the pin diagram shows once that source is picked
    time.sleep(0.5)                                         # let the screen focus its first widget first
    term.send("Tab")                                        # the sources (RadioSet); its first one is highlighted
    term.send("Enter")                                      # picks "A Jetson Nano ... in recovery mode"
    term.wait_for("start it in USB recovery mode")          # the diagram: that source is picked
    term.send("Tab", "Enter")                               # "Make the SD-card image"
    term.wait_for("dosdcard.sh reads the board over USB, which needs root")     # the app is suspended
    term.wait_for(user.prompt)


def _back_in_the_app(term: Tmux, project: Path, *words: str) -> None:
    """The app came back from its suspension, refused in one notification, made nothing, and quits on
    ctrl+q with exit code 0 (it had not quit by itself)."""
    screen = term.wait_toast("No image was made.")
    said = term.toasts(screen)
    assert said.count("No image was made.") == 1, said
    for w in words:
        assert w in said, (w, said)
    assert "Step 9 of 12: SD-card image" in screen
    assert "Traceback" not in screen
    assert not term.exit_file.exists(), screen
    assert _image_status(project) != "done"
    term.send("C-q")
    assert term.exit_code() == 0, term.screen()
    assert _image_status(project) != "done"


def test_wrong_password_three_times_comes_back_and_makes_no_image(make_user, term, tegraflash_zip):
    user = make_user()
    project = _project_at_image(user, tegraflash_zip)
    _start_at_the_prompt(term, user, project)
    for tries in range(1, 4):
        deadline = time.monotonic() + 30
        while term.screen().count(user.prompt) < tries:      # sudo waits ~2 s after each wrong one
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.2)
        term.send(WRONG, "Enter")
    _back_in_the_app(term, project, "sudo did not accept the password")
    assert WRONG not in term.screen()
    assert _image_status(project) == "pending"


def test_ctrl_c_at_the_prompt_comes_back_and_makes_no_image(make_user, term, tegraflash_zip):
    user = make_user()
    project = _project_at_image(user, tegraflash_zip)
    _start_at_the_prompt(term, user, project)
    term.send("half-typ")
    term.send("C-c")
    _back_in_the_app(term, project, "password prompt cancelled")
    assert _image_status(project) == "pending"


def test_without_a_board_in_recovery_mode_sudo_is_not_asked(make_user, term, tegraflash_zip):
    """The other side of "offered only when plugged in": no Jetson on USB (no umockdev), the recovery-mode
    source says so when started, and sudo is not run."""
    user = make_user()
    project = _project_at_image(user, tegraflash_zip)
    term.start(user.argv("--project", project), cwd=user.box)
    screen = term.wait_for("Step 9 of 12: SD-card image")
    deadline = time.monotonic() + 10
    while not any(w in screen for w in ("No Jetson in recovery mode on USB", "Cannot watch USB here", "Detected:")):
        assert time.monotonic() < deadline, screen
        time.sleep(0.2)
        screen = term.screen()
    if "Detected:" in screen:
        pytest.skip("a Jetson in recovery mode is really plugged in here")
    time.sleep(0.5)
    term.send("Tab", "Enter")
    term.wait_for("start it in USB recovery mode")
    term.send("Tab", "Enter")
    said = term.toasts(term.wait_toast("No Jetson in recovery mode is plugged in"))
    assert "No image was made" not in said
    assert user.prompt not in term.screen()
    term.send("C-q")
    assert term.exit_code() == 0, term.screen()
    assert _image_status(project) == "pending"
