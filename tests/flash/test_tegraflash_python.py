"""Choosing the Python that runs NVIDIA's flashing scripts, and the shim for Python >= 3.9, with real
interpreters (this machine image's pyenv 2.7/3.7 and the system 3.11) on PATHs built from symlinks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wizard.core import tegraflash_python as tp

PY27 = Path("/root/.pyenv/versions/2.7.18/bin/python2.7")
PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")
PY311 = shutil.which("python3.11") or ""

# The call NVIDIA's R32.3.1 tegraflash_internal.py makes on a parsed list file (and one on an Element).
USES_GETITERATOR = (
    "import sys\n"
    "from xml.etree import ElementTree\n"
    "t = ElementTree.parse(sys.argv[1])\n"
    "names = [f.get('name') for f in t.getiterator('file')]\n"
    "kids = t.getroot().getiterator()\n"
    "print('files: ' + ','.join(names) + ' nodes: %d' % len(kids))\n"
)


def _links(tmp_path: Path, name: str, links: dict) -> str:
    d = tmp_path / name
    d.mkdir()
    for link, target in links.items():
        (d / link).symlink_to(target)
    return str(d)


def _need(*paths):
    for p in paths:
        if not p or not Path(p).exists():
            pytest.skip(f"needs {p or 'python3.11'} (this machine image's interpreters)")


def test_python27_first_then_35_to_38_then_newest_with_shim(tmp_path):
    _need(PY27, PY37, PY311)
    everything = _links(tmp_path, "a", {"python": PY311, "python3.7": PY37, "python2.7": PY27})
    chosen = tp.choose(everything)
    assert chosen.version[:2] == (2, 7) and not chosen.shim
    assert [i.version[:2] for i in tp.candidates(everything)] == [(2, 7), (3, 7), (3, 11)]
    no27 = _links(tmp_path, "b", {"python": PY311, "python3.7": PY37})
    chosen = tp.choose(no27)
    assert chosen.version[:2] == (3, 7) and not chosen.shim
    only311 = _links(tmp_path, "c", {"python": PY311})
    chosen = tp.choose(only311)
    assert chosen.version[:2] == (3, 11) and chosen.shim
    assert chosen.path == os.path.join(only311, "python")


def test_too_old_or_broken_interpreters_are_not_chosen(tmp_path):
    d = tmp_path / "odd"
    d.mkdir()
    for name, text in (("python", "echo 3.4.9"), ("python3", "exit 3"), ("python2", "echo 2.6.9")):
        (d / name).write_text(f"#!/bin/sh\n{text}\n")
        (d / name).chmod(0o755)
    assert tp.choose(str(d)) is None
    assert "python3" in tp.missing_message()


def test_the_shim_restores_getiterator_for_that_process_only(tmp_path):
    """Without the shim Python 3.11 fails on the call NVIDIA's scripts make, exactly as on a real host; through
    the prepared `python` it works; a plain 3.11 started afterwards still has no getiterator."""
    _need(PY311)
    listing = tmp_path / "list.xml"
    listing.write_text('<file_list mode="sbk"><file name="cboot.bin"/><file name="nvtboot.bin"/></file_list>')
    script = tmp_path / "sign.py"
    script.write_text(USES_GETITERATOR)
    plain = subprocess.run([PY311, str(script), str(listing)], capture_output=True, text=True)
    assert plain.returncode == 1 and "has no attribute 'getiterator'" in plain.stderr
    chosen = tp.choose(_links(tmp_path, "only311", {"python": PY311}))
    work = tmp_path / "work"
    env = tp.prepare(work, {"PATH": "/usr/bin:/bin"}, chosen)
    assert env["PATH"].split(os.pathsep)[0] == str(work / tp.SHIM_DIR)
    assert env["PATH"].endswith("/usr/sbin:/sbin")
    shimmed = subprocess.run(["python", str(script), str(listing)], capture_output=True, text=True, env=env)
    assert shimmed.returncode == 0, shimmed.stderr
    assert shimmed.stdout.strip() == "files: cboot.bin,nvtboot.bin nodes: 3"
    again = subprocess.run([PY311, str(script), str(listing)], capture_output=True, text=True)
    assert again.returncode == 1


def test_no_shim_where_none_is_needed(tmp_path):
    _need(PY37)
    chosen = tp.choose(_links(tmp_path, "only37", {"python": PY37}))
    env = tp.prepare(tmp_path / "w", {"PATH": "/usr/sbin:/usr/bin:/bin"}, chosen)
    assert not (tmp_path / "w" / tp.SHIM_DIR / "sitecustomize.py").exists()
    out = subprocess.run(["python", "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                         text=True, env=env)
    assert out.stdout.strip() == "(3, 7)"
    assert env["PATH"].count("/usr/sbin") == 1          # not added twice


def test_the_elevated_path_uses_the_prepared_wrapper_only_when_there(tmp_path):
    assert tp.elevated_path(tmp_path, "/usr/bin:/bin") == "/usr/bin:/bin:/usr/sbin:/sbin"
    _need(PY311)
    tp.prepare(tmp_path, {"PATH": "/usr/bin"}, tp.choose(_links(tmp_path, "p", {"python": PY311})))
    assert tp.elevated_path(tmp_path, "/usr/bin").split(os.pathsep)[0] == str(tmp_path / tp.SHIM_DIR)
