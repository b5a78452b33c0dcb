"""A radio button whose label wraps instead of being cut: a source or an image is told apart by the words at
the end of its title ("subscribers", "deprecated alias"), which a narrow terminal would otherwise drop."""

from __future__ import annotations

from textual.widgets import RadioButton


class Choice(RadioButton):
    DEFAULT_CSS = """
    Choice {
        text-wrap: wrap;
        height: auto;
    }
    """

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, self.render().get_height(self.styles, width))
