"""The knotty console parser, line form by line form, plus chunking, robustness and speed."""

from __future__ import annotations

import time

import pytest

from wizard.build.bitbake_log import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    BitbakeLogParser,
    parse_text,
    split_taskstring,
)

HEAD = """Loading cache...done.
Loaded 4012 entries from dependency cache.
Parsing recipes...done.
Parsing of 2834 .bb files complete (2800 cached, 34 parsed). 4012 targets, 312 skipped, 0 masked, 0 errors.
NOTE: Resolving any missing task queue dependencies

Build Configuration:
BB_VERSION           = "1.44.0"
BUILD_SYS            = "x86_64-linux"
MACHINE              = "jetson-nano-qspi-sd"
DISTRO               = "wrlinux"
TUNE_FEATURES        = "aarch64 armv8a crc"
TARGET_FPU           = ""
meta<PAD>
meta-poky            = "HEAD:aaaa"
meta-tegra           = "zeus-l4t-r32.3.1:11a02d02"

Initialising tasks...done.
Checking sstate mirror object availability...done.
Sstate summary: Wanted 120 Found 40 Missed 80 Current 0 (33% match, 0% complete)
NOTE: Executing Tasks
""".replace("<PAD>", " " * 17)   # bitbake pads a layer shown without a value

FAILURE = """NOTE: Running task 10 of 50 (/l/meta-virtualization/recipes-containers/tini/tini_0.18.0.bb:do_compile)
NOTE: recipe tini-0.18.0-r0: task do_compile: Started
ERROR: tini-0.18.0-r0 do_compile: oe_runmake failed
ERROR: tini-0.18.0-r0 do_compile: Execution of '/w/tini/0.18.0-r0/temp/run.do_compile.4242' failed with exit code 1:
make: *** [Makefile:84: src.o] Error 1
ERROR: Logfile of failure stored in: /w/tini/0.18.0-r0/temp/log.do_compile.4242
Log data follows:
| DEBUG: Executing shell function do_compile
| error: implicit declaration of function 'strlcpy'
NOTE: recipe tini-0.18.0-r0: task do_compile: Failed
ERROR: Task (/l/meta-virtualization/recipes-containers/tini/tini_0.18.0.bb:do_compile) failed with exit code '1'
NOTE: Tasks Summary: Attempted 10 tasks of which 9 didn't need to be rerun and 1 failed.

Summary: 1 task failed:
  /l/meta-virtualization/recipes-containers/tini/tini_0.18.0.bb:do_compile
Summary: There was 1 WARNING message shown.
Summary: There were 2 ERROR messages shown, returning a non-zero exit code.
"""


def test_preamble_forms():
    s = parse_text(HEAD)
    assert s.result == RUNNING
    assert s.recipes_parsed == 2834
    assert s.config == {"BB_VERSION": "1.44.0", "BUILD_SYS": "x86_64-linux", "MACHINE": "jetson-nano-qspi-sd",
                        "DISTRO": "wrlinux", "TUNE_FEATURES": "aarch64 armv8a crc", "TARGET_FPU": ""}
    # a layer printed without a value takes the next layer's (same revision)
    assert s.layers == {"meta": "HEAD:aaaa", "meta-poky": "HEAD:aaaa", "meta-tegra": "zeus-l4t-r32.3.1:11a02d02"}
    assert s.sstate == {"wanted": 120, "found": 40, "missed": 80, "current": 0, "match": 33, "complete": 0}
    assert s.phase == "Executing Tasks"
    assert s.warning_count == s.error_count == 0


def test_newer_sstate_summaries():
    assert parse_text("Sstate summary: Wanted 10 Local 2 Network 3 Missed 5 Current 1 (50% match, 60% "
                      "complete)\n").sstate["found"] == 5
    assert parse_text("Sstate summary: Wanted 10 Local 2 Mirrors 0 Missed 8 Current 0 (20% match, 0% "
                      "complete)\n").sstate["missed"] == 8


