"""Checks on a booted board, one link of the GPU-container chain each, with the evidence.

The tutorial ends with "ssh in, `docker run --runtime nvidia ...`". When that fails a newcomer cannot tell which
link broke: the network, the login, docker, the runtime registration, its config, the CSV mount lists, or
the GPU itself. Each check here runs one visible command over ssh and says pass / fail / skip, with an
excerpt of the output and, on failure, what to do. Later checks that cannot mean anything after an earlier
failure are skipped (and say which check they need), so the first failure is the one to fix.

All paths and names come from the profile's [board] table; the probe is assets/probe/gpu_probe.py.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable

from wizard.board.ssh import SshClient, SshResult, tcp_reachable
from wizard.core.errors import ProfileError
from wizard.core.paths import asset
from wizard.core.profile import Profile
from wizard.core.progress import Cancelled

PASS, FAIL, SKIP = "pass", "fail", "skip"

# name -> title, in the order they run.
CHECKS = (
    ("reachable", "Board reachable on the network"),
    ("login", "Logged in as root over ssh"),
    ("docker", "Docker daemon running"),
    ("daemon_json", "daemon.json registers the nvidia runtime"),
    ("runtime_config", "nvidia-container-runtime config present"),
    ("nvidia_runtime", "`docker info` lists the nvidia runtime"),
    ("csv_files", "CSV mount lists for the chosen packages"),
    ("gpu", "GPU visible inside a container"),
)
TITLES = dict(CHECKS)
# A check that cannot run when this earlier one did not pass.
NEEDS = {"login": "reachable", "docker": "login", "daemon_json": "login", "runtime_config": "login",
         "nvidia_runtime": "docker", "csv_files": "login", "gpu": "nvidia_runtime"}

EXCERPT_LINES = 14
EXCERPT_CHARS = 1500


@dataclass
class Check:
    name: str
    status: str = SKIP
    command: str = ""
    output: str = ""
    hint: str = ""

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "command": self.command, "output": self.output,
                "hint": self.hint}


@dataclass
class BoardReport:
    host: str
    checks: list = field(default_factory=list)
    gpu: dict = field(default_factory=dict)   # the probe's JSON when it ran

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status == PASS for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status == FAIL), None)

    def to_json(self) -> dict:
        return {"ok": self.ok, "host": self.host, "checks": [c.to_json() for c in self.checks],
                "gpu": self.gpu}


def excerpt(text: str, lines: int = EXCERPT_LINES, chars: int = EXCERPT_CHARS) -> str:
    """The tail of an output: where errors are. Marked when cut, so nobody mistakes it for the whole."""
    text = (text or "").replace("\r\n", "\n").strip("\n")
    rows = text.splitlines()
    cut = len(rows) > lines
    text = "\n".join(rows[-lines:])
    if len(text) > chars:
        text, cut = text[-chars:], True
    return ("[...]\n" + text) if cut else text


def probe_source() -> bytes:
    return asset("probe", "gpu_probe.py").read_bytes()


def probe_image(profile: Profile) -> str:
    return profile.board.get("probe_image") or profile.board["demo_image"]


def demo_command(profile: Profile) -> str:
    """The tutorial's demo, as the user would type it on the board."""
    b = profile.board
    return f"docker run --runtime nvidia -it {b['demo_image']} {b['demo_command']}"


def expected_csv(profile: Profile, packages) -> list:
    """CSV files the image must have: the always-present ones and one per chosen package."""
    per = profile.board.get("csv_per_package", {})
    out = list(profile.board.get("csv_always", []))
    out += [per[p] for p in packages if p in per]
    return out


