"""A log pane that stays cheap however long the log: a bitbake build prints hundreds of thousands of lines.

Reading is separate from drawing. A reader thread pushes text into a `LineFeed` (thread-safe, capped: when the
reader is ahead of the screen, the oldest pending lines are dropped, as they would scroll out anyway); the
widget drains the feed on a timer and writes one batch per frame. The widget keeps at most `max_lines` lines;
the full log stays on disk, and the pane says where.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from textual.widgets import Log


class LineFeed:
    """Hands complete lines from a reader thread to the UI thread. Keeps at most `cap` pending lines."""

    def __init__(self, cap: int = 5000):
        self.cap = cap
        self._lock = threading.Lock()
        self._lines: deque = deque(maxlen=cap)
        self._partial = ""
        self.total = 0          # complete lines ever pushed
        self.dropped = 0        # lines dropped before they were drawn (the reader was ahead)

    # A line longer than this keeps only its start (a monster line must not make each push quadratic).
    MAX_LINE = 8 << 10

    def push(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if "\n" not in text:
                room = self.MAX_LINE - len(self._partial)
                if room > 0:
                    self._partial += text[:room]
                return
            text = self._partial + text
            n = text.count("\n")
            # only the last `cap` lines can be shown: split off just those (a 1 MiB chunk is not split whole)
            parts = text.rsplit("\n", self.cap + 1) if n > self.cap else text.split("\n")
            self._partial = parts.pop()[:self.MAX_LINE]
            if n > self.cap:
                parts = parts[1:]
            if n:
                parts = [p if len(p) <= self.MAX_LINE else p[:self.MAX_LINE] for p in parts]
                over = len(self._lines) + n - self.cap
                if over > 0:
                    self.dropped += over
                self._lines.extend(parts)
                self.total += n

    def push_line(self, line: str) -> None:
        self.push(line + "\n")

    def end(self) -> None:
        """The text is complete: an unterminated last line is a line too."""
        with self._lock:
            if self._partial:
                self._lines.append(self._partial)
                self._partial = ""
                self.total += 1

    def take(self) -> list:
        with self._lock:
            if not self._lines:
                return []
            lines = list(self._lines)
            self._lines.clear()
            return lines

    def reset(self) -> None:
        with self._lock:
            self._lines.clear()
            self._partial = ""
            self.total = self.dropped = 0


class LogView(Log):
    """`Log` fed from a `LineFeed`, drained `interval` times a second (one batch per drain)."""

    DEFAULT_CSS = """
    LogView { height: 1fr; border: round $primary-background; }
    LogView:focus { border: round $accent; }
    """

    def __init__(self, max_lines: int = 5000, interval: float = 0.1, *, id: str | None = None,
                 classes: str | None = None):
        super().__init__(max_lines=max_lines, auto_scroll=True, highlight=False, id=id, classes=classes)
        self.feed = LineFeed(max_lines)
        self.interval = interval

    def on_mount(self) -> None:
        self.set_interval(self.interval, self.drain)

    # While the reader is far ahead (replaying a long log) drawing every batch is wasted work: most of each
    # batch is replaced by the next one. Then the pane is redrawn at most this often.
    CATCH_UP_INTERVAL = 0.5

    _last_dropped = 0
    _last_write = 0.0

    def drain(self) -> int:
        feed = self.feed
        now = time.monotonic()
        catching_up = feed.dropped != self._last_dropped
        self._last_dropped = feed.dropped
        if catching_up and now - self._last_write < self.CATCH_UP_INTERVAL:
            return 0
        lines = feed.take()
        if lines:
            self._last_write = now
            self.write_lines(lines)
        return len(lines)

    def reset(self) -> None:
        self.feed.reset()
        self.clear()
        self.refresh()

    def show_lines(self, lines: list) -> None:
        """Replace the content (e.g. a failed task's log tail)."""
        self.reset()
        self.write_lines(lines[-self.max_lines:] if self.max_lines else lines)
