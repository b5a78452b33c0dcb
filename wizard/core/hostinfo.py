"""Facts about the build host: distribution, free disk, memory, locales, tools. Read, never changed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Distro:
    id: str            # "ubuntu", "debian", "fedora", ...
    version: str       # "18.04"
    like: tuple        # ID_LIKE words
    pretty: str

    @property
    def key(self) -> str:
        """The form Wind River's SANITY_TESTED_DISTROS uses: "ubuntu-18.04"."""
        return f"{self.id}-{self.version}" if self.version else self.id

    @property
    def family(self) -> str:
        words = (self.id, *self.like)
        if any(w in ("debian", "ubuntu") for w in words):
            return "debian"
        if any(w in ("fedora", "rhel", "centos") for w in words):
            return "fedora"
        if any(w.startswith("opensuse") or w in ("suse", "sles", "sled") for w in words):
            return "suse"
        return "unknown"


def read_os_release(path: Path = Path("/etc/os-release")) -> Distro:
    fields: dict = {}
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip('"').strip("'")
    except OSError:
        pass
    return Distro(id=fields.get("ID", "unknown").lower(), version=fields.get("VERSION_ID", ""),
                  like=tuple(fields.get("ID_LIKE", "").lower().split()),
                  pretty=fields.get("PRETTY_NAME", fields.get("ID", "unknown")))


def existing_parent(path: Path) -> Path:
    """The nearest folder that exists (a project folder may not be created yet)."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing_parent(path)).free


def total_memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def locales(env: Optional[dict] = None) -> set:
    """Locale names `locale -a` lists, normalised (en_US.utf8 -> en_us.utf8)."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {normalise_locale(x) for x in out.split()}


def normalise_locale(name: str) -> str:
    return name.lower().replace("utf-8", "utf8")


def is_wsl() -> bool:
    try:
        return "microsoft" in Path("/proc/version").read_text().lower()
    except OSError:
        return False


def tool_version(argv: list, env: Optional[dict] = None) -> Optional[tuple]:
    """Run a `python -c` style version probe; returns a version tuple or None if it did not run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or "") + (out.stderr or "")
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if out.returncode != 0 or not m:
        return None
    return tuple(int(x) for x in m.groups() if x is not None)


def parse_version(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))
