"""`wrnv-wizard image --project DIR`: make the SD-card image from the build's tegraflash package.

Unpacks the newest package sparse, runs dosdcard.sh (with BOARDID/FAB for the chosen carrier-board revision,
or reading a Jetson Nano plugged in over USB in recovery mode), makes the .sdcard sparse again and prints its
size and how much of it is data. Exit 0 when the image was made, 1 otherwise, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "make the SD-card image (.sdcard) from the build's tegraflash package"


def add_arguments(p: argparse.ArgumentParser) -> None:
    if not any("--project" in a.option_strings for a in p._actions):
        # default SUPPRESS: never overwrite a --project given before the command name
        p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                       help="project folder (default: ~/wrlinux-jetson)")
    p.add_argument("--machine", metavar="NAME", help="Jetson machine (default: saved answer)")
    p.add_argument("--image", dest="image_name", metavar="NAME", help="image target (default: saved answer)")
    p.add_argument("--fab", metavar="REV",
                   help="carrier board revision for dosdcard.sh (e.g. a02, b01; the revision->FAB mapping is "
                        "unverified); without it a Jetson Nano must be plugged in in recovery mode")
    p.add_argument("--recovery", action="store_true",
                   help="read the board over USB (a Jetson in recovery mode must be plugged in; needs root)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from wizard.card.sdimage import UNVERIFIED_FAB, make_image_for
    from wizard.card.writer import sigint_cancels
    from wizard.core.errors import UsageError, WizardError
    from wizard.core.progress import Cancelled, line_printer
    from wizard.core.session import Session

    session = Session.open(getattr(args, "project", None), getattr(args, "profile", None))
    profile, answers = session.profile, session.answers
    if not session.project.is_dir():
        raise WizardError(f"project folder {session.project} does not exist: give --project (the folder the "
                          "build ran in)")
    machine = args.machine or answers.machine
    image = args.image_name or answers.image
    fab = args.fab if args.fab is not None else ("" if args.recovery else answers.fab)
    if args.fab and args.recovery:
        raise UsageError("give either --fab or --recovery, not both")
    recovery = False
    runner = None
    if not fab:
        boards = _recovery_boards(profile)
        recovery = bool(boards)
        if not recovery:
            revs = ", ".join(f"{f.id} ({f.title})" for f in profile.fabs)
            raise WizardError("dosdcard.sh needs the board's identity: put the Jetson Nano in recovery mode and "
                              f"plug it in over USB, or give --fab ({revs}; the revision->FAB mapping is "
                              "unverified)")
        if not args.json:
            print(f"Board: {boards[0].describe()}; dosdcard.sh reads its EEPROM over USB (as root)",
                  file=sys.stderr)
        runner = _elevated_runner()
    tty = sys.stderr.isatty() and not args.json
    show = line_printer(tty)
    if fab and not args.json:
        print(f"Board: BOARDID={profile.sdcard.get('boardid', '3448')} revision {fab}. {UNVERIFIED_FAB}",
              file=sys.stderr)
    try:
        with sigint_cancels() as cancel:
            result = make_image_for(session, fab=fab, recovery_board=recovery, machine=machine, image=image,
                                    progress=show, on_line=None if args.json else _line_printer(tty),
                                    cancel=cancel, runner=runner)
    except Cancelled as e:
        err = WizardError(f"{e}; run `wrnv-wizard image` again")
        err.exit_code = 130
        raise err from None
    finally:
        if tty:
            print(file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": True, **result.to_json()}))
    else:
        print(f"SD-card image: {result.path}")
        print(result.describe())
        for note in result.notes:
            print(f"note: {note}")
        print(f"Next: wrnv-wizard flash {result.path}")
        firmware_notice(profile, machine, session.project)
    return 0


def firmware_notice(profile, machine: str, project) -> None:
    """Before the card is written: a Nano with newer boot firmware never starts from it (said, with the route)."""
    from wizard.card import firmware

    if firmware.applies(profile, machine):
        import shutil
        import textwrap

        width = min(shutil.get_terminal_size((80, 24)).columns, 100)
        print(textwrap.fill(f"Before you write the card: {firmware.explanation(profile)}", width=width))
        print(f"To rewrite it: {firmware.command_hint(project)} (board in recovery mode)")


def _recovery_boards(profile) -> list:
    try:
        from wizard.card.usb_recovery import find_recovery
    except ImportError:
        return []
    try:
        return find_recovery(profile)
    except Exception:  # noqa: BLE001 - detection is best effort; the error message says what to do
        return []


def _elevated_runner():
    """dosdcard.sh reads the board over USB: that needs root, so it runs in the privileged helper."""
    from wizard.card import elevate

    elevate.authenticate()
    return elevate.dosdcard_runner()


def _line_printer(tty: bool):
    def out(line: str) -> None:
        prefix = "\r\033[K" if tty else ""
        print(f"{prefix}  | {line}", file=sys.stderr)

    return out
