"""Step 8: the build. bitbake runs detached (closing the wizard does not stop it); this screen follows its
log: progress (setscene apart), elapsed time and ETA, the tasks running now, the log, warnings and errors, the
build configuration -- and on failure the cause first: the cause lines of the failed task's log, a hint where
the cause is known, and the task's full log one key away.

The log is what a user reads during hours of building, so it gets the width: the running tasks are a compact
strip above it, the configuration one line, and under 100 columns the step list steps aside.

All reading and parsing happens in one thread worker; the UI only draws snapshots on timers, so the screen
stays responsive whatever the log's pace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, ProgressBar, Static
from textual.worker import get_current_worker

from wizard.build.hints import cause_lines, hint_for_summary
from wizard.build.runner import BuildFollower, BuildRun, BuildRunner, tail_lines, time_text
from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.steps import Status

from .base import StepScreen
from .build_running import RunningTasks
from .confirm import ConfirmScreen
from .log_view import LogView

SNAPSHOT_EVERY = 0.2     # seconds between summary snapshots taken by the reader
TICK = 0.25              # seconds between redraws of the progress area


@dataclass
class Snapshot:
    """What the UI shows, copied by the reader thread (the parser's own objects change under it)."""

    tasks_done: int = 0
    tasks_total: int = 0
    setscene_done: int = 0
    setscene_total: int = 0
    warnings: int = 0
    errors: int = 0
    result: str = "running"
    phase: str = ""
    running: list = field(default_factory=list)     # (recipe, task, started, setscene)
    config: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    eta: float | None = None
    failed_now: str = ""          # the first failed task while bitbake still winds down ("x do_compile")
    sstate: dict = field(default_factory=dict)

    @classmethod
    def of(cls, s, elapsed: float) -> Snapshot:
        failed = f"{s.failed_tasks[0].recipe} {s.failed_tasks[0].task}" if s.failed_tasks else ""
        return cls(s.tasks_done, s.tasks_total, s.setscene_done, s.setscene_total, s.warnings_total,
                   s.errors_total, s.result, s.phase,
                   [(t.recipe, t.task, t.started, t.setscene) for t in s.running_tasks()],
                   dict(s.config), dict(s.layers), s.eta(elapsed), failed, dict(s.sstate))


class BuildScreen(StepScreen):
    STEP_ID = "build"
    CSS_PATH = str(asset("styles", "build.tcss"))
    # Options for the runner. The test suite (which runs as root) sets allow_root here; the product never does.
    RUNNER_OPTIONS: dict = {}
    BINDINGS = [
        Binding("ctrl+r", "start_build", "Build / retry"),
        Binding("ctrl+x", "stop_build", "Stop"),
        Binding("ctrl+o", "full_task_log", "Full task log"),
        Binding("ctrl+l", "show_log_path", "Log path"),
    ]
    # Under 100 columns the step list gives its room to the log (the step title still says where we are).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, session) -> None:
        super().__init__(session)
        self.runner = BuildRunner(session, **self.RUNNER_OPTIONS)
        self.build_run: BuildRun | None = None
        self.follower: BuildFollower | None = None
        self._snap = Snapshot()
        self._shown: Snapshot | None = None
        self._drawn: dict = {}
        self._generation = 0
        self._stop_sent = False
        self._finished_result = ""
        self._failed_log = ""
        self.log_view = LogView(max_lines=5000, id="build-log")
        self.problems = LogView(max_lines=1000, interval=0.25, id="build-problems")

    # -- layout ----------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="build-actions"):
            yield Static("", id="build-status")
            yield Button("Start build", id="build-start", variant="primary", compact=True)
            yield Button("Stop", id="build-stop", variant="error", compact=True)
            yield Button("Log path", id="build-logpath", compact=True)
        yield Static("", id="build-progress-text")
        yield ProgressBar(total=None, show_eta=False, id="build-bar")
        yield RunningTasks("", id="build-running")
        yield Static("", id="build-config")
        yield Static("", id="build-failure")
        yield Static("Log", id="build-log-title", classes="build-title")
        yield self.log_view
        yield Static("Warnings 0 · Errors 0", id="build-problems-title", classes="build-title")
        yield self.problems

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#build-failure").display = False
        self.set_interval(TICK, self._tick)
        self.attach()

    # -- state ---------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Show the build the state knows about: follow a running one, or replay a finished one's log."""
        run = self.runner.current()
        status = self.session.status(self.STEP_ID)
        if run is None or status is Status.PENDING:
            target = self.runner.default_target()
            machine = self.session.answers.machine
            self._set_status(f"Ready to build {target} for {machine}. It takes hours; closing the wizard does not "
                             f"stop it.")
            self._buttons(running=False, has_run=False)
            for sel in ("#build-bar", "#build-running", "#build-config", "#build-progress-text"):
                self.query_one(sel).display = False
            return
        self.build_run = run
        self._begin_follow(run, record=status is Status.RUNNING)

    def _begin_follow(self, run: BuildRun, record: bool) -> None:
        self._stop_sent = False
        self._finished_result = ""
        self._generation += 1     # a previous reader still winding down must not write into the new panes
        self._snap = Snapshot()
        self._shown = None
        self._drawn = {}
        self.log_view.reset()
        self.problems.reset()
        self._failed_log = ""
        self.query_one("#build-failure").display = False
        self.query_one("#build-bar").display = True
        for sel in ("#build-running", "#build-config", "#build-progress-text"):
            self.query_one(sel).display = True
        self.query_one("#build-log-title", Static).update("Log (the last lines; full log: ctrl+l)")
        live = record and not run.ended()
        self._set_status(f"Building {run.target} (pid {run.pid})…" if live else f"Reading the log of {run.target}…")
        self._buttons(running=live, has_run=True)
        self.follow(run, record)

    def _buttons(self, running: bool, has_run: bool) -> None:
        start = self.query_one("#build-start", Button)
        start.label = "Retry" if has_run else "Start build"
        start.display = not running
        stop = self.query_one("#build-stop", Button)
        stop.display = running
        stop.label = "Force stop" if self._stop_sent else "Stop"
        self.query_one("#build-logpath", Button).display = has_run

    def _set_status(self, text: str) -> None:
        self.query_one("#build-status", Static).update(text)

    def quit_note(self) -> str:
        """Said before the wizard quits while the build runs: the build is detached and goes on."""
        run = self.build_run
        if run is not None and not self._finished_result and self.session.status(self.STEP_ID) is Status.RUNNING \
                and not run.ended():
            return (f"The build (bitbake {run.target}, pid {run.pid}) goes on after the wizard quits. Open the "
                    f"wizard again, or run `wrnv-wizard build`, to follow it.")
        return ""

    def can_advance(self) -> tuple:
        status = self.session.status(self.STEP_ID)
        if status is Status.RUNNING:
            return False, "The build is running. It goes on if you quit; open the wizard again to follow it."
        return super().can_advance()

    # -- reading (thread) -----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="build-follow")
    def follow(self, run: BuildRun, record: bool) -> None:
        worker = get_current_worker()
        generation = self._generation
        follower = BuildFollower(self.runner, run, record=record)
        self.follower = follower
        log_feed, problem_feed = self.log_view.feed, self.problems.feed
        last = 0.0
        while not worker.is_cancelled and generation == self._generation:
            text, events = follower.poll(max_bytes=1 << 20)
            if text:
                log_feed.push(text)
            for ev in events:
                if ev.kind == "message" and ev.data.level in ("WARNING", "ERROR"):
                    m = ev.data
                    where = f"{m.recipe} {m.task}: " if m.task else ""
                    problem_feed.push_line(f"{m.level:<7} {where}{m.text}")
            now = time.monotonic()
            if follower.done or now - last >= SNAPSHOT_EVERY:
                self._snap = Snapshot.of(follower.summary, self._elapsed(run))
                last = now
            if follower.done:
                break
            if not text:
                time.sleep(0.1)
        if follower.done:
            log_feed.end()
            s = follower.summary
            causes, hint = None, None
            if s.result != "succeeded":
                failed_log = s.failed_tasks[0].log if s.failed_tasks else ""
                tail = tail_lines(failed_log, 200) if failed_log else []
                hint = hint_for_summary(s, tail, self.session.profile)
                causes = cause_lines(s, tail)
            if not worker.is_cancelled and generation == self._generation:
                try:
                    self.app.call_from_thread(self._finished, run, s, causes, hint)
                except RuntimeError:
                    pass   # the app closed meanwhile; the result is saved in the state already

    def _elapsed(self, run: BuildRun) -> float:
        st = self.session.step_state(self.STEP_ID)
        end = st.finished if (st.finished and st.status is not Status.RUNNING) else time.time()
        return max(end - run.started, 0.0)

    # -- drawing (UI thread) --------------------------------------------------------------------------
    def _tick(self) -> None:
        snap = self._snap
        if self.build_run is None:
            return
        if snap is not self._shown:
            self._shown = snap
            bar = self.query_one("#build-bar", ProgressBar)
            if snap.tasks_total and (bar.total != snap.tasks_total or bar.progress != snap.tasks_done):
                bar.update(total=snap.tasks_total, progress=snap.tasks_done)
            self._put("#build-problems-title", Text(f"Warnings {snap.warnings} · Errors {snap.errors}"))
            self._put("#build-config", self._config_text(snap))
        self._put("#build-progress-text", self._progress_text(snap))
        if snap.result == "running" or not self._finished_result:
            self.query_one("#build-running", RunningTasks).show(snap.running)

    def _put(self, selector: str, text: Text, layout: bool = False) -> None:
        """Update a Static only when its text changed: every update costs a repaint (and a layout pass when
        the size may change), which is what keeps key presses slow on a busy screen."""
        plain = text.plain
        if self._drawn.get(selector) != plain:
            self._drawn[selector] = plain
            self.query_one(selector, Static).update(text, layout=layout)

    def _progress_text(self, snap: Snapshot) -> Text:
        import humanize

        text = Text()
        if snap.tasks_total:
            pct = int(100 * snap.tasks_done / snap.tasks_total)
            text.append(f"Tasks {snap.tasks_done} of {snap.tasks_total} ({pct}%)", style="bold")
        else:
            text.append(snap.phase or "Starting bitbake (parsing recipes)…", style="bold")
        if self.build_run is not None:
            elapsed = self._elapsed(self.build_run)
            text.append(f" · {time_text(elapsed)}")
            if snap.result == "running" and not self._finished_result:
                # an ETA only once 5% of the tasks are done: before that the pace says nothing yet
                left = (f"about {humanize.naturaldelta(snap.eta)} left" if snap.eta is not None
                        else "time left: estimating")
                text.append(f" · {left}")
        if snap.failed_now and snap.result == "failed" and not self._finished_result:
            text.append(f"\n✖ {snap.failed_now} failed; bitbake is finishing the other running tasks",
                        style="bold red")
        elif snap.setscene_total:
            # how much came from the shared state (the sstate mirror, or another machine's build through a
            # hash-equivalence server): those tasks are restored, not built
            text.append(f"\nFrom shared state (mirror / hash server): setscene {snap.setscene_done} of "
                        f"{snap.setscene_total}", style="dim")
        elif snap.sstate.get("wanted"):
            text.append(f"\nShared state: {snap.sstate['found']} of {snap.sstate['wanted']} tasks found "
                        f"(mirror / hash server)", style="dim")
        return text

    @staticmethod
    def _config_text(snap: Snapshot) -> Text:
        """One line: what is being built, for which machine, by which bitbake."""
        parts = [f"{label} {snap.config[key]}" for key, label in (("MACHINE", "machine"), ("DISTRO", "distro"),
                                                                  ("BB_VERSION", "bitbake"))
                 if key in snap.config]
        return Text(" · ".join(parts), no_wrap=True, overflow="ellipsis")

    def _finished(self, run: BuildRun, summary, causes, hint) -> None:
        self._finished_result = summary.result
        self._buttons(running=False, has_run=True)
        if summary.result == "succeeded":
            self.query_one("#build-start", Button).label = "Build again"
        words = {"succeeded": "Build succeeded.", "failed": "Build failed.",
                 "cancelled": "Build stopped.", "running": "Build ended."}
        code = f", exit code {summary.exit_code}" if summary.exit_code not in (None, 0) else ""
        self._set_status(f"{words.get(summary.result, 'Build ended.')[:-1]}{code}. Full log: ctrl+l")
        self._tick()
        self.query_one("#build-running").display = False
        self.query_one("#build-bar").display = False      # the tasks line says the same, and the room is needed
        if summary.result != "succeeded":
            self._failed_log = summary.failed_tasks[0].log if summary.failed_tasks else ""
            self.query_one("#build-failure", Static).update(
                failure_text(summary, causes, hint, base=self.runner.project))
            self.query_one("#build-failure").display = summary.result == "failed" or bool(summary.failed_tasks)
        # the panes above changed height: keep the log's end (where bitbake stopped) in view
        self.call_after_refresh(self.log_view.scroll_end, animate=False)
        self.refresh_nav()

    # -- actions -------------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"build-start": self.action_start_build, "build-stop": self.action_stop_build,
                   "build-logpath": self.action_show_log_path}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()
            return
        super().on_button_pressed(event)

    def action_start_build(self) -> None:
        if self.build_run is not None and not self._finished_result:
            return   # one is being followed
        try:
            run = self.runner.start()
        except WizardError as e:
            self._set_status(str(e))
            self.notify(str(e), severity="error", timeout=10)
            return
        self.build_run = run
        self._begin_follow(run, record=True)
        self.refresh_nav()

    def action_stop_build(self) -> None:
        run = self.build_run
        if run is None or run.ended() or self._finished_result:
            return
        if not self._stop_sent:
            def stop(yes: bool | None) -> None:
                if not yes or run.ended():
                    return
                run.interrupt()
                self._stop_sent = True
                self._buttons(running=True, has_run=True)
                self._set_status("Stopping: bitbake lets the running tasks finish (minutes). Press Force stop to "
                                 "kill them now.")

            self.app.push_screen(ConfirmScreen("Stop the build? bitbake lets the running tasks finish, then stops. "
                                               "Finished work is kept: the next build starts from there.",
                                               yes="Stop the build", no="Keep building"), stop)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._force(run)

        self.app.push_screen(ConfirmScreen("Stop the build now? The running tasks are killed; their work is "
                                           "redone next time.", yes="Force stop", no="Let it finish"), answered)

    @work(thread=True, group="build-force")
    def _force(self, run: BuildRun) -> None:
        run.force()

    def action_full_task_log(self) -> None:
        """The failed task's whole log (its last 5000 lines) in the log pane, focused for scrolling."""
        if not self._failed_log:
            if self.build_run is not None:
                self.notify(f"No failed task's log to show; the build's log: {self.build_run.log}", timeout=10)
            return
        failure = self.query_one("#build-failure")
        if self.log_view.has_class("-task-log"):
            # back: the cause panel, and the build's log
            self.log_view.remove_class("-task-log")
            failure.display = True
            self.query_one("#build-log-title", Static).update("Log (the last lines; full log: ctrl+l)")
            self.log_view.show_lines(tail_lines(self.build_run.log, 400) if self.build_run else [])
            return
        lines = tail_lines(self._failed_log, 5000, max_bytes=8 << 20)
        self.log_view.add_class("-task-log")
        failure.display = False        # the whole height for the log; ctrl+o again brings the causes back
        self.query_one("#build-log-title", Static).update(f"Failed task's log (ctrl+o: back): {self._failed_log}")
        self.log_view.show_lines(lines or [f"(cannot read {self._failed_log})"])
        self.log_view.focus()

    def action_show_log_path(self) -> None:
        if self.build_run is not None:
            self.notify(f"Full build log: {self.build_run.log}", timeout=15)



