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


async def test_summary_detail_wraps_at_80_columns(root):  # noqa: F811
    """The Detail column wraps in the width left at 80 columns: nothing runs off the right edge."""
    from wizard.core.steps import Status

    s = _session(root, "summary")
    detail = ("bitbake failed in nvidia-container-toolkit do_compile: implicit declaration of function "
              "'strlcpy'; see the cause lines on the Build step")
    s.mark("build", Status.FAILED, detail)
    app = WizardApp(s, start_at="summary")
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        table = app.screen.query_one("#summary-steps")
        assert table.virtual_size.width <= table.size.width, (table.virtual_size, table.size)
        drawn = " ".join(table.render_line(y).text.strip() for y in range(table.virtual_size.height))
        for word in ("strlcpy';", "cause", "Build", "step"):
            assert word in drawn, (word, drawn)
