"""Messages that go up from widgets and screens to the app."""

from __future__ import annotations

from textual.message import Message


class StepsChanged(Message):
    """A step's status changed (posted from any thread through the session listener)."""

    def __init__(self, step_id: str) -> None:
        super().__init__()
        self.step_id = step_id


class GoToStep(Message):
    """Ask the app to show a step."""

    def __init__(self, step_id: str) -> None:
        super().__init__()
        self.step_id = step_id
