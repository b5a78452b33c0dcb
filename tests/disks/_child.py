"""Runs one disk/USB scenario inside a umockdev testbed and prints the outcome as JSON (last line).

Started by conftest.run_testbed under umockdev-wrapper (LD_PRELOAD of libumockdev-preload), with the
job as JSON on stdin:
  fixtures: names in fixtures/ loaded before anything runs
  proc:     {"self/mountinfo": text, "swaps": text} replacing those /proc files
  action:   "scan" | "cli" | "watch" | "find_recovery"
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from umock import Testbed, in_testbed  # noqa: E402


def _scan(job: dict) -> dict:
    from wizard.card import disks
    from wizard.core.errors import WizardError

    kwargs = job.get("kwargs", {})
    out: dict = {}
    try:
        out["disks"] = [d.to_json() for d in disks.scan(**kwargs)]
    except WizardError as e:
        out["error"] = str(e)
    out["get"] = {}
    for name in job.get("get", []):
        try:
            d = disks.get(name, **kwargs)
            out["get"][name] = {"disk": d.to_json(), "identity": d.identity()}
        except WizardError as e:
            out["get"][name] = {"error": str(e)}
    out["who_holds"] = {name: disks.who_holds(name) for name in job.get("who_holds", [])}
    return out


def _cli(job: dict) -> dict:
    from wizard.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(job["argv"])
    return {"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def _summary(kind: str, items: list) -> dict:
    if kind == "disks":
        return {d.name: {"kind": d.kind, "offered": d.offered, "size_bytes": d.size_bytes} for d in items}
    return {d.usb_id: {"module": d.module, "verified": d.verified} for d in items}


def _matches(summary: dict, expect: dict) -> bool:
    if any(k not in summary for k in expect.get("present", [])):
        return False
    if any(k in summary for k in expect.get("absent", [])):
        return False
    for key, fields in expect.get("fields", {}).items():
        if key not in summary or any(summary[key].get(f) != v for f, v in fields.items()):
            return False
    return True


def _watch(job: dict, tb: Testbed) -> dict:
    """Starts a monitor, applies each step (plug, unplug, change), and times how long until the
    monitor's callback reports the expected state."""
    kind = job["monitor"]
    lock = threading.Condition()
    seen: list = []  # (monotonic time, summary)

    def callback(items):
        with lock:
            seen.append((time.monotonic(), _summary(kind, items)))
            lock.notify_all()

    poll = job.get("poll_interval")
    if kind == "disks":
        from wizard.card.disks import DiskMonitor

        mon = DiskMonitor(callback, poll_interval=poll, **job.get("kwargs", {}))
    else:
        from wizard.card.usb_recovery import RecoveryMonitor
        from wizard.core.profile import load_profile

        mon = RecoveryMonitor(load_profile(), callback, poll_interval=poll)

    def wait_for(expect: dict, since: float, timeout: float = 3.0):
        deadline = time.monotonic() + timeout
        with lock:
            while True:
                for t, summary in seen:
                    if t >= since and _matches(summary, expect):
                        return t - since, summary
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, (seen[-1][1] if seen else None)
                lock.wait(left)

    results = []
    mon.start()
    try:
        initial, summary = wait_for(job.get("initial", {}), 0.0)
        results.append({"step": "initial", "latency": initial, "summary": summary})
        for step in job["steps"]:
            time.sleep(0.05)
            t0 = time.monotonic()
            op = step["op"]
            if op == "add":
                tb.add_fixture(step["fixture"])
            elif op == "remove":
                tb.remove_fixture(step["fixture"])
            elif op == "set":
                tb.set_attribute(step["path"], step["attr"], step["value"])
                if step.get("event"):
                    tb.uevent(step["path"], step["event"])
            latency, summary = wait_for(step["expect"], t0, step.get("timeout", 3.0))
            results.append({"step": f"{op} {step.get('fixture', step.get('path', ''))}", "latency": latency,
                            "summary": summary})
    finally:
        mon.stop()
    return {"steps": results, "callbacks": len(seen), "stopped": not mon.running}


def main() -> int:
    job = json.loads(sys.stdin.read())
    if not in_testbed():
        print(json.dumps({"fatal": "not running under umockdev-wrapper"}))
        return 2
    tb = Testbed()
    try:
        for name in job.get("fixtures", []):
            tb.add_fixture(name)
        for rel, text in job.get("proc", {}).items():
            tb.write_proc(rel, text)
        action = job["action"]
        if action == "scan":
            out = _scan(job)
        elif action == "find_recovery":
            from wizard.card.usb_recovery import find_recovery
            from wizard.core.profile import load_profile

            out = {"found": [dict(d.to_json(), text=d.describe()) for d in find_recovery(load_profile())]}
        elif action == "cli":
            out = _cli(job)
        elif action == "watch":
            out = _watch(job, tb)
        else:
            out = {"fatal": f"unknown action {action}"}
    finally:
        tb.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
