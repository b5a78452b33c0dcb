"""Run a command inside the Wind River build environment.

Every bitbake-related command needs the same preamble, in this order: the buildtools environment
(`environment-setup-x86_64-wrlinuxsdk-linux`, which brings the Python that Zeus's bitbake needs), then
`oe-init-build-env build`. One helper builds that argv so every step does it the same way.

A project laid out by kas has neither script in its folder (setup.sh writes them there): kas sources the
oe-init-build-env of the repository that holds one, with the build folder, and brings no buildtools; the
same is done here, so the Build step runs in such a project as `kas shell` would.
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.core.profile import Profile

_PREAMBLE = ('cd "$1" || exit 1; shift; '
             '[ "$1" = - ] || . "./$1" || exit 1; shift; '
             '. "./$1" "$2" >/dev/null || exit 1; shift 2; '
             'exec "$@"')


def build_env_argv(profile: Profile, project: Path, argv: list) -> list:
    """argv that runs `argv` in `project`'s build environment (bash sources both scripts first)."""
    wr = profile.wrlinux
    env_script, init = wr.environment_script, wr.init_build_env
    if not (Path(project) / init).exists():
        found = _init_script_in_repos(Path(project), init)
        if found is not None:
            init = found
            env_script = env_script if (Path(project) / env_script).exists() else "-"
    return ["bash", "-c", _PREAMBLE, "wrnv-buildenv", str(project), env_script,
            init, wr.build_dir, *[str(a) for a in argv]]


def missing_env_scripts(profile: Profile, project: Path) -> list:
    """The build environment's scripts that are not there (paths): setup.sh's two at the project root, unless
    the project is laid out by kas, whose one oe-init-build-env lives in a repository (see build_env_argv)."""
    project = Path(project)
    wr = profile.wrlinux
    if not (project / wr.init_build_env).is_file() and _init_script_in_repos(project, wr.init_build_env):
        return []
    return [project / name for name in (wr.environment_script, wr.init_build_env) if not (project / name).is_file()]


def _init_script_in_repos(project: Path, name: str):
    """The one `<repo>/oe-init-build-env` under the project (kas's layout: repos one or two levels down), as a
    path relative to the project; None when there is none or more than one (kas refuses that too)."""
    found = [p for pattern in (f"*/{name}", f"*/*/{name}") for p in sorted(project.glob(pattern)) if p.is_file()]
    return str(found[0].relative_to(project)) if len(found) == 1 else None


def build_env_vars(base: dict | None = None) -> dict:
    """Environment for bitbake: a UTF-8 locale (bitbake refuses to start without one)."""
    env = dict(os.environ if base is None else base)
    env["LANG"] = env.get("WRNV_LANG", "en_US.UTF-8")
    env.pop("LC_ALL", None)
    return env


def build_dir(profile: Profile, project: Path) -> Path:
    return Path(project) / profile.wrlinux.build_dir
