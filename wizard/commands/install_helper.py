"""`wrnv-wizard install-helper [--user NAME | --group NAME] [--remove]`: run once as root on a host without
udisks2, so that writing a card runs a root-owned copy of the helper instead of the wizard's own files.

Why: without it, sudo runs the helper from the wizard's installation (a virtualenv the user owns), so code
the user can change runs as root: the same as giving the wizard your sudo rights for that command. This puts
a copy of the helper (and the few packages it imports) in a root-owned folder and a sudoers drop-in that
allows exactly that one program (with a password) and nothing else; where polkitd is installed, also a polkit
action bound to that program's path and a rule for the same user or group, so pkexec runs it and nothing else. The wizard uses it when it is present
and its version matches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HELP = ("install a root-owned copy of the card-writing helper and a sudoers rule and polkit action for exactly "
        "it (run as root)")

# pkexec maps a program to a polkit action by this annotation (exact path): the helper gets an action of its
# own, and a rule lets the chosen user (or group) run it with their own password - what the sudoers line does.
# Any other program under pkexec stays org.freedesktop.policykit.exec (an administrator's password).
ACTION_ID = "org.wrnv-wizard.flash-helper"
POLKIT_ACTIONS = Path("/usr/share/polkit-1/actions")
POLICY_FILE = POLKIT_ACTIONS / f"{ACTION_ID}.policy"
RULES_FILE = Path("/etc/polkit-1/rules.d/49-wrnv-wizard.rules")

POLICY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<!-- wrnv-wizard install-helper: exactly the card-writing helper, through pkexec. -->
<policyconfig>
  <vendor>wrnv-wizard</vendor>
  <action id="{action}">
    <description>Write an SD card with wrnv-wizard's helper</description>
    <message>Authentication is required to write the card</message>
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin_keep</allow_active>
    </defaults>
    <annotate key="org.freedesktop.policykit.exec.path">{program}</annotate>
  </action>
</policyconfig>
"""

RULES = """// wrnv-wizard install-helper: {who} may run exactly the card-writing helper through pkexec with their own
// password (the action above is bound to that one program path).
polkit.addRule(function(action, subject) {{
    if (action.id == {action} && {test})
        return polkit.Result.AUTH_SELF_KEEP;
}});
"""

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
        for path in (elevate.SUDOERS_FILE, RULES_FILE, POLICY_FILE):
            path.unlink(missing_ok=True)
        shutil.rmtree(elevate.INSTALL_DIR, ignore_errors=True)
        print(f"removed {elevate.INSTALL_DIR}, {elevate.SUDOERS_FILE} and the polkit action {ACTION_ID}")
        return 0
    who = _who(args)
    install(elevate.INSTALL_DIR)
    rule = f"{who} ALL=(root) {elevate.INSTALLED_HELPER}\n"
    _write_sudoers(elevate.SUDOERS_FILE, rule)
    print(f"installed {elevate.INSTALLED_HELPER} (root-owned) and {elevate.SUDOERS_FILE}: {rule.strip()}")
    if POLKIT_ACTIONS.is_dir():         # polkitd is here: pkexec may run the helper too, and only it
        write_polkit(elevate.INSTALLED_HELPER, who)
        print(f"installed the polkit action {ACTION_ID} ({POLICY_FILE}, {RULES_FILE}): pkexec runs exactly "
              f"{elevate.INSTALLED_HELPER} for {who}")
    return 0


def write_polkit(program: Path, who: str) -> None:
    """The action file for `program` and the rule for `who` (a sudoers-style name: `user` or `%group`)."""
    import json

    from wizard.core.atomic import atomic_write

    if who.startswith("%"):
        test = f"subject.isInGroup({json.dumps(who[1:])})"
    else:
        test = f"subject.user == {json.dumps(who)}"
    # 0644: polkitd reads them as its own user.
    atomic_write(POLICY_FILE, POLICY.format(action=ACTION_ID, program=str(program)), mode=0o644)
    atomic_write(RULES_FILE, RULES.format(who=who, action=json.dumps(ACTION_ID), test=test), mode=0o644)


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
