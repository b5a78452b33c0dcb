"""The per-card options of Write the card (host name pattern, SSH key, no password-less root login), kept as
one line in the step with a button that opens their dialog (screens/flash_options_dialog.py): at 80x24 the
table, the results and the next action need the rows more than three input boxes do.

The values are only what the user typed; every check is the engine's (wizard.card.customise), so the step, the
dialog and `flash --hostname ... --ssh-key ...` refuse the same input with the same line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from wizard.card.customise import CardOptionError, CardOptions, expand_hostnames, load_public_key

SSHD_WORDS = "PermitEmptyPasswords no in /etc/ssh/sshd_config"


@dataclass(frozen=True)
class PerCard:
    """What the user asked for each card. Empty strings mean "leave it as the image has it"."""
    pattern: str = ""
    key_file: str = ""
    no_empty_password_ssh: bool = False

    @property
    def empty(self) -> bool:
        return not self.pattern and not self.key_file

    def key_path(self) -> Path:
        return Path(self.key_file).expanduser()

    def names(self, count: int, taken: frozenset = frozenset()) -> list:
        """Host names for `count` cards, the pattern's numbers that no board in `taken` has (CardOptionError
        when the pattern is bad)."""
        if not self.pattern:
            return [None] * count
        return expand_hostnames(self.pattern, count, taken=taken)

    def check_session(self) -> None:
        """For "write every card I insert": the pattern must number the cards (two cards, two names)."""
        self.names(2)
        if self.key_file:
            load_public_key(self.key_path())

    def options(self, count: int, taken: frozenset = frozenset()) -> list:
        """One CardOptions per card, or [None] * count when nothing is asked; everything is read and checked
        now (the key file again: it may have changed since it was chosen)."""
        if self.empty:
            return [None] * count
        names = self.names(count, taken)
        key = load_public_key(self.key_path()) if self.key_file else None
        return [CardOptions(hostname=n, ssh_key=key, no_empty_password_ssh=bool(key) and self.no_empty_password_ssh)
                for n in names]

    def summary(self, devices: list, taken: frozenset = frozenset()) -> str:
        """One line: what each card gets, the names in pick order (`devices`, or the next ones)."""
        if self.empty:
            return "none: each card is as the image is"
        # At 80 columns the line is cut at its end: the names of the marked cards first (what changes as they
        # are marked), else the key first (a list of names reads as cut anyway).
        names, key = "", ""
        if self.key_file:
            key = f"key {self.key_path().name}" + (", no password-less SSH" if self.no_empty_password_ssh else "")
        if self.pattern:
            try:
                if devices:
                    names = ", ".join(f"{d}→{n}" for d, n in zip(devices, self.names(len(devices), taken)))
                else:
                    listed = self.names(3, taken) if "{" in self.pattern else self.names(1, taken)
                    names = ", ".join(listed) + ("…" if len(listed) > 1 else "")
            except CardOptionError as e:
                names = str(e)
        parts = [names, key] if devices else [key, names]
        parts = [p for p in parts if p]
        return "; ".join(parts)


def key_suggestion() -> str:
    """The user's usual public key, when there is one: offered in the dialog, never chosen for them."""
    for name in ("id_ed25519.pub", "id_rsa.pub"):
        path = Path.home() / ".ssh" / name
        if path.is_file():
            return f"~/.ssh/{name}"
    return ""


class CardOptionsLine(Horizontal):
    """The options' one line in the step and the button to change them (the screen opens the dialog)."""

    DEFAULT_CSS = """
    CardOptionsLine { height: auto; }
    CardOptionsLine #flash-options-text { width: 1fr; height: auto; max-height: 2; margin-left: 1; }
    CardOptionsLine Button { width: auto; }
    """

    def compose(self) -> ComposeResult:
        # The button first: at 80 columns a long line is cut at its end, never the way to change it.
        yield Button("Per-card options…", id="flash-options-button", compact=True)
        yield Static("", id="flash-options-text", markup=False)

    def show(self, choice: PerCard, devices: list, taken: frozenset = frozenset()) -> None:
        self.query_one("#flash-options-text", Static).update(choice.summary(devices, taken))

    def text(self) -> str:
        return str(self.query_one("#flash-options-text", Static).render())
