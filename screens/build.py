"""Step 8: the build. bitbake runs detached (closing the wizard does not stop it); this screen follows its
log: progress (setscene apart), elapsed time and ETA, the tasks running now, the log, warnings and errors, the
build configuration -- and on failure the failed task, its own log's tail and a hint.

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
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static
from textual.worker import get_current_worker

from wizard.build.hints import hint_for_summary
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

    @classmethod
    def of(cls, s, elapsed: float) -> Snapshot:
        return cls(s.tasks_done, s.tasks_total, s.setscene_done, s.setscene_total, s.warnings_total,
                   s.errors_total, s.result, s.phase,
                   [(t.recipe, t.task, t.started, t.setscene) for t in s.running_tasks()],
                   dict(s.config), dict(s.layers), s.eta(elapsed))


class BuildScreen(StepScreen):
    STEP_ID = "build"
    CSS_PATH = str(asset("styles", "build.tcss"))
    # Options for the runner. The test suite (which runs as root) sets allow_root here; the product never does.
    RUNNER_OPTIONS: dict = {}
    BINDINGS = [
        Binding("ctrl+r", "start_build", "Build / retry"),
        Binding("ctrl+x", "stop_build", "Stop"),
        Binding("ctrl+l", "show_log_path", "Log path"),
    ]

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
        self.log_view = LogView(max_lines=5000, id="build-log")
        self.problems = LogView(max_lines=1000, interval=0.25, id="build-problems")
        self.task_log = LogView(max_lines=400, interval=0.5, id="build-task-log")

    # -- layout ----------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="build-actions"):
            yield Static("", id="build-status")
            yield Button("Start build", id="build-start", variant="primary", compact=True)
            yield Button("Stop", id="build-stop", variant="error", compact=True)
            yield Button("Log path", id="build-logpath", compact=True)
        yield Static("", id="build-progress-text")
        yield ProgressBar(total=None, show_eta=False, id="build-bar")
        with Horizontal(id="build-mid"):
            with Vertical(id="build-left"):
                yield Static("Log", id="build-log-title", classes="build-title")
                yield self.log_view
            with Vertical(id="build-side"):
                yield Static("Running now", classes="build-title")
                yield RunningTasks("", id="build-running")
                yield Static("Configuration", classes="build-title")
                yield Static("", id="build-config")
        with Vertical(id="build-failure"):
            yield Static("", id="build-failed")
            yield Static("", id="build-task-log-title", classes="build-title")
            yield self.task_log
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
            self.query_one("#build-bar").display = False
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
        self.query_one("#build-failure").display = False
        self.query_one("#build-bar").display = True
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
            tail, hint = [], None
            if s.result != "succeeded":
                failed_log = s.failed_tasks[0].log if s.failed_tasks else ""
                tail = tail_lines(failed_log, 200) if failed_log else []
                hint = hint_for_summary(s, tail, self.session.profile)
            if not worker.is_cancelled and generation == self._generation:
                try:
                    self.app.call_from_thread(self._finished, run, s, tail, hint)
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
            self._put("#build-config", self._config_text(snap), layout=True)
        self._put("#build-progress-text", self._progress_text(snap))
        self.query_one("#build-running", RunningTasks).show(snap.running)

    def _put(self, selector: str, text: Text, layout: bool = False) -> None:
        """Update a Static only when its text changed: every update costs a repaint (and a layout pass when
        the size may change), which is what keeps key presses slow on a busy screen."""
        plain = text.plain
        if self._drawn.get(selector) != plain:
            self._drawn[selector] = plain
            self.query_one(selector, Static).update(text, layout=layout)

    def _progress_text(self, snap: Snapshot) -> Text:
        text = Text()
        if snap.tasks_total:
            pct = int(100 * snap.tasks_done / snap.tasks_total)
            text.append(f"Tasks {snap.tasks_done} of {snap.tasks_total} ({pct}%)", style="bold")
        else:
            text.append(snap.phase or "Starting bitbake (parsing recipes)…", style="bold")
        if snap.setscene_total:
            text.append(f"  ·  setscene (from the shared state cache) {snap.setscene_done} of "
                        f"{snap.setscene_total}", style="dim")
        if self.build_run is not None:
            elapsed = self._elapsed(self.build_run)
            words = time_text(elapsed, snap.eta)
            text.append(f"  ·  {words}")
        return text

    @staticmethod
    def _config_text(snap: Snapshot) -> Text:
        text = Text()
        for key in ("MACHINE", "DISTRO", "DISTRO_VERSION", "TARGET_SYS", "BB_VERSION", "NATIVELSBSTRING"):
            if key in snap.config:
                text.append(f"{key:<16}", style="dim")
                text.append(f"{snap.config[key]}\n")
        if snap.layers:
            text.append(f"{len(snap.layers)} layers\n", style="dim")
            for name, rev in list(snap.layers.items())[:12]:
                text.append(f"  {name} ", style="dim")
                text.append(f"{rev.split(':')[-1][:12]}\n")
        return text

    def _finished(self, run: BuildRun, summary, tail: list, hint) -> None:
        self._finished_result = summary.result
        self._buttons(running=False, has_run=True)
        if summary.result == "succeeded":
            self.query_one("#build-start", Button).label = "Build again"
        words = {"succeeded": "Build succeeded.", "failed": "Build failed.",
                 "cancelled": "Build stopped.", "running": "Build ended."}
        self._set_status(f"{words.get(summary.result, 'Build ended.')} Full log: {run.log.name} (ctrl+l)")
        self._tick()
        if summary.result != "succeeded":
            box = Text()
            for f in summary.failed_tasks[:8]:
                box.append("✖ ", style="bold red")
                box.append(f"{f.recipe} {f.task}", style="bold")
                box.append(f"  {f.log}\n" if f.log else "\n", style="dim")
            if hint is not None:
                box.append(f"Hint — {hint.title}: ", style="bold yellow")
                box.append(hint.text + "\n")
            elif summary.result == "failed" and not summary.failed_tasks:
                first = summary.errors[0].text if summary.errors else f"exit code {summary.exit_code}"
                box.append(f"bitbake stopped: {first}\n")
            self.query_one("#build-failed", Static).update(box)
            if tail:
                self.query_one("#build-task-log-title", Static).update(
                    f"End of {summary.failed_tasks[0].recipe} {summary.failed_tasks[0].task}'s log")
                self.task_log.show_lines(tail)
            self.task_log.display = bool(tail)
            self.query_one("#build-task-log-title").display = bool(tail)
            self.query_one("#build-failure").display = bool(summary.failed_tasks or hint or
                                                            summary.result == "failed")
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
        if run is None or run.ended():
            return
        if not self._stop_sent:
            run.interrupt()
            self._stop_sent = True
            self._buttons(running=True, has_run=True)
            self._set_status("Stopping: bitbake lets the running tasks finish (minutes). Press Force stop to kill "
                             "them now.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._force(run)

        self.app.push_screen(ConfirmScreen("Stop the build now? The running tasks are killed; their work is "
                                           "redone next time.", yes="Force stop", no="Let it finish"), answered)

    @work(thread=True, group="build-force")
    def _force(self, run: BuildRun) -> None:
        run.force()

    def action_show_log_path(self) -> None:
        if self.build_run is not None:
            self.notify(f"Full build log: {self.build_run.log}", timeout=15)

