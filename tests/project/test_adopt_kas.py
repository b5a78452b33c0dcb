"""Issue 15: `--project DIR` on a project laid out by kas from a project file (the shape `export-kas` writes).
The layout is made by the real `kas checkout` (the kas package of the test environment) from real git
repositories over file://: repos cloned at their commits under the folder, build/conf written by kas. The
wizard must recognise it, record what is really there through the engine, change nothing, and open at the
first step that is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wizard.core.session import Session
from wizard.core.steps import Status
from wizard.demo.fake_repos import git
from wizard.project import kas_export
from wizard.project import localconf as lc
from wizard.project.adopt import adopt, describe, kas_made
from wizard.project.buildenv import build_env_argv

KAS = Path(sys.executable).parent / "kas"


@pytest.fixture(scope="module")
def kas_doc(built_project, tmp_path_factory):
    """A kas file exported from a wizard project (every layer repo at its commit, our local.conf block as the
    local_conf_header), then pointed at an oe-core clone that carries its templates as the real oe-core does
    (meta/conf/*.sample named by .templateconf), which `kas checkout` sources oe-init-build-env from."""
    if not KAS.exists():
        pytest.skip("kas is not installed in the test environment")
    s = Session.open(built_project)
    conf = lc.local_conf_path(s.profile, s.project)
    lc.apply(conf, lc.block_for(s))
    doc, _ = kas_export.build_document(s.profile, s.project, "jetson-nano-qspi-sd", "wrlinux",
                                       "wrlinux-image-glibc-std")
    doc["repos"] = {k: v for k, v in doc["repos"].items() if v.get("url")}    # the project folder itself
    root = tmp_path_factory.mktemp("kasworld")
    oe = root / "oe-core"
    git(root, "clone", "-q", doc["repos"]["oe-core"]["url"], str(oe))
    sample = s.project / "wrlinux-x" / "data" / "samples"
    (oe / "meta" / "conf").mkdir(parents=True, exist_ok=True)
    for name in ("local.conf.sample", "bblayers.conf.sample"):
        shutil.copy(sample / name, oe / "meta" / "conf" / name)
    (oe / ".templateconf").write_text("TEMPLATECONF=meta/conf\n")
    git(oe, "add", "-A")
    git(oe, "-c", "user.name=t", "-c", "user.email=t@wrnv.invalid", "commit", "-q", "-m", "templates")
    doc["repos"]["oe-core"].update(url=oe.as_uri(), commit=git(oe, "rev-parse", "HEAD"))
    kas_export.validate(kas_export.to_yaml(doc, [], "test"))
    return doc


def kas_checkout(folder: Path, doc: dict) -> Path:
    """`kas checkout` in `folder` (its work dir), as a user of the file would run it."""
    folder.mkdir()
    (folder / "wrnv.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    env = dict(os.environ, KAS_WORK_DIR=str(folder), HOME=str(folder.parent))
    r = subprocess.run([str(KAS), "checkout", "wrnv.yml"], cwd=folder, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return folder


def snapshot(project: Path) -> dict:
    files = {str(p.relative_to(project)): p.read_bytes() for p in project.rglob("*")
             if p.is_file() and ".wrnv-wizard" not in p.parts and ".git" not in p.parts}
    heads = {str(g.parent): git(g.parent, "rev-parse", "HEAD") for g in project.rglob(".git")}
    return {"files": files, "heads": heads}


def test_a_kas_made_project_opens_at_the_build(tmp_path, kas_doc, world, profile_path):
    project = kas_checkout(tmp_path / "from-kas", kas_doc)
    text = (project / "build" / "conf" / "local.conf").read_text()
    assert text.startswith("# wrnv-wizard\n") and 'MACHINE ??= "jetson-nano-qspi-sd"' in text   # kas wrote it
    before = snapshot(project)
    session = Session.open(project, str(profile_path))
    assert kas_made(project, session.base_profile)
    adopted = adopt(session)
    assert adopted is not None, "a kas-made project was not recognised"
    assert adopted.recorded == ["welcome", "board", "project", "localconf"], describe(adopted)
    assert adopted.start_at == "build"
    a = session.answers
    assert (a.machine, a.distro, a.image) == ("jetson-nano-qspi-sd", "wrlinux", "wrlinux-image-glibc-std")
    assert a.packages and a.downloads_dir
    rec = session.step_state("project")
    assert rec.status is Status.DONE and rec.data["made_by"] == "kas"
    assert rec.data["meta_tegra_head"] == world.commits.tested
    assert {k: v["commit"] for k, v in rec.data["repos"].items()} == \
        {k: v["commit"] for k, v in kas_doc["repos"].items()}
    assert "local_conf_header" in session.step_state("localconf").detail
    assert "laid out by kas from wrnv.yml" in describe(adopted)
    assert snapshot(project) == before
    assert adopt(Session.open(project, str(profile_path))) is None      # recorded; a second look adopts nothing
    # The Build step can run there: the build environment is kas's (oe-init-build-env of the repo holding it).
    r = subprocess.run(build_env_argv(session.profile, project, ["sh", "-c", 'echo "BUILDDIR=$BUILDDIR"']),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"BUILDDIR={project / 'build'}" in r.stdout
    assert snapshot(project)["files"] == before["files"]


def test_a_repo_at_another_commit_leaves_create_project_to_do(tmp_path, kas_doc, world, profile_path):
    project = kas_checkout(tmp_path / "moved", kas_doc)
    mt = project / kas_doc["repos"]["meta-tegra"]["path"]
    git(mt, "checkout", "-q", world.commits.tip)
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted.start_at == "project" and "project" not in adopted.recorded
    note = next(n for n in adopted.notes if n.startswith("Create project is still to do"))
    assert "meta-tegra is at" in note and "as the kas file says" in note
    assert session.status("project") is Status.PENDING and session.status("localconf") is Status.PENDING


def test_a_layer_missing_from_bblayers_and_local_conf_without_the_header(tmp_path, kas_doc, profile_path):
    doc = yaml.safe_load(yaml.safe_dump(kas_doc))
    doc["repos"]["meta-tegra"]["layers"] = {".": None}                   # contrib left out
    project = kas_checkout(tmp_path / "partial", doc)
    adopted = adopt(Session.open(project, str(profile_path)))
    assert adopted.start_at == "project"
    assert any("layers/meta-tegra/contrib is not in bblayers.conf" in n for n in adopted.notes), adopted.notes

    doc = yaml.safe_load(yaml.safe_dump(kas_doc))
    body = doc["local_conf_header"]["wrnv-wizard"].splitlines()
    doc["local_conf_header"]["wrnv-wizard"] = "\n".join(ln for ln in body if "NVIDIA_DEVNET_MIRROR" not in ln)
    project = kas_checkout(tmp_path / "no-mirror", doc)
    session = Session.open(project, str(profile_path))
    adopted = adopt(session)
    assert adopted.recorded[-1] == "project" and adopted.start_at == "localconf"
    assert any(n.startswith("local.conf is still to do") for n in adopted.notes), adopted.notes


def test_a_plain_build_folder_is_not_taken_for_kas(tmp_path, profile_path, built_project):
    (tmp_path / "p" / "build" / "conf").mkdir(parents=True)
    (tmp_path / "p" / "build" / "conf" / "local.conf").write_text('MACHINE ?= "qemux86-64"\n')
    (tmp_path / "p" / "build" / "conf" / "bblayers.conf").write_text('BBLAYERS ?= ""\n')
    s = Session.open(tmp_path / "p", str(profile_path))
    assert not kas_made(s.project, s.base_profile) and adopt(s) is None


def test_the_plain_mode_opens_a_kas_made_project_at_the_build(tmp_path, kas_doc, profile_path, capsys):
    import argparse

    from wizard.plain import PlainRun, run_plain

    project = kas_checkout(tmp_path / "plain", kas_doc)
    started = []
    orig = PlainRun.run
    PlainRun.run = lambda self: started.append(self.start_at) or 0
    try:
        run_plain(argparse.Namespace(project=str(project), profile=str(profile_path), answers=None))
    finally:
        PlainRun.run = orig
    assert started == ["build"]
    out = capsys.readouterr().out
    assert "Project made outside the wizard: Create project, Configure local.conf found done; going on at Build." \
        in out and "laid out by kas from wrnv.yml" in out
