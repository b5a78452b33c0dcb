"""`wrnv-wizard install-helper [--user NAME | --group NAME] [--remove]`: run once as root on a host without
udisks2, so that writing a card runs a root-owned copy of the helper instead of the wizard's own files.

Why: without it, sudo runs the helper from the wizard's installation (a virtualenv the user owns), so code
the user can change runs as root: the same as giving the wizard your sudo rights for that command. This puts
a copy of the helper (and the few packages it imports) in a root-owned folder and a sudoers drop-in that
allows exactly that one program (with a password) and nothing else. The wizard uses it when it is present
and its version matches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HELP = "install a root-owned copy of the card-writing helper and a sudoers rule for exactly it (run as root)"

LAUNCHER = """#!/usr/bin/python3 -I
# wrnv-wizard's card-writing helper, installed by `wrnv-wizard install-helper`. Root-owned copy: see
# `wrnv-flash-helper --help`. It writes nothing but a whole removable disk that the user confirmed.
import sys
sys.path.insert(0, {lib!r})
from wizard.card.flash_helper import main
sys.exit(main())
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group()
    who.add_argument("--user", metavar="NAME", help="the user allowed to run the helper (default: sudo's caller)")
    who.add_argument("--group", metavar="NAME", help="a group whose members may run it (e.g. sudo)")
    p.add_argument("--remove", action="store_true", help="remove the helper and its sudoers rule")


def run(args) -> int:
    from wizard.card import elevate
    from wizard.core.errors import WizardError

    if os.geteuid() != 0:
        raise WizardError("install-helper must run as root: sudo wrnv-wizard install-helper")
    if args.remove:
        elevate.SUDOERS_FILE.unlink(missing_ok=True)
        shutil.rmtree(elevate.INSTALL_DIR, ignore_errors=True)
        print(f"removed {elevate.INSTALL_DIR} and {elevate.SUDOERS_FILE}")
        return 0
    who = _who(args)
    install(elevate.INSTALL_DIR)
    rule = f"{who} ALL=(root) {elevate.INSTALLED_HELPER}\n"
    _write_sudoers(elevate.SUDOERS_FILE, rule)
    print(f"installed {elevate.INSTALLED_HELPER} (root-owned) and {elevate.SUDOERS_FILE}: {rule.strip()}")
    return 0


def _who(args) -> str:
    import grp
    import pwd

    from wizard.core.errors import WizardError

    if args.group:
        try:
            grp.getgrnam(args.group)
        except KeyError:
            raise WizardError(f"no group {args.group!r} here: give an existing group (e.g. sudo)") from None
        return f"%{args.group}"
    name = args.user or os.environ.get("SUDO_USER") or ""
    if not name or name == "root":
        err = WizardError("say who may run the helper: --user NAME or --group NAME (run through sudo, your own "
                          "user is the default)")
        err.exit_code = 2       # a usage error
        raise err
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise WizardError(f"no user {name!r} here: give an existing user") from None
    return name


def install(folder: Path) -> None:
    """A fresh root-owned copy: the wizard package and what the helper imports, then the launcher."""
    import humanize
    import pyudev

    import wizard

    tmp = Path(tempfile.mkdtemp(prefix=".wrnv-helper-", dir=str(folder.parent) if folder.parent.is_dir() else None))
    try:
        lib = tmp / "lib"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for mod in (wizard, humanize, pyudev):
            src = Path(mod.__file__).resolve().parent
            shutil.copytree(src, lib / src.name, ignore=ignore)
        (tmp / "VERSION").write_text(wizard.__version__ + "\n")
        launcher = tmp / "wrnv-flash-helper"
        launcher.write_text(LAUNCHER.format(lib=str(folder / "lib")))
        for root, _dirs, files in os.walk(tmp):
            os.chown(root, 0, 0)
            os.chmod(root, 0o755)
            for f in files:
                os.chown(os.path.join(root, f), 0, 0)
                os.chmod(os.path.join(root, f), 0o644)
        os.chmod(launcher, 0o755)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_sudoers(path: Path, rule: str) -> None:
    from wizard.core.errors import WizardError

    text = ("# wrnv-wizard install-helper: exactly the card-writing helper, as root, with a password.\n" + rule)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o440)
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    if os.path.exists(visudo):
        r = subprocess.run([visudo, "-cf", str(tmp)], capture_output=True, text=True)
        if r.returncode != 0:
            tmp.unlink()
            raise WizardError(f"visudo refused the rule: {r.stdout.strip() or r.stderr.strip()}")
    os.replace(tmp, path)
