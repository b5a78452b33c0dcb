"""A progress line for long work (unpacking, writing, verifying): the phase, a bar, bytes, rate and ETA."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static


class WorkProgress(Vertical):
    DEFAULT_CSS = """
    WorkProgress { height: auto; }
    WorkProgress ProgressBar { height: 1; }
    WorkProgress ProgressBar Bar { width: 1fr; }
    WorkProgress .work-line { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)
        yield Static("", classes="work-line")

    def show(self, p) -> None:
        """Draw a wizard.core.progress.Progress (call on the UI thread)."""
        bar = self.query_one(ProgressBar)
        if p.total:
            bar.update(total=p.total, progress=p.done)
        else:
            bar.update(total=None)
        self.query_one(".work-line", Static).update(p.line())

    def reset(self, text: str = "") -> None:
        self.query_one(ProgressBar).update(total=100, progress=0)
        self.query_one(".work-line", Static).update(text)
