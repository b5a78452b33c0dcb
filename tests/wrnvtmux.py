"""A real terminal for end-to-end tests: tmux runs a command, tests type keys and read the screen."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest


class Tmux:
    def __init__(self, tmp_path: Path, width: int = 80, height: int = 24):
        if not shutil.which("tmux"):
            pytest.skip("tmux is not installed")
        self.socket = f"wrnv-{uuid.uuid4().hex[:8]}"
        self.session = "t"
        self.width, self.height = width, height
        self.exit_file = tmp_path / f"exit-{self.socket}"

    def _tmux(self, *args, check=True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=30)

    def start(self, argv: list, env: dict | None = None, cwd: Path | None = None) -> None:
        exports = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (env or {}).items())
        cmd = f"{exports} {shlex.join(argv)}; echo $? > {shlex.quote(str(self.exit_file))}"
        if cwd:
            cmd = f"cd {shlex.quote(str(cwd))} && {cmd}"
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", str(self.width),
                   "-y", str(self.height), "env", "TERM=xterm-256color", "bash", "--norc", "-c", cmd)
        # Keep the pane after the program exits so its last screen can still be read.
        self._tmux("set-option", "-t", self.session, "remain-on-exit", "on", check=False)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session, check=False).stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self.screen()
            if text in last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout}s; screen was:\n{last}")

    def exit_code(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text().strip())
            time.sleep(0.2)
        raise AssertionError(f"program did not exit within {timeout}s; screen:\n{self.screen()}")

    def toasts(self, screen: str | None = None) -> str:
        """The notifications' words in one line: a toast is drawn over the screen (its rows start with "▌";
        the border of a box under it may show on their right) and wraps its text over several of them."""
        screen = self.screen() if screen is None else screen
        return " ".join(line.rsplit("▌", 1)[1].strip().rstrip("│┃▎▊╮╯").strip()
                        for line in screen.splitlines() if "▌" in line)

    def wait_toast(self, text: str, timeout: float = 30.0) -> str:
        """Wait until a notification says `text`; returns the screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in self.toasts(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} was not notified within {timeout}s; screen was:\n{self.screen()}")

    def kill(self) -> None:
        path = self._tmux("display-message", "-p", "#{socket_path}", check=False).stdout.strip()
        self._tmux("kill-server", check=False)
        if path and Path(path).name == self.socket:     # tmux leaves its socket file behind
            Path(path).unlink(missing_ok=True)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(tmp_path)
    yield t
    t.kill()
