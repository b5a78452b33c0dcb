"""The demo sandbox is made of real parts: files whose sums match the manifest, git repositories, a card."""

from __future__ import annotations

import hashlib
import subprocess

from wizard.core.profile import load_profile
from wizard.demo import sandbox
from wizard.downloads.manifest import load_manifest


def test_sandbox_files_match_the_demo_manifest_and_repos_clone(tmp_path):
    sb = sandbox.build(tmp_path / "sb", use_loop=False, board=False)
    try:
        prof = load_profile(str(sb.profile_path))
        man = load_manifest(prof.manifest_path())
        assert man.path.name == "demo.manifest.toml" and len(man.files) >= 20
        for e in man.files:
            data = (sb.downloads / e.name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == e.sha256
        assert not (sb.downloads / "NoDLA").exists()   # staging is left to the real step
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", "--branch", "zeus-l4t-r32.3.1", sb.meta_tegra_url, str(clone)],
                       check=True)
        subprocess.run(["git", "-C", str(clone), "cat-file", "-e", sb.meta_tegra_commit], check=True)
        assert sb.card.stat().st_size == sandbox.CARD_BYTES and sb.card.stat().st_blocks == 0
    finally:
        sb.close()


def test_checksum_fault_corrupts_one_file(tmp_path):
    sb = sandbox.build(tmp_path / "sb", faults=("checksum",), use_loop=False, board=False)
    man = load_manifest(load_profile(str(sb.profile_path)).manifest_path())
    bad = [e.name for e in man.files
           if hashlib.sha256((sb.downloads / e.name).read_bytes()).hexdigest() != e.sha256]
    assert bad == [sb.corrupted] and "cudnn" in sb.corrupted
