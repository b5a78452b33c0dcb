"""Step 6: create the project (clone wrlinux-x, setup.sh, meta-tegra at the tested commit, layers), live.

The work is wizard.project.create.ProjectCreator in a thread worker; this screen shows its sub-steps as a checklist,
streams the commands' output into a log pane, and on failure shows the last lines, the log file and a hint.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Log, Static

from wizard.core import procrun
from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.progress import Cancelled
from wizard.core.steps import Status
from wizard.project.create import (
    ALREADY,
    DONE,
    FAILED,
    RUNNING,
    SUBSTEPS,
    CommitMissing,
    Credentials,
    ProjectCreator,
    substep_status,
)

from .base import StepScreen

EARLIER = "earlier"   # done in an earlier run (recorded in the saved state), not checked yet in this one
MARKS = {RUNNING: ("▶", "yellow"), DONE: ("✔", "green"), ALREADY: ("✔", "green"), FAILED: ("✖", "red"),
         EARLIER: ("✔", "dim green"), "": ("○", "dim")}


LOGIN_NOTE = ("The LTS source is for Wind River subscribers: cloning it needs your Windshare login (used "
              "for this clone only, never saved). No subscription? Go back to Board & distro and pick the public "
              "BASE source.")


class ProjectScreen(StepScreen):
    STEP_ID = "project"
    NOT_DONE = "Not created yet: Create project runs the commands listed."
    CSS_PATH = str(asset("styles", "project.tcss"))

    def __init__(self, session) -> None:
        super().__init__(session)
        self.sub: dict = self._earlier()
        self.cancel_token: procrun.CancelToken | None = None
        self.commit_missing: CommitMissing | None = None

    def compose_body(self) -> ComposeResult:
        # The action first, in one row at any width; the commands it runs scroll below it.
        with Horizontal(id="project-buttons"):
            yield Button("Create project", id="project-run", variant="primary", compact=True)
            yield Button("Cancel", id="project-cancel", variant="error", compact=True, disabled=True)
            yield Button("Use branch tip", id="project-tip", variant="warning", compact=True)
        with VerticalScroll(id="project-top") as top:
            top.can_focus = False       # the paging keys scroll it; Tab goes from the buttons to the login
            yield Static("", id="project-steps")
        with Vertical(id="project-login"):
            yield Static(LOGIN_NOTE, id="project-login-note")
            with Horizontal(id="project-login-row"):
                yield Input(placeholder="Windshare user", id="project-user", compact=True)
                yield Input(placeholder="password (never shown or saved)", password=True, id="project-password",
                            compact=True)
        yield Static("", id="project-failure")
        yield Log(id="project-log", highlight=False, max_lines=5000)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#project-tip", Button).display = False
        needs_login = self.session.profile.source(self.session.answers.source).needs_credentials
        self.query_one("#project-login").display = needs_login
        if self.session.status(self.STEP_ID) is Status.DONE:
            self.query_one("#project-run", Button).label = "Run again (verifies)"
        self.draw_steps()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if not self.busy:
            needs_login = self.session.profile.source(self.session.answers.source).needs_credentials
            self.query_one("#project-login").display = needs_login
            self.draw_steps()

    def _earlier(self) -> dict:
        done = substep_status(self.session)
        return {sid: (EARLIER, "done earlier; Run again verifies it") if done[sid] else ("", "")
                for sid, _ in SUBSTEPS}

    # -- drawing -------------------------------------------------------------------------------------------
    def draw_steps(self) -> None:
        commands = ProjectCreator(self.session).commands()
        text = Text()
        text.append(f"Project folder: {self.session.project}\n", style="bold")
        for sid, title in SUBSTEPS:
            state, message = self.sub[sid]
            mark, colour = MARKS[state]
            text.append(f"{mark} ", style=f"bold {colour}")
            text.append(title, style="bold")
            text.append(f"\n    {message or '$ ' + commands[sid]}\n", style="dim" if not message else "")
        self.query_one("#project-steps", Static).update(text)

    def _on_step(self, sid: str, state: str, message: str) -> None:
        self.sub[sid] = (state, message if state != RUNNING else "")
        self.draw_steps()

    def _show_failure(self, error: Exception) -> None:
        box = self.query_one("#project-failure", Static)
        text = Text()
        text.append(f"{error}\n", style="bold red")
        if isinstance(error, procrun.CommandFailed):
            if error.lines:
                text.append("Last lines:\n", style="bold")
                for line in error.lines[-8:]:
                    text.append(f"  {line}\n")
            if error.log_path:
                text.append(f"Full log: {error.log_path}\n", style="cyan")
            if error.hint:
                text.append(f"What to do: {error.hint}\n", style="yellow")
        box.update(text)
        box.add_class("shown")
        tip = isinstance(error, CommitMissing) and bool(error.tip)
        self.query_one("#project-tip", Button).display = tip

    def _clear_failure(self) -> None:
        self.query_one("#project-failure", Static).remove_class("shown")
        self.query_one("#project-tip", Button).display = False

    # -- running -------------------------------------------------------------------------------------------
    def start(self, use_branch_tip: bool = False) -> None:
        if self.busy:
            return
        self._clear_failure()
        self.sub = {sid: ("", "") for sid, _ in SUBSTEPS}
        creds = None
        if self.query_one("#project-login").display:
            user = self.query_one("#project-user", Input).value.strip()
            password = self.query_one("#project-password", Input).value
            creds = Credentials(user, password) if user and password else None
        self.cancel_token = procrun.CancelToken()
        self.busy = "creating the project"
        self.query_one("#project-run", Button).disabled = True
        self.query_one("#project-cancel", Button).disabled = False
        self.run_creator(creds, use_branch_tip, self.cancel_token)

    @work(thread=True, exclusive=True, group="project")
    def run_creator(self, creds, use_branch_tip: bool, token) -> None:
        call = self.app.call_from_thread
        log = self.query_one("#project-log", Log)
        creator = ProjectCreator(self.session, credentials=creds, use_branch_tip=use_branch_tip, cancel=token,
                                 on_line=lambda line: call(log.write_line, line),
                                 on_step=lambda *a: call(self._on_step, *a))
        error = None
        try:
            outcomes = creator.run_all()
            for w in creator.warnings:
                call(self.notify, w, severity="warning", timeout=10)
            summary = ("Already set up: nothing to do." if all(o.state == ALREADY for o in outcomes)
                       else "Project created.")
            call(log.write_line, summary)
        except Cancelled:
            call(log.write_line, "Cancelled. Run it again to go on where it stopped.")
        except WizardError as e:
            error = e
        finally:
            call(self._finished, error)

    def _finished(self, error) -> None:
        self.busy = ""
        self.query_one("#project-run", Button).disabled = False
        self.query_one("#project-run", Button).label = "Run again (verifies)"
        self.query_one("#project-cancel", Button).disabled = True
        if error is not None:
            self._show_failure(error)
        self.draw_steps()
        self.refresh_nav()

    @on(Button.Pressed, "#project-run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start()

    @on(Button.Pressed, "#project-tip")
    def _tip_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start(use_branch_tip=True)

    @on(Button.Pressed, "#project-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.cancel_token is not None:
            self.cancel_token.cancel()
