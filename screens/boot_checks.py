"""The board checks as a table (check, status, what to do) and the evidence of the highlighted one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from wizard.board.check import CHECKS, FAIL, PASS, TITLES

STYLE = {PASS: ("pass", "bold green"), FAIL: ("FAIL", "bold red"), "skip": ("skip", "dim"),
         "running": ("…", "yellow"), "": ("", "")}


class ChecksView(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.checks: dict = {}

    def compose(self) -> ComposeResult:
        table = DataTable(id="checks-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield VerticalScroll(Static("", id="checks-evidence"), id="checks-evidence-scroll")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Status first: on a narrow terminal the verdict must not be the column that scrolls away.
        table.add_column("", key="status", width=4)
        table.add_column("Check", key="check")
        table.add_column("What to do", key="hint")
        self.reset()

    def reset(self) -> None:
        self.checks = {}
        table = self.query_one(DataTable)
        table.clear()
        for name, title in CHECKS:
            table.add_row("", Text(title), "", key=name)
        self.query_one("#checks-evidence", Static).update("")

    def running(self, name: str) -> None:
        self._set(name, "running", "")

    def show(self, check) -> None:
        """A finished check. The cursor follows the run until the first failure, then stays there:
        the first failure is the one to fix."""
        first_failure = check.status == FAIL and not any(
            c.status == FAIL for n, c in self.checks.items() if n != check.name)
        following = not any(c.status == FAIL for n, c in self.checks.items() if n != check.name)
        self.checks[check.name] = check
        self._set(check.name, check.status, check.hint if check.status != PASS else "")
        table = self.query_one(DataTable)
        if first_failure or following:
            table.move_cursor(row=table.get_row_index(check.name))
        self._evidence(self._cursor_key() or check.name)

    def _cursor_key(self) -> str:
        table = self.query_one(DataTable)
        try:
            return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value or ""
        except Exception:
            return ""

    def _set(self, name: str, status: str, hint: str) -> None:
        word, style = STYLE.get(status, (status, ""))
        table = self.query_one(DataTable)
        table.update_cell(name, "status", Text(word, style=style))
        table.update_cell(name, "hint", Text(hint), update_width=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._evidence(event.row_key.value)

    def _evidence(self, name: str) -> None:
        c = self.checks.get(name)
        text = Text()
        text.append(TITLES.get(name, name) + "\n", style="bold")
        if c is None:
            text.append("not run yet", style="dim")
        else:
            if c.command:
                text.append("$ " + c.command + "\n", style="cyan")
            if c.output:
                text.append(c.output + "\n")
            if c.hint and c.status != PASS:
                text.append("→ " + c.hint, style="bold yellow")
        self.query_one("#checks-evidence", Static).update(text)
