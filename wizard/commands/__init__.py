"""Subcommands of `wrnv-wizard`, as data: name -> module. Each module defines

    HELP: str                       one line for --help
    add_arguments(parser) -> None   its flags
    run(args) -> int                the exit code (raise WizardError for a one-line failure)

Modules are imported only when their command runs (or for --help), so the TUI starts fast.
"""

from __future__ import annotations

COMMANDS = {
    "doctor": "wizard.commands.doctor",
    "verify-downloads": "wizard.commands.verify_downloads",
    "setup": "wizard.commands.setup",
    "localconf": "wizard.commands.localconf",
    "export-kas": "wizard.commands.export_kas",
    "build": "wizard.commands.build",
    "log-summary": "wizard.commands.log_summary",
    "image": "wizard.commands.image",
    "disks": "wizard.commands.disks",
    "flash": "wizard.commands.flash",
    "firmware": "wizard.commands.firmware",
    "verify": "wizard.commands.verify",
    "install-helper": "wizard.commands.install_helper",
    "check-board": "wizard.commands.check_board",
    "answers": "wizard.commands.answers",
}
