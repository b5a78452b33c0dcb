"""The sidebar: every step in order with a status mark. Picking one asks the app to go there."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from wizard.core.steps import STEPS, Status

MARKS = {
    Status.PENDING: "○",
    Status.RUNNING: "◐",
    Status.DONE: "✔",
    Status.FAILED: "✖",
    Status.SKIPPED: "↷",
}


class StepList(OptionList):
    """Attributes go down (the session, the current step); a pick goes up as OptionSelected."""

    def __init__(self, session, current: str, **kwargs) -> None:
        self.session, self.current = session, current
        super().__init__(*[Option(self._prompt(i, s), id=s.id) for i, s in enumerate(STEPS)], **kwargs)

    def _prompt(self, i: int, spec) -> str:
        status = self.session.status(spec.id)
        mark = MARKS[status]
        here = "▶" if spec.id == self.current else " "
        return f"{here}{mark} {i + 1:>2} {spec.title}"

    def on_mount(self) -> None:
        self.highlighted = [s.id for s in STEPS].index(self.current)

    def refresh_marks(self) -> None:
        for i, spec in enumerate(STEPS):
            self.replace_option_prompt(spec.id, self._prompt(i, spec))
