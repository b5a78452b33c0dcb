"""`wrnv-wizard check-board HOST`: the board checks, headless (CI, scripts, a second opinion).

Exit 0 only when every check passes. A board seen for the first time is trusted only with
--accept-new-host-key (after comparing the fingerprint); otherwise the command stops with a one-line error
that shows the fingerprint.
"""

from __future__ import annotations

import json
import sys

HELP = "check a booted board over ssh: docker, the nvidia runtime, the CSV mounts, the GPU in a container"


def add_arguments(p) -> None:
    p.add_argument("host", metavar="HOST", help="the board's address or name (e.g. 192.168.1.42)")
    p.add_argument("--user", default=None, help="login name (default: the profile's, root)")
    p.add_argument("--port", type=int, default=22, help="ssh port (default 22)")
    p.add_argument("--identity", metavar="FILE", default="", help="private key for ssh (-i)")
    p.add_argument("--json", action="store_true", help='print {"ok", "checks": [...]} as JSON')
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="trust the board's host key on first contact (compare the fingerprint first)")
    p.add_argument("--known-hosts", metavar="FILE", default="",
                   help="known_hosts file to use (default: wrnv-wizard's own, in the user config folder)")
    p.add_argument("--packages", metavar="A,B", default=None,
                   help="packages whose CSV files must be present (default: the project's answers)")
    p.add_argument("--image", default="", help="container image for the GPU probe (default: the tutorial's demo image)")
    p.add_argument("--timeout", type=int, default=8, help="ssh connect timeout in seconds (default 8)")
    p.add_argument("--ask-password", action="store_true",
                   help="prompt for a password (or key passphrase) on the terminal; without it ssh uses keys or "
                        "the image's blank root password (debug-tweaks), and never prompts")


def _session(args):
    """The project's session when it already has saved state (then the result is recorded there)."""
    if not args.project:
        return None
    from pathlib import Path

    from wizard.core.session import Session
    from wizard.core.state import State

    if not State.file_for(Path(args.project).expanduser().resolve()).exists():
        return None
    return Session.open(args.project, args.profile)


def _packages(args, profile, session) -> list:
    if args.packages is not None:
        chosen = [p.strip() for p in args.packages.split(",") if p.strip()]
        for p in chosen:
            profile.package(p)  # a one-line error naming the known ones
        return chosen
    if session is not None:
        return list(session.answers.packages)
    return list(profile.default_packages)


def run(args) -> int:
    from wizard.board.check import FAIL, PASS, BoardChecker
    from wizard.board.ssh import SshClient, SshTarget, default_known_hosts
    from wizard.core.errors import UsageError
    from wizard.core.profile import load_profile

    profile = load_profile(args.profile)
    session = _session(args)
    packages = _packages(args, profile, session)
    if args.timeout < 1:
        raise UsageError("--timeout must be at least 1 second")
    target = SshTarget(args.host, args.user or profile.board.get("user", "root"), args.port)
    password = ""
    if args.ask_password:
        if not sys.stdin.isatty():
            raise UsageError("--ask-password needs a terminal to type into; use a key (--identity) instead")
        import getpass

        password = getpass.getpass(f"Password for {target.login}: ")
    client = SshClient(target, identity=args.identity, known_hosts=args.known_hosts or default_known_hosts(),
                       connect_timeout=args.timeout, password=password)
    checker = BoardChecker(client, profile, packages, image=args.image)

    def trust_first(keys) -> bool:
        if args.accept_new_host_key and not args.json:
            print(f"Trusting {target.known_hosts_name}: {keys.text()}", file=sys.stderr)
        return bool(args.accept_new_host_key)

    def show(check) -> None:
        if args.json:
            return
        mark = {PASS: "PASS", FAIL: "FAIL"}.get(check.status, "skip")
        print(f"[{mark}] {check.title}")
        if check.command:
            print(f"       $ {check.command}")
        if check.output and check.status != "skip":
            for line in check.output.splitlines()[-6:]:
                print(f"       | {line}")
        if check.hint and check.status != PASS:
            print(f"       -> {check.hint}")
        sys.stdout.flush()

    # Only once the board answers is there a key to ask about; an unreachable board is a failed check.
    # Inside a project the engine records the outcome as the Boot & check step.
    from wizard.board.check import check_board

    try:
        report = check_board(session, checker, trust_first, on_check=show)
    finally:
        client.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        n = sum(1 for c in report.checks if c.status == PASS)
        print(f"{n} of {len(report.checks)} checks passed" + ("." if report.ok else
              f"; first to fix: {(report.first_failure() or report.checks[0]).title}"))
        if report.ok:
            from wizard.board.check import demo_command

            ssh = f"ssh -p {target.port} {target.login}" if target.port != 22 else f"ssh {target.login}"
            print(f"Try the tutorial's GPU demo: `{ssh}`, then `{demo_command(profile)}` (needs internet)")
    return 0 if report.ok else 1
