"""Step 10: write the card. Offered disks only (a toggle shows the others with the reason each is refused),
kept live by the disk monitor; nothing pre-selected; a typed confirmation (and a second one for large
drives); then the write with progress, the verify, and "safe to remove".

The engine does everything that matters (wizard.card.disks, wizard.card.writer, wizard.card.elevate); this screen asks and
draws. The sudo password, when needed, is asked in the real terminal with the app suspended.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, Input, Static

from wizard.card import elevate
from wizard.card.customise import CardOptionError
from wizard.card.sparse import usage
from wizard.card.target import FileTarget
from wizard.card.writer import WriteOptions, check_image, make_safe_to_remove, write_for
from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.steps import Status

from .base import StepScreen
from .confirm import ConfirmScreen
from .flash_cards import CardLines
from .flash_confirm import TypedConfirmScreen
from .flash_confirm_many import ManyConfirmScreen
from .flash_disks import DiskTable
from .flash_insert import InsertedCardScreen
from .flash_options import CardOptionsLine, PerCard
from .flash_options_dialog import CardOptionsScreen
from .flash_progress import WorkProgress
from .terminal import in_terminal
from .tick import Tick

MANY_HINT = "Each card's result is below. More cards: mark them (space), then Enter."
WRITTEN_HINT = "The card is written (see below). To write another one, insert it and pick it here."


class FlashScreen(StepScreen):
    STEP_ID = "flash"
    NOT_DONE = "Not written yet: pick the card in the list (Enter) or give a file."
    CSS_PATH = str(asset("styles", "flash.tcss"))
    # Loop devices and fixed disks are refused; the test suite and the demo (which write loop devices or
    # files they made) set this. It never lets a system, mounted or read-only disk through.
    ALLOW_NON_REMOVABLE = False
    BINDINGS = [Binding("ctrl+x", "stop", "Stop"), Binding("ctrl+o", "options", "Per-card options")]

    def __init__(self, session) -> None:
        super().__init__(session)
        self._monitor = None
        self._cancel = threading.Event()
        # "Write every card I insert": the disks present when it was turned on (never written by it), the
        # inserted cards already seen (asked, written or refused), the queue of cards waiting for their key,
        # and the cards being written now.
        self._session_on = False
        self._baseline: set = set()
        self._seen: set = set()
        self._asking: list = []
        self._session_writing: set = set()
        self._session_image = ""
        # Per-card options (host name pattern, key): what the user chose; checked by the engine when used.
        a = self.session.answers
        self._per_card = PerCard(a.card_hostname_pattern, a.card_ssh_key, a.card_no_empty_password_ssh)
        self._session_names: set = set()    # host names given to cards confirmed in this insert session
        self._insert = None             # wizard.card.fanout.InsertSession while "write every card I insert" is on
        self._session_report = None     # the session's report (wizard.card.report.SessionReport) and its file
        self._session_report_path = None

    @property
    def allow_non_removable(self) -> bool:
        """The class default, or the app's option (`wrnv-wizard --allow-non-removable`, the demo's card)."""
        return bool(getattr(self.app, "options", {}).get("allow_non_removable", self.ALLOW_NON_REMOVABLE))

    # -- layout ----------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="flash-image-row"):
            yield Static("Image to write:", classes="flash-label")
            yield Input(self._saved_image(), placeholder="path of the .sdcard image", id="flash-image",
                        compact=True)
        yield Static("", id="flash-image-info")
        from wizard.card.firmware import short_notice  # a Nano with newer boot firmware never starts
        yield Static(short_notice(self.session.profile, self.session.answers.machine), id="flash-firmware")
        with Horizontal(id="flash-toggles"):
            yield Tick("Write every card I insert", False, id="flash-session", compact=True)
            yield Tick("Show all disks, with why each is refused", False, id="flash-show-all", compact=True)
        yield CardOptionsLine(id="flash-options")
        yield DiskTable(id="flash-disks")
        with Horizontal(id="flash-file-row"):
            yield Input(placeholder="…or write to a file (a VM's disk image): path", id="flash-file", compact=True)
            yield Button("Write to file", id="flash-to-file", compact=True)
        yield Static("", id="flash-hint")
        yield WorkProgress(id="flash-progress")
        yield CardLines(id="flash-cards")
        with Horizontal(id="flash-actions"):
            yield Button("Stop writing", id="flash-stop", variant="warning", disabled=True, compact=True)
        yield Static("", id="flash-result")

    def _saved_image(self) -> str:
        return str(self.session.step_state("image").data.get("path", "") or "")

    def on_mount(self) -> None:
        super().on_mount()
        self._describe_image()
        self._options_changed()
        self.query_one("#flash-result").display = False
        self.query_one(WorkProgress).add_class("-hidden")     # until a card is written: its rows go to the table
        self.watch_busy("", self.busy)
        self._start_monitor()

    def on_unmount(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()

    # -- the image ---------------------------------------------------------------------------------
    def _image(self) -> str:
        return self.query_one("#flash-image", Input).value.strip()

    def _describe_image(self) -> None:
        info = self.query_one("#flash-image-info", Static)
        path = self._image()
        if not path:
            info.update("No image yet: make it in the previous step, or type the path of a .sdcard file.")
            return
        try:
            check_image(path)
            u = usage(path)
            import humanize

            info.update(f"{humanize.naturalsize(u.apparent)} image, {humanize.naturalsize(u.allocated)} of it "
                        "data: only the data is written, then read back.")
        except WizardError as e:
            info.update(f"[b]Cannot use it:[/b] {e}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "flash-image":
            self._describe_image()
            self._start_monitor()

    # -- the disks ---------------------------------------------------------------------------------
    def _start_monitor(self) -> None:
        from wizard.card.disks import DiskMonitor

        if self._monitor is not None:
            self._monitor.stop()
        image = self._image() or None
        if image and not Path(image).is_file():
            image = None
        self._monitor = DiskMonitor(self._disks_changed, image=image,
                                    allow_non_removable=self.allow_non_removable)
        self._monitor.start()

    def _disks_changed(self, disks: list) -> None:
        try:
            self.app.call_from_thread(self._show_disks, disks)
        except RuntimeError:        # called on the UI thread itself, or the app is gone
            pass

    def _show_disks(self, disks: list) -> None:
        options = getattr(self.app, "options", {})
        if options.get("only_target") is not None:
            from wizard.card.disks import only

            only(disks, options["only_target"], options.get("only_reason") or "not the target this run is limited to")
        table = self.query_one(DiskTable)
        table.set_disks(disks)
        self._session_follow(disks)
        offered = table.offered
        hint = self.query_one("#flash-hint", Static)
        if self.busy:
            return
        if self.query_one(CardLines).has_class("-shown"):
            hint.update(MANY_HINT)
        elif self.session.status(self.STEP_ID) is Status.DONE:
            hint.update(WRITTEN_HINT)
        elif not offered:
            hint.update("No card to write yet: insert the SD card (a USB reader or the built-in slot). The list "
                        "updates by itself.")
        else:
            hint.update(f"{len(offered)} card(s) offered. In the table: Enter writes the card under the cursor; "
                        "space marks several, then Enter writes them all (nothing is chosen for you).")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "flash-show-all":
            self.query_one(DiskTable).set_show_all(event.value)
        elif event.checkbox.id == "flash-session":
            self._session_toggled(event.value)

    def _may_pick(self) -> bool:
        """Picking cards in the table waits for a running session or write to end (said, not ignored)."""
        if self._session_on:
            self.notify("End \"write every card I insert\" first: then pick cards in the table.",
                        severity="warning")
            return False
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return False
        return True

    def _checked_image(self) -> str | None:
        """The image to write, or None after saying what is wrong with it."""
        image = self._image()
        try:
            check_image(image)
        except WizardError as e:
            self.notify(str(e), severity="error", timeout=10)
            return None
        return image

    # -- per-card options ----------------------------------------------------------------------------
    @property
    def per_card(self) -> PerCard:
        return self._per_card

    @per_card.setter
    def per_card(self, choice: PerCard) -> None:
        self._per_card = choice
        self._options_changed()

    def _taken(self) -> frozenset:
        """Host names that boards of this project already have (cards written earlier, and the cards given a
        name in the running insert session): a numbered pattern skips them, so no two boards share a name."""
        from wizard.board.cards import card_boards

        return frozenset(b.hostname for b in card_boards(self.session)) | frozenset(self._session_names)

    def _refuse(self, why: str) -> None:
        """A bad option found when the cards were picked: one line, nothing written."""
        self.notify(f"{why}; nothing was written.", severity="error", timeout=10, markup=False)

    def _options_changed(self) -> None:
        """The options line: what each card gets, with the names the marked cards get, in marking order."""
        if not self.query(CardOptionsLine):
            return
        table = self.query_one(DiskTable)
        devices = [] if self._session_on else [d.name for d in table.marked_disks]
        self.query_one(CardOptionsLine).show(self.per_card, devices, self._taken())

    def on_disk_table_marked(self, message: DiskTable.Marked) -> None:
        self._options_changed()

    @on(Button.Pressed, "#flash-options-button")
    def _options_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_options()

    def action_options(self) -> None:
        if self.busy:
            self.notify(f"Busy: {self.busy}. Change the per-card options when it ends.", severity="warning")
            return
        marked = [d.name for d in self.query_one(DiskTable).marked_disks]

        def chosen(choice) -> None:
            if choice is not None:
                self.per_card = choice
                # Kept in the project's answers: reopened, the wizard goes on with the same pattern and key.
                self.session.update_answers(card_hostname_pattern=choice.pattern, card_ssh_key=choice.key_file,
                                            card_no_empty_password_ssh=choice.no_empty_password_ssh)

        self.app.push_screen(CardOptionsScreen(self.per_card, marked, taken=self._taken()), chosen)

    @staticmethod
    def _becomes(opt, host: bool = True) -> str:
        """What a card becomes, in the confirmation: its host name and key ("" without options)."""
        if opt is None:
            return ""
        words = [f"host name {opt.hostname}"] if opt.hostname and host else []
        if opt.ssh_key:
            n = len(opt.ssh_key.splitlines())
            words.append(f"{n} SSH key(s) for root" if n > 1 else "your SSH key for root")
        if opt.no_empty_password_ssh:
            words.append("no password-less root login over SSH")
        return ", ".join(words)

    def _partition(self) -> str:
        """The card's root partition's GPT name, from the release profile (WizardError when it names none)."""
        from wizard.card.customise import root_partition

        return root_partition(self.session.profile)[0]

    def _report_file(self) -> Path:
        return Path(self.session.project) / time.strftime("flash-report-%Y%m%d-%H%M%S.json")

    # -- picking cards ---------------------------------------------------------------------------------
    def on_disk_table_picked(self, message: DiskTable.Picked) -> None:
        disk = message.disk
        if not self._may_pick():
            return
        if not disk.offered:
            self.notify(f"{disk.name} is not offered: {'; '.join(disk.reasons)}", severity="warning", timeout=8)
            return
        image = self._checked_image()
        if image is None:
            return
        try:
            opts = self.per_card.options(1, self._taken())
        except CardOptionError as e:
            self._refuse(str(e))
            return

        def typed(ok: bool | None) -> None:
            if not ok:
                self.notify(f"Nothing was written to {disk.name}.")
                return
            if disk.large:
                self.app.push_screen(ConfirmScreen(
                    f"{disk.name} is a large drive ({disk.size_text}). SD cards rarely are.\n\nAre you sure it is "
                    "the card and not a backup disk?", yes=f"Yes, erase {disk.name}"), second)
            else:
                self._begin_one(disk, image, opts)

        def second(ok: bool | None) -> None:
            if ok:
                self._begin_one(disk, image, opts)
            else:
                self.notify(f"Nothing was written to {disk.name}.")

        self.app.push_screen(TypedConfirmScreen(disk.name, disk.identity_lines(), Path(image).name,
                                                becomes=self._becomes(opts[0])), typed)

    def _begin_one(self, disk, image: str, opts: list) -> None:
        """One card: the single-card write, or with per-card options the fan-out with one job (it customises
        and reads the files back; the report names the card's host name)."""
        if opts[0] is None:
            self._begin(disk, image)
        else:
            self._begin_many([disk], image, opts)

    def on_disk_table_refused(self, message: DiskTable.Refused) -> None:
        d = message.disk
        self.notify(f"{d.name} is not offered: {'; '.join(d.reasons)}", severity="warning", timeout=8)

    def on_disk_table_picked_many(self, message: DiskTable.PickedMany) -> None:
        """Several marked cards: one confirmation naming them all, then one write of all at once."""
        disks = list(message.disks)
        if not self._may_pick():
            return
        image = self._checked_image()
        if image is None:
            return
        try:
            opts = self.per_card.options(len(disks), self._taken())
        except CardOptionError as e:
            self._refuse(str(e))
            return
        names = ", ".join(d.name for d in disks)
        large = [d for d in disks if d.large]

        def typed(ok: bool | None) -> None:
            if not ok:
                self.notify(f"Nothing was written to {names}.")
            elif large:
                self.app.push_screen(ConfirmScreen(
                    f"{', '.join(d.name for d in large)}: large drive(s) (SD cards rarely are).\n\nAre you sure they "
                    "are cards and not backup disks?", yes="Yes, erase them"), second)
            else:
                self._begin_many(disks, image, opts)

        def second(ok: bool | None) -> None:
            if ok:
                self._begin_many(disks, image, opts)
            else:
                self.notify(f"Nothing was written to {names}.")

        also = self._becomes(opts[0], host=False)
        self.app.push_screen(ManyConfirmScreen(disks, Path(image).name, becomes=[getattr(o, "hostname", None)
                                                                                 for o in opts], also=also), typed)

    # -- "write every card I insert" ------------------------------------------------------------------------
    def _session_toggled(self, on: bool) -> None:
        box = self.query_one("#flash-session", Checkbox)
        if on and not self._session_on:
            if self.busy:
                self.notify(f"Busy: {self.busy}", severity="warning")
                box.value = False
                return
            image = self._image()
            try:
                info = check_image(image)
                if not self.per_card.empty:
                    self.per_card.check_session()
                from wizard.card.fanout import InsertSession

                # The engine keeps every card of the session in the step (and plans host names from one copy).
                self._insert = InsertSession(self.session, info, self._partition() if not self.per_card.empty
                                             else "APP")
            except WizardError as e:
                self.notify(str(e), severity="error", timeout=10)
                box.value = False
                return
            table = self.query_one(DiskTable)
            self._session_on, self._session_image = True, image
            self._session_ok = self._session_failed = 0
            self._session_names = set()
            self._session_report = self._session_report_path = None
            self._baseline = {d.path for d in table._disks}
            self._seen, self._asking = set(), []
            self._cancel.clear()
            table.clear_marks()
            self.busy = "writing every card you insert (untick the box to end)"
            self.query_one(WorkProgress).add_class("-hidden")
            self._show_card_lines([], {})
            self._options_changed()
            self.query_one("#flash-hint", Static).update(
                "Insert a card: it is shown here and asks for one key (W). Cards already in are left alone.")
        elif not on and self._session_on:
            self._session_on = False
            self._asking = []
            self._session_end_if_idle()

    def _session_end_if_idle(self) -> None:
        if self._session_on:
            return
        if self._session_writing:
            self.query_one("#flash-hint", Static).update(
                f"Ending: {len(self._session_writing)} card(s) still being written.")
            return
        if self.busy.startswith("writing every card"):
            self.busy = ""
            lines = self.query_one(CardLines)
            self.query_one("#flash-hint", Static).update(
                MANY_HINT if lines.has_class("-shown") else "")
            if self._insert is not None:
                self._insert.close()
                self._insert = None
            text = f"Session ended: {self._session_ok} card(s) written and verified, {self._session_failed} failed."
            if self._session_report_path is not None:
                text += f" Report: {self._session_report_path}"
            self._result(self._session_failed == 0 and self._session_ok > 0, text)
            self._options_changed()
            self.refresh_nav()

    _session_ok = 0
    _session_failed = 0

    def _session_follow(self, disks: list) -> None:
        """Called with each fresh disk list: new cards are asked for, gone ones forgotten (a new card in the
        same reader is a new card)."""
        if not self._session_on:
            return
        present = {d.path for d in disks}
        self._baseline &= present
        self._seen &= present | self._session_writing
        lines = self.query_one(CardLines)
        for d in disks:
            if d.path in self._baseline or d.path in self._seen:
                continue
            self._seen.add(d.path)
            if not d.offered:
                lines.add(d.path, d.name, "inserted, not offered: " + "; ".join(d.reasons))
                lines.finish(d.path, None, "inserted, not offered: " + "; ".join(d.reasons))
            elif d.large:
                lines.add(d.path, d.name, "")
                lines.finish(d.path, False, f"a large drive ({d.size_text}): not written in a session; end it "
                             "and pick it in the table (it asks twice)")
            else:
                lines.add(d.path, d.name, "inserted: press W to write it")
                self._asking.append(d)
        self._ask_next()

    def _ask_next(self) -> None:
        if not self._session_on or not self._asking or isinstance(self.app.screen, InsertedCardScreen):
            return
        disk = self._asking.pop(0)
        if disk.path not in {d.path for d in self.query_one(DiskTable)._disks}:
            self._ask_next()                # pulled before it was asked for
            return
        # The card's number is taken when it is confirmed: a card left untouched does not use one up.
        try:
            opts = self.per_card.options(1, self._taken())
        except CardOptionError as e:
            opts = e

        def answered(ok: bool | None) -> None:
            lines = self.query_one(CardLines)
            if ok and self._session_on and isinstance(opts, CardOptionError):
                lines.finish(disk.path, False, f"{opts}: not written")
                self._ask_next()
                return
            refused = self._authenticate([disk]) if ok and self._session_on else ""
            if refused:
                lines.finish(disk.path, False, f"{refused}: not written")
            elif ok and self._session_on:
                if not self._session_writing:
                    self._cancel.clear()        # a Stop (Ctrl+X) earlier stopped the cards then, not this one
                if opts[0] is not None:
                    self._session_names.add(opts[0].hostname)
                    self._options_changed()
                self._session_writing.add(disk.path)
                lines.add(disk.path, self._card_name(disk.name, opts[0]), "waiting")
                self._session_write(disk, self._session_image, opts[0])
            else:
                lines.finish(disk.path, None, "left untouched (not confirmed)")
            self._ask_next()

        becomes = "" if isinstance(opts, CardOptionError) else self._becomes(opts[0])
        self.app.push_screen(InsertedCardScreen(disk, Path(self._session_image).name, becomes=becomes), answered)

    def _job(self, disk, card_options=None):
        from wizard.card.fanout import CardJob

        return CardJob(target=disk.path, name=disk.name, identity=disk.identity(), route=elevate.route(disk.path),
                       options=WriteOptions(allow_non_removable=self.allow_non_removable,
                                            overwrite_file=disk.identity() is None),
                       card_options=card_options, model=getattr(disk, "model", ""),
                       serial=getattr(disk, "serial", ""), size_bytes=getattr(disk, "size_bytes", 0))

    @work(thread=True, group="flash-session")
    def _session_write(self, disk, image: str, card_options=None) -> None:
        lines = self.query_one(CardLines)
        call = self.app.call_from_thread
        job = self._job(disk, card_options)
        out = None
        try:
            out = self._insert.write(job, progress_for=lambda i: (lambda p: call(lines.show, disk.path, p)),
                                     cancel=self._cancel.is_set)
            text = self._card_result(out)
            ok = out.ok
        except WizardError as e:
            ok, text = False, f"FAILED: {e}"
        call(self._session_card_done, disk.path, ok, text, out)

    def _session_card_done(self, path: str, ok: bool, text: str, out=None) -> None:
        self._session_writing.discard(path)
        if ok:
            self._session_ok += 1
        else:
            self._session_failed += 1
        if out is not None:
            text += self._session_report_add(out)
        self.query_one(CardLines).finish(path, ok, text)
        self._session_end_if_idle()

    def _session_report_add(self, out) -> str:
        """The session's report gets this card and is saved again (atomically): the file always holds every
        card written so far, even if the wizard is closed mid-session. Returns "" or why it was not saved."""
        from wizard.card.fanout import record
        from wizard.card.report import SessionReport

        if self._session_report is None:
            self._session_report = SessionReport(image=str(self._session_image))
            self._session_report_path = self._report_file()
        self._session_report.add(record(out))
        self._session_report.finish()
        try:
            self._session_report.write_json(self._session_report_path)
        except OSError as e:
            return f" (the report could not be saved to {self._session_report_path}: {e.strerror})"
        return ""

    @staticmethod
    def _card_name(name: str, card_options) -> str:
        """A card's name on its line: the device, and the host name it gets when it gets one."""
        host = getattr(card_options, "hostname", None)
        return f"{name} → {host}" if host else name

    @staticmethod
    def _card_result(out) -> str:
        """A card's result line: the deciding words first (written and verified, safe to remove), then the
        details: bytes and time, and for a customised card what was read back."""
        import humanize

        if not out.ok:
            return f"FAILED: {out.error}"
        safe = make_safe_to_remove(out.job.target)
        safe = "powered off, safe to remove now" if "powered off" in safe else "safe to remove now"
        text = f"written and verified, {safe} ({humanize.naturalsize(out.result.written)} in {out.seconds:.0f} s"
        opts = out.job.card_options
        if out.customised is not None:
            text += f"; {out.customised.brief}"
        elif opts is not None and not opts.empty:
            text += "; its host name and key were NOT applied: write it again"
        return text + ")"

    # -- several cards at once ---------------------------------------------------------------------------
    def _authenticate(self, disks: list) -> str:
        """The password / polkit question once per way of opening, in the terminal, before any progress.
        Returns the refusal line, or ""."""
        asked: set = set()
        for d in disks:
            way = elevate.route(d.path)
            if way == "in-process" or way in asked:
                continue
            asked.add(way)

            def ask(d=d) -> None:
                print(f"\nWriting {len(disks)} card(s): {elevate.path_words(d.path)}. Your password may be asked "
                      "once.\n", flush=True)
                elevate.authenticate(d.path)

            _, refused = in_terminal(self.app, ask)
            if refused:
                return str(refused)
        return ""

    def _show_card_lines(self, keys: list, names: dict) -> None:
        """Each card's own line instead of the one progress bar; the step is laid out for them (-cards)."""
        self.query_one(CardLines).start(keys, names)
        self.add_class("-cards")

    def _begin_many(self, disks: list, image: str, opts: list | None = None) -> None:
        opts = opts or [None] * len(disks)
        refused = self._authenticate(disks)
        if refused:
            self.notify(f"{refused}. Nothing was written.", severity="error", timeout=10)
            return
        self._cancel.clear()
        names = ", ".join(d.name for d in disks)
        self.busy = f"writing {names}"
        self.query_one("#flash-stop", Button).disabled = False
        self._result(None, "")
        self.query_one(WorkProgress).add_class("-hidden")      # each card has its own line instead
        self._show_card_lines([d.path for d in disks], {d.path: self._card_name(d.name, o)
                                                        for d, o in zip(disks, opts)})
        what = f"{len(disks)} cards at once ({names})" if len(disks) > 1 else names
        self.query_one("#flash-hint", Static).update(
            f"Writing {what}: do not remove {'them' if len(disks) > 1 else 'it'}. Ctrl+X stops.")
        self.query_one(DiskTable).clear_marks()
        self._write_many(disks, image, opts)

    @work(thread=True, exclusive=True, group="flash-write")
    def _write_many(self, disks: list, image: str, opts: list) -> None:
        from wizard.card.fanout import record, write_cards_for
        from wizard.card.report import SessionReport

        lines = self.query_one(CardLines)
        call = self.app.call_from_thread
        jobs = [self._job(d, o) for d, o in zip(disks, opts)]

        def progress_for(i: int):
            return lambda p: call(lines.show, jobs[i].target, p)

        def done(i: int, out) -> None:
            call(lines.finish, out.job.target, out.ok, self._card_result(out))

        t0 = time.monotonic()
        report = SessionReport(image=str(image))
        try:
            kw = {"partition_name": self._partition()} if any(o is not None for o in opts) else {}
            # The engine records the step, with every card (as `flash --target A --target B` does).
            outcomes, shared = write_cards_for(self.session, check_image(image), jobs, progress_for=progress_for,
                                               cancel=self._cancel.is_set, on_done=done, **kw)
        except WizardError as e:
            call(self._finished_many, [], f"{e}", 0.0, 0, "")
            return
        for out in outcomes:
            report.add(record(out))
        report.finish()
        try:
            saved = f"Report: {report.write_json(self._report_file())}"
        except OSError as e:
            saved = f"The report could not be saved in {self.session.project} ({e.strerror})."
        read = shared.bytes_read if all(j.route != "helper" for j in jobs) else None
        call(self._finished_many, outcomes, "", time.monotonic() - t0, read, saved)

    def _result(self, ok: bool | None, text: str) -> None:
        """The step's result panel (it stays); the step's note goes, so the result is not said twice."""
        res = self.query_one("#flash-result", Static)
        res.set_class(ok is True, "ok")
        res.set_class(ok is False, "failed")
        res.update(text)
        res.display = bool(text)
        if text:
            self.query_one("#step-note").display = False

    def _finished_many(self, outcomes: list, error: str, seconds: float, bytes_read, saved: str) -> None:
        self.busy = ""
        self.query_one("#flash-stop", Button).disabled = True
        ok = bool(outcomes) and all(o.ok for o in outcomes)
        if error:
            text = f"Failed: {error}"
        else:
            good = sum(1 for o in outcomes if o.ok)
            n = len(outcomes)
            text = (f"{good} of {n} cards written and verified in {seconds:.0f} s" if n > 1 else
                    f"{outcomes[0].job.name} written and verified in {seconds:.0f} s" if good else
                    f"{outcomes[0].job.name} failed: its line above says why")
            if bytes_read is not None and n > 1:
                text += ", image read once"
            failed = [o.job.name for o in outcomes if not o.ok]
            text += "." if not failed or n == 1 else f"; failed: {', '.join(failed)}."
            if self._cancel.is_set():
                text += " Stopped at your request: write the unfinished cards again."
            text += f" {saved}" if saved else ""
        self._result(ok, text)
        self.query_one(CardLines).failed_first()
        self.query_one("#flash-hint", Static).update(MANY_HINT if outcomes else "")
        self.refresh_nav()

    # -- the write -----------------------------------------------------------------------------------
    def _begin(self, disk, image: str) -> None:
        way = elevate.path_words(disk.path)
        if elevate.needs_helper(disk.path):
            def ask() -> None:
                print(f"\nWriting {disk.name}: {way}. Your password may be asked once.\n", flush=True)
                elevate.authenticate(disk.path)

            _, refused = in_terminal(self.app, ask)
            if refused:
                self.notify(f"{refused}. {disk.name} was not written.", severity="error", timeout=10)
                return
        self._cancel.clear()
        self.busy = f"writing {disk.name}"
        self.query_one("#flash-stop", Button).disabled = False
        self._result(None, "")
        self.query_one(CardLines).remove_class("-shown")
        self.remove_class("-cards")
        self.query_one(WorkProgress).remove_class("-hidden")
        self.query_one("#flash-hint", Static).update(f"Writing {disk.name} ({way}): do not remove the card.")
        self._write(disk, image)

    @work(thread=True, exclusive=True, group="flash-write")
    def _write(self, disk, image: str) -> None:
        progress = self.query_one(WorkProgress)
        try:
            opts = WriteOptions(allow_non_removable=self.allow_non_removable, overwrite_file=disk.identity() is None)
            result = write_for(self.session, image, disk.path, identity=disk.identity(), options=opts,
                               progress=lambda p: self.app.call_from_thread(progress.show, p),
                               cancel=self._cancel.is_set)
        except WizardError as e:
            self.app.call_from_thread(self._finished, False, str(e))
            return
        safe = make_safe_to_remove(disk.path)
        self.app.call_from_thread(self._finished, True, f"{result.summary()}.\n{safe}")

    def _finished(self, ok: bool, text: str) -> None:
        self.busy = ""
        self.query_one("#flash-stop", Button).disabled = True
        self._result(ok, ("Done: " if ok else "Failed: ") + text)
        self.query_one("#flash-hint", Static).update(WRITTEN_HINT if ok else "")
        self.refresh_nav()

    def pick_file(self, path: str) -> None:
        """A regular file as the target: confirmed once if it already holds something. Per-card options
        apply to it as to a card (a VM's disk image gets its host name and key too)."""
        if not path.strip():
            self.notify("Type the path of the file to write.", severity="warning")
            return
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        image = self._image()
        try:
            check_image(image)
            target = FileTarget.at(path)
            opts = self.per_card.options(1, self._taken())
        except CardOptionError as e:
            self._refuse(str(e))
            return
        except WizardError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        if target.exists:
            self.app.push_screen(
                ConfirmScreen(f"{target.path} exists ({target.size_bytes} bytes). Overwrite it with the image?",
                              yes="Overwrite"), lambda ok: ok and self._begin_one(target, image, opts))
        else:
            self._begin_one(target, image, opts)

    @on(Button.Pressed, "#flash-to-file")
    def _to_file_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.pick_file(self.query_one("#flash-file", Input).value)

    @on(Button.Pressed, "#flash-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()

    def watch_busy(self, old: str, new: str) -> None:
        super().watch_busy(old, new)
        # The Stop button is the action only while something runs; idle, its row goes to the table.
        if self.query("#flash-actions"):
            self.query_one("#flash-actions").display = bool(new)

    def action_stop(self) -> None:
        if self.busy:
            self._cancel.set()
            self.notify("Stopping at the next block: the card will be left partly written.", severity="warning")
