"""Write the card at 80x24 (and 120x40 where the layout changes): the per-card options (the step's line, the
dialog with its live preview and its one-line errors), the typed confirmation naming each card's host name,
and the step after several cards were written (the table, each card's result and the next action in view)."""

from __future__ import annotations

from wrnvtest import wait_until

from screens.flash_confirm import TypedConfirmScreen
from screens.flash_confirm_many import ManyConfirmScreen
from screens.flash_options import PerCard
from screens.flash_options_dialog import CardOptionsScreen

from . import flashstate
from .test_snapshots import _session, _shot, root, size  # noqa: F401  (fixtures)


def _flash(root, monkeypatch):  # noqa: F811
    s = _session(root, "flash")
    img = flashstate.setup(monkeypatch, root, s)
    return s, img


async def _mark_three(pilot):
    """Mark the three cards in the table with the keyboard, in the order sdz, sdx, sdy."""
    screen = pilot.app.screen
    table = screen.query_one("#flash-disks")
    await flashstate.wait_rows(pilot, table, 3)
    table.focus()
    for path in ("/dev/wrnv-snap-sdz", "/dev/wrnv-snap-sdx", "/dev/wrnv-snap-sdy"):
        table.move_cursor(row=table.get_row_index(path))
        await pilot.press("space")
    await pilot.pause()
    return screen


def test_flash_before(snap_compare, root, size, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)
    assert _shot(snap_compare, s, "flash", size)


def test_flash_options_line_with_marked_cards(snap_compare, root, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)
    key = flashstate.key_file(root)

    async def marked(pilot):
        screen = await _mark_three(pilot)
        screen.per_card = PerCard("lab-{n:02}", str(key), True)
        screen._options_changed()

    assert _shot(snap_compare, s, "flash", "80x24", before=marked)


def test_flash_options_dialog(snap_compare, root, size, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)
    key = flashstate.key_file(root)

    async def dialog(pilot):
        await _mark_three(pilot)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CardOptionsScreen))
        await pilot.press(*"lab-{n:02}", "tab")
        pilot.app.screen.query_one("#opt-key").value = str(key)
        await pilot.pause()
        pilot.app.screen.query_one("#opt-no-empty").value = True

    assert _shot(snap_compare, s, "flash", size, before=dialog)


def test_flash_options_dialog_bad_pattern_and_key(snap_compare, root, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)
    private = root / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                       "-----END OPENSSH PRIVATE KEY-----\n")

    async def dialog(pilot):
        await _mark_three(pilot)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CardOptionsScreen))
        await pilot.press(*"lab-01", "tab")         # three cards, one name
        pilot.app.screen.query_one("#opt-key").value = str(private)
        await pilot.pause()

    assert _shot(snap_compare, s, "flash", "80x24", before=dialog)


def test_flash_confirm_names_each_cards_host_name(snap_compare, root, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)
    key = flashstate.key_file(root)

    async def confirm(pilot):
        screen = await _mark_three(pilot)
        screen.per_card = PerCard("lab-{n:02}", str(key), True)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ManyConfirmScreen))
        await pilot.press(*"3 sdz sdx sdy")

    assert _shot(snap_compare, s, "flash", "80x24", before=confirm)


def test_flash_confirm_one_card_names_its_host_name(snap_compare, root, monkeypatch):  # noqa: F811
    s, _img = _flash(root, monkeypatch)

    async def confirm(pilot):
        screen = pilot.app.screen
        table = screen.query_one("#flash-disks")
        await flashstate.wait_rows(pilot, table, 3)
        screen.per_card = PerCard("jetson-{n:02}")
        table.focus()
        table.move_cursor(row=table.get_row_index("/dev/wrnv-snap-sdy"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TypedConfirmScreen))

    assert _shot(snap_compare, s, "flash", "80x24", before=confirm)


