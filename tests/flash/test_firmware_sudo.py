"""The firmware route's sudo prompt, for real: an unprivileged user, in a real terminal (tmux), with a Jetson Nano
in recovery mode "plugged in" (umockdev), presses "Rewrite boot firmware", confirms, and Ctrl-C's sudo's prompt:
the app comes back, says nothing was written, and doflash.sh never ran. (The successful elevated run cannot be
driven here: sudo drops umockdev's preload, so root's helper sees no board; tests/flash/test_firmware.py runs the
helper's doflash action directly instead.)"""

from __future__ import annotations

import time

import pytest
import test_sudo
import test_sudo_image
from test_sudo_image import FIXTURE, _project_at_image, tegraflash_zip, term  # noqa: F401 - fixtures
from wrnvtest import wizard_command

pytestmark = [pytest.mark.root, pytest.mark.tmux, pytest.mark.slow]

make_user = test_sudo.make_user
installed = test_sudo.installed


def test_ctrl_c_at_the_firmware_prompt_comes_back_and_writes_nothing(make_user, term, tegraflash_zip):  # noqa: F811
    import shutil

    umockdev = shutil.which("umockdev-run")
    if not umockdev:
        pytest.skip("needs umockdev-run (apt install umockdev)")
    user = make_user()
    project = _project_at_image(user, tegraflash_zip)
    job = ["bash", "-mc", '"$@"; exit $?', "bash", *wizard_command(), "--project", project]
    term.start(user.run_as(umockdev, "-d", FIXTURE, "--", *job), cwd=user.box)
    term.wait_for("Detected: Jetson Nano in recovery mode (USB 0955:7f21")
    screen = term.wait_for("Rewrite boot firmware")
    assert "JetPack 4.5+" in screen
    time.sleep(0.5)
    term.send("Tab", "Tab", "Tab")             # the sources, "Make the SD-card image", "Rewrite boot firmware"
    term.send("Enter")
    screen = term.wait_for("Rewrite the boot firmware of Jetson Nano")
    assert "QSPI" in screen and "Unverified" in screen
    term.send("Tab", "Enter")                  # from Cancel (focused) to "Rewrite firmware"
    term.wait_for("doflash.sh talks to the board over USB, which needs root")
    term.wait_for(user.prompt)
    term.send("C-c")
    said = term.toasts(term.wait_toast("Nothing was written."))
    assert "password prompt cancelled" in said
    assert not list((project / ".wrnv-wizard").glob("firmware/*/qspi-written.txt"))
    assert not (project / ".wrnv-wizard" / "logs" / "doflash.log").exists()
    term.send("C-q")
    assert term.exit_code() == 0, term.screen()


assert test_sudo_image  # the fixtures above come from there
