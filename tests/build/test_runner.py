"""The runner with the stand-in bitbake: success, a failed do_compile, Ctrl-C, forced stop, re-attach, root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from wizard.build.runner import BuildFollower, BuildRun, BuildRunner, pid_is, proc_start_time
from wizard.core.errors import WizardError
from wizard.core.steps import Status

from .conftest import MACHINE, REPO, follow_to_end, make_project


def test_success_deploys_the_tegraflash_zip_and_marks_done(session, fake_env):
    runner = BuildRunner(session, allow_root=True, min_free_bytes=0)
    run = runner.start("wrlinux-image-glibc-std")
    saved = session.step_state("build")
    assert saved.status is Status.RUNNING
    assert saved.data["pid"] == run.pid and saved.data["pid_start"] == proc_start_time(run.pid)
    assert saved.data["log"] == str(run.log) and run.log.parent.name == "logs"
    follower = BuildFollower(runner, run)
    text = follow_to_end(follower)
    s = follower.summary
    assert s.result == "succeeded", text[-2000:]
    assert s.tasks_total > 200 and s.tasks_done == s.tasks_total
    assert s.setscene_total > 0 and s.setscene_done == s.setscene_total
    assert s.config["MACHINE"] == MACHINE and s.warnings_total == 2
    assert run.wait(10) == 0 and not run.alive()      # the wrapper exits right after writing its code
    assert session.status("build") is Status.DONE
    deploy = session.project / "build" / "tmp-glibc" / "deploy" / "images" / MACHINE
    link = deploy / f"wrlinux-image-glibc-std-{MACHINE}.tegraflash.zip"
    assert link.is_symlink() and link.resolve().is_file()
    assert link.resolve().name.startswith(f"wrlinux-image-glibc-std-{MACHINE}-")


def test_failed_compile_names_the_task_and_its_log(session, fake_env):
    fake_env.setenv("WRNV_FAKE_BITBAKE_FAIL", "tini:do_compile")
    runner = BuildRunner(session, allow_root=True, min_free_bytes=0)
    run = runner.start()
    follower = BuildFollower(runner, run)
    follow_to_end(follower)
    s = follower.summary
    assert s.result == "failed" and run.exit_code() == 1
    assert [(f.recipe, f.task) for f in s.failed_tasks] == [("tini-0.18.0-r0", "do_compile")]
    log = s.failed_tasks[0].log
    assert "/tmp-glibc/work/" in log and os.path.isfile(log)
    assert "strlcpy" in open(log).read()
    assert s.errors_total == 2
    st = session.step_state("build")
    assert st.status is Status.FAILED and st.detail == "tini-0.18.0-r0 do_compile failed"


def test_ctrl_c_lets_running_tasks_finish_then_cancels(session, fake_env):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.5")
    runner = BuildRunner(session, allow_root=True, min_free_bytes=0)
    run = runner.start()
    follower = BuildFollower(runner, run)
    deadline = time.monotonic() + 20
    while follower.summary.tasks_done < 3 and time.monotonic() < deadline:
        follower.poll()
        time.sleep(0.05)
    assert run.interrupt()
    text = follow_to_end(follower, timeout=30)
    s = follower.summary
    assert "Keyboard Interrupt, closing down..." in text
    assert "Execution was interrupted, returning a non-zero exit code." in text
    assert s.result == "cancelled" and run.exit_code() == 1
    assert not s.running        # the running tasks finished
    assert session.status("build") is Status.FAILED


def test_force_stop_kills_the_whole_group(session, fake_env):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.2")
    runner = BuildRunner(session, allow_root=True, min_free_bytes=0)
    run = runner.start()
    time.sleep(1.0)
    assert run.alive()
    assert run.force(grace=2.0)
    follower = BuildFollower(runner, run)
    follow_to_end(follower, timeout=15)
    run.wait(10)
    assert not run.alive()
    assert follower.summary.result == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)


def test_reattach_from_a_new_session_follows_the_same_build(project, fake_env):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "8")
    first = Session(load_profile(), project)
    run = BuildRunner(first, allow_root=True, min_free_bytes=0).start()
    del first                       # the wizard that started it is gone
    second = Session(load_profile(), project)
    runner = BuildRunner(second, allow_root=True, min_free_bytes=0)
    again = runner.running()
    assert again is not None and again.pid == run.pid and again.log == run.log
    follower = BuildFollower(runner, again)
    follow_to_end(follower)
    assert follower.summary.result == "succeeded"
    assert Session(load_profile(), project).status("build") is Status.DONE
    # a finished build is not "running" any more, but is still found with its log
    assert runner.running() is None and runner.current().log == run.log


def test_a_second_start_while_running_is_refused(session, fake_env):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.5")
    runner = BuildRunner(session, allow_root=True, min_free_bytes=0)
    run = runner.start()
    try:
        with pytest.raises(WizardError, match="already running"):
            runner.start()
    finally:
        run.force(grace=1.0)
        run.wait(10)


def test_recycled_pid_is_not_taken_for_the_build():
    me = os.getpid()
    assert pid_is(me, proc_start_time(me))
    assert not pid_is(me, proc_start_time(me) + 1)       # same pid, another process
    stale = BuildRun(pid=me, pid_start=1, log=REPO / "nope.log", target="x", started=0.0,
                     exit_file=REPO / "nope.log.exit")
    assert not stale.alive()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_is(child.pid, None)


def test_refuses_root_by_itself(session, fake_env):
    runner = BuildRunner(session, min_free_bytes=0, euid=lambda: 0)
    with pytest.raises(WizardError, match="does not run as root"):
        runner.start()
    assert session.status("build") is Status.PENDING


def test_only_a_profile_with_a_stand_in_bitbake_may_allow_root(session, monkeypatch):
    assert not BuildRunner(session, euid=lambda: 0).allow_root
    monkeypatch.setitem(session.base_profile.host, "bitbake_refuses_root", False)   # the demo sandbox's profile
    assert BuildRunner(session, euid=lambda: 0).allow_root


def test_preflight_checks_disk_and_localconf(tmp_path, fake_env):
    from wizard.core.profile import load_profile
    from wizard.core.session import Session
    from wizard.project.localconf import BEGIN, END

    proj = make_project(tmp_path, managed_block=False)
    s = Session(load_profile(), proj)
    runner = BuildRunner(s, allow_root=True, min_free_bytes=0)
    with pytest.raises(WizardError, match="no wrnv-wizard settings block"):
        runner.preflight()
    conf = proj / "build" / "conf" / "local.conf"
    conf.write_text("# only mentions wrnv-wizard in a comment\n")
    with pytest.raises(WizardError, match="no wrnv-wizard settings block"):
        runner.preflight()
    conf.write_text(f"{BEGIN}\nMACHINE = 'x'\n")           # begin marker without its end
    with pytest.raises(WizardError, match="markers are damaged"):
        runner.preflight()
    conf.write_text(f"{BEGIN}\nMACHINE = 'x'\n{END}\n")
    with pytest.raises(WizardError, match="GB free"):
        BuildRunner(s, allow_root=True, min_free_bytes=1 << 60).preflight()
    runner.preflight()
    (proj / "oe-init-build-env").unlink()
    with pytest.raises(WizardError, match="not set up"):
        runner.preflight()


def test_follow_reads_only_new_bytes(tmp_path):
    log = tmp_path / "b.log"
    log.write_bytes(b"one\ntw")
    run = BuildRun(pid=0, pid_start=None, log=log, target="t", started=0.0, exit_file=tmp_path / "b.log.exit")
    data, off = run.follow(0)
    assert data == b"one\ntw" and off == 6
    assert run.follow(off) == (b"", 6)
    with open(log, "ab") as f:
        f.write(b"o\n")
    assert run.follow(off) == (b"o\n", 8)
    assert run.follow(0, max_bytes=3) == (b"one", 3)


def test_cli_build_follows_to_the_end(project, fake_env, capsys):
    from argparse import Namespace

    from wizard.commands import build

    rc = build.run(Namespace(project=str(project), profile=None, target="", detach=False), allow_root=True)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Started bitbake wrlinux-image-glibc-std" in out
    assert "Build succeeded" in out
    assert "WARNING: Host distribution" in out


def test_cli_build_detach_then_reattach_reports_failure(project, fake_env, capsys):
    from argparse import Namespace

    from wizard.commands import build

    fake_env.setenv("WRNV_FAKE_BITBAKE_FAIL", "cudnn:do_install")
    args = Namespace(project=str(project), profile=None, target="", detach=True)
    assert build.run(args, allow_root=True) == 0
    assert "runs on after this command" in capsys.readouterr().out
    args.detach = False
    rc = build.run(args, allow_root=True)
    out = capsys.readouterr().out
    assert rc == 1
    assert "already running" in out or "Build failed" in out
    assert "Failed task: cudnn-7.6.3.28-1-r0 do_install" in out
    assert "Last lines before the failure:" in out or "Cause:" in out
    assert "Full log of the failed task: " in out


def test_cli_build_as_root_is_one_line_error(project):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if os.geteuid() != 0:
        pytest.skip("needs root to see the root refusal")
    r = subprocess.run([sys.executable, "-m", "wizard.cli", "build", "--project", str(project)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("wrnv-wizard: error: bitbake does not run as root")
    assert "Traceback" not in r.stderr


def test_cli_ctrl_c_stops_cleanly(project, fake_env, tmp_path):
    fake_env.setenv("WRNV_FAKE_BITBAKE_SPEED", "0.5")
    script = tmp_path / "run_build.py"
    script.write_text(
        "import sys\nfrom argparse import Namespace\nfrom wizard.commands import build\n"
        f"sys.exit(build.run(Namespace(project={str(project)!r}, profile=None, target='', detach=False), "
        "allow_root=True))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("tasks "):
            break
    p.send_signal(signal.SIGINT)
    rest, _ = p.communicate(timeout=60)
    out = "".join(lines) + rest
    assert p.returncode == 1, out
    assert "Stopping: bitbake lets the running tasks finish" in out
    assert "Build cancelled" in out


def test_log_summary_json_keys(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("NOTE: Running task 1 of 2 (/l/a_1.0.bb:do_fetch)\n"
                   "NOTE: recipe a-1.0-r0: task do_fetch: Started\n"
                   "NOTE: recipe a-1.0-r0: task do_fetch: Succeeded\n")
    r = subprocess.run([sys.executable, "-m", "wizard.cli", "log-summary", str(log), "--json"],
                       env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    assert list(doc) == ["result", "tasks_done", "tasks_total", "setscene_done", "setscene_total", "warnings",
                         "errors", "failed_tasks"]
    assert doc["result"] == "running" and doc["tasks_done"] == 1 and doc["tasks_total"] == 2
