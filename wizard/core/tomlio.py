"""TOML reading with one-line errors (tomllib on 3.11+, tomli before)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

from wizard.core.errors import ProfileError


def load_toml(path) -> dict:
    """Parse a TOML file; a missing, unreadable or malformed file raises ProfileError naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ProfileError(path, "", "is a folder, not a TOML file") from None
    except OSError as e:
        raise ProfileError(path, "", f"cannot read it ({e.strerror})") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(path, "", "not UTF-8 text; is this really a TOML file?") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(path, "", f"not valid TOML ({e})") from None
