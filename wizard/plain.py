"""`wrnv-wizard --plain`: the same steps as a linear dialogue with plain progress lines, for SSH sessions,
dumb terminals and screen readers. Questions go through questionary; each step then runs the same headless
command a user could type (`wrnv-wizard setup ...`), so the plain mode and the CLI cannot drift apart.

With --answers FILE nothing is asked except the typed confirmation before a card is written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Optional

from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.steps import STEPS, Status, may_continue_anyway


class Stop(Exception):
    """The user cancelled a question (Ctrl-C / Ctrl-D)."""


class PlainRun:
    def __init__(self, session, ask: bool = True, given: Optional[set] = None,
                 extra_args: Optional[dict] = None, out: Callable[[str], None] = print, start_at: str = ""):
        self.session = session
        self.start_at = start_at                 # an adopted project: the first step really missing
        self.ask = ask                           # False with --answers: defaults for anything unanswered
        self.given = set(given or ())            # answers that came from a file or the demo: never asked
        self.extra = extra_args or {}            # per-command extra flags (the demo's card, ...)
        self.out = out

    # -- driving -----------------------------------------------------------------------------------
    def run(self) -> int:
        if self.ask and not sys.stdin.isatty():
            raise WizardError("--plain asks questions in a terminal: run it in one, or give every answer with "
                              "--answers FILE (see `wrnv-wizard answers --example`)")
        start = [s.id for s in STEPS].index(self.start_at or self.session.first_unfinished())
        failed = []
        for n, spec in enumerate(STEPS[start:], start=start + 1):
            self.out(f"\n== Step {n} of {len(STEPS)}: {spec.title} ==")
            self.out(spec.summary)
            try:
                ok = getattr(self, f"step_{spec.id}")()
            except Stop:
                self.out("\nStopped. Run the same command again to go on from this step.")
                return 130
            # The step's engine call recorded it (in this process or in the command's); only the user's own
            # choice to go on past a failed step is recorded here, and that too by the engine.
            self.session.reload()
            if not ok:
                blocking = self._blocking_failures(spec)
                if blocking:
                    self.out(f"\n{spec.title}: fix {', '.join(blocking)} first (the build cannot run without "
                             "them), then run the same command again.")
                    return 1
                if not (spec.continue_anyway and self._continue_anyway(spec)):
                    self.out(f"\nStep {n} failed; fix what it says, then run the same command again.")
                    return 1
                failed.append(spec.title)
                self.session.continue_anyway(spec.id)
        if failed:
            self.out(f"\nFinished, but continued past: {', '.join(failed)}.")
            return 1
        self.out("\nAll steps done.")
        return 0

    def _blocking_failures(self, spec) -> list:
        """The failed checks of this run that no one may go on past (steps.may_continue_anyway's rule, the
        one the full-screen wizard follows), read from the step's record: the engine keeps the names there."""
        if not spec.continue_anyway or not spec.blocking:
            return []
        rec = self.session.step_state(spec.id)
        if rec.status is not Status.FAILED:
            return []
        names = list(rec.data.get("failed", []))
        if may_continue_anyway(spec, names):
            return []
        return [n for n in names if n in spec.blocking]

    def _continue_anyway(self, spec) -> bool:
        if not may_continue_anyway(spec):
            return False
        missing = self._not_done(spec)
        if not self.ask:
            self.out(f"WARNING: {spec.title} did not pass; continuing (non-interactive run)."
                     + (f" Not done: {', '.join(missing)}." if missing else ""))
            return True
        if missing:     # as the full-screen wizard: say what is skipped before asking
            self.out("Not done yet:\n  " + "\n  ".join(missing))
            self.out("The downloads and the build need these.")
        return self._confirm(f"{spec.title} did not pass. Continue anyway?", default=False)

    def _not_done(self, spec) -> list:
        """Prerequisites neither found nor confirmed in this run (skipping them is asked about by name)."""
        return list(getattr(self, "_prereqs_missing", ())) if spec.id == "prereqs" else []

    def command(self, name: str, *args: str) -> int:
        from wizard.cli import main as cli_main

        argv = [name, "--project", str(self.session.project), "--profile", str(self.session.base_profile.path),
                *args, *self.extra.get(name, [])]
        self.out("$ wrnv-wizard " + " ".join(argv))
        sys.stdout.flush()
        return cli_main(argv)

    # -- questions ---------------------------------------------------------------------------------
    def _need(self, key: str) -> bool:
        return self.ask and key not in self.given

    def _answer(self, question):
        value = question.ask()
        if value is None:
            raise Stop()
        return value

    def _confirm(self, text: str, default: bool = True) -> bool:
        import questionary

        return bool(self._answer(questionary.confirm(text, default=default)))

    def _select(self, key: str, text: str, choices: list) -> None:
        """choices: (value, title). Sets the answer unless it was given."""
        if not self._need(key):
            return
        import questionary

        current = getattr(self.session.answers, key)
        opts = [questionary.Choice(title, value=value) for value, title in choices]
        value = self._answer(questionary.select(text, choices=opts, default=next(
            (c for c in opts if c.value == current), None)))
        self.session.update_answers(**{key: value})

    def _text(self, key: str, text: str, path: bool = False) -> None:
        if not self._need(key):
            return
        import questionary

        current = str(getattr(self.session.answers, key))
        q = questionary.path(text, default=current) if path else questionary.text(text, default=current)
        self.session.update_answers(**{key: self._answer(q).strip()})

    # -- steps -------------------------------------------------------------------------------------
    def step_welcome(self) -> bool:
        text = asset("text", "welcome.txt").read_text(encoding="utf-8")
        self.out(re.sub(r"\[/?[^\]]*\]", "", text).rstrip())
        if self.ask and not self._confirm("Start?"):
            return False
        self.session.complete("welcome")
        return True

    def step_prereqs(self) -> bool:
        from wizard.downloads import prereqs

        a = self.session.answers
        self._text("downloads_dir", "SDK Manager downloads folder:", path=True)
        items = prereqs.detect(self.session.profile, a.downloads, machine=a.machine, packages=a.packages)
        confirmed = set()
        for item in items:
            mark = {True: "found", False: "NOT FOUND", None: "cannot be detected"}[item.detected]
            self.out(f"- {item.title}: {mark}. {item.detail}")
            if item.help and not item.detected:
                self.out(f"  {item.help}")
            if not item.detected:
                if item.id in a.confirmed_prereqs:
                    self.out("  (confirmed in the answers: confirmed_prereqs)")
                    confirmed.add(item.id)
                elif self.ask and self._confirm(f"Is this done: {item.title}?", default=False):
                    confirmed.add(item.id)
                elif not self.ask:
                    self.out(f"  (not confirmed: add {item.id!r} to confirmed_prereqs in the answers file once it "
                             "is done; the next steps check what they can)")
        self._prereqs_missing = [i.title for i in items if not i.detected and i.id not in confirmed]
        return prereqs.record(self.session, items, confirmed)

    def step_host(self) -> bool:
        return self.command("doctor") == 0

    def step_downloads(self) -> bool:
        prof = self.session.profile
        self._text("downloads_dir", "SDK Manager downloads folder:", path=True)
        if self._need("packages"):
            import questionary

            chosen = self._answer(questionary.checkbox(
                "Optional NVIDIA packages (also installed in the image):",
                choices=[questionary.Choice(p.title, value=p.id, checked=p.id in self.session.answers.packages)
                         for p in prof.packages]))
            self.session.update_answers(packages=_with_requirements(prof, chosen))
        a = self.session.answers
        return self.command("verify-downloads", str(a.downloads), "--packages", ",".join(a.packages) or "none",
                            "--machine", a.machine, "--stage-nodla") == 0

    def step_board(self) -> bool:
        prof = self.session.base_profile
        self._select("machine", "Jetson board (machine):",
                     [(m.name, f"{m.name} — {m.module}{'' if m.sdcard else ' (no SD-card image)'}")
                      for m in prof.machines])
        self._select("source", "Wind River Linux source:", [(s.id, s.title) for s in prof.wrlinux.sources])
        self._select("distro", "Distro:", [(d.id, d.title) for d in prof.distros])
        self._select("image", "Image to build:", [(i.id, i.title) for i in prof.images])
        self._text("project_dir", "Project folder:", path=True)
        self.session.choose_board()
        a = self.session.answers
        self.out(f"Board {a.machine}, source {a.source}, distro {a.distro}, image {a.image}, "
                 f"packages {', '.join(a.packages) or 'none'}, project {a.project}")
        return True

    def step_project(self) -> bool:
        return self.command("setup") == 0

    def step_localconf(self) -> bool:
        return self.command("localconf", "--apply", "--diff") == 0

    def step_build(self) -> bool:
        return self.command("build") == 0

    def step_image(self) -> bool:
        prof = self.session.base_profile
        if prof.fabs:
            self._select("fab", "Jetson Nano carrier board revision (the revision-to-FAB mapping is unverified):",
                         [(f.id, f"{f.title} (FAB {f.fab})") for f in prof.fabs])
        fab = self.session.answers.fab
        return self.command("image", *(["--fab", fab] if fab else [])) == 0

    def step_flash(self) -> bool:
        # The typed confirmation inside `flash` is always asked; no answer skips it.
        return self.command("flash", *self._card_args()) == 0

    def _card_args(self) -> list:
        """The answers' per-card options for the one card written here: the pattern's next name that no board
        of the project has (as the Write the card step numbers them), the key, the sshd setting."""
        from wizard.board.cards import card_boards
        from wizard.card.customise import expand_hostnames

        a = self.session.answers
        args = []
        if a.card_hostname_pattern:
            taken = {b.hostname for b in card_boards(self.session)}
            args += ["--hostname", expand_hostnames(a.card_hostname_pattern, 1, taken=taken)[0]]
        if a.card_ssh_key:
            args += ["--ssh-key", a.card_ssh_key]
            if a.card_no_empty_password_ssh:
                args.append("--no-empty-password-ssh")
        return args

    def step_boot(self) -> bool:
        from wizard.board.cards import card_boards

        boards = card_boards(self.session)
        if boards:
            return self._boot_cards(boards)
        self._text("board_host", "Board address (IP or host name):")
        a = self.session.answers
        if not a.board_host:
            raise WizardError("no board address: give one (board_host in the answers file)")
        trust = self._trust_host_key(a, a.board_host) if self.ask else []
        return self.command("check-board", a.board_host, *self._login_args(a), *trust) == 0

    @staticmethod
    def _login_args(a) -> list:
        return ["--user", a.board_user, "--port", str(a.board_port),
                *(["--identity", a.board_identity] if a.board_identity else [])]

    def _boot_cards(self, boards: list) -> bool:
        """Every written card's board: looked up by its host name (.local) at once, then checked in turn; a
        board not found by name can be given by address (asked), and its check is kept for that card."""
        from wizard.board.cards import look_up, lookup_line

        a = self.session.answers
        self.out(f"Looking up {', '.join(b.name for b in boards)} ...")
        found = look_up(boards)
        for r in found:
            self.out("  " + lookup_line(r))
        ok = True
        for r in found:
            address = r.address
            if not address and self.ask:
                import questionary

                address = self._answer(questionary.text(
                    f"Address of {r.board.hostname} (read it on its console with `ip -4 addr`; empty: skip it):"
                )).strip()
            if not address:
                self.out(f"{r.board.hostname}: not checked.")
                ok = False
                continue
            self.out(f"\n-- {r.board.hostname} at {address} --")
            trust = self._trust_host_key(a, address, card=r.board.hostname) if self.ask else []
            ok = self.command("check-board", address, "--card", r.board.hostname, *self._login_args(a),
                              *trust) == 0 and ok
        return ok

    def _trust_host_key(self, a, host: str, card: str = "") -> list:
        """First contact: show the board's key fingerprint and ask before trusting it (a card's board: kept
        under its name, as check-board --card looks it up)."""
        from wizard.board.cards import mdns_name
        from wizard.board.ssh import SshClient, SshTarget, default_known_hosts

        if "--accept-new-host-key" in self.extra.get("check-board", []):
            return []
        alias = mdns_name(self.session.profile, card) if card else ""
        client = SshClient(SshTarget(host, a.board_user, a.board_port, alias=alias), known_hosts=default_known_hosts())
        try:
            if client.is_known():
                return []
            keys = client.scan_host_keys()
        except WizardError as e:
            self.out(f"Could not read the board's host key: {e}")
            return []
        self.out(f"First contact with {client.target.shown}. Its host key:\n{keys.text()}")
        self.out("Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the board's console.")
        if self._confirm("Trust this board?", default=False):
            return ["--accept-new-host-key"]
        return []

    def step_summary(self) -> bool:
        from wizard.core.summary import build_summary, export_markdown, to_markdown

        self.session.complete("summary", "summary shown")
        self.out(to_markdown(build_summary(self.session)))
        self.out(f"Saved as {export_markdown(self.session)}")
        return True


def _with_requirements(profile, chosen: list) -> list:
    out = list(chosen)
    for pid in chosen:
        for req in profile.package(pid).requires:
            if req not in out:
                out.append(req)
    order = [p.id for p in profile.packages]
    return sorted(out, key=order.index)


def run_plain(args, session=None, given: Optional[set] = None, extra_args: Optional[dict] = None) -> int:
    from wizard.core.answers_file import load_answers
    from wizard.core.session import Session

    adopted = None
    if session is None:
        session = Session.open(args.project, args.profile)
        if args.project:
            from wizard.cli import adopt_project

            adopted = adopt_project(session, say=print)
    given = set(given or ())
    if args.answers:
        answers = load_answers(Path(args.answers), session.base_profile, session.answers)
        given |= {k for k, v in answers.to_dict().items() if v != getattr(session.answers, k)}
        session.update_answers(**answers.to_dict())
    return PlainRun(session, ask=not args.answers, given=given, extra_args=extra_args,
                    start_at=adopted.start_at if adopted else "").run()
