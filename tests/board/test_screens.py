"""Pilot tests: the Boot & check screen against the real sshd (host-key modal, checks, hints) and the
Summary screen with its Markdown export."""

from __future__ import annotations

import pytest
from wrnvtest import wait_until

from screens.app import WizardApp
from screens.boot import BootScreen
from screens.boot_hostkey import HostKeyScreen
from wizard.core.steps import Status

SIZE = (130, 45)


@pytest.fixture
def board_session(board_host, tmp_path, monkeypatch):
    from wizard.core.session import Session

    monkeypatch.setattr(BootScreen, "known_hosts", tmp_path / "kh")
    monkeypatch.setattr(BootScreen, "ssh_config", "/dev/null")
    return Session.open(tmp_path / "project", str(board_host["profile"]))


async def _wait_for(pilot, cond, timeout=60.0):
    await wait_until(pilot, cond, timeout)


async def _check(pilot, app, board_host, trust=True):
    screen = app.screen
    screen.query_one("#boot-host").value = "127.0.0.1"
    screen.query_one("#boot-port").value = str(board_host["port"])
    screen.query_one("#boot-identity").value = str(board_host["identity"])
    await pilot.click("#boot-check")
    await _wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.screen.focused is not None)
    modal = app.screen
    assert any("SHA256:" in f for f in modal.fingerprints)
    assert "SHA256:" in str(modal.query_one("#hostkey-fingerprints").render())
    assert modal.focused.id == "hostkey-no"
    await pilot.pause()
    if trust:
        await pilot.press("tab")   # a deliberate move to "Trust this board"
        assert modal.focused.id == "hostkey-yes"
    await pilot.press("enter")
    await _wait_for(pilot, lambda: app.screen is screen, timeout=10)
    await _wait_for(pilot, lambda: app.screen is screen and not screen.busy
                    and app.session.status("boot") is not Status.RUNNING)
    await pilot.pause()
    return screen


async def test_boot_screen_passes_on_a_healthy_board(board_session, board_host, jetson, libcuda_standin):
    jetson.install_libcuda(libcuda_standin)
    app = WizardApp(board_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        assert "needs internet" in str(app.screen.query_one("#boot-note").render())
        screen = await _check(pilot, app, board_host)
        assert board_session.status("boot") is Status.DONE, board_session.step_state("boot").detail
        table = screen.query_one("#checks-table")
        assert [str(table.get_cell(n, "status")) for n in ("reachable", "login", "gpu")] == ["pass"] * 3
        assert not screen.query_one("#boot-demo").disabled
        assert screen.query_one("#nav-next").disabled is False
        assert board_session.answers.board_host == "127.0.0.1"
        assert board_session.step_state("boot").data["gpu"]["devices"][0]["name"] == "NVIDIA Tegra X1 (stand-in)"


async def test_boot_screen_shows_the_hint_for_a_broken_link(board_session, board_host, jetson):
    jetson.scenario(runtimes=["runc"])
    jetson.path("daemon_json").unlink()
    app = WizardApp(board_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _check(pilot, app, board_host)
        assert board_session.status("boot") is Status.FAILED
        table = screen.query_one("#checks-table")
        assert str(table.get_cell("nvidia_runtime", "status")) == "FAIL"
        assert str(table.get_cell("gpu", "status")) == "skip"
        assert "runtimes: runc only -> nvidia-container-runtime" in str(table.get_cell("nvidia_runtime", "hint"))
        # The cursor stays on the first failure, with its evidence; moving it shows another check's.
        evidence = str(screen.query_one("#checks-evidence").render())
        assert "daemon.json" in evidence and "nvidia-docker" in evidence
        table.move_cursor(row=table.get_row_index("nvidia_runtime"))
        await pilot.pause()
        evidence = str(screen.query_one("#checks-evidence").render())
        assert "docker info" in evidence and "Runtimes: runc" in evidence
        assert screen.query_one("#boot-demo").disabled
        assert screen.query_one("#nav-anyway").display  # the boot step may be continued anyway


async def test_declining_the_host_key_checks_nothing(board_session, board_host, jetson, tmp_path):
    app = WizardApp(board_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _check(pilot, app, board_host, trust=False)
        assert board_session.status("boot") is Status.PENDING
        assert "not trusted" in str(screen.query_one("#boot-result").render())
        assert not (tmp_path / "kh").exists()


async def test_summary_screen_and_export(session, tmp_path):
    session.mark("welcome", Status.DONE)
    session.mark("build", Status.DONE, "bitbake wrlinux-image-glibc-std succeeded")
    app = WizardApp(session, start_at="summary")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#summary-steps")
        assert table.row_count == 12 and str(table.get_cell("build", "status")) == "done"
        assert "Next steps" in str(screen.query_one("#summary-next").render())
        target = tmp_path / "exported" / "summary.md"
        screen.query_one("#summary-path").value = str(target)
        await pilot.click("#summary-export-button")
        await pilot.pause()
        text = target.read_text()
        assert "| Build | done |" in text and "## Next steps" in text


async def test_changed_host_key_offers_to_forget_it(board_session, board_host, jetson, tmp_path):
    import subprocess

    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    (tmp_path / "kh").write_text(f"[127.0.0.1]:{board_host['port']} {other.with_suffix('.pub').read_text()}")
    app = WizardApp(board_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#boot-host").value = "127.0.0.1"
        screen.query_one("#boot-port").value = str(board_host["port"])
        screen.query_one("#boot-identity").value = str(board_host["identity"])
        await pilot.press("f5")
        await _wait_for(pilot, lambda: board_session.status("boot") is Status.FAILED and not screen.busy)
        await pilot.pause()
        result = str(screen.query_one("#boot-result").render())
        assert f"[127.0.0.1]:{board_host['port']}" in result and "changed" in result
        assert screen.query_one("#boot-forget").display
        screen.query_one("#boot-scroll").scroll_to_widget(screen.query_one("#boot-forget"), animate=False)
        await pilot.pause()
        await pilot.click("#boot-forget")
        await pilot.pause()
        assert other.with_suffix(".pub").read_text().split()[1] not in (tmp_path / "kh").read_text()
        await pilot.press("f5")
        await _wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.screen.focused is not None)
        assert f"[127.0.0.1]:{board_host['port']}" in str(app.screen.query_one("#hostkey-title").render())


async def test_picking_a_candidate_fills_the_address(session):
    app = WizardApp(session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        cands = screen.query_one("#boot-candidates")
        await _wait_for(pilot, lambda: cands.option_count > 0)
        mdns = next(i for i, c in enumerate(cands.candidates) if c.kind == "mdns")
        assert "mDNS" in str(cands.get_option_at_index(mdns).prompt)   # the kind label is not eaten as markup
        cands.focus()
        cands.highlighted = mdns
        await pilot.press("enter")
        await pilot.pause()
        assert screen.query_one("#boot-host").value == "jetson-nano-qspi-sd.local"


async def test_saved_results_are_shown_again(session):
    from wizard.board.check import FAIL, PASS, BoardReport, Check, record_report

    record_report(session, BoardReport("root@192.0.2.9", [Check("reachable", PASS, "connect", "ok"),
                                                          Check("login", FAIL, "ssh", "denied", "use a key")]))
    app = WizardApp(session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#checks-table")
        assert str(table.get_cell("login", "status")) == "FAIL" and str(table.get_cell("login", "hint")) == "use a key"
        assert "root@192.0.2.9" in str(screen.query_one("#boot-result").render())
        assert screen.query_one("#boot-demo").disabled
