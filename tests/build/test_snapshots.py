"""Snapshots of the Build step at 80x24 and 120x40: before, running, done, failed.

The states come from logs in the real BitBake 1.44 forms (made with the vendored bitbake and the tiny test
layer), so the screen shows what a user sees. What changes from run to run is pinned: the elapsed time and
the running tasks' durations (wall clock), and the folder (a fixed one under /tmp, made and removed here).
Reviewed by eye (converted to PNG): no deciding text is clipped.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from screens.app import WizardApp
from screens.build import BuildScreen
from wizard.build.runner import EXIT_SUFFIX, proc_start_time
from wizard.core.steps import Status

from .conftest import make_project

ROOT = Path("/tmp/wrnv-build-snapshots")
T = "/tmp/wrnv-build-snapshots/proj/build/tmp/work/broken-c-0.18.0-r0/temp"
RECIPES = "/tmp/wrnv-build-snapshots/proj/layers/meta-tiny/recipes"

HEAD = """Parsing recipes...done.
Parsing of 11 .bb files complete (0 cached, 11 parsed). 11 targets, 0 skipped, 0 masked, 0 errors.
NOTE: Resolving any missing task queue dependencies

Build Configuration:
BB_VERSION           = "1.44.0"
MACHINE              = "jetson-nano-qspi-sd"
DISTRO               = "wrlinux-graphics"
meta-tiny            = "master:0123456789abcdef"

Initialising tasks...done.
Sstate summary: Wanted 9 Found 6 Missed 3 Current 0 (66% match, 0% complete)
NOTE: Executing Tasks
"""


def _tasks(n: int, total: int = 26, *, finish_last: bool = True) -> str:
    names = ["tiny-tool_0.3", "tiny-lib_1.0", "tiny-app_2.1", "broken-c_0.18.0"]
    tasks = ["do_fetch", "do_configure", "do_compile", "do_install", "do_deploy"]
    out = []
    for i in range(n):
        fn, task = names[i % 4], tasks[(i // 4) % 5]
        pf = fn.replace("_", "-") + "-r0"
        out.append(f"NOTE: Running task {i + 1} of {total} ({RECIPES}/{fn}.bb:{task})")
        out.append(f"NOTE: recipe {pf}: task {task}: Started")
        if finish_last or i < n - 3:
            out.append(f"NOTE: recipe {pf}: task {task}: Succeeded")
    return "\n".join(out) + "\n"


RUNNING = HEAD + _tasks(9, finish_last=False)
DONE = HEAD + _tasks(26) + ("NOTE: Tasks Summary: Attempted 26 tasks of which 6 didn't need to be rerun and all "
                            "succeeded.\n\nSummary: There was 1 WARNING message shown.\n")
FAILED = HEAD + _tasks(13) + f"""ERROR: broken-c-0.18.0-r0 do_compile: Execution of '{T}/run.do_compile.4242' failed with exit code 1:
gcc -Werror=implicit-function-declaration -c main.c
main.c: In function 'main':
main.c:2:46: error: implicit declaration of function 'strlcpy'; did you mean 'strncpy'? [-Werror=implicit-function-declaration]
cc1: some warnings being treated as errors
WARNING: exit code 1 from a shell command.

ERROR: Logfile of failure stored in: {T}/log.do_compile.4242
ERROR: Task ({RECIPES}/broken-c_0.18.0.bb:do_compile) failed with exit code '1'
NOTE: Tasks Summary: Attempted 14 tasks of which 6 didn't need to be rerun and 1 failed.

Summary: 1 task failed:
  {RECIPES}/broken-c_0.18.0.bb:do_compile
Summary: There was 1 ERROR message shown, returning a non-zero exit code.
"""  # noqa: E501
TASK_LOG = """DEBUG: Executing shell function do_compile
gcc -Werror=implicit-function-declaration -c main.c
main.c: In function 'main':
main.c:2:46: error: implicit declaration of function 'strlcpy'; did you mean 'strncpy'? [-Werror=implicit-function-declaration]
    2 | int main(int argc, char **argv) { char b[8]; strlcpy(b, argv[0], sizeof b); return 0; }
cc1: some warnings being treated as errors
WARNING: exit code 1 from a shell command.
"""


@pytest.fixture
def pinned(monkeypatch):
    """Pin what the wall clock changes; build a fixed project folder; remove it (and the stand-in build
    process) afterwards."""
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    monkeypatch.setattr(BuildScreen, "_elapsed", lambda self, run: 1234.0)
    monkeypatch.setattr("screens.build_running.short_duration", lambda seconds: "42s")
    set_status = BuildScreen._set_status
    monkeypatch.setattr(BuildScreen, "_set_status",
                        lambda self, text: set_status(self, re.sub(r"pid \d+", "pid 4242", text)))
    procs = []
    yield procs
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    shutil.rmtree(ROOT, ignore_errors=True)


def _session_in_state(state: str, procs: list):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    proj = make_project(ROOT)
    session = Session(load_profile(), proj)
    for step in ("welcome", "prereqs", "host", "downloads", "project", "board", "localconf"):
        session.mark(step, Status.DONE)
    if state == "before":
        return session
    logs = proj / ".wrnv-wizard" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "build-20261201-000000.log"
    log.write_text({"running": RUNNING, "done": DONE, "failed": FAILED}[state])
    data = {"log": str(log), "target": "wrlinux-image-glibc-std", "started": 1.0e9,
            "exit_file": str(log) + EXIT_SUFFIX}
    if state == "running":
        # a live process stands in for the detached build (the screen checks the pid and its start time)
        p = subprocess.Popen(["sleep", "600"], start_new_session=True)
        procs.append(p)
        session.mark("build", Status.RUNNING, "bitbake", pid=p.pid, pid_start=proc_start_time(p.pid), **data)
        return session
    Path(data["exit_file"]).write_text("0\n" if state == "done" else "1\n")
    if state == "failed":
        Path(T).mkdir(parents=True)
        (Path(T) / "log.do_compile.4242").write_text(TASK_LOG)
    session.mark("build", Status.DONE if state == "done" else Status.FAILED, "", pid=999999, pid_start=1,
                 **data)
    return session


def _settled(state: str):
    async def run_before(pilot) -> None:
        import time

        screen = pilot.app.screen
        end = time.monotonic() + 30
        while time.monotonic() < end:
            log = screen.log_view
            drained = log.feed.total and not log.feed._lines     # every line read was handed to the widget
            if state == "before" or (state == "running" and screen._snap.tasks_total and drained) or \
                    (state in ("done", "failed") and screen._finished_result and drained):
                break
            await pilot.pause(0.1)
        await pilot.pause(0.6)      # the panes drain on timers
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("state", ["before", "running", "done", "failed"])
def test_build_step_snapshot(snap_compare, pinned, state, size):
    app = WizardApp(_session_in_state(state, pinned), start_at="build")
    assert snap_compare(app, terminal_size=size, run_before=_settled(state))
