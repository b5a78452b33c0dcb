"""A selection list whose box shows ✔ only on ticked rows: ticked and unticked differ by a glyph, not only by a
colour (Textual's SelectionList draws one class-wide mark and hides it on unticked rows by colouring it like
the background, so a terminal without colours or a colour-blind reader sees every row ticked)."""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets.option_list import OptionDoesNotExist

TICKED = "✔"
UNTICKED = " "


class TickList(SelectionList):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        segments = list(strip)
        if len(segments) < 2:
            return strip
        # SelectionList draws [left side, mark, right side, " ", prompt...]: only the mark changes.
        mark = segments[1]
        glyph = TICKED if selection.value in self._selected else UNTICKED
        segments[1] = Segment(glyph * len(mark.text), mark.style, mark.control)
        return Strip(segments, strip.cell_length)
