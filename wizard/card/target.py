"""What the card step may write: a whole disk (wizard.card.disks.Disk) or a regular file (a VM's disk image),
and the one rule that decides which a path is.

Why here: the CLI, the Flash screen and the writer must agree on what a path means before anything is
written, and the decision must be made on the resolved path: `//dev/sdb`, `/dev/../dev/sdb` and a folder
symlinked to /dev all name the same place, and nothing is ever created under /dev (bmaptool's issue #55:
a mistyped device name became a regular file in /dev, and the card was never written).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from wizard.core.errors import WizardError

LARGE_BYTES = 128_000_000_000  # decimal, as drives are sold: above it the user confirms twice


def resolve(path) -> tuple:
    """(resolved path, kind): kind is "block", "file" (exists) or "new" (a file to create).
    Raises WizardError for anything else: a missing device, a path under /dev that is not a disk, a folder."""
    given = str(path)
    real = os.path.realpath(os.path.abspath(os.path.expanduser(given)))
    under_dev = real == "/dev" or real.startswith("/dev/")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        if under_dev:
            raise WizardError(f"{given} does not exist: the card was removed or the name is mistyped (nothing is "
                              "ever created under /dev); plug it in and pick it again") from None
        if not os.path.isdir(os.path.dirname(real)):
            raise WizardError(f"cannot create {given}: folder {os.path.dirname(real)} does not exist") from None
        return real, "new"
    except OSError as e:
        raise WizardError(f"cannot look at {given}: {e.strerror}") from None
    if stat.S_ISBLK(st.st_mode):
        return real, "block"
    if under_dev:
        raise WizardError(f"{given} is not a disk: give a card such as /dev/sdb")
    if stat.S_ISREG(st.st_mode):
        return real, "file"
    raise WizardError(f"{given} is neither a disk nor a regular file: give a card such as /dev/sdb")


@dataclass
class FileTarget:
    """A regular file as the target (a VM's disk image). It has no disk identity: it is written only in the
    user's own process, with the user's rights, and an existing one only after the user confirmed it."""

    path: str
    exists: bool = False
    size_bytes: int = 0
    large = False
    offered = True

    @classmethod
    def at(cls, path) -> FileTarget:
        real, kind = resolve(path)
        if kind == "block":
            raise WizardError(f"{path} is a disk: pick it in the list of cards")
        size = os.stat(real).st_size if kind == "file" else 0
        return cls(path=real, exists=kind == "file", size_bytes=size)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def identity(self):
        return None

    def identity_lines(self) -> list:
        what = f"an existing file of {self.size_bytes:,} bytes: it is overwritten" if self.exists else "a new file"
        return [f"File:        {self.path}", f"Kind:        {what}"]
