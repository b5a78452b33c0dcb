from __future__ import annotations

import re

import pytest

from wizard.core.errors import ProfileError
from wizard.core.paths import profiles_dir
from wizard.core.profile import DEFAULT_PROFILE, load_profile

SEED_COMMIT = "11a02d02a7098350638d7bf3a6c1a3946d3432fd"


def test_default_profile_holds_the_seed_facts():
    p = load_profile()
    assert p.id == DEFAULT_PROFILE
    assert p.default_machine.name == "jetson-nano-qspi-sd" and p.default_machine.sdcard
    assert [m.name for m in p.machines if m.sdcard] == ["jetson-nano-qspi-sd"]
    lts, base = p.source("lts"), p.source("base")
    assert (lts.branch, base.branch) == ("WRLINUX_10_19_LTS", "WRLINUX_10_19_BASE")
    assert lts.url.startswith("https://windshare.windriver.com/") and p.wrlinux.default_source == "base"
    assert p.meta_tegra.commit == SEED_COMMIT and p.meta_tegra.branch == "zeus-l4t-r32.3.1"
    assert p.wrlinux.setup_args == ("--all-layers", "--dl-layers", "--templates", "feature/docker")
    assert p.wrlinux.distro_option == "--distros"
    assert {i.id for i in p.images} == {"wrlinux-image-glibc-std", "wrlinux-image-std"}
    assert p.meta_tegra.layers == ("layers/meta-tegra", "layers/meta-tegra/contrib")
    assert any(u.product == "7f21" for u in p.usb_recovery)


def write_profile(tmp_path, transform) -> str:
    text = (profiles_dir() / f"{DEFAULT_PROFILE}.toml").read_text()
    out = tmp_path / "broken.toml"
    out.write_text(transform(text))
    return str(out)


@pytest.mark.parametrize("transform, key, problem", [
    (lambda t: t.replace('commit = "11a02d02a7098350638d7bf3a6c1a3946d3432fd"', 'commit = "11a02d0"'),
     "meta_tegra.commit", "40-character"),
    (lambda t: t.replace('branch = "zeus-l4t-r32.3.1"', ''), "meta_tegra.branch", "missing"),
    (lambda t: t.replace('sdcard = true', 'sdcard = "yes"', 1), "machines[0].sdcard", "true or false"),
    (lambda t: t.replace('default_source = "base"', 'default_source = "gold"'), "wrlinux.default_source", "not one"),
    (lambda t: t.replace('schema = 1', 'schema = 7'), "schema", "not supported"),
    (lambda t: t.replace('override_syntax = "underscore"', 'override_syntax = "dash"'), "override_syntax", "must be"),
    (lambda t: t.replace('[[distros]]\nid = "wrlinux-graphics"', '[[distros]]\ndefault = true\nid = "wrlinux-graphics"'),
     "distros", "exactly one"),
    (lambda t: t.replace('requires = ["cudnn"]', 'requires = ["cudnn9"]'), "packages[1].requires", "cudnn9"),
])
def test_broken_profile_names_file_key_and_problem(tmp_path, transform, key, problem):
    path = write_profile(tmp_path, transform)
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    msg = str(e.value)
    assert path in msg and f": {key}:" in msg and problem in msg, msg
    assert "\n" not in msg


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("id = [unclosed\n")
    with pytest.raises(ProfileError, match=re.escape(str(bad)) + ".*not valid TOML"):
        load_profile(str(bad))
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(str(tmp_path / "nope.toml"))
    with pytest.raises(ProfileError, match="no profile named 'nope'.*available: wrlinux-lts19"):
        load_profile("nope")


def test_mirror_overrides_replace_only_what_was_asked():
    p = load_profile()
    q = p.with_overrides(wrlinux_url="file:///mirror/wrlinux-x", meta_tegra_url="file:///mirror/meta-tegra",
                         source="base")
    assert q.source("base").url == "file:///mirror/wrlinux-x"
    assert q.source("lts").url == p.source("lts").url
    assert q.meta_tegra.url == "file:///mirror/meta-tegra" and q.meta_tegra.commit == SEED_COMMIT
    assert p.meta_tegra.url.startswith("https://github.com/")
