"""Errors the user sees as one line: what went wrong and what to do.

Anything raised as a WizardError is printed by the CLI without a traceback; anything else is a bug.
"""

from __future__ import annotations


class WizardError(Exception):
    """A problem the user can fix. The message is one line that ends with what to do."""

    exit_code = 1


class UsageError(WizardError):
    """Wrong command-line use (exit code 2, like argparse)."""

    exit_code = 2


class ProfileError(WizardError):
    """A release profile or manifest that cannot be used; names the file, the key and the problem."""

    def __init__(self, path, key: str, problem: str):
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(f"{where}{problem}")
