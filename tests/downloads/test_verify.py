"""The verification engine on real files: every status, the cache, progress, cancel, staging, bad input."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled
from wizard.downloads.hashcache import cache_file
from wizard.downloads.manifest import load_manifest, select
from wizard.downloads.nodla import stage
from wizard.downloads.verify import count_present, verify

from .conftest import ALL, content, fill


def needed(manifest_path, profile, machine="jetson-nano-qspi-sd", packages=ALL):
    return select(load_manifest(manifest_path), profile, machine, packages)


def by_rel(report):
    return {r.rel: r for r in report.results}


def test_good_folder_after_staging_is_ok(downloads, manifest_path, profile):
    need = needed(manifest_path, profile)
    first = verify(downloads, need)
    assert not first.ok
    assert {r.rel for r in first.can_stage} == {"NoDLA/libnvinfer.deb", "NoDLA/libnvinfer-dev.deb"}
    assert any("--stage-nodla" in a for a in first.advice())
    done = stage(downloads, need)
    assert {s.action for s in done} == {"linked"}
    again = stage(downloads, need)                      # idempotent
    assert {s.action for s in again} == {"already"}
    report = verify(downloads, need)
    assert report.ok, [(r.rel, r.status, r.detail) for r in report.results]
    assert all(r.status == "ok" for r in report.results)
    assert os.stat(downloads / "NoDLA" / "libnvinfer.deb").st_ino == os.stat(downloads / "libnvinfer.deb").st_ino
    assert "All" in report.summary()


def test_selection_follows_machine_and_packages(downloads, manifest_path, profile):
    rels = [n.entry.rel for n in needed(manifest_path, profile, "jetson-xavier", ["tensorrt"])]
    assert "DLA/libnvinfer.deb" in rels and "mmapi-t186.deb" in rels and "mmapi-t210.deb" not in rels
    assert "vw-repo.deb" not in rels and "libcudnn.deb" in rels


def test_missing_and_recommended(downloads, manifest_path, profile):
    stage(downloads, needed(manifest_path, profile))
    (downloads / "libcudnn.deb").unlink()
    (downloads / "cuda-host-1604.deb").unlink()
    (downloads / "cuda-host-1804.deb").unlink()
    report = verify(downloads, needed(manifest_path, profile))
    r = by_rel(report)
    assert r["libcudnn.deb"].status == "missing" and r["libcudnn.deb"].level == "required"
    # the host CUDA deb matching CUDA_BINARIES_NATIVE (1604 in the profile) is only recommended
    assert r["cuda-host-1604.deb"].status == "missing" and r["cuda-host-1604.deb"].level == "recommended"
    assert "cuda-host-1804.deb" not in r
    assert not report.ok
    (downloads / "libcudnn.deb").write_bytes(content("libcudnn.deb", ""))
    report = verify(downloads, needed(manifest_path, profile))
    assert report.ok and [w.rel for w in report.warnings] == ["cuda-host-1604.deb"]
    assert any(a.startswith("Recommended: cuda-host-1604.deb") for a in report.advice())


def test_truncated_empty_and_corrupt(downloads, manifest_path, profile):
    need = needed(manifest_path, profile)
    stage(downloads, need)
    data = (downloads / "mmapi-t210.deb").read_bytes()
    (downloads / "mmapi-t210.deb").write_bytes(data[:1000])          # size declared: size-mismatch
    (downloads / "cuda-l4t.deb").write_bytes(content("cuda-l4t.deb", "")[:5000])  # no size: checksum
    (downloads / "libcudnn.deb").write_bytes(b"")                    # empty
    bad = bytearray(content("vw-sfm-repo.deb", ""))
    bad[100] ^= 1
    (downloads / "vw-sfm-repo.deb").write_bytes(bytes(bad))          # md5-only entry, one bit flipped
    r = by_rel(verify(downloads, need))
    assert r["mmapi-t210.deb"].status == "size-mismatch" and "incomplete" in r["mmapi-t210.deb"].detail
    assert r["cuda-l4t.deb"].status == "checksum-mismatch"
    assert r["libcudnn.deb"].status == "size-mismatch" and "empty" in r["libcudnn.deb"].detail
    assert r["vw-sfm-repo.deb"].status == "checksum-mismatch" and "md5" in r["vw-sfm-repo.deb"].detail
    assert r["vw-repo.deb"].status == "ok"


def test_unreadable_fifo_folder_and_symlink_loop(downloads, manifest_path, profile):
    """Unreadable as root: a FIFO (would block a naive open), a folder with the file's name, a symlink loop."""
    need = needed(manifest_path, profile)
    stage(downloads, need)
    (downloads / "libcudnn.deb").unlink()
    os.mkfifo(downloads / "libcudnn.deb")
    (downloads / "vw-repo.deb").unlink()
    (downloads / "vw-repo.deb").mkdir()
    (downloads / "cuda-l4t.deb").unlink()
    os.symlink("loop-b", downloads / "cuda-l4t.deb")
    os.symlink("cuda-l4t.deb", downloads / "loop-b")
    (downloads / "vw-sfm-repo.deb").unlink()
    os.symlink("nowhere.deb", downloads / "vw-sfm-repo.deb")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", verify(downloads, need)), daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "verify hung on the FIFO"
    r = by_rel(result["r"])
    assert r["libcudnn.deb"].status == "unreadable" and "FIFO" in r["libcudnn.deb"].detail
    assert r["vw-repo.deb"].status == "unreadable" and "folder" in r["vw-repo.deb"].detail
    assert r["cuda-l4t.deb"].status == "unreadable" and "symlink loop" in r["cuda-l4t.deb"].detail
    assert r["vw-sfm-repo.deb"].status == "missing" and "broken link" in r["vw-sfm-repo.deb"].detail


