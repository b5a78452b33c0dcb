"""The cards written in this project, one row each: its host name, where its board was found (or why not, and
the fix), and its last check. Selecting a row checks that board (or, when it was not found, asks for its
address)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from wizard.board.cards import NOT_FOUND_FIX


class CardList(OptionList):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.boards: list = []          # wizard.board.cards.CardBoard, in the order the cards were written
        self.lookups: dict = {}         # host name -> Lookup (absent: still looking)
        self.checked: dict = {}         # host name -> the recorded check ({"ok", "detail", "address", ...})

    def show(self, boards: list, checked: dict) -> None:
        self.boards, self.lookups, self.checked = list(boards), {}, dict(checked)
        self.clear_options()
        self.add_options([Option(self._prompt(b), id=f"card-{i}") for i, b in enumerate(self.boards)])

    def looking(self) -> None:
        """A new round of lookups: every row says so until its answer comes."""
        self.lookups = {}
        self._redraw()

    def found(self, lookup) -> None:
        self.lookups[lookup.board.hostname] = lookup
        self._redraw(lookup.board.hostname)

    def set_checked(self, checked: dict) -> None:
        self.checked = dict(checked)
        self._redraw()

    def board(self, option_id: str):
        try:
            return self.boards[int(option_id.rsplit("-", 1)[1])]
        except (ValueError, IndexError):
            return None

    def lookup(self, hostname: str):
        return self.lookups.get(hostname)

    def _redraw(self, only: str = "") -> None:
        for i, b in enumerate(self.boards):
            if not only or b.hostname == only:
                self.replace_option_prompt(f"card-{i}", self._prompt(b))

    def _prompt(self, b) -> Text:
        # Text, not markup: host names and [fe80::1] are not styles.
        text = Text(b.hostname, style="bold")
        r = self.lookups.get(b.hostname)
        if r is None:
            text.append(f"  looking up {b.name} …", style="dim")
        elif r.found:
            text.append("  found at ", style="green")
            text.append(r.address, style="bold green")
        else:
            text.append("  not found", style="bold red")
            text.append(f" ({b.name}: {r.why})\n  → {NOT_FOUND_FIX}", style="yellow")
        done = self.checked.get(b.hostname)
        if done:
            if done.get("ok"):
                text.append("\n  ✔ checked", style="green")
                text.append(f" at {done.get('address', '?')}: every check passed")
            else:
                why = str(done.get("detail") or "").split(": ", 1)[-1]
                text.append("\n  ✖ checked", style="bold red")
                text.append(f" at {done.get('address', '?')}: {why}")
        elif r is not None and r.found:
            text.append("  (Enter checks it)", style="dim")
        return text
