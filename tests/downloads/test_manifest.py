"""The manifest: the shipped one is sound and matches the layer's recipes; broken ones fail with file + key."""

from __future__ import annotations

import pytest

from wizard.core.errors import ProfileError, UsageError
from wizard.downloads.manifest import cross_check, load_manifest, parse_packages, read_layer, select

from .conftest import ALL


def test_shipped_manifest_selects_the_tutorial_set(profile):
    m = load_manifest(profile.manifest_path())
    needed = select(m, profile, "jetson-nano-qspi-sd", ALL)
    required = [n.entry.rel for n in needed if n.required]
    recommended = [n.entry.rel for n in needed if not n.required]
    # The tutorial's 17 files (shared/reference), TensorRT from NoDLA/.
    assert len(required) == 17
    assert sum(r.startswith("NoDLA/") for r in required) == 9
    assert "nvidia-l4t-jetson-multimedia-api_32.3.1-20191209225816_arm64.deb" in required
    # CUDA_BINARIES_NATIVE = ubuntu1604 in the profile: that host deb, as a recommendation only.
    assert recommended == ["cuda-repo-ubuntu1604-10-0-local-10.0.326-410.108_1.0-1_amd64.deb"]
    assert all(n.entry.sha256 and len(n.entry.sha256) == 64 for n in needed)


def test_xavier_uses_dla_and_its_own_multimedia_api(profile):
    m = load_manifest(profile.manifest_path())
    rels = [n.entry.rel for n in select(m, profile, "jetson-xavier", ["tensorrt"])]
    assert sum(r.startswith("DLA/") for r in rels) == 9 and not any(r.startswith("NoDLA/") for r in rels)
    assert "nvidia-l4t-jetson-multimedia-api_32.3.1-20191209230245_arm64.deb" in rels
    # tensorrt pulls cudnn in (the profile says it requires it)
    assert "libcudnn7_7.6.3.28-1+cuda10.0_arm64.deb" in rels


def test_no_packages_needs_only_cuda_and_multimedia_api(profile):
    m = load_manifest(profile.manifest_path())
    req = [n.entry.name for n in select(m, profile, None, []) if n.required]
    assert req == ["nvidia-l4t-jetson-multimedia-api_32.3.1-20191209225816_arm64.deb",
                   "cuda-repo-l4t-10-0-local-10.0.326_1.0-1_arm64.deb"]


def test_package_aliases_and_unknown_names(profile):
    m = load_manifest(profile.manifest_path())
    assert parse_packages("visionworks", profile, m) == [
        "libvisionworks", "libvisionworks-sfm", "libvisionworks-tracking"]
    assert parse_packages("tensorrt", profile, m) == ["cudnn", "tensorrt"]
    with pytest.raises(UsageError, match="unknown package 'opencv'"):
        parse_packages("cudnn,opencv", profile, m)


def _layer(root, mmapi_sha: str, extra: str = ""):
    """A small layer written the way meta-tegra writes its recipes (overrides, requires, named SRC_URI sums)."""
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "tegra"\n')
    d = root / "recipes-x"
    d.mkdir()
    (d / "mm-1.0.inc").write_text(
        'SRC_DEBPKG = "${NVIDIA_DEVNET_MIRROR}/mmapi-t186.deb;subdir=mm"\n'
        'SRC_DEBPKG_tegra210 = "${NVIDIA_DEVNET_MIRROR}/mmapi-${PV}-t210.deb;subdir=mm"\n'
        'SRC_URI = "${SRC_DEBPKG}"\n'
        f'SRC_SHA256SUM_tegra210 = "{mmapi_sha}"\n'
        'SRC_SHA256SUM = "' + "b" * 64 + '"\n'
        'SRC_URI[sha256sum] = "${SRC_SHA256SUM}"\n')
    (d / "mm_1.0.bb").write_text("require mm-${PV}.inc\n")
    (d / "trt_6.bb").write_text(
        'SUBDIR = "NoDLA/"\nSUBDIR_tegra194 = "DLA/"\n'
        'PREFIX = "${@d.getVar(\'SUBDIR\').replace(\'/\', \'-\')}"\n'
        'SRC_URI = "\\\n    ${NVIDIA_DEVNET_MIRROR}/${SUBDIR}libnvinfer.deb;downloadfilename=${PREFIX}x;name=lib \\\n"\n'
        'SRC_URI[lib.sha256sum] = "' + "c" * 64 + '"\n' + extra)
    (d / "cboot_2.bb").write_text('SRC_URI = "${NVIDIA_DEVNET_MIRROR}/L4T-${PV}/cboot.tbz2"\n'
                                  'SRC_URI[sha256sum] = "' + "d" * 64 + '"\nCOMPATIBLE_MACHINE = "(tegra186)"\n')
    return root


