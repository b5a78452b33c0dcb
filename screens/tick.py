"""A checkbox whose mark is there only when it is ticked: ticked and unticked differ by a glyph, not only by
a colour (a terminal without colours, a colour-blind reader, a screen reader all see the difference)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class Tick(Checkbox):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✔" if self.value else " "
        return super()._button
