"""`wrnv-wizard verify-downloads` as a user runs it: exit codes, --json, the table and the advice."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from .conftest import cli


def run(folder, manifest, *extra, env=None):
    return cli("verify-downloads", os.fsencode(folder), "--manifest", str(manifest), *extra, env=env)


def test_json_format_and_exit_codes(downloads, manifest_path):
    p = run(downloads, manifest_path, "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is False
    for f in doc["files"]:
        assert {"name", "subdir", "status", "detail"} <= set(f)
        assert f["status"] in ("ok", "missing", "size-mismatch", "checksum-mismatch", "unreadable")
    nodla = [f for f in doc["files"] if f["subdir"] == "NoDLA"]
    assert nodla and all(f["status"] == "missing" for f in nodla)
    p = run(downloads, manifest_path, "--json", "--stage-nodla")
    assert p.returncode == 0, p.stdout
    doc = json.loads(p.stdout)
    assert doc["ok"] is True and {s["action"] for s in doc["staged"]} == {"linked"}
    assert all(f["status"] == "ok" for f in doc["files"] if f["needed"] == "required")


def test_human_table_and_what_to_do(downloads, manifest_path):
    (downloads / "libcudnn.deb").write_bytes(b"truncated")
    p = run(downloads, manifest_path)
    out = p.stdout.decode()
    assert p.returncode == 1
    assert out.splitlines()[0].split()[:3] == ["STATUS", "FILE", "DETAIL"]
    assert any(line.startswith("BAD SUM") and "libcudnn.deb" in line for line in out.splitlines())
    assert "run 'wrnv-wizard verify-downloads --stage-nodla'" in out.lower() or "--stage-nodla" in out
    assert "Delete and re-download in SDK Manager (incomplete or damaged): libcudnn.deb." in out
    assert "the build would fail" in out
    assert p.stderr == b""


@pytest.mark.parametrize("argv,msg", [
    (["--jobs", "0"], "--jobs must be 1 or more"),
    (["--packages", "cudnn,opencv"], "unknown package 'opencv'"),
    (["--jobs", "many"], "invalid int value"),
])
def test_usage_errors_exit_2(downloads, manifest_path, argv, msg):
    p = run(downloads, manifest_path, *argv)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_folder_and_bad_manifest_exit_1_with_one_line(tmp_path, manifest_path):
    for folder, msg in [(tmp_path / "none", "does not exist"), (manifest_path, "is a file, not a folder")]:
        p = run(folder, manifest_path)
        assert p.returncode == 1 and msg in p.stderr.decode() and "Traceback" not in p.stderr.decode()
        j = run(folder, manifest_path, "--json")
        assert json.loads(j.stdout)["ok"] is False and msg in json.loads(j.stdout)["error"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[files]]\nname = 'x'\n")
    p = run(tmp_path, bad)
    err = p.stderr.decode()
    assert p.returncode == 1 and f"{bad}: files[0].sha256: missing" in err and "Traceback" not in err


def test_non_utf8_folder_prints_without_crashing(tmp_path, manifest_path):
    from .conftest import fill

    folder = fill(tmp_path / os.fsdecode(b"dl-\xff"))
    p = run(folder, manifest_path, "--stage-nodla")
    assert p.returncode == 0, p.stderr
    assert "dl-\\xff" in p.stdout.decode("utf-8")


def test_unreadable_file_without_root_powers(downloads, manifest_path, own_cache):
    """Root reads any file, so the check runs with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped
    (util-linux setpriv): then a chmod 000 file really is unreadable, as for a normal user."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to drop the read-override capabilities")
    assert run(downloads, manifest_path, "--stage-nodla").returncode == 0
    os.chmod(downloads / "libcudnn.deb", 0)
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([setpriv, "--inh-caps=-dac_override,-dac_read_search",
                        "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "wizard.cli",
                        "verify-downloads", str(downloads), "--manifest", str(manifest_path), "--json",
                        "--no-cache"], capture_output=True, cwd=root, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(root)})
    if b"setpriv" in p.stderr and p.returncode not in (0, 1):
        pytest.skip(f"setpriv cannot drop capabilities here: {p.stderr.decode().strip()}")
    doc = json.loads(p.stdout)
    r = {f["name"]: f for f in doc["files"]}
    assert r["libcudnn.deb"]["status"] == "unreadable" and "Permission denied" in r["libcudnn.deb"]["detail"]
    assert p.returncode == 1
