"""First contact with a board: its host key fingerprints, and the question whether to trust them.

"Don't trust" is focused: trusting is a decision, not a key press made by habit.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class HostKeyScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Don't trust")]

    def __init__(self, name: str, fingerprints: list, known_hosts: str) -> None:
        super().__init__()
        self.host_name, self.fingerprints, self.known_hosts = name, list(fingerprints), known_hosts

    def compose(self) -> ComposeResult:
        with Vertical(id="hostkey-box"):
            # Text, not markup: "[192.168.1.5]:2222" is a host name here, not a style.
            yield Static(Text(f"First contact with {self.host_name}"), id="hostkey-title")
            yield Static("The board offered these host keys:", classes="hostkey-text")
            yield Static(Text("\n".join(self.fingerprints) or "(no key)"), id="hostkey-fingerprints")
            yield Static(Text("To be sure it is your board, compare one with the board's console (debug UART):\n"
                              "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
                              f"Trusted keys are kept in {self.known_hosts}."), classes="hostkey-text")
            with Horizontal(id="hostkey-buttons"):
                yield Button("Don't trust", id="hostkey-no", variant="primary")
                yield Button("Trust this board", id="hostkey-yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#hostkey-no", Button).focus()

    @on(Button.Pressed, "#hostkey-yes")
    def _trust(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)

    @on(Button.Pressed, "#hostkey-no")
    def _distrust(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
