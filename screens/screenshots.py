"""Regenerate the README's screenshots: one SVG per step, taken from an unattended demo run.

    python -m screens.screenshots [OUTDIR] [--size 80x24]      (default: assets/screenshots, 100x32)

It runs the real demo (sandbox, stand-ins, the real steps) headless at 100x32 and saves each screen once
its step has done its work, so the pictures always match what the wizard shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from wizard.core.paths import assets_dir
from wizard.core.steps import STEPS

from .app import WizardApp


def take(outdir: Path, size: tuple = (100, 32)) -> list:
    from wizard.demo.launch import prepare

    outdir.mkdir(parents=True, exist_ok=True)
    args = argparse.Namespace(demo_dir=tempfile.mkdtemp(prefix="wrnv-shots-"), demo_speed=4.0, demo_fault="",
                              new=True)
    sb, session = prepare(args)
    saved: list = []
    app = None

    def shot(step_id: str) -> None:
        n = [s.id for s in STEPS].index(step_id) + 1
        path = outdir / f"{n:02d}-{step_id}.svg"
        app.save_screenshot(filename=path.name, path=str(outdir))
        saved.append(path)

    try:
        app = WizardApp(session, auto=True, exit_at_end=True, card=sb.card_target, allow_non_removable=True,
                        pause=0.3, on_settled=shot)
        app.run(headless=True, size=size)
    finally:
        sb.close()
    return saved


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m screens.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("outdir", nargs="?", default=str(assets_dir() / "screenshots"))
    p.add_argument("--size", default="100x32", help="terminal size, COLUMNSxROWS (default 100x32)")
    args = p.parse_args(argv)
    try:
        size = tuple(int(n) for n in args.size.lower().split("x"))
        assert len(size) == 2 and min(size) > 0
    except (ValueError, AssertionError):
        p.error(f"--size {args.size}: give COLUMNSxROWS, e.g. 80x24")
    saved = take(Path(args.outdir), size)
    for path in saved:
        print(path)
    return 0 if len(saved) == len(STEPS) else 1


if __name__ == "__main__":
    sys.exit(main())
