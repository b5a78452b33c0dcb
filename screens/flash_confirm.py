"""The confirmation before a card is erased: its identity, and its name typed by hand. The focus starts in the
name box, so what the user types lands there; Enter with the right name writes, Escape cancels, and the erase
button stays disabled until the typed name matches."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class TypedConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    TypedConfirmScreen { align: center middle; }
    #typed-box { width: 84; max-width: 100%; height: auto; max-height: 100%; border: thick $error; background: $surface; padding: 1 2; }
    #typed-title { text-style: bold; color: $error; margin-bottom: 1; }
    #typed-identity { margin-bottom: 1; }
    #typed-becomes { text-style: bold; margin-bottom: 1; }
    #typed-buttons { height: auto; margin-top: 1; }
    #typed-buttons Button { margin-right: 2; }
    """

    def __init__(self, name: str, identity_lines: list, image_name: str, becomes: str = "") -> None:
        super().__init__()
        self.device_name, self.identity_lines, self.image_name = name, identity_lines, image_name
        self.becomes = becomes          # what the card becomes (its host name, key), "" without options

    def compose(self) -> ComposeResult:
        with Vertical(id="typed-box"):
            yield Static(f"Erase {self.device_name} and write {self.image_name}?", id="typed-title")
            if self.becomes:
                yield Static(f"It becomes: {self.becomes}", id="typed-becomes", markup=False)
            yield Static("\n".join(self.identity_lines), id="typed-identity", markup=False)
            yield Static(f"Everything on it is lost. Type [b]{self.device_name}[/b] to confirm:")
            yield Input(placeholder="type the device name here", id="typed-input")
            with Horizontal(id="typed-buttons"):
                yield Button("Cancel", id="typed-cancel", variant="primary")
                yield Button(f"Erase {self.device_name} and write", id="typed-ok", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#typed-input", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#typed-ok", Button).disabled = event.value.strip() != self.device_name

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.device_name:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "typed-ok" and
                     self.query_one("#typed-input", Input).value.strip() == self.device_name)

    def action_cancel(self) -> None:
        self.dismiss(False)
