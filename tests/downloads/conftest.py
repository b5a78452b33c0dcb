"""Fixtures: a real downloads folder of small generated files and a test manifest describing them.

The manifest uses the real profile's package ids and SoCs, so selection, staging and the CLI run exactly as they
do on the shipped manifest; only the files are small.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from wizard.core.profile import load_profile

# name, subdir, needed_for, soc, size declared?, extra keys
FILES = [
    ("mmapi-t210.deb", "", ["always"], ["tegra210"], True, {}),
    ("mmapi-t186.deb", "", ["always"], ["tegra186", "tegra194"], True, {}),
    ("cuda-l4t.deb", "", ["cuda"], [], False, {}),
    ("cuda-host-1604.deb", "", ["cuda-host-tools"], [], False,
     {"cuda_binaries_native": "cuda-binaries-ubuntu1604-native"}),
    ("cuda-host-1804.deb", "", ["cuda-host-tools"], [], False,
     {"cuda_binaries_native": "cuda-binaries-ubuntu1804-native"}),
    ("libcudnn.deb", "", ["cudnn"], [], False, {}),
    ("libnvinfer.deb", "NoDLA", ["tensorrt"], ["tegra210", "tegra186"], False, {}),
    ("libnvinfer-dev.deb", "NoDLA", ["tensorrt"], ["tegra210", "tegra186"], False, {}),
    ("libnvinfer.deb", "DLA", ["tensorrt"], ["tegra194"], False, {}),
    ("vw-repo.deb", "", ["libvisionworks"], [], True, {}),
    ("vw-sfm-repo.deb", "", ["libvisionworks-sfm"], [], False, {"md5_only": True}),
]


def content(name: str, subdir: str, size: int = 300_000) -> bytes:
    """Deterministic bytes per file (DLA and NoDLA debs share names but not contents, as on NVIDIA's server)."""
    seed = hashlib.sha256(f"{subdir}/{name}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size - len(name)] + name.encode()


def write_manifest(path: Path, files=FILES, sizes: dict = None) -> Path:
    lines = ["schema = 1", "", "[aliases]", 'visionworks = ["libvisionworks", "libvisionworks-sfm"]', ""]
    for name, subdir, needed, soc, with_size, extra in files:
        data = content(name, subdir)
        lines += ["[[files]]", f'name = "{name}"', f'subdir = "{subdir}"']
        if extra.get("md5_only"):
            lines.append(f'md5 = "{hashlib.md5(data).hexdigest()}"')
        else:
            lines.append(f'sha256 = "{hashlib.sha256(data).hexdigest()}"')
        if with_size:
            lines.append(f"size = {len(data)}")
        lines.append("needed_for = [" + ", ".join(f'"{n}"' for n in needed) + "]")
        if soc:
            lines.append("soc = [" + ", ".join(f'"{s}"' for s in soc) + "]")
        if "cuda_binaries_native" in extra:
            lines.append(f'cuda_binaries_native = "{extra["cuda_binaries_native"]}"')
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def fill(folder: Path, soc: str = "tegra210", staged: bool = False) -> Path:
    """SDK Manager's layout: every deb at the top; TensorRT also in its sub-folder when `staged`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, subdir, _n, socs, _s, _e in FILES:
        if socs and soc not in socs:
            continue
        data = content(name, subdir)
        (folder / name).write_bytes(data)
        if subdir and staged:
            (folder / subdir).mkdir(exist_ok=True)
            (folder / subdir / name).write_bytes(data)
    return folder


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WRNV_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def profile():
    return load_profile()


@pytest.fixture
def manifest_path(tmp_path) -> Path:
    return write_manifest(tmp_path / "test.manifest.toml")


@pytest.fixture
def downloads(tmp_path) -> Path:
    return fill(tmp_path / "sdkm_downloads")


ALL = ["cudnn", "tensorrt", "libvisionworks", "libvisionworks-sfm", "libvisionworks-tracking"]


def cli(*argv, env=None, **kw):
    """Run the real CLI in a subprocess (exit codes, stdout/stderr as the user sees them)."""
    import subprocess
    import sys

    e = dict(os.environ)
    e.update(env or {})
    root = Path(__file__).resolve().parents[2]
    e["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "wizard.cli", *argv], capture_output=True, env=e, cwd=root,
                          timeout=60, **kw)
