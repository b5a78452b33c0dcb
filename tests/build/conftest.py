"""Fixtures for the build step: a tiny project whose build environment puts the stand-in bitbake on PATH.

The two scripts the wizard sources (the buildtools environment and oe-init-build-env) are small real shell
scripts here, so the runner goes through exactly the same `bash -c` preamble as with a real Wind River project.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MACHINE = "jetson-nano-qspi-sd"


def make_project(root: Path, *, managed_block: bool = True) -> Path:
    proj = root / "proj"
    bindir = proj / "fake-bin"
    bindir.mkdir(parents=True)
    bitbake = bindir / "bitbake"
    bitbake.write_text(f"#!/bin/sh\nexec {sys.executable} -m wizard.demo.fake_bitbake \"$@\"\n")
    bitbake.chmod(0o755)
    (proj / "environment-setup-x86_64-wrlinuxsdk-linux").write_text(
        f'export PATH="{bindir}:$PATH"\nexport PYTHONPATH="{REPO}${{PYTHONPATH:+:$PYTHONPATH}}"\n')
    (proj / "oe-init-build-env").write_text('mkdir -p "${1:-build}/conf" && cd "${1:-build}"\n')
    conf = proj / "build" / "conf"
    conf.mkdir(parents=True)
    from wizard.project.localconf import BEGIN, END

    block = f"{BEGIN}\nMACHINE = '{MACHINE}'\n{END}\n" if managed_block else "MACHINE ??= \"qemux86-64\"\n"
    (conf / "local.conf").write_text("# local.conf written by setup.sh\n" + block)
    return proj


@pytest.fixture
def project(tmp_path):
    proj = make_project(tmp_path)
    yield proj
    stop_leftover_build(proj)


def stop_leftover_build(proj: Path) -> None:
    """A failed test must not leave its detached build running: kill the build this project's state names
    (only if its pid is still that very process)."""
    import os
    import signal

    from wizard.build.runner import pid_is
    from wizard.core.state import State

    data = State.load(proj).steps["build"].data
    pid = data.get("pid")
    if pid and pid_is(int(pid), data.get("pid_start")):
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def fake_env(monkeypatch):
    """The stand-in bitbake's knobs: allowed to run as root (tests run as root), fast."""
    monkeypatch.setenv("WRNV_FAKE_BITBAKE_ALLOW_ROOT", "1")
    monkeypatch.setenv("WRNV_FAKE_BITBAKE_SPEED", "25")
    monkeypatch.delenv("WRNV_FAKE_BITBAKE_FAIL", raising=False)
    return monkeypatch


@pytest.fixture
def session(project):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    return Session(load_profile(), project)


def follow_to_end(follower, timeout: float = 60.0) -> str:
    import time

    text = []
    end = time.monotonic() + timeout
    while not follower.done:
        if time.monotonic() > end:
            raise AssertionError("the build did not end in time")
        chunk, _ = follower.poll()
        text.append(chunk)
        if not chunk:
            time.sleep(0.05)
    return "".join(text)
