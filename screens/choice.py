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

    @property
    def _button(self):
        # The dot only on the chosen one: not only its colour tells it apart.
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, self.render().get_height(self.styles, width))
