"""The Textual shell under pilot: navigation, status marks, failed steps, quitting while work runs."""

from __future__ import annotations

from screens.app import WizardApp
from screens.base import StepScreen
from screens.confirm import ConfirmScreen
from screens.step_list import StepList
from wizard.core.steps import Status


def sidebar_text(app) -> str:
    sl = app.screen.query_one(StepList)
    return "\n".join(str(sl.get_option_at_index(i).prompt) for i in range(sl.option_count))


async def test_next_and_back_move_between_steps_and_mark_welcome_done(session):
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_step == "welcome"
        assert "▶○  1 Welcome" in sidebar_text(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_step == "prereqs"
        assert session.status("welcome") is Status.DONE
        assert "✔  1 Welcome" in sidebar_text(app) and "▶" in sidebar_text(app).splitlines()[1]
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert app.current_step == "welcome"


async def test_resume_starts_at_first_unfinished_step(session):
    session.mark("welcome", Status.DONE)
    session.mark("prereqs", Status.DONE)
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)):
        assert app.current_step == "host"


async def test_failed_step_blocks_next_until_continue_anyway(session):
    session.mark("welcome", Status.DONE)
    session.mark("prereqs", Status.FAILED, "SDK Manager missing")
    app = WizardApp(session, start_at="prereqs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, StepScreen)
        # The prereqs screen re-detects; force the failed state it would show for a missing item.
        screen.workers.cancel_all()
        session.mark("prereqs", Status.FAILED, "SDK Manager missing")
        screen.refresh_nav()
        await pilot.pause()
        assert screen.query_one("#nav-next").disabled
        assert "SDK Manager missing" in str(screen.query_one("#nav-status").render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_step == "prereqs"
        assert screen.query_one("#nav-anyway").display
        await pilot.click("#nav-anyway")
        await pilot.pause()
        # skipping prerequisites asks first; "Go back" is the focused answer
        assert isinstance(app.screen, ConfirmScreen) and "Continue anyway?" in app.screen.question
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_step == "prereqs" and session.status("prereqs") is Status.FAILED
        await pilot.click("#nav-anyway")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await pilot.pause()
        assert app.current_step == "host"
        assert session.status("prereqs") is Status.SKIPPED


async def test_sidebar_refuses_steps_not_reached_yet(session):
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        sl = app.screen.query_one(StepList)
        sl.focus()
        sl.highlighted = 7
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_step == "welcome"


async def test_quit_asks_while_work_runs(session):
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.busy = "hashing downloads"
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "hashing downloads" in app.screen.question
        assert app.screen.focused.id == "confirm-no"
        await pilot.press("enter")   # Cancel is focused: the safe answer
        await pilot.pause()
        assert isinstance(app.screen, StepScreen) and app.is_running
        app.screen.busy = ""
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_host_step_runs_the_checks_and_marks_status(session):
    session.mark("welcome", Status.DONE)
    session.mark("prereqs", Status.DONE)
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_step == "host"
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.screen.query_one("#host-results").render())
        assert "git identity" in text and "free disk" in text
        assert session.status("host") in (Status.DONE, Status.FAILED)