def test_nodla_is_a_file(downloads, manifest_path, profile):
    (downloads / "NoDLA").write_text("oops")
    r = by_rel(verify(downloads, needed(manifest_path, profile)))
    assert r["NoDLA/libnvinfer.deb"].status == "unreadable" and "NoDLA is a file" in r["NoDLA/libnvinfer.deb"].detail
    with pytest.raises(WizardError, match="NoDLA is a file, not a folder"):
        stage(downloads, needed(manifest_path, profile))


def test_cache_reads_nothing_when_unchanged_and_notices_changes(downloads, manifest_path, profile, own_cache):
    need = needed(manifest_path, profile)
    stage(downloads, need)
    cold = verify(downloads, need)
    assert cold.ok and cold.bytes_hashed > 0
    assert cache_file().parent == own_cache and cache_file().is_file()
    assert not any(p.name.startswith(".") or p.suffix == ".json" for p in downloads.iterdir())
    warm = verify(downloads, need)
    assert warm.ok and warm.bytes_hashed == 0 and all(r.from_cache for r in warm.results)
    # same size, same mtime, new content and inode: must be re-read and caught
    p = downloads / "libcudnn.deb"
    st = p.stat()
    bad = bytearray(p.read_bytes())
    bad[-1] ^= 0xFF
    p.unlink()
    p.write_bytes(bytes(bad))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = by_rel(verify(downloads, need))
    assert r["libcudnn.deb"].status == "checksum-mismatch" and not r["libcudnn.deb"].from_cache
    # --no-cache re-reads everything
    nocache = verify(downloads, need, use_cache=False)
    assert nocache.bytes_hashed == cold.bytes_hashed


def test_damaged_cache_is_ignored(downloads, manifest_path, profile):
    need = needed(manifest_path, profile)
    cache_file().parent.mkdir(parents=True, exist_ok=True)
    cache_file().write_bytes(b"\x00{not json")
    report = verify(downloads, need)
    assert report.bytes_hashed > 0
    assert verify(downloads, need).bytes_hashed == 0      # rebuilt


