"""Pilot tests: the Write-the-card step writing several loop devices at once (marked with space, confirmed once
by typing the count and the names), one of them failing mid-write on a tiny tmpfs while the others finish."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from flashkit import MiB, fill, make_image
from wrnvtest import wait_until

from screens.app import WizardApp
from screens.flash import FlashScreen
from screens.flash_confirm import TypedConfirmScreen
from screens.flash_confirm_many import ManyConfirmScreen, typed_matches
from wizard.core.steps import Status

SNAP = Path(os.environ.get("WRNV_SNAPSHOT_DIR", "")) if os.environ.get("WRNV_SNAPSHOT_DIR") else None


@pytest.fixture
def writable_loops(monkeypatch):
    monkeypatch.setattr(FlashScreen, "ALLOW_NON_REMOVABLE", True)


def test_typed_count_and_names():
    names = ["loop3", "loop4", "loop5"]
    assert typed_matches("3 loop5 loop3 loop4", names)
    assert typed_matches("  3  loop3 loop4 loop5 ", names)
    assert not typed_matches("loop3 loop4 loop5", names)          # the count is part of it
    assert not typed_matches("2 loop3 loop4 loop5", names)
    assert not typed_matches("3 loop3 loop4", names)
    assert not typed_matches("3 loop3 loop4 loop4", names)
    assert not typed_matches("3 loop3 loop4 loop5 loop6", names)
    assert not typed_matches("", names)


async def _mark(pilot, table, dev):
    table.move_cursor(row=table.get_row_index(dev))
    await pilot.press("space")
    await pilot.pause()


async def test_three_cards_at_once_one_failing(session, tmp_path, loops, writable_loops, monkeypatch):
    from screens.flash_cards import CardLines

    drawn: dict = {}                            # what each card's line showed while it was written
    real_show = CardLines.show

    def show(self, key, p):
        real_show(self, key, p)
        drawn.setdefault(key, []).append(self.text(key))

    monkeypatch.setattr(CardLines, "show", show)
    img = make_image(tmp_path / "x.sdcard", 30 * MiB, [(MiB, 24 * MiB)])
    good = [loops.attach(fill(tmp_path / f"card{i}", 64 * MiB)) for i in range(2)]
    small = tmp_path / "small"                  # 12 MiB of room for 25 MiB of data: fails mid-write
    loops.mount("tmpfs", small, "-t", "tmpfs", "-o", "size=12m")
    subprocess.run(["truncate", "-s", "64M", str(small / "card")], check=True)
    bad = loops.attach(small / "card")
    spare = loops.attach(fill(tmp_path / "spare", 64 * MiB))     # offered, never marked: must stay untouched
    order = [good[0], bad, good[1]]
    names = [d.rsplit("/", 1)[-1] for d in order]
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: all(d in table._rows for d in order + [spare]))
        assert table.marked == [] and table.show_cursor is False        # nothing pre-selected
        table.focus()
        await pilot.pause()
        for dev in order:
            await _mark(pilot, table, dev)
        await _mark(pilot, table, spare)            # space again un-marks
        await _mark(pilot, table, spare)
        assert table.marked == order
        assert "[x]" in str(table.get_row(good[0])[0]) and "[ ]" in str(table.get_row(spare)[0])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ManyConfirmScreen))
        modal = app.screen
        assert modal.focused.id == "many-input"
        shown = "\n".join(str(s.render()) for s in modal.query(".many-card"))
        assert all(d in shown for d in order) and spare not in shown
        await pilot.press(*" ".join(names), "enter")        # names without the count: refused
        await pilot.pause()
        assert app.screen is modal and modal.query_one("#many-ok").disabled
        modal.query_one("#many-input").value = ""
        await pilot.press(*f"3 {names[2]} {names[0]} {names[1]}")
        await pilot.pause()
        assert not modal.query_one("#many-ok").disabled
        if SNAP:
            app.save_screenshot(str(SNAP / "flash-many-confirm-80x24.svg"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ManyConfirmScreen))
        lines = screen.query_one("#flash-cards")
        await wait_until(pilot, lambda: not screen.busy, timeout=180)
        if SNAP:
            app.save_screenshot(str(SNAP / "flash-many-result-80x24.svg"))
        result = str(screen.query_one("#flash-result").render())
        assert "2 of 3 cards written and verified" in result and f"failed: {names[1]}" in result, result
        for d in good:
            assert "safe to remove" in lines.text(d), lines.text(d)
        assert "FAILED" in lines.text(bad) and "safe to remove" not in lines.text(bad)
        for d in order:                         # its own line: name, phase, bytes and rate
            assert any(t.startswith(d.rsplit("/", 1)[-1] + ": ") and "/s" in t
                       and re.search(r"[\d.]+(/[\d.]+)? [kMG]?B", t) for t in drawn.get(d, [])), (d, drawn.get(d))
        assert table.marked == []
    # The engine recorded the step with every card, as `flash --target A --target B` does.
    rec = session.step_state("flash")
    assert rec.status is Status.FAILED and f"failed: {names[1]}" in rec.detail, rec.detail
    assert sorted(c["device"] for c in rec.data["cards"]) == sorted(order)
    assert [c["device"] for c in rec.data["cards"] if c["error"]] == [bad]
    data = img.read_bytes()
    for d in good:
        with open(d, "rb") as f:
            assert f.read(len(data)) == data
    with open(spare, "rb") as f:
        assert f.read(MiB) == b"\xa5" * MiB


async def test_one_marked_card_is_the_single_card_confirmation(session, tmp_path, loops, writable_loops):
    img = make_image(tmp_path / "x.sdcard", 16 * MiB, [(MiB, MiB)])
    a = loops.attach(fill(tmp_path / "a", 32 * MiB))
    b = loops.attach(fill(tmp_path / "b", 32 * MiB))
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: a in table._rows and b in table._rows)
        table.focus()
        await _mark(pilot, table, b)
        table.move_cursor(row=table.get_row_index(a))      # Enter elsewhere: the marked card is the one asked
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        assert app.screen.device_name == b.rsplit("/", 1)[-1]
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen))
        assert session.status("flash") is Status.PENDING
    for d in (a, b):
        with open(d, "rb") as f:
            assert f.read(MiB) == b"\xa5" * MiB


async def _asked_for(pilot, app, path):
    """Wait for the one-key question about `path`. The machine is shared: another program's loop device
    appearing meanwhile is asked about too, and is answered "no" (left untouched)."""
    from screens.flash_insert import InsertedCardScreen

    def asked():
        screen = app.screen
        if isinstance(screen, InsertedCardScreen) and screen.disk.path != path:
            screen.dismiss(False)
            return False
        # Mounted, not only active: the callers read its text at once.
        return isinstance(screen, InsertedCardScreen) and bool(screen.query("#inserted-key"))

    await wait_until(pilot, asked)
    return app.screen


async def test_write_every_card_i_insert(session, tmp_path, loops, writable_loops):
    """The session: cards already in are left alone; each loop device attached afterwards (a real kernel
    uevent, and the monitor's sysfs poll) is shown and asks for one key; W writes and verifies it and says it
    is safe to remove, any other key leaves it untouched, a read-only card is not offered; unticking ends it."""
    from screens.flash_insert import InsertedCardScreen

    img = make_image(tmp_path / "x.sdcard", 16 * MiB, [(MiB, 6 * MiB)])
    before = loops.attach(fill(tmp_path / "before", 32 * MiB))
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: before in table._rows)
        screen.query_one("#flash-session").value = True
        await wait_until(pilot, lambda: screen.busy.startswith("writing every card"))
        lines = screen.query_one("#flash-cards")

        first = loops.attach(fill(tmp_path / "first", 32 * MiB))          # a card inserted
        assert (await _asked_for(pilot, app, first)).disk.path == first
        if SNAP:
            await pilot.pause(0.3)
            app.save_screenshot(str(SNAP / "flash-session-ask-80x24.svg"))
        await pilot.press("w")
        await wait_until(pilot, lambda: "safe to remove" in lines.text(first) or "FAILED" in lines.text(first),
                         timeout=120)
        assert "written and verified" in lines.text(first), lines.text(first)

        skipped = loops.attach(fill(tmp_path / "skipped", 32 * MiB))
        assert (await _asked_for(pilot, app, skipped)).disk.path == skipped
        await pilot.press("n")
        await wait_until(pilot, lambda: "untouched" in lines.text(skipped))
        assert not lines.query_one("#card--dev-" + skipped.rsplit("/", 1)[-1]).has_class("ok")

        ro = loops.attach(fill(tmp_path / "ro", 32 * MiB), readonly=True)
        await wait_until(pilot, lambda: "not offered" in lines.text(ro))
        assert not (isinstance(app.screen, InsertedCardScreen) and app.screen.disk.path == ro)
        if SNAP:
            app.save_screenshot(str(SNAP / "flash-session-80x24.svg"))

        screen.query_one("#flash-session").value = False
        await wait_until(pilot, lambda: not screen.busy)
        result = str(screen.query_one("#flash-result").render())
        assert "1 card(s) written and verified, 0 failed" in result, result
        assert "safe to remove" in lines.text(first)          # the results stay in the step
    rec = session.step_state("flash")                       # recorded by the engine: every card of the session
    assert rec.status is Status.DONE and [c["device"] for c in rec.data["cards"]] == [first], rec
    data = img.read_bytes()
    with open(first, "rb") as f:
        assert f.read(len(data)) == data
    for d in (before, skipped, ro):
        with open(d, "rb") as f:
            assert f.read(MiB) == b"\xa5" * MiB


@pytest.fixture
def slow_cards(root):
    """This test process in a block cgroup that throttles writes to the loop devices it names (the writer's
    threads run in the app, in this process); moved back to where it was afterwards."""
    import time

    from throttle import V1, Throttle

    try:
        t = Throttle(f"wrnv-screens-test-{time.monotonic_ns()}")
    except (RuntimeError, OSError) as e:
        pytest.skip(f"slow cards need a block cgroup: {e}")
    home = None                                     # this process's cgroup now, to go back to
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, ctl, path = line.split(":", 2)
        if (num == "0" and t.v2) or (not t.v2 and "blkio" in ctl.split(",")):
            home = (V1 if not t.v2 else t.path.parent) / path.lstrip("/")
    if home is None:
        t.remove()
        pytest.skip("cannot tell which block cgroup this process is in")
    t.preexec()                                     # this process (all its threads) joins the cgroup
    try:
        yield t
    finally:
        (home / "cgroup.procs").write_text(str(os.getpid()))
        t.remove()


async def test_stop_stops_every_card_mid_write(session, tmp_path, loops, writable_loops, slow_cards):
    img = make_image(tmp_path / "x.sdcard", 40 * MiB, [(MiB, 32 * MiB)])
    cards = [loops.attach(fill(tmp_path / f"card{i}", 64 * MiB)) for i in range(2)]
    for dev in cards:
        slow_cards.limit(dev, 2 * 10**6)            # 2 MB/s: 32 MiB take about 17 s
    names = [d.rsplit("/", 1)[-1] for d in cards]
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: all(d in table._rows for d in cards))
        table.focus()
        for dev in cards:
            await _mark(pilot, table, dev)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ManyConfirmScreen))
        await pilot.press(*f"2 {names[0]} {names[1]}", "enter")
        lines = screen.query_one("#flash-cards")
        # each card's own line, mid-write: bytes of the total, its rate and the time left
        await wait_until(pilot, lambda: all("left" in lines.text(d) and "MB/s" in lines.text(d) for d in cards),
                         timeout=60)
        assert screen.busy
        if SNAP:
            app.save_screenshot(str(SNAP / "flash-many-writing-80x24.svg"))
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: not screen.busy, timeout=60)
        result = str(screen.query_one("#flash-result").render())
        assert "0 of 2 cards written" in result and "Stopped at your request" in result, result
        for d in cards:
            assert "stopped at your request" in lines.text(d), lines.text(d)
            assert "safe to remove" not in lines.text(d)
