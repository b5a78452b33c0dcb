"""The demo's stand-in board: a private sshd on 127.0.0.1 in front of a folder laid out like the tutorial's image.

Step 11 checks a Jetson over ssh. So that the demo runs that *real* path (the OpenSSH client, host-key trust
in the wizard's own known_hosts, the GPU probe piped into `docker run`), the sandbox starts its own sshd on a
free port of 127.0.0.1 with a host key of its own and a client key that is the only one it accepts. Its
sessions get `<sandbox>/bin` first on PATH, so `docker` there is the stand-in (see sandbox.make_bin) and the
CUDA driver inside `--runtime nvidia` containers is standin_cuda/sitecustomize.py.

sshd can only log a user in when it runs as root (privilege separation) and when openssh-server is
installed; otherwise nothing is started and `reason` says why, in one line the demo shows to the user.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

SSHD = Path("/usr/sbin/sshd")
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
NOT_AVAILABLE = ("the demo's stand-in board needs root and openssh-server ({why}), so step 11 will fail at "
                 "\"reachable\"; on a real run the wizard checks your Jetson over SSH")

# What nvidia-docker installs on the tutorial's image (the daemon.json the check parses).
DAEMON_JSON = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}
# nvidia-container-toolkit's config.toml on the image; the check follows the `ldconfig` path it names.
RUNTIME_CONFIG = """disable-require = false

[nvidia-container-cli]
environment = []
load-kmods = true
ldconfig = "@{ldconfig}"

