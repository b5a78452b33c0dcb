"""Issue 15: no answer can reach beyond its own value -- not in local.conf (checked by real BitBake 1.44's own
parser), not on a git command line, not in ssh's. Every bad value is one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from wrnvtest import run_cli

from wizard.core.errors import WizardError
from wizard.core.session import Session
from wizard.project import localconf as lc

BITBAKE = Path("/work/shared/vendor/bitbake-1.44/lib")
PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3")

# What BitBake itself makes of a conf file: every variable it ends up with, as JSON (run with its Python).
PARSE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import bb.data
from bb.parse.parse_py import ConfHandler
d = bb.data.init()
ConfHandler.handle(sys.argv[2], d, False)
print(json.dumps({k: d.getVar(k, False) for k in d.keys() if not k.startswith("__")}))
"""


def bitbake_reads(conf: Path) -> dict:
    # `require` lines name files of the real project; only the assignments matter here.
    conf.write_text("".join(ln for ln in conf.read_text().splitlines(True) if not ln.startswith("require ")))
    if not (BITBAKE.is_dir() and PY37.exists()):
        pytest.skip("the vendored BitBake 1.44 or its Python 3.7 is not here")
    out = subprocess.run([str(PY37), "-c", PARSE, str(BITBAKE), str(conf)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)


@pytest.fixture
def fresh(tmp_path):
    return Session.open(tmp_path / "p")


ATTACKS = [
    'http://mirror"\nINHERIT += "evil"',
    "http://mirror\n${@os.system('touch /tmp/pwned')}",
    "http://mirror/${@os.system('id')}",
    "http://mirror\\",
    "http://mirror\r\nMACHINE = 'x86'",
    "--upload-pack=touch /tmp/pwned",
    "-oProxyCommand=id",
    "http://mirror/\tx",
]


@pytest.mark.parametrize("key", ["source_mirror_url", "sstate_mirror_url", "wrlinux_url", "meta_tegra_url"])
@pytest.mark.parametrize("value", ATTACKS)
def test_url_answers_refuse_injection(fresh, key, value):
    with pytest.raises(WizardError) as e:
        fresh.update_answers(**{key: value})
    line = str(e.value)
    assert "\n" not in line and key in line
    assert getattr(fresh.answers, key) == ""                 # nothing was saved


@pytest.mark.parametrize("key", ["downloads_dir", "project_dir", "board_identity"])
@pytest.mark.parametrize("value", ["/tmp/a\nMACHINE = 'x'", "/tmp/a\rb", "-rf", "--help", "/tmp/\x00x"])
def test_path_answers_refuse_injection(fresh, key, value):
    with pytest.raises(WizardError, match=key):
        fresh.update_answers(**{key: value})


@pytest.mark.parametrize("value", ["a" * 64 + ".local", "-oProxyCommand=id", "host name", "a;id", "a$(id)", "x\n",
                                   "a" * 254, "ex_ample.com", "..", "'x'"])
def test_board_host_refuses_what_is_not_a_host(fresh, value):
    with pytest.raises(WizardError, match="board_host"):
        fresh.update_answers(board_host=value)


@pytest.mark.parametrize("value", ["192.168.1.42", "jetson.local", "fe80::1", "a" * 63 + ".example", "tegra-ubuntu"])
def test_board_host_takes_names_and_addresses(fresh, value):
    fresh.update_answers(board_host=value)
    assert fresh.answers.board_host == value


@pytest.mark.parametrize("value", ["-oProxyCommand=id", "root@evil", "a b", "x\n"])
def test_board_user_refuses_options_and_odd_names(fresh, value):
    with pytest.raises(WizardError, match="board_user"):
        fresh.update_answers(board_user=value)


def test_the_answers_file_refuses_the_same_with_one_line(tmp_path):
    bad = tmp_path / "answers.toml"
    bad.write_text('source_mirror_url = "http://m\\"\\nINHERIT += \\"evil\\""\n')
    out = run_cli("--plain", "--answers", str(bad), "--project", str(tmp_path / "p"))
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "source_mirror_url" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("folder", ["/data/it's", '/data/say"hi"', "/data/${PWD}", "/data/a\\b"])
def test_downloads_dir_quotes_are_read_back_exactly_by_bitbake(tmp_path, folder):
    """Quotes are written so that BitBake reads the exact path; `${` and a backslash are refused instead."""
    s = Session.open(tmp_path / "p")
    if "${" in folder or "\\" in folder:
        s.answers.downloads_dir = folder          # as if an old state file held it
        with pytest.raises(WizardError, match="downloads_dir"):
            lc.block_for(s)
        return
    s.update_answers(downloads_dir=folder, source_mirror_url="https://m.example/src",
                     sstate_mirror_url="file:///srv/sstate")
    conf = tmp_path / "local.conf"
    conf.write_text(lc.block_for(s))
    got = bitbake_reads(conf)
    assert got["NVIDIA_DEVNET_MIRROR"] == "file://" + folder
    assert got["SOURCE_MIRROR_URL"] == "https://m.example/src"
    assert got["MACHINE"] == s.answers.machine


def test_a_mirror_url_holding_a_quote_stays_one_value_in_bitbake(tmp_path):
    """Even a value that passed validation another way (an old state file) cannot add a variable."""
    s = Session.open(tmp_path / "p")
    s.answers.source_mirror_url = 'http://m/"x'
    conf = tmp_path / "local.conf"
    conf.write_text(lc.block_for(s))
    got = bitbake_reads(conf)
    assert got["SOURCE_MIRROR_URL"] == 'http://m/"x'
    s.answers.source_mirror_url = 'http://m"\nINHERIT += "evil'
    with pytest.raises(WizardError, match="source_mirror_url"):
        lc.block_for(s)
    s.answers.source_mirror_url = "http://m/${@os.system('id')}"
    with pytest.raises(WizardError, match="source_mirror_url"):
        lc.block_for(s)


def test_downloads_dir_with_a_space_is_refused_for_local_conf(tmp_path):
    s = Session.open(tmp_path / "p")
    s.update_answers(downloads_dir="/data/my downloads")          # fine for verifying the files ...
    with pytest.raises(WizardError, match="downloads_dir.*white space"):
        lc.block_for(s)                                           # ... not as bitbake's file:// URL


def test_git_clone_gets_the_url_after_double_dash(answered, monkeypatch):
    """A URL can never be read as an option: the argv holds `--` before it."""
    from wizard.project.create import ProjectCreator

    seen = []
    creator = ProjectCreator(answered)
    monkeypatch.setattr(creator, "_run", lambda sid, argv, *a, **k: seen.append(argv) or (_ for _ in ()).throw(
        WizardError("stop here")))
    with pytest.raises(WizardError, match="stop here"):
        creator.run_all()
    argv = seen[0]
    assert argv[:2] == ["git", "clone"] and argv[argv.index("--") + 1] == answered.answers.wrlinux_url
    assert "-- " in creator.commands()["clone-wrlinux"] and "-- " in creator.commands()["clone-meta-tegra"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user")
def test_bad_project_folders_are_one_line_not_internal_errors(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    cases = [("localconf", "--apply", "--project", str(afile)), ("doctor", "--project", str(afile / "sub")),
             ("setup", "--project", str(afile)), ("image", "--project", str(afile)),
             ("check-board", "a" * 64, "--project", str(tmp_path / "q"))]
    for argv in cases:
        out = run_cli(*argv)
        assert out.returncode in (1, 2), (argv, out.stderr)
        assert "internal error" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, (argv, out.stderr)
    # A folder this user may not enter: as nobody (root enters everything).
    exe = Path(sys.executable).with_name("wrnv-wizard")
    for argv in (["doctor"], ["localconf", "--apply"], ["--plain", "--answers", "/dev/null"]):
        out = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", " ".join([str(exe), *argv, "--project",
                                                                             str(locked)])],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
        assert out.returncode in (1, 2), (argv, out.stderr)
        assert "internal error" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, (argv, out.stderr)
