"""`wrnv-wizard doctor`: the host check, headless."""

from __future__ import annotations

import json

HELP = "check this host for everything the build needs (exit 1 if a check fails)"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"checks": [{"name","status","detail","fix"}]}')


def run(args) -> int:
    from wizard.core.session import Session
    from wizard.host.doctor import FAIL, check_host

    session = Session.open(args.project, args.profile)
    checks = check_host(session)
    if args.json:
        print(json.dumps({"checks": [c.to_json() for c in checks]}, indent=2))
    else:
        marks = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for c in checks:
            print(f"[{marks[c.status]}] {c.name}: {c.detail}")
            if c.fix and c.status != "pass":
                print(f"       fix: {c.fix}")
        failed = sum(c.status == FAIL for c in checks)
        print(f"\n{failed} check(s) failed." if failed else "\nNo check failed.")
    return 1 if any(c.status == FAIL for c in checks) else 0
