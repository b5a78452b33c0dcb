"""udisks2 first: an unprivileged user writes (and checks again) a loop device through udisks2 with the real
daemons, polkit deciding. With a polkit rule that allows it, the card is written and no code of ours ran as
root; without the rule, udisks2 refuses and nothing is written.

Loop devices are "system" devices for udisks2 (HintSystem), so the action polkit checks is
org.freedesktop.udisks2.open-device-system; a USB card reader's card is open-device. The test rule allows
both, for the test user and the one loop device only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import daemons
import pytest
from flashkit import MiB, fill, make_image
from wrnvtest import wizard_command

pytestmark = [pytest.mark.root, pytest.mark.slow]
CANARY = 0x5C
PASSWORD = "pw-" + secrets.token_hex(6)


@pytest.fixture
def user(root):
    for tool in ("useradd", "userdel", "runuser"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            pytest.skip(f"needs {tool}")
    name = f"wrnvu{secrets.token_hex(3)}"
    box = Path(tempfile.mkdtemp(prefix="wrnv-udisks-"))
    box.chmod(0o755)
    home = box / "home"
    home.mkdir()
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}\n", text=True, check=True)
    shutil.chown(home, name, name)
    try:
        yield name, box
    finally:
        subprocess.run(["pkill", "-u", name], check=False)
        subprocess.run(["userdel", "-f", name], check=False, capture_output=True)
        shutil.rmtree(box, ignore_errors=True)


def _as(name: str, box: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    env = [f"HOME={box / 'home'}", f"USER={name}", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
           f"WRNV_CACHE_DIR={box / 'home' / 'cache'}"]
    return subprocess.run(["runuser", "-u", name, "--", "env", "-i", *env, *wizard_command(), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=box)


def _setup(box: Path, loops) -> tuple:
    img = make_image(box / "a.sdcard", 16 * MiB, [(MiB, 2 * MiB), (9 * MiB, MiB)])
    img.chmod(0o644)
    card = fill(box / "card", 32 * MiB, CANARY)
    dev = loops.attach(card)
    subprocess.run(["udevadm", "settle", "-t", "30"], check=False)
    return img, card, dev


def test_a_user_writes_a_card_through_udisks2_when_polkit_allows(desktop_stack, user, loops):
    name, box = user
    img, card, dev = _setup(box, loops)
    rule = daemons.allow_rule("allow", name, dev)
    try:
        proc = _as(name, box, "flash", img, "--target", dev, "--yes", "--allow-non-removable", "--verify=full")
        assert proc.returncode == 0, proc.stderr
        assert "opened through udisks2" in proc.stderr + proc.stdout
        with open(dev, "rb") as f:
            assert f.read(img.stat().st_size) == img.read_bytes()
        check = _as(name, box, "verify", img, "--target", dev, "--full", "--json", "--allow-non-removable")
        assert check.returncode == 0, check.stderr
        assert '"path_used": "udisks2"' in check.stdout and '"ok": true' in check.stdout
        # A byte flipped in a range the image leaves empty: only --full reads it.
        with open(dev, "r+b") as f:
            f.seek(12 * MiB + 12345)
            f.write(b"\x01")
            f.flush()
            os.fsync(f.fileno())
        bad = _as(name, box, "verify", img, "--target", dev, "--full", "--allow-non-removable")
        assert bad.returncode == 1 and "verify failed" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        rule.unlink()


def test_without_a_polkit_rule_udisks2_refuses_and_nothing_is_written(desktop_stack, user, loops):
    name, box = user
    img, card, dev = _setup(box, loops)
    proc = _as(name, box, "flash", img, "--target", dev, "--yes", "--allow-non-removable")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "did not allow opening" in proc.stderr, proc.stderr
    assert card.read_bytes() == bytes([CANARY]) * (32 * MiB)

