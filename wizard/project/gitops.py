"""Quick read-only git questions (is this a clone of that URL, which commit is checked out, is it dirty) and
the login helper for cloning from a server that asks for a password.

Long git work (clone, checkout) runs through wizard.core.procrun so the user sees it; these helpers are the short
queries that decide whether that work is needed at all, which is what makes every step safe to re-run.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlparse

# Never let git wait for a password on a terminal nobody is looking at: fail and say so instead.
NO_PROMPT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}


def git_env(extra: Optional[dict] = None) -> dict:
    env = {**os.environ, **NO_PROMPT_ENV}
    if extra:
        env.update(extra)
    return env


def query(repo, *args: str) -> Optional[str]:
    """stdout of `git -C repo args` stripped, or None when git fails."""
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], env=git_env(), capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def is_repo_root(path) -> bool:
    """True when `path` is the top of a git work tree (not merely inside another repository)."""
    path = Path(path)
    if not (path / ".git").exists():
        return False
    top = query(path, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == path.resolve()


def origin_url(repo) -> Optional[str]:
    return query(repo, "config", "--get", "remote.origin.url")


def head(repo) -> Optional[str]:
    return query(repo, "rev-parse", "--verify", "-q", "HEAD")


def current_branch(repo) -> Optional[str]:
    """The checked-out branch, or None when HEAD is detached."""
    return query(repo, "symbolic-ref", "-q", "--short", "HEAD")


def has_commit(repo, sha: str) -> bool:
    return query(repo, "cat-file", "-e", f"{sha}^{{commit}}") is not None


def remote_branch_tip(repo, branch: str) -> Optional[str]:
    return query(repo, "rev-parse", "--verify", "-q", f"refs/remotes/origin/{branch}^{{commit}}")


def is_ancestor(repo, older: str, newer: str) -> bool:
    try:
        r = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer], env=git_env(),
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def changed_files(repo) -> list:
    """Tracked files with local changes (untracked files do not stop a checkout, so they are not counted)."""
    out = query(repo, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in (out or "").splitlines() if line.strip()]


def short(sha: Optional[str]) -> str:
    return (sha or "?")[:12]


def normalize_url(url: str) -> str:
    """Compare clone URLs loosely: file:///x == /x, trailing slash and .git ignored."""
    url = url.strip()
    p = urlparse(url)
    if p.scheme == "file" or (not p.scheme and url.startswith("/")):
        path = p.path if p.scheme else url
        return "file://" + os.path.normpath(path).removesuffix(".git")
    return url.rstrip("/").removesuffix(".git").lower()


def same_url(a: Optional[str], b: Optional[str]) -> bool:
    return bool(a) and bool(b) and normalize_url(a) == normalize_url(b)


@contextmanager
def askpass_env(user: str, password: str) -> Iterator[dict]:
    """Environment for git that answers a server's login prompts without putting the password in argv or on
    disk: a tiny askpass script reads it from this process's environment (passed only to git)."""
    folder = tempfile.mkdtemp(prefix="wrnv-askpass-")
    script = Path(folder) / "askpass.sh"
    script.write_text('#!/bin/sh\ncase "$1" in\n  Username*|username*) printf "%s\\n" "$WRNV_GIT_USER" ;;\n'
                      '  *) printf "%s\\n" "$WRNV_GIT_PASSWORD" ;;\nesac\n')
    script.chmod(stat.S_IRWXU)
    try:
        yield {"GIT_ASKPASS": str(script), "GIT_TERMINAL_PROMPT": "0", "WRNV_GIT_USER": user,
               "WRNV_GIT_PASSWORD": password}
    finally:
        script.unlink(missing_ok=True)
        os.rmdir(folder)
