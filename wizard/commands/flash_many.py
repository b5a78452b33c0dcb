"""`wrnv-wizard flash IMAGE --target DEV --target DEV ...`: several cards at once, each its own board.

Every target is checked exactly as a single one (classification, identity, O_EXCL when opened); all are
confirmed in one typed prompt (the device names), then written at once from one read of the image. Each card
prints its own progress and result; one failing stops only that card. Exit 0 only when every card was written
and verified (and customised, when asked), 1 when any failed, 2 for bad options (before anything is written).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time


def run(args, image, targets: list) -> int:
    from wizard.card import elevate
    from wizard.card.customise import ImagePlanner, options_for_cards
    from wizard.card.fanout import CardJob, record, write_cards, write_cards_for
    from wizard.card.report import SessionReport
    from wizard.card.writer import WriteOptions, check_image, make_safe_to_remove, sigint_cancels
    from wizard.commands.flash import _project_session, check_target
    from wizard.core.errors import UsageError

    if not targets:
        raise UsageError("--hostname, --ssh-key, --no-empty-password-ssh and --report need the cards named: add "
                         "--target DEV for each")
    if getattr(args, "verify", "yes") == "full" and args.no_verify:
        raise UsageError("--verify=full and --no-verify contradict each other: give one")
    card_opts = options_for_cards(len(targets), hostname_pattern=args.hostname, ssh_key_file=args.ssh_key,
                                  no_empty_password_ssh=args.no_empty_password_ssh)
    customising = bool(args.hostname or args.ssh_key)
    partition = _partition_name(args) if customising else "APP"
    if args.report:
        _check_report_path(args.report)
    info = check_image(image)

    checked, seen = [], {}
    for given in targets:
        path, identity, disk = check_target(given, info, args.allow_non_removable)
        key = str(path)
        if key in seen:
            raise UsageError(f"{given} names the same card as {seen[key]}: give each card once")
        seen[key] = given
        checked.append((path, identity, disk))
    routes = [elevate.route(p) for p, _, _ in checked]
    # The cards' changes are worked out on the image, whichever way each card is opened: an image they cannot be
    # made on (no such partition, not ext4, unfinished journal, e2fsprogs missing or too old) stops here.
    planner = ImagePlanner(info.path, partition) if customising else None
    if customising:
        _say_names_taken(args, card_opts)
    _confirm_all([d for _, _, d in checked], args.yes)

    jobs = []
    for (path, identity, disk), way, copts in zip(checked, routes, card_opts):
        opts = WriteOptions(verify=not args.no_verify, verify_full=getattr(args, "verify", "yes") == "full",
                            sparse=getattr(args, "sparse", False), allow_non_removable=args.allow_non_removable,
                            overwrite_file=disk.identity() is None)
        jobs.append(CardJob(target=str(path), name=disk.name, identity=identity, route=way, options=opts,
                            card_options=copts if customising else None, model=getattr(disk, "model", ""),
                            serial=getattr(disk, "serial", ""), size_bytes=getattr(disk, "size_bytes", 0)))
    for job in jobs:
        print(f"{job.name}: {elevate.path_words(job.target)}", file=sys.stderr)
    asked = set()
    for job in jobs:        # the password prompt(s), before any progress; polkit and sudo keep the answer
        if job.route != "in-process" and job.route not in asked:
            elevate.authenticate(job.target)
            asked.add(job.route)

    report = SessionReport(image=str(info.path))
    board = _Board([j.name for j in jobs], sys.stderr.isatty())

    def done(i, out) -> None:
        if out.ok:
            board.finish(i, "written and verified" if out.result.verified else "written (not verified)")
        else:
            board.finish(i, f"FAILED: {out.error}")

    t0 = time.monotonic()
    session = _project_session(args)
    try:
        with sigint_cancels() as cancel:
            kw = dict(progress_for=board.progress_for, cancel=cancel, partition_name=partition, on_done=done,
                      planner=planner)
            # The project's Write the card step, when there is a project: the engine records it, with every card.
            outcomes, shared = (write_cards_for(session, info, jobs, **kw) if session is not None else
                                write_cards(info, jobs, **kw))
    finally:
        if planner is not None:
            planner.close()
    board.close()
    for out in outcomes:
        report.add(record(out))
        if out.result is not None and out.error is None:
            line = f"{out.job.name}: {out.result.summary()}"
            if out.customised is not None:
                line += f"; {out.customised.how}"
            print(line)
        else:
            print(f"{out.job.name}: FAILED: {out.error}")
    report.finish()
    wall = time.monotonic() - t0
    t = report.totals
    line = f"{t['ok']} of {t['cards']} cards written and verified in {wall:.1f} s"
    here, there = shared.bytes_read, shared.helper_bytes_read
    if there is None:
        line += f"; the image was read once ({here:,} bytes)"
    elif not here:
        line += f"; the image was read once, by the helper ({there:,} bytes)"
    else:
        line += f"; the image was read once here ({here:,} bytes) and once by the helper ({there:,} bytes)"
    print(line)
    if args.report:
        try:
            print(f"report: {report.write_json(args.report)}")
        except OSError as e:
            print(f"wrnv-wizard: error: the report could not be written to {args.report} ({e.strerror}); the "
                  "cards' results are above", file=sys.stderr)
            return 1
    for out in outcomes:
        if out.ok:
            print(make_safe_to_remove(out.job.target))
    if cancel():
        print("stopped at your request: the cards above that were not finished must be written again",
              file=sys.stderr)
        return 130
    return 0 if all(o.ok for o in outcomes) else 1


def _check_report_path(path) -> None:
    """Before any card is written: a report that cannot be saved afterwards is a usage error now."""
    import os
    from pathlib import Path

    from wizard.core.errors import UsageError

    p = Path(path).expanduser()
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"--report {path} is a folder: give a file name, e.g. {p / 'flash-report.json'}")
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--report {path}: cannot write into {folder} (missing or not yours): pick another "
                         "place; nothing was written")


def _say_names_taken(args, card_opts: list) -> None:
    """Before the confirmation: host names that boards of the project already have. The card written now takes
    the name over (right when it is that board again); two boards with one name collide on the network."""
    from wizard.board.cards import card_boards
    from wizard.commands.flash import _project_session

    session = _project_session(args)
    if session is None:
        return
    taken = {b.hostname for b in card_boards(session)}
    again = [o.hostname for o in card_opts if o is not None and o.hostname in taken]
    if again:
        print(f"Note: {', '.join(again)} {'is' if len(again) == 1 else 'are'} already the name of a board of this "
              "project; the card written now takes the name over. Right when you write that board again; for "
              "new boards give a pattern whose names are new (the wizard's Write the card step numbers on).",
              file=sys.stderr)


def _partition_name(args) -> str:
    from wizard.card.customise import root_partition
    from wizard.core.profile import load_profile

    name, _verified = root_partition(load_profile(getattr(args, "profile", None)))
    return name


def _confirm_all(cards: list, yes: bool) -> None:
    """One typed confirmation for the whole set: every card's identity is shown and every name typed."""
    from wizard.core.errors import WizardError

    if len(cards) == 1:
        from wizard.commands.flash import _confirm

        _confirm(cards[0], yes)
        return
    names = [c.name for c in cards]
    print(f"About to erase and write {len(cards)} targets:", file=sys.stderr)
    for c in cards:
        for line in c.identity_lines():
            print("  " + line, file=sys.stderr)
        print(file=sys.stderr)
    interactive = sys.stdin.isatty()
    if not yes:
        if not interactive:
            raise WizardError(f"confirm by typing the {len(cards)} names in a terminal, or add --yes: nothing was "
                              "written")
        import questionary

        typed = questionary.text(f"Type all {len(cards)} names ({' '.join(names)}) to erase them (anything else "
                                 "cancels):").ask()
        if sorted((typed or "").split()) != sorted(names):
            raise WizardError(f"you typed {typed!r}, not the {len(cards)} names: nothing was written")
    large = [c for c in cards if getattr(c, "large", False)]
    if large:
        from wizard.card.target import LARGE_BYTES

        if not interactive:
            raise WizardError(f"{', '.join(c.name for c in large)} larger than {LARGE_BYTES // 10**9} GB (an SD "
                              "card rarely is): confirm in a terminal; nothing was written")
        import questionary

        ok = questionary.confirm(f"{', '.join(c.name for c in large)}: large drive(s). Are you sure they are cards "
                                 "and not backup disks?", default=False).ask()
        if not ok:
            raise WizardError("nothing was written")


