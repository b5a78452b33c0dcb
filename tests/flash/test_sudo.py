"""The sudo path for real: an unprivileged user runs `wrnv-wizard flash` and the Flash screen in a real
terminal (tmux), types the device name, then the password at sudo's prompt, and the helper writes a loop
device as root.

Why: the wizard runs as the user and only the helper runs as root. Every other test runs as root (the write
then happens in-process) or starts the helper directly, so this is the only proof that the prompt, sudo's
environment reset and the helper's start work together. The temporary user's sudoers rule allows nothing but
the helper, with a password (no NOPASSWD), so the product must run exactly that and the prompt must show.

Needs root (user, sudoers drop-in, loop devices), sudo, useradd and tmux. The user, the drop-in and sudo's
timestamps are removed at teardown, even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from flashkit import MiB, fill, make_image
from wrnvtest import sbin_tool, wizard_command
from wrnvtmux import Tmux

from wizard.card import elevate
from wizard.commands import install_helper

pytestmark = [pytest.mark.root, pytest.mark.tmux, pytest.mark.slow]

TOOLS = ("sudo", "visudo", "useradd", "userdel", "chpasswd", "runuser", "tmux")
# The one program the product runs through sudo once `wrnv-wizard install-helper` put it there (a root-owned
# copy); the arguments are free: the helper checks them itself.
HELPER_RULE = str(elevate.INSTALLED_HELPER)
IMAGE_SIZE, CARD_SIZE = 16 * MiB, 32 * MiB
PATTERN = 0xA5          # the card's old contents, to prove that a refused write changed nothing


_tool = sbin_tool


def _closed_folder(path) -> str:
    """The first folder on the way to `path` that other users may not enter ("" when all are open)."""
    for folder in reversed(Path(path).resolve().parents):
        if not os.stat(folder).st_mode & 0o001:
            return str(folder)
    return ""


@dataclass
class User:
    name: str
    password: str
    home: Path      # owned by the user: HOME, the cache and the project live here
    box: Path       # a folder every user may enter: holds home and the image

    @property
    def prompt(self) -> str:
        return f"[wrnv-wizard] password for {self.name}"

    def run_as(self, *argv) -> list:
        """`argv` as this user, with a clean environment like a fresh login's."""
        env = [f"HOME={self.home}", f"USER={self.name}", f"LOGNAME={self.name}", "PATH=/usr/local/bin:/usr/bin:/bin",
               "TERM=xterm-256color", "LANG=C.UTF-8", f"WRNV_CACHE_DIR={self.home / 'cache'}"]
        return [_tool("runuser"), "-u", self.name, "--", "env", "-i", *env, *map(str, argv)]

    def argv(self, *args) -> list:
        """The installed wrnv-wizard (the console script next to this Python) as this user."""
        return self.run_as(*wizard_command(), *args)


def _sh(*argv, check: bool = True, input: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, input=input, timeout=60,
                          cwd=cwd)


def _forget_sudo_timestamps(name: str) -> None:
    _sh(_tool("runuser"), "-u", name, "--", "sudo", "-K", check=False)
    for ts in (Path("/run/sudo/ts", name), Path("/var/run/sudo/ts", name), Path("/var/lib/sudo/ts", name)):
        ts.unlink(missing_ok=True)


