"""Start-up (issue 14): the TUI's path to its first frame loads what the first screen needs and nothing more,
and the interpreter tuning for start-up (cycle collector off, short GIL switch interval; screens/startup.py) is
undone once the first frame is drawn.

The timing itself is measured in tests/benchmarks/bench_startup.py; these tests keep the causes from coming back.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from screens import launch, startup
from screens.app import WizardApp

REPO = Path(__file__).resolve().parents[2]

# Up to the moment the app starts: the command line read, the session opened, the app's and the first
# screen's modules imported. What must not be loaded by then (each was, or would be, a few ms on every start).
NOT_BEFORE_FIRST_FRAME = (
    "humanize",                 # progress lines: imported where a line is made
    "wizard.project.adopt",     # adopting a hand-made project: only when the folder looks like one
    "wizard.project.gitops", "wizard.project.localconf",
    "wizard.host", "wizard.downloads", "wizard.build", "wizard.card", "wizard.board", "wizard.demo",
    "wizard.plain", "wizard.commands.doctor",
    "screens.host", "screens.prereqs", "screens.build", "screens.flash", "screens.summary",
    "screens.confirm", "screens.autopilot",
    "yaml", "pyudev", "jeepney", "questionary", "sh",
)

PROBE = """
import gc, json, sys
from screens import launch
seen = {}
def run_tui(session, **options):
    from screens.app import WizardApp
    from screens.registry import screen_class
    screen_class(session.first_unfinished())
    seen["modules"] = sorted(sys.modules)
    seen["gc_on_during_start"] = gc.isenabled()
    seen["switch_interval_during_start"] = sys.getswitchinterval()
    return 0
launch._run_tui = run_tui
code = launch.main(["--project", sys.argv[1]])
seen["gc_on_after"] = gc.isenabled()
seen["switch_interval_after"] = sys.getswitchinterval()
seen["code"] = code
print(json.dumps(seen))
"""


def test_tui_start_loads_only_what_the_first_screen_needs(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "project")], capture_output=True, text=True,
                         cwd=REPO, timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                                     "WRNV_CACHE_DIR": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    modules = seen["modules"]
    assert "screens.welcome" in modules and "wizard.core.session" in modules      # the probe did start
    loaded = sorted(m for m in modules for bad in NOT_BEFORE_FIRST_FRAME if m == bad or m.startswith(bad + "."))
    assert loaded == [], f"loaded before the first frame: {loaded}"
    assert seen["gc_on_during_start"] is False
    assert seen["gc_on_after"] is True
    assert seen["switch_interval_during_start"] < 0.001 and seen["switch_interval_after"] == 0.005


@pytest.mark.parametrize("argv, tui", [
    ([], True), (["--project", "p"], True), (["--demo"], True),
    (["doctor"], False), (["--project", "p", "build"], False), (["--plain"], False), (["--demo", "--plain"], False),
])
def test_only_the_tui_start_turns_the_collector_off(argv, tui):
    """Subcommands and the plain mode may run for hours: they keep the cycle collector."""
    assert launch._starts_the_tui(argv) is tui


def test_collector_is_on_again_when_the_command_ends_early():
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        launch.main(["--version"])
    assert gc.isenabled() and sys.getswitchinterval() == 0.005
    assert launch.main(["--frobnicate"]) == 2       # a usage error: one line, exit 2
    assert gc.isenabled() and sys.getswitchinterval() == 0.005


async def test_app_undoes_the_start_up_tuning_after_the_first_frame(session):
    frozen = gc.get_freeze_count()
    startup.begin()
    try:
        assert not gc.isenabled() and sys.getswitchinterval() < 0.001
        app = WizardApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert gc.isenabled() and sys.getswitchinterval() == 0.005
            assert gc.get_freeze_count() > frozen      # what start-up made is not walked again
    finally:
        startup.end(freeze=False)
        gc.unfreeze()


async def test_app_leaves_the_interpreter_alone_without_the_tui_start(session):
    frozen = gc.get_freeze_count()
    app = WizardApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert gc.isenabled() and gc.get_freeze_count() == frozen and sys.getswitchinterval() == 0.005