def _ssh_failure_hint(r: SshResult, client: SshClient) -> str:
    err = r.stderr.lower()
    t = client.target
    if r.timed_out or "timed out" in err:
        return (f"{t.host} did not answer in time: is the board booted and on this network? "
                "Read its address on the debug UART (115200 8N1) with `ip -4 addr`")
    if "permission denied" in err:
        return (f"the board refused the login as {t.user}: use a key it accepts (--identity, or copy yours with "
                f"`ssh-copy-id -p {t.port} {t.login}`), or the tutorial image's blank root password (debug-tweaks)")
    if "connection refused" in err:
        return f"nothing listens for ssh on port {t.port}: is sshd in the image and started?"
    if "could not resolve" in err or "name or service not known" in err:
        return (f"{t.host} does not resolve: use the board's IP address (a .local name needs avahi on the "
                "board and nss-mdns on this host)")
    if "host key verification failed" in err:
        return f"the board's host key is not trusted yet: check it again and accept its fingerprint ({client.known_hosts})"
    return f"ssh to {t.login} failed (exit {r.returncode}): see the output"


class BoardChecker:
    """Runs the checks against one board. `on_check(check)` sees each result as it comes (screens, CLI)."""

    def __init__(self, client: SshClient, profile: Profile, packages=(), image: str = "",
                 command_timeout: float = 30, probe_timeout: float = 600):
        self.client = client
        self.profile = profile
        self.packages = list(packages)
        self.image = image or probe_image(profile)
        self.command_timeout = command_timeout
        self.probe_timeout = probe_timeout
        self.report = BoardReport(host=client.target.login if client.target.port == 22
                                  else f"{client.target.login}:{client.target.port}")
        self._daemon_json_ok = False

    # -- driving ---------------------------------------------------------------------------------
    def run(self, on_check: Callable[[Check], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> BoardReport:
        """Every check in order. Host-key problems (unknown or changed) raise: they need the user first."""
        status: dict = {}
        for name, _title in CHECKS:
            if cancelled and cancelled():
                raise Cancelled()
            need = NEEDS.get(name)
            if need and status.get(need) != PASS:
                check = Check(name, SKIP, hint=f"needs: {TITLES[need].lower()}")
            else:
                check = getattr(self, f"check_{name}")()
            status[name] = check.status
            self.report.checks.append(check)
            if on_check:
                on_check(check)
        return self.report

    def _ssh(self, command: str, timeout: float | None = None, stdin: bytes | None = None) -> SshResult:
        return self.client.run(command, timeout=timeout or self.command_timeout, stdin=stdin)

    def _shown(self, r: SshResult) -> str:
        """The command as the user would type it: `ssh root@board 'docker info'` (options left out)."""
        t = self.client.target
        port = f" -p {t.port}" if t.port != 22 else ""
        return f"ssh{port} {t.login} {shlex.quote(r.argv[-1])}"

    @staticmethod
    def _out(r: SshResult) -> str:
        return excerpt("\n".join(x for x in (r.stdout.strip("\n"), r.stderr.strip("\n")) if x))

    # -- the checks -------------------------------------------------------------------------------
    def check_reachable(self) -> Check:
        t = self.client.target
        ok, why = tcp_reachable(t.host, t.port, timeout=self.client.connect_timeout)
        cmd = f"connect to {t.host} port {t.port} (TCP)"
        if ok:
            return Check("reachable", PASS, cmd, f"{t.host}:{t.port} accepts connections")
        return Check("reachable", FAIL, cmd, why,
                     "is the board powered, booted (give it a minute) and on this network? Read its address on "
                     f"the debug UART ({self.profile.board.get('serial_baud', 115200)} 8N1) with `ip -4 addr`; "
                     "the tutorial's image takes one by DHCP")

    def check_login(self) -> Check:
        r = self._ssh("id -un")
        cmd, out = self._shown(r), self._out(r)
        if not r.ok:
            return Check("login", FAIL, cmd, out, _ssh_failure_hint(r, self.client))
        user = r.stdout.strip()
        want = self.profile.board.get("user", "root")
        if user != want:
            return Check("login", FAIL, cmd, out,
                         f"logged in as {user!r}, not {want}: docker and /etc need {want} on the tutorial's image; "
                         f"use --user {want}")
        return Check("login", PASS, cmd, out)

    def check_docker(self) -> Check:
        r = self._ssh('docker version --format "client {{.Client.Version}}, daemon {{.Server.Version}}"')
        cmd, out = self._shown(r), self._out(r)
        if r.ok:
            return Check("docker", PASS, cmd, out)
        text = (r.stdout + r.stderr).lower()
        if r.returncode == 127 or "not found" in text:
            hint = ("docker is not in the image: local.conf must add docker-ce to IMAGE_INSTALL (and the "
                    "feature/docker template)")
        elif "cannot connect to the docker daemon" in text or "is the docker daemon running" in text:
            hint = ("the docker daemon is not running: start it with `systemctl start docker`; see why with "
                    "`journalctl -u docker -b` (a broken /etc/docker/daemon.json stops it)")
        elif r.timed_out:
            hint = "docker did not answer in time: the daemon may be hung; try `systemctl restart docker`"
        else:
            hint = "docker failed: see the output"
        return Check("docker", FAIL, cmd, out, hint)

    def check_daemon_json(self) -> Check:
        path = self.profile.board["daemon_json"]
        r = self._ssh(f"cat {shlex.quote(path)}")
        cmd, out = self._shown(r), self._out(r)
        if not r.ok:
            return Check("daemon_json", FAIL, cmd, out,
                         f"{path} is missing: the nvidia-docker package installs it; check that local.conf adds "
                         f"{', '.join(self.profile.localconf.get('base_packages', []))} to IMAGE_INSTALL")
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            return Check("daemon_json", FAIL, cmd, out,
                         f"{path} is not valid JSON ({e}): docker will not start with it; fix it or reinstall "
                         "nvidia-docker")
        nvidia = (doc.get("runtimes") or {}).get("nvidia") if isinstance(doc, dict) else None
        rpath = nvidia.get("path", "") if isinstance(nvidia, dict) else ""
        if not rpath.endswith("nvidia-container-runtime"):
            return Check("daemon_json", FAIL, cmd, out,
                         f"{path} does not register runtimes.nvidia.path = \"nvidia-container-runtime\": "
                         "restore nvidia-docker's daemon.json, then `systemctl restart docker`")
        self._daemon_json_ok = True
        return Check("daemon_json", PASS, cmd, out)

    def check_runtime_config(self) -> Check:
        path = self.profile.board["runtime_config"]
        r = self._ssh(f"cat {shlex.quote(path)}")
        cmd, out = self._shown(r), self._out(r)
        if not r.ok:
            return Check("runtime_config", FAIL, cmd, out,
                         f"{path} is missing: the nvidia-container-toolkit package installs it (pulled in by "
                         "nvidia-container-runtime); check IMAGE_INSTALL in local.conf")
        # The config names the ldconfig the runtime calls ("@/sbin/ldconfig"): the tutorial adds
        # DISTRO_FEATURES ldconfig for exactly this, and without it every container start fails.
        m = re.search(r'^\s*ldconfig\s*=\s*"@?([^"]+)"', r.stdout, re.MULTILINE)
        if m:
            ld = m.group(1)
            r2 = self._ssh(f"ls -l {shlex.quote(ld)}")
            cmd = f"{cmd} ; {self._shown(r2)}"
            out = excerpt(out + "\n" + self._out(r2))
            if not r2.ok:
                return Check("runtime_config", FAIL, cmd, out,
                             f"{ld} (named by ldconfig in {path}) does not exist: local.conf needs "
                             "DISTRO_FEATURES_append = \" ldconfig\"")
        return Check("runtime_config", PASS, cmd, out)

    def check_nvidia_runtime(self) -> Check:
        r = self._ssh("docker info")
        cmd = self._shown(r)
        text = r.stdout + "\n" + r.stderr
        line = next((ln.strip() for ln in text.splitlines() if ln.strip().lower().startswith("runtimes:")), "")
        default = next((ln.strip() for ln in text.splitlines()
                        if ln.strip().lower().startswith("default runtime:")), "")
        out = "\n".join(x for x in (line, default) if x) or self._out(r)
        runtimes = line.split(":", 1)[1].split() if line else []
        if "nvidia" in runtimes:
            return Check("nvidia_runtime", PASS, cmd, out)
        shown = " ".join(runtimes) or "none listed"
        if self._daemon_json_ok:
            hint = (f"runtimes: {shown} -> daemon.json registers nvidia but the running daemon does not list it: "
                    "restart docker (`systemctl restart docker`)")
        else:
            base = ", ".join(self.profile.localconf.get("base_packages", []))
            hint = (f"runtimes: {shown} only -> nvidia-container-runtime is not in the image: check the packages "
                    f"in local.conf ({base} in IMAGE_INSTALL)")
        return Check("nvidia_runtime", FAIL, cmd, out, hint)

    def check_csv_files(self) -> Check:
        folder = self.profile.board["csv_dir"]
        r = self._ssh(f"ls -1 {shlex.quote(folder)}")
        cmd, out = self._shown(r), self._out(r)
        want = expected_csv(self.profile, self.packages)
        have = set(r.stdout.split()) if r.ok else set()
        missing = [f for f in want if f not in have]
        if not missing:
            return Check("csv_files", PASS, cmd, out or "(empty)")
        per = self.profile.board.get("csv_per_package", {})
        from_pkgs = []
        for pid in self.packages:
            if per.get(pid) in missing:
                try:
                    from_pkgs += list(self.profile.package(pid).csv)
                except ProfileError:
                    from_pkgs.append(pid)
        always = [f for f in missing if f not in {per.get(p) for p in self.packages}]
        parts = []
        if always:
            base = self.profile.localconf.get("base_packages", []) + self.profile.localconf.get("base_csv", [])
            parts.append(f"{', '.join(always)} come from {', '.join(base)}")
        if from_pkgs:
            parts.append(f"add {', '.join(from_pkgs)} to IMAGE_INSTALL")
        where = "" if r.ok else f" ({folder} itself is missing)"
        hint = (f"missing in {folder}{where}: {', '.join(missing)} -> the container will not see those libraries; "
                + "; ".join(parts) + " (local.conf), then rebuild")
        return Check("csv_files", FAIL, cmd, out, hint)

    def check_gpu(self) -> Check:
        image = shlex.quote(self.image)
        r = self._ssh(f"docker run --rm -i --runtime nvidia {image} python3 -", timeout=self.probe_timeout,
                      stdin=probe_source())
        cmd = f"{self._shown(r)} < {shlex.quote(str(asset('probe', 'gpu_probe.py')))}"
        out = self._out(r)
        probe = _last_json(r.stdout)
        if probe is not None:
            self.report.gpu = probe
        if probe is not None and probe.get("ok"):
            devs = probe.get("devices") or []
            lines = [f"{d.get('name', '?')}: {d.get('total_memory_mib', '?')} MiB, compute "
                     f"{d.get('compute_capability', '?')}, {d.get('alloc_test_bytes', 0) // 1024} KiB allocated "
                     "and freed" for d in devs]
            summary = f"{probe.get('count', len(devs))} GPU(s), CUDA driver {probe.get('driver_version', '?')}"
            return Check("gpu", PASS, cmd, excerpt("\n".join([summary, *lines])))
        if probe is not None and probe.get("error") == "no CUDA driver":
            hint = ("libcuda was not mounted into the container: the CSV lists in "
                    f"{self.profile.board['csv_dir']} (tegra-libraries.csv brings /usr/lib/libcuda.so*) decide "
                    "what the runtime mounts; check the *-container-csv packages in local.conf")
        elif probe is not None:
            hint = (f"the CUDA driver loaded but {probe.get('call', 'a call')} failed ({probe.get('cuda_error', '?')}):"
                    " the GPU device nodes (/dev/nvhost-*, /dev/nvmap from l4t.csv) may be missing in the container;"
                    " look at `nvidia-container-cli -k -d /dev/tty info` on the board")
        else:
            text = (r.stdout + r.stderr).lower()
            if r.timed_out:
                hint = (f"no answer within {self.probe_timeout:g} s: a first pull of {self.image} is large on a "
                        "Nano; run the check again, or pull it first with `docker pull`")
            elif "unknown or invalid runtime" in text:
                hint = "docker does not know the nvidia runtime: restart docker after fixing daemon.json"
            elif "unable to find image" in text or "pull access denied" in text or "manifest unknown" in text \
                    or "error response from daemon: get" in text or "dial tcp" in text or "lookup " in text:
                hint = (f"the board could not get the image {self.image}: it needs internet for `docker pull` (or "
                        "`docker save` it on a PC and `docker load` it on the board); choose another with --image")
            elif "executable file not found" in text or "python3: not found" in text or r.returncode == 127:
                hint = f"the image {self.image} has no python3: choose an image with python3 (--image)"
            else:
                hint = "the container did not run: see the output"
        return Check("gpu", FAIL, cmd, out, hint)


def _last_json(text: str) -> dict | None:
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return doc
    return None


def report_outcome(report: BoardReport) -> tuple:
    """(passed, detail, data) of a board check: what the boot step keeps (the summary reads it from there)."""
    import time

    first = report.first_failure()
    if report.ok:
        detail = f"{report.host}: every check passed"
    else:
        detail = f"{report.host}: {(first.title if first else 'a check did not run')}" + (
            f" -> {first.hint}" if first and first.hint else "")
    return report.ok, detail, {"host": report.host, "ok": report.ok, "gpu": report.gpu, "checked_at": time.time(),
                               "checks": [c.to_json() for c in report.checks]}


def record_report(session, report: BoardReport) -> None:
    """Record a check made elsewhere (a report read back, a test's fixture) as the boot step's outcome."""
    from wizard.core.steps import Status

    ok, detail, data = report_outcome(report)
    session.mark("boot", Status.DONE if ok else Status.FAILED, detail, **data)


UNTRUSTED = "The board's host key was not trusted, so nothing was checked. Check again to see it."


def check_board(session, checker: BoardChecker, trust: Callable, on_check: Callable[[Check], None] | None = None,
                cancelled: Callable[[], bool] | None = None, card: str = "") -> BoardReport:
    """The Boot & check step: trust the board's key on first contact (only if `trust(keys)` says yes), run
    every check, and record the outcome in `session` (None: a one-off check of a board outside a project).
    A key not trusted leaves the step to do; a changed key or an error fails it.

    `card`: the host name of the written card this board is (Write the card gave it). Each card's board is
    then recorded under its host name, and the step is done only when every card's board passed, failed when
    one failed, and still to do while a card's board is not checked yet."""
    from wizard.board.ssh import HostKeyUnknown

    client = checker.client
    t = client.target
    if session is None:
        if tcp_reachable(t.host, t.port, timeout=client.connect_timeout)[0]:
            client.ensure_trusted(trust)
        return checker.run(on_check=on_check, cancelled=cancelled)
    untrusted = None
    with session.step_run("boot", f"checking {card + ' at ' if card else ''}{t.login}") as run:
        run.cancelled_detail = "check stopped"
        try:
            if tcp_reachable(t.host, t.port, timeout=client.connect_timeout)[0]:
                client.ensure_trusted(trust)
        except HostKeyUnknown as e:
            untrusted = e
            run.reopen(UNTRUSTED)
        else:
            report = checker.run(on_check=on_check, cancelled=cancelled)
            ok, detail, data = report_outcome(report)
            if card:
                _record_card(session, run, card, t.host, ok, detail, data)
            else:
                (run.done if ok else run.fail)(detail, **data)
    if untrusted is not None:
        raise untrusted
    return report


def _record_card(session, run, card: str, address: str, ok: bool, detail: str, data: dict) -> None:
    """One card's board checked: keep it under its host name and decide the step over every card."""
    from wizard.board.cards import BoardsOutcome, card_boards, recorded_boards

    boards = recorded_boards(session)
    boards[card] = {"address": address, "ok": ok, "detail": detail, **data}
    expected = [b.hostname for b in card_boards(session)]
    if card not in expected:
        expected.append(card)
    outcome = BoardsOutcome(expected, boards)
    run.note(**data, card=card, boards=boards)
    if outcome.failed:
        run.fail(outcome.detail())
    elif outcome.unchecked:
        run.reopen(outcome.detail())
    else:
        run.done(outcome.detail())
