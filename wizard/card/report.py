"""The record of a flashing session: which card became which board, and whether each one can be trusted.

A desk session writes many cards; afterwards someone has to label them and, later, find out which board was
written from which card when one misbehaves. So the report names each card by its model and serial as well as
its device path (paths are reused as soon as a card is pulled), and keeps failures with their one-line reason.
JSON is for scripts (its shape is REPORT_SCHEMA, versioned); Markdown is for people and the Summary step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import humanize

from wizard.core.atomic import atomic_write
from wizard.core.errors import WizardError

FORMAT = "wrnv-wizard flash session report"
VERSION = 1


class ReportError(WizardError):
    """A report file that cannot be read back."""


@dataclass
class CardRecord:
    """One card of the session. `error` is None for a card that was written and verified."""
    device: str
    model: str = ""
    serial: str = ""
    size_bytes: int = 0
    hostname: str | None = None
    bytes_written: int = 0
    verified: bool = False
    verified_how: str = ""  # e.g. "read back all 15.8 GB and compared"; for customised cards also the files
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.verified


@dataclass
class SessionReport:
    image: str
    started: str = field(default_factory=lambda: _now())
    finished: str = ""
    cards: list = field(default_factory=list)

    def add(self, card: CardRecord) -> CardRecord:
        self.cards.append(card)
        return card

    def finish(self) -> None:
        self.finished = _now()

    @property
    def totals(self) -> dict:
        ok = sum(1 for c in self.cards if c.ok)
        return {"cards": len(self.cards), "ok": ok, "failed": len(self.cards) - ok,
                "bytes_written": sum(c.bytes_written for c in self.cards),
                "wall_seconds": round(self.wall_seconds, 3)}

    @property
    def wall_seconds(self) -> float:
        """Session time from start to finish; with cards written at once this is less than their sum."""
        try:
            return max(0.0, (datetime.fromisoformat(self.finished) - datetime.fromisoformat(self.started))
                       .total_seconds())
        except ValueError:
            return max((c.seconds for c in self.cards), default=0.0)

    @property
    def all_ok(self) -> bool:
        """The exit status rule: 0 only when there were cards and every one is written and verified."""
        return bool(self.cards) and all(c.ok for c in self.cards)

    # ---------------------------------------------------------- JSON

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "image": self.image, "started": self.started,
                "finished": self.finished, "cards": [asdict(c) for c in self.cards], "totals": self.totals}

    def write_json(self, path) -> Path:
        return atomic_write(path, json.dumps(self.to_dict(), indent=2) + "\n", mode=0o644)

    @classmethod
    def from_dict(cls, data, where: str = "report") -> SessionReport:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReportError(f"{where} is not a flash session report; give the .json file the flash step wrote")
        if data.get("version") != VERSION:
            raise ReportError(f"{where} is a version {data.get('version')!r} report; this wizard reads "
                              f"version {VERSION}; update the wizard")
        names = {f.name: f for f in fields(CardRecord)}
        cards = []
        for i, c in enumerate(data.get("cards") or []):
            if not isinstance(c, dict) or not isinstance(c.get("device"), str):
                raise ReportError(f"{where}: card {i + 1} has no device; the file is damaged")
            unknown = set(c) - set(names)
            if unknown:
                raise ReportError(f"{where}: card {i + 1} has unknown field {sorted(unknown)[0]!r}; "
                                  "the file is damaged or from a newer wizard")
            cards.append(CardRecord(**c))
        return cls(image=str(data.get("image", "")), started=str(data.get("started", "")),
                   finished=str(data.get("finished", "")), cards=cards)

    @classmethod
    def read_json(cls, path) -> SessionReport:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ReportError(f"cannot read {path}: {e.strerror}; check the path") from None
        except ValueError:
            raise ReportError(f"{path} is not valid JSON; give the .json file the flash step wrote") from None
        return cls.from_dict(data, str(path))

    # ---------------------------------------------------------- Markdown

    def to_markdown(self) -> str:
        t = self.totals
        lines = [f"# Flashing session: {_md(Path(self.image).name)}", "",
                 f"- Image: `{self.image}`",
                 f"- Started {self.started or '-'}, finished {self.finished or '-'} "
                 f"({humanize.precisedelta(t['wall_seconds'], minimum_unit='seconds', format='%0.0f')})",
                 f"- Cards: {t['cards']}, written and verified: {t['ok']}, failed: {t['failed']}; "
                 f"{humanize.naturalsize(t['bytes_written'])} written in all", "",
                 "| # | Device | Model | Serial | Size | Host name | Written | Verified | Time | Result |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for i, c in enumerate(self.cards, 1):
            verified = ("yes: " + c.verified_how) if c.verified else "no"
            lines.append("| " + " | ".join(_md(x) for x in (
                str(i), c.device, c.model or "-", c.serial or "-",
                humanize.naturalsize(c.size_bytes) if c.size_bytes else "-", c.hostname or "-",
                humanize.naturalsize(c.bytes_written), verified, f"{c.seconds:.1f} s",
                "ok" if c.ok else f"FAILED: {c.error or 'not verified'}")) + " |")
        if not self.cards:
            lines.append("| - | no card was written | | | | | | | | |")
        return "\n".join(lines) + "\n"

    def write_markdown(self, path) -> Path:
        return atomic_write(path, self.to_markdown(), mode=0o644)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _md(text: str) -> str:
    """A table cell: pipes escaped and line breaks folded, so a device model or error cannot break the table."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())


REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": FORMAT,
    "type": "object",
    "required": ["format", "version", "image", "started", "finished", "cards", "totals"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "image": {"type": "string"},
        "started": {"type": "string"},
        "finished": {"type": "string"},
        "cards": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["device", "model", "serial", "size_bytes", "hostname", "bytes_written", "verified",
                         "verified_how", "seconds", "error"],
            "properties": {
                "device": {"type": "string"}, "model": {"type": "string"}, "serial": {"type": "string"},
                "size_bytes": {"type": "integer", "minimum": 0}, "hostname": {"type": ["string", "null"]},
                "bytes_written": {"type": "integer", "minimum": 0}, "verified": {"type": "boolean"},
                "verified_how": {"type": "string"}, "seconds": {"type": "number", "minimum": 0},
                "error": {"type": ["string", "null"]}}}},
        "totals": {"type": "object", "additionalProperties": False,
                   "required": ["cards", "ok", "failed", "bytes_written", "wall_seconds"],
                   "properties": {"cards": {"type": "integer"}, "ok": {"type": "integer"},
                                  "failed": {"type": "integer"}, "bytes_written": {"type": "integer"},
                                  "wall_seconds": {"type": "number"}}},
    },
}
