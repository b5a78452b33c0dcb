"""StepScreen: the frame every step shares (header, sidebar, title, nav bar, footer).

A step's screen supplies only its body (`compose_body`) and, where needed, when it may advance
(`can_advance`). Navigation, the failed-step rule and "continue anyway" live here once.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, OptionList, Static

from wizard.core import steps
from wizard.core.steps import Status

from .messages import GoToStep
from .step_list import StepList


class StepScreen(Screen):
    STEP_ID = ""
    # Informational steps (welcome, summary) count as done once the user moves on.
    COMPLETE_ON_NEXT = False

    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
    ]

    # What runs now, in words ("" when idle). The app asks before quitting while it is set.
    busy: reactive[str] = reactive("")

    def __init__(self, session) -> None:
        super().__init__(name=self.STEP_ID)
        self.session = session
        self.spec = steps.step(self.STEP_ID)

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        banner = getattr(self.session, "banner", "")
        if banner:
            yield Static(banner, id="banner")
        with Horizontal(id="layout"):
            yield StepList(self.session, self.STEP_ID, id="sidebar")
            with Vertical(id="main"):
                n = steps.index(self.STEP_ID) + 1
                yield Static(f"Step {n} of {len(steps.STEPS)}: {self.spec.title}", id="step-title")
                yield Static(self.spec.summary, id="step-summary")
                with Vertical(id="step-body"):
                    yield from self.compose_body()
                yield Static("", id="nav-status")
                with Horizontal(id="nav"):
                    yield Static("", id="nav-spacer")
                    yield Button("◀ Back", id="nav-back", compact=True)
                    yield Button("Continue anyway", id="nav-anyway", variant="warning", compact=True)
                    yield Button("Next ▶", id="nav-next", variant="primary", compact=True)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

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
        return False, "Not done yet."

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
        nxt.disabled = not ok or last
        self.query_one("#nav-anyway", Button).display = (not ok) and self.can_continue_anyway()
        self.query_one("#nav-status", Static).update(why)
        for sidebar in self.query(StepList):
            sidebar.refresh_marks()

    def on_mount(self) -> None:
        self.refresh_nav()

    def on_screen_resume(self) -> None:
        self.refresh_nav()

    def watch_busy(self, _old: str, _new: str) -> None:
        self.refresh_nav()

    # -- actions -----------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"nav-next": self.action_next, "nav-back": self.action_back,
                   "nav-anyway": self.action_continue_anyway}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option_list, StepList) and event.option.id:
            event.stop()
            self.post_message(GoToStep(event.option.id))

    def action_next(self) -> None:
        ok, why = self.can_advance()
        if not ok:
            self.notify(why, severity="warning")
            return
        if self.COMPLETE_ON_NEXT and not self.session.status(self.STEP_ID).finished:
            self.session.mark(self.STEP_ID, Status.DONE)
        self.app.next_step()

    def action_back(self) -> None:
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        self.app.previous_step()

    def action_continue_anyway(self) -> None:
        if not self.can_continue_anyway():
            return
        self.session.mark(self.STEP_ID, Status.SKIPPED, "continued anyway")
        self.app.next_step()
