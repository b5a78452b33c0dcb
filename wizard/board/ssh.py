"""The OpenSSH client, driven through `sh`, with the wizard's own known_hosts file.

Why the system `ssh` and not a Python SSH library: the user's keys, agent and ~/.ssh/config just work, and
the commands we show ("what ran") are commands the user can paste.

Host keys: the wizard never trusts a key silently. A host that is not in *our* known_hosts (kept in the user
config folder, not ~/.ssh/known_hosts, so a freshly flashed board does not clash with the user's own list)
is first scanned with `ssh-keyscan`; its fingerprints (`ssh-keygen -lf -`) are shown, and only when the user
says yes are the scanned keys added. Every later connection runs with StrictHostKeyChecking=yes against that
file, so a key that changed between the scan and the login is refused by ssh itself.

Logging in: BatchMode (never a hidden prompt) with a key (the agent, ~/.ssh or --identity), or the tutorial's
image blank root password (debug-tweaks: OpenSSH's "none" authentication succeeds with PermitEmptyPasswords,
which BatchMode allows). A typed password is passed through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force, OpenSSH
8.4 or later) from an environment variable of the ssh process only; it is never written to disk and never
on a command line. sshpass is not used.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wizard.core.atomic import atomic_write
from wizard.core.errors import WizardError

DEFAULT_CONNECT_TIMEOUT = 8
_ASKPASS_ENV = "WRNV_SSH_PASSWORD"


def config_dir() -> Path:
    """The user's config folder for wrnv-wizard; WRNV_CONFIG_DIR overrides it (tests, sandboxes)."""
    env = os.environ.get("WRNV_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("wrnv-wizard"))


def default_known_hosts() -> Path:
    return config_dir() / "known_hosts"


@dataclass(frozen=True)
class SshTarget:
    """Where to log in. `alias`: the name the host key is kept under instead of the address (a card's board,
    e.g. jetson-01.local). Addresses move between boards (DHCP); each card was given its own name, so its key
    is its name's, and the next board at the same address is a first contact, not a "changed key"."""

    host: str
    user: str = "root"
    port: int = 22
    alias: str = ""

    def __post_init__(self):
        from wizard.core import validate

        validate.host("board address", self.host)      # a label over 63 characters, '-x', 'a b', ...
        if self.alias:
            validate.host("board name", self.alias)
        if not self.host or any(c.isspace() for c in self.host) or self.host.startswith("-"):
            raise WizardError(f"board address {self.host!r} is not a host name or IP address; "
                              "give one like 192.168.1.42 or jetson-nano-qspi-sd.local")
        if not self.user or self.user.startswith("-") or any(c.isspace() or c == "@" for c in self.user):
            raise WizardError(f"user {self.user!r} is not a valid login name; the tutorial's image uses root")
        if not (0 < int(self.port) < 65536):
            raise WizardError(f"port {self.port} is not between 1 and 65535; ssh uses 22")

    @property
    def known_hosts_name(self) -> str:
        """How ssh names this host in known_hosts: `host`, or `[host]:port` off port 22; the alias as it is
        (ssh's HostKeyAlias adds no port)."""
        if self.alias:
            return self.alias
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def shown(self) -> str:
        """The host as a user reads it: the address, and for an alias both."""
        where = self.host if self.port == 22 else f"{self.host}:{self.port}"
        return f"{self.alias} at {where}" if self.alias else self.known_hosts_name

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}"


@dataclass
class HostKeys:
    """What `ssh-keyscan` got from a host: the known_hosts lines and their fingerprints to show."""

    target: SshTarget
    lines: list
    fingerprints: list          # e.g. "ED25519 SHA256:abc..." (type first, as users compare them)

    def text(self) -> str:
        return "\n".join(self.fingerprints)


@dataclass
class SshResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def command(self) -> str:
        return " ".join(shlex.quote(a) for a in self.argv)


class HostKeyUnknown(WizardError):
    """First contact: the host's key is not in our known_hosts and was not confirmed."""

    def __init__(self, keys: HostKeys, known_hosts: Path):
        self.keys = keys
        fps = "; ".join(keys.fingerprints) or "no key offered"
        super().__init__(f"{keys.target.shown} is not a known board (host key {fps}); compare it with "
                         f"`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the board's console, then run "
                         f"again with --accept-new-host-key (the key is kept in {known_hosts})")


