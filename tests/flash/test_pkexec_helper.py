"""`install-helper`'s polkit action: through pkexec the chosen user runs exactly the installed helper (with
their own password, asked by pkexec's text agent in a real terminal) and nothing else - any other program,
including the same helper file started another way, stays org.freedesktop.policykit.exec, which wants an
administrator (here root), so the user's password does not open it.

Real parts: polkitd on the real system bus (tests/flash/daemons.py), pkexec, a temporary user in tmux.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from wrnvtest import sbin_tool, wizard_command
from wrnvtmux import Tmux

from wizard.card import elevate
from wizard.commands import install_helper

pytestmark = [pytest.mark.root, pytest.mark.tmux, pytest.mark.slow]
OURS = f"==== AUTHENTICATING FOR {install_helper.ACTION_ID} ===="
GENERIC = "==== AUTHENTICATING FOR org.freedesktop.policykit.exec ===="


_tool = sbin_tool


@pytest.fixture(scope="module")
def setup(desktop_stack):
    """A user and the installed helper with its polkit action for exactly that user."""
    for tool in ("useradd", "userdel", "chpasswd", "runuser", "tmux", "pkexec"):
        if not _tool(tool):
            pytest.skip(f"needs {tool} (apt-get install passwd tmux pkexec)")
    if elevate.INSTALL_DIR.exists() or install_helper.POLICY_FILE.exists() or elevate.SUDOERS_FILE.exists():
        pytest.skip("a helper is installed on this host already: not touching it")
    name, password = f"wrnvx{secrets.token_hex(3)}", f"pw-{secrets.token_hex(6)}"
    box = Path(tempfile.mkdtemp(prefix="wrnv-pkexec-"))
    box.chmod(0o755)
    home = box / "home"
    home.mkdir()
    subprocess.run([_tool("useradd"), "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    subprocess.run([_tool("chpasswd")], input=f"{name}:{password}\n", text=True, check=True)
    shutil.chown(home, name, name)
    try:
        proc = subprocess.run([*wizard_command(), "install-helper", "--user", name], capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        assert install_helper.ACTION_ID in proc.stdout, proc.stdout
        time.sleep(1.5)     # polkitd reloads actions and rules on inotify
        yield name, password, box
    finally:
        subprocess.run([*wizard_command(), "install-helper", "--remove"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-u", name],
                                                              capture_output=True).returncode == 0:
            time.sleep(0.2)
        subprocess.run([_tool("userdel"), "-f", name], check=False, capture_output=True)
        shutil.rmtree(box, ignore_errors=True)
    assert not install_helper.POLICY_FILE.exists() and not install_helper.RULES_FILE.exists()


@pytest.fixture
def term(setup, tmp_path):
    t = Tmux(tmp_path, width=160, height=40)
    yield t
    t.kill()


def _pkexec(term: Tmux, name: str, box: Path, *argv: str) -> None:
    """pkexec as the user, with pkttyagent registered for the shell that starts it (pkexec's subject is its
    parent). Not pkexec's own agent: polkitd 122 refuses its answer ("No session for cookie": that agent is
    registered by the setuid pkexec as root, while polkit-agent-helper-1 answers as the user)."""
    env = [f"HOME={box / 'home'}", f"USER={name}", f"LOGNAME={name}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
    script = ('pkttyagent --process $$ & agent=$!; sleep 2; pkexec --disable-internal-agent "$@"; rc=$?; '
              'kill $agent; exit $rc')
    term.start([_tool("runuser"), "-u", name, "--", "env", "-i", *env, "/bin/sh", "-c", script, "sh", *argv],
               cwd=box)


def test_the_files_name_exactly_the_installed_helper(setup):
    name, _password, _box = setup
    policy = install_helper.POLICY_FILE.read_text()
    assert f'<annotate key="org.freedesktop.policykit.exec.path">{elevate.INSTALLED_HELPER}</annotate>' in policy
    rules = install_helper.RULES_FILE.read_text()
    assert f'subject.user == "{name}"' in rules and "AUTH_SELF_KEEP" in rules
    for path in (install_helper.POLICY_FILE, install_helper.RULES_FILE):
        st = path.stat()
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o644


def test_pkexec_runs_the_installed_helper_as_root_after_the_users_own_password(setup, term):
    name, password, box = setup
    # An argument the helper refuses after it started: proof that pkexec ran it, and with what it answers.
    _pkexec(term, name, box, str(elevate.INSTALLED_HELPER), "write", "--image", "/nonexistent", "--target",
            "/etc/passwd", "--identity", '{"devnum": [7, 0]}')
    term.wait_for("Password:", timeout=60)
    screen = term.screen()
    assert OURS in screen and f"Authenticating as: {name}" in screen, screen
    term.send(password, "Enter")
    assert term.exit_code(timeout=60) == 1, term.screen()      # the helper's own refusal, not pkexec's 126/127
    screen = term.screen()
    assert "AUTHENTICATION COMPLETE" in screen and "does not exist" in screen, screen
    assert "Not authorized" not in screen and password not in screen, screen


@pytest.mark.parametrize("argv", [
    ["/bin/sh", "-c", "id -u > {marker}"],
    ["/usr/bin/python3", "-I", str(elevate.INSTALLED_HELPER), "--help"],    # the same file, another program
    ["/usr/bin/env", "PYTHONPATH=/tmp", str(elevate.INSTALLED_HELPER), "--help"],
], ids=["shell", "python-helper-file", "env-trick"])
def test_pkexec_gives_the_user_nothing_else(setup, term, argv):
    name, password, box = setup
    marker = box / f"marker-{secrets.token_hex(3)}"
    _pkexec(term, name, box, *[a.format(marker=marker) for a in argv])
    term.wait_for("Password:", timeout=60)
    screen = term.screen()
    assert GENERIC in screen and OURS not in screen, screen
    assert f"Authenticating as: {name}" not in screen, screen      # an administrator's password, not theirs
    term.send(password, "Enter")
    code = term.exit_code(timeout=60)
    screen = term.screen()
    assert code == 127 and "AUTHENTICATION FAILED" in screen, screen
    assert "pam_authenticate failed" in screen, screen      # refused for the password, not for the agent
    assert not marker.exists()
