"""StepScreen: the frame every step shares (header, sidebar, title, nav bar, footer).

A step's screen supplies only its body (`compose_body`) and, where needed, when it may advance
(`can_advance`). Navigation, the failed-step rule and "continue anyway" live here once.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Header, OptionList, Static

from wizard.core import steps
from wizard.core.steps import Status

from .messages import GoToStep
from .step_footer import StepFooter
from .step_list import MARKS, StepList

# From this width on the sidebar (the step list) is shown; below it the marks on the title line stand in for it.
WIDE = 100
# From this height on the header is shown; below it its row goes to the step.
TALL = 30


class StepScreen(Screen):
    STEP_ID = ""
    # Informational steps (welcome, summary) count as done once the user moves on.
    COMPLETE_ON_NEXT = False
    # What to do when the step is not done yet, in the words of its own buttons.
    NOT_DONE = "Not done yet."
    # The first screen users wait for may draw its frame (header, title, summary, footer) first and compose its
    # body and nav right after (the Welcome step). Its on_mount must not look for them.
    BODY_AFTER_FIRST_FRAME = False

    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        # Reading keys for the step's long content, whatever has the focus (a button, a checkbox):
        # widgets that use these keys themselves (lists, tables, inputs) keep them.
        Binding("pageup", "scroll_body('page_up')", "Page up", show=False),
        Binding("pagedown", "scroll_body('page_down')", "Page down", show=False),
        Binding("up", "scroll_body('scroll_up')", show=False),
        Binding("down", "scroll_body('scroll_down')", show=False),
        Binding("home", "scroll_body('scroll_home')", show=False),
        Binding("end", "scroll_body('scroll_end')", show=False),
    ]
    # Under 100 columns the sidebar folds into the title line; under 30 rows the header goes.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]

    # What runs now, in words ("" when idle). The app asks before quitting while it is set.
    busy: reactive[str] = reactive("", init=False)

    def __init__(self, session) -> None:
        super().__init__(name=self.STEP_ID)
        self.session = session
        self.spec = steps.step(self.STEP_ID)

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The size classes before the first styling pass: set later (on resize) they would style every
        # widget a second time before the first frame.
        width, height = self.app.size
        self.set_class(width < WIDE, "-narrow").set_class(width >= WIDE, "-wide")
        self.set_class(height < TALL, "-short").set_class(height >= TALL, "-tall")
        # What these sizes hide is not even made (styling and laying out widgets nobody sees is a noticeable
        # part of the first frame): the header under TALL rows, the step list under WIDE columns. They are
        # mounted when the terminal grows (_ensure_shown).
        if height >= TALL:
            yield Header(show_clock=False)
        banner = getattr(self.session, "banner", "")
        if banner:
            yield Static(banner, id="banner")
        with Horizontal(id="layout"):
            if width >= WIDE:
                yield self._sidebar()
            elif self.AUTO_FOCUS is None:
                # The list took the first focus, hidden or not. Narrow, no widget takes it by itself (as the
                # hidden list looked): the reading keys scroll the step, Tab reaches its controls.
                self.AUTO_FOCUS = ""
            with Vertical(id="main"):
                n = steps.index(self.STEP_ID) + 1
                with Horizontal(id="step-head"):
                    yield Static(f"Step {n} of {len(steps.STEPS)}: {self.spec.title}", id="step-title")
                    yield Static(self._marks(), id="step-marks")
                yield Static(self.spec.summary, id="step-summary")
                with Vertical(id="step-body"):
                    if not self.BODY_AFTER_FIRST_FRAME:
                        yield from self.compose_body()
                if not self.BODY_AFTER_FIRST_FRAME:
                    yield from self._compose_nav()
        yield StepFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def _compose_nav(self) -> ComposeResult:
        """Under the body: the last message (empty until one comes), why Next is off, the buttons."""
        yield Static("", id="step-note")
        yield Static("", id="nav-status")
        with Horizontal(id="nav"):
            yield Static("", id="nav-spacer")
            yield Button("◀ Back", id="nav-back", compact=True)
            yield Button("Continue anyway", id="nav-anyway", variant="warning", compact=True)
            yield Button("Next ▶", id="nav-next", variant="primary", compact=True)

    async def _mount_body(self) -> None:
        """BODY_AFTER_FIRST_FRAME: the body and the nav, once the frame was drawn."""
        await self.query_one("#step-body").mount_compose(self.compose_body())
        await self.query_one("#main").mount_compose(self._compose_nav())
        self.refresh_nav()
        # The focus the screen names (it was not there to take it on the first frame); given even where the
        # terminal reported no focus, as the user will type here.
        if self.AUTO_FOCUS and self.focused is None:
            for widget in self.query(self.AUTO_FOCUS):
                if widget.focusable:
                    self.set_focus(widget)
                    break
        # Once this page is drawn: what the other steps and the dialogs share.
        load_shared_css = getattr(self.app, "load_shared_css", None)
        if load_shared_css is not None:
            self.call_after_refresh(load_shared_css)

    def _sidebar(self) -> StepList:
        return StepList(self.session, self.STEP_ID, id="sidebar")

    def _ensure_shown(self, width: int, height: int) -> None:
        if not self.is_mounted:
            return
        if height >= TALL and not self.query(Header):
            self.mount(Header(show_clock=False), before=0)
        if width >= WIDE and not self.query("#sidebar"):
            self.query_one("#layout").mount(self._sidebar(), before=0)

    # -- results stay ------------------------------------------------------------------------------
    def notify(self, message: str, *, title: str = "", severity="information", timeout=None,
               markup: bool = True) -> None:
        """A toast, and the same words kept in the step (#step-note) until the next one: a toast vanishes
        before a user who looked away has read it."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        if threading.get_ident() == getattr(self.app, "_thread_id", None):
            self._keep_note(message, title, severity, markup)
        else:
            self.app.call_from_thread(self._keep_note, message, title, severity, markup)

    def _keep_note(self, message: str, title: str, severity: str, markup: bool) -> None:
        if not self.is_mounted or not self.query("#step-note"):
            return
        note = self.query_one("#step-note", Static)
        text = f"{title}: {message}" if title else message
        note.update(text if markup else Text(text))
        for level in ("information", "warning", "error"):
            note.set_class(level == severity, f"-{level}")
        note.display = True

    def _marks(self) -> str:
        """Every step's mark on one line (shown instead of the sidebar on narrow terminals)."""
        return "".join(("▸" if s.id == self.STEP_ID else "") + MARKS[self.session.status(s.id)]
                       for s in steps.STEPS)

    def quit_note(self) -> str:
        """What goes on after the wizard quits (a detached build), said before quitting; "" for nothing."""
        return ""

    # -- the rules for moving on -------------------------------------------------------------------
    def can_advance(self) -> tuple:
        """(ok, why not). Default: the step is done or skipped, and nothing runs."""
        if self.busy:
            return False, f"Busy: {self.busy}"
        status = self.session.status(self.STEP_ID)
        if self.COMPLETE_ON_NEXT or status.finished:
            return True, ""
        if status is Status.FAILED:
            detail = self.session.step_state(self.STEP_ID).detail
            return False, f"This step failed: {detail}" if detail else "This step failed: fix it to go on."
        if status is Status.RUNNING:
            return False, "Still running."
        return False, self.NOT_DONE

    def can_continue_anyway(self) -> bool:
        status = self.session.status(self.STEP_ID)
        return (self.spec.continue_anyway and not self.busy
                and status in (Status.FAILED, Status.PENDING))

    def refresh_nav(self) -> None:
        # A status change can arrive while the screen is still being composed: it refreshes on mount.
        if not self.is_mounted or not self.query("#nav-next"):
            return
        ok, why = self.can_advance()
        first = steps.index(self.STEP_ID) == 0
        last = steps.index(self.STEP_ID) == len(steps.STEPS) - 1
        self.query_one("#nav-back", Button).disabled = first or bool(self.busy)
        nxt = self.query_one("#nav-next", Button)
        nxt.disabled = not ok
        if last:
            # The journey ends here: Next says so and leaves, rather than doing nothing.
            nxt.label = "Quit ▶"
            why = why or "This is the last step: everything is saved; Quit leaves the wizard."
        self.query_one("#nav-anyway", Button).display = (not ok) and self.can_continue_anyway()
        self.query_one("#nav-status", Static).update(why)
        for sidebar in self.query(StepList):
            sidebar.refresh_marks()
        self.query_one("#step-marks", Static).update(self._marks())

    def on_mount(self) -> None:
        """The nav is brought up to date once, on the ScreenResume that follows every mount (each refresh before
        the first frame restyles the nav). Step screens chain here with super()."""
        if self.BODY_AFTER_FIRST_FRAME:
            # Queued behind the ScreenResume that draws the frame: the body comes right after it, without
            # waiting for a refresh cycle (call_after_refresh cost about 30 ms more before the page was whole).
            self.call_later(self._mount_body)

    def on_screen_resume(self) -> None:
        self._ensure_shown(*self.app.size)
        self.refresh_nav()

    def on_resize(self, event) -> None:
        self._ensure_shown(*event.size)

    def watch_busy(self, _old: str, _new: str) -> None:
        self.refresh_nav()

    # -- actions -----------------------------------------------------------------------------------
    @on(Button.Pressed, "#nav-next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next()

    @on(Button.Pressed, "#nav-back")
    def _back_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back()

    @on(Button.Pressed, "#nav-anyway")
    def _anyway_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_continue_anyway()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Nothing: the buttons have @on handlers. Kept while a screen still chains here with super()."""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option_list, StepList) and event.option.id:
            event.stop()
            self.post_message(GoToStep(event.option.id))

    def action_scroll_body(self, how: str) -> None:
        """Scroll the step's main scrollable area (the first one in the body with somewhere to go)."""
        for widget in self.query_one("#step-body").query("*"):
            if widget.display and widget.is_scrollable and (widget.max_scroll_y > 0):
                getattr(widget, f"action_{how}")()
                return

    def action_next(self) -> None:
        ok, why = self.can_advance()
        if not ok:
            self.app.notify(why, severity="warning")   # the nav line already says it: a toast only
            return
        if self.COMPLETE_ON_NEXT and not self.session.status(self.STEP_ID).finished:
            self.session.complete(self.STEP_ID)
        if steps.index(self.STEP_ID) == len(steps.STEPS) - 1:
            self.app.run_worker(self.app.action_quit(), group="quit")
            return
        self.app.next_step()

    def action_back(self) -> None:
        if self.busy:
            self.app.notify(f"Busy: {self.busy}", severity="warning")
            return
        self.app.previous_step()

    def action_continue_anyway(self) -> None:
        if not self.can_continue_anyway():
            return
        self.session.continue_anyway(self.STEP_ID)
        self.app.next_step()