class _Board:
    """Each card's own progress line. On a terminal the block of lines is redrawn in place; in a log, a line per
    card every 5 seconds, whenever its phase changes, and when it finishes (so finishing order is visible)."""

    def __init__(self, names: list, tty: bool):
        self.names, self.tty = names, tty
        self.lines = [f"{n}: waiting" for n in names]
        self._lock = threading.Lock()
        self._drawn = False
        self._last: dict = {}
        self._last_draw = 0.0

    def progress_for(self, i: int):
        def show(p) -> None:
            with self._lock:
                self.lines[i] = f"{self.names[i]}: {p.line()}"
                if self.tty:
                    self._draw()
                else:
                    now = time.monotonic()
                    t, label = self._last.get(i, (0.0, None))
                    if now - t > 5 or p.label != label:
                        print(self.lines[i], file=sys.stderr, flush=True)
                        self._last[i] = (now, p.label)
        return show

    def finish(self, i: int, text: str) -> None:
        with self._lock:
            self.lines[i] = f"{self.names[i]}: {text}"
            if self.tty:
                self._draw(force=True)
            else:
                print(self.lines[i], file=sys.stderr, flush=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        out = sys.stderr
        width = max(20, shutil.get_terminal_size().columns - 1)    # a wrapped line would break the redraw
        if self._drawn:
            out.write(f"\033[{len(self.lines)}A")
        for line in self.lines:
            out.write("\r\033[K" + line[:width] + "\n")
        out.flush()
        self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self.tty:
                self._draw(force=True)
