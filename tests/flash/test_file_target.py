"""The Flash screen writing a regular file (a VM's disk image): no disk picker, one overwrite question."""

from __future__ import annotations

from flashkit import MiB, make_image
from wrnvtest import wait_until

from screens.app import WizardApp
from screens.confirm import ConfirmScreen
from wizard.core.steps import Status

SIZE = (130, 50)


async def _wait_for(pilot, cond, timeout=30.0):
    await wait_until(pilot, cond, timeout)


async def test_write_to_a_new_file_then_overwrite_only_after_asking(session, tmp_path):
    img = make_image(tmp_path / "x.sdcard", 16 * MiB, [(MiB, 2 * MiB)])
    target = tmp_path / "vm-disk.img"
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#flash-file").value = str(target)
        await pilot.pause()
        screen.query_one("#flash-to-file").press()
        await _wait_for(pilot, lambda: session.status("flash") is Status.DONE)
        assert target.read_bytes() == img.read_bytes()
        assert session.step_state("flash").data["target"] == str(target)

        # Again: the file now holds an image, so the screen asks first; Cancel leaves it alone.
        target.write_bytes(b"precious" * 1000)
        await pilot.pause()
        screen.query_one("#flash-to-file").press()
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert str(target) in app.screen.question
        app.screen.dismiss(False)
        await pilot.pause(0.3)
        assert target.read_bytes() == b"precious" * 1000
