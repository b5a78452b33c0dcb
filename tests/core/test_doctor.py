"""Host checks against real tools and a real git, in a temporary HOME and PATH (nothing faked)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from wizard.core.hostinfo import Distro
from wizard.core.profile import load_profile
from wizard.host.doctor import FAIL, PASS, HostContext, check_git_identity, check_required_tools, run_checks


def ctx_with(tmp_path: Path, env: dict, distro: Distro | None = None, euid: int = 1000) -> HostContext:
    prof = load_profile()
    return HostContext(profile=prof, project=tmp_path / "proj", env=env,
                       distro=distro or Distro("ubuntu", "18.04", ("debian",), "Ubuntu 18.04"), euid=euid)


def bin_with(tmp_path: Path, tools: list) -> str:
    """A PATH holding links to the real tools named, and nothing else."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for t in tools:
        real = shutil.which(t)
        if real:
            (d / t).symlink_to(real)
    return str(d)


def test_git_identity_missing_then_set(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1"}
    ctx = ctx_with(tmp_path, env)
    c = check_git_identity(ctx)
    assert c.status == FAIL and "user.name and user.email" in c.detail
    assert 'git config --global user.name "Your Name"' in c.fix
    subprocess.run(["git", "config", "--global", "user.name", "Ada L"], env=env, check=True)
    subprocess.run(["git", "config", "--global", "user.email", "ada@example.com"], env=env, check=True)
    c = check_git_identity(ctx)
    assert c.status == PASS and c.detail == "Ada L <ada@example.com>"


def test_missing_tools_are_named_with_the_packages_that_bring_them(tmp_path):
    path = bin_with(tmp_path, ["bash", "git", "gcc", "make"])
    ctx = ctx_with(tmp_path, {"PATH": path})
    c = check_required_tools(ctx)
    assert c.status == FAIL
    assert "chrpath" in c.detail and "rpcgen" in c.detail and " git " not in f" {c.detail} "
    assert c.fix.startswith("sudo apt-get install -y ") and "texinfo" in c.fix and "rpcsvc-proto" in c.fix
    fedora = ctx_with(tmp_path, {"PATH": path}, Distro("fedora", "30", (), "Fedora 30"))
    assert check_required_tools(fedora).fix.startswith("sudo dnf install -y ")


def test_all_tools_present_passes(tmp_path):
    prof = load_profile()
    real = [t for t in prof.host["required_tools"] if shutil.which(t)]
    path = bin_with(tmp_path, real)
    # Stand-ins for the tools this machine lacks, so the check can pass for real on a PATH that has them all.
    for t in prof.host["required_tools"]:
        if not (Path(path) / t).exists():
            (Path(path) / t).write_text("#!/bin/sh\nexit 0\n")
            (Path(path) / t).chmod(0o755)
    c = check_required_tools(ctx_with(tmp_path, {"PATH": path}))
    assert c.status == PASS and str(len(prof.host["required_tools"])) in c.detail


def test_root_and_untested_distro(tmp_path):
    checks = {c.name: c for c in run_checks(ctx_with(tmp_path, dict(os.environ), euid=0))}
    assert checks["not root"].status == FAIL and "bitbake" in checks["not root"].detail
    tested = {c.name: c for c in run_checks(ctx_with(tmp_path, dict(os.environ)))}
    assert tested["host distribution"].status == PASS
    other = ctx_with(tmp_path, dict(os.environ), Distro("arch", "", (), "Arch Linux"))
    assert {c.name: c for c in run_checks(other)}["host distribution"].status == "warn"


def test_every_failing_check_says_how_to_fix_it(tmp_path):
    ctx = ctx_with(tmp_path, {"PATH": bin_with(tmp_path, ["bash"]), "HOME": str(tmp_path)}, euid=0)
    checks = run_checks(ctx)
    assert len(checks) >= 8
    failing = [c for c in checks if c.status == FAIL]
    assert len(failing) >= 4
    assert all(c.fix for c in failing), [c.name for c in failing if not c.fix]


# -- which Python runs NVIDIA's flashing scripts (dosdcard.sh) ------------------------------------------------

PY27 = Path("/root/.pyenv/versions/2.7.18/bin/python2.7")
PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")


def _links(tmp_path: Path, name: str, links: dict) -> str:
    d = tmp_path / name
    d.mkdir()
    for link, target in links.items():
        (d / link).symlink_to(target)
    return str(d)


def _sdcard_check(tmp_path: Path, path: str):
    from wizard.host.doctor import check_sdcard_tools

    return check_sdcard_tools(ctx_with(tmp_path, {"PATH": path, "HOME": str(tmp_path)}))


def test_sdcard_check_names_the_python_and_the_shim_on_a_311_only_host(tmp_path):
    """`python` is 3.11 and PATH lacks /usr/sbin: still a pass (sgdisk is found in /usr/sbin, which the wizard
    puts on dosdcard.sh's PATH), and the check says the 3.11 runs the scripts with the shim."""
    py311 = shutil.which("python3.11")
    sgdisk = shutil.which("sgdisk", path="/usr/sbin:/sbin")
    if not py311 or not sgdisk:
        import pytest
        pytest.skip("needs python3.11 and sgdisk in /usr/sbin")
    c = _sdcard_check(tmp_path, _links(tmp_path, "only311", {"python": py311}))
    assert c.status == PASS, c
    assert "only311/python (Python 3.11" in c.detail and "shim" in c.detail


def test_sdcard_check_prefers_python27_then_35_to_38(tmp_path):
    import pytest

    if not (PY27.exists() and PY37.exists() and shutil.which("python3.11")):
        pytest.skip("needs the pyenv 2.7.18 and 3.7.16 of this machine image")
    both = _links(tmp_path, "all", {"python": shutil.which("python3.11"), "python3.7": PY37, "python2.7": PY27})
    c = _sdcard_check(tmp_path, both)
    assert c.status == PASS and "Python 2.7.18" in c.detail and "shim" not in c.detail
    no27 = _links(tmp_path, "no27", {"python": shutil.which("python3.11"), "python3.7": PY37})
    c = _sdcard_check(tmp_path, no27)
    assert c.status == PASS and "Python 3.7.16" in c.detail and "shim" not in c.detail


def test_sdcard_check_fails_only_when_no_python_can_work(tmp_path):
    """A `python` that is too old (a script reporting 3.4.0, which NVIDIA's scripts do not support) and no
    other: fail, with the package to install."""
    d = tmp_path / "old"
    d.mkdir()
    fake = d / "python"
    fake.write_text("#!/bin/sh\necho 3.4.0\n")
    fake.chmod(0o755)
    c = _sdcard_check(tmp_path, str(d))
    assert c.status == FAIL and "python3" in c.detail and "apt-get install" in c.fix
