"""The boot-firmware (QSPI) route: the mismatch explained, doflash.sh refused without a Jetson in recovery mode,
run with one (a umockdev testbed with NVIDIA 0955:7f21), through the privileged helper's pipe as well, and a
failing run showing its tail. doflash.sh is the stand-in (wizard.demo.fake_tegraflash): it reads the board over
USB like the real one and runs `python tegraflash.py` with the getiterator call NVIDIA's R32.3.1 script makes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flashkit import REPO, assert_clean_failure, run_cli

from wizard.card import firmware, protocol
from wizard.card.sdimage import deploy_dir
from wizard.core.errors import WizardError
from wizard.core.profile import load_profile
from wizard.demo.fake_tegraflash import make_tegraflash_zip

MACHINE, IMAGE = "jetson-nano-qspi-sd", "wrlinux-image-glibc-std"
FIXTURE = Path(__file__).resolve().parents[1] / "disks" / "fixtures" / "jetson-nano-recovery.umockdev"


def _need_tools():
    for t in ("mkfs.ext4", "sgdisk", "umockdev-run"):
        if shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            pytest.skip(f"needs {t}")


def _package(project: Path, fails_at: str = "") -> Path:
    _need_tools()
    z = deploy_dir(load_profile(), project, MACHINE) / f"{IMAGE}-{MACHINE}-20260101000000.tegraflash.zip"
    return make_tegraflash_zip(z, MACHINE, IMAGE, doflash_fails_at=fails_at)


def _under_board(argv: list, env: dict | None = None, timeout: float = 180, cwd=REPO) -> subprocess.CompletedProcess:
    base = dict(os.environ, PYTHONPATH=str(REPO))
    base.pop("BOARDID", None)
    base.pop("FAB", None)
    base.update(env or {})
    return subprocess.run(["umockdev-run", "-d", str(FIXTURE), "--", *argv], env=base, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def _written(project: Path) -> list:
    found = list((project / ".wrnv-wizard" / "firmware").glob("*/qspi-written.txt"))
    return found[0].read_text().split() if found else []


def test_the_mismatch_is_two_sentences_and_says_what_is_unverified():
    prof = load_profile()
    text = firmware.explanation(prof)
    body = text.split(" (Unverified")[0]
    assert body.count(". ") == 1 and body.endswith(".")                    # two sentences
    assert "R32.5" in body and "QSPI" in body and "recovery mode" in body
    assert "Unverified" in text                                           # outcome_verified = false
    assert firmware.applies(prof, MACHINE) and not firmware.applies(prof, "jetson-tx2")


def test_phases_follow_the_flash_output_in_order():
    seen = []
    t = firmware.PhaseTracker(seen.append)
    for line in ("Board ID(3448) version(300)", "[ 0.1 ] Writing partition APP", "[ 0.1 ] Generating signatures",
                 "[ 2.0 ] Flashing completed"):
        t.feed(line)
    assert [(p.done, p.label) for p in seen] == [(1, "Reading the board"), (5, "Writing the partitions"),
                                                 (5, "Writing the partitions"), (6, "Finishing")]
    assert all(p.total == len(firmware.PHASES) for p in seen)


def test_refused_without_a_board_in_recovery_mode(project):
    _package(project)
    with pytest.raises(WizardError, match="no Jetson in recovery mode"):
        firmware.require_board(load_profile(), boards=[])
    with pytest.raises(WizardError, match="no Jetson in recovery mode"):
        firmware.rewrite_qspi(load_profile(), project, MACHINE, IMAGE)
    proc = run_cli("firmware", "--project", project, "--yes")
    err = assert_clean_failure(proc, "recovery mode")
    assert "QSPI" in proc.stderr                                          # the mismatch was explained first
    assert _written(project) == [] and "Traceback" not in err
    proc = run_cli("firmware", "--project", project, "--yes", "--machine", "jetson-tx2")
    assert_clean_failure(proc, "QSPI")


def test_rewritten_with_the_board_in_recovery_mode_on_a_311_host(project, tmp_path):
    """As root (the test's user), in-process: the board is found, doflash.sh reads it over USB, NVIDIA's script
    stand-in runs on the chosen Python (here only a 3.11 `python` and no /usr/sbin on PATH: the shim), every
    phase is reported, and the result and the log say so."""
    py311 = shutil.which("python3.11")
    if not py311:
        pytest.skip("needs python3.11")
    _package(project)
    hostbin = tmp_path / "hostbin"
    hostbin.mkdir()
    (hostbin / "python").symlink_to(py311)
    proc = _under_board([sys.executable, "-m", "wizard.cli", "firmware", "--project", str(project), "--yes"],
                        env={"PATH": f"{hostbin}:/usr/bin:/bin"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Board: Jetson Nano in recovery mode (USB 0955:7f21" in proc.stderr
    assert "[1/6] Reading the board" in proc.stderr and "[6/6] Finishing" in proc.stderr
    assert "Retrieving EEPROM data" in proc.stderr                      # no BOARDID/FAB: it read the board
    assert "rewritten" in proc.stdout and "Python 3.11" in proc.stdout and "shim" in proc.stdout
    assert "SD card that was in the board was written too" in proc.stdout
    assert _written(project) == ["TBC", "RP1", "EBT", "DTB", "APP"]
    log = (project / ".wrnv-wizard" / "logs" / "doflash.log").read_text()
    assert "Flashing completed" in log and "=== exit code 0" in log


def test_a_failing_run_shows_its_tail_and_the_phase(project):
    _package(project, fails_at="APP")
    proc = _under_board([sys.executable, "-m", "wizard.cli", "firmware", "--project", str(project), "--yes"])
    err = assert_clean_failure(proc, "doflash.sh failed (exit 1)")
    assert "  | [   1.0100 ] Error: Return value 8" in proc.stderr
    assert "  | Command tegradevflash --write APP APP.bin" in proc.stderr
    assert "full log:" in proc.stderr and "doflash.log" in proc.stderr
    assert "(it stopped while: writing the partitions)" in proc.stderr
    assert _written(project) == ["TBC", "RP1", "EBT", "DTB"] and "Traceback" not in err


def test_through_the_privileged_helper_pipe(project, tmp_path):
    """The same run through `flash_helper doflash` (started directly here: sudo would drop umockdev's
    preload): the helper gets only the package folder, sends every line back, and the log is written on the
    caller's side."""
    _package(project)
    driver = tmp_path / "drive.py"
    driver.write_text(textwrap.dedent(f"""
        import json, sys
        from wizard.card import elevate, firmware
        from wizard.core.profile import load_profile

        def lines(argv, cwd, env, on_line, cancel):
            cmd = [sys.executable, "-m", "wizard.card.flash_helper", "--control-stdin", "doflash", "--dir", str(cwd)]
            return int(elevate.run_helper([], on_line=on_line, cancel=cancel, argv=cmd).data.get("rc", 1))

        seen = []
        res = firmware.rewrite_qspi(load_profile(), {str(project)!r}, {MACHINE!r}, {IMAGE!r}, on_line=seen.append,
                                    runner=firmware.logging_runner(lines))
        print(json.dumps({{"phase": res.phase, "lines": len(seen), "log": str(res.log)}}))
    """))
    proc = _under_board([sys.executable, str(driver)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["phase"] == "Finishing" and got["lines"] > 10
    log = Path(got["log"]).read_text()
    assert "Writing partition APP" in log and "=== exit code 0" in log
    # the helper refuses a folder without doflash.sh, and a doflash.sh that is a link
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([sys.executable, "-m", "wizard.card.flash_helper", "doflash", "--dir", str(empty)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd="/")
    assert out.returncode == 1 and protocol.decode(out.stdout.strip()).problem.startswith("no doflash.sh in")
    (empty / "doflash.sh").symlink_to("/bin/true")
    out = subprocess.run([sys.executable, "-m", "wizard.card.flash_helper", "doflash", "--dir", str(empty)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd="/")
    assert out.returncode == 1 and "no doflash.sh" in out.stdout


def test_the_standin_doflash_fails_like_the_real_one_without_the_wizard(project, tmp_path):
    """By hand, as the layer's docs say (`sudo ./doflash.sh`), on a host whose `python` is 3.11: NVIDIA's
    script dies on getiterator; without a board: the real helper's chip check."""
    py311 = shutil.which("python3.11")
    if not py311:
        pytest.skip("needs python3.11")
    from wizard.card.sdimage import unpack

    work = unpack(_package(project), tmp_path / "pkg")
    hostbin = tmp_path / "hostbin"
    hostbin.mkdir()
    (hostbin / "python").symlink_to(py311)
    proc = _under_board(["./doflash.sh"], env={"PATH": f"{hostbin}:/usr/bin:/bin"}, cwd=work)
    assert proc.returncode == 1 and "has no attribute 'getiterator'" in proc.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("BOARDID", "FAB")}
    proc = subprocess.run(["./doflash.sh"], env=env, capture_output=True, text=True, timeout=60, cwd=work)
    assert proc.returncode == 1 and "ERR: chip does not identify as tegra210" in proc.stderr


# -- the Image screen's firmware route (pilot) ---------------------------------------------------------------

async def test_image_screen_explains_and_refuses_without_a_board(session):
    from textual.widgets import Button
    from wrnvtest import wait_until

    from screens.app import WizardApp
    from screens.confirm import ConfirmScreen
    from wizard.card.usb_recovery import RecoveryDevice

    a = session.answers
    _package(session.project)
    app = WizardApp(session, start_at="image")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        note = str(screen.query_one("#image-firmware-note").render())
        assert "boot firmware" in note and "JetPack 4.5" in note
        assert screen.query_one("#image-firmware", Button).display
        # no board: a warning and the recovery-mode diagram, nothing started
        screen.query_one("#image-firmware", Button).press()
        await pilot.pause()
        assert screen.query_one("#image-diagram").display and not screen.busy
        assert not isinstance(app.screen, ConfirmScreen)
        # the list says a board is there (as the monitor would), the user confirms; the route checks USB again
        # right before starting, finds no board in this sandbox, and refuses: nothing is written
        screen._show_boards([RecoveryDevice("0955", "7f21", "Jetson Nano", False, "/sys/devices/x")])
        screen.query_one("#image-firmware", Button).press()
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10)
        question = str(app.screen.query_one("#confirm-question").render())
        assert "QSPI" in question and "Unverified" in question and "SD card in the board is written too" in question
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_until(pilot, lambda: "Failed" in str(screen.query_one("#image-result").render()), 30)
        result = str(screen.query_one("#image-result").render())
        assert "no Jetson in recovery mode" in result
        assert _written(session.project) == [] and not screen.busy
        assert a.machine == MACHINE


async def test_boot_screen_offers_the_route_when_the_board_does_not_appear(session, tmp_path, monkeypatch):
    """A board address where nothing listens (a port on 127.0.0.1 just closed): the check fails at
    "reachable", the firmware mismatch is explained, and the button leads to the route on the Image step."""
    import socket

    from textual.widgets import Button
    from wrnvtest import wait_until

    from screens.app import WizardApp
    from screens.boot import BootScreen
    from wizard.core.steps import Status

    monkeypatch.setattr(BootScreen, "known_hosts", tmp_path / "kh")
    monkeypatch.setattr(BootScreen, "ssh_config", "/dev/null")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = WizardApp(session, start_at="boot")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert not screen.query_one("#boot-firmware").display            # nothing said before a check
        screen.query_one("#boot-host").value = "127.0.0.1"
        screen.query_one("#boot-port").value = str(port)
        screen.query_one("#boot-check", Button).press()
        await wait_until(pilot, lambda: not screen.busy and session.status("boot") is Status.FAILED, 60)
        await pilot.pause()
        note = str(screen.query_one("#boot-firmware").render())
        assert screen.query_one("#boot-firmware").display and "QSPI" in note and "wrnv-wizard firmware" in note
        screen.query_one("#boot-firmware-go", Button).press()
        await wait_until(pilot, lambda: app.current_step == "image", 10)


async def test_write_the_card_step_says_it_in_two_lines_at_80x24(session):
    from screens.app import WizardApp

    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        w = app.screen.query_one("#flash-firmware")
        assert "boot firmware" in str(w.render()) and "Rewrite boot firmware" in str(w.render())
        assert w.region.height <= 2 and w.region.width > 0
