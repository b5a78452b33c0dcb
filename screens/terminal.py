"""Running something in the real terminal with the app suspended: sudo's password prompt, `ssh -t`.

Why a helper: Textual's App.suspend() resumes the app only when its block ends normally, so an exception
leaving it (a refused password, Ctrl-C, Ctrl-D) would leave the app suspended for good, frozen on the last
words printed. And while suspended the terminal sends Ctrl-C as a signal: asyncio's handler would cancel
the app's main task (the whole wizard quits); here it interrupts only what runs in the terminal.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, Optional, TypeVar

from textual.app import SuspendNotSupported

from wizard.core.errors import WizardError

T = TypeVar("T")


def _interrupt_once(signum, frame) -> None:
    """SIGINT while fn() runs: KeyboardInterrupt, once. A second SIGINT (Ctrl-C pressed twice, or passed on by a
    parent process such as umockdev-run) is ignored: raised while the app resumes, it would leave the app
    suspended or end it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def in_terminal(app, fn: Callable[[], T]) -> tuple[Optional[T], str]:
    """Run fn() with `app` suspended. Returns (its result, "") or (None, what stopped it, in one line)."""
    result: Optional[T] = None
    problem = ""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, _interrupt_once) if main else None
    try:
        with app.suspend():     # raises SuspendNotSupported before running anything where it cannot
            try:
                result = fn()
            except WizardError as e:
                problem = str(e)
            except KeyboardInterrupt:
                problem = "stopped with Ctrl+C"
            except EOFError:
                problem = "stopped: the terminal closed its input (Ctrl+D)"
            finally:
                if old is not None:     # nothing may interrupt the app's way back
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
    except SuspendNotSupported:
        problem = "this terminal cannot hand over to another program: run the step's command in a terminal"
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    return result, problem
