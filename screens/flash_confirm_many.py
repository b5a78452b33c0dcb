"""The one confirmation before several cards are erased: every card's identity, then the count and every name
typed by hand in one box (any order, e.g. `3 sdb sdc sdd`). The erase button stays disabled until what is typed
names exactly these cards; Escape cancels and nothing is written."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


def typed_matches(typed: str, names: list) -> bool:
    """`typed` is the count followed by every name, each once, in any order."""
    words = typed.split()
    return bool(words) and words[0] == str(len(names)) and sorted(words[1:]) == sorted(names)


def card_line(d, becomes: str = "") -> str:
    """One line per card, so that a desk of cards fits at 80x24: what tells the cards apart, and the host name
    it will get next to its device name (so the card can be labelled before it is written)."""
    parts = [d.path, d.size_text, d.title or "no model", d.bus, f"serial {d.serial}" if d.serial else "no serial"]
    parts += [f"{len(d.partitions)} partition(s)" if d.partitions else "no partitions"]
    head = f"{d.name} → {becomes}" if becomes else d.name
    return f"{head}: " + ", ".join(p for p in parts if p)


class ManyConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ManyConfirmScreen { align: center middle; }
    #many-box { width: 84; max-width: 100%; height: auto; max-height: 100%; border: thick $error;
                background: $surface; padding: 0 1; }
    #many-title { text-style: bold; color: $error; }
    #many-identity { height: auto; max-height: 10; margin: 1 0; }
    #many-also { margin-bottom: 1; text-style: bold; }
    .many-card { height: auto; }
    #many-buttons { height: auto; }
    #many-buttons Button { margin-right: 2; }
    """

    def __init__(self, disks: list, image_name: str, becomes: list | None = None, also: str = "") -> None:
        super().__init__()
        self.disks, self.image_name = list(disks), image_name
        # Each card's host name, in the same order as `disks` (None: it keeps the image's), and what every
        # card gets besides (the key), "" for nothing.
        self.becomes = list(becomes or [None] * len(self.disks))
        self.also = also
        self.names = [d.name for d in self.disks]

    @property
    def expected(self) -> str:
        return f"{len(self.names)} {' '.join(self.names)}"

    def compose(self) -> ComposeResult:
        n = len(self.disks)
        with Vertical(id="many-box"):
            yield Static(f"Erase these {n} cards and write {self.image_name} to each?", id="many-title")
            with VerticalScroll(id="many-identity"):
                for d, name in zip(self.disks, self.becomes):
                    yield Static(card_line(d, name or ""), classes="many-card", markup=False)
            if self.also:
                yield Static(f"Each card also gets: {self.also}", id="many-also", markup=False)
            yield Static(f"Everything on them is lost. Type the count and every name ([b]{self.expected}[/b]):")
            yield Input(placeholder=f"e.g. {self.expected}", id="many-input")
            with Horizontal(id="many-buttons"):
                yield Button("Cancel", id="many-cancel", variant="primary", compact=True)
                yield Button(f"Erase {n} cards and write", id="many-ok", variant="error", disabled=True,
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#many-input", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#many-ok", Button).disabled = not typed_matches(event.value, self.names)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if typed_matches(event.value, self.names):
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "many-ok" and
                     typed_matches(self.query_one("#many-input", Input).value, self.names))

    def action_cancel(self) -> None:
        self.dismiss(False)