def test_running_tasks_and_counters():
    p = BitbakeLogParser(clock=lambda: 100.0)
    p.feed("NOTE: Running setscene task 1 of 3 (virtual:native:/l/quilt_0.66.bb:do_populate_sysroot_setscene)\n"
           "NOTE: recipe quilt-native-0.66-r0: task do_populate_sysroot_setscene: Started\n"
           "NOTE: Running task 4 of 30 (/l/busybox_1.31.0.bb:do_fetch)\n"
           "NOTE: recipe busybox-1.31.0-r0: task do_fetch: Started\n"
           "NOTE: Running task 5 of 30 (mc:jetson:/l/glibc_2.30.bb:do_configure)\n")
    s = p.summary
    assert (s.setscene_done, s.setscene_total) == (0, 3)
    assert (s.tasks_done, s.tasks_total) == (3, 30)       # X - 1 - running (busybox)
    names = sorted((t.recipe, t.task) for t in s.running_tasks())
    assert names == [("busybox-1.31.0-r0", "do_fetch"), ("glibc", "do_configure"),
                     ("quilt-native-0.66-r0", "do_populate_sysroot_setscene")]
    assert all(t.started == 100.0 for t in s.running_tasks())
    p.feed("NOTE: recipe quilt-native-0.66-r0: task do_populate_sysroot_setscene: Succeeded\n"
           "NOTE: recipe busybox-1.31.0-r0: task do_fetch: Succeeded\n"
           "NOTE: Running noexec task 9 of 30 (/l/busybox_1.31.0.bb:do_build)\n")
    assert s.setscene_done == 1
    assert s.tasks_done == 8                               # noexec: done at once; glibc still running
    assert [t.task for t in s.running_tasks()] == ["do_configure"]


def test_split_taskstring():
    assert split_taskstring("virtual:native:/p/quilt_0.66.bb:do_fetch") == ("/p/quilt_0.66.bb", "do_fetch",
                                                                           "quilt-native")
    assert split_taskstring("mc:tx2:/p/glibc_2.30.bb:do_compile") == ("/p/glibc_2.30.bb", "do_compile", "glibc")
    assert split_taskstring("/p/linux-tegra_4.9.bb, do_fetch") == ("/p/linux-tegra_4.9.bb", "do_fetch",
                                                                  "linux-tegra")
    assert split_taskstring("/p/packagegroup-core-boot.bb:do_build")[2] == "packagegroup-core-boot"


def test_failure_sequence_1_44():
    s = parse_text(HEAD + "WARNING: tegra-libraries-32.3.1-r0 do_package_qa: QA Issue: textrel\n" + FAILURE)
    assert s.result == FAILED
    assert len(s.failed_tasks) == 1
    f = s.failed_tasks[0]
    assert (f.recipe, f.task, f.log) == ("tini-0.18.0-r0", "do_compile", "/w/tini/0.18.0-r0/temp/log.do_compile.4242")
    assert f.exit_code == 1 and f.file.endswith("tini_0.18.0.bb")
    assert s.error_count == 2 and s.errors_total == 2 and s.warnings_total == 1
    e = s.errors[1]
    assert (e.recipe, e.task) == ("tini-0.18.0-r0", "do_compile")
    assert e.more == ["make: *** [Makefile:84: src.o] Error 1"]
    w = s.warnings[0]
    assert (w.recipe, w.task, w.text) == ("tegra-libraries-32.3.1-r0", "do_package_qa", "QA Issue: textrel")
    assert s.attempted == 10 and not s.running
    assert s.to_json()["failed_tasks"] == [{"recipe": "tini-0.18.0-r0", "task": "do_compile",
                                            "log": "/w/tini/0.18.0-r0/temp/log.do_compile.4242",
                                            "log_inferred": False}]


def test_old_and_new_failure_forms():
    old = parse_text("ERROR: Task 12 (/l/linux-tegra_4.9.bb, do_compile) failed with exit code '2'\n")
    assert [(f.recipe, f.task, f.exit_code) for f in old.failed_tasks] == [("linux-tegra", "do_compile", 2)]
    master = parse_text("Summary: 1 task failed:\n  /l/tini_0.18.0.bb:do_compile\n    log: /w/log.do_compile.1\n"
                        "Summary: There was 1 ERROR message, returning a non-zero exit code.\n")
    assert master.result == FAILED and master.reported_errors == 1
    assert [(f.recipe, f.task, f.log) for f in master.failed_tasks] == [("tini", "do_compile", "/w/log.do_compile.1")]


def test_success_sets_counts_complete():
    s = parse_text("NOTE: Running task 1 of 3 (/l/a_1.bb:do_fetch)\n"
                   "NOTE: Tasks Summary: Attempted 3 tasks of which 1 didn't need to be rerun and all succeeded.\n\n"
                   "Summary: There were 2 WARNING messages shown.\n")
    assert s.result == SUCCEEDED and s.tasks_done == 3 and s.warnings_total == 2 and not s.running


