"""Ticked and unticked differ by a glyph, not only by a colour: read the characters the package list draws."""

from __future__ import annotations

from screens.app import WizardApp
from screens.tick_list import TICKED, TickList

from .test_snapshots import _session, _settle, root  # noqa: F401  (root is a fixture)


def _rows(lst: TickList) -> dict:
    """value -> the text of its row as drawn (mark included)."""
    rows = {}
    for y in range(lst.option_count):
        sel = lst.get_option_at_index(y)
        rows[sel.value] = lst.render_line(y).text
    return rows


async def test_package_marks_are_glyphs(root):  # noqa: F811
    s = _session(root, "board")
    s.update_answers(packages=["cudnn", "tensorrt"])
    app = WizardApp(s, start_at="board")
    async with app.run_test(size=(120, 60)) as pilot:
        await _settle(pilot)
        lst = app.screen.query_one("#board-packages", TickList)
        assert lst.option_count >= 3
        rows = _rows(lst)
        for value, text in rows.items():
            mark = text[:3]               # "▐✔▌" or "▐ ▌"
            assert (TICKED in mark) == (value in ("cudnn", "tensorrt")), (value, text)
        # Ticking a row by the keyboard draws the mark; unticking takes it away.
        other = next(v for v in rows if v not in ("cudnn", "tensorrt"))
        lst.select(other)
        await pilot.pause()
        assert TICKED in _rows(lst)[other][:3]
        lst.deselect("tensorrt")
        await pilot.pause()
        assert TICKED not in _rows(lst)["tensorrt"][:3]
