"""`wrnv-wizard`: the TUI by default; subcommands run single steps headless.

Errors the user can fix print as one line (`wrnv-wizard: error: ...`); usage errors exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Callable, Optional

from wizard import __version__
from wizard.commands import COMMANDS
from wizard.core.errors import UsageError, WizardError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        if "invalid choice" in message:
            # Only the wanted command's parser is built (start-up time): name them all from the table.
            message = re.sub(r"\(choose from [^)]*\)", f"(choose from {', '.join(COMMANDS)})", message)
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _check_profile_arg(value: str) -> None:
    """A --profile that names nothing is a usage error (exit 2), said before anything starts."""
    from wizard.core.errors import ProfileError
    from wizard.core.profile import available_profiles, resolve_profile_path

    try:
        path = resolve_profile_path(value)
    except ProfileError as e:
        raise UsageError(f"--profile: {e.problem}") from None
    if not path.is_file():
        raise UsageError(f"--profile {value}: no such file; give a profile name "
                         f"({', '.join(sorted(available_profiles()))}) or a .toml file")


def _command_module(name: str):
    try:
        return importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as e:
        if e.name == COMMANDS[name]:
            return None
        raise


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    p = _Parser(prog="wrnv-wizard",
                description="From an empty Linux host to a Jetson running a GPU container on Wind River Linux.")
    p.add_argument("--version", action="version", version=f"wrnv-wizard {__version__}")
    p.add_argument("--project", metavar="DIR", help="project folder (default: ~/wrlinux-jetson)")
    p.add_argument("--profile", metavar="NAME|PATH", help="release profile (default: wrlinux-lts19-jetpack-4.3)")
    p.add_argument("--plain", action="store_true", help="line-by-line dialogue instead of the full-screen UI")
    p.add_argument("--answers", metavar="FILE", help="TOML file with answers (machine, distro, packages, ...); "
                                                     "before a command: saved in the project, then the command runs")
    p.add_argument("--demo", action="store_true", help="run the whole journey in a sandbox; touches no real disk")
    p.add_argument("--demo-dir", metavar="DIR",
                   help="where the demo sandbox lives (default: the last one --demo made, else a new temporary one)")
    p.add_argument("--new", action="store_true", help="with --demo: start a new sandbox instead of resuming the last")
    p.add_argument("--demo-speed", type=float, default=1.0, metavar="X", help="demo build pace (default 1.0)")
    p.add_argument("--demo-fault", metavar="LIST", help="with --demo: checksum and/or build, to see failures")
    p.add_argument("--auto", action="store_true", help="with --demo: advance through the steps by itself")
    p.add_argument("--allow-non-removable", action="store_true",
                   help="Write the card step: also offer loop devices and fixed disks (never system, mounted or "
                        "read-only ones)")
    p.add_argument("--exit-at-end", action="store_true", help="quit once the summary is shown (exit 0 if all ok)")
    # --project/--profile work before or after the subcommand (SUPPRESS keeps the global value).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS, help="project folder")
    common.add_argument("--profile", metavar="NAME|PATH", default=argparse.SUPPRESS, help="release profile")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        mod = _command_module(name)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP, parents=[common],
                            conflict_handler="resolve")
        mod.add_arguments(sp)
        sp.set_defaults(_module=mod)
    return p


def _wanted_command(argv: list) -> Optional[str]:
    for a in argv:
        if a in COMMANDS:
            return a
    return None


def main(argv: Optional[list] = None, run_tui: Optional[Callable] = None) -> int:
    """Entry point. `run_tui(session, **options) -> int` shows the full-screen UI; it is passed in by
    screens.launch so that the engine never imports the UI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Build only the parser that is needed: importing every command would slow the TUI's start.
    wanted = _wanted_command(argv)
    helping = any(a in ("-h", "--help") for a in argv)
    try:
        parser = build_parser(only=wanted or (None if helping else ""))
        args = parser.parse_args(argv)
        if getattr(args, "profile", None):
            _check_profile_arg(args.profile)
        if getattr(args, "_module", None) is not None:
            if args.answers and args.command != "answers":
                _save_answers(args)
            return int(args._module.run(args) or 0)
        return _run_wizard(args, run_tui)
    except WizardError as e:
        print(f"wrnv-wizard: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("wrnv-wizard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug: one line for the user, the traceback in a file for the report
        log = _save_traceback()
        print(f"wrnv-wizard: internal error: {type(e).__name__}: {e} (details: {log}; please report it)",
              file=sys.stderr)
        return 70


def _check_project_folder(project: Optional[str]) -> None:
    """The wizard saves its state in the project folder from the first step on: make sure it can."""
    import os

    from wizard.core.paths import default_project_dir, wizard_dir
    from wizard.core.session import usable_project

    folder = Path(project).expanduser() if project else default_project_dir()
    try:
        exists = folder.exists()
    except OSError:
        usable_project(folder)      # a folder on the way this user may not enter: its one line
        raise
    if exists and not folder.is_dir():
        raise UsageError(f"--project {folder}: that is a file; give a folder (it is created if missing)")
    try:
        wizard_dir(folder).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WizardError(f"cannot use {folder} as the project folder ({e.strerror}); choose one you can "
                          "write with --project DIR") from None
    if not os.access(wizard_dir(folder), os.W_OK):
        raise WizardError(f"cannot write in {wizard_dir(folder)}; choose another project folder with --project DIR")


def _save_answers(args) -> None:
    """`wrnv-wizard --answers FILE <command> --project DIR`: the project's answers, from the file, saved before
    the command runs (so a script of subcommands makes the same project as the wizard and the plain mode)."""
    from wizard.core.answers_file import load_answers
    from wizard.core.session import Session

    _check_project_folder(getattr(args, "project", None))
    session = Session.open(getattr(args, "project", None), args.profile)
    answers = load_answers(Path(args.answers), session.base_profile, session.answers)
    changes = {k: v for k, v in answers.to_dict().items() if v != getattr(session.answers, k)}
    changes.pop("project_dir", None)        # the folder is the one named by --project
    if changes:
        session.update_answers(**changes)


def _save_traceback() -> str:
    import tempfile
    import traceback

    from wizard.core.paths import cache_dir

    text = traceback.format_exc()
    for folder in (cache_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "last-error.txt"
            path.write_text(text, encoding="utf-8")
            return str(path)
        except OSError:
            continue
    return "not saved"


def _run_wizard(args, run_tui: Optional[Callable]) -> int:
    if args.auto and not args.demo:
        raise UsageError("--auto only works with --demo")
    if args.new and not args.demo:
        raise UsageError("--new only works with --demo (it starts a new demo sandbox)")
    if args.demo:
        from wizard.demo.launch import run_demo

        return run_demo(args, run_tui)
    if args.plain:
        from wizard.plain import run_plain

        _check_project_folder(args.project)

        return run_plain(args)
    if args.answers:
        raise UsageError("--answers needs --plain (or --demo)")
    if run_tui is None:
        raise UsageError("the full-screen UI is started by the wrnv-wizard command; here use --plain")
    from wizard.core.session import Session

    _check_project_folder(args.project)
    session = Session.open(args.project, args.profile)
    adopted = adopt_project(session) if args.project else None
    extra = {"start_at": adopted.start_at} if adopted else {}
    return int(run_tui(session, allow_non_removable=args.allow_non_removable, **extra) or 0)


def adopt_project(session, say=None):
    """`--project DIR` on a project made by hand or by kas: record what is there, say so, open where it is
    missing (the TUI shows the lines on every screen)."""
    if not _may_be_made_elsewhere(session):
        return None
    from wizard.project.adopt import adopt, describe

    adopted = adopt(session)
    if adopted is not None:
        lines = describe(adopted)
        if say is not None:
            for line in lines:
                say(line)
        else:
            session.banner = lines[0]
    return adopted


def _may_be_made_elsewhere(session) -> bool:
    """What a project made elsewhere has before adoption can recognise it (a wrlinux-x clone, setup.sh's
    layout, or the build/conf/bblayers.conf kas writes), checked without importing the adoption code: its git and
    local.conf modules would add ~30 ms to every start of the wizard on an ordinary project folder."""
    import os

    from wizard.core.state import State
    from wizard.project.buildenv import build_dir
    from wizard.project.checks import is_set_up

    project, profile = session.project, session.base_profile
    if not project.is_dir() or State.file_for(project).exists():
        return False
    return (os.path.lexists(project / profile.wrlinux.clone_dir / ".git") or is_set_up(project, profile)
            or (build_dir(profile, project) / "conf" / "bblayers.conf").is_file())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
