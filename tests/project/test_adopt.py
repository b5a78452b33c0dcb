"""Issue 15: `--project DIR` on a project set up by hand with the tutorial's commands. The wizard recognises
what is there (setup.sh's layout, meta-tegra at the commit, the layers, local.conf's lines), records those
steps through the same engine calls, changes nothing, and opens at the first step really missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wizard.core.session import Session
from wizard.core.state import State
from wizard.core.steps import Status
from wizard.project import localconf as lc
from wizard.project.adopt import adopt, describe
from wizard.project.buildenv import build_env_argv
from wizard.project.create import ProjectCreator


def sh(*argv, cwd=None):
    subprocess.run([str(a) for a in argv], cwd=cwd, check=True, capture_output=True, text=True, timeout=300)


def by_hand(project: Path, profile_path: Path, world, commit: str, downloads: Path, packages=("cudnn",),
            lines: str = "tutorial", layers: bool = True) -> None:
    """The tutorial's commands, typed by a person (no wizard state is written)."""
    probe = Session.open(project.parent / "probe", str(profile_path))
    profile = probe.profile
    args = ProjectCreator(probe).setup_args()
    project.mkdir()
    sh("git", "clone", "--branch", "WRLINUX_10_19_BASE", world.wrlinux_url, "wrlinux-x", cwd=project)
    sh("./wrlinux-x/setup.sh", *args, cwd=project)
    sh("git", "clone", "--branch", profile.meta_tegra.branch, world.meta_tegra_url, "layers/meta-tegra", cwd=project)
    sh("git", "-C", "layers/meta-tegra", "checkout", "-q", commit, cwd=project)
    if layers:
        for layer in profile.meta_tegra.layers:
            sh(*build_env_argv(profile, project, ["bitbake-layers", "add-layer", str(project / layer)]), cwd=project)
    conf = lc.local_conf_path(profile, project)
    body = lc.render_lines(profile, "jetson-nano-qspi-sd", downloads, list(packages))
    if lines == "tutorial":      # echo '...' >> conf/local.conf, line by line
        with open(conf, "a") as f:
            f.write("".join(line + "\n" for line in body))
    elif lines == "block":
        lc.apply(conf, lc.render_block(profile, "jetson-nano-qspi-sd", downloads, list(packages)))
    assert not State.file_for(project).exists()


def snapshot(project: Path) -> dict:
    """What adoption must not change: every file's bytes outside the wizard's own folder, and meta-tegra's HEAD."""
    files = {str(p.relative_to(project)): p.read_bytes() for p in project.rglob("*")
             if p.is_file() and ".wrnv-wizard" not in p.parts and ".git" not in p.parts}
    head = subprocess.run(["git", "-C", str(project / "layers/meta-tegra"), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout
    return {"files": files, "head": head}


@pytest.mark.parametrize("lines", ["tutorial", "block"])
def test_a_project_made_by_hand_opens_at_the_build(tmp_path, world, profile_path, lines):
    project, downloads = tmp_path / "by-hand", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tested, downloads, lines=lines)
    before = snapshot(project)
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted is not None
    assert adopted.recorded == ["welcome", "board", "project", "localconf"], describe(adopted)
    assert adopted.start_at == "build"
    # The answers were read from the project, not left at their defaults.
    a = session.answers
    assert (a.machine, a.packages, Path(a.downloads_dir)) == ("jetson-nano-qspi-sd", ["cudnn"], downloads.absolute())
    assert session.status("project") is Status.DONE
    assert session.step_state("project").data["meta_tegra_head"] == world.commits.tested
    assert session.status("localconf") is Status.DONE and session.status("build") is Status.PENDING
    assert snapshot(project) == before                       # nothing in the project changed
    again = Session.open(project, str(profile_path))          # it was saved; a second look adopts nothing
    assert again.status("localconf") is Status.DONE and adopt(again) is None
    assert "Create project" in describe(adopted)[0] and "Build" in describe(adopted)[0]


def test_meta_tegra_at_another_commit_leaves_create_project_to_do(tmp_path, world, profile_path):
    project, downloads = tmp_path / "tip", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tip, downloads)
    before = snapshot(project)
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted.start_at == "project" and "project" not in adopted.recorded
    assert any("not the tested commit" in n for n in adopted.notes), adopted.notes
    assert session.status("project") is Status.PENDING and session.status("localconf") is Status.PENDING
    assert snapshot(project) == before                       # the checkout is the step's job, not adoption's


def test_layers_not_added_and_local_conf_untouched(tmp_path, world, profile_path):
    project, downloads = tmp_path / "half", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tested, downloads, lines="none", layers=False)
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted.start_at == "project"
    assert any("bblayers.conf" in n for n in adopted.notes), adopted.notes


def test_a_built_project_opens_at_the_sd_card_image(tmp_path, world, profile_path):
    project, downloads = tmp_path / "built", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tested, downloads)
    deploy = project / "build" / "tmp-glibc" / "deploy" / "images" / "jetson-nano-qspi-sd"
    deploy.mkdir(parents=True)
    pkg = deploy / "wrlinux-image-glibc-std-jetson-nano-qspi-sd-20260101.tegraflash.zip"
    pkg.write_bytes(b"PK\x05\x06" + bytes(18))
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted.start_at == "image" and adopted.recorded[-1] == "build"
    assert session.step_state("build").data["package"] == str(pkg)


def test_a_wizard_project_or_an_empty_folder_is_not_adopted(tmp_path, world, profile_path, built_project):
    assert adopt(Session.open(built_project)) is None
    (tmp_path / "empty").mkdir()
    assert adopt(Session.open(tmp_path / "empty", str(profile_path))) is None


def test_the_plain_mode_says_what_it_found_and_starts_there(tmp_path, world, profile_path, capsys):
    import argparse

    from wizard.plain import PlainRun, run_plain

    project, downloads = tmp_path / "plain", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tested, downloads)
    started = []

    def first_step(self):
        started.append(self.start_at)
        return 0

    orig = PlainRun.run
    PlainRun.run = first_step
    try:
        run_plain(argparse.Namespace(project=str(project), profile=str(profile_path), answers=None))
    finally:
        PlainRun.run = orig
    assert started == ["build"]
    assert "Project made outside the wizard: Create project, Configure local.conf found done; going on at Build." \
        in capsys.readouterr().out
