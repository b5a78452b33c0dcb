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
    # Next has the focus from the first frame it is in: focusing the first focusable widget and then moving the
    # focus would style and draw the screen twice more.
    AUTO_FOCUS = "#nav-next"
    # The frame users wait for after typing wrnv-wizard: drawn first, the page of text and the buttons right
    # after it (styling, laying out and drawing them is most of the first frame's work).
    BODY_AFTER_FIRST_FRAME = True

    def compose_body(self) -> ComposeResult:
        if getattr(self.session, "resumed_demo", False):
            yield Static("This demo picks up the sandbox of the last one: the steps it already finished are "
                         "marked ✔. Start over with wrnv-wizard --demo --new.",
                         id="welcome-resumed", classes="result-panel")
        with VerticalScroll():
            yield Static(asset("text", "welcome.txt").read_text(encoding="utf-8"), id="welcome-text")
