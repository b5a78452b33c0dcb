"""Where the board may be: neighbours with NVIDIA MACs, the mDNS name, USB serial consoles."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

KIND_LABEL = {"neighbour": "LAN", "mdns": "mDNS", "serial": "UART"}


class CandidateList(OptionList):
    """Selecting an entry with an address fills the host field; a serial entry explains what to do."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.candidates: list = []

    def show(self, candidates: list) -> None:
        self.candidates = list(candidates)
        self.clear_options()
        self.add_options([Option(_prompt(c), id=f"cand-{i}") for i, c in enumerate(self.candidates)])

    def add(self, candidate) -> None:
        if any(c.title == candidate.title for c in self.candidates):
            return
        self.candidates.append(candidate)
        i = len(self.candidates) - 1
        self.add_option(Option(_prompt(candidate), id=f"cand-{i}"))

    def candidate(self, option_id: str):
        try:
            return self.candidates[int(option_id.rsplit("-", 1)[1])]
        except (ValueError, IndexError):
            return None


def _prompt(c) -> Text:
    # Text, not a str: "[LAN]" and addresses like [fe80::1] must not be read as markup.
    text = Text(f"{KIND_LABEL.get(c.kind, c.kind):>4} ", style="bold cyan")
    text.append(c.title)
    return text
