"""The per-card options dialog: a host-name pattern with a live preview of the names the picked cards get (in
the order they were picked), an SSH public key file, and - only once a key is given - turning off
password-less root login over SSH. A bad pattern or key file is said in one line under its box (the engine's
own words) and "Use these" stays disabled; Escape leaves the options as they were."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from wizard.card.customise import CardOptionError, load_public_key

from .flash_options import SSHD_WORDS, PerCard, key_suggestion
from .tick import Tick


class CardOptionsScreen(ModalScreen):
    """Dismissed with the new PerCard, or None (cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    CardOptionsScreen { align: center middle; }
    #opt-box { width: 84; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
               background: $surface; padding: 0 1; }
    #opt-title { text-style: bold; }
    .opt-label { color: $accent; margin-top: 1; }
    #opt-preview, #opt-key-status { height: auto; }
    .opt-error { color: $text-error; text-style: bold; }
    #opt-key-row { height: auto; }
    #opt-key { width: 1fr; }
    #opt-key-row Button { width: auto; margin-left: 1; }
    #opt-no-empty { margin-top: 1; }
    #opt-no-empty-what { color: $text-muted; padding-left: 4; }
    #opt-buttons { height: auto; margin-top: 1; }
    #opt-buttons Button { margin-right: 2; }
    """

    def __init__(self, choice: PerCard, devices: list, *, count: int = 0, taken: frozenset = frozenset(),
                 session: bool = False) -> None:
        super().__init__()
        # taken: host names of boards written earlier in the project, which the numbers skip.
        self.choice, self.devices, self.taken, self.session = choice, list(devices), frozenset(taken), session
        # How many names the pattern must give distinct: the picked cards, or two for a session (every
        # inserted card its own name), or one when nothing is picked yet.
        self.count = 2 if session else max(1, count or len(self.devices))
        self.suggested = key_suggestion()

    def compose(self) -> ComposeResult:
        with Vertical(id="opt-box"):
            yield Static("Per-card options: each card its own board", id="opt-title")
            yield Static("Host name pattern ({n} is the card's number, e.g. jetson-{n:02}):", classes="opt-label",
                         markup=False)
            yield Input(self.choice.pattern, placeholder="e.g. jetson-{n:02}", id="opt-pattern", compact=True)
            yield Static("", id="opt-preview", markup=False)
            yield Static("SSH public key file, added to root's authorized_keys (empty: none):", classes="opt-label")
            with Horizontal(id="opt-key-row"):
                yield Input(self.choice.key_file, placeholder="e.g. ~/.ssh/id_ed25519.pub", id="opt-key",
                            compact=True)
                if self.suggested:
                    yield Button(f"Use {self.suggested}", id="opt-suggest", compact=True)
            yield Static("", id="opt-key-status", markup=False)
            yield Tick("Turn off password-less root login over SSH", self.choice.no_empty_password_ssh,
                       id="opt-no-empty", compact=True)
            yield Static(f"Sets {SSHD_WORDS} on the card: an empty password no longer lets root in over "
                         "SSH, the key does. The console login is left as it is.", id="opt-no-empty-what",
                         markup=False)
            with Horizontal(id="opt-buttons"):
                yield Button("Use these", id="opt-ok", variant="primary", compact=True)
                yield Button("No per-card options", id="opt-clear", compact=True)
                yield Button("Cancel", id="opt-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#opt-pattern", Input).focus()
        self._check()

    # -- the live checks ----------------------------------------------------------------------------
    def _skipped(self, choice: PerCard) -> str:
        """Why the numbers do not start at 1: boards of this project already have those names."""
        if "{" not in choice.pattern or not self.taken:
            return ""
        mine = sorted(n for n in self.taken if n in set(choice.names(len(self.taken) + 1)))
        shown = ", ".join(mine[:4]) + (f" and {len(mine) - 4} more" if len(mine) > 4 else "")
        return f" (already boards in this project: {shown})" if mine else ""

    def _current(self) -> PerCard:
        return PerCard(pattern=self.query_one("#opt-pattern", Input).value.strip(),
                       key_file=self.query_one("#opt-key", Input).value.strip(),
                       no_empty_password_ssh=self.query_one("#opt-no-empty", Checkbox).value)

    def _check(self) -> bool:
        """Update the preview and the key line; True when what is typed can be used."""
        choice = self._current()
        ok = True
        preview = self.query_one("#opt-preview", Static)
        try:
            if not choice.pattern:
                preview.update("Every card keeps the image's host name.")
            elif self.devices:
                names = choice.names(max(self.count, len(self.devices)), self.taken)
                preview.update("Names: " + ", ".join(f"{d} → {n}" for d, n in zip(self.devices, names))
                               + self._skipped(choice))
            else:
                names = choice.names(max(self.count, 3) if "{" in choice.pattern else 1, self.taken)
                first = "Next inserted cards: " if self.session else "Cards, in the order you pick them: "
                preview.update(first + ", ".join(names) + ("…" if len(names) > 1 else "") + self._skipped(choice))
            preview.remove_class("opt-error")
        except CardOptionError as e:
            preview.update(str(e))
            preview.add_class("opt-error")
            ok = False
        status = self.query_one("#opt-key-status", Static)
        box = self.query_one("#opt-no-empty", Checkbox)
        if not choice.key_file:
            status.update("No key: root logs in as the image allows.")
            status.remove_class("opt-error")
            box.display = False
            self.query_one("#opt-no-empty-what").display = False
        else:
            try:
                keys = load_public_key(choice.key_path()).splitlines()
                kinds = sorted({k.split()[0] for k in keys})
                status.update(f"{len(keys)} public key(s) ({', '.join(kinds)}) from {choice.key_path()}")
                status.remove_class("opt-error")
                box.display = True
                self.query_one("#opt-no-empty-what").display = True
            except CardOptionError as e:
                status.update(str(e))
                status.add_class("opt-error")
                box.display = False
                self.query_one("#opt-no-empty-what").display = False
                ok = False
        self.query_one("#opt-ok", Button).disabled = not ok
        return ok

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._check():
            self._use()

    # -- the answers -------------------------------------------------------------------------------
    def _use(self) -> None:
        choice = self._current()
        if not choice.key_file:
            choice = PerCard(choice.pattern, "", False)     # the switch is offered only with a key
        self.dismiss(choice)

    @on(Button.Pressed, "#opt-ok")
    def _ok(self, event: Button.Pressed) -> None:
        event.stop()
        if self._check():
            self._use()

    @on(Button.Pressed, "#opt-suggest")
    def _suggest(self, event: Button.Pressed) -> None:
        event.stop()
        key = self.query_one("#opt-key", Input)
        key.value = self.suggested
        key.focus()

    @on(Button.Pressed, "#opt-clear")
    def _clear(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(PerCard())

    @on(Button.Pressed, "#opt-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
