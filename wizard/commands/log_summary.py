"""`wrnv-wizard log-summary FILE`: what a bitbake console log says -- result, progress, failed tasks.

Works on any knotty console log (the wizard's own build logs, a colleague's pasted log, CI output), so a
failure can be diagnosed without the TUI. `--json` prints a stable document for scripts.
"""

from __future__ import annotations

import json

HELP = "summarize a bitbake console log: result, tasks done, warnings, errors, failed tasks and their logs"


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE", help="a bitbake console log ('-' reads standard input)")
    p.add_argument("--json", action="store_true",
                   help='print {"result", "tasks_done", "tasks_total", "setscene_done", "setscene_total", '
                        '"warnings", "errors", "failed_tasks"} as JSON')


def run(args) -> int:
    import sys
    from pathlib import Path

    from wizard.build.bitbake_log import BitbakeLogParser
    from wizard.build.hints import cause_lines, hint_for_summary
    from wizard.build.runner import tail_lines
    from wizard.core.errors import UsageError, WizardError

    parser = BitbakeLogParser(task_events=False)
    if args.file == "-":
        for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
            parser.feed(chunk)
    else:
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise WizardError(f"{path}: no such file; give the path of a bitbake console log")
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    parser.feed(chunk)
        except OSError as e:
            raise WizardError(f"{path}: cannot read it ({e.strerror}); check the path and its permissions") from e
    parser.close()
    s = parser.summary
    if not s.seen_bitbake:
        name = "standard input" if args.file == "-" else args.file
        raise UsageError(f"{name} holds no bitbake output (no NOTE/WARNING/ERROR lines, task counts or summary); "
                         f"give the console log of a bitbake run")
    code = 1 if s.result in ("failed", "cancelled") else 0
    if args.json:
        print(json.dumps(s.to_json(), indent=2))
        return code
    print(f"Result: {s.result}")
    if s.tasks_total:
        print(f"Tasks: {s.tasks_done} of {s.tasks_total}")
    if s.setscene_total:
        print(f"Setscene tasks (from the shared state cache): {s.setscene_done} of {s.setscene_total}")
    if s.config:
        print("Configuration: " + ", ".join(f"{k}={v}" for k, v in s.config.items()
                                            if k in ("MACHINE", "DISTRO", "BB_VERSION")))
    print(f"Warnings: {s.warnings_total}   Errors: {s.errors_total}")
    if s.fatal and not s.failed_tasks:
        print(f"Stopped by: {s.fatal}")
    if s.killed:
        print(f"bitbake was killed (signal {s.killed}) before it finished")
    for f in s.failed_tasks:
        inferred = " (inferred: next to the run file bitbake named)" if f.log_inferred else ""
        print(f"Failed: {f.recipe} {f.task}" + (f"\n  log: {f.log}{inferred}" if f.log else ""))
    for m in s.errors[:10]:
        where = f"{m.recipe} {m.task}: " if m.task else ""
        print(f"  ERROR (line {m.line}): {where}{m.text}")
    tail = tail_lines(s.failed_tasks[0].log, 200) if s.failed_tasks and s.failed_tasks[0].log else []
    if s.result in ("failed", "cancelled"):
        causes = cause_lines(s, tail)
        if causes.cause:
            print("Cause lines:")
            for line in causes.cause:
                print(f"  > {line}")
    hint = hint_for_summary(s, tail, _profile(args))
    if hint is not None and s.result != "succeeded":
        print(f"Hint: {hint.line()}")
    return code


def _profile(args):
    """The release profile for the figures a hint quotes; a log can be summarized without one."""
    from wizard.core.errors import WizardError
    from wizard.core.profile import load_profile

    try:
        return load_profile(getattr(args, "profile", None))
    except WizardError:
        return None
