"""Step 9: the SD-card image. Finds the build's newest tegraflash package, asks how dosdcard.sh learns the
board (a Jetson Nano in recovery mode, detected live, with the pin diagram; or the carrier-board revision,
said plainly to be an unverified mapping), then unpacks, runs dosdcard.sh and makes the .sdcard sparse.

It also holds the boot-firmware route (a Nano with newer QSPI firmware never starts from this release's card):
the mismatch explained, and doflash.sh run with the board in recovery mode, using the same board detection,
progress and log as the image.
"""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, RadioSet, Static

from wizard.card import elevate, firmware
from wizard.card.sdimage import UNVERIFIED_FAB, find_package, make_image_for
from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.progress import Cancelled

from .base import StepScreen
from .choice import Choice
from .flash_progress import WorkProgress
from .log_view import LogView
from .terminal import in_terminal


class ImageScreen(StepScreen):
    STEP_ID = "image"
    NOT_DONE = "Not made yet: choose the board above, then Make the SD-card image (ctrl+r)."
    CSS_PATH = str(asset("styles", "image.tcss"))
    BINDINGS = [Binding("ctrl+r", "start", "Make image"), Binding("ctrl+x", "stop", "Stop")]

    def __init__(self, session) -> None:
        super().__init__(session)
        self._cancel = threading.Event()
        self._boards: list = []
        self._monitor = None

    def compose_body(self) -> ComposeResult:
        prof = self.session.profile
        # What to choose scrolls; the action, its progress and its result stay in view below it.
        # Not a Tab stop (the paging keys scroll it): Tab goes straight to the choices.
        with VerticalScroll(id="image-choices") as choices:
            choices.can_focus = False
            yield Static("", id="image-package")
            yield Static("How dosdcard.sh learns which board the image is for:", classes="image-title")
            saved = self.session.answers.fab
            buttons = [Choice("A Jetson Nano plugged in over USB in recovery mode (reads the board; needs root)",
                              id="src-recovery", value=False)]
            boardid = prof.sdcard.get("boardid", "3448")
            for f in prof.fabs:
                mark = "" if f.verified else "  [unverified mapping]"
                buttons.append(Choice(f"{f.title}: BOARDID {boardid}, FAB {f.fab}{mark}", id=f"fab-{f.id}",
                                      value=(f.id == saved)))
            yield RadioSet(*buttons, id="image-source")
            yield Static(UNVERIFIED_FAB, id="image-unverified")
            # Set here, not in on_mount: reached through another step, this screen mounts before its rows do.
            # The short notice here; the two sentences in the confirmation before anything is written.
            applies = firmware.applies(prof, self.session.answers.machine)
            fw_note = Static(firmware.short_notice(prof, self.session.answers.machine), id="image-firmware-note")
            fw_note.display = applies
            yield fw_note
            yield Static("", id="image-board")
            diagram = Static(asset("diagrams", "jetson-nano-recovery.txt").read_text(encoding="utf-8"),
                             id="image-diagram")
            diagram.display = False         # shown while a board is wanted in recovery mode
            yield diagram
        with Horizontal(id="image-actions"):
            yield Button("Make the SD-card image", id="image-start", variant="primary", compact=True)
            yield Button("Stop", id="image-stop", variant="warning", disabled=True, compact=True)
            fw_button = Button("Rewrite boot firmware", id="image-firmware", compact=True)
            fw_button.display = applies
            yield fw_button
        yield WorkProgress(id="image-progress")
        yield Static("", id="image-result")
        yield LogView(id="image-log")

    def on_mount(self) -> None:
        super().on_mount()
        # Reached through another step (Boot & check's "Rewrite boot firmware"), the rows inside the scroll
        # may mount after this screen does: then they are filled once they are there.
        try:
            self._show_package()
        except NoMatches:
            self.call_after_refresh(self._show_package)
        data = self.session.step_state(self.STEP_ID).data
        if data.get("path"):
            self.query_one("#image-result", Static).update(f"Made earlier: {data['path']}")
        try:
            from wizard.card.usb_recovery import RecoveryMonitor

            self._monitor = RecoveryMonitor(self.session.profile, self._boards_changed)
            self._monitor.start()
        except Exception as e:  # noqa: BLE001 - no udev here: the revision choice still works
            self.query_one("#image-board", Static).update(f"Cannot watch USB here ({e}).")

    def on_unmount(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()

    def _show_package(self) -> None:
        a = self.session.answers
        w = self.query_one("#image-package", Static)
        try:
            pkg = find_package(self.session.profile, self.session.project, a.machine, a.image)
            w.update(f"Package: {pkg.name}")
        except WizardError as e:
            w.update(f"[b]No package yet:[/b] {e}")

    # -- the board ----------------------------------------------------------------------------------
    def _boards_changed(self, boards: list) -> None:
        try:
            self.app.call_from_thread(self._show_boards, boards)
        except RuntimeError:
            pass

    def _show_boards(self, boards: list) -> None:
        self._boards = boards
        text = ("Detected: " + "; ".join(b.describe() for b in boards)) if boards else \
            "No Jetson in recovery mode on USB (the list updates by itself)."
        self.query_one("#image-board", Static).update(text)

    def _choice(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.id if pressed is not None and pressed.id else ""

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        choice = self._choice()
        self.query_one("#image-diagram").display = choice == "src-recovery"
        if choice.startswith("fab-"):
            try:
                self.session.update_answers(fab=choice[len("fab-"):])
            except WizardError as e:
                self.notify(str(e), severity="error")

    # -- the work ------------------------------------------------------------------------------------
    @on(Button.Pressed, "#image-start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#image-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()

    @on(Button.Pressed, "#image-firmware")
    def _firmware_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.ask_firmware()

    def action_start(self) -> None:
        if self.busy:
            return
        choice = self._choice()
        if not choice:
            self.notify("Choose how dosdcard.sh learns the board first.", severity="warning")
            return
        fab, runner = "", None
        if choice == "src-recovery":
            if not self._boards:
                self.notify("No Jetson in recovery mode is plugged in: see the diagram.", severity="warning")
                return
            if not elevate.is_root():
                def ask() -> None:
                    print("\ndosdcard.sh reads the board over USB, which needs root: sudo asks once.\n", flush=True)
                    elevate.authenticate()

                _, refused = in_terminal(self.app, ask)
                if refused:
                    self.notify(f"{refused}. No image was made.", severity="error", timeout=10)
                    return
            runner = elevate.dosdcard_runner()
        else:
            fab = choice[len("fab-"):]
        self._cancel.clear()
        self.busy = "making the SD-card image"
        self.query_one("#image-start", Button).disabled = True
        self.query_one("#image-stop", Button).disabled = False
        self.query_one(LogView).reset()
        self._make(fab, runner)

    # -- the boot firmware (QSPI) -------------------------------------------------------------------------
    def ask_firmware(self) -> None:
        if self.busy:
            return
        if not self._boards:
            self.query_one("#image-diagram").display = True
            self.notify("Put the Jetson Nano in recovery mode and plug it in over USB first (see the diagram).",
                        severity="warning")
            return
        from .confirm import ConfirmScreen

        question = (f"{firmware.explanation(self.session.profile)}\n\nRewrite the boot firmware of "
                    f"{self._boards[0].describe()} now? The SD card in the board is written too.")
        self.app.push_screen(ConfirmScreen(question, yes="Rewrite firmware", no="Cancel"),
                             lambda yes: self.start_firmware() if yes else None)

    def start_firmware(self) -> None:
        if self.busy:
            return
        if not elevate.is_root():
            def ask() -> None:
                print("\ndoflash.sh talks to the board over USB, which needs root: sudo asks once.\n", flush=True)
                elevate.authenticate()

            _, refused = in_terminal(self.app, ask)
            if refused:
                self.notify(f"{refused}. Nothing was written.", severity="error", timeout=10)
                return
        self._cancel.clear()
        self.busy = "rewriting the boot firmware"
        for bid, disabled in (("#image-start", True), ("#image-firmware", True), ("#image-stop", False)):
            self.query_one(bid, Button).disabled = disabled
        self.query_one(LogView).reset()
        self._firmware(elevate.doflash_runner())

    @work(thread=True, exclusive=True, group="image")
    def _firmware(self, runner) -> None:
        a = self.session.answers
        log = self.query_one(LogView)
        prog = self.query_one(WorkProgress)
        try:
            res = firmware.rewrite_qspi(self.session.profile, self.session.project, a.machine, a.image,
                                        on_line=log.feed.push_line,
                                        progress=lambda p: self.app.call_from_thread(prog.show, p),
                                        cancel=self._cancel.is_set, runner=runner)
        except (WizardError, Cancelled) as e:
            self.app.call_from_thread(self._finished, False, f"boot firmware: {e}")
            return
        text = res.describe() + "".join(f"\nNote: {n}" for n in res.notes)
        self.app.call_from_thread(self._finished, True, text, "Done: ")

    def action_stop(self) -> None:
        if self.busy:
            self._cancel.set()

    @work(thread=True, exclusive=True, group="image")
    def _make(self, fab: str, runner) -> None:
        log = self.query_one(LogView)
        prog = self.query_one(WorkProgress)
        try:
            res = make_image_for(self.session, fab=fab, recovery_board=not fab, on_line=log.feed.push_line,
                                 progress=lambda p: self.app.call_from_thread(prog.show, p),
                                 cancel=self._cancel.is_set, runner=runner)
        except (WizardError, Cancelled) as e:
            self.app.call_from_thread(self._finished, False, str(e))
            return
        text = f"{res.path}\n{res.describe()}" + "".join(f"\nNote: {n}" for n in res.notes)
        self.app.call_from_thread(self._finished, True, text)

    def _finished(self, ok: bool, text: str, done: str = "Made: ") -> None:
        self.busy = ""
        self.query_one("#image-start", Button).disabled = False
        self.query_one("#image-stop", Button).disabled = True
        self.query_one("#image-firmware", Button).disabled = False
        res = self.query_one("#image-result", Static)
        res.set_class(ok, "ok")
        res.set_class(not ok, "failed")
        res.update((done if ok else "Failed: ") + text)
        self.query_one("#step-body").scroll_to_widget(res, animate=False)
        self.refresh_nav()
