"""Usage errors a newcomer makes on the command line: one line naming what to do, exit 2."""

from __future__ import annotations

from wrnvtest import run_cli


def _one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_unknown_command_names_the_commands():
    out = run_cli("frobnicate")
    line = _one_line(out)
    assert out.returncode == 2
    assert "(choose from )" not in line
    assert "doctor" in line and "flash" in line and "check-board" in line


def test_unknown_profile_is_a_usage_error(tmp_path):
    for args in (("--profile", "nope", "--project", str(tmp_path / "p")),
                 ("doctor", "--profile", "nope", "--project", str(tmp_path / "p")),
                 ("--profile", str(tmp_path / "missing.toml"), "--project", str(tmp_path / "p"))):
        out = run_cli(*args)
        line = _one_line(out)
        assert out.returncode == 2, (args, line)
        assert "--profile" in line and "wrlinux-lts19-jetpack-4.3" in line


def test_new_needs_demo(tmp_path):
    out = run_cli("--new", "--project", str(tmp_path / "p"))
    assert out.returncode == 2 and "--demo" in _one_line(out)
