"""Step 7: the tutorial's local.conf settings as one managed block: shown, diffed, then applied."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static, TabbedContent, TabPane

from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.project import localconf as lc

from .base import StepScreen


class LocalConfScreen(StepScreen):
    STEP_ID = "localconf"
    NOT_DONE = "Not written yet: Apply writes the block shown below."
    CSS_PATH = str(asset("styles", "localconf.tcss"))

    def __init__(self, session) -> None:
        super().__init__(session)
        self.plan: lc.Plan | None = None
        self.diff_text = ""      # what the diff tab shows (kept for tests and copy/paste)
        self._warned_downloads = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="lc-actions"):
            yield Button("Apply", id="lc-apply", variant="primary", compact=True)
            yield Button("Refresh", id="lc-refresh", compact=True)
        # Under the buttons, full width: no column split that squeezes a path into 40 columns.
        yield Static("", id="lc-result")
        yield Static("", id="lc-conflicts")
        with TabbedContent(id="lc-tabs"):
            with TabPane("Changes (diff)", id="lc-tab-diff"):
                yield VerticalScroll(Static("", id="lc-diff"), id="lc-diff-scroll")
            with TabPane("The block", id="lc-tab-block"):
                yield VerticalScroll(Static("", id="lc-block"), id="lc-block-scroll")

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_plan()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.refresh_plan()

    def refresh_plan(self) -> None:
        """Render the block from the current answers and compare it with local.conf as it is on disk."""
        result = self.query_one("#lc-result", Static)
        block = lc.block_for(self.session)
        self.query_one("#lc-block", Static).update(Syntax(block, "ini", word_wrap=True, theme="ansi_dark"))
        path = lc.local_conf_path(self.session.profile, self.session.project)
        try:
            self.plan = lc.plan(path, block)
        except WizardError as e:
            self.plan = None
            result.update(f"[red]{e}[/]")
            self.query_one("#lc-diff", Static).update("")
            self.query_one("#lc-conflicts", Static).update("")
            self.query_one("#lc-apply", Button).disabled = True
            return
        self.query_one("#lc-apply", Button).disabled = not self.plan.changed
        diff = self.diff_text = self.plan.diff()
        self.query_one("#lc-diff", Static).update(
            Syntax(diff, "diff", word_wrap=True, theme="ansi_dark") if diff
            else Text(f"{path} already holds this block: nothing to change."))
        if self.plan.changed:
            result.update(f"Apply writes these changes to {path} (the first original is kept as {path.name}{lc.BACKUP_SUFFIX}).")
        else:
            result.update("[green]local.conf is up to date.[/]")
            if lc.note_up_to_date(self.session, self.plan):
                self.refresh_nav()
        conflicts = self.plan.conflicts
        self.query_one("#lc-conflicts", Static).update(
            "\n".join(f"⚠ {c.describe()}" for c in conflicts) if conflicts else "")
        if not self.session.answers.downloads.is_dir() and not self._warned_downloads:
            self._warned_downloads = True
            self.notify(f"The downloads folder {self.session.answers.downloads} does not exist (yet): the build "
                        f"reads the NVIDIA files from there.", severity="warning", timeout=8)

    def apply(self) -> None:
        try:
            done = lc.apply_for(self.session)
        except WizardError as e:
            self.query_one("#lc-result", Static).update(f"[red]{e}[/]")
            self.refresh_nav()
            return
        self.refresh_plan()
        if done.changed:
            self.query_one("#lc-result", Static).update(f"[green]Written.[/] Original kept as {done.backup}.")
        self.refresh_nav()

    @on(Button.Pressed, "#lc-apply")
    def _apply_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.apply()

    @on(Button.Pressed, "#lc-refresh")
    def _refresh_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.refresh_plan()
