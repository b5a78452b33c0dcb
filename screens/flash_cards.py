"""One line per card while several are written: its progress (phase, bytes, rate, time left), then its result,
which stays until the next write starts. Filled from the fan-out's per-card callbacks (on the UI thread)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static


class CardLines(VerticalScroll):
    DEFAULT_CSS = """
    CardLines { height: auto; max-height: 8; display: none; }
    CardLines.-shown { display: block; }
    CardLines .card-line { height: auto; }
    CardLines .card-line.ok { color: $success; }
    CardLines .card-line.failed { color: $error; }
    """

    def compose(self) -> ComposeResult:
        return iter(())

    def start(self, keys: list, names: dict) -> None:
        """Lines for `keys` (device paths); `names[key]` is what the user reads. Earlier lines go."""
        self.remove_children()
        self._names = dict(names)
        self.mount_all([Static(f"{names[k]}: waiting", classes="card-line", id=self._line_id(k), markup=False)
                        for k in keys])
        self.add_class("-shown")

    def add(self, key: str, name: str, text: str) -> None:
        """One more line (a card of the "every card I insert" session), or the same card's line again."""
        self._names = {**getattr(self, "_names", {}), key: name}
        self.add_class("-shown")
        found = self.query(f"#{self._line_id(key)}")
        if found:                       # the same card again (written after its key): its line, in place
            line = found.first()
            line.remove_class("ok", "failed")
            line.update(f"{name}: {text}")
            return
        line = Static(f"{name}: {text}", classes="card-line", id=self._line_id(key), markup=False)
        self.mount(line)
        self.scroll_end(animate=False)

    def show(self, key: str, p) -> None:
        self._line(key, p.compact())

    def finish(self, key: str, ok: bool | None, text: str) -> None:
        """ok: written (green), failed (red), or None: nothing happened to the card (a plain line)."""
        line = self._line(key, text)
        if line is not None:
            line.set_class(ok is True, "ok")
            line.set_class(ok is False, "failed")

    def failed_first(self) -> None:
        """After the write: the failed cards' lines on top. With more cards than rows (80x24 holds about
        five lines) the cards to write again, and why, are what must stay in view; the rest scroll."""
        failed = list(self.query(".card-line.failed"))
        for line in reversed(failed):
            self.move_child(line, before=0)
        self.scroll_home(animate=False)

    def text(self, key: str) -> str:
        found = self.query(f"#{self._line_id(key)}")
        return str(found.first().render()) if found else ""

    def _line(self, key: str, text: str):
        found = self.query(f"#{self._line_id(key)}")
        if not found:
            return None
        line = found.first()
        line.update(f"{self._names.get(key, key)}: {text}")
        return line

    @staticmethod
    def _line_id(key: str) -> str:
        return "card-" + "".join(c if c.isalnum() else "-" for c in key)
