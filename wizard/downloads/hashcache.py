"""Remembered checksums, so re-checking unchanged multi-gigabyte downloads reads no content.

An entry is trusted only while the file's (path, size, mtime_ns, inode) are unchanged: SDK Manager re-downloading,
a copy or an edit changes at least one of them. The inode change time is checked too: a file deleted and rewritten
with its old mtime restored can get the same inode number back (ext4 and overlayfs reuse them at once), and
ctime is the one stamp no user tool can set back. Its one cost: hard-linking a file (staging NoDLA/) bumps ctime,
so those files are read once more after staging. The cache lives in the user's cache folder (never in the downloads
folder, which belongs to SDK Manager) and is written atomically; a damaged cache is ignored, never fatal.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Optional

from wizard.core.atomic import atomic_write
from wizard.core.paths import cache_dir

CACHE_VERSION = 1
MAX_ENTRIES = 5000   # plenty for several releases' downloads; the oldest are dropped beyond it


def cache_file() -> Path:
    return cache_dir() / "hashes.json"


def _key(path) -> str:
    # Absolute and as bytes-safe text: folder names need not be UTF-8 (json escapes the surrogates).
    return os.fsdecode(os.path.abspath(os.fsencode(path)))


class HashCache:
    """Thread-safe map from a file's identity to its digests. `get`/`put` take the `os.stat_result` the
    caller already has, so the check costs no extra system call."""

    def __init__(self, path: Optional[Path] = None, enabled: bool = True):
        self.path = Path(path) if path else cache_file()
        self.enabled = enabled
        self._entries: dict = {}
        self._dirty = False
        self._lock = threading.Lock()
        self.problem = ""          # why the cache could not be read or written (shown as a note, not an error)
        if enabled:
            self._entries = self._read()

    def _read(self) -> dict:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, UnicodeDecodeError) as e:
            self.problem = f"ignored the hash cache {self.path} ({type(e).__name__}); it will be rebuilt"
            return {}
        if not isinstance(raw, dict) or raw.get("version") != CACHE_VERSION or not isinstance(
                raw.get("entries"), dict):
            return {}
        return {k: v for k, v in raw["entries"].items() if isinstance(v, dict)}

    @staticmethod
    def _identity(st: os.stat_result) -> list:
        return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]

    def get(self, path, st: os.stat_result, algo: str) -> Optional[str]:
        if not self.enabled:
            return None
        with self._lock:
            e = self._entries.get(_key(path))
        if not e or e.get("id") != self._identity(st):
            return None
        digest = e.get(algo)
        return digest if isinstance(digest, str) else None

    def put(self, path, st: os.stat_result, algo: str, digest: str) -> None:
        if not self.enabled:
            return
        key, ident = _key(path), self._identity(st)
        with self._lock:
            e = self._entries.get(key)
            if not e or e.get("id") != ident:
                e = {"id": ident}
            e[algo] = digest
            e["seen"] = time.time()
            self._entries[key] = e
            self._dirty = True

    def save(self) -> None:
        """Merge with what another run may have written meanwhile, keep the newest, write atomically."""
        if not self.enabled or not self._dirty:
            return
        with self._lock:
            merged = {**self._read(), **self._entries}
            if len(merged) > MAX_ENTRIES:
                keep = sorted(merged, key=lambda k: merged[k].get("seen", 0), reverse=True)[:MAX_ENTRIES]
                merged = {k: merged[k] for k in keep}
            doc = {"version": CACHE_VERSION, "entries": merged}
            try:
                atomic_write(self.path, json.dumps(doc, sort_keys=True) + "\n")
            except OSError as e:
                self.problem = f"could not save the hash cache {self.path} ({e.strerror or e}); next check re-reads"
                return
            self._entries, self._dirty = merged, False
