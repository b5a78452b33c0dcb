"""The `wrnv-wizard` command: the engine's CLI, given the full-screen UI to start when no subcommand runs."""

from __future__ import annotations

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

    from . import startup

    argv = list(sys.argv[1:] if argv is None else argv)
    if _starts_the_tui(argv):
        startup.begin()     # undone once the first frame is drawn (WizardApp.on_ready), or below
    try:
        return cli_main(argv, run_tui=_run_tui)
    finally:
        startup.end(freeze=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