def test_progress_and_jobs(downloads, manifest_path, profile):
    need = needed(manifest_path, profile)
    seen = []
    one = verify(downloads, need, jobs=1, use_cache=False, progress=lambda p: seen.append((p.done, p.total)))
    four = verify(downloads, need, jobs=4, use_cache=False)
    assert [(r.rel, r.status) for r in one.results] == [(r.rel, r.status) for r in four.results]
    assert seen[-1][0] == seen[-1][1] == one.bytes_hashed > 0
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cancel_stops_the_work(tmp_path, manifest_path, profile):
    big = tmp_path / "big"
    fill(big)
    # make one file large enough that cancelling lands mid-file
    (big / "cuda-l4t.deb").write_bytes(os.urandom(64 << 20))
    stop = threading.Event()
    with pytest.raises(Cancelled):
        verify(big, needed(manifest_path, profile), jobs=2, use_cache=False,
               on_result=lambda r: stop.set() if r.status == "checking" else None, cancel=stop)
    # nothing half-read was remembered as checked
    assert verify(big, needed(manifest_path, profile), jobs=1).bytes_hashed > 64 << 20


def test_folder_problems_are_one_line_errors(tmp_path, manifest_path, profile):
    need = needed(manifest_path, profile)
    with pytest.raises(WizardError, match="does not exist; run SDK Manager"):
        verify(tmp_path / "nope", need)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WizardError, match="is a file, not a folder"):
        verify(tmp_path / "afile", need)
    os.symlink("l2", tmp_path / "l1")
    os.symlink("l1", tmp_path / "l2")
    with pytest.raises(WizardError, match="symlink loop"):
        verify(tmp_path / "l1", need)


def test_non_utf8_names_and_thousands_of_unrelated_files(tmp_path, manifest_path, profile):
    folder = fill(tmp_path / os.fsdecode(b"sdkm-\xff\xfe"))
    need = needed(manifest_path, profile)
    stage(folder, need)
    raw = os.fsencode(folder)
    for i in range(3000):
        with open(raw + b"/junk-%d-\xe9\xff.bin" % i, "wb") as f:
            f.write(b"x")
    (folder / "libcudnn.deb").rename(folder / os.fsdecode(b"libcudnn \xff(1).deb"))
    t0 = time.monotonic()
    report = verify(folder, need)
    assert time.monotonic() - t0 < 10
    r = by_rel(report)
    assert r["libcudnn.deb"].status == "missing"
    assert "libcudnn \\xff(1).deb" in r["libcudnn.deb"].detail     # named, escaped, no crash
    assert sum(x.status == "ok" for x in report.results) == len(report.results) - 1
    assert "\\xff" in report.to_json()["folder"]


def test_stage_copies_across_filesystems(downloads, manifest_path, profile):
    """NoDLA on another filesystem (a real tmpfs mount): hard links fail with EXDEV, so it copies."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target = downloads / "NoDLA"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(target)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        need = needed(manifest_path, profile)
        assert {s.action for s in stage(downloads, need)} == {"copied"}
        assert {s.action for s in stage(downloads, need)} == {"kept"}
        assert not list(target.glob(".*partial"))
        assert verify(downloads, need).ok
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_count_present_does_not_hash(downloads, profile, tmp_path):
    present, total = count_present(downloads, profile, None, ALL)
    assert (present, total) == (0, 17)           # the shipped manifest's names are not in the test folder
    real = tmp_path / "real"
    real.mkdir()
    m = load_manifest(profile.manifest_path())
    required = [n.entry for n in select(m, profile, None, ALL) if n.required]
    for e in required[:5]:
        (real / e.name).write_bytes(b"not even the right content")   # present is all it counts
    (real / "cuda-repo-ubuntu1604-10-0-local-10.0.326-410.108_1.0-1_amd64.deb").write_bytes(b"x")  # recommended
    assert count_present(real, profile, None, ALL) == (5, 17)
    trt = next(e for e in required if e.subdir == "NoDLA")
    (real / trt.name).write_bytes(b"x")            # still at the top: staging is automatic, so it counts
    assert count_present(real, profile, None, ALL) == (6, 17)
    assert count_present(tmp_path / "missing", profile, None, ALL) == (0, 17)
