"""Run under `umockdev-wrapper` by test_screens_umockdev.py: the Write the card step in "write every card I
insert" mode, with the card's arrival sent as a umockdev uevent. Only the process that owns the testbed can send
its uevents, so the app runs here (headless, `run_test`) and reports what it saw as one JSON line on stdout.

The card's sysfs entry is the real loop device's, recorded by `umockdev-record` without its device node line
(/dev/loopN stays the real device). The disk monitor's sysfs poll is turned off: only the uevent can make the
card appear. The answer to the card's question is the job's `key`: under umockdev's preload every block-device
ioctl on a real device fails with ENOTTY (BLKGETSIZE64, BLKSSZGET, BLKDISCARD, ...), so a card cannot be
written from this process; the bytes are tested with loop devices outside the testbed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "disks")]

from umock import Testbed, in_testbed, mountinfo, swaps  # noqa: E402


def main() -> None:
    job = json.load(sys.stdin)
    out: dict = {"in_testbed": in_testbed()}
    tb = Testbed()
    tb.write_proc("self/mountinfo", mountinfo())
    tb.write_proc("swaps", swaps())

    import wizard.card.disks as disks

    class EventsOnly(disks.DiskMonitor):
        def __init__(self, *a, **kw):
            kw["poll_interval"] = None
            super().__init__(*a, **kw)

    disks.DiskMonitor = EventsOnly

    from screens.app import WizardApp
    from screens.flash import FlashScreen
    from screens.flash_insert import InsertedCardScreen
    from screens.flash_options import PerCard
    from wizard.core.session import Session

    FlashScreen.ALLOW_NON_REMOVABLE = True
    dev = job["dev"]

    async def wait(pilot, cond, timeout=30.0) -> bool:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                return False
            await pilot.pause(0.05)
        return True

    async def run() -> None:
        app = WizardApp(Session.open(job["project"]), start_at="flash")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await pilot.pause(1.0)
            out["before"] = sorted(d.path for d in screen.query_one("#flash-disks")._disks)
            screen.per_card = PerCard(job["pattern"])
            screen.query_one("#flash-session").value = True
            if not await wait(pilot, lambda: screen.busy.startswith("writing every card")):
                out["fatal"] = "the session did not start: " + str(screen.query_one("#step-note").render())
                return
            t0 = time.monotonic()
            tb.add_string(job["record"])            # the card is plugged in: umockdev sends "add"
            # The question is up once its screen is mounted (the screen can be active a frame before that).
            asked = await wait(pilot, lambda: isinstance(app.screen, InsertedCardScreen)
                               and app.screen.disk.path == dev and bool(app.screen.query("#inserted-key")),
                               timeout=20)
            out["asked_after"] = round(time.monotonic() - t0, 3) if asked else None
            if not asked:
                out["fatal"] = "the inserted card was not asked for"
                return
            out["becomes"] = str(app.screen.query_one("#inserted-becomes").render())
            await pilot.press(job["key"])
            lines = screen.query_one("#flash-cards")
            await wait(pilot, lambda: any(w in lines.text(dev) for w in ("safe to remove", "FAILED", "untouched")),
                       150)
            out["line"] = lines.text(dev)
            screen.query_one("#flash-session").value = False
            await wait(pilot, lambda: not screen.busy, 60)
            out["result"] = str(screen.query_one("#flash-result").render())

    try:
        asyncio.run(run())
    finally:
        tb.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
