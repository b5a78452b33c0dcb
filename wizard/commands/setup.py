"""`wrnv-wizard setup`: create the project headless (clone wrlinux-x, setup.sh, meta-tegra, layers)."""

from __future__ import annotations

import argparse
import sys

HELP = ("create the project: clone wrlinux-x, run setup.sh, clone meta-tegra at the tested commit and add its "
        "layers (safe to re-run: what is done is verified, not redone)")


def add_arguments(parser) -> None:
    parser.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                        help="project folder (default: ~/wrlinux-jetson)")
    parser.add_argument("--machine", metavar="M", help="Jetson MACHINE (default: jetson-nano-qspi-sd)")
    parser.add_argument("--distro", metavar="D", help="wrlinux (default) or wrlinux-graphics (for X11 applications)")
    parser.add_argument("--wrlinux-url", metavar="URL", help="clone wrlinux-x from this mirror")
    parser.add_argument("--meta-tegra-url", metavar="URL", help="clone meta-tegra from this mirror")
    parser.add_argument("--meta-tegra-commit", metavar="SHA", help="check out this meta-tegra commit instead of the "
                                                                  "tested one (full 40-character id)")


def answer_changes(args, names) -> dict:
    """The flags the user gave, as Answers fields (shared by the commands of this step family)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None)}


def run(args) -> int:
    from wizard.core.session import Session
    from wizard.project.create import ALREADY, FAILED, RUNNING, SUBSTEPS, Credentials, ProjectCreator

    session = Session.open(getattr(args, "project", None), args.profile)
    session.update_answers(**answer_changes(args, ("machine", "distro", "wrlinux_url", "meta_tegra_url",
                                                   "meta_tegra_commit")))
    titles = dict(SUBSTEPS)

    def on_step(sid: str, state: str, message: str) -> None:
        if state == RUNNING:
            print(f"==> {titles[sid]}", flush=True)
        elif state != FAILED:
            print(f"    {'already done: ' if state == ALREADY else ''}{message}", flush=True)

    creds = Credentials.from_env() if session.profile.source(session.answers.source).needs_credentials else None
    creator = ProjectCreator(session, on_line=lambda line: print(f"    {line}", flush=True), on_step=on_step,
                             credentials=creds)
    outcomes = creator.run_all()
    for w in creator.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if all(o.state == ALREADY for o in outcomes):
        print(f"The project in {session.project} is already set up: nothing to do.")
    else:
        print(f"The project in {session.project} is ready. Next: wrnv-wizard localconf --project {session.project} "
              f"--apply")
    return 0
