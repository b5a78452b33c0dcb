"""The Build screen under pilot with the stand-in bitbake: it updates, stops, shows failures, re-attaches."""

from __future__ import annotations

import re
import time

import pytest

from screens.app import WizardApp
from screens.build import BuildScreen
from wizard.build.runner import BuildRunner
from wizard.core.steps import Status


@pytest.fixture
def build_screen_opts(monkeypatch):
    # the suite runs as root: let the screen's runner start the stand-in (the product never sets this)
    monkeypatch.setattr(BuildScreen, "RUNNER_OPTIONS", {"allow_root": True, "min_free_bytes": 0})


def text_of(screen, sel: str) -> str:
    return str(screen.query_one(sel).render())


async def wait_for(pilot, cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.1)


async def test_screen_starts_and_follows_a_build_to_success(session, fake_env, build_screen_opts):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "4")
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        assert isinstance(screen, BuildScreen)
        assert "Ready to build wrlinux-image-glibc-std" in text_of(screen, "#build-status")
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: screen._snap.tasks_done > 20)
        await pilot.pause(0.5)
        progress = text_of(screen, "#build-progress-text")
        assert "Tasks " in progress and " of " in progress and "elapsed" in progress
        assert screen.query_one("#build-bar").total > 200
        assert "jetson-nano-qspi-sd" in text_of(screen, "#build-config")
        assert screen.log_view.line_count > 20
        # a strip like "Running (3): 12s compile glibc-2.30-r0 · 3s fetch ..." (the reader replaces the snapshot
        # at any time: check the form)
        assert re.search(r"^Running \(\d+\): \d+(m\d\ds|s) [a-z_]+ \S+-r0", text_of(screen, "#build-running"))
        assert screen.query_one("#nav-next").disabled is not True or session.status("build") is Status.RUNNING
        await wait_for(pilot, lambda: session.status("build") is Status.DONE)
        await pilot.pause(0.5)
        assert "Build succeeded" in text_of(screen, "#build-status")
        assert "Warnings 2" in text_of(screen, "#build-problems-title")
        assert not screen.query_one("#nav-next").disabled


async def test_screen_shows_the_failed_task_its_log_and_a_hint(session, fake_env, build_screen_opts, tmp_path):
    fake_env.setenv("WRNV_FAKE_BITBAKE_FAIL", "tini:do_compile")
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: session.status("build") is Status.FAILED)
        await wait_for(pilot, lambda: screen.query_one("#build-failure").display)
        await pilot.pause(0.3)
        failure = text_of(screen, "#build-failure")
        assert "tini-0.18.0-r0 do_compile failed" in failure
        # the cause line first (the compiler's error from the task's log), then the hint
        assert "> " in failure and "strlcpy" in failure.split("Hint")[0]
        assert "Hint — The source does not build with this compiler" in failure
        assert "Errors 2" in text_of(screen, "#build-problems-title")
        # the full log a key away
        await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        assert any("strlcpy" in line for line in screen.log_view.lines)
        assert "Failed task's log (ctrl+o: back)" in text_of(screen, "#build-log-title")
        assert not screen.query_one("#build-failure").display      # the log gets the height
        await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        assert screen.query_one("#build-failure").display
        assert text_of(screen, "#build-log-title").startswith("Log (the last lines")
        assert screen.query_one("#build-start").label.plain == "Retry"
        assert screen.query_one("#nav-next").disabled
        first_log = screen.build_run.log
        # fixed: retry builds again, from a fresh log, and the failure panel goes away
        fake_env.delenv("WRNV_FAKE_BITBAKE_FAIL")
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: session.status("build") is Status.DONE)
        await pilot.pause(0.3)
        assert screen.build_run.log != first_log
        assert not screen.query_one("#build-failure").display
        assert "Build succeeded" in text_of(screen, "#build-status")


