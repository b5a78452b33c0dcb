"""Step 1: what will be built, what it needs, and the steps ahead.

Plain content markup rather than a Markdown widget: it is the first frame users wait for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from wizard.core.paths import asset

from .base import StepScreen


class WelcomeScreen(StepScreen):
    STEP_ID = "welcome"
    COMPLETE_ON_NEXT = True
    # Next has the focus from the first frame: focusing the first focusable widget and then moving the focus
    # would style and draw the screen twice more before the user sees it.
    AUTO_FOCUS = "#nav-next"

    def compose_body(self) -> ComposeResult:
        if getattr(self.session, "resumed_demo", False):
            yield Static("This demo picks up the sandbox of the last one: the steps it already finished are "
                         "marked ✔. Start over with wrnv-wizard --demo --new.",
                         id="welcome-resumed", classes="result-panel")
        with VerticalScroll():
            yield Static(id="welcome-text")

    def on_mount(self) -> None:
        if self.focused is None:        # a terminal that reported no focus gets no auto-focus
            self.query_one("#nav-next").focus()
        # The text comes one frame after the step's frame: laying out and drawing a page of formatted text is
        # the largest part of the first frame, which the user waits for with an empty terminal.
        self.call_after_refresh(self._show_text)

    def _show_text(self) -> None:
        self.query_one("#welcome-text", Static).update(asset("text", "welcome.txt").read_text(encoding="utf-8"))
