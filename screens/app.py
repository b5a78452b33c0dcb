"""The wizard's Textual app: holds the session, shows one step screen at a time, guards quitting."""

from __future__ import annotations

from typing import Optional

from textual.app import App
from textual.binding import Binding

from wizard import __version__
from wizard.core import steps
from wizard.core.paths import asset

from . import startup
from .base import StepScreen
from .messages import GoToStep, StepsChanged
from .registry import screen_class

SHARED_CSS = asset("styles", "shared.tcss")


class WizardApp(App):
    TITLE = "wrnv-wizard"
    SUB_TITLE = f"Wind River Linux on Jetson · v{__version__}"
    CSS_PATH = str(asset("styles", "app.tcss"))
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, session, start_at: Optional[str] = None, **options) -> None:
        super().__init__()
        self.session = session
        self.start_at = start_at
        self.options = options
        self._step_screens: dict = {}
        self._modes_by_step: dict = {}
        self._current: Optional[str] = None

    # -- navigation --------------------------------------------------------------------------------
    # Each step's screen lives in its own mode, so it survives switching away (its workers keep
    # running), and the first step is the default screen itself: no blank frame before it.
    def get_default_screen(self) -> StepScreen:
        start = self.start_at or self.session.first_unfinished()
        self._modes_by_step[start] = "_default"
        # add_mode() refuses "_default"; registering it lets switch_mode() come back to the first step.
        self._modes["_default"] = lambda: self.step_screen(start)
        self._current = start
        screen = self.step_screen(start)
        if not screen.BODY_AFTER_FIRST_FRAME:
            self.stylesheet.read(SHARED_CSS)     # parsed with the screen's own CSS, just below
        # Textual loads a screen's CSS_PATH when it pushes it; the default screen is not pushed.
        self._load_screen_css(screen)
        return screen

    def load_shared_css(self) -> None:
        """What step bodies and dialogs share (shared.tcss), before the first screen that needs it. Kept out of
        the first frame of the Welcome step, which needs none of it (parsing it is ~1% of that frame)."""
        if not self.stylesheet.has_source(str(SHARED_CSS)):
            self.stylesheet.read(SHARED_CSS)
            self.stylesheet.reparse()
            self.stylesheet.update(self)

    def on_mount(self) -> None:
        self.session.on_change(self._status_changed)
        if self.options.get("auto"):
            from .autopilot import Autopilot

            pilot = Autopilot(self, pause=self.options.get("pause", 0.8), exit_at_end=self.options.get("exit_at_end"),
                              card=self.options.get("card", ""), on_settled=self.options.get("on_settled"))
            self.run_worker(pilot.run(), name="autopilot", group="autopilot")
        recovered = getattr(self.session.state, "recovered_from", "")
        if recovered:
            self.notify(recovered, severity="warning", timeout=15)

    def on_ready(self) -> None:
        startup.end()       # the first frame is drawn: the interpreter as usual again (screens/startup.py)

    def step_screen(self, step_id: str) -> StepScreen:
        screen = self._step_screens.get(step_id)
        if screen is None:
            screen = screen_class(step_id)(self.session)
            self._step_screens[step_id] = screen
        return screen

    @property
    def current_step(self) -> Optional[str]:
        return self._current

    def goto(self, step_id: str) -> None:
        if step_id == self._current:
            return
        mode = self._modes_by_step.get(step_id)
        if mode is None:
            mode = self._modes_by_step[step_id] = f"step-{step_id}"
            self.add_mode(mode, lambda: self.step_screen(step_id))
        self._current = step_id
        self.load_shared_css()
        self.switch_mode(mode)

    def next_step(self) -> None:
        i = steps.index(self._current)
        if i + 1 < len(steps.STEPS):
            self.goto(steps.STEPS[i + 1].id)

    def previous_step(self) -> None:
        i = steps.index(self._current)
        if i > 0:
            self.goto(steps.STEPS[i - 1].id)

    def reachable(self, step_id: str) -> bool:
        """Any step up to the first unfinished one, or any step already visited."""
        return (steps.index(step_id) <= steps.index(self.session.first_unfinished())
                or step_id in self._step_screens)

    def on_go_to_step(self, message: GoToStep) -> None:
        if self.reachable(message.step_id):
            self.goto(message.step_id)
        else:
            self.notify("Finish the steps before it first.", severity="warning")

    # -- status --------------------------------------------------------------------------------------
    def _status_changed(self, step_id: str) -> None:
        # Called by the session from whichever thread marked the step; post_message is thread-safe.
        self.post_message(StepsChanged(step_id))

    def on_steps_changed(self, _message: StepsChanged) -> None:
        screen = self._step_screens.get(self._current)
        if screen is not None:
            screen.refresh_nav()

    # -- quitting ----------------------------------------------------------------------------------
    def busy_work(self) -> list:
        return [f"{s.spec.title}: {s.busy}" for s in self._step_screens.values() if s.busy]

    async def action_quit(self) -> None:
        # Imported here: the first frame does not need it.
        from .confirm import ConfirmScreen

        self.load_shared_css()      # the question is a ConfirmScreen
        busy = self.busy_work()
        notes = [n for n in (s.quit_note() for s in self._step_screens.values()) if n]
        if notes and not busy:   # e.g. a build: it is detached and goes on, so ask, and say so
            self.push_screen(ConfirmScreen("\n".join(notes) + "\n\nQuit the wizard?", yes="Quit",
                                           no="Keep watching", danger=False),
                             lambda yes: self.exit(0) if yes else None)
            return
        if not busy:
            self.exit(0)
            return

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.workers.cancel_all()
                self.exit(0)

        question = "Work is running:\n  " + "\n  ".join(busy) + "\n\nQuit and stop it?"
        self.push_screen(ConfirmScreen(question, yes="Quit", no="Keep working"), answered)


def run_app(session, **options) -> int:
    app = WizardApp(session, **options)
    app.run()
    return app.return_code or 0