def test_errors_after_a_clean_task_summary_still_fail():
    s = parse_text("ERROR: Nothing PROVIDES 'cuda-samples' (but /l/img.bb DEPENDS on or otherwise requires it)\n"
                   "cuda-samples was skipped: incompatible with machine qemux86-64\n"
                   "NOTE: Tasks Summary: Attempted 0 tasks of which 0 didn't need to be rerun and all succeeded.\n"
                   "Summary: There was 1 ERROR message shown, returning a non-zero exit code.\n")
    assert s.result == FAILED
    assert s.errors[0].more == ["cuda-samples was skipped: incompatible with machine qemux86-64"]


def test_interrupt_forms():
    s = parse_text("NOTE: Running task 1 of 3 (/l/a_1.bb:do_fetch)\nKeyboard Interrupt, closing down...\n"
                   "Second Keyboard Interrupt, stopping...\nNOTE: Sending SIGTERM to remaining 1 tasks\n"
                   "Execution was interrupted, returning a non-zero exit code.\n")
    assert s.result == CANCELLED and s.interrupted == 2


def test_parse_error_on_the_progress_line():
    s = parse_text("Parsing recipes...ERROR: ParseError at /l/bad.bb:3: unparsed line: 'oops'\n")
    assert s.error_count == 1 and s.errors[0].text.startswith("ParseError at /l/bad.bb:3")


def test_locale_and_root_failures():
    s = parse_text("Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8).\n"
                   "Python can't change the filesystem locale after loading so we need a UTF-8 when Python starts "
                   "or things won't work.\n")
    assert s.result == FAILED and s.errors[0].more
    r = parse_text("ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
                   "    Following is the list of potential problems / advisories:\n\n"
                   "    Do not use Bitbake as root.\n"
                   "Summary: There was 1 ERROR message shown, returning a non-zero exit code.\n")
    assert r.result == FAILED and r.error_count == 1
    assert r.errors[0].text.startswith(" OE-core's config sanity checker")


def test_terminal_capture_forms():
    # colours, progress-bar debris, the interactive footer and carriage-return redraws
    s = parse_text("\x1b[1;33mWARNING\x1b[0m: something\n"
                   "WARNING: a message over a bar                    | ETA:  0:00:01\n"
                   "Currently  4 running tasks (120 of 400)  30% |#####      |\n"
                   "Parsing recipes:  10% |#   | ETA:  0:00:40\rParsing recipes: 100% |####| Time: 0:00:04\n"
                   "Bitbake still alive (5000s)\n"
                   "No currently running tasks (125 of 400)\n")
    assert s.warning_count == 2
    assert s.warnings[0].text == "something" and s.warnings[1].text == "a message over a bar"
    # the footer's X counts done + failed + running + 1 at the last start, its N includes that task: X - N done
    assert (s.tasks_done, s.tasks_total) == (125, 400)
    s = parse_text("Currently  4 running tasks (120 of 400)  30% |#####      |\n")
    assert (s.tasks_done, s.tasks_total) == (116, 400)


def test_setscene_failure_is_a_warning_not_a_failed_task():
    s = parse_text("WARNING: Setscene task (/l/a_1.bb:do_populate_sysroot_setscene) failed with exit code '1' - "
                   "real task will be run instead\n")
    assert s.warning_count == 1 and not s.failed_tasks and s.result == RUNNING


def test_chunks_of_any_size_give_the_same_summary():
    text = HEAD + FAILURE
    whole = parse_text(text).to_json()
    for size in (1, 3, 7, 64):
        p = BitbakeLogParser()
        data = text.encode()
        for i in range(0, len(data), size):
            p.feed(data[i:i + size])
        p.close()
        assert p.summary.to_json() == whole


def test_utf8_split_across_chunks():
    p = BitbakeLogParser()
    raw = "WARNING: caf\u00e9 \u2713\n".encode()
    p.feed(raw[:13])
    p.feed(raw[13:])
    assert p.summary.warnings[0].text == "caf\u00e9 \u2713"


def test_unknown_and_binary_lines_are_harmless():
    junk = b"\x00\xff\xfe random\n" * 5 + b"Summary: what\nNOTE: Running task x of y (z)\nERROR: \n|\n \n"
    p = BitbakeLogParser()
    p.feed(junk)
    p.close()
    assert p.summary.result == RUNNING and p.summary.tasks_total == 0


