"""Verify downloads at 80x24 and 120x40: the first check starting, a re-check running, done, failed.

What must be readable at 80 columns: each file's name (shortened in the middle, its end kept), its status, and
for the highlighted file the whole name, the problem and the fix; while a check runs the step says so and what
it does (it said "Fix what is shown above" during a re-check). The states are drawn through the screen's own
drawing methods with the engine's own result types (the calls its worker makes), on the shipped manifest's real
file names; the hashing itself is tested in tests/downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.core.steps import Status
from wizard.downloads.verify import FileResult, Report

from .test_running import GB, FixedClockProgress
from .test_snapshots import _session, _settle, _shot, root  # noqa: F401  (root is a fixture)

SIZES = ("80x24", "120x40")


def _results(needed, *, bad: bool) -> list:
    """Every file ok; with `bad`, one damaged download, two missing, and a recommended file missing."""
    out = []
    for i, n in enumerate(needed):
        r = FileResult(n, "ok", "sha256 matches", size=100_000_000)
        if bad and i == 1:
            r.status, r.detail = "checksum-mismatch", "sha256 differs (1.2 GB): incomplete or damaged download"
            r.hint = "delete it and download it again"
        elif bad and i in (3, 4):
            r.status, r.detail, r.hint = "missing", "not found", "download it with SDK Manager"
        elif bad and not n.required:
            r.status, r.detail, r.hint = "missing", "not found", "download it with SDK Manager"
        out.append(r)
    return out


def _draw_check(screen, *, bad: bool) -> Report:
    needed, _notes = screen._needed()
    screen._start_table(needed)
    results = _results(needed, bad=bad)
    for r in results:
        screen._row(r)
    # The worker's last progress: every byte hashed (a bar with no total would animate in the picture).
    screen._progress(FixedClockProgress(done=int(4.2 * GB), total=int(4.2 * GB), label="Checking"))
    return Report(Path(screen.session.answers.downloads_dir), results, elapsed=12.0)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_first_check_starting(snap_compare, root, size):  # noqa: F811
    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")

    async def starting(pilot):
        screen = pilot.app.screen
        s.mark("downloads", Status.RUNNING)
        screen.busy = "checking the downloads"
        needed, _notes = screen._needed()
        screen._start_table(needed)
        screen._progress(FixedClockProgress(done=0, total=int(4.2 * GB), label="Checking"))

    assert _shot(snap_compare, s, "downloads", size, before=starting)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_recheck_running(snap_compare, root, size):  # noqa: F811
    """The last check failed (the folder was empty); the user pressed Verify again and it is hashing."""
    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")

    async def rechecking(pilot):
        screen = pilot.app.screen
        assert s.status("downloads") is Status.FAILED        # the first check, on the empty folder
        s.mark("downloads", Status.RUNNING)                  # as the engine's step_run does for the re-check
        screen.busy = "checking the downloads"
        needed, _notes = screen._needed()
        screen._start_table(needed)
        first, second = needed[0], needed[1]
        screen._row(FileResult(first, "ok", "sha256 matches"))
        screen._row(FileResult(second, "checking"))
        screen._progress(FixedClockProgress(done=int(1.3 * GB), total=int(4.2 * GB),
                                            label=f"Hashing {second.entry.rel.rsplit('/', 1)[-1]}"))

    assert _shot(snap_compare, s, "downloads", size, before=rechecking)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_done(snap_compare, root, size):  # noqa: F811
    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")

    async def done(pilot):
        screen = pilot.app.screen
        report = _draw_check(screen, bad=False)
        s.mark("downloads", Status.DONE, report.summary())
        screen._finished(report, "")

    assert _shot(snap_compare, s, "downloads", size, before=done)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_failed(snap_compare, root, size):  # noqa: F811
    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")

    async def failed(pilot):
        screen = pilot.app.screen
        report = _draw_check(screen, bad=True)
        s.mark("downloads", Status.FAILED, report.summary(), bad_files=[r.rel for r in report.bad])
        screen._finished(report, "")

    assert _shot(snap_compare, s, "downloads", size, before=failed)


async def test_recheck_says_it_is_busy_and_the_fix_of_the_first_bad_file_is_shown(root):  # noqa: F811
    """Not a picture: the words, at 80x24."""
    from screens.app import WizardApp

    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")
    app = WizardApp(s, start_at="downloads")
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        screen = app.screen
        assert s.status("downloads") is Status.FAILED
        nav = screen.query_one("#nav-status")
        assert "Fix what is shown above" in str(nav.render())
        screen.busy = "checking the downloads"
        needed, _notes = screen._needed()
        screen._start_table(needed)
        screen._progress(FixedClockProgress(done=GB, total=4 * GB, label="Hashing x.deb"))
        await pilot.pause()
        said = str(nav.render())
        assert "Fix what is shown" not in said
        assert said == f"Busy: hashing the files, 0 of {len(needed)} done. Next waits for the result."
        screen.busy = ""
        report = _draw_check(screen, bad=True)
        screen._finished(report, "")
        await pilot.pause()
        table = screen.query_one("#dl-table")
        # The cursor is on the first file to fix, and its whole name, problem and fix are under the table.
        assert table.cursor_row == 1
        detail = str(screen.query_one("#dl-row-detail").render())
        assert needed[1].entry.rel in detail and "bad checksum: sha256 differs" in detail
        assert "→ delete it and download it again" in detail
        # Every file name fits its column: nothing runs off the right edge.
        width = screen._file_width()
        assert all(len(str(table.get_cell(n.entry.rel, "file"))) <= width for n in needed)
        assert table.virtual_size.width <= table.scrollable_content_region.width


def test_fit_keeps_the_end_of_a_name():
    from screens.downloads import fit

    name = "cuda-repo-ubuntu1604-10-0-local-10.0.326-410.108_1.0-1_amd64.deb"
    assert fit(name, 80) == name
    short = fit(name, 40)
    assert len(short) == 40 and short.endswith("1_amd64.deb") and short.startswith("cuda-repo-") and "…" in short
