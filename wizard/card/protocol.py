"""The messages the elevated helper sends back to the wizard: one JSON object a line on the helper's stdout.

Why one module both sides import: the helper (flash_helper, running as root) and the client (elevate, running
as the user) then cannot drift apart: a field added to a message is added for both, and a line that is not a
known message is shown to the user as output, never guessed at. The wizard talks to the helper only through
its stdin: the line `cancel` (or stdin closing) asks it to stop at the next block. With several cards in one
helper (`write-many`), progress, results and errors carry the card's index; one card's error ends that card only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Optional, Union

CANCEL = "cancel"


@dataclass
class ProgressMsg:
    """How far a phase ("Writing", "Verifying", ...) has come."""

    label: str
    done: int
    total: Optional[int] = None
    card: Optional[int] = None      # `write-many`: which card (its index in the command); None: the one card
    event = "progress"


@dataclass
class LineMsg:
    """One line of a program's output (dosdcard.sh): the wizard logs and shows it."""

    text: str
    event = "line"


@dataclass
class ResultMsg:
    """The action finished: `data` holds the WriteResult/VerifyResult fields, or {"rc": N} for dosdcard.
    `patch_sha256`: when the write was given the card's own changes (`write --patch FILE`), the sha256 of each
    record as read back from the card after writing it, in the file's order; the wizard compares them with
    its own."""

    ok: bool = True
    data: dict = field(default_factory=dict)
    patch_sha256: Optional[list] = None
    card: Optional[int] = None      # `write-many`: this card's result; None: the whole action's
    event = "result"


@dataclass
class ErrorMsg:
    """The action failed or was refused: `card_state` (may be empty) says what the card holds now."""

    problem: str
    card_state: str = ""
    exit_code: int = 1
    card: Optional[int] = None      # `write-many`: this card failed (the others go on); None: the whole action
    event = "error"

    @property
    def message(self) -> str:
        return f"{self.problem}. {self.card_state}" if self.card_state else self.problem


Message = Union[ProgressMsg, LineMsg, ResultMsg, ErrorMsg]
_KINDS = {cls.event: cls for cls in (ProgressMsg, LineMsg, ResultMsg, ErrorMsg)}


def encode(msg: Message) -> str:
    """One line (no newline) for the helper's stdout."""
    return json.dumps({"event": msg.event, **asdict(msg)}, separators=(",", ":"))


def decode(line: str) -> Optional[Message]:
    """The message on `line`, or None when the line is not one (then it is plain output)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    cls = _KINDS.get(obj.get("event"))
    if cls is None:
        return None
    known = {f.name for f in fields(cls)}
    try:
        msg = cls(**{k: v for k, v in obj.items() if k in known})
    except TypeError:
        return None
    return msg if _well_typed(msg) else None


def _well_typed(msg: Message) -> bool:
    card = getattr(msg, "card", None)
    if card is not None and (not isinstance(card, int) or isinstance(card, bool) or card < 0):
        return False
    if isinstance(msg, ProgressMsg):
        return isinstance(msg.label, str) and isinstance(msg.done, int) and (msg.total is None
                                                                           or isinstance(msg.total, int))
    if isinstance(msg, LineMsg):
        return isinstance(msg.text, str)
    if isinstance(msg, ResultMsg):
        return isinstance(msg.ok, bool) and isinstance(msg.data, dict) and (
            msg.patch_sha256 is None or (isinstance(msg.patch_sha256, list) and all(
                isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d)
                for d in msg.patch_sha256)))
    return isinstance(msg.problem, str) and isinstance(msg.card_state, str) and isinstance(msg.exit_code, int)
