"""Fixtures for the project step: a stand-in outside world of real git repositories, cloned over file://."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import tomli_w

from wizard.core.paths import profiles_dir
from wizard.core.tomlio import load_toml
from wizard.demo.fake_repos import make_meta_tegra_repo, make_wrlinux_x_repo

# The step's test modules share their builders (by_hand, kas_checkout) by name.
sys.path.insert(0, str(Path(__file__).parent))

IDENTITY = {"GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test@wrnv.invalid",
            "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test@wrnv.invalid"}


class World:
    def __init__(self, root: Path):
        self.root = root
        self.wrlinux_x = make_wrlinux_x_repo(root / "wrlinux-x")
        self.meta_tegra = root / "meta-tegra"
        self.commits = make_meta_tegra_repo(self.meta_tegra)

    @property
    def wrlinux_url(self) -> str:
        return self.wrlinux_x.as_uri()

    @property
    def meta_tegra_url(self) -> str:
        return self.meta_tegra.as_uri()


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch):
    """setup.sh commits in the project (as the real one does): give git an identity on any host."""
    for k, v in IDENTITY.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def answered(session, world, tmp_path):
    """A session whose answers point at the stand-in world (public BASE source)."""
    downloads = tmp_path / "sdkm_downloads"
    downloads.mkdir()
    session.update_answers(source="base", wrlinux_url=world.wrlinux_url, meta_tegra_url=world.meta_tegra_url,
                           meta_tegra_commit=world.commits.tested, downloads_dir=str(downloads))
    return session


@pytest.fixture(scope="session")
def built_project(world, tmp_path_factory):
    """One project created end to end, shared by read-only tests (kas export, screens that only look)."""
    from wizard.core.session import Session
    from wizard.project.create import ProjectCreator

    mp = pytest.MonkeyPatch()
    for k, v in IDENTITY.items():
        mp.setenv(k, v)
    try:
        root = tmp_path_factory.mktemp("built")
        s = Session.open(root / "project")
        s.update_answers(source="base", wrlinux_url=world.wrlinux_url, meta_tegra_url=world.meta_tegra_url,
                         meta_tegra_commit=world.commits.tested, downloads_dir=str(root / "dl"))
        ProjectCreator(s).run_all()
    finally:
        mp.undo()
    return s.project


@pytest.fixture
def profile_path(world, tmp_path) -> Path:
    """The release profile pointing at the stand-in world (its repositories and its tested commit): the
    facts a user's project is compared with."""
    data = load_toml(profiles_dir() / "wrlinux-lts19-jetpack-4.3.toml")
    data["downloads"]["manifest"] = str(profiles_dir() / data["downloads"]["manifest"])
    data["meta_tegra"]["url"] = world.meta_tegra_url
    data["meta_tegra"]["commit"] = world.commits.tested
    for src in data["wrlinux"]["sources"]:
        if src["id"] == "base":
            src["url"] = world.wrlinux_url
    data["wrlinux"]["default_source"] = "base"
    out = tmp_path / "profile.toml"
    out.write_text(tomli_w.dumps(data))
    return out
