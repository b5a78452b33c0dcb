"""Plain mode follows the full-screen wizard's rule for going on past a failed step
(`steps.may_continue_anyway`): never past a blocking host check, and skipping the NVIDIA prerequisites says
what is not done and asks first. The host check here is the real one, run on this machine."""

from __future__ import annotations

import os

import pytest

from wizard.core.session import Session
from wizard.core.steps import Status, step
from wizard.plain import PlainRun


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a real blocking failure: the host check refuses root")
@pytest.mark.parametrize("ask", [False, True])
def test_no_continuing_past_a_blocking_host_check(tmp_path, monkeypatch, ask):
    session = Session.open(tmp_path / "project")
    asked, lines = [], []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(PlainRun, "_confirm", lambda self, text, default=True: asked.append(text) or True)
    code = PlainRun(session, ask=ask, start_at="host", out=lines.append).run()
    session.reload()
    rec = session.step_state("host")
    assert rec.status is Status.FAILED and "not root" in rec.detail      # the real check failed, as root
    assert code == 1
    assert not asked, asked                                              # not even offered
    said = "\n".join(lines)
    line = next(ln for ln in lines if "the build cannot run without them" in ln)
    assert line.startswith("\nHost check: fix ") and "not root" in line, line
    assert "Step 4 of" not in said                                       # did not go on to Verify downloads
    assert session.status("host") is not Status.SKIPPED


def _prereqs_run(tmp_path, monkeypatch, ask, answer):
    session = Session.open(tmp_path / "project")
    (tmp_path / "empty-downloads").mkdir(parents=True)
    session.update_answers(downloads_dir=str(tmp_path / "empty-downloads"))
    asked, lines = [], []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def confirm(self, text, default=True):
        asked.append(text)
        return answer if "Continue anyway" in text else False           # nothing ticked as done
    monkeypatch.setattr(PlainRun, "_confirm", confirm)
    stop_after = PlainRun.step_host
    monkeypatch.setattr(PlainRun, "step_host", lambda self: (_ for _ in ()).throw(SystemExit(99)))
    try:
        code = PlainRun(session, ask=ask, given={"downloads_dir"}, start_at="prereqs", out=lines.append).run()
    except SystemExit as e:
        code = e.code
    finally:
        monkeypatch.setattr(PlainRun, "step_host", stop_after)
    session.reload()
    return session, code, asked, "\n".join(lines)


def test_skipping_prerequisites_lists_them_and_asks(tmp_path, monkeypatch):
    session, code, asked, said = _prereqs_run(tmp_path, monkeypatch, True, False)
    assert code == 1 and asked[-1] == "NVIDIA prerequisites did not pass. Continue anyway?"
    assert "Not done yet:" in said and "The downloads and the build need these." in said
    missing = said.split("Not done yet:")[1]
    assert "JetPack" in missing or "SDK Manager" in missing, missing
    assert session.status("prereqs") is not Status.SKIPPED

    session, code, asked, said = _prereqs_run(tmp_path / "yes", monkeypatch, True, True)
    assert code == 99                                   # went on to the host check after the yes
    assert session.status("prereqs") is Status.SKIPPED


def test_non_interactive_run_names_what_it_goes_past(tmp_path, monkeypatch):
    session, code, asked, said = _prereqs_run(tmp_path, monkeypatch, False, True)
    assert not asked and code == 99
    assert "WARNING: NVIDIA prerequisites did not pass; continuing (non-interactive run). Not done:" in said
    assert session.status("prereqs") is Status.SKIPPED
    assert step("prereqs").continue_anyway