async def test_stop_is_graceful_first(session, fake_env, build_screen_opts):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.5")
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: screen._snap.tasks_done > 2)
        await pilot.click("#build-stop")
        await pilot.pause()
        from screens.confirm import ConfirmScreen

        assert isinstance(app.screen, ConfirmScreen)        # an hours-long build is not stopped without asking
        assert "Stop the build?" in str(app.screen.query_one("#confirm-question").render())
        await pilot.click("#confirm-yes")
        await pilot.pause()
        assert screen.query_one("#build-stop").label.plain == "Force stop"
        await wait_for(pilot, lambda: session.status("build") is Status.FAILED)
        await pilot.pause(0.3)
        assert "Build stopped" in text_of(screen, "#build-status")
        assert session.step_state("build").detail == "stopped before the end"


async def test_second_stop_asks_then_forces(session, fake_env, build_screen_opts):
    from screens.confirm import ConfirmScreen

    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.01")     # tasks far longer than the test
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: screen._snap.running)
        await pilot.press("ctrl+x")                      # graceful: bitbake waits for the running tasks
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")                      # no: the build goes on untouched
        await pilot.pause(0.5)
        assert not screen._stop_sent and not screen.build_run.stop_requested()
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await pilot.pause(0.5)
        assert screen._stop_sent and session.status("build") is Status.RUNNING
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: session.status("build") is Status.FAILED, timeout=20)
        screen.build_run.wait(10)
        assert not screen.build_run.alive()
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert any(str(screen.build_run.log) in str(n.message) for n in app._notifications)


async def test_reattach_after_quitting_follows_the_same_build(project, fake_env, build_screen_opts):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "3")
    first = Session(load_profile(), project)
    app = WizardApp(first, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: screen._snap.tasks_done > 5)
        pid = first.step_state("build").data["pid"]
        await pilot.press("ctrl+q")          # it asks, and says the build goes on after the wizard quits
        await pilot.pause()
        from screens.confirm import ConfirmScreen

        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#confirm-question").render())
        assert f"pid {pid}) goes on after the wizard quits" in question
        await pilot.click("#confirm-yes")
        await pilot.pause()
    assert first.status("build") is Status.RUNNING
    runner = BuildRunner(Session(load_profile(), project), allow_root=True, min_free_bytes=0)
    assert runner.running() is not None and runner.running().pid == pid

    second = Session(load_profile(), project)
    app2 = WizardApp(second, start_at="build")
    async with app2.run_test(size=(140, 44)) as pilot:
        screen = app2.screen
        await wait_for(pilot, lambda: screen.build_run is not None)
        assert screen.build_run.pid == pid
        await wait_for(pilot, lambda: second.status("build") is Status.DONE, timeout=60)
        await pilot.pause(0.5)
        assert "Build succeeded" in text_of(screen, "#build-status")
        assert screen._snap.tasks_done == screen._snap.tasks_total > 200

    # a third start shows the finished build's result without running anything
    third = Session(load_profile(), project)
    app3 = WizardApp(third, start_at="build")
    async with app3.run_test(size=(140, 44)) as pilot:
        screen = app3.screen
        await wait_for(pilot, lambda: "Build succeeded" in text_of(screen, "#build-status"))
        assert screen.query_one("#build-start").label.plain == "Build again"
        assert third.step_state("build").data["pid"] == pid


async def test_root_is_refused_on_screen(session, fake_env, monkeypatch):
    monkeypatch.setattr(BuildScreen, "RUNNER_OPTIONS", {"min_free_bytes": 0, "euid": lambda: 0})
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.click("#build-start")
        await pilot.pause()
        assert "does not run as root" in text_of(app.screen, "#build-status")
        assert session.status("build") is Status.PENDING


def test_log_feed_caps_what_it_keeps():
    from screens.log_view import LineFeed

    feed = LineFeed(cap=100)
    feed.push("".join(f"line {i}\n" for i in range(1000)) + "part")
    lines = feed.take()
    assert len(lines) == 100 and lines[-1] == "line 999" and feed.dropped == 900 and feed.total == 1000
    feed.push("ial\n")
    assert feed.take() == ["partial"]
