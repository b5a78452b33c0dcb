"""procrun: live lines, per-step logs, masked passwords, cancel, and hints from real failing commands."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time

import pytest

from wizard.core import procrun
from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled


def test_lines_stream_to_callback_and_log(project):
    seen = []
    r = procrun.run(["bash", "-c", "echo one; echo two >&2; printf 'x\\ry\\n'"], step="demo", project=project,
                    on_line=seen.append)
    assert seen == ["one", "two", "y"]
    assert r.returncode == 0 and r.log_path == project / ".wrnv-wizard" / "logs" / "demo.log"
    log = r.log_path.read_text()
    assert "one\ntwo\ny\n" in log and "=== exit code 0" in log


def test_lines_arrive_while_the_command_runs(project):
    times = []
    procrun.run(["bash", "-c", "echo a; sleep 0.6; echo b"], step="t", project=project,
                on_line=lambda line: times.append(time.monotonic()))
    assert len(times) == 2 and times[1] - times[0] > 0.4


def test_password_never_logged_or_shown(project):
    seen = []
    argv = ["bash", "-c", 'echo "login with $2 / $4"; echo "again: $4"', "x", "--user", "bob", "--password",
            "hunter2-secret"]
    r = procrun.run(argv, step="setup", project=project, on_line=seen.append)
    assert "hunter2-secret" not in r.log_path.read_text()
    assert all("hunter2-secret" not in line for line in seen)
    assert seen[0] == f"login with bob / {procrun.MASK}"
    assert "hunter2-secret" not in " ".join(r.argv)
    assert procrun.redact_argv(["s", "--password=abc"]) == ["s", f"--password={procrun.MASK}"]


def test_failure_carries_tail_log_and_exit_code(project):
    with pytest.raises(procrun.CommandFailed) as e:
        procrun.run(["bash", "-c", "for i in $(seq 1 40); do echo line$i; done; exit 3"], step="f",
                    project=project, title="counting")
    err = e.value
    assert err.returncode == 3 and err.lines[-1] == "line40" and len(err.lines) == procrun.TAIL_LINES
    assert str(err.log_path) in str(err) and "\n" not in str(err)
    assert err.hint == ""


def test_missing_program_is_one_line(project):
    with pytest.raises(WizardError, match="not installed"):
        procrun.run(["wrnv-no-such-program-x"], step="m", project=project)


def test_cancel_stops_the_whole_process_group(project, tmp_path):
    marker = tmp_path / "child.pid"
    token = procrun.CancelToken()
    threading.Timer(0.5, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        procrun.run(["bash", "-c", f"sleep 30 & echo $! > {marker}; wait"], step="c", project=project,
                    cancel=token)
    assert time.monotonic() - t0 < 5
    pid = int(marker.read_text())
    assert _gone(pid), f"the command's child {pid} still runs"


def _gone(pid: int, wait: float = 3.0) -> bool:
    """Exited (a zombie waiting for its reaper counts: it no longer runs)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


# -- hints from real failures ---------------------------------------------------------------------------

def _hint_of(argv, project, env=None) -> str:
    with pytest.raises(procrun.CommandFailed) as e:
        procrun.run(argv, step="h", project=project, env=env)
    return e.value.hint


def test_hint_disk_full(project):
    assert "disk is full" in _hint_of(["dd", "if=/dev/zero", "of=/dev/full", "bs=1k", "count=1"], project)


def test_hint_network_unreachable(project, tmp_path):
    # Port 9 on 127.0.0.1: nothing listens, so the connection is refused -- no traffic leaves the host.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    hint = _hint_of(["git", "clone", "http://127.0.0.1:9/wrlinux-x", str(tmp_path / "c")], project, env)
    assert "network" in hint


def test_hint_git_identity_missing(project, tmp_path):
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / "none"), EMAIL="")
    env.pop("EMAIL")
    hint = _hint_of(["git", "-C", str(repo), "-c", "user.useConfigOnly=true", "commit", "--allow-empty", "-m", "x"],
                    project, env)
    assert "git config --global user.name" in hint


class _NeedsLogin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="windshare"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_hint_authentication_needed(project, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _NeedsLogin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/wrlinux-x"
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
        hint = _hint_of(["git", "clone", url, str(tmp_path / "c")], project, env)
    finally:
        server.shutdown()
    assert "login" in hint
