"""The installed command: version, help, one-line usage errors, doctor --json."""

from __future__ import annotations

import json
import subprocess

from wrnvtest import run_cli, wizard_command


def test_version_and_help():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("wrnv-wizard ")
    out = run_cli("--help")
    assert out.returncode == 0 and "doctor" in out.stdout and "--project" in out.stdout


def test_usage_error_is_one_line_exit_2():
    out = run_cli("--no-such-flag")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wrnv-wizard: error:") and "Traceback" not in out.stderr
    out = run_cli("doctor", "--bogus")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_bad_profile_is_one_line(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("schema = 1\n")
    out = run_cli("doctor", "--profile", str(bad), "--project", str(tmp_path))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and str(bad) in out.stderr and "missing" in out.stderr


def test_doctor_json_in_a_home_without_git_identity(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = run_cli("doctor", "--json", "--project", str(tmp_path / "proj"),
                  env={"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"})
    doc = json.loads(out.stdout)
    checks = doc["checks"]
    assert len(checks) >= 8
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)
    by = {c["name"]: c for c in checks}
    assert by["git identity"]["status"] == "fail" and by["git identity"]["fix"]
    assert all(c["fix"] for c in checks if c["status"] == "fail")
    assert out.returncode == 1


def test_python_m_wizard_cli_refuses_tui_with_a_clear_line(tmp_path):
    import sys

    out = subprocess.run([sys.executable, "-m", "wizard.cli", "--project", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "use --plain" in out.stderr


def test_plain_without_a_terminal_says_to_use_answers(tmp_path):
    out = subprocess.run([*wizard_command(), "--plain", "--project", str(tmp_path)],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].endswith("see `wrnv-wizard answers --example`)")
    assert "--answers FILE" in out.stderr and "Traceback" not in out.stderr


def test_project_that_cannot_be_used_is_one_line(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    out = run_cli("--project", str(a_file))
    assert out.returncode == 2 and "that is a file" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = run_cli("--project", str(a_file / "sub"))
    assert out.returncode == 1 and "choose one you can write" in out.stderr and "Traceback" not in out.stderr