class HostKeyChanged(WizardError):
    def __init__(self, target: SshTarget, known_hosts: Path):
        self.target = target
        super().__init__(f"the host key of {target.shown} changed since it was trusted (a re-flashed "
                         f"board gets a new key; anything else may be an impostor); if you re-flashed it, forget "
                         f"the old key with `ssh-keygen -R '{target.known_hosts_name}' -f {known_hosts}` and "
                         "check again")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise WizardError(f"`{name}` was not found; install the OpenSSH client (Debian/Ubuntu: "
                          "sudo apt install openssh-client)")
    return path


def _run(argv: list, timeout: float, stdin: bytes | None = None, env: dict | None = None) -> SshResult:
    """Run a program through `sh`: no tty, captured output, never raises for a non-zero exit."""
    import sh

    cmd = sh.Command(argv[0])
    try:
        rc = cmd(*argv[1:], _in=stdin, _tty_out=False, _ok_code=list(range(256)), _timeout=timeout,
                 _env=env, _return_cmd=True, _decode_errors="replace")
        return SshResult(argv, rc.exit_code, _text(rc.stdout), _text(rc.stderr))
    except sh.TimeoutException:
        return SshResult(argv, 124, "", f"no answer within {timeout:g} seconds", timed_out=True)
    except sh.ErrorReturnCode as e:  # killed by a signal
        return SshResult(argv, e.exit_code, _text(e.stdout), _text(e.stderr))