def failure_text(summary, causes, hint, base=None) -> Text:
    """The failure panel: what failed, the lines that say why, the hint, where the full log is. Paths inside
    the project (`base`) are shown relative to it: at 80 columns a full path takes three lines."""
    import os

    def short(path: str) -> str:
        if base is not None:
            rel = os.path.relpath(path, base)
            if not rel.startswith(".."):
                return rel
        return path

    box = Text()
    for f in summary.failed_tasks[:3]:
        box.append("✖ ", style="bold red")
        box.append(f"{f.recipe} {f.task} failed", style="bold")
        if f.log:
            box.append(f"  log: {short(f.log)}" + (" (inferred)" if f.log_inferred else ""), style="dim")
        box.append("\n")
    if len(summary.failed_tasks) > 3:
        box.append(f"  and {len(summary.failed_tasks) - 3} more failed tasks\n", style="dim")
    if summary.killed and not summary.failed_tasks:
        box.append(f"✖ bitbake was killed (signal {summary.killed}) before it finished\n", style="bold red")
    elif summary.fatal and not summary.failed_tasks:
        box.append("✖ bitbake stopped: ", style="bold red")
        box.append(summary.fatal + "\n", style="bold")
    if causes is not None:
        for line in causes.cause[:4]:
            box.append("> " + line.strip() + "\n", style="red")
        if not causes.cause:
            for line in causes.last[-4:]:
                box.append("| " + line.rstrip() + "\n", style="dim")
    if hint is not None:
        box.append(f"Hint — {hint.title}: ", style="bold yellow")
        box.append(hint.text + "\n")
    if summary.failed_tasks and summary.failed_tasks[0].log:
        box.append("The failed task's full log: ctrl+o", style="dim italic")
    return box
