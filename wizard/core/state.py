"""Saved state of one project: answers and each step's status with times, in <project>/.wrnv-wizard/.

Written atomically on every change. A state file that cannot be read is renamed aside (never deleted)
and reported, and the wizard starts fresh.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wizard.core.atomic import atomic_write
from wizard.core.paths import wizard_dir
from wizard.core.steps import STEP_IDS, Status

STATE_VERSION = 1


@dataclass
class StepState:
    status: Status = Status.PENDING
    started: Optional[float] = None
    finished: Optional[float] = None
    detail: str = ""
    data: dict = field(default_factory=dict)   # per-step facts (build pid, image path, card written, ...)

    def to_json(self) -> dict:
        return {"status": self.status.value, "started": self.started, "finished": self.finished,
                "detail": self.detail, "data": self.data}

    @classmethod
    def from_json(cls, d: dict) -> StepState:
        return cls(status=Status(d.get("status", "pending")), started=d.get("started"), finished=d.get("finished"),
                   detail=str(d.get("detail", "")), data=dict(d.get("data") or {}))

    @property
    def duration(self) -> Optional[float]:
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else time.time()
        return max(end - self.started, 0.0)


class StateFileError(Exception):
    pass


@dataclass
class State:
    path: Path
    profile: str = ""
    answers: dict = field(default_factory=dict)
    steps: dict = field(default_factory=lambda: {s: StepState() for s in STEP_IDS})
    # Set when a corrupt file was moved aside during load: the message to show the user.
    recovered_from: str = ""

    @staticmethod
    def file_for(project: Path) -> Path:
        return wizard_dir(project) / "state.json"

    @classmethod
    def load(cls, project: Path) -> State:
        path = cls.file_for(Path(project))
        try:
            if not path.exists():
                return cls(path=path)
        except OSError as e:
            from wizard.core.errors import WizardError

            raise WizardError(f"cannot read {path} ({e.strerror}); choose a project folder you can enter "
                              "(--project DIR)") from None
        try:
            return cls._parse(path, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, StateFileError, TypeError, AttributeError) as e:
            aside = path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            n = 1
            while aside.exists():
                aside = path.with_name(f"state.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
                n += 1
            path.rename(aside)
            st = cls(path=path)
            st.recovered_from = (f"The saved state {path} could not be read ({_why(e)}); it was kept as "
                                 f"{aside.name} and the wizard starts fresh.")
            return st

    @classmethod
    def _parse(cls, path: Path, text: str) -> State:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise StateFileError("not a JSON object")
        if raw.get("version") != STATE_VERSION:
            raise StateFileError(f"unknown version {raw.get('version')!r}")
        steps = {s: StepState() for s in STEP_IDS}
        for sid, d in (raw.get("steps") or {}).items():
            if sid in steps:
                steps[sid] = StepState.from_json(d)
        answers = raw.get("answers") or {}
        if not isinstance(answers, dict):
            raise StateFileError("answers is not an object")
        return cls(path=path, profile=str(raw.get("profile", "")), answers=answers, steps=steps)

    def save(self) -> None:
        doc = {"version": STATE_VERSION, "profile": self.profile, "answers": self.answers,
               "steps": {sid: st.to_json() for sid, st in self.steps.items()}}
        atomic_write(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def first_unfinished(self) -> str:
        for sid in STEP_IDS:
            if not self.steps[sid].status.finished:
                return sid
        return STEP_IDS[-1]


def _why(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON at line {e.lineno}"
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(e) or type(e).__name__
