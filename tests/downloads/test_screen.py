"""The Verify downloads screen under pilot, on real generated files and a profile pointing at the test manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.core.paths import profiles_dir
from wizard.core.profile import load_profile
from wizard.core.session import Session
from wizard.core.steps import Status

from .conftest import fill, write_manifest


@pytest.fixture
def session(tmp_path) -> Session:
    """A profile identical to the shipped one except that its manifest is the test manifest."""
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    text = (profiles_dir() / "wrlinux-lts19-jetpack-4.3.toml").read_text()
    assert 'manifest = "jetpack-4.3-sdkm.manifest.toml"' in text
    (pdir / "test.toml").write_text(text.replace('manifest = "jetpack-4.3-sdkm.manifest.toml"',
                                                 'manifest = "test.manifest.toml"'))
    write_manifest(pdir / "test.manifest.toml")
    project = tmp_path / "project"
    project.mkdir()
    s = Session(load_profile(str(pdir / "test.toml")), project)
    s.update_answers(downloads_dir=str(fill(tmp_path / "sdkm")))
    return s


async def settle(app, pilot):
    for _ in range(3):
        await app.screen.workers.wait_for_complete()
        await pilot.pause()


def cell(screen, key: str, col: str) -> str:
    return str(screen.query_one("#dl-table").get_cell(key, col))


async def test_verify_stage_packages_and_continue_anyway(session, tmp_path):
    from screens.app import WizardApp
    from screens.confirm import ConfirmScreen

    app = WizardApp(session, start_at="downloads")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        # TensorRT saved at the top (as SDK Manager does) is staged into NoDLA/ by the step itself, as plain mode
        # does: the first result is already done, never a ✖ that asks for a button.
        assert session.status("downloads") is Status.DONE, session.step_state("downloads").detail
        assert "ok" in cell(screen, "NoDLA/libnvinfer.deb", "status")
        assert "ok" in cell(screen, "libcudnn.deb", "status")
        assert Path(session.answers.downloads_dir, "NoDLA", "libnvinfer.deb").is_file()
        assert not screen.query("#dl-stage")
        assert not screen.query_one("#nav-next").disabled
        assert "100%" in str(screen.query_one("#dl-progress").render()) or \
            "of" in str(screen.query_one("#dl-progress").render())

        # unticking cuDNN also unticks TensorRT (it needs cuDNN); the answers follow
        await pilot.click("#dl-pkg-cudnn")
        await settle(app, pilot)
        assert "cudnn" not in session.answers.packages and "tensorrt" not in session.answers.packages
        assert not screen.query_one("#dl-pkg-tensorrt").value
        assert screen.query_one("#dl-table").row_count == 5   # mmapi, cuda, host cuda, 2 x visionworks

        # a folder that does not exist: one clear line, step failed
        screen.query_one("#dl-folder").value = str(tmp_path / "nowhere")
        await pilot.click("#dl-verify")
        await settle(app, pilot)
        assert session.status("downloads") is Status.FAILED
        assert session.answers.downloads_dir == str(tmp_path / "nowhere")
        assert "does not exist" in str(screen.query_one("#dl-overall").render())
        # nothing runs, so no rows "waiting" and no bar
        assert not screen.query_one("#dl-table").display and not screen.query_one("#dl-progress-box").display

        # continue anyway asks first, warning that the build will fail
        await pilot.click("#nav-anyway")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "will fail" in app.screen.question
        await pilot.click("#confirm-yes")
        await pilot.pause()
        assert session.status("downloads") is Status.SKIPPED
        assert app.current_step == "board"
