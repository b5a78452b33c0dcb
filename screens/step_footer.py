"""The key bar at the bottom of every step.

Textual's Footer rebuilds all of its keys whenever the focus moves (every Tab), because the keys *might* have
changed: it mounts a dozen new widgets, styles them and lays the whole screen out again. On a busy step (the
Build step streaming thousands of log lines a second) that rebuild was most of a key press's delay. This footer
rebuilds only when the keys it shows really change."""

from __future__ import annotations

from textual.widgets import Footer


def shown_keys(screen) -> tuple:
    """What the footer draws for `screen`: each shown binding's key, action, words, state and tooltip."""
    app = screen.app
    return tuple((b.key, b.action, b.description, enabled, tooltip, app.get_key_display(b))
                 for _node, b, enabled, tooltip in screen.active_bindings.values() if b.show)


class StepFooter(Footer):
    _drawn_keys: tuple | None = None

    def bindings_changed(self, screen) -> None:
        keys = shown_keys(screen)
        if self._bindings_ready and keys == self._drawn_keys:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn_keys = keys
        super().bindings_changed(screen)
