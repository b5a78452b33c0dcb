"""kas export: what the project really uses, and valid by the schema the kas package ships."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from wizard.core.errors import WizardError
from wizard.core.session import Session
from wizard.demo.fake_repos import git
from wizard.project import kas_export, localconf


@pytest.fixture(scope="module")
def exported(built_project):
    s = Session.open(built_project)
    localconf.apply(localconf.local_conf_path(s.profile, s.project), localconf.block_for(s))
    text, notes = kas_export.export(s)
    return s, text, notes


def test_export_validates_against_kas_schema(exported):
    _, text, _ = exported
    kas_export.validate(text)
    schema = json.loads(kas_export.kas_schema_path().read_text())
    jsonschema.validate(yaml.safe_load(text), schema)      # and directly, without our wrapper


def test_export_freezes_every_layer_at_its_commit(exported, world):
    s, text, notes = exported
    doc = yaml.safe_load(text)
    assert (doc["machine"], doc["distro"], doc["target"]) == ("jetson-nano-qspi-sd", "wrlinux",
                                                              "wrlinux-image-glibc-std")
    repos = doc["repos"]
    mt = repos["meta-tegra"]
    assert mt["url"] == world.meta_tegra_url and mt["commit"] == world.commits.tested
    assert mt["layers"] == {".": None, "contrib": None}
    for key in ("oe-core", "wrlinux", "meta-virtualization"):
        path = s.project / repos[key]["path"]
        assert repos[key]["commit"] == git(path, "rev-parse", "HEAD")
        assert repos[key]["url"] == (world.root / key).as_uri()
    assert repos["oe-core"]["layers"] == {"meta": None}
    assert "layers/local" in repos["project"]["layers"]
    assert any("no remote URL" in n for n in notes)
    block = localconf.block_body(localconf.read_text(localconf.local_conf_path(s.profile, s.project)))
    assert doc["local_conf_header"]["wrnv-wizard"] == "\n".join(block) + "\n"


def test_validation_catches_a_broken_file():
    bad = "header:\n  version: 14\nrepos:\n  x:\n    commit: 12\n"
    with pytest.raises(WizardError, match="does not validate at repos/x/commit"):
        kas_export.validate(bad)


def test_export_before_setup_says_what_to_do(session):
    with pytest.raises(WizardError, match="wrnv-wizard setup"):
        kas_export.export(session)
