"""Pilot tests: the SD-image screen on a real (small) tegraflash package, and the Flash screen writing a real
loop device through the typed confirmation."""

from __future__ import annotations

import pytest
from flashkit import MiB, fill, make_image
from wrnvtest import wait_until

from screens.app import WizardApp
from screens.flash import FlashScreen
from screens.flash_confirm import TypedConfirmScreen
from wizard.core.steps import Status

SIZE = (130, 50)


async def _wait_for(pilot, cond, timeout=30.0):
    await wait_until(pilot, cond, timeout)


@pytest.fixture
def writable_loops(monkeypatch):
    monkeypatch.setattr(FlashScreen, "ALLOW_NON_REMOVABLE", True)


async def test_flash_screen_writes_after_the_typed_confirmation(session, tmp_path, loops, writable_loops):
    img = make_image(tmp_path / "x.sdcard", 32 * MiB, [(MiB, 3 * MiB)])
    card = fill(tmp_path / "card", 64 * MiB)
    dev = loops.attach(card)
    name = dev.rsplit("/", 1)[-1]
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await _wait_for(pilot, lambda: dev in table._rows)
        assert table.show_cursor is False                     # nothing pre-selected
        assert session.status("flash") is Status.PENDING
        table.focus()
        await pilot.pause()
        table.move_cursor(row=table.get_row_index(dev))
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        modal = app.screen
        assert modal.focused.id == "typed-input"            # what the user types lands in the name box
        assert any(dev in line for line in modal.identity_lines)
        await pilot.press(*name, "x", "enter")                # a wrong name: Enter does nothing
        await pilot.pause()
        assert modal.query_one("#typed-ok").disabled and app.screen is modal
        await pilot.press("backspace")
        await pilot.pause()
        assert not modal.query_one("#typed-ok").disabled
        await pilot.press("enter")
        await _wait_for(pilot, lambda: session.status("flash") in (Status.DONE, Status.FAILED) and not screen.busy)
        assert session.status("flash") is Status.DONE, session.step_state("flash").detail
        assert "safe to remove" in str(screen.query_one("#flash-result").render())
        assert "The card is written" in str(screen.query_one("#flash-hint").render())
        screen._show_disks(list(table._disks))              # a udev event after the write (partition re-read)
        assert "The card is written" in str(screen.query_one("#flash-hint").render())
    with open(dev, "rb") as f:
        assert f.read(32 * MiB) == img.read_bytes()


async def test_flash_screen_cancel_writes_nothing(session, tmp_path, loops, writable_loops):
    img = make_image(tmp_path / "x.sdcard", 16 * MiB, [(MiB, MiB)])
    dev = loops.attach(fill(tmp_path / "card", 32 * MiB))
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#flash-disks")
        await _wait_for(pilot, lambda: dev in table._rows)
        table.focus()
        table.move_cursor(row=table.get_row_index(dev))
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        await pilot.press("enter")                             # nothing typed: Enter writes nothing
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press("escape")                            # Escape cancels
        await _wait_for(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen))
        assert session.status("flash") is Status.PENDING
    with open(dev, "rb") as f:
        assert f.read(MiB) == b"\xa5" * MiB


async def test_image_screen_makes_the_image_with_a_board_revision(session, root):
    from wizard.card.sdimage import deploy_dir
    from wizard.demo.fake_tegraflash import make_tegraflash_zip

    a = session.answers
    make_tegraflash_zip(deploy_dir(session.profile, session.project, a.machine)
                        / f"{a.image}-{a.machine}-20260101000000.tegraflash.zip", a.machine, a.image)
    app = WizardApp(session, start_at="image")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert "tegraflash.zip" in str(screen.query_one("#image-package").render())
        assert "unverified" in str(screen.query_one("#image-unverified").render())
        await pilot.click("#image-start")                      # nothing chosen yet: refused
        await pilot.pause()
        assert session.status("image") is Status.PENDING
        screen.query_one("#fab-b01").value = True
        await pilot.pause()
        assert session.answers.fab == "b01"
        await pilot.press("ctrl+r")
        await _wait_for(pilot, lambda: session.status("image") in (Status.DONE, Status.FAILED) and not screen.busy)
        assert session.status("image") is Status.DONE, session.step_state("image").detail
        assert session.step_state("image").data["path"].endswith(".sdcard")
        assert "of it data" in str(screen.query_one("#image-result").render())


async def test_the_demo_offers_only_its_own_virtual_card(session, tmp_path, loops):
    """--allow-non-removable lets loop devices through; the demo must still never offer another loop device
    of this host (someone's VM disk), only the card it made."""
    img = make_image(tmp_path / "x.sdcard", 16 * MiB, [(MiB, MiB)])
    mine = loops.attach(fill(tmp_path / "card", 32 * MiB))
    other = loops.attach(fill(tmp_path / "someone-elses", 32 * MiB))
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash", allow_non_removable=True, only_target=mine,
                    only_reason="not the demo's virtual card")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#flash-disks")
        await _wait_for(pilot, lambda: mine in table._rows)
        by_path = {d.path: d for d in table._disks}
        assert by_path[mine].offered and [d.path for d in table.offered] == [mine]
        assert not by_path[other].offered and "not the demo's virtual card" in "; ".join(by_path[other].reasons)
        assert other not in table._rows                       # refused: shown only with "show all"
