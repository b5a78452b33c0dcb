"""Step 11: find the booted board and check every link up to the GPU inside a container.

Thin: the written cards' boards (by host name) come from wizard.board.cards, other candidates from
wizard.board.find, the checks from wizard.board.check, ssh from wizard.board.ssh.
First contact with a board stops for the host-key modal; the tutorial's demo runs in the real terminal
(the app is suspended while it runs).
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from wizard.board.check import UNTRUSTED, BoardChecker, Check, check_board, demo_command
from wizard.board.ssh import (
    HostKeyChanged,
    HostKeyUnknown,
    SshClient,
    SshTarget,
    default_known_hosts,
)
from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.progress import Cancelled
from wizard.core.steps import Status

from .base import StepScreen
from .boot_candidates import CandidateList
from .boot_cards import CardList
from .boot_checks import ChecksView
from .boot_hostkey import HostKeyScreen
from .terminal import in_terminal

INTERNET_NOTE = "The GPU demo needs internet on the board (docker pull, MNIST); the checks need only ssh."


class BootScreen(StepScreen):
    STEP_ID = "boot"
    NOT_DONE = "Not checked yet: fill in the address, then Check the board (F5)."
    CSS_PATH = str(asset("styles", "boot.tcss"))
    BINDINGS = [Binding("f5", "check", "Check the board"), Binding("f6", "demo", "Run the demo")]

    # Where trusted host keys go; tests point it at their own file.
    known_hosts = None
    # ssh client config (None: the user's ~/.ssh/config); tests use "/dev/null".
    ssh_config = None
    # How card names are looked up (name -> addresses; None: the host's getaddrinfo, i.e. nss-mdns for .local).
    # Tests give a table, so that no test asks the network.
    resolver = None
    # Where the resolver's sources are named (tests give their own).
    nsswitch = "/etc/nsswitch.conf"

    def __init__(self, session) -> None:
        super().__init__(session)
        self._observer = None
        self._client = None
        # The written card whose board the address belongs to ("" : a board that is not one of the cards).
        self._card = ""
        self._boards: list = []
        # "Check all found": the found boards still to check, one after another.
        self._queue: list = []

    def compose_body(self) -> ComposeResult:
        a = self.session.answers
        # One scroll for the whole body: on an 80x24 terminal the checks sit below the fold, not off-screen.
        with VerticalScroll(id="boot-scroll"):
            yield Static(INTERNET_NOTE, id="boot-note")
            with Vertical(id="boot-cards-box"):
                with Horizontal(id="boot-cards-head"):
                    yield Static("Written cards, by name (Enter checks one):", id="boot-cards-title")
                    yield Button("Look again", id="boot-lookup", compact=True)
                    yield Button("Check all found", id="boot-check-all", compact=True)
                yield Static("", id="boot-no-mdns")
                yield CardList(id="boot-cards", compact=True)
            yield Static("", id="boot-card-note")
            with Vertical(id="boot-target"):
                # Every box has a label: a filled-in box shows no placeholder, so "root" and "22" need one.
                with Horizontal(classes="boot-row"):
                    yield Label("Address", classes="boot-field")
                    yield Input(a.board_host, placeholder="e.g. 192.168.1.42", id="boot-host", compact=True)
                with Horizontal(id="boot-login", classes="boot-row"):
                    yield Label("User", classes="boot-field")
                    yield Input(a.board_user or "root", placeholder="root", id="boot-user", compact=True)
                    yield Label("Port", classes="boot-field-short")
                    yield Input(str(a.board_port or 22), placeholder="22", id="boot-port", type="integer",
                                compact=True)
                with Horizontal(classes="boot-row"):
                    yield Label("Password", classes="boot-field")
                    # Never saved: kept only for this screen's ssh runs (SSH_ASKPASS).
                    yield Input("", placeholder="optional, never saved", id="boot-password", password=True,
                                compact=True)
                with Horizontal(classes="boot-row"):
                    yield Label("Key file", classes="boot-field")
                    yield Input(a.board_identity, placeholder="optional: private key for ssh", id="boot-identity",
                                compact=True)
                with Horizontal(id="boot-actions"):
                    yield Button("Check the board", id="boot-check", variant="primary", compact=True)
                    yield Button("Run the demo", id="boot-demo", compact=True, disabled=True)
                    yield Button("Forget its old key", id="boot-forget", variant="warning", compact=True)
            yield Static("Where is the board? Pick one to fill the address (nothing is scanned):",
                         classes="boot-label")
            yield CandidateList(id="boot-candidates", compact=True)
            yield Static("", id="boot-result")
            # When the board never appears: its boot firmware may be newer than this release (shown then only).
            yield Static("", id="boot-firmware")
            yield Button("Rewrite boot firmware...", id="boot-firmware-go", compact=True)
            yield ChecksView(id="boot-checks")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#boot-forget", Button).display = False
        self._show_firmware(False)
        from wizard.board.cards import card_boards, recorded_boards

        self._boards = card_boards(self.session)
        self.query_one("#boot-cards-box").display = bool(self._boards)
        self.query_one("#boot-card-note").display = False
        no_mdns = self.query_one("#boot-no-mdns", Static)
        no_mdns.display = False
        if self._boards:
            from wizard.board.cards import NO_MDNS_HERE, mdns_configured

            # Said once above the rows, when this computer plainly cannot resolve .local names.
            if mdns_configured(type(self).nsswitch) is False:
                no_mdns.update(NO_MDNS_HERE)
                no_mdns.display = True
            self.query_one(CardList).show(self._boards, recorded_boards(self.session))
            self.look_up_cards()
        self.find_candidates()
        # Coming back (or resuming tomorrow): show the last check's evidence, not an empty table.
        data = self.session.step_state(self.STEP_ID).data
        if data.get("checks"):
            self.query_one("#boot-result", Static).update(Text(self.session.step_state(self.STEP_ID).detail))
            view = self.query_one(ChecksView)
            self.call_after_refresh(self._show_saved, view, data)

    def _show_saved(self, view: ChecksView, data: dict) -> None:
        known = {"name", "status", "command", "output", "hint"}
        for d in data.get("checks") or []:
            if isinstance(d, dict) and d.get("name"):
                view.show(Check(**{k: str(v) for k, v in d.items() if k in known}))
        self.query_one("#boot-demo", Button).disabled = not data.get("ok")

    def on_unmount(self) -> None:
        if self._observer is not None:
            self._observer.stop()
        if self._client is not None:
            self._client.close()

    # -- finding -------------------------------------------------------------------------------------
    @work(thread=True, group="find")
    def find_candidates(self) -> None:
        from wizard.board import find as board_find

        # With cards that have host names, their names are the mDNS entries (the image's default is not).
        found = board_find.candidates(self.session.profile, self.session.answers.machine,
                                      mdns=not self._boards)
        self.app.call_from_thread(self.query_one(CandidateList).show, found)
        try:
            self._observer = board_find.watch_serial(
                self.session.profile, lambda c: self.app.call_from_thread(self.query_one(CandidateList).add, c))
        except Exception:  # no udev netlink here (containers): plugging in is simply not noticed
            self._observer = None

    @work(thread=True, exclusive=True, group="lookup")
    def look_up_cards(self) -> None:
        """Every card's `<hostname>.local` at once; each row fills in as its answer comes."""
        from wizard.board.cards import look_up

        cards = self.query_one(CardList)
        self.app.call_from_thread(cards.looking)
        def found(r) -> None:
            try:
                self.app.call_from_thread(cards.found, r)
            except RuntimeError:      # the wizard was closed meanwhile: nobody to tell
                pass

        look_up(self._boards, type(self).resolver, on_result=found)

    @on(Button.Pressed, "#boot-lookup")
    def _lookup_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.look_up_cards()

    @on(Button.Pressed, "#boot-check-all")
    def _check_all_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.busy:
            return
        cards = self.query_one(CardList)
        found = [b for b in self._boards if getattr(cards.lookup(b.hostname), "found", False)]
        if not found:
            self.notify("No card's board was found by name (yet): Look again once they have booted, or pick a "
                        "card and type its address.", severity="warning", timeout=10, markup=False)
            return
        self._queue = found[1:]
        self._pick_card(found[0])

    def _next_in_queue(self) -> None:
        if not self._queue:
            return
        if self.busy:                 # the last run is still clearing up
            self.set_timer(0.2, self._next_in_queue)
            return
        self._pick_card(self._queue.pop(0))

    def _pick_card(self, board) -> None:
        """A card's row: check its board where it was found; otherwise ask for its address."""
        self._card = board.hostname
        note = self.query_one("#boot-card-note", Static)
        note.display = True
        found = self.query_one(CardList).lookup(board.hostname)
        host = self.query_one("#boot-host", Input)
        if found is not None and found.found:
            note.update(Text(f"Checking {board.hostname} at {found.address} ({board.name})."))
            host.value = found.address
            self.action_check()
            return
        note.update(Text(f"{board.hostname} was not found by name: type its address (on its console: "
                         "`ip -4 addr`), then Check the board; the check is kept for " + board.hostname + "."))
        host.value = ""
        host.focus()

    def on_option_list_option_selected(self, event) -> None:
        if isinstance(event.option_list, CardList):
            event.stop()
            self._queue = []
            board = event.option_list.board(event.option.id or "")
            if board is not None:
                self._pick_card(board)
            return
        if isinstance(event.option_list, CandidateList):
            event.stop()
            c = event.option_list.candidate(event.option.id or "")
            if c is None:
                return
            if c.address:
                self.query_one("#boot-host", Input).value = c.address
                self.notify(c.note, timeout=8, markup=False)
            else:
                self.notify(c.note, title="Serial console", timeout=20, markup=False)
            return
        super().on_option_list_option_selected(event)

    # -- checking ------------------------------------------------------------------------------------
    def _client_from_inputs(self) -> SshClient:
        host = self.query_one("#boot-host", Input).value.strip()
        user = self.query_one("#boot-user", Input).value.strip() or "root"
        port_text = self.query_one("#boot-port", Input).value.strip() or "22"
        identity = self.query_one("#boot-identity", Input).value.strip()
        try:
            port = int(port_text)
        except ValueError:
            raise WizardError(f"port {port_text!r} is not a number; ssh uses 22") from None
        if not host:
            raise WizardError("give the board's address (pick one on the left, or read it on the board with "
                              "`ip -4 addr`)")
        # A card's key is kept under its own name, wherever it was found (see SshTarget).
        from wizard.board.cards import mdns_name

        alias = mdns_name(self.session.profile, self._card) if self._card else ""
        target = SshTarget(host, user, port, alias=alias)
        client = SshClient(target, identity=identity, known_hosts=self.known_hosts or default_known_hosts(),
                           config_file=self.ssh_config, password=self.query_one("#boot-password", Input).value)
        self.session.update_answers(board_host=host, board_user=user, board_port=port, board_identity=identity)
        return client

    def start_checks(self) -> None:
        try:
            client = self._client_from_inputs()
        except WizardError as e:
            self.notify(str(e), severity="error", timeout=10, markup=False)
            return
        if self._client is not None:
            self._client.close()
        self._client = client
        self.query_one("#boot-forget", Button).display = False
        self.query_one("#boot-demo", Button).disabled = True
        self.query_one(ChecksView).reset()
        self.run_checks(client)

    def _ask_trust(self, client: SshClient, keys) -> bool:
        """From the worker thread: show the modal on the UI thread and wait for the answer."""
        answer: list = []
        done = threading.Event()

        def show() -> None:
            name = client.target.shown
            if self._card:
                name = f"{self._card} ({name})"
            self.app.push_screen(HostKeyScreen(name, keys.fingerprints, str(client.known_hosts)),
                                 callback=lambda yes: (answer.append(bool(yes)), done.set()))

        self.app.call_from_thread(show)
        while not done.wait(0.2):
            if get_current_worker().is_cancelled:
                return False
        return answer[0]

    @work(thread=True, exclusive=True, group="check")
    def run_checks(self, client: SshClient) -> None:
        ui = self.app.call_from_thread
        view = self.query_one(ChecksView)
        card = f"{self._card} at " if self._card else ""
        ui(setattr, self, "busy", f"checking {card}{client.target.login}")
        ui(lambda: self.query_one("#boot-scroll", VerticalScroll).scroll_to_widget(
            self.query_one("#boot-result"), top=True, animate=False))
        try:
            checker = BoardChecker(client, self.session.profile, self.session.answers.packages)
            ui(view.running, "reachable")
            worker = get_current_worker()
            report = check_board(self.session, checker, lambda keys: self._ask_trust(client, keys),
                                 on_check=lambda c: ui(view.show, c), cancelled=lambda: worker.is_cancelled,
                                 card=self._card)
        except Cancelled:
            return
        except HostKeyChanged as e:
            ui(self._finished, str(e), False, True)
            return
        except HostKeyUnknown:
            ui(self._finished, UNTRUSTED, False, False)
            return
        except WizardError as e:
            ui(self._finished, str(e), False, False)
            return
        finally:
            ui(setattr, self, "busy", "")
        first = report.first_failure()
        ui(self._show_firmware, first is not None and first.name == "reachable")
        ui(self._finished, self.session.step_state(self.STEP_ID).detail, report.ok, False)

    def can_advance(self) -> tuple:
        ok, why = super().can_advance()
        if not ok and self._boards and self.session.status(self.STEP_ID) is Status.PENDING:
            detail = self.session.step_state(self.STEP_ID).detail
            if "not checked yet" in detail:
                return False, detail[0].upper() + detail[1:] + "."
            return False, "Not checked yet: Enter on a card above checks its board, or type an address."
        return ok, why

    def _finished(self, message: str, ok: bool, key_changed: bool) -> None:
        if self._boards:
            from wizard.board.cards import recorded_boards

            self.query_one(CardList).set_checked(recorded_boards(self.session))
        result = self.query_one("#boot-result", Static)
        result.update(Text(message))
        self.query_one("#boot-scroll", VerticalScroll).scroll_to_widget(result, top=True, animate=False)
        self.query_one("#boot-forget", Button).display = key_changed
        self.query_one("#boot-demo", Button).disabled = not ok
        self.refresh_nav()
        if self._queue:
            self.call_after_refresh(self._next_in_queue)

    def _show_firmware(self, show: bool) -> None:
        """The board does not appear: say why that may be its boot firmware, and offer the route (Image step)."""
        from wizard.card import firmware

        show = show and firmware.applies(self.session.profile, self.session.answers.machine)
        note = self.query_one("#boot-firmware", Static)
        note.display = show
        self.query_one("#boot-firmware-go", Button).display = show
        if show:
            note.update(Text(f"Board not there? {firmware.explanation(self.session.profile)} Or from a shell: "
                             f"{firmware.command_hint(self.session.project)}"))

    # -- the demo, in the real terminal -------------------------------------------------------------------
    def run_demo(self) -> None:
        if self._client is None:
            try:
                self._client = self._client_from_inputs()
            except WizardError as e:
                self.notify(str(e), severity="error", markup=False)
                return
        client = self._client
        command = demo_command(self.session.profile)
        def demo() -> int:
            port = f" -p {client.target.port}" if client.target.port != 22 else ""
            print(f"\n$ ssh -t{port} {client.target.login} {command}\n(the board needs internet; Ctrl+C stops it)\n",
                  flush=True)
            rc = client.interactive(command)
            input(f"\nThe demo ended (exit {rc}). Press Enter to go back to the wizard. ")
            return rc

        rc, stopped = in_terminal(self.app, demo)
        if stopped:
            self.notify(f"The demo was {stopped}.", severity="warning")
        else:
            self.notify(f"The demo ended with exit code {rc}.", severity="information" if rc == 0 else "warning")

    def forget_key(self) -> None:
        try:
            client = self._client or self._client_from_inputs()
        except WizardError as e:
            self.notify(str(e), severity="error", markup=False)
            return
        client.forget()
        self.query_one("#boot-forget", Button).display = False
        self.notify("The old key is forgotten: check again to see and trust the new one.")

    def action_check(self) -> None:
        if not self.busy:
            self.start_checks()

    def action_demo(self) -> None:
        if not self.query_one("#boot-demo", Button).disabled:
            self.run_demo()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._queue = []
        self.start_checks()

    @on(Button.Pressed, "#boot-check")
    def _check_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._queue = []
        self.start_checks()

    @on(Button.Pressed, "#boot-demo")
    def _demo_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run_demo()

    @on(Button.Pressed, "#boot-forget")
    def _forget_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.forget_key()

    @on(Button.Pressed, "#boot-firmware-go")
    def _firmware_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.goto("image")
