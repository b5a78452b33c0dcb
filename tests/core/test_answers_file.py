from __future__ import annotations

import pytest
import tomllib
from wrnvtest import run_cli

from wizard.core.answers import Answers
from wizard.core.answers_file import example, load_answers
from wizard.core.errors import WizardError
from wizard.core.profile import load_profile


def test_example_is_valid_toml_that_loads_back(tmp_path):
    prof = load_profile()
    text = example(prof)
    data = tomllib.loads(text)
    assert data["machine"] == "jetson-nano-qspi-sd" and "tensorrt" in data["packages"]
    f = tmp_path / "a.toml"
    f.write_text(text.replace('distro = "wrlinux"', 'distro = "wrlinux-graphics"'))
    a = load_answers(f, prof, Answers.defaults(prof))
    assert a.distro == "wrlinux-graphics"


@pytest.mark.parametrize("line, expect", [
    ('machine = "jetson-orin"', "machine = 'jetson-orin' is not allowed; use one of: jetson-nano-qspi-sd"),
    ('distros = "wrlinux"', "unknown key 'distros'"),
    ('packages = "cudnn"', "packages must be a list of strings"),
    ('packages = ["visionworks"]', "packages = 'visionworks' is not allowed"),
    ('board_port = 70000', "board_port must be between 1 and 65535"),
    ('machine = ', "not valid TOML"),
])
def test_bad_answers_one_line_naming_key(tmp_path, line, expect):
    f = tmp_path / "bad.toml"
    f.write_text(line + "\n")
    prof = load_profile()
    with pytest.raises(WizardError) as e:
        load_answers(f, prof, Answers.defaults(prof))
    assert expect in str(e.value) and str(f) in str(e.value) and "\n" not in str(e.value)


def test_answers_command(tmp_path):
    out = run_cli("answers", "--example")
    assert out.returncode == 0 and out.stdout.startswith("# wrnv-wizard answers file")
    bad = tmp_path / "bad.toml"
    bad.write_text('distro = "ubuntu"\n')
    out = run_cli("answers", "--check", str(bad))
    assert out.returncode == 1 and "distro = 'ubuntu' is not allowed" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
