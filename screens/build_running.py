"""The tasks bitbake runs right now, each with how long it has run (a long do_compile is normal, a stuck
do_fetch is not: the durations tell them apart). A compact strip: the log below it gets the room."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static


def short_duration(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class RunningTasks(Static):
    DEFAULT_CSS = """
    RunningTasks { height: 2; }
    """

    _shown = ""

    def show(self, running: list, now: float | None = None, limit: int = 16) -> None:
        """`running`: (recipe, task, started, setscene) tuples, oldest first. Repaints only on change; the widget
        has a fixed height, so a change never costs a layout pass of the whole screen."""
        text = self.render_tasks(running, now, limit)
        plain = text.plain
        if plain == self._shown:
            return
        self.update(text, layout=False)
        self._shown = plain

    @staticmethod
    def render_tasks(running: list, now: float | None = None, limit: int = 16) -> Text:
        """`Running (3): 12s compile glibc-2.30-r0 · 3s fetch busybox-1.31.0-r0 · …`; the longest-running
        first (they are what a user wonders about), wrapped over the strip's lines."""
        now = time.time() if now is None else now
        text = Text(overflow="ellipsis")
        if not running:
            text.append("Running: no task right now", style="dim")
            return text
        text.append(f"Running ({len(running)}): ", style="bold")
        for i, (recipe, task, started, setscene) in enumerate(running[:limit]):
            if i:
                text.append(" · ", style="dim")
            # duration and task first: where the strip is cut, the version is what goes
            text.append(f"{short_duration(now - started)} ", style="bold")
            text.append(f"{task[3:] if task.startswith('do_') else task} ", style="dim" if setscene else "cyan")
            text.append(recipe)
        if len(running) > limit:
            text.append(f" · and {len(running) - limit} more", style="dim")
        return text
