"""`wrnv-wizard localconf`: show or write the managed local.conf block."""

from __future__ import annotations

import argparse
import sys

HELP = "print or apply the tutorial's local.conf settings as one managed block (re-applying changes nothing)"


def add_arguments(parser) -> None:
    parser.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                        help="project folder (default: ~/wrlinux-jetson)")
    parser.add_argument("--machine", metavar="M", help="Jetson MACHINE (default: the saved answer)")
    parser.add_argument("--downloads", metavar="DIR", help="the verified NVIDIA downloads folder (NVIDIA_DEVNET_MIRROR)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--print", action="store_true", help="print the block (and what applying would change)")
    what.add_argument("--apply", action="store_true", help="write the block into build/conf/local.conf")
    parser.add_argument("--diff", action="store_true", help="with --print: print a unified diff instead")


def run(args) -> int:
    from pathlib import Path

    from wizard.core.session import Session
    from wizard.project.localconf import apply_for, block_for, local_conf_path, plan

    session = Session.open(getattr(args, "project", None), args.profile)
    changes = {}
    if args.machine:
        changes["machine"] = args.machine
    if args.downloads:
        changes["downloads_dir"] = str(Path(args.downloads).expanduser().absolute())
    if changes:
        session.update_answers(**changes)
    block = block_for(session)
    path = local_conf_path(session.profile, session.project)
    if args.apply:
        plan(path, block)       # a missing local.conf is the error to report, before any warning
    if not session.answers.downloads.is_dir():
        print(f"warning: the downloads folder {session.answers.downloads} does not exist (yet); the build reads "
              f"the NVIDIA files from there", file=sys.stderr)
    if args.print:
        if args.diff:
            p = plan(path, block)
            sys.stdout.write(p.diff() or f"{path} already holds this block: nothing would change\n")
        else:
            sys.stdout.write(block)
            p = plan(path, block) if path.exists() else None
        for c in (p.conflicts if p else []):
            print(f"warning: {path}: {c.describe()}", file=sys.stderr)
        return 0
    result = apply_for(session)
    for c in result.conflicts:
        print(f"warning: {path}: {c.describe()}", file=sys.stderr)
    if result.changed:
        print(f"{path} updated (the original is kept as {result.backup})")
    else:
        print(f"{path} already holds this block: nothing changed")
    return 0
