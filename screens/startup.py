"""What the TUI's start-up tunes in the interpreter until the first frame is drawn, and undoes after it.

- The cycle collector is off: importing Textual and building the first screen allocate a few hundred thousand
  objects that all stay alive, and the collector would walk them again and again (about 40 ms before the first
  frame, measured). Afterwards what start-up made is frozen (later collections never walk it) and it is on again.
- The GIL switch interval is 0.5 ms instead of 5: Textual hands each frame to a writer thread while the app goes
  on working, and the writer waited 2-7 ms for the interpreter before the first frame reached the terminal
  (0.7 ms with the shorter interval, measured).

Only the TUI's start calls `begin` (screens.launch); subcommands and the plain mode, which may run for hours,
keep the interpreter as it is.
"""

from __future__ import annotations

import gc
import sys

_saved_interval = None


def begin() -> None:
    global _saved_interval
    if _saved_interval is None:
        _saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        gc.disable()


def end(freeze: bool = True) -> None:
    """The first frame is drawn (or start-up ended early): back to normal. Does nothing without `begin`."""
    global _saved_interval
    if _saved_interval is None:
        return
    if freeze:
        gc.freeze()
    gc.enable()
    sys.setswitchinterval(_saved_interval)
    _saved_interval = None
