"""The board, project and local.conf screens under pilot, driving the real engine against the stand-in world."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Log, SelectionList

from screens.app import WizardApp
from wizard.core.steps import Status
from wizard.demo.fake_repos import git
from wizard.project import localconf as lc

SIZE = (120, 50)


def _app(session, step):
    """Start on the welcome step and go to `step`: the app loads a screen's CSS_PATH when it switches to it."""
    app = WizardApp(session, start_at="welcome")
    app.call_later(app.goto, step)
    return app


async def _press(pilot, screen, selector: str) -> None:
    """Click a button like a user: scroll it into view first (the board screen is taller than the terminal)."""
    screen.query_one(selector).scroll_visible(animate=False)
    await pilot.pause()
    await pilot.click(selector)


async def _wait_idle(pilot, screen, timeout=60.0):

    for _ in range(int(timeout / 0.05)):
        await pilot.pause(0.05)
        if not screen.busy:
            return
    raise AssertionError(f"still busy: {screen.busy}")


async def test_board_defaults_and_saving_choices(session):
    app = _app(session, "board")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#board-machines", DataTable)
        assert table.row_count == len(session.profile.machines)
        assert table.get_row_at(table.cursor_row)[0] == "jetson-nano-qspi-sd"
        assert table.get_row_at(table.cursor_row)[2] == "yes"
        assert not screen.query_one("#nav-next").disabled        # Next saves what is on screen
        choices = screen.choices()
        assert choices["packages"] == session.profile.default_packages and choices["distro"] == "wrlinux"
        table.move_cursor(row=3)                                  # jetson-tx2
        screen.query_one("#board-packages", SelectionList).deselect("libvisionworks-tracking")
        await _press(pilot, screen, "#board-save")
        await pilot.pause()
        assert session.answers.machine == "jetson-tx2"
        assert "libvisionworks-tracking" not in session.answers.packages
        assert session.status("board") is Status.DONE
        assert not screen.query_one("#nav-next").disabled


async def test_board_refuses_a_package_without_what_it_needs(session):
    app = _app(session, "board")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#board-packages", SelectionList).deselect("cudnn")   # tensorrt needs cudnn
        await _press(pilot, screen, "#board-save")
        await pilot.pause()
        assert "needs cudnn" in str(screen.query_one("#board-result").render())
        assert "cudnn" in session.answers.packages and session.status("board") is Status.PENDING


async def test_board_bad_commit_is_one_line(session):
    app = _app(session, "board")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#board-meta-tegra-commit", Input).value = "1234"
        await _press(pilot, screen, "#board-save")
        await pilot.pause()
        assert "40-character" in str(screen.query_one("#board-result").render())


async def test_project_screen_creates_then_verifies(answered, world):
    app = _app(answered, "project")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#project-login").display      # public BASE source: no login
        await _press(pilot, screen, "#project-run")
        await _wait_idle(pilot, screen)
        log = "\n".join(str(line) for line in screen.query_one("#project-log", Log).lines)
        assert "$ git clone --branch WRLINUX_10_19_BASE" in log and "Project created." in log
        assert answered.status("project") is Status.DONE and not screen.query_one("#nav-next").disabled
        assert git(answered.project / "layers" / "meta-tegra", "rev-parse", "HEAD") == world.commits.tested
        await _press(pilot, screen, "#project-run")
        await _wait_idle(pilot, screen)
        steps = str(screen.query_one("#project-steps").render())
        assert steps.count("already") == 5
        log = "\n".join(str(line) for line in screen.query_one("#project-log", Log).lines)
        assert log.rstrip().endswith("Already set up: nothing to do.")


async def test_project_screen_shows_failure_and_offers_the_tip(answered, world):
    answered.update_answers(meta_tegra_commit="0" * 40)
    app = _app(answered, "project")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await _press(pilot, screen, "#project-run")
        await _wait_idle(pilot, screen)
        failure = str(screen.query_one("#project-failure").render())
        assert "is not on branch zeus-l4t-r32.3.1" in failure
        assert screen.query_one("#project-tip").display and screen.query_one("#nav-next").disabled
        await _press(pilot, screen, "#project-tip")
        await _wait_idle(pilot, screen)
        assert git(answered.project / "layers" / "meta-tegra", "rev-parse", "HEAD") == world.commits.tip
        assert answered.status("project") is Status.DONE


async def test_project_screen_shows_last_lines_log_and_hint(answered):
    answered.update_answers(wrlinux_url="http://127.0.0.1:9/wrlinux-x")
    app = _app(answered, "project")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await _press(pilot, screen, "#project-run")
        await _wait_idle(pilot, screen)
        failure = str(screen.query_one("#project-failure").render())
        assert "Last lines:" in failure and "project-clone-wrlinux.log" in failure and "What to do:" in failure
        assert answered.status("project") is Status.FAILED


async def test_localconf_screen_shows_diff_then_applies(answered):
    from wizard.project.create import ProjectCreator

    ProjectCreator(answered).run_all()
    conf = lc.local_conf_path(answered.profile, answered.project)
    with open(conf, "a") as f:
        f.write("MACHINE = 'qemux86-64'\n")
    app = _app(answered, "localconf")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "+BB_NO_NETWORK = '0'\n" in screen.diff_text and f"+{lc.BEGIN}" in screen.diff_text
        assert "MACHINE = 'qemux86-64'" in str(screen.query_one("#lc-conflicts").render())
        assert lc.BEGIN not in conf.read_text()                   # nothing written before Apply
        await _press(pilot, screen, "#lc-apply")
        await pilot.pause()
        assert conf.read_text().count(lc.BEGIN) == 1
        assert answered.status("localconf") is Status.DONE
        assert screen.query_one("#lc-apply").disabled            # nothing left to apply
        assert "Written" in str(screen.query_one("#lc-result").render())
        assert screen.diff_text == ""


async def test_project_screen_cancel_stops_a_hanging_clone(answered):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()   # accepts, never answers
    answered.update_answers(wrlinux_url=f"http://127.0.0.1:{srv.getsockname()[1]}/wrlinux-x")
    app = _app(answered, "project")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await _press(pilot, screen, "#project-run")
            await pilot.pause(0.5)
            assert screen.busy and not screen.query_one("#project-cancel").disabled
            await _press(pilot, screen, "#project-cancel")
            await _wait_idle(pilot, screen, timeout=10)
            log = "\n".join(str(line) for line in screen.query_one("#project-log", Log).lines)
            assert "Cancelled" in log
            assert answered.status("project") is Status.PENDING
    finally:
        srv.close()