def _remove_user(name: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _sh("pgrep", "-u", name, check=False).returncode == 0:
        time.sleep(0.2)     # the terminal was closed: its processes are still going away
    if _sh(_tool("userdel"), name, check=False).returncode != 0:
        _sh(_tool("userdel"), "-f", name, check=False)


@pytest.fixture(scope="module")
def installed(request):
    """The root-owned helper copy (install-helper's files; each test's user gets its own sudoers rule)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    was_there = elevate.INSTALL_DIR.exists()
    if not was_there:
        install_helper.install(elevate.INSTALL_DIR)
    yield elevate.INSTALLED_HELPER
    if not was_there:
        shutil.rmtree(elevate.INSTALL_DIR, ignore_errors=True)


@pytest.fixture
def make_user(root, tmp_path, installed):
    """make_user(rule=HELPER_RULE, defaults="") -> User: a new user who may run `rule` as root after typing
    their password; `defaults` adds a sudoers Defaults line for them (e.g. timestamp_timeout=0)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (creates a user and a sudoers rule)")
    missing = [t for t in TOOLS if not _tool(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install sudo tmux passwd)")
    for path in (sys.executable, wizard_command()[0]):
        closed = _closed_folder(path)
        if closed:
            pytest.skip(f"{path} lives under {closed} (symlinks followed), which other users may not enter: "
                        "put the venv and its Python where every user can read them (not under /root) to run "
                        "the sudo tests")
    made: list = []

    def make(rule: str = HELPER_RULE, defaults: str = "") -> User:
        tag = secrets.token_hex(4)
        name, password = f"wrnvt{tag}", f"pw-{secrets.token_hex(6)}"
        box = Path(tempfile.mkdtemp(prefix=f"wrnv-sudo-{tag}-"))
        box.chmod(0o755)
        home = box / "home"
        home.mkdir(mode=0o700)
        made.append((name, box))
        _sh(_tool("useradd"), "-M", "-d", str(home), "-s", "/bin/sh", name)
        shutil.chown(home, name, name)
        _sh(_tool("chpasswd"), input=f"{name}:{password}\n")
        text = f"# wrnv-wizard tests (temporary)\n{name} ALL=(root) {rule}\n"
        if defaults:
            text = f"Defaults:{name} {defaults}\n" + text
        draft = tmp_path / f"sudoers-{tag}"
        draft.write_text(text)
        check = _sh(_tool("visudo"), "-cf", str(draft), check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        dropin = Path("/etc/sudoers.d", f"wrnv-test-{tag}")
        shutil.copyfile(draft, dropin)
        dropin.chmod(0o440)
        listed = _sh("sudo", "-l", "-U", name, check=False).stdout
        if "wrnv-flash-helper" not in listed and rule == HELPER_RULE:
            pytest.skip(f"sudo does not read /etc/sudoers.d here (sudo -l -U {name}: {listed.strip()[-120:]})")
        user = User(name, password, home, box)
        # In a neutral folder: from the checkout, `python -c` would find the package in the current folder.
        probe = _sh(*user.run_as(sys.executable, "-c", "import wizard, screens, textual"), check=False, cwd=box)
        if probe.returncode != 0:
            pytest.skip(f"{name} cannot run {sys.executable} with the package: {probe.stderr.strip()[-200:]}")
        return user

    try:
        yield make
    finally:
        for name, box in made:
            Path("/etc/sudoers.d", f"wrnv-test-{name[len('wrnvt'):]}").unlink(missing_ok=True)
            _forget_sudo_timestamps(name)
            _remove_user(name)
            shutil.rmtree(box, ignore_errors=True)


@pytest.fixture
def term(make_user, loops, tmp_path):
    """A real terminal; closed before the loop devices are detached and the user is removed."""
    t = Tmux(tmp_path, width=200, height=40)
    yield t
    t.kill()


@pytest.fixture
def card(loops, tmp_path):
    """A loop device over a file holding PATTERN, and its name (what the user types)."""
    dev = loops.attach(fill(tmp_path / "card", CARD_SIZE, PATTERN))
    return dev, Path(dev).name


def _image(user: User) -> Path:
    img = make_image(user.box / "x.sdcard", IMAGE_SIZE, [(MiB, 2 * MiB), (8 * MiB, MiB)])
    img.chmod(0o644)
    return img


def _card_holds(dev: str, data: bytes) -> bool:
    with open(dev, "rb") as f:
        return f.read(len(data)) == data


def _one_error_line(screen: str, *words: str) -> str:
    lines = [ln for ln in screen.splitlines() if ln.startswith("wrnv-wizard: error:")]
    assert len(lines) == 1, screen
    assert "Traceback" not in screen, screen
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _flash_cli(term: Tmux, user: User, img: Path, name: str, cwd: Path | None = None) -> None:
    """Start `wrnv-wizard flash` as the user and answer the typed confirmation; sudo's prompt comes next."""
    term.start(user.argv("flash", img, "--target", f"/dev/{name}", "--allow-non-removable",
                         "--project", user.home / "project"), cwd=cwd)
    term.wait_for(f"Type {name} to erase it")
    term.send(name, "Enter")
    term.wait_for(user.prompt)


def test_flash_cli_as_a_user_asks_sudo_then_writes(make_user, term, card):
    user = make_user()
    dev, name = card
    img = _image(user)
    # A `wizard` folder in the user's current folder must not be what root runs.
    decoy = user.home / "src" / "wizard"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the helper imported wizard from the user folder')\n")
    subprocess.run(["chown", "-R", f"{user.name}:{user.name}", str(user.home / "src")], check=True)
    assert _sh(*user.run_as("test", "-w", dev), check=False).returncode != 0     # only root may write it
    _flash_cli(term, user, img, name, cwd=decoy.parent)
    term.send(user.password, "Enter")
    screen = term.wait_for("safe to remove the card now", timeout=60)
    assert term.exit_code() == 0, term.screen()
    assert user.password not in screen                      # sudo does not echo it
    assert "wrnv-wizard: error" not in screen, screen
    assert _card_holds(dev, img.read_bytes())


def test_flash_cli_as_a_user_gives_each_card_its_name_through_the_helper(make_user, term, loops, tmp_path):
    """Several cards through sudo: the host names and key are planned in the user's process on the image and
    handed to the helper as a file of blocks, which it writes through its own descriptor after its verify
    and reads back. Each card is then read with debugfs (as root, here) and checked by e2fsck."""
    from cardimage import debugfs, fsck_clean, make_card_image, stat_of

    user = make_user()
    img = make_card_image(user.box / "desk.sdcard", tmp_path)
    img.chmod(0o644)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "desk@lab", "-f", str(user.box / "id")],
                   check=True)
    key = user.box / "id.pub"
    key.chmod(0o644)
    devs = [loops.attach(fill(tmp_path / f"c{i}", CARD_SIZE, PATTERN)) for i in range(2)]
    report = user.home / "desk.json"
    term.start(user.argv("flash", img, "--yes", "--allow-non-removable", "--hostname", "jetson-{n:02}",
                         "--ssh-key", key, "--report", report, "--target", devs[0], "--target", devs[1]),
               cwd=user.box)
    term.wait_for(user.prompt)
    term.send(user.password, "Enter")
    assert term.exit_code(timeout=120) == 0, term.screen()
    screen = term.screen()
    assert "wrnv-wizard: error" not in screen and "Traceback" not in screen, screen
    assert screen.count("through the installed helper (sudo)") >= 2, screen
    assert screen.count(user.prompt) == 1, screen                  # one password, one helper for both cards
    assert "the image was read once, by the helper" in screen, screen
    for n, dev in enumerate(devs, 1):
        assert _sh(*user.run_as("test", "-w", dev), check=False).returncode != 0     # only root may write it
        assert debugfs(dev, "cat /etc/hostname") == f"jetson-{n:02}\n"
        assert f"127.0.1.1\tjetson-{n:02}" in debugfs(dev, "cat /etc/hosts").splitlines()
        assert key.read_text().strip() in debugfs(dev, "cat /root/.ssh/authorized_keys")
        assert stat_of(dev, "/root/.ssh/authorized_keys") == ("regular", 0o600, 0, 0)
        assert fsck_clean(dev)
    cards = json.loads(report.read_text())["cards"]
    assert [c["hostname"] for c in cards] == ["jetson-01", "jetson-02"]
    assert all(c["verified"] and "read back from the card" in c["verified_how"] for c in cards), cards


def test_flash_cli_to_a_file_the_user_may_not_write_is_refused_never_elevated(make_user, term):
    """A regular file is written only with the user's own rights: no password is asked, one line says why."""
    user = make_user()
    img = _image(user)
    vm = fill(user.box / "vm.raw", CARD_SIZE, PATTERN)     # root's, 0644: a VM's disk in a system folder
    vm.chmod(0o644)
    term.start(user.argv("flash", img, "--target", vm, "--yes", "--project", user.home / "project"))
    assert term.exit_code(timeout=60) == 1, term.screen()
    screen = term.screen()
    assert user.prompt not in screen
    _one_error_line(screen, "you may not write", "never as root")
    assert _card_holds(str(vm), bytes([PATTERN]) * CARD_SIZE)


@pytest.mark.parametrize("hostile", [
    ["/bin/sh", "-c", "id"],
    ["/usr/bin/env", "PYTHONPATH=x", "/bin/sh", "-c", "id", "-m", "wizard.card.flash_helper", "--control-stdin"],
    ["/usr/bin/python3", "-I", "-c", "import os", str(elevate.INSTALLED_HELPER)],
    ["/usr/bin/python3", str(elevate.INSTALLED_HELPER)],
    [str(elevate.INSTALLED_HELPER) + "x"],
], ids=["shell", "env-trick", "python-c", "python-file", "other-name"])
def test_the_sudoers_rule_allows_nothing_but_the_helper(make_user, hostile):
    user = make_user()
    allowed = _sh("sudo", "-l", "-U", user.name, str(elevate.INSTALLED_HELPER), "write", "--target", "/dev/sdz",
                  check=False)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    refused = _sh("sudo", "-l", "-U", user.name, *hostile, check=False)
    assert refused.returncode != 0, (hostile, refused.stdout)


def test_wrong_password_three_times_writes_nothing(make_user, term, card):
    user = make_user()
    dev, name = card
    _flash_cli(term, user, _image(user), name)
    for tries in range(1, 4):
        deadline = time.monotonic() + 30
        while term.screen().count(user.prompt) < tries:      # sudo waits ~2 s after each wrong one
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.2)
        term.send("not-the-password", "Enter")
    assert term.exit_code(timeout=30) == 1, term.screen()
    screen = term.screen()
    _one_error_line(screen, "did not accept the password", "nothing was changed", "try again")
    assert _card_holds(dev, bytes([PATTERN]) * CARD_SIZE)


