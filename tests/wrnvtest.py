"""Helpers for tests (importable as `wrnvtest`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def wizard_command() -> list:
    """The installed `wrnv-wizard` next to the running Python (the real console script)."""
    exe = Path(sys.executable).parent / "wrnv-wizard"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("wrnv-wizard")
    if found:
        return [found]
    pytest.skip("wrnv-wizard is not installed in this environment (pip install .)")


def run_cli(*args, env=None, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*wizard_command(), *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout)


async def wait_until(pilot, cond, timeout: float = 30.0) -> None:
    """Let the app run (pilot pauses) until `cond()` holds; fail the test after `timeout` seconds."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting in the UI")
        await pilot.pause(0.05)


def sbin_tool(name: str) -> str:
    """The path of a system tool (useradd, chpasswd, runuser, polkitd...), also where an ordinary PATH does not
    look (/usr/sbin, /sbin); "" when it is not installed."""
    found = shutil.which(name)
    for folder in ("/usr/sbin", "/sbin"):
        if not found and Path(folder, name).exists():
            found = str(Path(folder, name))
    return found or ""


def screen_lines(app) -> list:
    """The terminal's text, line by line, from the app's own screenshot (what a user sees, clipping included)."""
    svg = app.export_screenshot()
    rows: dict = {}
    for x, y, body in re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append((float(x), html.unescape(body).replace("\xa0", " ")))
    return ["".join(t for _x, t in sorted(parts)) for _y, parts in sorted(rows.items())]


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Stop a process a test started (by its own handle): SIGTERM, then SIGKILL if it has not gone."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
