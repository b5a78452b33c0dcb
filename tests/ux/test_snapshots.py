"""Every step (the Build step's are in tests/build) at 80x24 and 120x40, in the states that decide it, as
SVG snapshots (pytest-textual-snapshot). Reviewed by looking at them (see the notes in the README's Tests
section): nothing that decides a step may be clipped.

Paths shown on screen come from a fixed folder (so the pictures do not change from run to run), and the two
checks that read this host (prerequisites, host check) are given fixed results: the pictures are of the
screens, not of the machine the tests run on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from screens.app import WizardApp
from wizard.core.session import Session
from wizard.core.steps import STEPS, Status
from wizard.downloads.prereqs import Item
from wizard.host.doctor import FAIL, PASS, WARN, Check

ROOT = Path("/tmp/wrnv-ux-snapshots")
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}

HOST_CHECKS = [
    Check("bash", PASS, "/usr/bin/bash"),
    Check("python2", FAIL, "python2 not found on PATH (Wind River LTS 19's setup.sh requires python2)",
          "sudo apt-get install -y python2"),
    Check("python3", PASS, "/usr/bin/python3 3.11.2"),
    Check("required host tools", FAIL, "3 of 101 missing: chrpath diffstat gawk",
          "sudo apt-get install -y chrpath diffstat gawk"),
    Check("free disk", WARN, "83.2 GB free; 150.0 GB recommended", "free space or choose another project folder"),
    Check("locale", PASS, "en_US.UTF-8 is available"),
    Check("git identity", PASS, "user.name and user.email are set"),
    Check("not root", PASS, "running as uid 1000"),
]
PREREQ_ITEMS = [
    Item("account", "NVIDIA developer account", None, "Needed to download JetPack with SDK Manager.",
         "Create or sign in at https://developer.nvidia.com/embedded/downloads"),
    Item("sdkmanager", "SDK Manager installed", False, "not found (looked for /opt/nvidia/sdkmanager/sdkmanager)",
         "Install it from https://developer.nvidia.com/embedded/downloads"),
    Item("jetpack", "JetPack 4.3 downloaded", True, "28 of 28 files found"),
]


@pytest.fixture
def root():
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    yield ROOT
    shutil.rmtree(ROOT, ignore_errors=True)


def _session(root: Path, step: str, **answers) -> Session:
    s = Session.open(root / "project")
    s.update_answers(downloads_dir=str(root / "sdkm_downloads"), project_dir=str(root / "project"), **answers)
    for spec in STEPS:
        if spec.id == step:
            break
        s.mark(spec.id, Status.DONE)
    return s


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.screen.workers.wait_for_complete()
        await pilot.pause()


def _shot(snap_compare, session, step, size, before=None):
    app = WizardApp(session, start_at=step)

    async def run_before(pilot):
        await _settle(pilot)
        if before is not None:
            await before(pilot)
            await _settle(pilot)

    return snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


def test_welcome(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "welcome"), "welcome", size)


def test_welcome_scrolled_to_the_end_by_keyboard(snap_compare, root):
    async def end(pilot):
        await pilot.press("end")

    assert _shot(snap_compare, _session(root, "welcome"), "welcome", "80x24", end)


def test_prereqs_not_done(snap_compare, root, size, monkeypatch):
    monkeypatch.setattr("screens.prereqs.prereqs.detect", lambda *a, **k: list(PREREQ_ITEMS))
    assert _shot(snap_compare, _session(root, "prereqs"), "prereqs", size)


def test_host_failed_with_blocking_checks(snap_compare, root, size, monkeypatch):
    monkeypatch.setattr("wizard.host.doctor.run_checks", lambda ctx: list(HOST_CHECKS))
    assert _shot(snap_compare, _session(root, "host"), "host", size)


def test_downloads_folder_missing(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "downloads"), "downloads", size)


def test_board_before(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "board"), "board", size)


def test_project_before_public_source(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "project", source="base"), "project", size)


def test_project_before_subscriber_source_explains_the_login(snap_compare, root):
    assert _shot(snap_compare, _session(root, "project", source="lts"), "project", "80x24")


def test_localconf_before(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "localconf"), "localconf", size)


def test_image_before(snap_compare, root, size):
    assert _shot(snap_compare, _session(root, "image"), "image", size)


def test_summary_done(snap_compare, root, size):
    s = _session(root, "summary")
    s.mark("flash", Status.DONE, "card written", target="/dev/sdx", image=str(root / "img.sdcard"),
           image_size=16 << 30, written=4 << 30, skipped=12 << 30, verified=4 << 30, spot_checked=32,
           discard_zeroes=False, partitions_reread=False, seconds=95.2, verify_seconds=41.0)
    for spec in STEPS[:-1]:   # the summary itself is marked when it is shown
        st = s.step_state(spec.id)
        st.started, st.finished = 1000.0, 1000.0 + 60
    s.save()
    assert _shot(snap_compare, s, "summary", size)


def test_summary_long_detail_wraps(snap_compare, root):
    """A failed step's long detail wraps in the Detail column at 80 columns (it used to run off the edge)."""
    s = _session(root, "summary")
    s.mark("build", Status.FAILED, "bitbake failed in nvidia-container-toolkit do_compile: implicit declaration "
                                   "of function 'strlcpy'; see the cause lines on the Build step")
    for spec in STEPS[:-1]:
        st = s.step_state(spec.id)
        st.started, st.finished = 1000.0, 1000.0 + 60
    s.save()
    assert _shot(snap_compare, s, "summary", "80x24")


async def test_a_message_stays_in_the_step_after_its_toast(root):
    """Results stay: what a step says in a toast is also kept under the step until the next message."""
    app = WizardApp(_session(root, "image"), start_at="image")
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        app.screen.notify("No Jetson in recovery mode is plugged in: see the diagram.", severity="warning",
                          timeout=0.1)
        for _ in range(100):                      # the toast goes after its 0.1 s (a busy machine: up to 10 s)
            await pilot.pause(0.1)
            if not app.screen.query("Toast"):
                break
        assert not app.screen.query("Toast")
        note = app.screen.query_one("#step-note")   # the note is still there
        assert note.display and "recovery mode" in str(note.render()) and note.has_class("-warning")