def test_flash_several_cards_written(snap_compare, root, size, monkeypatch):  # noqa: F811
    """After a several-card write (one failed): the table, each card's result with its host name and what was
    read back, the totals, where the report is, and Next."""
    from wizard.card.fanout import record_step
    from wizard.card.writer import check_image

    s, img = _flash(root, monkeypatch)
    key = flashstate.key_file(root)

    async def written(pilot):
        screen = pilot.app.screen
        disks = flashstate.cards()
        screen.per_card = PerCard("lab-{n:02}", str(key), True)
        opts = screen.per_card.options(3)
        screen._begin_many(disks, str(img), opts)
        outs = [flashstate.outcome(disks[0], opts[0]),
                flashstate.outcome(disks[1], opts[1], error="sdy stopped answering while writing at 1.9 GB "
                                   "(I/O error): the card was pulled out or has failed. Write it again (or use "
                                   "another card)."),
                flashstate.outcome(disks[2], opts[2], seconds=131.0)]
        with s.step_run("flash", "writing 3 cards") as step:      # what the engine records for these
            record_step(step, check_image(img), outs, False)
        lines = screen.query_one("#flash-cards")
        for out in outs:
            lines.finish(out.job.target, out.ok, screen._card_result(out))
        screen._finished_many(outs, "", 131.4, 4 * flashstate.GB,
                              f"Report: {root}/project/flash-report-20261201-031500.json")

    assert _shot(snap_compare, s, "flash", size, before=written)


async def test_six_cards_the_failed_ones_and_the_totals_stay_in_view_at_80x24(root, monkeypatch):  # noqa: F811
    """Six cards, the second and the fifth failed: at 80x24 the lines do not all fit, so the failed cards'
    lines (what to write again, and why) come first and the totals line stays under them; the rest scroll."""
    from dataclasses import replace

    from wrnvtest import screen_lines, wait_until

    from screens.app import WizardApp
    from screens.flash_cards import CardLines
    from wizard.card.fanout import record_step
    from wizard.card.writer import check_image

    s, img = _flash(root, monkeypatch)
    base = flashstate.cards()
    disks = [replace(base[i % 3], name=f"sd{c}", path=f"/dev/wrnv-snap-sd{c}") for i, c in enumerate("stuvwx")]
    flashstate.FakeMonitor.disks = disks
    key = flashstate.key_file(root)
    app = WizardApp(s, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one("#flash-disks").row_count == 6)
        screen.per_card = PerCard("lab-{n:02}", str(key), True)
        opts = screen.per_card.options(6)
        screen._begin_many(disks, str(img), opts)
        error = "{} stopped answering while writing at 1.9 GB (I/O error): write it again (or use another card)."
        outs = [flashstate.outcome(d, o, error=error.format(d.name) if i in (1, 4) else None)
                for i, (d, o) in enumerate(zip(disks, opts))]
        with s.step_run("flash", "writing 6 cards") as step:
            record_step(step, check_image(img), outs, False)
        lines = screen.query_one(CardLines)
        for out in outs:
            lines.finish(out.job.target, out.ok, screen._card_result(out))
        screen._finished_many(outs, "", 131.4, 4 * flashstate.GB, f"Report: {root}/project/flash-report.json")
        await pilot.pause()
        await pilot.pause()
        shown = screen_lines(app)
        flat = " ".join(" ".join(shown).split())
        assert "sdt → lab-02: FAILED: sdt stopped answering" in flat, "\n".join(shown)
        assert "sdw → lab-05: FAILED: sdw stopped answering" in flat, "\n".join(shown)
        assert "4 of 6 cards written and verified in 131 s, image read once; failed: sdt, sdw." in flat
        assert "Report:" in flat
        # Every card still has its line (the written ones scroll), in the order of the failed first.
        order = [line.id for line in lines.query(".card-line")]
        assert order[:2] == ["card--dev-wrnv-snap-sdt", "card--dev-wrnv-snap-sdw"], order
        assert len(order) == 6
