"""Run a command inside the Wind River build environment.

Every bitbake-related command needs the same preamble, in this order: the buildtools environment
(`environment-setup-x86_64-wrlinuxsdk-linux`, which brings the Python that Zeus's bitbake needs), then
`oe-init-build-env build`. One helper builds that argv so every step does it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.core.profile import Profile

_PREAMBLE = ('cd "$1" || exit 1; shift; '
             '. "./$1" || exit 1; shift; '
             '. "./$1" "$2" >/dev/null || exit 1; shift 2; '
             'exec "$@"')


def build_env_argv(profile: Profile, project: Path, argv: list) -> list:
    """argv that runs `argv` in `project`'s build environment (bash sources both scripts first)."""
    wr = profile.wrlinux
    return ["bash", "-c", _PREAMBLE, "wrnv-buildenv", str(project), wr.environment_script,
            wr.init_build_env, wr.build_dir, *[str(a) for a in argv]]


def build_env_vars(base: dict | None = None) -> dict:
    """Environment for bitbake: a UTF-8 locale (bitbake refuses to start without one)."""
    env = dict(os.environ if base is None else base)
    env["LANG"] = env.get("WRNV_LANG", "en_US.UTF-8")
    env.pop("LC_ALL", None)
    return env


def build_dir(profile: Profile, project: Path) -> Path:
    return Path(project) / profile.wrlinux.build_dir
