"""`wrnv-wizard build`: run (or re-attach to) `bitbake <image>` headless, with plain progress lines.

The build runs detached from this command, like in the TUI: with --detach the command returns at once and the
build goes on; without it the command follows the log until the build ends. Ctrl-C stops the build the way
bitbake's own Ctrl-C does (running tasks finish); a second Ctrl-C forces it. Running the command again while
a build runs re-attaches to it.
"""

from __future__ import annotations

import argparse
import sys
import time

HELP = "build the image with bitbake (detached; survives closing the terminal), printing plain progress lines"

# How often a progress line is printed while nothing else happens.
PROGRESS_EVERY = 10.0


def add_arguments(p) -> None:
    # SUPPRESS: the global --project (before the command) stays in force unless given here too
    p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS, help="project folder")
    p.add_argument("--target", metavar="T", default="", help="bitbake target (default: the chosen image)")
    p.add_argument("--keep-going", action="store_true",
                   help="go on after a task fails (bitbake -k): one run shows every failure")
    p.add_argument("--detach", action="store_true", help="start the build and return; follow it later by running "
                                                         "this command again")


def progress_line(summary, started: float) -> str:
    from wizard.build.runner import time_text

    parts = []
    if summary.tasks_total:
        parts.append(f"tasks {summary.tasks_done} of {summary.tasks_total}")
    if summary.setscene_total:
        parts.append(f"setscene {summary.setscene_done} of {summary.setscene_total}")
    if not parts:
        parts.append(summary.phase or "starting")
    elapsed = time.time() - started
    parts.append(time_text(elapsed, summary.eta(elapsed)))
    running = summary.running_tasks()
    if running:
        names = ", ".join(f"{t.recipe} {t.task}" for t in running[:3])
        parts.append(f"running: {names}" + (f" (+{len(running) - 3})" if len(running) > 3 else ""))
    if summary.warning_count or summary.error_count:
        parts.append(f"{summary.warning_count} warnings, {summary.error_count} errors")
    return " · ".join(parts)


def run(args, *, allow_root: bool = False, out=None) -> int:
    """`allow_root` is for the test suite only (it runs as root); the command line never sets it."""
    from wizard.build.hints import cause_lines, hint_for_summary
    from wizard.build.runner import BuildFollower, BuildRunner, tail_lines
    from wizard.core.session import Session

    out = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    session = Session.open(getattr(args, "project", None), getattr(args, "profile", None))
    runner = BuildRunner(session, allow_root=allow_root)
    build = runner.running()
    if build is not None:
        say(f"A build is already running (pid {build.pid}, since {time.ctime(build.started)}): following it.")
        if args.target and args.target != build.target:
            say(f"  (it builds {build.target}, not {args.target}; stop it first to build something else)")
    else:
        build = runner.start(args.target or None, keep_going=getattr(args, "keep_going", False))
        say(f"Started bitbake {build.target} (pid {build.pid}); log: {build.log}")
    if args.detach:
        say(f"The build runs on after this command. Follow it: wrnv-wizard build --project {session.project}")
        return 0

    follower = BuildFollower(runner, build)
    interrupts = 0
    last_line = 0.0
    last_done = -1
    while not follower.done:
        try:
            _text, events = follower.poll()
            for ev in events:
                if ev.kind == "message" and ev.data.level in ("WARNING", "ERROR"):
                    m = ev.data
                    where = f"{m.recipe} {m.task}: " if m.task else ""
                    say(f"{m.level}: {where}{m.text}")
                elif ev.kind == "phase":
                    say(f"-- {ev.data}")
                elif ev.kind == "interrupt":
                    say("-- bitbake is stopping")
            s = follower.summary
            now = time.monotonic()
            step = max(s.tasks_total // 20, 1)
            if now - last_line >= PROGRESS_EVERY or (s.tasks_done // step) != (last_done // step):
                if s.tasks_total or now - last_line >= PROGRESS_EVERY:
                    say(progress_line(s, build.started))
                    last_line, last_done = now, s.tasks_done
            if not follower.done and not _text:
                time.sleep(0.2)
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts == 1:
                build.interrupt()
                say("Stopping: bitbake lets the running tasks finish (this can take minutes). "
                    "Press Ctrl-C again to stop at once.")
            else:
                say("Stopping at once.")
                build.force()
    s = follower.summary
    say(progress_line(s, build.started))
    if s.setscene_total:
        say(f"From the shared state cache (mirror / hash-equivalence server): setscene {s.setscene_done} of "
            f"{s.setscene_total} tasks restored instead of built")
    code = "" if s.exit_code is None else f" (bitbake exit code {s.exit_code})"
    say(f"Build {s.result}{code}: log {build.log}")
    if s.killed:
        say(f"bitbake was killed (signal {s.killed}) before it finished; nobody asked it to stop (out of memory?)")
    elif s.fatal and not s.failed_tasks:
        say(f"Stopped by: {s.fatal}")
    for f in s.failed_tasks:
        inferred = ", inferred next to the run file" if f.log_inferred else ""
        say(f"Failed task: {f.recipe} {f.task}" + (f" (log: {f.log}{inferred})" if f.log else ""))
    if s.result != "succeeded":
        log = s.failed_tasks[0].log if s.failed_tasks else ""
        tail = tail_lines(log, 200) if log else []
        causes = cause_lines(s, tail)
        if causes.cause:
            say("Cause:" + (f" (from {causes.source})" if causes.source else ""))
            for line in causes.cause:
                say(f"  > {line}")
        if causes.last:
            say("Last lines before the failure:")
            for line in causes.last:
                say(f"  | {line}")
        hint = hint_for_summary(s, tail, session.profile)
        if hint is not None:
            say(f"Hint: {hint.line()}")
        if log:
            say(f"Full log of the failed task: {log}")
    return 0 if s.result == "succeeded" else 1