def test_exit_code_settles_an_open_result():
    assert parse_text("NOTE: Executing Tasks\n", exit_code=0).result == SUCCEEDED
    assert parse_text("NOTE: Executing Tasks\n", exit_code=1).result == FAILED
    # killed when nobody asked it to stop (the OOM killer): failed, and the summary says by which signal
    killed = parse_text("NOTE: Executing Tasks\n", exit_code=-9)
    assert killed.result == FAILED and killed.killed == 9
    p = BitbakeLogParser()
    p.feed("NOTE: Executing Tasks\n")
    p.close(-9, stopped=True)
    assert p.summary.result == CANCELLED and not p.summary.killed
    assert parse_text("Keyboard Interrupt, closing down...\n", exit_code=1).result == CANCELLED


def test_events_are_reported():
    p = BitbakeLogParser()
    kinds = [e.kind for e in p.feed(HEAD + FAILURE)]
    for k in ("parse", "phase", "config", "sstate", "progress", "task_started", "task_finished", "message",
              "failed_task", "result"):
        assert k in kinds, k


def test_fast_enough():
    """>= 100,000 lines/s (measured loosely here; the benchmark measures it properly)."""
    line = ("NOTE: Running task {i} of 90000 (/l/meta/recipes-core/glibc/glibc_2.30.bb:do_compile)\n"
            "NOTE: recipe glibc-2.30-r0: task do_compile: Started\n"
            "NOTE: recipe glibc-2.30-r0: task do_compile: Succeeded\n"
            "make[2]: Entering directory '/w/glibc/build'\n")
    text = "".join(line.format(i=i) for i in range(1, 25001))
    p = BitbakeLogParser(task_events=False)
    t = time.perf_counter()
    p.feed(text)
    rate = 100000 / (time.perf_counter() - t)
    assert p.summary.tasks_done == 25000
    if rate < 100000:
        pytest.fail(f"parser too slow: {rate:,.0f} lines/s")


def test_execution_form_alone_fails_the_build_with_an_inferred_log():
    # a log cut right after 1.44's Execution line (bitbake killed, log truncated): the task failed, and its log
    # is next to the run file -- inferred, and marked so
    s = parse_text("NOTE: Executing Tasks\n"
                   "ERROR: tini-0.18.0-r0 do_compile: Execution of '/w/tini/temp/run.do_compile.7' failed with "
                   "exit code 1:\n"
                   "src.c:3:1: error: implicit declaration of function 'strlcpy'\n"
                   "WARNING: exit code 1 from a shell command.\n")
    assert s.result == FAILED
    f = s.failed_tasks[0]
    assert (f.recipe, f.task, f.log, f.log_inferred, f.exit_code) == (
        "tini-0.18.0-r0", "do_compile", "/w/tini/temp/log.do_compile.7", True, 1)
    assert s.warning_count == 0 and "WARNING: exit code 1 from a shell command." in s.errors[0].more
    # once bitbake names the log, it is no longer inferred
    s = parse_text("ERROR: tini-0.18.0-r0 do_compile: Execution of '/w/tini/temp/run.do_compile.7' failed with "
                   "exit code 1:\n\nERROR: Logfile of failure stored in: /w/tini/temp/log.do_compile.7\n")
    assert s.failed_tasks[0].log == "/w/tini/temp/log.do_compile.7" and not s.failed_tasks[0].log_inferred


def test_traceback_before_bitbake_printed_anything_fails():
    s = parse_text("Traceback (most recent call last):\n"
                   '  File "/opt/bitbake/bin/bitbake", line 19, in <module>\n'
                   "    import bb\n"
                   "ImportError: cannot import name 'MutableMapping' from 'collections'\n")
    assert s.result == FAILED and s.seen_bitbake
    assert s.errors[0].text.startswith("ImportError: cannot import name 'MutableMapping'")
    assert not parse_text("hello\nworld\n").seen_bitbake


def test_monster_line_keeps_its_start_and_later_lines_parse():
    from wizard.build.bitbake_log import MAX_LINE

    p = BitbakeLogParser()
    p.feed("NOTE: Executing Tasks\n")
    for _ in range(50):
        p.feed("x" * 100_000)
    p.feed("\nNOTE: Tasks Summary: Attempted 1 tasks of which 0 didn't need to be rerun and all succeeded.\n")
    p.close()
    assert p.summary.result == SUCCEEDED and len(p._partial) == 0
    assert max(len(line) for line in p.summary.tail) <= MAX_LINE
