"""The `wrnv-wizard` command: the engine's CLI, given the full-screen UI to start when no subcommand runs."""

from __future__ import annotations

import gc
import sys
from typing import Optional


def _run_tui(session, **options) -> int:
    from .app import run_app

    return run_app(session, **options)


def _starts_the_tui(argv: list) -> bool:
    """No subcommand and no --plain: what the wizard does by default (a usage error or --help ends at once)."""
    from wizard.commands import COMMANDS

    return not any(a in COMMANDS or a == "--plain" for a in argv)


def main(argv: Optional[list] = None) -> int:
    from wizard.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    # Start-up (the session, Textual, the first screen) allocates a few hundred thousand objects that all stay
    # alive: the cycle collector would walk them again and again, about 40 ms before the first frame
    # (measured). It is off until the first frame is drawn; the app then freezes what start-up made and turns
    # it back on (WizardApp.on_ready). Subcommands and the plain mode, which may run for hours, keep it.
    if _starts_the_tui(argv):
        gc.disable()
    try:
        return cli_main(argv, run_tui=_run_tui)
    finally:
        gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
