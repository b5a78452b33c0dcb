"""Step 12: the summary (wizard.core.summary) on screen, with a Markdown export and the next steps."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.summary import EXPORT_NAME, build_summary, export_markdown

from .base import StepScreen

# Under this the detail column would be a ribbon of single words: it scrolls sideways instead.
MIN_DETAIL = 24
STATUS_STYLE = {"done": "green", "skipped": "yellow", "failed": "bold red", "running": "cyan", "not done": "dim"}


class SummaryScreen(StepScreen):
    STEP_ID = "summary"
    CSS_PATH = str(asset("styles", "summary.tcss"))
    COMPLETE_ON_NEXT = True

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="summary-scroll"):
            yield DataTable(id="summary-steps", cursor_type="row", zebra_stripes=True)
            yield Static("", id="summary-total")
            yield Static("", id="summary-facts")
            yield Static("", id="summary-board")
            yield Static("", id="summary-next")
        with Horizontal(id="summary-export"):
            yield Input(str(self.session.project / EXPORT_NAME), id="summary-path", compact=True)
            yield Button("Export as Markdown", id="summary-export-button", variant="primary", compact=True)
        yield Static("", id="summary-export-result", classes="result-panel")

    def on_mount(self) -> None:
        self.query_one("#summary-export-result").display = False
        # Seeing the summary is this step's whole job.
        if not self.session.status(self.STEP_ID).finished:
            self.session.complete(self.STEP_ID, "summary shown")
        super().on_mount()
        self.fill()
        # The first fill guessed the table's width from the terminal's; fill again with the laid-out width.
        self.call_after_refresh(self.fill)

    def on_resize(self) -> None:
        self.fill()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.fill()

    def fill(self) -> None:
        s = build_summary(self.session)
        facts = Text()
        facts.append("What was built\n", style="bold underline")
        for label, value in s.facts:
            facts.append(f"{label}: ", style="bold")
            facts.append(f"{value}\n")
        self.query_one("#summary-facts", Static).update(facts)
        table = self.query_one("#summary-steps", DataTable)
        table.clear(columns=True)
        table.add_column("Step", key="step")
        table.add_column("Status", key="status")
        table.add_column("Took", key="took")
        # The detail is what a step ended with (the error, the card, the image): it wraps in the width that is
        # left rather than running off the right edge at 80 columns.
        fixed = sum(max([len(h)] + [len(v) for v in vals]) for h, vals in (
            ("Step", [r.title for r in s.steps]), ("Status", [r.status for r in s.steps]),
            ("Took", [r.took for r in s.steps])))
        padding = 2 * table.cell_padding * 4 + 1        # both sides of four cells, and the scroll bar
        table.add_column("Detail", key="detail", width=max(MIN_DETAIL, self._table_width() - fixed - padding))
        for r in s.steps:
            table.add_row(r.title, Text(r.status, style=STATUS_STYLE.get(r.status, "")), r.took, Text(r.detail),
                          key=r.id, height=None)
        self.query_one("#summary-total", Static).update(f"Total time in steps: {s.total}")
        board = Text()
        board.append("The SD card\n", style="bold underline")
        for k, v in s.card or [("Card", "not written with the wizard yet")]:
            board.append(f"  {k}: {v}\n")
        board.append("The board\n", style="bold underline")
        for k, v in s.board or [("Board", "not checked yet")]:
            board.append(f"  {k}: {v}\n")
        for c in s.board_checks:
            if c.get("status") != "pass":
                board.append(f"  ✖ {c.get('name')}: {c.get('hint') or c.get('status')}\n", style="yellow")
        self.query_one("#summary-board", Static).update(board)
        nxt = Text()
        nxt.append("Next steps\n", style="bold underline")
        for i, step in enumerate(s.next_steps, 1):
            nxt.append(f"{i}. {step}\n")
        self.query_one("#summary-next", Static).update(nxt)

    def _table_width(self) -> int:
        scroll = self.query_one("#summary-scroll")
        if scroll.content_region.width:
            return scroll.content_region.width
        # Not laid out yet: the terminal's width less the frame (the sidebar when wide, the step's padding).
        width = self.app.size.width
        return width - (2 if width < 100 else 2 + 28)

    def export(self) -> None:
        path = self.query_one("#summary-path", Input).value.strip()
        # The outcome stays under the button (a toast would vanish before it is read).
        result = self.query_one("#summary-export-result", Static)
        result.display = True
        try:
            written = export_markdown(self.session, path or None)
        except (OSError, WizardError) as e:
            result.update(Text(f"Could not write the summary: {e}; choose another file.", style="red"))
            result.set_class(False, "-ok").set_class(True, "-failed")
            return
        result.update(Text(f"Summary written to {written}"))
        result.set_class(False, "-failed").set_class(True, "-ok")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.export()

    @on(Button.Pressed, "#summary-export-button")
    def _export_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.export()