def test_ctrl_c_at_the_password_prompt_writes_nothing(make_user, term, card):
    user = make_user()
    dev, name = card
    _flash_cli(term, user, _image(user), name)
    term.send("half-typ")
    term.send("C-c")
    assert term.exit_code() == 130, term.screen()
    _one_error_line(term.screen(), "password prompt cancelled", "nothing was changed")
    assert _card_holds(dev, bytes([PATTERN]) * CARD_SIZE)


@pytest.mark.parametrize("rule, defaults, words", [
    ("/usr/bin/true", "", "does not let you run the wizard's helper"),
    (HELPER_RULE, "timestamp_timeout=0", "keeps no sudo timestamp"),
], ids=["helper-not-allowed", "no-timestamp"])
def test_sudo_that_cannot_run_the_helper_says_why(make_user, term, card, rule, defaults, words):
    user = make_user(rule, defaults)
    dev, name = card
    _flash_cli(term, user, _image(user), name)
    term.send(user.password, "Enter")
    assert term.exit_code(timeout=30) == 1, term.screen()
    _one_error_line(term.screen(), words, "nothing was written")
    assert _card_holds(dev, bytes([PATTERN]) * CARD_SIZE)


# -- the Flash screen ----------------------------------------------------------------------------------

def _project_at_flash(user: User, img: Path) -> Path:
    """A project whose steps before "Write the card" are done (the image made): the app resumes there."""
    from wizard.core.session import Session
    from wizard.core.steps import STEP_IDS, Status

    project = user.home / "project"
    session = Session.open(project)
    for sid in STEP_IDS[:STEP_IDS.index("flash")]:
        session.mark(sid, Status.DONE, "done by the test", **({"path": str(img)} if sid == "image" else {}))
    subprocess.run(["chown", "-R", f"{user.name}:{user.name}", str(project)], check=True)
    return project


