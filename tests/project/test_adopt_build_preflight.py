"""An adopted project can go on to the Build step it opens at: the build's pre-flight accepts a kas layout
(oe-init-build-env in a repository, no buildtools script) and the tutorial's local.conf lines that adoption
checked, and still refuses a project whose local.conf step is not done."""

from __future__ import annotations

import pytest
from test_adopt import by_hand
from test_adopt_kas import kas_checkout, kas_doc  # noqa: F401 - the module fixture

from wizard.build.runner import BuildRunner
from wizard.core.errors import WizardError
from wizard.core.session import Session
from wizard.project.adopt import adopt


def test_a_kas_made_project_passes_the_build_preflight(tmp_path, kas_doc, profile_path):  # noqa: F811
    project = kas_checkout(tmp_path / "from-kas", kas_doc)
    fresh = Session.open(project, str(profile_path))
    with pytest.raises(WizardError, match="Configure local.conf"):     # not adopted yet: no block, no record
        BuildRunner(fresh, allow_root=True, min_free_bytes=0).preflight()
    session = Session.open(project, str(profile_path))
    assert adopt(session).start_at == "build"
    BuildRunner(session, allow_root=True, min_free_bytes=0).preflight()


def test_the_tutorial_lines_project_passes_the_build_preflight(tmp_path, world, profile_path):
    project, downloads = tmp_path / "by-hand", tmp_path / "dl"
    downloads.mkdir()
    by_hand(project, profile_path, world, world.commits.tested, downloads, lines="tutorial")
    session = Session.open(project, str(profile_path))
    assert adopt(session).start_at == "build"
    BuildRunner(session, allow_root=True, min_free_bytes=0).preflight()


def test_a_folder_without_any_build_environment_is_refused(tmp_path, profile_path):
    (tmp_path / "p" / "build" / "conf").mkdir(parents=True)
    s = Session.open(tmp_path / "p", str(profile_path))
    with pytest.raises(WizardError, match="is missing: the project is not set up"):
        BuildRunner(s, allow_root=True, min_free_bytes=0).preflight()
