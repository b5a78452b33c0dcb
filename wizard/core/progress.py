"""Progress of long work (hashing, unzipping, writing): bytes, rate and ETA, humanized.

Producers call a `ProgressFn` with a `Progress`; screens draw it, the CLI prints it as a line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class Progress:
    done: int
    total: Optional[int]
    started: float = field(default_factory=time.monotonic)
    label: str = ""

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Bytes (or units) per second since the start."""
        return self.done / self.elapsed

    @property
    def fraction(self) -> Optional[float]:
        if not self.total:
            return None
        return min(self.done / self.total, 1.0)

    @property
    def eta(self) -> Optional[float]:
        if not self.total or self.done <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    def line(self) -> str:
        """e.g. `1.2 GB of 4.0 GB (30%), 180.5 MB/s, about 15 seconds left`."""
        # Imported here, not at the top: the session imports this module before the TUI's first frame.
        import humanize

        done = humanize.naturalsize(self.done)
        if self.total:
            pct = int(100 * (self.fraction or 0))
            text = f"{done} of {humanize.naturalsize(self.total)} ({pct}%)"
        else:
            text = done
        text += f", {humanize.naturalsize(self.rate)}/s"
        eta = self.eta
        if eta is not None and self.done < (self.total or 0):
            text += f", about {humanize.naturaldelta(eta)} left"
        return f"{self.label}: {text}" if self.label else text

    def compact(self) -> str:
        """The same in fewer columns, so that each card's line fits one row at 80 columns:
        `1.2/4.0 GB (30%), 180.5 MB/s, 15 seconds left`."""
        import humanize

        done = humanize.naturalsize(self.done)
        text = done
        if self.total:
            total = humanize.naturalsize(self.total)
            same_unit = done.split()[-1] == total.split()[-1]
            text = f"{done.split()[0] if same_unit else done}/{total} ({int(100 * (self.fraction or 0))}%)"
        text += f", {humanize.naturalsize(self.rate)}/s"
        eta = self.eta
        if eta is not None and self.done < (self.total or 0):
            text += f", {humanize.naturaldelta(eta)} left"
        return f"{self.label}: {text}" if self.label else text


ProgressFn = Callable[[Progress], None]


class Throttle:
    """Calls `fn` at most every `interval` seconds (and always for the final update)."""

    def __init__(self, fn: Optional[ProgressFn], interval: float = 0.1):
        self.fn, self.interval, self._last = fn, interval, 0.0

    def __call__(self, progress: Progress, final: bool = False) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            self.fn(progress)


class Cancelled(Exception):
    """Raised inside long work when the user asked to stop; the work leaves things in a known state."""


def line_printer(tty: bool, stream=None) -> ProgressFn:
    """CLI progress: one line rewritten in place on a terminal; in a log (no tty), a line every 5 seconds
    and whenever the phase (label) changes, so logs stay short."""
    import sys

    out = stream or sys.stderr
    last = [0.0, ""]

    def show(p: Progress) -> None:
        now = time.monotonic()
        if tty:
            print("\r\033[K" + p.line(), end="", file=out, flush=True)
        elif now - last[0] > 5 or p.label != last[1]:
            print(p.line(), file=out, flush=True)
            last[0], last[1] = now, p.label

    return show
