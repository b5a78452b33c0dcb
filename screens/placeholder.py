"""Shown for a step whose screen is not installed; says how to run the step headless instead."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import StepScreen


class PlaceholderScreen(StepScreen):
    def __init__(self, session, step_id: str) -> None:
        self.STEP_ID = step_id
        super().__init__(session)

    def compose_body(self) -> ComposeResult:
        cli = f"wrnv-wizard {self.spec.cli} --help" if self.spec.cli else "the plain mode (--plain)"
        yield Static(f"This step has no screen in this version. Run it with {cli}.")
