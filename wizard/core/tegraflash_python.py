"""Which Python runs NVIDIA's flashing scripts, and how dosdcard.sh / doflash.sh are made to use it.

Why: at the tested meta-tegra commit, tegra210-flash-helper.sh runs a bare `python tegraflash.py`. NVIDIA's
R32.3.1 tegraflash_internal.py calls ElementTree's `getiterator()`, which Python 3.9 removed (meta-tegra patched
the script later, after the pin). On today's hosts `python` is Python 3.10+ or missing, so the image step
would die inside NVIDIA's code. The choice, best first:

1. Python 2.7 (what the scripts were written for);
2. Python 3.5-3.8 (still has getiterator; the newest of them);
3. the newest Python >= 3.9 with a narrow compatibility shim that puts back only what 3.9 removed from
   ElementTree (`getiterator`, `getchildren`), for that one process tree, via a sitecustomize on PYTHONPATH.

The chosen interpreter is put first on dosdcard.sh's PATH as `python` (a two-line wrapper in the script's own
work folder), together with /usr/sbin:/sbin (make-sdcard calls bare `sgdisk`, which an ordinary user's PATH
lacks on openSUSE and others). Nothing outside that process tree changes.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# Names a host may have its interpreters under, searched on PATH (first hit of each name counts).
NAMES = ("python2.7", "python2", "python", "python3.8", "python3.7", "python3.6", "python3.5", "python3",
         "python3.14", "python3.13", "python3.12", "python3.11", "python3.10", "python3.9")
SBIN = ("/usr/sbin", "/sbin")
SHIM_DIR = ".wrnv-python"         # in the script's work folder: the `python` wrapper and the shim
PROBE = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"

# The shim: only the two ElementTree methods Python 3.9 removed. The C accelerator's Element type cannot
# take new attributes, so this process uses the pure-Python ElementTree (same behaviour, slower; the files
# NVIDIA's scripts parse are a few KiB).
SHIM = '''"""wrnv-wizard: ElementTree methods removed in Python 3.9, restored for NVIDIA's R32.3.1 flashing scripts."""
import sys
if sys.version_info >= (3, 9) and "xml.etree.ElementTree" not in sys.modules:
    sys.modules.setdefault("_elementtree", None)
    from xml.etree import ElementTree as _et

    def _getiterator(self, tag=None):
        return list(self.iter(tag))

    def _getchildren(self):
        return list(self)

    for _cls in (_et.Element, _et.ElementTree):
        if not hasattr(_cls, "getiterator"):
            _cls.getiterator = _getiterator
    if not hasattr(_et.Element, "getchildren"):
        _et.Element.getchildren = _getchildren
'''


@dataclass(frozen=True)
class Interpreter:
    path: str                 # absolute path of the executable found
    version: tuple            # (major, minor, micro)
    shim: bool                # whether the compatibility shim is needed

    @property
    def shown(self) -> str:
        return ".".join(map(str, self.version))

    def describe(self) -> str:
        how = ("with a compatibility shim for ElementTree.getiterator, removed in Python 3.9"
               if self.shim else "runs them as they are")
        return f"{self.path} (Python {self.shown}; {how})"


def usable(version: tuple) -> Optional[bool]:
    """None if NVIDIA's scripts cannot run on this version at all, else whether the shim is needed."""
    if version[:2] == (2, 7):
        return False
    if version[0] == 3 and 5 <= version[1] <= 8:
        return False
    if version[0] == 3 and version[1] >= 9:
        return True
    return None


def _rank(i: Interpreter) -> tuple:
    if i.version[0] == 2:
        return (0, ())
    if not i.shim:
        return (1, tuple(-v for v in i.version))
    return (2, tuple(-v for v in i.version))


def probe(exe: str, env: Optional[dict] = None, timeout: float = 15) -> Optional[tuple]:
    try:
        out = subprocess.run([exe, "-c", PROBE], capture_output=True, text=True, timeout=timeout, env=env,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", out.stdout.strip()) if out.returncode == 0 else None
    return tuple(int(x) for x in m.groups()) if m else None


def candidates(path: Optional[str] = None) -> list:
    """Every interpreter on PATH that can run the scripts (deduplicated by real file), best first."""
    search = os.environ.get("PATH", os.defpath) if path is None else path
    seen: dict = {}
    for folder in [d for d in search.split(os.pathsep) if d]:
        for name in NAMES:
            exe = os.path.join(folder, name)
            if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
                continue
            real = os.path.realpath(exe)
            if real in seen:
                continue
            version = probe(exe)
            shim = usable(version) if version else None
            seen[real] = Interpreter(exe, version, shim) if shim is not None else None
    return sorted((i for i in seen.values() if i is not None), key=_rank)


def choose(path: Optional[str] = None) -> Optional[Interpreter]:
    found = candidates(path)
    return found[0] if found else None


def missing_message() -> str:
    return ("no Python that NVIDIA's flashing scripts can run on was found on PATH (they need Python 2.7 or "
            "3.5+): install python3 (Debian/Ubuntu: sudo apt install python3) and run this step again")


def with_sbin(path: str) -> str:
    """PATH with /usr/sbin and /sbin appended where missing (make-sdcard calls bare sgdisk)."""
    parts = [p for p in path.split(os.pathsep) if p]
    return os.pathsep.join(parts + [d for d in SBIN if d not in parts])


def prepare(workdir, env: dict, interp: Interpreter) -> dict:
    """Write the `python` wrapper (and the shim when needed) into `workdir`/.wrnv-python and return `env`
    changed so that the flashing scripts started there find it first."""
    folder = Path(workdir) / SHIM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    shim_file = folder / "sitecustomize.py"
    lines = ["#!/bin/sh", "# wrnv-wizard: NVIDIA's flashing scripts run `python`; this is the one chosen for them."]
    if interp.shim:
        shim_file.write_text(SHIM)
        lines.append(f'PYTHONPATH={shlex.quote(str(folder))}${{PYTHONPATH:+:$PYTHONPATH}}; export PYTHONPATH')
    else:
        shim_file.unlink(missing_ok=True)
    lines.append(f'exec {shlex.quote(interp.path)} "$@"')
    wrapper = folder / "python"
    wrapper.write_text("\n".join(lines) + "\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    out = dict(env)
    out["PATH"] = os.pathsep.join([str(folder), with_sbin(env.get("PATH", os.defpath))])
    return out


def elevated_path(workdir, base_path: str) -> str:
    """The PATH the privileged helper gives the script: the wrapper prepared (by the user) in the script's own
    work folder first, if there is one, then root's PATH with the sbin folders."""
    folder = Path(workdir) / SHIM_DIR
    parts = [str(folder)] if (folder / "python").is_file() else []
    return os.pathsep.join(parts + [with_sbin(base_path)])