def _flash_status(project: Path) -> str:
    state = json.loads((project / ".wrnv-wizard" / "state.json").read_text())
    return state["steps"]["flash"]["status"]


def _pick_in_the_table(term: Tmux, name: str) -> None:
    """Focus the disk table, move to `name`'s row, press Enter, and type the name in the confirmation."""
    term.wait_for(f"] {name} ")                  # a row: "│ [ ] loop0  33.6 MB ..."
    time.sleep(0.5)                         # the rows may come before the screen has focused its first widget
    term.send("Tab", "Tab", "Tab")          # image path, "show every disk", then the table
    for attempt in range(12):
        if attempt >= 2:
            # Twice nothing opened: the focus is not on the table (it moved while the app was settling);
            # step it on, around the screen's widgets, until Enter on a row opens a confirmation.
            term.send("Tab")
        rows = re.findall(r"│ \[[ x]\] (\S+)\s+[\d.]+ [kMGT]?B ", term.screen())
        if name not in rows:                # other tests' loop devices come and go, and the table redraws
            time.sleep(0.5)
            continue
        term.send(*["Up"] * len(rows), *["Down"] * rows.index(name), "Enter")
        try:
            screen = term.wait_for(" and write x.sdcard?", timeout=5)
        except AssertionError:
            if "Per-card options: each card" in term.screen():
                term.send("Escape")         # Enter landed on the per-card options button: close its dialog
                time.sleep(0.5)
            continue                        # a redraw swallowed the keys, or the focus was elsewhere
        title = re.search(r"Erase (\S+) and write x\.sdcard\?", screen)
        if title and title.group(1) == name:
            break
        term.send("Escape")                 # another device's confirmation: typing our name would not match
        time.sleep(0.5)
    else:
        raise AssertionError(f"could not pick {name}; screen:\n{term.screen()}")
    term.send(name, "Enter")                # the focus starts in the name box


