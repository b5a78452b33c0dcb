"""The `wrnv-wizard` command: the engine's CLI, given the full-screen UI to start when no subcommand runs."""

from __future__ import annotations

import sys
from typing import Optional


def _run_tui(session, **options) -> int:
    from .app import run_app

    return run_app(session, **options)


def main(argv: Optional[list] = None) -> int:
    from wizard.cli import main as cli_main

    return cli_main(argv, run_tui=_run_tui)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
