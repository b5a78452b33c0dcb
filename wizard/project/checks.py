"""Looks at a project folder without changing it: is it a safe place for a new project, has setup.sh already
laid it out, which layers does its bblayers.conf use.

setup.sh (through Google's `repo`) refuses nested projects and a project inside wrlinux-x, but only after a
long clone; checking first saves the user that wait. The same facts let re-runs verify instead of redo.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from wizard.core.errors import WizardError
from wizard.core.paths import wizard_dir
from wizard.core.profile import Profile

# What setup.sh leaves at the top of a project (LTS 19): if these are there, setup has run.
SETUP_MARKERS = ("default.xml", "config/local.conf.sample", "config/bblayers.conf.sample", "layers")
# Everything setup.sh may create at the top of the project (a run that failed halfway leaves some of it).
SETUP_MADE = (".git", ".gitignore", ".gitconfig", ".templateconf", ".repo", "README", "default.xml", "config",
              "layers", "bin", "meta", "scripts", "bitbake", "build")


def check_location(project: Path, profile: Profile) -> None:
    """Raise WizardError when `project` cannot hold a Wind River project: inside a wrlinux-x clone, under a
    folder holding `.repo` (git-repo does not nest), or a file."""
    project = Path(project).expanduser().absolute()
    if project.exists() and not project.is_dir():
        raise WizardError(f"the project folder {project} is a file, not a folder: choose another project folder")
    for parent in project.parents:
        if (parent / ".repo").is_dir():
            raise WizardError(f"{parent} holds a .repo folder (another repo/Wind River project), and projects "
                              f"cannot nest: choose a project folder outside {parent}")
        if (parent / "setup.sh").is_file() and (parent / ".git").exists() and \
                (parent.name == Path(profile.wrlinux.clone_dir).name or (parent / "bin" / "setup.py").exists()):
            raise WizardError(f"the project folder {project} lies inside the wrlinux-x clone {parent}: choose a "
                              f"project folder outside it")


def is_set_up(project: Path, profile: Profile) -> bool:
    project = Path(project)
    names = (*SETUP_MARKERS, profile.wrlinux.environment_script, profile.wrlinux.init_build_env)
    return all(os.path.lexists(project / n) for n in names)


def missing_markers(project: Path, profile: Profile) -> list:
    project = Path(project)
    names = (*SETUP_MARKERS, profile.wrlinux.environment_script, profile.wrlinux.init_build_env)
    return [n for n in names if not (project / n).exists()]


def unexpected_entries(project: Path, profile: Profile) -> list:
    """Entries of a not-yet-set-up project folder that neither the wizard nor setup.sh put there."""
    project = Path(project)
    if not project.is_dir() or is_set_up(project, profile):
        return []
    ours = {wizard_dir(project).name, Path(profile.wrlinux.clone_dir).parts[0]}
    # A setup.sh run that stopped halfway leaves some of its files; they are expected, so it can run again.
    if any((project / n).exists() for n in (".repo", "default.xml", "config/saved_base_branch")):
        ours |= {*SETUP_MADE, profile.wrlinux.environment_script, profile.wrlinux.init_build_env}
    return sorted(e.name for e in project.iterdir() if e.name not in ours)


def refuse_unexpected(project: Path, profile: Profile) -> None:
    found = unexpected_entries(project, profile)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise WizardError(f"the project folder {project} already holds {shown}, which the wizard did not put "
                          f"there: choose an empty or new project folder (nothing was changed)")


def describe(path: Path) -> str:
    """A few words on what a folder holds, for "it holds something unexpected" messages."""
    if not path.exists():
        return "nothing"
    if not path.is_dir():
        return "a file"
    entries = sorted(e.name for e in path.iterdir())
    if not entries:
        return "nothing (an empty folder)"
    shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
    return f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'} ({shown})"


_BBLAYERS_RE = re.compile(r'^\s*BBLAYERS\s*(\?\?=|\?=|\+=|=\+|:=|=)\s*"([^"]*)"', re.M | re.S)


def bblayers_paths(conf: Path, topdir: Optional[Path] = None) -> list:
    """Layer folders listed in a bblayers.conf (absolute, in order), expanding ${TOPDIR}; [] if no file."""
    conf = Path(conf)
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    topdir = Path(topdir) if topdir else conf.parent.parent
    out: list = []
    for m in _BBLAYERS_RE.finditer(text):
        if m.group(1) in ("=", ":="):
            out = []
        for item in m.group(2).replace("\\\n", " ").split():
            if item == "\\":
                continue
            item = item.replace("${TOPDIR}", str(topdir))
            p = Path(item) if os.path.isabs(item) else topdir / item
            p = Path(os.path.normpath(p))
            if p not in out:
                out.append(p)
    return out
