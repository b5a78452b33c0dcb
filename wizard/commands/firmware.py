"""`wrnv-wizard firmware --project DIR`: rewrite the Jetson Nano's boot firmware (QSPI) at this release.

Explains the firmware mismatch, then (with --yes, or after typing yes at the prompt) runs the tegraflash
package's doflash.sh as root with the board detected in USB recovery mode, printing its phase and output.
Without a board in recovery mode it refuses with what to do. Exit 0 when the firmware was rewritten, 1 when it
failed or was refused, 2 for bad usage, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

HELP = "rewrite the Jetson Nano's boot firmware (QSPI) at this release (board in USB recovery mode)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    if not any("--project" in a.option_strings for a in p._actions):
        p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                       help="project folder (default: ~/wrlinux-jetson)")
    p.add_argument("--machine", metavar="NAME", help="Jetson machine (default: saved answer)")
    p.add_argument("--image", dest="image_name", metavar="NAME", help="image target (default: saved answer)")
    p.add_argument("--yes", action="store_true", help="do not ask before writing the board's firmware")


def run(args) -> int:
    from wizard.card import firmware
    from wizard.card.writer import sigint_cancels
    from wizard.core.errors import WizardError
    from wizard.core.progress import Cancelled
    from wizard.core.session import Session

    session = Session.open(getattr(args, "project", None), getattr(args, "profile", None))
    profile, answers = session.profile, session.answers
    machine = args.machine or answers.machine
    image = args.image_name or answers.image
    if not firmware.applies(profile, machine):
        raise WizardError(f"{machine} keeps no boot firmware in QSPI this wizard rewrites; the firmware step is "
                          "only for the Jetson Nano SD-card machine")
    print(_wrapped(firmware.explanation(profile)), file=sys.stderr)
    boards = firmware.require_board(profile)
    print(f"Board: {boards[0].describe()}", file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            raise WizardError("rewriting the board's firmware needs a yes: run in a terminal, or add --yes")
        try:
            said = input("This rewrites the board's QSPI firmware and the SD card in it. Type yes to go on: ")
        except EOFError:
            said = ""
        if said.strip().lower() != "yes":
            raise WizardError("not confirmed: nothing was written")
    runner = _elevated_runner()
    tty = sys.stderr.isatty()
    try:
        with sigint_cancels() as cancel:
            result = firmware.rewrite_qspi(profile, session.project, machine, image, progress=_progress(tty),
                                           on_line=_lines(tty), cancel=cancel, runner=runner)
    except Cancelled as e:
        err = WizardError(str(e))
        err.exit_code = 130
        raise err from None
    finally:
        if tty:
            print(file=sys.stderr)
    print(result.describe())
    for note in result.notes:
        print(f"note: {note}")
    print("Next: remove the FRC jumper, put the SD card in, power the board on, then "
          "`wrnv-wizard check-board`")
    return 0


def _wrapped(text: str) -> str:
    """Wrapped to the terminal (at most 100 columns): the explanation is a paragraph, not one long line."""
    import shutil
    import textwrap

    return textwrap.fill(text, width=min(shutil.get_terminal_size((80, 24)).columns, 100))


def _elevated_runner():
    from wizard.card import elevate

    elevate.authenticate()
    return elevate.doflash_runner()


def _progress(tty: bool):
    """Unpacking shows bytes, rate and ETA; doflash.sh's phases are said once each, numbered."""
    from wizard.card.firmware import PHASES
    from wizard.core.progress import line_printer

    show = line_printer(tty)
    phases = {label for label, _ in PHASES} | {"Starting doflash.sh"}
    prefix = "\r\033[K" if tty else ""
    last: dict = {}

    def out(p) -> None:
        if p.label not in phases:
            show(p)
        elif p.label != last.get("label"):
            last["label"] = p.label
            print(f"{prefix}[{p.done}/{p.total}] {p.label}", file=sys.stderr)

    return out


def _lines(tty: bool):
    prefix = "\r\033[K" if tty else ""

    def out(line: str) -> None:
        print(f"{prefix}  | {line}", file=sys.stderr)

    return out
