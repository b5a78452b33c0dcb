"""The Textual shell under pilot: navigation, status marks, failed steps, quitting while work runs."""

from __future__ import annotations

from textual.widgets import Header

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
    async with app.run_test(size=(120, 40)) as pilot:     # wide: the sidebar is shown
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
    async with app.run_test(size=(120, 40)) as pilot:
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


async def test_sidebar_and_header_are_made_only_when_shown_and_come_when_the_terminal_grows(session):
    """Under 100 columns the step list is hidden and under 30 rows the header, so they are not made (start-up);
    growing the terminal brings them, the list with its marks left of the step, the header on top."""
    session.mark("welcome", Status.DONE)
    app = WizardApp(session, start_at="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.screen.query(StepList) and not app.screen.query(Header)
        assert app.screen.focused is not None and app.screen.focused.id == "nav-next"
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        sl = app.screen.query_one(StepList)
        assert sl.display and sl.region.width > 0 and sl.region.x == 0
        header = app.screen.query_one(Header)
        assert header.display and header.region.y == 0 and sl.region.y >= header.region.height
        assert "▶✔  1 Welcome" in sidebar_text(app)
        await pilot.press("ctrl+n")                 # a step made while wide has it from the start
        await pilot.pause()
        assert app.current_step == "prereqs" and app.screen.query_one(StepList).display


async def test_narrow_step_gives_no_focus_to_a_hidden_widget_and_pagedown_scrolls(session):
    """At 80x24 no hidden widget holds the focus (the hidden step list used to, and ate the reading keys)."""
    for step in ("welcome", "prereqs"):
        session.mark(step, Status.DONE)
    app = WizardApp(session, start_at="host")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        focused = app.screen.focused
        assert focused is None or focused.display
        body = [w for w in app.screen.query_one("#step-body").query("*")
                if w.display and w.is_scrollable and w.max_scroll_y > 0]
        assert body, "the host check at 80x24 has more than a screen of results"
        await pilot.press("pagedown")
        await pilot.pause()
        assert body[0].scroll_y > 0


async def test_welcome_body_and_nav_follow_the_first_frame(session):
    """Welcome draws its frame first (start-up) and its text and buttons right after: once the app settles
    they are there, Next has the focus, Back (first step) is off and Continue anyway hidden."""
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        text = str(screen.query_one("#welcome-text").render())
        assert "What you need" in text and "The steps ahead" in text
        assert screen.focused is screen.query_one("#nav-next")
        assert screen.query_one("#nav-back").disabled and not screen.query_one("#nav-anyway").display
        # the nav sits under the body, in the order the other steps have
        ids = [w.id for w in screen.query_one("#main").children]
        assert ids[-4:] == ["step-body", "step-note", "nav-status", "nav"]
        await pilot.press("enter")                  # Enter on the focused Next moves on
        await pilot.pause()
        assert app.current_step == "prereqs"


async def test_footer_is_rebuilt_only_when_its_keys_change(session):
    """Tab moves the focus and Textual's footer rebuilt all its keys each time (the slowest part of a key press
    on the Build step); the step's footer rebuilds only when what it shows changes, and then it does."""
    from screens.step_footer import StepFooter

    app = WizardApp(session, start_at="welcome")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        footer = app.screen.query_one(StepFooter)
        rebuilt = []
        original = footer.recompose

        async def counting():
            rebuilt.append(1)
            await original()

        footer.recompose = counting
        for _ in range(4):
            await pilot.press("tab")
            await pilot.pause(0.05)
        assert app.focused is not None and not rebuilt
        app.screen._bindings.bind("f9", "app.bell", "Ring the bell")
        app.screen.refresh_bindings()
        await pilot.pause(0.3)
        assert rebuilt
        assert any("Ring the bell" in str(k.description) for k in footer.query("FooterKey"))
