"""Where things live: shipped assets, the user's config/cache, and a project's own files."""

from __future__ import annotations

import os
from pathlib import Path

# wizard/core/paths.py -> the wizard package folder.
_HERE = Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    """Installed: wizard/assets (mapped from the repo's assets/). From a checkout: ../assets."""
    installed = _HERE / "assets"
    if (installed / "profiles").is_dir():
        return installed
    return _HERE.parent / "assets"


def asset(*parts: str) -> Path:
    return assets_dir().joinpath(*parts)


def profiles_dir() -> Path:
    return asset("profiles")


def cache_dir() -> Path:
    """The user's cache folder (XDG); WRNV_CACHE_DIR overrides it (tests, sandboxes)."""
    env = os.environ.get("WRNV_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("wrnv-wizard"))


def default_downloads_dir() -> Path:
    return Path.home() / "Downloads" / "nvidia" / "sdkm_downloads"


def default_project_dir() -> Path:
    return Path.home() / "wrlinux-jetson"


def wizard_dir(project: Path) -> Path:
    """The wizard's own files inside a project: state, logs."""
    return Path(project) / ".wrnv-wizard"


def logs_dir(project: Path) -> Path:
    return wizard_dir(project) / "logs"
