"""Incremental parser for bitbake's console output (knotty, 1.44 / Yocto Zeus and neighbours).

Why incremental: a build prints tens of thousands of lines over hours and the wizard follows the log file as it
grows, so the parser takes chunks of any size (a line may be split across chunks) and keeps a running summary
instead of re-reading the whole log. Why robust: the log also holds raw compiler output, progress-bar debris
and lines from releases we never saw; anything not understood is just a plain log line.

The line forms it understands are described in the project's reference notes on the bitbake console format.
Speed matters (a 1,000,000-line log must parse in seconds), so each line is routed by a cheap prefix test and
only the few candidate regular expressions for that prefix are tried.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"

# How many warning/error messages (and body lines of each) the summary keeps; counts are always exact.
MAX_MESSAGES = 500
MAX_CONTINUATION = 200
# A line longer than this keeps only its start: a log with a monster line (progress debris, a minified file
# printed by a failing task) must parse in linear time and bounded memory.
MAX_LINE = 8 << 10
# How many raw lines of the log's end the summary keeps (hints read them: a bitbake that died at import
# prints no message the parser knows, only a traceback).
TAIL_LINES = 60


class Event(NamedTuple):
    """Something the log said. `kind` is one of: phase, parse, config, sstate, progress, task_started,
    task_finished, message, failed_task, interrupt, still_alive, result."""

    kind: str
    data: Any = None


@dataclass
class Message:
    level: str                 # NOTE / WARNING / ERROR
    text: str
    recipe: str = ""           # PF (name-version-revision) when the message came from inside a task
    task: str = ""
    line: int = 0              # 1-based line number in the log
    more: list = field(default_factory=list)   # continuation lines (raw output, "Log data follows")

    def to_dict(self) -> dict:
        return {"level": self.level, "text": self.text, "recipe": self.recipe, "task": self.task,
                "line": self.line, "more": list(self.more)}


@dataclass
class RunningTask:
    recipe: str                # PF once bitbake's "Started" note named it, else the recipe name from the file
    task: str
    started: float             # time the parser saw it start (wall clock of the reader)
    setscene: bool = False
    pn: str = ""               # recipe name taken from the .bb file name, used to match the notes


@dataclass
class FailedTask:
    recipe: str
    task: str
    log: str = ""              # the task's own log file ("Logfile of failure stored in: ...")
    file: str = ""             # the recipe file (.bb) when bitbake named it
    exit_code: int | None = None
    log_inferred: bool = False  # `log` guessed next to the run file bitbake named (no "Logfile of failure" line)

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "task": self.task, "log": self.log, "log_inferred": self.log_inferred}


@dataclass
class BuildSummary:
    result: str = RUNNING
    phase: str = ""                       # last phase note ("Executing Tasks", ...)
    tasks_done: int = 0
    tasks_total: int = 0
    setscene_done: int = 0
    setscene_total: int = 0
    running: dict = field(default_factory=dict)   # key -> RunningTask
    warnings: list = field(default_factory=list)  # Message, first MAX_MESSAGES
    errors: list = field(default_factory=list)
    warning_count: int = 0
    error_count: int = 0
    failed_tasks: list = field(default_factory=list)   # FailedTask
    config: dict = field(default_factory=dict)         # Build Configuration variables
    layers: dict = field(default_factory=dict)         # layer -> "branch:revision"
    recipes_parsed: int | None = None               # "Parsing of N .bb files complete"
    parse_line: str = ""
    sstate: dict = field(default_factory=dict)         # wanted/found/missed/current/match/complete
    interrupted: int = 0                               # Ctrl-C count bitbake reported
    attempted: int | None = None                    # from "Tasks Summary"
    reported_warnings: int | None = None            # from the final "Summary:" lines
    reported_errors: int | None = None
    lines: int = 0
    exit_code: int | None = None
    tasks_failed: int = 0                           # from "Tasks Summary" (bitbake's own count)
    seen_bitbake: bool = False                      # whether any line was bitbake's (a random file holds none)
    fatal: str = ""                                 # the error that ended the build before any task failed
    killed: int = 0                                 # the signal that killed bitbake when nobody asked it to stop
    tail: Any = None                                # the last TAIL_LINES raw lines (a deque)

    @property
    def warnings_total(self) -> int:
        """bitbake's own count when it printed one (it is exact), else what the parser saw."""
        return self.reported_warnings if self.reported_warnings is not None else self.warning_count

    @property
    def errors_total(self) -> int:
        return self.reported_errors if self.reported_errors is not None else self.error_count

    @property
    def finished(self) -> bool:
        return self.result != RUNNING

    def eta(self, elapsed: float) -> float | None:
        """Seconds left at the pace so far (normal tasks only: setscene tasks are fast restores), or None
        until there is a pace to go by: 5% of the tasks done."""
        if self.result != RUNNING or not self.tasks_total or self.tasks_done < max(1, self.tasks_total / 20) \
                or elapsed <= 0:
            return None
        rate = self.tasks_done / elapsed
        return max(self.tasks_total - self.tasks_done, 0) / rate

    def running_tasks(self) -> list:
        return sorted(self.running.values(), key=lambda t: t.started)

    def to_json(self) -> dict:
        """The `log-summary --json` document (its keys are a published interface: keep them)."""
        return {"result": self.result, "tasks_done": self.tasks_done, "tasks_total": self.tasks_total,
                "setscene_done": self.setscene_done, "setscene_total": self.setscene_total,
                "warnings": self.warnings_total, "errors": self.errors_total,
                "failed_tasks": [f.to_dict() for f in self.failed_tasks]}


