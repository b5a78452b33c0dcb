"""The password prompt of the udisks2 path, for real: polkit's text agent (pkttyagent) in the user's terminal.

A temporary user runs the installed `wrnv-wizard flash` in a real terminal (tmux) against a loop device, with
the real daemons (system bus, udevd, polkitd, udisksd) and a polkit rule that wants the user's own password
(AUTH_SELF: one-shot, no "keep"). The wizard starts pkttyagent for its own process; polkitd asks it; the user
types the password at its prompt and the card is written, once, with one prompt. A wrong password writes
nothing and leaves one error line.

Runs without systemd-logind (this machine has none): polkitd then finds no session for the wizard, which is
why the agent must not be registered with --fallback (polkitd only falls back after finding a session).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import daemons
import pytest
from flashkit import MiB, fill, make_image
from wrnvtest import sbin_tool, wizard_command
from wrnvtmux import Tmux

pytestmark = [pytest.mark.root, pytest.mark.tmux, pytest.mark.slow]
CANARY = 0x5C
CARD_SIZE = 32 * MiB
BANNER = "==== AUTHENTICATING FOR org.freedesktop.udisks2.open-device"


_tool = sbin_tool


@pytest.fixture
def user(root):
    for tool in ("useradd", "userdel", "chpasswd", "runuser", "tmux", "pkttyagent"):
        if not _tool(tool):
            pytest.skip(f"needs {tool} (apt-get install passwd tmux polkitd)")
    name, password = f"wrnvp{secrets.token_hex(3)}", f"pw-{secrets.token_hex(6)}"
    box = Path(tempfile.mkdtemp(prefix="wrnv-polkit-"))
    box.chmod(0o755)
    home = box / "home"
    home.mkdir()
    subprocess.run([_tool("useradd"), "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    subprocess.run([_tool("chpasswd")], input=f"{name}:{password}\n", text=True, check=True)
    shutil.chown(home, name, name)
    try:
        yield name, password, box
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-u", name],
                                                              capture_output=True).returncode == 0:
            time.sleep(0.2)     # the terminal was closed: the user's processes are going away
        subprocess.run([_tool("userdel"), "-f", name], check=False, capture_output=True)
        shutil.rmtree(box, ignore_errors=True)


@pytest.fixture
def term(desktop_stack, user, loops, tmp_path):
    """A real terminal, closed before the loop devices are detached and the user is removed."""
    t = Tmux(tmp_path, width=160, height=40)
    yield t
    t.kill()


def _setup(box: Path, loops) -> tuple:
    img = make_image(box / "a.sdcard", 16 * MiB, [(MiB, 2 * MiB), (9 * MiB, MiB)])
    img.chmod(0o644)
    card = fill(box / "card", CARD_SIZE, CANARY)
    dev = loops.attach(card)
    subprocess.run(["udevadm", "settle", "-t", "30"], check=False)
    return img, card, dev


def _flash(term: Tmux, name: str, box: Path, img: Path, dev: str) -> None:
    env = [f"HOME={box / 'home'}", f"USER={name}", f"LOGNAME={name}", "PATH=/usr/local/bin:/usr/bin:/bin",
           "TERM=xterm-256color", "LANG=C.UTF-8", f"WRNV_CACHE_DIR={box / 'home' / 'cache'}"]
    term.start([_tool("runuser"), "-u", name, "--", "env", "-i", *env, *wizard_command(),
                "flash", str(img), "--target", dev, "--yes", "--allow-non-removable"], cwd=box)


def test_the_password_typed_at_pkttyagents_prompt_lets_udisks2_open_the_card(term, user, loops):
    name, password, box = user
    img, card, dev = _setup(box, loops)
    rule = daemons.allow_rule("agent", name, dev, result="AUTH_SELF")
    try:
        _flash(term, name, box, img, dev)
        term.wait_for(f"Authenticating as: {name}", timeout=60)
        screen = term.wait_for("Password:", timeout=30)
        assert BANNER in screen, screen
        assert card.read_bytes() == bytes([CANARY]) * CARD_SIZE     # nothing before the password
        term.send(password, "Enter")
        screen = term.wait_for("safe to remove the card now", timeout=90)
        assert term.exit_code() == 0, term.screen()
        assert "AUTHENTICATION COMPLETE" in screen and "opened through udisks2" in screen, screen
        assert password not in screen                               # the agent does not echo it
        assert screen.count("==== AUTHENTICATING FOR") == 1, screen  # one prompt: the write used that open
        assert "wrnv-wizard: error" not in screen, screen
        with open(dev, "rb") as f:
            assert f.read(img.stat().st_size) == img.read_bytes()
    finally:
        rule.unlink()


def test_a_wrong_password_at_pkttyagents_prompt_writes_nothing(term, user, loops):
    name, password, box = user
    img, card, dev = _setup(box, loops)
    rule = daemons.allow_rule("agent-wrong", name, dev, result="AUTH_SELF")
    try:
        _flash(term, name, box, img, dev)
        term.wait_for(f"Authenticating as: {name}", timeout=60)
        term.wait_for("Password:", timeout=30)
        term.send("not-" + password, "Enter")
        assert term.exit_code(timeout=60) == 1, term.screen()
        screen = term.screen()
        assert "AUTHENTICATION FAILED" in screen, screen
        errors = [ln for ln in screen.splitlines() if ln.startswith("wrnv-wizard: error:")]
        assert len(errors) == 1 and "did not allow opening" in errors[0], screen
        assert "Traceback" not in screen and "Nothing was written" in screen, screen
        assert card.read_bytes() == bytes([CANARY]) * CARD_SIZE
    finally:
        rule.unlink()
