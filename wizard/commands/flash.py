"""`wrnv-wizard flash IMAGE [--target DEV]`: write the SD-card image to a card, fast, then verify it.

Without --target it asks (offered cards only, nothing pre-selected), shows the card's identity and asks you
to type its name; an existing file as the target is confirmed the same way. --yes skips only that typed
confirmation, never a safety check. It says how the card is opened (udisks2, the helper through sudo, or the
wizard itself). Exit 0 when written (and verified), 1 on any refusal or failure (the message says the card's
state), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

HELP = "write the SD-card image to a card (picked safely), fast, and verify it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", metavar="IMAGE",
                   help="the .sdcard image (default: the one `wrnv-wizard image` made last)")
    p.add_argument("--target", metavar="DEV", action="append",
                   help="the card, e.g. /dev/sdb (or a file, for a VM); repeat it to write several cards at once "
                        "(the image is read once)")
    p.add_argument("--yes", action="store_true", help="skip typing the device name (no safety check is skipped)")
    p.add_argument("--no-verify", action="store_true", help="do not read the card back after writing")
    p.add_argument("--verify", choices=("yes", "full"), default="yes",
                   help="full: also read back every range the write skipped (must read as zeros); costs a read of "
                        "the whole image size at the card's read speed")
    p.add_argument("--sparse", action="store_true",
                   help="skip the image's holes even where the card cannot be erased to zeros (bmaptool's "
                        "semantics; safe only if the holes' old contents do not matter)")
    p.add_argument("--hostname", metavar="PATTERN",
                   help="give each card its own host name, e.g. jetson-{n:02} (jetson-01, jetson-02, ... in "
                        "--target order)")
    p.add_argument("--ssh-key", metavar="FILE", help="add this public key (.pub) for root on every card")
    p.add_argument("--no-empty-password-ssh", action="store_true",
                   help="with --ssh-key: turn off the image's password-less root login over SSH "
                        "(PermitEmptyPasswords no in /etc/ssh/sshd_config); the serial console stays open")
    p.add_argument("--report", metavar="FILE.json", help="write a record of every card written (JSON)")
    p.add_argument("--allow-non-removable", action="store_true",
                   help="also allow loop devices and internal disks (never system, mounted or read-only ones)")
    if not any("--project" in a.option_strings for a in p._actions):
        p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                       help="project folder, to find the image made last")


def run(args) -> int:
    from wizard.card import elevate
    from wizard.card.writer import WriteOptions, check_image, make_safe_to_remove, sigint_cancels, write_for
    from wizard.core.errors import WizardError
    from wizard.core.progress import line_printer

    image = args.image or _last_image(args)
    if not image:
        raise WizardError("no image given and none made yet: run `wrnv-wizard image` first, or give the "
                          ".sdcard path")
    targets = list(args.target or [])
    if len(targets) > 1 or args.hostname or args.ssh_key or args.report or args.no_empty_password_ssh:
        from wizard.commands import flash_many

        return flash_many.run(args, image, targets)
    args.target = targets[0] if targets else None
    info = check_image(image)
    target, identity, disk = _pick_target(args, info)
    session = _project_session(args)
    if session is not None:             # a Nano that ran JetPack 4.5+ never starts from this card: say so first
        from wizard.commands.image import firmware_notice

        firmware_notice(session.profile, session.answers.machine, session.project)
    _confirm(disk, args.yes)
    opts = WriteOptions(verify=not args.no_verify, verify_full=args.verify == "full", sparse=args.sparse,
                        allow_non_removable=args.allow_non_removable, overwrite_file=disk.identity() is None)
    if elevate.needs_helper(target):    # udisks2 (polkit) or sudo: the password prompt, before any progress
        elevate.authenticate(target)
    print(f"{disk.name}: {elevate.path_words(target)}", file=sys.stderr)   # once allowed, so it is true
    tty = sys.stderr.isatty()
    show = line_printer(tty)
    try:
        with sigint_cancels() as cancel:
            if session is not None:     # the project's Write the card step: the engine records it
                result = write_for(session, info.path, target, identity=identity, options=opts, progress=show,
                                   cancel=cancel)
            else:
                result = elevate.write_card(info.path, target, identity=identity, options=opts, progress=show,
                                            cancel=cancel)
    finally:
        if tty:
            print(file=sys.stderr)
    print(result.summary())
    print(make_safe_to_remove(target))
    return 0


def _project_session(args):
    """The project this write belongs to (named by --project, or the default one with saved state)."""
    from pathlib import Path

    from wizard.core.session import Session
    from wizard.core.state import State

    project = getattr(args, "project", None)
    if project and not Path(project).expanduser().is_dir():
        return None
    session = Session.open(project, getattr(args, "profile", None))
    if not project and not State.file_for(session.project).is_file():
        return None
    return session


def _last_image(args):
    try:
        from wizard.core.session import Session

        session = Session.open(getattr(args, "project", None), getattr(args, "profile", None))
        path = session.step_state("image").data.get("path")
    except Exception:  # noqa: BLE001 - no saved project: the caller says what to give instead
        return None
    return path


def _pick_target(args, info):
    """(target path, confirmed identity or None for a file, Disk or FileTarget)."""

    from wizard.card import disks
    from wizard.core.errors import WizardError

    if args.target:
        return check_target(args.target, info, args.allow_non_removable)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WizardError("no --target given and no terminal to ask in: give --target /dev/sdX (see "
                          "`wrnv-wizard disks`)")
    all_disks = disks.scan(image=str(info.path), allow_non_removable=args.allow_non_removable)
    offered = [d for d in all_disks if d.offered]
    if not offered:
        refused = "; ".join(f"{d.name}: {', '.join(d.reasons)}" for d in all_disks if not d.offered)
        raise WizardError("no card to write: insert the SD card (in a USB reader or the built-in slot) and try "
                          f"again{' (refused: ' + refused + ')' if refused else ''}")
    import humanize
    import questionary

    # The first entry is "cancel": questionary's pointer starts on it, so no card is ever pre-selected.
    choices = [questionary.Choice("Cancel (write nothing)", value=None)]
    for d in offered:
        label = f"{d.name}  {humanize.naturalsize(d.size_bytes):>9}  {d.vendor} {d.model}  ({d.bus})"
        if d.large:
            label += "  [large drive]"
        choices.append(questionary.Choice(label, value=d))
    picked = questionary.select(f"Which card gets {info.path.name}? (everything on it is erased)",
                                choices=choices).ask()
    if picked is None:
        raise WizardError("nothing picked: no card was written")
    return picked.path, dict(picked.identity()), picked


def check_target(given, info, allow_non_removable: bool):
    """(target path, confirmed identity or None for a file, Disk or FileTarget) for a --target: the same
    classification for one card or many."""
    from wizard.card import disks
    from wizard.card.target import FileTarget, resolve
    from wizard.core.errors import WizardError

    real, kind = resolve(given)
    if kind == "block":
        disk = disks.get(real, image=str(info.path), allow_non_removable=allow_non_removable)
        if not disk.offered:
            raise WizardError(f"refusing to write {disk.name}: {'; '.join(disk.reasons) or 'refused'}. "
                              "Nothing was written.")
        return disk.path, dict(disk.identity()), disk
    target = FileTarget.at(real)
    return target.path, None, target


def _confirm(disk, yes: bool) -> None:
    """The typed confirmation: for a card, and for an existing file (it is overwritten); a new file needs none."""
    from wizard.card.target import LARGE_BYTES
    from wizard.core.errors import WizardError

    if disk.identity() is None and not getattr(disk, "exists", False):
        return
    what = "erase" if disk.identity() is not None else "overwrite"
    print(f"About to {what + ' and write' if what == 'erase' else what} {disk.name}:", file=sys.stderr)
    for line in disk.identity_lines():
        print("  " + line, file=sys.stderr)
    interactive = sys.stdin.isatty()
    if not yes:
        if not interactive:
            raise WizardError(f"confirm by typing the name in a terminal, or add --yes: {disk.name} was "
                              "not written")
        import questionary

        typed = questionary.text(f"Type {disk.name} to {what} it (anything else cancels):").ask()
        if (typed or "").strip() != disk.name:
            raise WizardError(f"you typed {typed!r}, not {disk.name!r}: nothing was written")
    if disk.large:
        if not interactive:
            raise WizardError(f"{disk.name} is larger than {LARGE_BYTES // 10**9} GB (an SD card rarely is): "
                              "confirm in a terminal; nothing was written")
        import questionary

        ok = questionary.confirm(f"{disk.name} is a large drive ({disk.size_bytes / 1e9:.0f} GB). Are you sure it "
                                 "is the card and not a backup disk?", default=False).ask()
        if not ok:
            raise WizardError(f"{disk.name} was not written")
