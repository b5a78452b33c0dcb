"""The one-key question of the "write every card I insert" session: a card was just plugged in; W erases and
writes it, any other key (or Escape) leaves it alone. The card was offered by the same checks as in the table;
its identity is shown so the user can tell it is the card just inserted."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class InsertedCardScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    InsertedCardScreen { align: center middle; }
    #inserted-box { width: 84; max-width: 100%; height: auto; max-height: 100%; border: thick $error;
                    background: $surface; padding: 0 1; }
    #inserted-title { text-style: bold; color: $error; margin-bottom: 1; }
    #inserted-key { margin-top: 1; text-style: bold; }
    #inserted-becomes { text-style: bold; }
    """

    def __init__(self, disk, image_name: str, becomes: str = "") -> None:
        super().__init__()
        self.disk, self.image_name = disk, image_name
        self.becomes = becomes          # its host name (and key), "" when the session has no per-card options

    def compose(self) -> ComposeResult:
        with Vertical(id="inserted-box"):
            yield Static(f"Card inserted: erase {self.disk.name} and write {self.image_name}?", id="inserted-title",
                         markup=False)
            if self.becomes:
                yield Static(f"It becomes: {self.becomes}", id="inserted-becomes", markup=False)
            yield Static("\n".join(self.disk.identity_lines()), id="inserted-identity", markup=False)
            yield Static("Press W to erase and write it; any other key leaves it untouched.", id="inserted-key")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(event.key in ("w", "W"))
