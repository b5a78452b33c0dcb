"""`wrnv-wizard export-kas`: freeze the project into a kas project file."""

from __future__ import annotations

import argparse
import sys

HELP = "write a kas project file (YAML) that freezes the project: layers at their exact commits, local.conf block"


def add_arguments(parser) -> None:
    parser.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                        help="project folder (default: ~/wrlinux-jetson)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: print it)")


def run(args) -> int:
    from pathlib import Path

    from wizard.core.atomic import atomic_write
    from wizard.core.errors import WizardError
    from wizard.core.session import Session
    from wizard.project.kas_export import export, validate

    session = Session.open(getattr(args, "project", None), args.profile)
    text, notes = export(session)
    try:
        validate(text)
    except WizardError as e:
        if "not installed" not in str(e):
            raise
        notes.append(f"not validated: {e}")
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if args.output:
        out = Path(args.output).expanduser()
        if out.is_dir():
            raise WizardError(f"{out} is a folder: give a file name, e.g. {out / 'jetson.kas.yml'}")
        atomic_write(out, text)
        print(f"kas project file written: {out}")
    else:
        sys.stdout.write(text)
    return 0
