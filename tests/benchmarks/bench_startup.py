"""Start-up to the first frame in a real terminal: wrnv-wizard vs a bare Textual app, same run.

Each sample starts a fresh process in tmux and polls the pane until the app's first screen is drawn
(the bare app's "hello"; the wizard's "Step 1 of 12"). Samples alternate so machine noise hits both.
Goal (issue 14): wrnv-wizard's median <= 1.1x the bare app's median.

The wizard's first frame is the Welcome step's frame (title line with the step marks, summary, footer); its
page of text and its buttons follow right after. The time until they are drawn ("Next ▶", the last thing
mounted) is measured in the same samples and printed as the complete page, not asserted.

    pytest tests/benchmarks/bench_startup.py -s
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid

from wrnvtest import wizard_command

BARE = """
from textual.app import App
from textual.widgets import Header, Footer, Static
class Bare(App):
    def compose(self):
        yield Header(); yield Static("hello"); yield Footer()
Bare().run()
"""


def first_frame(argv: list, marker: str, then: str = "") -> tuple:
    """Seconds until `marker` is on screen, and until `then` is too (the same when not given)."""
    sock = f"bench-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", sock]
    t0 = time.perf_counter()
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", *argv], check=True)
    first = None
    try:
        while time.perf_counter() - t0 < 30:
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            now = time.perf_counter() - t0
            if first is None and marker in screen:
                first = now
            if first is not None and (not then or then in screen):
                return first, now
            time.sleep(0.005)
        raise AssertionError(f"{marker!r} {then!r} never appeared")
    finally:
        path = subprocess.run([*tmux, "display-message", "-p", "#{socket_path}"], capture_output=True,
                              text=True).stdout.strip()
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if path.endswith(sock):         # tmux leaves its socket file behind
            os.unlink(path)


def test_startup_ratio(tmp_path):
    bare_argv = [sys.executable, "-c", BARE]
    wiz_argv = [*wizard_command(), "--project", str(tmp_path / "p")]
    first_frame(bare_argv, "hello"), first_frame(wiz_argv, "Step 1 of 12", "Next ▶")  # warm caches
    runs = int(os.environ.get("WRNV_BENCH_RUNS", "15"))
    bare, wiz, page = [], [], []

    def sample_wizard() -> None:
        first, complete = first_frame(wiz_argv, "Step 1 of 12", "Next ▶")
        wiz.append(first)
        page.append(complete)

    for i in range(runs):
        # Which goes first alternates too: a burst of load on the shared machine hits both alike.
        if i % 2:
            sample_wizard()
            bare.append(first_frame(bare_argv, "hello")[0])
        else:
            bare.append(first_frame(bare_argv, "hello")[0])
            sample_wizard()
    b, w, c = statistics.median(bare), statistics.median(wiz), statistics.median(page)
    ratio = w / b
    paired = statistics.median(x / y for x, y in zip(wiz, bare))
    print(f"\nfirst frame in tmux, median of {runs}: bare Textual app {b * 1000:.0f} ms, "
          f"wrnv-wizard {w * 1000:.0f} ms, ratio {ratio:.2f}x (goal <= 1.1x); "
          f"median of the {runs} side-by-side ratios {paired:.2f}x; "
          f"complete Welcome page (text and buttons) {c * 1000:.0f} ms, {c / b:.2f}x")
    assert ratio <= 1.1