# -- line forms ---------------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_LEVEL_IN_LINE = re.compile(r"(NOTE|WARNING|ERROR|CRITICAL|DEBUG): ")
_RUN_TASK = re.compile(r"Running (setscene |noexec )?task (\d+) of (\d+) \((.*)\)\s*$")
_TASK_NOTE = re.compile(r"recipe (\S+): task (\S+): (Started|Succeeded|Failed)\s*$")
_IN_TASK = re.compile(r"(\S+) (do_\w+): ")
_TASK_FAILED = re.compile(r"Task (?:\d+ )?\((.*)\) failed with exit code '?(-?\d+)'?")
_TASKS_SUMMARY = re.compile(r"Tasks Summary: Attempted (\d+) tasks of which (\d+) didn't need to be rerun and "
                            r"(?:all succeeded|(\d+) failed)")
_SUMMARY_COUNT = re.compile(r"Summary: There (?:was|were) (\d+) (WARNING|ERROR) messages?")
_SUMMARY_FAILED = re.compile(r"Summary: (\d+) tasks? failed:")
_SSTATE = re.compile(r"Sstate summary: Wanted (\d+) (?:Found|Local) (\d+)(?: (?:Network|Mirrors) (\d+))? "
                     r"Missed (\d+) Current (\d+) \((\d+)% match, (\d+)% complete\)")
_PARSED = re.compile(r"Parsing of (\d+) \.bb files complete")
_CONFIG = re.compile(r"(\S+)\s*=\s*\"(.*)\"\s*$")
_FOOTER = re.compile(r"(?:Currently\s+(\d+) running tasks|No currently running tasks|Running tasks) \((\d+) of (\d+)\)")
# 1.44: `Execution of '<T>/run.do_compile.<pid>' failed with exit code 1:` (its log is <T>/log.do_compile.<pid>)
_EXECUTION = re.compile(r"Execution of '(.*/)run\.(do_\w+)\.(\d+)' failed with exit code (-?\d+)")
# Errors after which bitbake runs no (more) tasks: the build must fail whatever follows.
_FATAL = re.compile(r"ParseError|ExpansionError|Nothing R?PROVIDES|Unable to parse|Unable to start bitbake server"
                    r"|An uncaught exception occurred|Failure expanding variable|Command execution failed"
                    r"|Layer \S+ is not compatible|.*has no buildable providers|.*config sanity checker detected"
                    r"|Traceback \(most recent call last\)")
# The last line of a Python traceback: `ImportError: cannot import name ...`
_EXC_LINE = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b:?")
_BAR_DEBRIS = re.compile(r"\s{2,}\|[^|]*(?:ETA|Time):.*$")
_PHASES = ("Resolving any missing task queue dependencies", "Executing Tasks", "Executing SetScene Tasks",
           "Executing RunQueue Tasks", "Setscene tasks completed")
