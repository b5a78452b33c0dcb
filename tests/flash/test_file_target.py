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


# -- the same rules from the command line and in the engine ------------------------------------------------

def test_cli_overwrites_an_existing_file_only_when_confirmed(tmp_path):
    from flashkit import assert_clean_failure, run_cli

    img = make_image(tmp_path / "x.sdcard", 8 * MiB, [(MiB, MiB)])
    vm = tmp_path / "vm.raw"
    vm.write_bytes(b"precious" * 1000)
    refused = run_cli("flash", img, "--target", vm)
    assert_clean_failure(refused, "confirm", "--yes")
    assert vm.read_bytes() == b"precious" * 1000
    done = run_cli("flash", img, "--target", vm, "--yes")
    assert done.returncode == 0, done.stderr
    assert vm.read_bytes() == img.read_bytes() and "written by the wizard itself" in done.stderr + done.stdout
    new = tmp_path / "new.raw"
    made = run_cli("flash", img, "--target", new)          # a new file needs no confirmation
    assert made.returncode == 0, made.stderr
    assert new.read_bytes() == img.read_bytes()


def test_cli_never_creates_a_file_under_dev(tmp_path):
    from flashkit import assert_clean_failure, run_cli

    img = make_image(tmp_path / "x.sdcard", 8 * MiB, [(MiB, MiB)])
    (tmp_path / "devlink").symlink_to("/dev")
    for spelling in ("//dev/wrnv-nothing-here", str(tmp_path / "devlink" / "wrnv-nothing-here")):
        proc = run_cli("flash", img, "--target", spelling, "--yes")
        assert_clean_failure(proc, "does not exist", "nothing is ever created under /dev")
    assert not __import__("os").path.exists("/dev/wrnv-nothing-here")


def test_verify_command_on_a_file_catches_a_byte_in_an_empty_range_only_with_full(tmp_path):
    import json

    from flashkit import assert_clean_failure, run_cli

    img = make_image(tmp_path / "x.sdcard", 8 * MiB + 512, [(MiB, MiB)])
    vm = tmp_path / "vm.raw"
    assert run_cli("flash", img, "--target", vm).returncode == 0
    ok = run_cli("verify", img, "--target", vm, "--full", "--json")
    assert ok.returncode == 0, ok.stderr
    res = json.loads(ok.stdout)
    assert res["ok"] and res["verified"] > 0 and res["verified"] + res["zeros_checked"] == img.stat().st_size
    with open(vm, "r+b") as f:
        f.seek(5 * MiB + 7)
        f.write(b"\x01")
    sampled = run_cli("verify", img, "--target", vm)        # 64 sampled blocks: this one is not among them
    assert sampled.returncode == 0, sampled.stderr
    full = run_cli("verify", img, "--target", vm, "--full")
    assert_clean_failure(full, "verify failed", f"at byte {5 * MiB + 7}")


def test_cli_says_the_boot_firmware_notice_before_writing_for_a_nano_project(session, tmp_path):
    from flashkit import run_cli

    from wizard.card import firmware

    img = make_image(tmp_path / "x.sdcard", 8 * MiB, [(MiB, MiB)])
    assert firmware.applies(session.profile, session.answers.machine)      # the default board is a Nano
    target = tmp_path / "vm.raw"
    done = run_cli("flash", img, "--target", target, "--project", session.project)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Before you write the card:" in out and "wrnv-wizard firmware" in out
    assert target.read_bytes() == img.read_bytes()
    bare = run_cli("flash", img, "--target", tmp_path / "other.raw")       # no project: no board to speak of
    assert bare.returncode == 0 and "Before you write the card:" not in bare.stdout
