"""local.conf: the seed's settings exactly once, idempotent re-apply, the user's lines untouched, atomic writes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.core.errors import WizardError
from wizard.core.profile import load_profile
from wizard.project import localconf as lc

SEED = Path("/work/shared/seed/nvidia-container-runtime-wind-river-linux.md")
REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile()
SEED_DOWNLOADS = "/home/$USER/Downloads/nvidia/sdkm_downloads"


def _norm(line: str) -> str:
    return re.sub(r"\s*(\?\?=|\?=|:=|\+=|=)\s*", r" \1 ", line.strip(), count=1)


def _seed_lines() -> list:
    if not SEED.exists():
        pytest.skip(f"the tutorial is not at {SEED}")
    out = []
    for m in re.finditer(r"""^echo (["'])(.*)\1 >> conf/local\.conf\s*$""", SEED.read_text(), re.M):
        out.append(_norm(m.group(2)))
    return out


def _block(packages=None, machine="jetson-nano-qspi-sd", downloads=SEED_DOWNLOADS, team=None, profile=PROFILE):
    return lc.render_block(profile, machine, downloads,
                           PROFILE.default_packages if packages is None else packages, team)


def test_default_block_is_the_seeds_settings_exactly_once_in_order():
    seed = _seed_lines()
    assert len(seed) == 15
    body = [_norm(x) for x in lc.block_body(_block())]
    assert body == seed


def test_image_install_follows_the_chosen_packages():
    line = next(x for x in lc.block_body(_block(["cudnn"])) if "nvidia-docker" in x)
    assert line == ('IMAGE_INSTALL_append = " nvidia-docker nvidia-container-runtime cudnn cuda-container-csv '
                    'cudnn-container-csv"')


def test_colon_syntax_profile_keeps_colons():
    from dataclasses import replace

    later = replace(PROFILE, override_syntax="colon")
    body = lc.block_body(_block(profile=later))
    assert 'INHERIT_DISTRO:remove = "whitelist"' in body
    assert 'SECURITY_CFLAGS:pn-tini:append = " ${SECURITY_NOPIE_CFLAGS}"' in body
    assert f"NVIDIA_DEVNET_MIRROR = 'file://{SEED_DOWNLOADS}'" in body


def test_team_settings_use_yoctos_own_mirrors():
    body = lc.block_body(_block(team=lc.TeamSettings("http://mirror.lan/downloads", "http://mirror.lan/sstate")))
    assert body[-3:] == ['SOURCE_MIRROR_URL = "http://mirror.lan/downloads"', 'INHERIT += "own-mirrors"',
                         'SSTATE_MIRRORS = "file://.* http://mirror.lan/sstate/PATH;downloadfilename=PATH"']
    assert lc.block_body(_block(team=lc.TeamSettings())) == lc.block_body(_block())


def test_apply_keeps_the_first_original_and_reports_contradictions(tmp_path):
    conf = tmp_path / "local.conf"
    original = 'MACHINE ??= "qemux86-64"\nMACHINE = "qemuarm"\nBB_NO_NETWORK ?= \'1\'\n'
    conf.write_text(original)
    first = lc.apply(conf, _block())
    assert first.changed and first.backup.read_text() == original
    assert [c.variable for c in first.conflicts] == ["MACHINE"] and not first.conflicts[0].after_block
    again = lc.apply(conf, _block(["cudnn"]))
    assert again.changed and first.backup.read_text() == original      # the first original, not the second
    with open(conf, "a") as f:
        f.write("GCCVERSION = '9.%'\n")
    late = lc.plan(conf, _block(["cudnn"])).conflicts
    assert [(c.variable, c.after_block) for c in late] == [("MACHINE", False), ("GCCVERSION", True)]
    assert "wins and ours is ignored" in late[1].describe()


def test_damaged_markers_are_a_one_line_error(tmp_path):
    conf = tmp_path / "local.conf"
    conf.write_text(f"A = '1'\n{lc.BEGIN}\nB = '2'\n")
    with pytest.raises(WizardError, match="markers are damaged"):
        lc.apply(conf, _block())
    assert conf.read_text() == f"A = '1'\n{lc.BEGIN}\nB = '2'\n"


def test_missing_local_conf_says_what_to_do(tmp_path):
    with pytest.raises(WizardError, match="wrnv-wizard setup"):
        lc.apply(tmp_path / "local.conf", _block())


# -- properties over arbitrary local.conf contents --------------------------------------------------------

_SAMPLE = ['MACHINE ??= "qemux86-64"', "MACHINE = 'jetson-tx2'", 'IMAGE_INSTALL_append = " vim"', "# comment",
           "", "   ", 'GCCVERSION = "8.%"', "require foo.inc", "\t", "A = 'x' \\", "\r"]
_line = st.one_of(st.sampled_from(_SAMPLE),
                  st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40))
