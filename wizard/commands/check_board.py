"""`wrnv-wizard check-board HOST`: the board checks, headless (CI, scripts, a second opinion).
`wrnv-wizard check-board --all-cards`: every card written in the project, found by its host name
(`<hostname>.local`), checked in turn.

Exit 0 only when every check passes (with --all-cards: on every card's board). A board seen for the first time
is trusted only with --accept-new-host-key (after comparing the fingerprint); otherwise the command stops with a
one-line error that shows the fingerprint.
"""

from __future__ import annotations

import json
import sys

HELP = "check a booted board over ssh: docker, the nvidia runtime, the CSV mounts, the GPU in a container"


def add_arguments(p) -> None:
    p.add_argument("host", metavar="HOST", nargs="?", default=None,
                   help="the board's address or name (e.g. 192.168.1.42); not with --all-cards")
    p.add_argument("--all-cards", action="store_true",
                   help="check the board of every card written in this project (--project): each is looked up "
                        "as <its host name>.local (mDNS) and checked in turn")
    p.add_argument("--card", metavar="HOSTNAME", default="",
                   help="the host name of the written card HOST is (when its .local name does not resolve here): "
                        "the check is recorded for that card")
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
    from wizard.core.errors import UsageError
    from wizard.core.profile import load_profile

    profile = load_profile(args.profile)
    session = _session(args)
    packages = _packages(args, profile, session)
    if args.timeout < 1:
        raise UsageError("--timeout must be at least 1 second")
    if args.all_cards:
        if args.host or args.card:
            raise UsageError("--all-cards finds every card's board by its host name: leave out HOST and --card")
        return _all_cards(args, profile, session, packages)
    if not args.host:
        raise UsageError("give the board's address (HOST), or --all-cards to check every card written in the "
                         "project")
    if args.card:
        from wizard.core import validate
        from wizard.core.errors import WizardError

        try:
            validate.host("--card", args.card)
        except WizardError as e:
            raise UsageError(str(e)) from None
        if session is None:
            raise UsageError("--card records the check in a project: give --project DIR (a project the wizard "
                             "wrote the cards in)")
    password = _password(args, profile, f"on {args.host}")
    report = _check_one(args, profile, session, packages, args.host, password, card=args.card)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _verdict(args, profile, report, args.host)
    return 0 if report.ok else 1


def _password(args, profile, where: str) -> str:
    from wizard.core.errors import UsageError

    if not args.ask_password:
        return ""
    if not sys.stdin.isatty():
        raise UsageError("--ask-password needs a terminal to type into; use a key (--identity) instead")
    import getpass

    return getpass.getpass(f"Password for {args.user or profile.board.get('user', 'root')} {where}: ")


def _check_one(args, profile, session, packages, host: str, password: str, card: str = ""):
    """One board: trust its key on first contact (only with --accept-new-host-key), run every check, print
    each as it comes; the engine records it in the project (under the card's host name when it is a card)."""
    from wizard.board.cards import mdns_name
    from wizard.board.check import FAIL, PASS, BoardChecker, check_board
    from wizard.board.ssh import SshClient, SshTarget, default_known_hosts

    # A card's key is kept under its own name, wherever it was found (see SshTarget).
    target = SshTarget(host, args.user or profile.board.get("user", "root"), args.port,
                       alias=mdns_name(profile, card) if card else "")
    client = SshClient(target, identity=args.identity, known_hosts=args.known_hosts or default_known_hosts(),
                       connect_timeout=args.timeout, password=password)
    checker = BoardChecker(client, profile, packages, image=args.image)

    def trust_first(keys) -> bool:
        if args.accept_new_host_key and not args.json:
            print(f"Trusting {target.shown}: {keys.text()}", file=sys.stderr)
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
    try:
        return check_board(session, checker, trust_first, on_check=show, card=card)
    finally:
        client.close()


def _verdict(args, profile, report, host: str) -> None:
    from wizard.board.check import PASS, demo_command

    n = sum(1 for c in report.checks if c.status == PASS)
    print(f"{n} of {len(report.checks)} checks passed" + ("." if report.ok else
          f"; first to fix: {(report.first_failure() or report.checks[0]).title}"))
    if report.ok:
        user = args.user or profile.board.get("user", "root")
        ssh = f"ssh -p {args.port} {user}@{host}" if args.port != 22 else f"ssh {user}@{host}"
        print(f"Try the tutorial's GPU demo: `{ssh}`, then `{demo_command(profile)}` (needs internet)")


def _all_cards(args, profile, session, packages) -> int:
    """Every written card's board, looked up by name at once, then checked one after another."""
    from wizard.board.cards import card_boards, look_up, lookup_line
    from wizard.core.errors import UsageError, WizardError

    if session is None:
        raise UsageError("--all-cards reads the cards written in a project: give --project DIR (the folder the "
                         "wizard wrote the cards from)")
    boards = card_boards(session)
    if not boards:
        raise UsageError("no card written in this project has a host name: write the cards with "
                         "`wrnv-wizard flash IMAGE --target DEV ... --hostname jetson-{n:02}`, or check one board "
                         "by its address: `wrnv-wizard check-board HOST`")
    quiet = args.json
    if not quiet:
        print(f"Looking up {', '.join(b.name for b in boards)} ...", flush=True)
    found = look_up(boards)
    password = _password(args, profile, "on the boards") if any(r.found for r in found) else ""
    rows = []
    for r in found:
        if not quiet:
            print(lookup_line(r), flush=True)
        if not r.found:
            rows.append({"hostname": r.board.hostname, "name": r.board.name, "address": None, "ok": False,
                         "error": f"not found ({r.why})"})
            continue
        if not quiet:
            print(f"\n== {r.board.hostname} at {r.address} ==", flush=True)
        try:
            report = _check_one(args, profile, session, packages, r.address, password, card=r.board.hostname)
        except WizardError as e:        # an unknown or changed host key: that board only
            if not quiet:
                print(f"{r.board.hostname}: {e}", flush=True)
            rows.append({"hostname": r.board.hostname, "name": r.board.name, "address": r.address, "ok": False,
                         "error": str(e)})
            continue
        if not quiet:
            _verdict(args, profile, report, r.address)
        rows.append({"hostname": r.board.hostname, "name": r.board.name, "address": r.address, "ok": report.ok,
                     "report": report.to_json()})
    ok = all(row["ok"] for row in rows)
    if args.json:
        print(json.dumps({"ok": ok, "boards": rows}, indent=2))
    else:
        good = [row["hostname"] for row in rows if row["ok"]]
        bad = [row["hostname"] for row in rows if not row["ok"]]
        print(f"\n{len(good)} of {len(rows)} boards passed every check" +
              (f"; to fix: {', '.join(bad)}" if bad else "."))
    return 0 if ok else 1
