"""Where the board may be: neighbours with NVIDIA MACs, the mDNS name, USB serial consoles."""

from __future__ import annotations

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
        self.add_options([Option(f"[{KIND_LABEL.get(c.kind, c.kind)}] {c.title}", id=f"cand-{i}")
                          for i, c in enumerate(self.candidates)])

    def add(self, candidate) -> None:
        if any(c.title == candidate.title for c in self.candidates):
            return
        self.candidates.append(candidate)
        i = len(self.candidates) - 1
        self.add_option(Option(f"[{KIND_LABEL.get(candidate.kind, candidate.kind)}] {candidate.title}",
                               id=f"cand-{i}"))

    def candidate(self, option_id: str):
        try:
            return self.candidates[int(option_id.rsplit("-", 1)[1])]
        except (ValueError, IndexError):
            return None