_conf = st.builds(lambda lines, nl: "\n".join(lines) + ("\n" if nl else ""),
                  st.lists(_line, max_size=12), st.booleans()).filter(lambda t: "wrnv-wizard managed block" not in t)
_pkgs = st.lists(st.sampled_from(PROFILE.default_packages), unique=True)


def _tmpconf(text: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix="lc-"))
    p = d / "local.conf"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    return p


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_conf, _pkgs, _pkgs)
def test_apply_is_idempotent_and_leaves_the_rest_alone(text, pk1, pk2):
    conf = _tmpconf(text)
    lc.apply(conf, _block(pk1))
    once = conf.read_bytes()
    assert lc.apply(conf, _block(pk1)).changed is False
    assert conf.read_bytes() == once                                    # byte-identical re-apply
    expected_outside = text if (not text or text.endswith("\n")) else text + "\n"
    assert lc.outside_block(lc.read_text(conf)) == expected_outside
    lc.apply(conf, _block(pk2))                                         # replaced, not appended again
    now = lc.read_text(conf)
    assert now.count(lc.BEGIN) == 1 and lc.outside_block(now) == expected_outside
    assert (conf.parent / "local.conf.wrnv-orig").read_bytes() == text.encode("utf-8", "surrogateescape")


@settings(max_examples=40, deadline=None)
@given(_conf, _conf, _pkgs)
def test_a_block_in_the_middle_is_replaced_in_place(before, after, pkgs):
    before = before if (not before or before.endswith("\n")) else before + "\n"
    text = before + _block(["cudnn"]) + after
    conf = _tmpconf(text)
    lc.apply(conf, _block(pkgs))
    new = lc.read_text(conf)
    assert new.startswith(before) and new.endswith(after) and lc.outside_block(new) == before + after


@settings(max_examples=25, deadline=None)
@given(_conf)
def test_an_error_between_temp_write_and_rename_leaves_the_old_file(text):
    import wizard.core.atomic as atomic

    conf = _tmpconf(text)
    lc.apply(conf, _block(["cudnn"]))      # backup exists; the next write is the only one
    old = conf.read_bytes()
    real = os.replace

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    atomic.os.replace = boom
    try:
        with pytest.raises(OSError):
            lc.apply(conf, _block([]))
    finally:
        atomic.os.replace = real
    assert conf.read_bytes() == old
    assert sorted(p.name for p in conf.parent.iterdir()) == ["local.conf", "local.conf.wrnv-orig"]


def test_a_killed_process_between_temp_write_and_rename_leaves_the_old_file(tmp_path):
    conf = tmp_path / "local.conf"
    conf.write_text("MACHINE = 'x'\n")
    lc.apply(conf, _block(["cudnn"]))
    old = conf.read_bytes()
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
import wizard.core.atomic as atomic
from wizard.project import localconf as lc
from wizard.core.profile import load_profile
def die(src, dst):
    assert os.path.getsize(src) > 0          # the new text is fully on disk in the temp file
    os.kill(os.getpid(), signal.SIGKILL)
atomic.os.replace = die
p = load_profile()
lc.apply({str(conf)!r}, lc.render_block(p, 'jetson-tx2', '/dl', [], None))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert conf.read_bytes() == old
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1      # the torn temp file is all that is left; local.conf itself is whole
