"""The running states that decide a step at 80x24, as snapshots: what runs, its progress (bytes, rate, time
left) and the Stop button stay in view. Each is drawn through the screen's own drawing methods (the same calls
its worker makes from its thread), with a progress whose clock is fixed so that the picture is the same on
every run; the work itself is tested in the step's own test folder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from screens.flash_progress import WorkProgress
from screens.log_view import LogView

from . import flashstate
from .flashstate import GB, FixedClockProgress
from .test_snapshots import _session, _settle, _shot, root  # noqa: F401  (root is a fixture)


def test_downloads_hashing(snap_compare, root):  # noqa: F811
    (root / "sdkm_downloads").mkdir()
    s = _session(root, "downloads")

    async def hashing(pilot):
        screen = pilot.app.screen
        needed, _notes = screen._needed()
        screen._start_table(needed)
        screen.busy = "checking the downloads"
        first, second = needed[0], needed[1]
        screen._row(SimpleNamespace(rel=first.entry.rel, status="ok", good=True, needed=first,
                                    detail="sha256 matches"))
        screen._row(SimpleNamespace(rel=second.entry.rel, status="checking", good=False, needed=second,
                                    detail=""))
        screen._progress(FixedClockProgress(done=int(1.3 * GB), total=int(4.2 * GB),
                                            label=f"Hashing {second.entry.rel.rsplit('/', 1)[-1]}"))

    assert _shot(snap_compare, s, "downloads", "80x24", before=hashing)


def test_image_running(snap_compare, root):  # noqa: F811
    s = _session(root, "image")

    async def running(pilot):
        screen = pilot.app.screen
        screen.busy = "making the SD-card image"
        screen.query_one("#image-start").disabled = True
        screen.query_one("#image-stop").disabled = False
        log = screen.query_one(LogView)
        for line in ("Found the image wrlinux-image-glibc-std-jetson-nano-qspi-sd.tegraflash.zip",
                     "Unpacking the tegraflash archive into a work folder",
                     "Running dosdcard.sh -b jetson-nano-qspi-sd with BOARDID=3448 FAB=300",
                     "creating the partitions: APP 14 GiB, TBC, RP1, EBT, WB0, BPF, ..."):
            log.feed.push_line(line)
        log.drain()
        screen.query_one("#image-progress").show(
            FixedClockProgress(done=int(2.1 * GB), total=int(16 * GB), label="Writing the image"))

    assert _shot(snap_compare, s, "image", "80x24", before=running)


def test_project_cloning(snap_compare, root):  # noqa: F811
    from textual.widgets import Log

    from wizard.project.create import DONE, RUNNING

    s = _session(root, "project")

    async def cloning(pilot):
        screen = pilot.app.screen
        screen.busy = "creating the project"
        screen.query_one("#project-run").disabled = True
        screen.query_one("#project-cancel").disabled = False
        screen._on_step("clone-wrlinux", DONE, "cloned (WRLINUX_10_19_BASE)")
        screen._on_step("setup", RUNNING, "")
        log = screen.query_one("#project-log", Log)
        for line in ("$ git clone --branch WRLINUX_10_19_BASE https://github.com/WindRiver-Labs/wrlinux-x.git",
                     "Cloning into 'wrlinux-x'...",
                     "$ ./wrlinux-x/setup.sh --machines jetson-nano-qspi-sd --dl-layers --accept-eula yes",
                     "Fetching the layer index (this takes a few minutes the first time)"):
            log.write_line(line)

    assert _shot(snap_compare, s, "project", "80x24", before=cloning)


# -- Write the card: one card, several cards (each its own line, host name and key) ---------------------------

@pytest.fixture(params=["80x24", "120x40"])
def size(request):
    return request.param


def _flash_session(root, monkeypatch):  # noqa: F811
    s = _session(root, "flash")
    img = flashstate.setup(monkeypatch, root, s)
    return s, img


def test_flash_one_card_writing(snap_compare, root, size, monkeypatch):  # noqa: F811
    s, img = _flash_session(root, monkeypatch)

    async def writing(pilot):
        screen = pilot.app.screen
        disk = flashstate.cards()[0]
        screen._begin(disk, str(img))
        screen.query_one(WorkProgress).show(
            FixedClockProgress(done=int(1.3 * GB), total=int(4.2 * GB), label="Writing"))

    assert _shot(snap_compare, s, "flash", size, before=writing)


def test_flash_several_cards_writing(snap_compare, root, size, monkeypatch):  # noqa: F811
    from screens.flash_options import PerCard

    s, img = _flash_session(root, monkeypatch)
    key = flashstate.key_file(root)

    async def writing(pilot):
        screen = pilot.app.screen
        disks = flashstate.cards()
        screen.per_card = PerCard("lab-{n:02}", str(key), True)
        screen._begin_many(disks, str(img), screen.per_card.options(3))
        lines = screen.query_one("#flash-cards")
        for d, done, label in zip(disks, (2.9, 1.3, 4.2), ("Writing", "Writing", "Verifying")):
            lines.show(d.path, FixedClockProgress(done=int(done * GB), total=int(4.2 * GB), label=label))

    assert _shot(snap_compare, s, "flash", size, before=writing)
