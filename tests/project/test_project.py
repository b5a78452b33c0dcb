"""The creation engine against real git repositories: end to end, re-run as a no-op, resume, refusals."""

from __future__ import annotations

import os
import subprocess

import pytest

from wizard.core import procrun
from wizard.core.errors import WizardError
from wizard.core.steps import Status
from wizard.demo.fake_repos import git
from wizard.project.checks import bblayers_paths
from wizard.project.create import ALREADY, DONE, SUBSTEP_IDS, CommitMissing, Credentials, ProjectCreator


def _create(session, **kw):
    lines, steps = [], []
    pc = ProjectCreator(session, on_line=lines.append, on_step=lambda *a: steps.append(a), **kw)
    return pc, pc.run_all(), lines, steps


def test_creates_the_project_then_rerun_is_a_no_op(answered, world):
    project = answered.project
    _, outcomes, lines, steps = _create(answered)
    assert [o.step for o in outcomes] == list(SUBSTEP_IDS) and all(o.state == DONE for o in outcomes)
    assert git(project / "wrlinux-x", "rev-parse", "--abbrev-ref", "HEAD") == "WRLINUX_10_19_BASE"
    assert git(project / "layers" / "meta-tegra", "rev-parse", "HEAD") == world.commits.tested
    layers = bblayers_paths(project / "build" / "conf" / "bblayers.conf")
    assert project / "layers" / "meta-tegra" in layers and project / "layers" / "meta-tegra" / "contrib" in layers
    assert layers.index(project / "layers" / "meta-tegra") < layers.index(project / "layers/meta-tegra/contrib")
    assert any(line.startswith("$ git clone --branch WRLINUX_10_19_BASE") for line in lines)
    for sid in SUBSTEP_IDS:
        assert (project / ".wrnv-wizard" / "logs" / f"project-{sid}.log").exists()
    assert answered.status("project") is Status.DONE

    before = {p: p.stat().st_mtime_ns for p in [project / "build/conf/bblayers.conf", project / "README"]}
    commits = git(project, "rev-list", "--count", "HEAD")
    _, again, lines2, _ = _create(answered)
    assert all(o.state == ALREADY for o in again), again
    assert all("already" in o.message for o in again)
    assert not any(line.startswith("$ ") for line in lines2)          # nothing was run
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert git(project, "rev-list", "--count", "HEAD") == commits
    assert answered.step_state("project").detail.startswith("already set up")


def test_resumes_after_a_failure_halfway(answered, world, tmp_path):
    answered.update_answers(meta_tegra_url=(tmp_path / "no-such-repo").as_uri())
    with pytest.raises(procrun.CommandFailed) as e:
        _create(answered)
    assert e.value.log_path.name == "project-clone-meta-tegra.log"
    assert answered.status("project") is Status.FAILED
    answered.update_answers(meta_tegra_url=world.meta_tegra_url)
    _, outcomes, _, _ = _create(answered)
    assert [o.state for o in outcomes] == [ALREADY, ALREADY, DONE, DONE, DONE]


def test_other_distro_reruns_setup_with_its_option(answered):
    _create(answered)
    answered.update_answers(distro="wrlinux-graphics")
    pc, outcomes, lines, _ = _create(answered)
    assert outcomes[1].state == DONE and "--distros wrlinux-graphics" in outcomes[1].message
    assert 'DISTRO ??= "wrlinux-graphics"' in (answered.project / "config" / "local.conf.sample").read_text()


def test_missing_commit_offers_the_tip_then_uses_it_with_a_warning(answered, world):
    answered.update_answers(meta_tegra_commit="0123456789abcdef0123456789abcdef01234567")
    with pytest.raises(CommitMissing) as e:
        _create(answered)
    assert e.value.tip == world.commits.tip and world.commits.tip in str(e.value) and "untested" in str(e.value)
    pc, outcomes, lines, _ = _create(answered, use_branch_tip=True)
    assert git(answered.project / "layers" / "meta-tegra", "rev-parse", "HEAD") == world.commits.tip
    assert pc.warnings and "untested" in pc.warnings[0]


def test_local_changes_in_meta_tegra_are_never_overwritten(answered, world):
    _create(answered)
    mt = answered.project / "layers" / "meta-tegra"
    (mt / "conf" / "layer.conf").write_text("# my edit\n")
    answered.update_answers(meta_tegra_commit=world.commits.tip)
    with pytest.raises(WizardError, match="local changes"):
        _create(answered)
    assert (mt / "conf" / "layer.conf").read_text() == "# my edit\n"


def test_unexpected_project_contents_are_refused(answered):
    (answered.project / "notes.txt").write_text("mine")
    with pytest.raises(WizardError, match=r"already holds notes\.txt"):
        _create(answered)
    assert not (answered.project / "wrlinux-x").exists()


def test_foreign_wrlinux_x_folder_is_refused(answered):
    (answered.project / "wrlinux-x").mkdir()
    (answered.project / "wrlinux-x" / "stuff").write_text("x")
    with pytest.raises(WizardError, match=r"holds 1 entry \(stuff\), not a git clone"):
        _create(answered)
    assert (answered.project / "wrlinux-x" / "stuff").read_text() == "x"


def test_clone_of_another_url_is_refused(answered, world):
    subprocess.run(["git", "clone", "-q", world.meta_tegra_url, str(answered.project / "wrlinux-x")], check=True)
    with pytest.raises(WizardError, match="is a clone of"):
        _create(answered)


def test_project_under_a_repo_project_is_refused(tmp_path, world):
    from wizard.core.session import Session

    (tmp_path / "outer" / ".repo").mkdir(parents=True)
    s = Session.open(tmp_path / "outer" / "inner")
    with pytest.raises(WizardError, match="holds a .repo folder"):
        ProjectCreator(s).run_all()


def test_project_inside_a_wrlinux_x_clone_is_refused(tmp_path, world):
    from wizard.core.session import Session

    subprocess.run(["git", "clone", "-q", world.wrlinux_url, str(tmp_path / "wrlinux-x")], check=True)
    s = Session.open(tmp_path / "wrlinux-x" / "proj")
    with pytest.raises(WizardError, match="inside the wrlinux-x clone"):
        ProjectCreator(s).run_all()


def test_subscriber_login_is_passed_but_never_logged(answered, world):
    answered.update_answers(source="lts", wrlinux_url=world.wrlinux_url)
    secret = "s3cr3t-Pa55"
    _, outcomes, lines, _ = _create(answered, credentials=Credentials("alice", secret))
    assert all(o.state == DONE for o in outcomes)
    assert any("Detected Windshare configuration." in line for line in lines)   # setup.sh got --user
    logs = answered.project / ".wrnv-wizard" / "logs"
    for log in logs.iterdir():
        assert secret not in log.read_text()
    assert all(secret not in line for line in lines)
    assert secret not in (answered.project / "README").read_text()
    assert secret not in repr(Credentials("alice", secret))
    assert secret not in (answered.project / ".wrnv-wizard" / "state.json").read_text()


def test_askpass_answers_git_prompts_from_the_environment():
    from wizard.project.gitops import askpass_env

    with askpass_env("alice", "pw!") as env:
        script = env["GIT_ASKPASS"]
        assert "pw!" not in open(script).read()
        run = {**os.environ, **env}
        user = subprocess.run([script, "Username for 'https://x': "], env=run, capture_output=True, text=True)
        pw = subprocess.run([script, "Password for 'https://alice@x': "], env=run, capture_output=True, text=True)
    assert (user.stdout, pw.stdout) == ("alice\n", "pw!\n")
    assert not os.path.exists(script)
