"""The stand-in outside world behaves like the real one where the wizard depends on it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wizard.core.profile import load_profile
from wizard.demo.fake_repos import git
from wizard.project.buildenv import build_env_argv


def _clone(world, dest, branch="WRLINUX_10_19_BASE"):
    subprocess.run(["git", "clone", "-q", "--branch", branch, world.wrlinux_url, str(dest / "wrlinux-x")],
                   check=True)


def _setup(dest, *args):
    return subprocess.run([str(dest / "wrlinux-x" / "setup.sh"), *args], cwd=dest, capture_output=True, text=True)


@pytest.mark.parametrize("args, code, text", [
    (["--all-layers", "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    (["--d", "wrlinux"], 2, "ambiguous option"),
    (["--templates"], 2, "expected at least one argument"),
    (["-v"], 1, "at least one Layer Selection"),
    (["--all-layers", "--templates", "feature/nope"], 1, "Unable to find template feature/nope"),
    (["--all-layers", "--distros", "wrlinux-nope"], 1, "Unable to find distro"),
])
def test_setup_sh_fails_like_the_real_one(world, tmp_path, args, code, text):
    _clone(world, tmp_path)
    r = _setup(tmp_path, *args)
    assert r.returncode == code and text in r.stderr


def test_setup_sh_lays_out_a_project(world, tmp_path):
    _clone(world, tmp_path, "WRLINUX_10_19_LTS")
    # The tutorial's --distro works through argparse's prefix matching of --distros.
    r = _setup(tmp_path, "--all-layers", "--dl-layers", "--templates", "feature/docker", "--distro",
               "wrlinux-graphics")
    assert r.returncode == 0, r.stderr
    for name in ("README", "default.xml", ".templateconf", "config/local.conf.sample", "config/bblayers.conf.sample",
                 "config/conf-notes.txt", "layers/local/conf/layer.conf", "layers/oe-core/meta/conf/layer.conf",
                 "bin/buildtools", "environment-setup-x86_64-wrlinuxsdk-linux", "oe-init-build-env",
                 "bitbake/bin/bitbake", "bitbake/bin/bitbake-layers"):
        assert (tmp_path / name).exists(), name
    assert "WRLINUX_10_19_LTS" in (tmp_path / "config" / "saved_base_branch").read_text()
    assert 'DISTRO ??= "wrlinux-graphics"' in (tmp_path / "config" / "local.conf.sample").read_text()
    assert git(tmp_path, "log", "-1", "--format=%s").startswith("Configuration change - --all-layers")
    assert git(tmp_path / "layers" / "wrlinux", "rev-parse", "--abbrev-ref", "HEAD") == "WRLINUX_10_19_LTS"


def test_project_inside_wrlinux_x_is_refused(world, tmp_path):
    _clone(world, tmp_path)
    inner = tmp_path / "wrlinux-x" / "proj"
    inner.mkdir()
    r = subprocess.run(["../setup.sh", "--all-layers"], cwd=inner, capture_output=True, text=True)
    assert r.returncode == 1 and "can not be inside the wrlinux-x" in r.stderr


def test_build_environment_and_bitbake_layers(world, tmp_path):
    _clone(world, tmp_path)
    assert _setup(tmp_path, "--all-layers", "--dl-layers", "--templates", "feature/docker").returncode == 0
    prof = load_profile()
    layer = tmp_path / "wrlinux-x"   # not a layer: bitbake-layers must refuse it
    r = subprocess.run(build_env_argv(prof, tmp_path, ["bitbake-layers", "add-layer", str(layer)]),
                       capture_output=True, text=True)
    assert r.returncode == 1 and "doesn't contain a conf/layer.conf" in r.stderr
    conf = tmp_path / "build" / "conf" / "bblayers.conf"
    assert conf.exists() and (tmp_path / "build" / "conf" / "local.conf").exists()
    r = subprocess.run(build_env_argv(prof, tmp_path, ["sh", "-c", 'echo "$PWD|$PATH|$WRNV_BUILDTOOLS"']),
                       capture_output=True, text=True)
    pwd, path, buildtools = r.stdout.strip().split("|")
    assert pwd == str(tmp_path / "build") and f"{tmp_path}/bitbake/bin" in path.split(":") and buildtools
    rm = subprocess.run(build_env_argv(prof, tmp_path, ["bitbake-layers", "remove-layer",
                                                        str(tmp_path / "layers" / "local")]))
    assert rm.returncode == 0 and "layers/local" not in conf.read_text()


def test_bitbake_wrapper_runs_the_demo_module_with_this_python(world):
    text = (world.root / "bitbake" / "bin" / "bitbake").read_text()
    assert sys.executable in text and "-m wizard.demo.fake_bitbake" in text


def test_meta_tegra_tested_commit_is_behind_the_tip(world):
    mt, c = world.meta_tegra, world.commits
    assert c.tested != c.tip and len(c.tested) == 40
    subprocess.run(["git", "-C", str(mt), "merge-base", "--is-ancestor", c.tested, c.tip], check=True)
    assert git(mt, "rev-parse", "zeus-l4t-r32.3.1") == c.tip
    recipe = git(mt, "show", f"{c.tested}:recipes-devtools/cudnn/cudnn_7.6.3.28-1.bb")
    assert "${NVIDIA_DEVNET_MIRROR}/" in recipe
    assert git(mt, "cat-file", "-t", f"{c.tested}:contrib/conf/include/gcc-compat.conf") == "blob"