_PROGRESS_PREFIXES = ("Parsing recipes...", "Loading cache...", "Initialising tasks...",
                      "Checking sstate mirror object availability...")


def split_taskstring(taskstring: str) -> tuple:
    """`virtual:native:/p/quilt_0.66.bb:do_fetch` -> ("/p/quilt_0.66.bb", "do_fetch", "quilt-native").
    Very old releases write `file.bb, do_x`."""
    if ", do_" in taskstring:
        fn, _, task = taskstring.rpartition(", ")
    else:
        fn, _, task = taskstring.rpartition(":")
    # prefixes (virtual:native:, mc:<name>:) are colon-separated words before the path's first slash
    slash = fn.find("/")
    cut = (fn[:slash] if slash >= 0 else fn).rfind(":")
    prefix, path = (fn[:cut], fn[cut + 1:]) if cut >= 0 else ("", fn)
    pn = recipe_name_from_file(path)
    if "virtual:native" in prefix and not pn.endswith("-native"):
        pn += "-native"
    elif "virtual:nativesdk" in prefix and not pn.startswith("nativesdk-"):
        pn = "nativesdk-" + pn
    return path, task, pn


def recipe_name_from_file(path: str) -> str:
    """Recipe files are named PN_PV.bb (or PN.bb): the name is the part before the first underscore."""
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".bb"):
        base = base[:-3]
    return base.split("_", 1)[0]


def _pf_matches(pf: str, pn: str) -> bool:
    return pf == pn or pf.startswith(pn + "-")