def test_layer_reading_follows_overrides_requires_and_names(tmp_path):
    layer = _layer(tmp_path / "meta-tegra", "a" * 64)
    found = {(f.rel, f.soc): f.sha256 for f in read_layer(layer, ["tegra210", "tegra194", "tegra186"])}
    assert found[("mmapi-1.0-t210.deb", "tegra210")] == "a" * 64
    assert found[("mmapi-t186.deb", "tegra194")] == "b" * 64
    assert found[("NoDLA/libnvinfer.deb", "tegra210")] == "c" * 64
    assert found[("DLA/libnvinfer.deb", "tegra194")] == "c" * 64
    assert ("L4T-2/cboot.tbz2", "tegra186") in found and ("L4T-2/cboot.tbz2", "tegra210") not in found


def test_cross_check_reports_differences_and_the_layer_wins(tmp_path):
    layer = _layer(tmp_path / "meta-tegra", "a" * 64)
    mf = tmp_path / "m.toml"
    mf.write_text('[[files]]\nname = "mmapi-1.0-t210.deb"\nsha256 = "' + "e" * 64 + '"\nsoc = ["tegra210"]\n'
                  '[[files]]\nname = "libnvinfer.deb"\nsubdir = "NoDLA"\nsha256 = "' + "c" * 64 + '"\n'
                  'needed_for = ["tensorrt"]\nsoc = ["tegra210"]\n'
                  '[[files]]\nname = "gone.deb"\nsha256 = "' + "f" * 64 + '"\n')
    fixed, diffs = cross_check(load_manifest(mf), layer, ["tegra210"])
    text = "\n".join(diffs)
    assert "mmapi-1.0-t210.deb (tegra210): sha256 differs" in text
    assert "gone.deb (tegra210): listed in the manifest but the layer does not fetch it" in text
    sums = {e.rel: e.sha256 for e in fixed.files}
    assert sums["mmapi-1.0-t210.deb"] == "a" * 64          # the layer's value is used
    assert "gone.deb" not in sums
    assert sums["NoDLA/libnvinfer.deb"] == "c" * 64


BAD = [
    ("not toml [[", "", "not valid TOML"),
    ("schema = 1\n", "files", "missing"),
    ("[[files]]\nsubdir = ''\nsha256 = '" + "a" * 64 + "'\n", "files[0].name", "missing"),
    ("[[files]]\nname = 'x.deb'\n", "files[0].sha256", "missing"),
    ("[[files]]\nname = 'x.deb'\nsha256 = 'xyz'\n", "files[0].sha256", "64 hex digits"),
    ("[[files]]\nname = 'x.deb'\nsha256 = '" + "a" * 64 + "'\nsize = 'big'\n", "files[0].size", "whole number"),
    ("[[files]]\nname = 'a/x.deb'\nsha256 = '" + "a" * 64 + "'\n", "files[0].name", "plain file name"),
    ("[[files]]\nname = 'x.deb'\nsubdir = '../up'\nsha256 = '" + "a" * 64 + "'\n", "files[0].subdir", "inside"),
    ("[[files]]\nname = 'x.deb'\nsha256 = '" + "a" * 64 + "'\nneeded_for = 'cudnn'\n", "files[0].needed_for",
     "list"),
    ("files = 3\n", "files", "[[files]] tables"),
]


@pytest.mark.parametrize("text,key,problem", BAD)
def test_bad_manifest_names_file_and_key(tmp_path, text, key, problem):
    p = tmp_path / "bad.manifest.toml"
    p.write_text(text)
    with pytest.raises(ProfileError) as e:
        load_manifest(p)
    assert str(p) in str(e.value) and problem in str(e.value)
    assert e.value.key == key


def test_unknown_needed_for_is_reported_when_selecting(tmp_path, profile):
    p = tmp_path / "m.toml"
    p.write_text("[[files]]\nname = 'x.deb'\nsha256 = '" + "a" * 64 + "'\nneeded_for = ['opencv']\n")
    with pytest.raises(ProfileError, match=r"files\[0\].needed_for: 'opencv' is neither"):
        select(load_manifest(p), profile, None, [])


def test_manifest_that_is_binary_or_a_folder(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_manifest(p)
    with pytest.raises(ProfileError, match="is a folder"):
        load_manifest(tmp_path)
