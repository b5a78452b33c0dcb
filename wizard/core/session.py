"""A wizard session: the profile, the project, its saved state and answers. Screens, the CLI and the plain
mode hold one Session and drive the step controllers through it."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from wizard.core.answers import Answers
from wizard.core.errors import WizardError
from wizard.core.profile import Profile, load_profile
from wizard.core.progress import Cancelled
from wizard.core.state import State, StepState
from wizard.core.steps import STEP_IDS, STEPS, Status

# Which answers each step is made from: changing one makes the finished step pending again.
PROJECT_KEYS = frozenset({"machine", "source", "distro", "wrlinux_url", "meta_tegra_url", "meta_tegra_commit",
                          "project_dir"})
INVALIDATES = {
    "project": PROJECT_KEYS,
    "localconf": PROJECT_KEYS | {"image", "packages", "downloads_dir", "source_mirror_url", "sstate_mirror_url"},
}


def usable_project(project: Path) -> Path:
    """A project folder the wizard can use: a folder (or not there yet, under folders), that this user may
    enter. Anything else is one line naming the folder, before any work starts."""
    import errno
    import os

    p = Path(project)
    try:
        st = p.stat()
    except FileNotFoundError:
        return p
    except NotADirectoryError:
        raise WizardError(f"project folder {p}: a part of that path is a file; give a folder") from None
    except PermissionError:
        raise WizardError(f"project folder {p}: you may not look into a folder on that path; choose a folder you "
                          "own (--project DIR)") from None
    except OSError as e:
        raise WizardError(f"project folder {p}: {os.strerror(e.errno or errno.EIO)}; choose another") from None
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise WizardError(f"project folder {p} is a file, not a folder; give a folder (it is created if missing)")
    if not os.access(p, os.X_OK | os.R_OK):
        raise WizardError(f"project folder {p}: you may not enter it; choose a folder you own (--project DIR)")
    return p


class StepRun:
    """What one run of a step found, given by the engine code inside `Session.step_run`."""

    def __init__(self, session: Session, step_id: str):
        self.session, self.step_id = session, step_id
        self.status, self.detail, self.data = Status.DONE, "", {}
        self.cancelled_detail = "stopped; run this step again to go on"

    def done(self, detail: str = "", **data) -> None:
        self.status, self.detail = Status.DONE, detail
        self.data.update(data)

    def fail(self, detail: str = "", **data) -> None:
        """The work ran to its end but its result does not pass (a bad download, a failed board check)."""
        self.status, self.detail = Status.FAILED, detail
        self.data.update(data)

    def reopen(self, detail: str = "") -> None:
        """Nothing was done after all (the user declined a question the work needs): the step stays to do."""
        self.status, self.detail = Status.PENDING, detail

    def note(self, **data) -> None:
        """Facts to keep whatever the outcome (kept on failure too)."""
        self.data.update(data)


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
        self._last_invalidated: list = []

    @classmethod
    def open(cls, project=None, profile: Optional[str] = None) -> Session:
        prof = load_profile(profile)
        proj = Path(project).expanduser().resolve() if project else None
        if proj is None:
            proj = Answers.defaults(prof).project
        usable_project(proj)
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

    # -- recording a step's outcome: the engine's job, never a screen's, plain mode's or a command's -------------
    @contextmanager
    def step_run(self, step_id: str, detail: str = "", **data) -> Iterator[StepRun]:
        """Record one run of a step: running now; failed if a WizardError escapes; pending again if it was
        cancelled; done when the block ends, with the detail and data the block gave (`run.done(...)`), or
        failed with them (`run.fail(...)`) when the work ran but its result is not good enough.

        Every engine entry point runs inside one, so the TUI, the plain mode and the headless commands leave
        the same record for the same work."""
        run = StepRun(self, step_id)
        self.mark(step_id, Status.RUNNING, detail, **data)
        try:
            yield run
        except Cancelled:
            self.mark(step_id, Status.PENDING, run.cancelled_detail)
            raise
        except WizardError as e:
            self.mark(step_id, Status.FAILED, str(e), **run.data)
            raise
        except BaseException:
            # A bug or an interrupt: the step did not finish, so it must not stay "running" forever.
            self.mark(step_id, Status.FAILED, "stopped by an unexpected error; run this step again", **run.data)
            raise
        self.mark(step_id, run.status, run.detail, **run.data)

    def complete(self, step_id: str, detail: str = "", **data) -> None:
        """A step whose whole work is a look or a choice (welcome, prerequisites, board, summary) is done."""
        self.mark(step_id, Status.DONE, detail, **data)

    def reopen(self, step_id: str, detail: str = "", **data) -> None:
        """A step is to be done (again): what it found no longer holds (a prerequisite was unticked)."""
        self.mark(step_id, Status.PENDING, detail, **data)

    def continue_anyway(self, step_id: str) -> None:
        """The user chose to go on past a step that did not pass (only where the step allows it)."""
        from wizard.core.steps import step as spec_of

        if not spec_of(step_id).continue_anyway:
            raise WizardError(f"{spec_of(step_id).title} must pass before going on; fix what it says and run it again")
        self.mark(step_id, Status.SKIPPED, "continued anyway")

    def choose_board(self, **changes) -> list:
        """Save the board & distro answers and record the Board step; returns the steps that must run again."""
        self.update_answers(**changes)
        a = self.answers
        self.complete("board", f"{a.machine}, {a.distro}, {a.image}")
        return self._last_invalidated

    def mark(self, step_id: str, status: Status, detail: str = "", **data) -> None:
        """The one writer of step records (engine only: tests/core/test_recording.py holds the others off)."""
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

    def update_answers(self, **changes) -> list:
        """Validate and save answers. A finished step built from an answer that changed is pending again
        (Create project and local.conf verify what is already done, so running them again is cheap);
        returns the ids of the steps that must run again."""
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
        changed = {k for k, v in merged.to_dict().items() if v != getattr(old_answers, k)}
        again = []
        for step_id, keys in INVALIDATES.items():
            if changed & keys and self.status(step_id).finished:
                self.mark(step_id, Status.PENDING, "board choices changed: run this step again (it verifies what "
                                                   "is already done)")
                again.append(step_id)
        self._last_invalidated = again
        return again

    def save(self) -> None:
        self.state.answers = self.answers.to_dict()
        try:
            self.state.save()
        except OSError as e:
            usable_project(self.project)
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
