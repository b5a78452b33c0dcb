from __future__ import annotations

import json
import os

import pytest

from wizard.core.answers import Answers
from wizard.core.atomic import atomic_write
from wizard.core.errors import WizardError
from wizard.core.profile import load_profile
from wizard.core.session import Session
from wizard.core.state import State
from wizard.core.steps import STEP_IDS, Status


def test_status_is_saved_and_resumed_at_first_unfinished_step(project):
    s = Session.open(project)
    assert s.first_unfinished() == "welcome"
    s.mark("welcome", Status.DONE)
    s.mark("prereqs", Status.SKIPPED, "continued anyway")
    s.mark("host", Status.FAILED, "2 checks failed")
    s.update_answers(machine="jetson-tx2", packages=["cudnn"])

    again = Session.open(project)
    assert again.first_unfinished() == "host"
    st = again.step_state("host")
    assert st.status is Status.FAILED and st.detail == "2 checks failed" and st.finished >= st.started
    assert again.answers.machine == "jetson-tx2" and again.answers.packages == ["cudnn"]
    raw = json.loads(State.file_for(project).read_text())
    assert raw["steps"]["prereqs"]["status"] == "skipped"


def test_corrupt_state_is_kept_aside_and_reported(project):
    s = Session.open(project)
    s.mark("welcome", Status.DONE)
    path = State.file_for(project)
    path.write_text('{"version": 1, "steps": {"welcome": ')
    again = Session.open(project)
    assert again.first_unfinished() == "welcome"
    assert "could not be read" in again.state.recovered_from and "kept as state.json.corrupt-" in again.state.recovered_from
    kept = list(path.parent.glob("state.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith('{"version": 1')


def test_state_from_another_version_is_not_silently_used(project):
    path = State.file_for(project)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 99, "steps": {}}))
    st = State.load(project)
    assert "unknown version 99" in st.recovered_from


def test_crash_between_temp_write_and_rename_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    atomic_write(target, "old")

    def boom(*_a, **_k):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_answers_validate_names_key_and_allowed_values():
    prof = load_profile()
    a = Answers.defaults(prof)
    with pytest.raises(WizardError, match="machine = 'jetson-orin'.*use one of: jetson-nano-qspi-sd"):
        Answers.from_dict({"machine": "jetson-orin"}, base=a).validate(prof)
    with pytest.raises(WizardError, match="unknown key 'colour'"):
        Answers.from_dict({"colour": "red"}, base=a)
    with pytest.raises(WizardError, match="tensorrt needs cudnn"):
        Answers.from_dict({"packages": ["tensorrt"]}, base=a).validate(prof)
    with pytest.raises(WizardError, match="board_port must be a whole number"):
        Answers.from_dict({"board_port": "22"}, base=a)
    with pytest.raises(WizardError, match="card_no_empty_password_ssh must be true or false"):
        Answers.from_dict({"card_no_empty_password_ssh": "yes"}, base=a)
    with pytest.raises(WizardError, match="card_hostname_pattern: control characters"):
        Answers.from_dict({"card_hostname_pattern": "desk-{n}\nx"}, base=a).validate(prof)
    kept = Answers.from_dict({"card_hostname_pattern": "desk-{n:02}", "card_no_empty_password_ssh": True}, base=a)
    assert kept.validate(prof).card_no_empty_password_ssh is True


def test_reset_from_marks_later_steps_pending(project):
    s = Session.open(project)
    for sid in STEP_IDS[:6]:
        s.mark(sid, Status.DONE)
    s.reset_from("board")
    assert s.first_unfinished() == "board"
    assert s.status("welcome") is Status.DONE and s.status("project") is Status.PENDING


def test_unwritable_state_folder_is_a_wizard_error(project):
    s = Session.open(project)
    with pytest.raises(WizardError, match="project folder you can write"):
        s.update_answers(project_dir="/proc/no-such-place")
    assert s.answers.project == project and s.state.path.parent.parent == project
