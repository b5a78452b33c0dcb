"""Issue 15: the engine alone records a step's outcome. Screens, the plain mode and the commands call the
engine and draw; a `mark` (the one writer of step records) anywhere else fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled
from wizard.core.session import Session
from wizard.core.steps import Status

ROOT = Path(__file__).resolve().parents[2]
# The faces: they ask, call the engine and draw.
FACES = [*sorted((ROOT / "screens").glob("*.py")), ROOT / "wizard" / "plain.py", ROOT / "wizard" / "cli.py",
         *sorted((ROOT / "wizard" / "commands").glob("*.py")), *sorted((ROOT / "wizard" / "demo").glob("*.py"))]


def mark_calls(path: Path) -> list:
    """Lines calling `<anything>.mark(...)` or a bare `mark(...)`, or writing a step's status directly."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "mark" or (name == "update" and "step_state(" in ast.unparse(f)):
                out.append(node.lineno)
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr in ("status", "finished", "started") and \
                        "step_state" in ast.unparse(t):
                    out.append(node.lineno)
                if isinstance(t, ast.Subscript) and "step_state(" in ast.unparse(t):      # ....data["x"] = ...
                    out.append(node.lineno)
    return sorted(out)


@pytest.mark.parametrize("path", FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_face_records_a_step(path):
    lines = mark_calls(path)
    assert not lines, f"{path.relative_to(ROOT)} records a step itself at line(s) {lines}; call the engine instead"


def test_the_checker_sees_a_mark(tmp_path):
    """The AST check above must be able to fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(self):\n    self.session.mark('host', 'done')\n    s.step_state('x').status = 1\n"
                   "    s.step_state('x').data['k'] = 1\n    s.step_state('x').data.update(k=1)\n")
    assert mark_calls(bad) == [2, 3, 4, 5]


@pytest.fixture()
def session(tmp_path):
    return Session.open(tmp_path / "p")


def test_step_run_records_running_then_done_with_data(session):
    with session.step_run("host", "checking") as run:
        assert session.status("host") is Status.RUNNING
        assert session.step_state("host").detail == "checking"
        run.done("all good", n=3)
    st = session.step_state("host")
    assert (st.status, st.detail, st.data) == (Status.DONE, "all good", {"n": 3})
    assert st.started is not None and st.finished >= st.started
    again = Session.open(session.project)          # it was saved
    assert again.step_state("host").data == {"n": 3} and again.status("host") is Status.DONE


def test_step_run_fails_on_wizard_error_and_keeps_the_facts(session):
    with pytest.raises(WizardError):
        with session.step_run("downloads") as run:
            run.note(folder="/x")
            raise WizardError("the folder is gone")
    st = session.step_state("downloads")
    assert (st.status, st.detail, st.data) == (Status.FAILED, "the folder is gone", {"folder": "/x"})


def test_step_run_cancelled_leaves_the_step_to_do(session):
    with pytest.raises(Cancelled):
        with session.step_run("image") as run:
            run.cancelled_detail = "stopped by you"
            raise Cancelled()
    assert session.status("image") is Status.PENDING
    assert session.step_state("image").detail == "stopped by you"


def test_step_run_never_stays_running_after_a_bug(session):
    with pytest.raises(ZeroDivisionError):
        with session.step_run("build"):
            raise ZeroDivisionError("a bug")
    assert session.status("build") is Status.FAILED


def test_step_run_fail_records_a_result_that_does_not_pass(session):
    with session.step_run("boot") as run:
        run.fail("gpu: no device", ok=False)
    assert session.status("boot") is Status.FAILED and session.step_state("boot").data == {"ok": False}


def test_continue_anyway_only_where_the_step_allows_it(session):
    session.continue_anyway("host")
    assert session.status("host") is Status.SKIPPED
    with pytest.raises(WizardError, match="must pass"):
        session.continue_anyway("flash")
    assert session.status("flash") is Status.PENDING


def test_changed_answers_make_project_and_localconf_pending(session):
    session.complete("project", "project created")
    session.complete("localconf", "managed block written")
    assert session.update_answers(packages=["cudnn"]) == ["localconf"]
    assert session.status("project") is Status.DONE and session.status("localconf") is Status.PENDING
    session.complete("localconf", "managed block written")
    assert session.update_answers(distro="wrlinux-graphics") == ["project", "localconf"]
    assert session.status("project") is Status.PENDING and "run this step again" in session.step_state("project").detail
    session.complete("project")
    session.complete("localconf")
    assert session.update_answers(distro="wrlinux-graphics") == []        # no change: nothing to redo
    assert session.status("project") is Status.DONE


def test_choose_board_records_the_board_step(session):
    session.choose_board(distro="wrlinux-graphics")
    st = session.step_state("board")
    assert st.status is Status.DONE and "wrlinux-graphics" in st.detail
