"""A wizard session: the profile, the project, its saved state and answers. Screens, the CLI and the plain
mode hold one Session and drive the step controllers through it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from wizard.core.answers import Answers
from wizard.core.errors import WizardError
from wizard.core.profile import Profile, load_profile
from wizard.core.state import State, StepState
from wizard.core.steps import STEP_IDS, STEPS, Status


class Session:
    def __init__(self, profile: Profile, project: Path, state: Optional[State] = None):
        self.base_profile = profile
        self.state = state or State.load(project)
        self.state.profile = profile.id
        self.answers = Answers.from_dict(self.state.answers, base=Answers.defaults(profile), origin=str(self.state.path))
        self.answers.project_dir = str(project)
        self._listeners: list = []
        # A line shown on every screen (the demo says it is a demo); empty for real runs.
        self.banner = ""

    @classmethod
    def open(cls, project=None, profile: Optional[str] = None) -> Session:
        prof = load_profile(profile)
        proj = Path(project).expanduser().resolve() if project else None
        if proj is None:
            proj = Answers.defaults(prof).project
        return cls(prof, proj)

    # -- facts ---------------------------------------------------------------------------------
    @property
    def profile(self) -> Profile:
        """The profile with the user's mirror overrides applied."""
        return self.answers.effective_profile(self.base_profile)

    @property
    def project(self) -> Path:
        return self.answers.project

    @property
    def steps(self) -> tuple:
        return STEPS

    def step_state(self, step_id: str) -> StepState:
        return self.state.steps[step_id]

    def status(self, step_id: str) -> Status:
        return self.state.steps[step_id].status

    def first_unfinished(self) -> str:
        return self.state.first_unfinished()

    # -- changes (each one saved at once) --------------------------------------------------------
    def on_change(self, fn: Callable[[str], None]) -> None:
        """Register a listener called with the step id after each status change (the sidebar uses it)."""
        self._listeners.append(fn)

    def mark(self, step_id: str, status: Status, detail: str = "", **data) -> None:
        st = self.state.steps[step_id]
        now = time.time()
        if status is Status.RUNNING:
            st.started, st.finished = now, None
        elif status in (Status.DONE, Status.FAILED, Status.SKIPPED):
            if st.started is None:
                st.started = now
            st.finished = now
        st.status, st.detail = status, detail
        st.data.update(data)
        self.save()
        for fn in list(self._listeners):
            fn(step_id)

    def update_answers(self, **changes) -> None:
        merged = Answers.from_dict(changes, base=self.answers, origin="answers")
        merged.validate(self.base_profile)
        old_answers, old_path = self.answers, self.state.path
        if merged.project_dir != self.answers.project_dir:
            self.state.path = State.file_for(merged.project)
        self.answers = merged
        try:
            self.save()
        except WizardError:
            self.answers, self.state.path = old_answers, old_path    # nothing changes when nothing was saved
            raise

    def save(self) -> None:
        self.state.answers = self.answers.to_dict()
        try:
            self.state.save()
        except OSError as e:
            raise WizardError(f"cannot save the wizard's state in {self.state.path.parent} ({e.strerror}); "
                              "free some space or choose a project folder you can write") from None

    def reset_from(self, step_id: str) -> None:
        """Mark a step and every later one pending again (e.g. after changing the board)."""
        for sid in STEP_IDS[STEP_IDS.index(step_id):]:
            self.state.steps[sid] = StepState()
        self.save()

    def reload(self) -> None:
        """Re-read the saved state after a headless command (another Session) changed it."""
        fresh = State.load(self.project)
        fresh.profile = self.base_profile.id
        self.state = fresh
        self.answers = Answers.from_dict(fresh.answers, base=self.answers, origin=str(fresh.path))
