"""`wrnv-wizard verify-downloads`: check the SDK Manager folder before an hour-long build finds a bad file.

Exit 0 when every needed file is good, 1 when any is not (or the folder cannot be used), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "check that every NVIDIA SDK Manager file the build needs is present and intact"

_MARK = {"ok": "ok", "missing": "MISSING", "size-mismatch": "BAD SIZE", "checksum-mismatch": "BAD SUM",
         "unreadable": "UNREADABLE", "pending": "-"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", metavar="DIR",
                   help="the SDK Manager downloads folder (default: saved answer or ~/Downloads/nvidia/sdkm_downloads)")
    # --profile and --project come from the common options every subcommand shares (wizard/cli.py).
    p.add_argument("--manifest", metavar="FILE", help="manifest TOML to check against (default: the profile's)")
    p.add_argument("--machine", metavar="NAME", help="Jetson machine (default: saved answer or the profile's)")
    p.add_argument("--packages", metavar="LIST",
                   help="optional NVIDIA packages, comma-separated: cudnn,tensorrt,visionworks (default: saved "
                        "answer or all); 'none' for just CUDA and the Multimedia API")
    p.add_argument("--stage-nodla", action="store_true",
                   help="first put the TensorRT debs into NoDLA/ (hard link, or copy across filesystems)")
    p.add_argument("--jobs", type=int, metavar="N", help="files hashed at once (default: one per CPU core)")
    p.add_argument("--no-cache", action="store_true", help="re-read every file (ignore remembered checksums)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from wizard.core.errors import UsageError, WizardError

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be 1 or more")
    try:
        return _run(args)
    except WizardError as e:
        if args.json and not isinstance(e, UsageError):
            print(json.dumps({"ok": False, "error": str(e), "files": []}))
        raise


def _run(args) -> int:
    from wizard.core.profile import load_profile
    from wizard.core.state import State
    from wizard.downloads.manifest import cross_check, layer_dir, load_manifest, parse_packages, select
    from wizard.downloads.verify import show, verify

    profile = load_profile(getattr(args, "profile", None))
    answers = _saved_answers(args, profile, State)
    manifest = load_manifest(args.manifest or profile.manifest_path())
    machine = args.machine or answers.get("machine") or None
    profile.machine(machine)  # unknown machine: a one-line error naming the known ones
    if args.packages is not None:
        packages = [] if args.packages.strip() in ("", "none") else parse_packages(args.packages, profile, manifest)
    elif "packages" in answers:
        packages = list(answers["packages"])
    else:
        packages = [p.id for p in profile.packages]
    folder = args.dir or answers.get("downloads_dir") or profile.downloads.get("default_dir")

    notes = []
    layer = layer_dir(profile, answers.get("project"))
    if layer is not None:
        manifest, diffs = cross_check(manifest, layer, [profile.machine(machine).soc])
        notes += [f"layer differs: {d}" for d in diffs]
    needed = select(manifest, profile, machine, packages)

    tty = sys.stderr.isatty() and not args.json
    staged = []
    session = _session(args, profile)
    if session is not None:
        # The project's Verify downloads step: the engine records the outcome, bad files and folder.
        from wizard.downloads.verify import verify_step

        report = verify_step(session, needed, notes=notes, folder=folder, stage_first=args.stage_nodla,
                             on_staged=staged.extend, jobs=args.jobs, use_cache=not args.no_cache,
                             progress=_printer(tty))
    else:
        if args.stage_nodla:
            from wizard.downloads.nodla import (
                stage,  # imported only when used: it pulls in shutil (the CLI's start-up counts)
            )

            staged = stage(folder, needed, progress=_printer(tty))
        report = verify(folder, needed, jobs=args.jobs, use_cache=not args.no_cache, progress=_printer(tty))
        report.notes[:0] = notes
    if args.json:
        doc = report.to_json()
        if args.stage_nodla:
            doc["staged"] = [{"file": s.rel, "action": s.action, "detail": s.detail} for s in staged]
        print(json.dumps(doc, indent=2))
        return 0 if report.ok else 1

    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    for s in staged:
        print(f"staged  {s.rel}: {s.action} ({s.detail})")
    width = max([len(r.rel) for r in report.results] + [4])
    print(f"{'STATUS':<10}  {'FILE':<{width}}  DETAIL")
    for r in report.results:
        mark = _MARK.get(r.status, r.status)
        if r.level != "required" and not r.good:
            mark = "warning"
        print(f"{mark:<10}  {r.rel:<{width}}  {r.detail}")
    print()
    print(f"Folder: {show(report.folder)}  (machine {profile.machine(machine).name}, "
          f"packages: {', '.join(packages) or 'none'}; checked in {report.elapsed:.1f} s)")
    for n in report.notes:
        print(f"Note: {n}")
    print(report.summary())
    for line in report.advice():
        print(f"  - {line}")
    return 0 if report.ok else 1


def _session(args, profile):
    """The project whose step this check is (then the outcome is recorded there): the one named by --project,
    or the default one when it has saved state. A custom --manifest is a one-off check, never recorded."""
    from pathlib import Path

    from wizard.core.answers import Answers
    from wizard.core.session import Session
    from wizard.core.state import State

    if args.manifest:
        return None
    project = getattr(args, "project", None)
    proj = Path(project).expanduser() if project else Answers.defaults(profile).project
    if not project and not State.file_for(proj).is_file():
        return None
    if not proj.is_dir():
        return None
    return Session(profile, proj.resolve())


def _saved_answers(args, profile, State) -> dict:
    """The project's saved answers (machine, packages, downloads folder), when a project exists."""
    from wizard.core.answers import Answers

    base = Answers.defaults(profile)
    project = getattr(args, "project", None)
    proj = base.project if not project else __import__("pathlib").Path(project).expanduser()
    state_file = State.file_for(proj)
    out: dict = {"project": proj}
    if state_file.is_file():
        saved = State.load(proj).answers
        for key in ("machine", "packages", "downloads_dir"):
            if key in saved and saved[key]:
                out[key] = saved[key]
    return out


def _printer(enabled: bool):
    if not enabled:
        return None

    def show_progress(p) -> None:
        print(f"\r\033[K{p.line()}", end="", file=sys.stderr, flush=True)

    return show_progress