[nvidia-container-runtime]
#debug = "/var/log/nvidia-container-runtime.log"
"""


def board_dir(sandbox_root: Path) -> Path:
    """Everything of the stand-in board: keys, sshd_config, and `root/` (the board's file system)."""
    return Path(sandbox_root) / "board"


def board_root(sandbox_root: Path) -> Path:
    return board_dir(sandbox_root) / "root"


def standin_cuda_dir() -> Path:
    """The folder whose sitecustomize.py stands in for the Jetson's libcuda (on PYTHONPATH in the container)."""
    return Path(__file__).resolve().parent / "standin_cuda"


def board_paths(sandbox_root: Path, board: dict) -> dict:
    """The profile's [board] paths (daemon_json, runtime_config, csv_dir) moved into the stand-in root."""
    root = board_root(sandbox_root)
    return {k: str(root / str(board[k]).lstrip("/")) for k in ("daemon_json", "runtime_config", "csv_dir")}


def csv_names(board: dict) -> list:
    """The CSV files the image has: the always-present ones and those of every optional package."""
    names = list(board.get("csv_always", []))
    names += [n for n in (board.get("csv_per_package") or {}).values() if n not in names]
    return names


def lay_out_root(sandbox_root: Path, board: dict) -> Path:
    """Write the stand-in board's files from the real profile's [board] table (its on-board paths)."""
    root = board_root(sandbox_root)
    paths = board_paths(sandbox_root, board)
    dj = Path(paths["daemon_json"])
    dj.parent.mkdir(parents=True, exist_ok=True)
    dj.write_text(json.dumps(DAEMON_JSON, indent=4) + "\n")
    # The tutorial adds DISTRO_FEATURES ldconfig so that this file exists; the stand-in has it too.
    ldconfig = root / "sbin" / "ldconfig"
    ldconfig.parent.mkdir(parents=True, exist_ok=True)
    ldconfig.write_text("#!/bin/sh\n# wrnv demo stand-in for the board's ldconfig\nexit 0\n")
    ldconfig.chmod(0o755)
    cfg = Path(paths["runtime_config"])
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(RUNTIME_CONFIG.format(ldconfig=ldconfig))
    csv = Path(paths["csv_dir"])
    csv.mkdir(parents=True, exist_ok=True)
    for name in csv_names(board):
        (csv / name).write_text(f"lib, /usr/lib/aarch64-linux-gnu/placeholder-for-{name[:-4]}.so\n")
    return root


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return os.environ.get("USER", "root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# The stand-in board's login shell (see sshd_config): the client's command, or an interactive shell.
BOARD_SHELL = ('if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/bash --noprofile --norc -c "$SSH_ORIGINAL_COMMAND"; '
               'else exec /bin/bash --noprofile --norc -i; fi')


def sshd_config(port: int, folder: Path, host_key: Path, env: dict) -> str:
    """An sshd that listens on 127.0.0.1 only, lets in the keys of `folder`/authorized_keys (no passwords,
    no PAM: it runs from a folder, not as the system's sshd) and gives each session `env`. Shared by the
    demo's board and the tests' one, so that both follow the same OpenSSH.

    A real board's root has a plain shell; this computer's user may not. bash started by sshd reads
    ~/.bashrc, and a slow or stuck one (a `pyenv init` waiting on a stale rehash lock hangs every login for
    a minute) made the stand-in "not answer in time". So the session's shell never reads this computer's
    startup files: SHLVL=1 keeps the outer `$SHELL -c` from reading ~/.bashrc, and ForceCommand runs the
    command (or an interactive shell) in a bash told to read none."""
    setenv = " ".join(f'"{k}={v}"' for k, v in {**env, "SHLVL": "1"}.items())
    return f"""# sshd of a wrnv-wizard stand-in board (127.0.0.1 only)
Port {port}
ListenAddress {HOST}
HostKey "{host_key}"
PidFile "{folder / 'sshd.pid'}"
AuthorizedKeysFile "{folder / 'authorized_keys'}"
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
SetEnv {setenv}
ForceCommand {BOARD_SHELL}
"""


def _die_with_parent() -> None:
    """In the child before exec: the kernel stops sshd if the demo is killed without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def _children(pid: int) -> list:
    """Processes whose parent is `pid` (sshd's per-connection processes leave its process group)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(d.name))
    return out


def descendants(pid: int) -> list:
    todo, seen = [pid], []
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.append(child)
                todo.append(child)
    return seen


def alive(pid: int) -> bool:
    """Running: not gone and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _end(pids: list, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is still running after `grace` seconds; returns once they are all gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + grace
        while any(alive(p) for p in pids) and time.monotonic() < end:
            time.sleep(0.02)
        if not any(alive(p) for p in pids):
            return


class DemoBoard:
    """The stand-in board of one sandbox. `start()` runs its sshd (or sets `reason`); `stop()` ends it."""

    def __init__(self, sandbox_root: Path, bin_dir: Path):
        self.dir = board_dir(sandbox_root)
        self.root = board_root(sandbox_root)
        self.bin_dir = Path(bin_dir)
        self.identity = self.dir / "id_ed25519"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.user = current_user()
        self.port = 0
        self.reason = ""
        self.proc: Optional[subprocess.Popen] = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def why_not(self) -> str:
        """'' when a stand-in board can run here, else why not (one short clause)."""
        if os.geteuid() != 0:
            return "this demo does not run as root"
        if not SSHD.exists():
            return f"{SSHD} is missing: apt install openssh-server"
        if shutil.which("ssh-keygen") is None:
            return "ssh-keygen is missing: apt install openssh-client"
        return ""

    def start(self) -> bool:
        """Start sshd on a free port; False (and `reason` set) when it cannot run here."""
        if self.running:
            return True
        why = self.why_not()
        if why:
            self.reason = NOT_AVAILABLE.format(why=why)
            self.port = free_port()   # nothing listens there: the check fails at "reachable", as it should
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        keygen = shutil.which("ssh-keygen") or "ssh-keygen"
        # Kept across runs of the same sandbox: the board's key does not change unless it is "re-flashed".
        for key in (self.host_key, self.identity):
            if not key.exists():
                subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "wrnv-demo", "-f", str(key)],
                               check=True, capture_output=True)
        (self.dir / "authorized_keys").write_text(Path(str(self.identity) + ".pub").read_text())
        self.port = free_port()
        path = f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        config = self.dir / "sshd_config"
        config.write_text(sshd_config(self.port, self.dir, self.host_key, {"PATH": path}))
        # The privilege-separation folder Debian's sshd expects (normally made by its systemd unit).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(self.dir / "sshd.log", "ab")
        try:
            self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, preexec_fn=_die_with_parent,
                                         start_new_session=True)
        finally:
            log.close()
        atexit.register(self.stop)
        if not self._wait_listening():
            tail = (self.dir / "sshd.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            self.stop()
            self.reason = NOT_AVAILABLE.format(why=f"its sshd did not start: {tail[0]}")
            return False
        self.reason = ""
        return True

    def _wait_listening(self) -> bool:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """End sshd and any session it still serves (an ssh ControlMaster may keep one open).

        Sessions first, while the listener is there to reap them: killed after it, they would linger as
        zombies where init does not reap orphans (containers)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _end(descendants(proc.pid))
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def answers(self) -> dict:
        """The boot step's answers that reach this board."""
        return {"board_host": HOST, "board_port": self.port, "board_user": self.user,
                "board_identity": str(self.identity) if self.running else ""}

    def note(self) -> str:
        """One line for the demo banner."""
        if self.running:
            return f"Stand-in board: ssh {self.user}@{HOST} -p {self.port} (stand-in docker and CUDA driver)."
        return self.reason