def _text(data) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def tcp_reachable(host: str, port: int, timeout: float = 5.0) -> tuple:
    """(True, "") when something accepts TCP connections on host:port; else (False, why)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except socket.timeout:
        return False, f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as e:
        return False, f"{host}:{port}: {e.strerror or e}"


@dataclass
class SshClient:
    """One board: runs commands over ssh with fixed, safe options."""

    target: SshTarget
    identity: str = ""
    known_hosts: Path = field(default_factory=default_known_hosts)
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    # None: honour the user's ~/.ssh/config (ProxyJump, keys). Tests pass "/dev/null".
    config_file: str | None = None
    password: str = ""
    # One TCP connection and handshake for all the checks (ControlMaster): a Nano's handshake is slow.
    multiplex: bool = True
    _control_dir: str | None = field(default=None, repr=False)

    def __post_init__(self):
        self.known_hosts = Path(self.known_hosts)
        if self.identity:
            p = Path(self.identity).expanduser()
            if not p.is_file():
                raise WizardError(f"identity file {p} does not exist; give the private key ssh should use "
                                  "(e.g. ~/.ssh/id_ed25519)")
            self.identity = str(p)

    # -- host keys -------------------------------------------------------------------------------
    def is_known(self) -> bool:
        if not self.known_hosts.exists():
            return False
        r = _run([_tool("ssh-keygen"), "-F", self.target.known_hosts_name, "-f", str(self.known_hosts)], 10)
        return r.returncode == 0 and bool(r.stdout.strip())

    def scan_host_keys(self) -> HostKeys:
        """Ask the host for its keys (no login). Raises when nothing answers."""
        t = self.target
        r = _run([_tool("ssh-keyscan"), "-T", str(self.connect_timeout), "-p", str(t.port), t.host],
                 self.connect_timeout + 5)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
        if not lines:
            why = (r.stderr.strip().splitlines() or ["no key received"])[-1]
            raise WizardError(f"could not read the host key of {t.shown} ({why}); check the address "
                              "and that the board has booted and runs sshd")
        fp = _run([_tool("ssh-keygen"), "-l", "-f", "-"], 10, stdin=("\n".join(lines) + "\n").encode())
        fingerprints = []
        for ln in fp.stdout.splitlines():
            parts = ln.split()
            # "<bits> SHA256:... <host> (<TYPE>)"
            if len(parts) >= 3 and parts[1].startswith("SHA256:"):
                fingerprints.append(f"{parts[-1].strip('()')} {parts[1]}")
        if t.alias:         # kept under the name ssh will look up (HostKeyAlias), not under the address
            lines = [f"{t.alias} {ln.split(None, 1)[1]}" for ln in lines if len(ln.split(None, 1)) == 2]
        return HostKeys(t, lines, fingerprints)

    def trust(self, keys: HostKeys) -> None:
        """Add the scanned keys to our known_hosts (atomically; the folder is private)."""
        old = self.known_hosts.read_text(encoding="utf-8") if self.known_hosts.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.known_hosts.parent, 0o700)
        except OSError:
            pass
        atomic_write(self.known_hosts, old + "\n".join(keys.lines) + "\n", mode=0o600)

    def forget(self) -> None:
        """Drop this host's keys (after a re-flash the board has new ones)."""
        if self.known_hosts.exists():
            _run([_tool("ssh-keygen"), "-R", self.target.known_hosts_name, "-f", str(self.known_hosts)], 10)
            old = self.known_hosts.with_name(self.known_hosts.name + ".old")
            if old.exists():
                old.unlink()

    def ensure_trusted(self, confirm: Callable[[HostKeys], bool]) -> None:
        """First contact: scan, show the fingerprints through `confirm`, and trust only on yes."""
        if self.is_known():
            return
        keys = self.scan_host_keys()
        if not confirm(keys):
            raise HostKeyUnknown(keys, self.known_hosts)
        self.trust(keys)

    # -- running -----------------------------------------------------------------------------------
    def options(self, batch: bool = True) -> list:
        opts = []
        if self.config_file:
            opts += ["-F", self.config_file]
        opts += ["-p", str(self.target.port),
                 "-o", f"BatchMode={'yes' if batch else 'no'}",
                 "-o", f"ConnectTimeout={self.connect_timeout}",
                 "-o", "StrictHostKeyChecking=yes",
                 "-o", f"UserKnownHostsFile={self.known_hosts}",
                 "-o", "GlobalKnownHostsFile=/dev/null",
                 *(["-o", f"HostKeyAlias={self.target.alias}"] if self.target.alias else []),
                 "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                 "-o", "LogLevel=ERROR"]
        if self.identity:
            opts += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        if self.multiplex:
            if self._control_dir is None:
                # A private folder of our own: the socket gives a logged-in channel to whoever can open it.
                self._control_dir = tempfile.mkdtemp(prefix="wrnv-ssh-")
            opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self._control_dir}/%C",
                     "-o", "ControlPersist=60"]
        return opts

    def close(self) -> None:
        """Stop the shared connection (if any) and remove its socket folder."""
        if self._control_dir is None:
            return
        _run([_tool("ssh"), *self.options(), "-O", "exit", self.target.login], 10)
        shutil.rmtree(self._control_dir, ignore_errors=True)
        self._control_dir = None

    def __enter__(self) -> SshClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def argv(self, command: str, tty: bool = False) -> list:
        batch = not self.password
        return [_tool("ssh"), *self.options(batch=batch), *(["-t"] if tty else ["-T"]), self.target.login,
                "--", command]

    def run(self, command: str, timeout: float = 60, stdin: bytes | None = None) -> SshResult:
        """Run `command` (a remote shell line) on the board. The result's argv is what the user can paste."""
        with self._askpass_env() as env:
            result = _run(self.argv(command), timeout + self.connect_timeout, stdin=stdin, env=env)
        if result.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr.upper():
            raise HostKeyChanged(self.target, self.known_hosts)
        return result

    def interactive(self, command: str) -> int:
        """Run `command` in the real terminal (`ssh -t`), e.g. the tutorial's demo; returns its exit code."""
        import subprocess

        with self._askpass_env() as env:
            return subprocess.call(self.argv(command, tty=True), env=env)

    def _askpass_env(self):
        return _AskPass(self.password)


class _AskPass:
    """A throw-away SSH_ASKPASS helper that echoes the password from ssh's own environment."""

    def __init__(self, password: str):
        self.password = password
        self.folder: str | None = None

    def __enter__(self) -> dict | None:
        if not self.password:
            return None
        self.folder = tempfile.mkdtemp(prefix="wrnv-askpass-")
        helper = Path(self.folder) / "askpass"
        helper.write_text(f'#!/bin/sh\nprintf "%s\\n" "${_ASKPASS_ENV}"\n', encoding="utf-8")
        helper.chmod(stat.S_IRWXU)
        env = dict(os.environ)
        env.update({"SSH_ASKPASS": str(helper), "SSH_ASKPASS_REQUIRE": "force", _ASKPASS_ENV: self.password,
                    "DISPLAY": env.get("DISPLAY", ":0")})
        return env

    def __exit__(self, *exc) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