class BitbakeLogParser:
    """Feed it the console log as it grows; read `.summary`; act on the returned events.

    `clock` gives the start time recorded for running tasks (the log has no time stamps).
    """

    def __init__(self, clock: Callable[[], float] = time.time, task_events: bool = True):
        self.summary = BuildSummary()
        self.clock = clock
        # progress / task_started / task_finished come with nearly every line; a reader that only needs the
        # summary (which holds the same facts) turns them off and parses a third faster.
        self.task_events = task_events
        self._partial = ""
        self._in_config = False
        self._pending_layers: list = []
        self._last_msg: Message | None = None   # the message continuation lines attach to
        self._pending_log = ""                     # "Logfile of failure" waiting for its "Task failed" line
        self._last_task_error: tuple = ()          # (PF, task) of the last in-task ERROR
        self._in_summary_failed = False
        self._base = {False: 0, True: 0}           # done count at the last "Running task" line, per kind
        self._decoder_tail = b""
        self._active = {False: 0, True: 0}        # running tasks per kind (setscene or not)
        self._by_pf: dict = {}                     # (PF, task) -> key in summary.running, once "Started" named it
        self._files: dict = {}                     # taskstring file part -> (path, pn); recipes have many tasks
        self._body_open = False                    # the last ERROR announced a body: its lines are not messages
        self._blank = 0                            # blank lines seen inside a body, kept if more body follows
        self._in_traceback = False
        self._stop_asked = False
        from collections import deque
        self.summary.tail = deque(maxlen=TAIL_LINES)

    # -- input -------------------------------------------------------------------------------------------
    def feed(self, chunk) -> list:
        """Parse a chunk (str or bytes, any size; it may end mid-line). Returns the events it produced."""
        if isinstance(chunk, (bytes, bytearray)):
            data = self._decoder_tail + bytes(chunk)
            # keep an incomplete UTF-8 sequence for the next chunk
            cut = len(data)
            for back in range(1, min(4, len(data)) + 1):
                b = data[-back]
                if b < 0x80:
                    break
                if b >= 0xC0:
                    need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
                    if need > back:
                        cut = len(data) - back
                    break
            self._decoder_tail = data[cut:]
            chunk = data[:cut].decode("utf-8", "replace")
        if not chunk:
            return []
        nl = chunk.find("\n")
        if nl < 0:
            # no line end yet: keep only the first MAX_LINE characters of the line (linear whatever its length)
            room = MAX_LINE - len(self._partial)
            if room > 0:
                self._partial += chunk[:room]
            return []
        events: list = []
        handle = self._line
        first = chunk[:nl] if nl <= MAX_LINE else chunk[:MAX_LINE]
        handle((self._partial + first)[:MAX_LINE], events)
        lines = chunk[nl + 1:].split("\n")
        last = lines.pop()
        self._partial = last[:MAX_LINE]
        for line in lines:
            handle(line if len(line) <= MAX_LINE else line[:MAX_LINE], events)
        return events

    def close(self, exit_code: int | None = None, stopped: bool = False) -> list:
        """End of input: parse a last unterminated line and settle the result. `exit_code` (when known) decides
        a result the log itself left open (e.g. bitbake died before printing its summary). `stopped`: the user
        asked the build to stop (a forced stop leaves no trace in the log), so a killed build was cancelled,
        not failed."""
        events: list = []
        if self._decoder_tail:
            self._partial += self._decoder_tail.decode("utf-8", "replace")
            self._decoder_tail = b""
        if self._partial:
            line, self._partial = self._partial, ""
            self._line(line, events)
        s = self.summary
        if exit_code is not None:
            s.exit_code = exit_code
            signalled = exit_code < 0 or exit_code in (130, 137, 143)
            if signalled and not (stopped or s.interrupted):
                s.killed = -exit_code if exit_code < 0 else exit_code - 128
            if s.result == RUNNING or (exit_code != 0 and s.result == SUCCEEDED):
                if s.interrupted or (stopped and (signalled or exit_code != 0)):
                    s.result = CANCELLED
                elif exit_code == 0:
                    s.result = SUCCEEDED
                else:
                    s.result = FAILED
                events.append(Event("result", s.result))
        if s.result != RUNNING:
            self._clear_running()
        return events

    def feed_all(self, text, exit_code: int | None = None) -> BuildSummary:
        self.feed(text)
        self.close(exit_code)
        return self.summary

    # -- one line ----------------------------------------------------------------------------------------
    def _line(self, line: str, events: list) -> None:
        s = self.summary
        s.lines += 1
        if "\r" in line:
            # terminal captures: progress redraws; the text after the last carriage return is what stayed
            parts = [p for p in line.split("\r") if p.strip()]
            line = parts[-1] if parts else ""
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        s.tail.append(line)
        c = line[:1]
        if c == "N" and line.startswith("NOTE: "):
            s.seen_bitbake = True
            self._end_body()
            self._note(line[6:], events)
        elif c == "W" and line.startswith("WARNING: "):
            s.seen_bitbake = True
            if self._body_open and not _IN_TASK.match(line, 9):
                # e.g. "WARNING: exit code 1 from a shell command." inside a failed task's error: body, not a
                # warning of its own (bitbake's count leaves it out too)
                self._body_line(line)
                return
            self._end_body()
            self._message("WARNING", line[9:], events)
        elif c == "E" and line.startswith("ERROR: "):
            s.seen_bitbake = True
            self._end_body()
            self._message("ERROR", line[7:], events)
        elif self._in_traceback:
            self._traceback_line(line, events)
        elif c == "|" or c == " " or c == "\t":
            self._continuation(line, events)
        elif self._in_config:
            self._config_line(line, events)
        else:
            self._plain(line, events)

    def _end_body(self) -> None:
        self._body_open = False
        self._blank = 0
        self._in_traceback = False

    def _body_line(self, line: str) -> None:
        msg = self._last_msg
        if msg is None:
            return
        if not line.strip():
            self._blank += 1
            return
        if len(msg.more) < MAX_CONTINUATION:
            if self._blank and msg.more:
                msg.more.extend([""] * min(self._blank, MAX_CONTINUATION - len(msg.more)))
            msg.more.append(line)
        self._blank = 0

    def _fail(self, events: list) -> None:
        """A task failed or an error ended the build: the build fails (an interrupted one stays cancelled:
        tasks killed by the stop fail as a consequence, not as the cause)."""
        s = self.summary
        if not s.interrupted and not self._stop_asked and s.result != CANCELLED:
            self._set_result(FAILED, events)

    def _interrupt(self, n: int, events: list) -> None:
        s = self.summary
        s.interrupted = max(s.interrupted, n)
        events.append(Event("interrupt", n))
        if s.result != FAILED:
            self._set_result(CANCELLED, events)

    def _traceback_line(self, line: str, events: list) -> None:
        """A Python traceback outside any message (bitbake died before its UI ran, e.g. at import)."""
        msg = self._last_msg
        if line.startswith("  File ") and ("bitbake" in line or "/bb/" in line):
            self.summary.seen_bitbake = True
        if line[:1] not in (" ", "\t", "") and _EXC_LINE.match(line):
            if msg is not None:   # the exception line says what happened: it becomes the message's text
                msg.more.insert(0, msg.text)
                msg.text = line
            self._in_traceback = False
            self._last_msg = None
        elif msg is not None and len(msg.more) < MAX_CONTINUATION:
            msg.more.append(line)

    def _note(self, text: str, events: list) -> None:
        self._last_msg = None
        self._in_summary_failed = False
        c = text[:1]
        if c == "r":
            if text.startswith("recipe "):
                m = _TASK_NOTE.match(text)
                if m:
                    self._task_note(m.group(1), m.group(2), m.group(3), events)
                    return
        elif c == "R":
            if text.startswith("Running "):
                m = _RUN_TASK.match(text)
                if m:
                    self._run_task(m, events)
                    return
            elif text.startswith(_PHASES[0]):
                self.summary.phase = _PHASES[0]
                events.append(Event("phase", _PHASES[0]))
                return
        elif c == "T":
            if text.startswith("Tasks Summary: "):
                m = _TASKS_SUMMARY.match(text)
                if m:
                    self._tasks_summary(m, events)
                    return
        elif c == "E" or c == "S":
            for p in _PHASES:
                if text.startswith(p):
                    self.summary.phase = p
                    events.append(Event("phase", p))
                    return
        if text.startswith("Sending SIGTERM"):
            self._interrupt(2, events)

    def _run_task(self, m, events: list) -> None:
        s = self.summary
        kind, x, y, taskstring = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        setscene = kind == "setscene "
        fn, _, task = taskstring.rpartition(":")
        known = self._files.get(fn)
        if known is None or ", do_" in taskstring:
            path, task, pn = split_taskstring(taskstring)
            if len(self._files) > 50000:
                self._files.clear()
            self._files[fn] = (path, pn)
        else:
            path, pn = known
        # X = completed + active + failed + 1 (bitbake's own counters), so what is done is X - 1 - active.
        base = max(x - 1 - self._active[setscene], 0)
        if kind == "noexec ":
            base += 1
        self._base[setscene] = base
        if setscene:
            s.setscene_total = y
            s.setscene_done = min(max(base, s.setscene_done), y)
        else:
            s.tasks_total = y
            s.tasks_done = min(max(base, s.tasks_done), y)
        if kind != "noexec ":
            rt = RunningTask(recipe=pn, task=task, started=self.clock(), setscene=setscene, pn=pn)
            self._add_running(rt)
            if self.task_events:
                events.append(Event("task_started", rt))
        if self.task_events:
            events.append(Event("progress", (s.tasks_done, s.tasks_total, s.setscene_done, s.setscene_total)))

    def _add_running(self, rt: RunningTask) -> None:
        running = self.summary.running
        key = (rt.pn, rt.task)
        old = running.pop(key, None)
        if old is not None:
            self._active[old.setscene] -= 1
        running[key] = rt
        self._active[rt.setscene] += 1

    def _pop_running(self, key) -> RunningTask | None:
        rt = self.summary.running.pop(key, None)
        if rt is not None:
            self._active[rt.setscene] -= 1
            self._by_pf.pop((rt.recipe, rt.task), None)
        return rt

    def _find_running(self, pf: str, task: str) -> tuple | None:
        """The running task a note names: PF is PN-PV-PR, so try PF's dash-prefixes, longest first."""
        key = self._by_pf.get((pf, task))
        if key is not None:
            return key
        running = self.summary.running
        if (pf, task) in running:
            return (pf, task)
        i = len(pf)
        while True:
            i = pf.rfind("-", 0, i)
            if i <= 0:
                return None
            key = (pf[:i], task)
            if key in running:
                return key

    def _task_note(self, pf: str, task: str, what: str, events: list) -> None:
        s = self.summary
        key = self._find_running(pf, task)
        if what == "Started":
            if key is not None:
                s.running[key].recipe = pf
                self._by_pf[(pf, task)] = key
            else:   # a log that starts mid-build, or a note with no "Running task" line before it
                rt = RunningTask(recipe=pf, task=task, started=self.clock(), setscene=task.endswith("_setscene"),
                                 pn=pf)
                self._add_running(rt)
            return
        rt = self._pop_running(key) if key is not None else None
        setscene = rt.setscene if rt is not None else task.endswith("_setscene")
        if setscene:
            s.setscene_done = min(s.setscene_done + 1, s.setscene_total or s.setscene_done + 1)
        else:
            s.tasks_done = min(s.tasks_done + 1, s.tasks_total or s.tasks_done + 1)
        if what == "Failed" and not setscene:
            self._add_failed(pf, task, pn=rt.pn if rt else "", events=events)
        if self.task_events:
            events.append(Event("task_finished", (pf, task, what)))
            events.append(Event("progress", (s.tasks_done, s.tasks_total, s.setscene_done, s.setscene_total)))

    def _add_failed(self, recipe: str, task: str, *, pn: str = "", log: str = "", file: str = "",
                    exit_code: int | None = None, events: list) -> FailedTask:
        s = self.summary
        for f in s.failed_tasks:
            if f.task == task and (f.recipe == recipe or _pf_matches(f.recipe, pn or recipe)
                                   or _pf_matches(recipe, recipe_name_from_file(f.file) if f.file else f.recipe)):
                # the same failure seen again (note, Task failed line, end summary): complete what we know
                if len(recipe) > len(f.recipe) and _pf_matches(recipe, f.recipe):
                    f.recipe = recipe
                if log and (not f.log or f.log_inferred):
                    f.log, f.log_inferred = log, False
                f.file = f.file or file
                if exit_code is not None:
                    f.exit_code = exit_code
                return f
        f = FailedTask(recipe=recipe, task=task, log=log, file=file, exit_code=exit_code)
        s.failed_tasks.append(f)
        events.append(Event("failed_task", f))
        self._fail(events)
        return f

    def _tasks_summary(self, m, events: list) -> None:
        s = self.summary
        s.attempted = int(m.group(1))
        s.tasks_failed = int(m.group(3) or 0)
        # bitbake's own count wins: attempted tasks (run or found current) less the failed ones are done
        s.tasks_done = max(s.attempted - s.tasks_failed, 0)
        s.tasks_total = max(s.tasks_total, s.attempted)
        self._clear_running()
        if m.group(3) is None:
            if not s.interrupted and not s.error_count:
                if s.tasks_total:
                    s.tasks_done = s.tasks_total
                if s.setscene_total:
                    s.setscene_done = s.setscene_total
                self._set_result(SUCCEEDED, events)
        elif s.interrupted:
            self._set_result(CANCELLED, events)
        else:
            self._fail(events)
        events.append(Event("progress", (s.tasks_done, s.tasks_total, s.setscene_done, s.setscene_total)))

    def _clear_running(self) -> None:
        self.summary.running.clear()
        self._by_pf.clear()
        self._active = {False: 0, True: 0}

    def _set_result(self, result: str, events: list) -> None:
        if self.summary.result != result:
            self.summary.result = result
            events.append(Event("result", result))

    def _message(self, level: str, text: str, events: list) -> None:
        s = self.summary
        self._in_summary_failed = False
        if "  |" in text and ("ETA:" in text or "Time:" in text):
            text = _BAR_DEBRIS.sub("", text)
        if level == "ERROR":
            if text.startswith("Logfile of failure stored in: "):
                self._pending_log = text[30:].strip()
                for f in s.failed_tasks:   # the log the Execution line let us guess: now bitbake named it
                    if f.log_inferred and f.log.rsplit(".", 1)[0] == self._pending_log.rsplit(".", 1)[0]:
                        f.log, f.log_inferred = self._pending_log, False
                msg = Message(level, text, line=s.lines)
                self._last_msg = msg
                self._body_open = True     # "Log data follows:" and its lines
                events.append(Event("message", msg))
                return
            if text.startswith("Task "):
                m = _TASK_FAILED.match(text)
                if m:
                    fn, task, pn = split_taskstring(m.group(1))
                    recipe = pn
                    if self._last_task_error and self._last_task_error[1] == task and \
                            _pf_matches(self._last_task_error[0], pn):
                        recipe = self._last_task_error[0]
                    log = self._pending_log
                    self._pending_log = ""
                    self._add_failed(recipe, task, pn=pn, log=log, file=fn, exit_code=int(m.group(2)),
                                     events=events)
                    msg = Message(level, text, recipe=recipe, task=task, line=s.lines)
                    self._last_msg = None
                    events.append(Event("message", msg))
                    return
        recipe = task = ""
        if text[:1] != " ":
            m = _IN_TASK.match(text)
            if m:
                recipe, task = m.group(1), m.group(2)
                text = text[m.end():]
        msg = Message(level, text, recipe=recipe, task=task, line=s.lines)
        if level == "ERROR":
            s.error_count += 1
            if len(s.errors) < MAX_MESSAGES:
                s.errors.append(msg)
            if task:
                self._last_task_error = (recipe, task)
                if "Execution of '" in text:
                    m = _EXECUTION.search(text)
                    if m:
                        # 1.44 names the run file; its log is next to it (temp/log.<task>.<pid>): inferred
                        inferred = f"{m.group(1)}log.{m.group(2)}.{m.group(3)}"
                        f = self._add_failed(recipe, task, log=inferred, exit_code=int(m.group(4)), events=events)
                        if f.log == inferred:
                            f.log_inferred = True
            elif _FATAL.match(text):
                s.fatal = s.fatal or text
                self._fail(events)
            # an error that announces a body ("...failed with exit code 1:", "Error executing a python
            # function in ...:", a traceback): the lines up to the next message are that body
            self._body_open = text.endswith(":") or text.startswith("Traceback") or "uncaught exception" in text
        else:
            s.warning_count += 1
            if len(s.warnings) < MAX_MESSAGES:
                s.warnings.append(msg)
        self._last_msg = msg
        events.append(Event("message", msg))

    def _continuation(self, line: str, events: list) -> None:
        s = self.summary
        if self._in_summary_failed and line.startswith("  "):
            item = line.strip()
            if item.startswith("log: "):
                if s.failed_tasks and not s.failed_tasks[-1].log:
                    s.failed_tasks[-1].log = item[5:].strip()
                return
            fn, task, pn = split_taskstring(item)
            if task.startswith("do_"):
                self._add_failed(pn, task, pn=pn, file=fn, events=events)
                return
        if self._in_config and line.strip():
            self._config_line(line, events)
            return
        if self._last_msg is not None:
            self._body_line(line)

    def _plain(self, line: str, events: list) -> None:
        s = self.summary
        c = line[:1]
        if not line.strip():
            self._in_summary_failed = False
            if self._body_open:
                self._blank += 1
            else:
                self._last_msg = None
            return
        if c == "S":
            if line.startswith("Summary: "):
                self._last_msg = None
                self._end_body()
                s.seen_bitbake = True
                m = _SUMMARY_COUNT.match(line)
                if m:
                    n = int(m.group(1))
                    if m.group(2) == "ERROR":
                        s.reported_errors = n
                        if n:
                            self._fail(events)
                    else:
                        s.reported_warnings = n
                    return
                m = _SUMMARY_FAILED.match(line)
                if m:
                    self._in_summary_failed = True
                    return
            elif line.startswith("Sstate summary: "):
                m = _SSTATE.match(line)
                if m:
                    g = m.groups()
                    s.sstate = {"wanted": int(g[0]), "found": int(g[1]) + int(g[2] or 0), "missed": int(g[3]),
                                "current": int(g[4]), "match": int(g[5]), "complete": int(g[6])}
                    events.append(Event("sstate", s.sstate))
                return
            elif line.startswith("Second Keyboard Interrupt"):
                self._interrupt(2, events)
                return
        elif c == "B":
            if line.startswith("Build Configuration:"):
                self._in_config = True
                self._pending_layers = []
                return
            if line.startswith("Bitbake still alive"):
                events.append(Event("still_alive", line))
                return
        elif c == "K" and line.startswith("Keyboard Interrupt"):
            self._end_body()
            self._interrupt(1, events)
            return
        elif c == "E" and line.startswith("Execution was interrupted"):
            self._end_body()
            self._interrupt(max(s.interrupted, 1), events)
            return
        elif c == "T" and line.startswith("Traceback (most recent call last)") and self._last_msg is None:
            # outside a message: bitbake itself died (e.g. at import on a too new Python) -- the build failed
            msg = Message("ERROR", line, line=s.lines)
            s.error_count += 1
            if len(s.errors) < MAX_MESSAGES:
                s.errors.append(msg)
            self._last_msg = msg
            self._in_traceback = True
            s.fatal = s.fatal or "bitbake stopped with a Python error"
            self._fail(events)
            events.append(Event("message", msg))
            return
        elif c == "P":
            if line.startswith("Parsing of "):
                m = _PARSED.match(line)
                if m:
                    s.recipes_parsed = int(m.group(1))
                    s.parse_line = line
                    events.append(Event("parse", line))
                    return
            elif line.startswith("Please use a locale setting"):
                msg = Message("ERROR", line, line=s.lines)
                s.error_count += 1
                s.errors.append(msg)
                self._last_msg = msg
                self._set_result(FAILED, events)
                events.append(Event("message", msg))
                return
        if "..." in line:
            for p in _PROGRESS_PREFIXES:
                if line.startswith(p):
                    rest = line[len(p):]
                    if rest.startswith("done."):
                        rest = rest[5:]
                    m = _LEVEL_IN_LINE.search(rest)
                    if m:
                        self._line(rest[m.start():], events)
                        s.lines -= 1
                    else:
                        events.append(Event("phase", p.rstrip(".")))
                    return
        m = _FOOTER.search(line) if "running tasks" in line or "Running tasks" in line else None
        if m:
            # the footer's X counts done + failed + running + 1 at the last task start, the N it prints
            # includes that task: X - N are done (the quiet form has no N: use the tasks the log named)
            s.seen_bitbake = True
            self._end_body()
            self._last_msg = None
            x, y = int(m.group(2)), int(m.group(3))
            n = int(m.group(1)) if m.group(1) is not None else (
                0 if line.lstrip().startswith("No currently") else self._active[False] + 1)
            s.tasks_total = y
            s.tasks_done = min(max(x - n, 0), y)
            return
        # unprefixed lines right after an error belong to it (raw task output, "... was skipped: ...")
        if self._last_msg is not None:
            self._body_line(line)

    def _config_line(self, line: str, events: list) -> None:
        s = self.summary
        if not line.strip():
            self._end_config(events)
            return
        m = _CONFIG.match(line.strip())
        if m:
            key, value = m.group(1), m.group(2)
            if key.isupper() or key in ("TUNE_FEATURES", "TARGET_FPU"):
                s.config[key] = value
            else:
                for name in self._pending_layers:   # layers at the same revision print it only on the last
                    s.layers[name] = value
                self._pending_layers = []
                s.layers[key] = value
        elif "=" not in line and " " not in line.strip():
            self._pending_layers.append(line.strip())
        else:
            self._end_config(events)
            self._plain(line, events)

    def _end_config(self, events: list) -> None:
        for name in self._pending_layers:
            self.summary.layers.setdefault(name, "")
        self._pending_layers = []
        self._in_config = False
        events.append(Event("config", dict(self.summary.config)))


def parse_text(text: str, exit_code: int | None = None) -> BuildSummary:
    """Parse a whole console log at once (the `log-summary` command, tests)."""
    return BitbakeLogParser(task_events=False).feed_all(text, exit_code)


def parse_file(path, exit_code: int | None = None, chunk_size: int = 1 << 20,
               stopped: bool = False) -> BuildSummary:
    p = BitbakeLogParser(task_events=False)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                break
            p.feed(chunk)
    p.close(exit_code, stopped=stopped)
    return p.summary
