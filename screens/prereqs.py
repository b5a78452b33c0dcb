"""Step 2: the NVIDIA prerequisites checklist (detected where possible, confirmed otherwise)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Static

from wizard.core.paths import asset
from wizard.downloads import prereqs

from .base import StepScreen
from .confirm import ConfirmScreen
from .tick import Tick


class PrereqsScreen(StepScreen):
    STEP_ID = "prereqs"
    CSS_PATH = str(asset("styles", "prereqs.tcss"))

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("SDK Manager downloads folder:")
            with Horizontal(id="prereqs-folder-row"):
                yield Input(self.session.answers.downloads_dir, id="prereqs-folder", compact=True)
                yield Button("Look again", id="prereqs-rescan", compact=True)
            # Not a second scroll: one Tab stop less between the folder and the first box.
            yield Vertical(id="prereqs-items")

    def on_mount(self) -> None:
        super().on_mount()
        self.rescan()

    @property
    def confirmed(self) -> set:
        return set(self.session.step_state(self.STEP_ID).data.get("confirmed", []))

    @work(thread=True, exclusive=True)
    def rescan(self) -> None:
        a = self.session.answers
        items = prereqs.detect(self.session.profile, a.downloads, machine=a.machine, packages=a.packages)
        self.app.call_from_thread(self._show, items)

    def _show(self, items: list) -> None:
        self.items = items
        box = self.query_one("#prereqs-items")
        box.remove_children()
        confirmed = self.confirmed
        for item in items:
            value = bool(item.detected) or item.id in confirmed
            label = f"{item.title}" + (" (detected)" if item.detected else "")
            box.mount(Tick(label, value, id=f"prereq-{item.id}", disabled=bool(item.detected), compact=True))
            box.mount(Static(item.detail, classes="prereq-detail"))
            if item.help and not item.detected:
                box.mount(Static(item.help, classes="prereq-help"))
        self._update_status()

    def _update_status(self, confirmed: set = None) -> None:
        prereqs.record(self.session, self.items, self.confirmed if confirmed is None else confirmed)
        self.refresh_nav()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        item_id = (event.checkbox.id or "").removeprefix("prereq-")
        confirmed = self.confirmed
        if event.value:
            confirmed.add(item_id)
        else:
            confirmed.discard(item_id)
        self._update_status(confirmed)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "prereqs-folder":
            self._set_folder(event.value)

    @on(Button.Pressed, "#prereqs-rescan")
    def _rescan_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._set_folder(self.query_one("#prereqs-folder", Input).value)

    def _set_folder(self, value: str) -> None:
        value = value.strip()
        if value and value != self.session.answers.downloads_dir:
            self.session.update_answers(downloads_dir=value)
        self.rescan()

    def can_advance(self) -> tuple:
        ok, why = super().can_advance()
        if not ok and why == self.NOT_DONE:
            return False, "Tick each item once it is done."
        return ok, why

    def action_continue_anyway(self) -> None:
        """Skipping a prerequisite asks first: without it the later steps fail, not this one."""
        if not self.can_continue_anyway():
            return
        confirmed = self.confirmed
        missing = [i.title for i in getattr(self, "items", []) if not i.detected and i.id not in confirmed]
        listed = "\n  ".join(missing) or "(not checked yet)"
        question = (f"Not done yet:\n  {listed}\n\nThe downloads and the build need these. Continue anyway?")

        def answered(yes) -> None:
            if yes:
                StepScreen.action_continue_anyway(self)

        self.app.push_screen(ConfirmScreen(question, yes="Continue anyway", no="Go back"), answered)