def _flash_screen_at_the_prompt(make_user, term, card) -> tuple:
    """The app as a new user at "Write the card", the loop device picked and its name typed: sudo asks."""
    user = make_user()
    dev, name = card
    img = _image(user)
    project = _project_at_flash(user, img)
    term.width, term.height = 120, 40
    term.start(user.argv("--project", project, "--allow-non-removable"))
    term.wait_for("Write the card")
    _pick_in_the_table(term, name)
    term.wait_for(f"Writing {name}: through the installed helper (sudo)")             # the app is suspended: sudo has the terminal
    term.wait_for(user.prompt)
    return user, dev, img, project


def test_flash_screen_as_a_user_suspends_for_sudo_then_writes(make_user, term, card):
    user, dev, img, project = _flash_screen_at_the_prompt(make_user, term, card)
    term.send(user.password, "Enter")
    screen = term.wait_for("Done: wrote", timeout=60)         # the app came back and wrote
    assert user.password not in screen
    assert _flash_status(project) == "done"
    term.send("C-q")
    assert term.exit_code() == 0, term.screen()
    assert _card_holds(dev, img.read_bytes())


def test_flash_screen_ctrl_c_at_the_prompt_comes_back_and_writes_nothing(make_user, term, card):
    user, dev, img, project = _flash_screen_at_the_prompt(make_user, term, card)
    term.send("half-typ")
    term.send("C-c")
    term.wait_for("cancelled")                                # the app is back, and says so
    assert "Write the card" in term.screen()
    assert _flash_status(project) == "pending"
    term.send("C-q")
    assert term.exit_code() == 0, term.screen()
    assert _card_holds(dev, bytes([PATTERN]) * CARD_SIZE)
