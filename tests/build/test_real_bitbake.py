"""The real BitBake 1.44 through the runner, `wrnv-wizard build`, log-summary and a terminal (knotty's footer).

Every case ends with what bitbake really did: the result, tasks X of Y, the failed task and its log, the exit
code. The layer is tiny and written by `realbb`; the whole file runs in about a minute.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizard.build.bitbake_log import parse_file
from wizard.build.hints import cause_lines, hint_for_summary
from wizard.build.runner import BuildFollower, BuildRunner, tail_lines
from wizard.core.steps import Status

from .conftest import follow_to_end
from .realbb import BITBAKE, PYTHON37, bitbake_env, cleanup_project, make_real_project, needs_real_bitbake

pytestmark = needs_real_bitbake


@pytest.fixture
def real(tmp_path):
    """(session, runner) for a fresh real-bitbake project; stops whatever bitbake is left at the end."""
    from wizard.core.profile import load_profile
    from wizard.core.session import Session

    made = []

    def make(**kw):
        proj = make_real_project(tmp_path / f"p{len(made)}", **kw)
        made.append(proj)
        session = Session(load_profile(), proj)
        return session, BuildRunner(session, allow_root=True, min_free_bytes=0)

    yield make
    from .conftest import stop_leftover_build

    for proj in made:
        stop_leftover_build(proj)
        cleanup_project(proj)


def build(runner, target, *, keep_going=False, timeout=90.0):
    run = runner.start(target, env=bitbake_env(), keep_going=keep_going)
    follower = BuildFollower(runner, run)
    text = follow_to_end(follower, timeout=timeout)
    return run, follower.summary, text


def test_success_counts_every_task_and_exits_0(real):
    session, runner = real()
    run, s, text = build(runner, "tiny-image")
    assert s.result == "succeeded", text[-3000:]
    assert run.exit_code() == 0 and s.exit_code == 0
    assert s.tasks_total == 21 and s.tasks_done == 21 and s.attempted == 21
    assert not s.failed_tasks and s.errors_total == 0
    assert session.status("build") is Status.DONE
    # the same log read afterwards (re-opening the wizard) says the same
    again = parse_file(run.log, run.exit_code())
    assert (again.result, again.tasks_done, again.tasks_total) == ("succeeded", 21, 21)


def _assert_compile_failure(session, run, s, text):
    assert s.result == "failed", text[-3000:]
    assert run.exit_code() == 1
    assert [(f.recipe, f.task) for f in s.failed_tasks] == [("broken-c-0.18.0-r0", "do_compile")]
    f = s.failed_tasks[0]
    assert os.path.isfile(f.log) and f.log.endswith(".do_compile." + f.log.rsplit(".", 1)[1])
    assert not f.log_inferred   # bitbake printed "Logfile of failure stored in:"
    # the body of the 1.44 "Execution of ... failed" error is kept; the WARNING inside it is not counted
    assert s.errors_total == 1 and s.warnings_total == 0 and s.warning_count == 0
    body = "\n".join(s.errors[0].more)
    assert "implicit declaration of function 'strlcpy'" in body
    causes = cause_lines(s, tail_lines(f.log))
    assert any("implicit declaration of function 'strlcpy'" in c for c in causes.cause)
    hint = hint_for_summary(s, tail_lines(f.log), session.profile)
    assert hint is not None and hint.id == "implicit-declaration"
    st = session.step_state("build")
    assert st.status is Status.FAILED and st.detail == "broken-c-0.18.0-r0 do_compile failed"


def test_failing_compile_stops_the_build(real):
    session, runner = real()
    run, s, text = build(runner, "broken-image")
    _assert_compile_failure(session, run, s, text)
    # bitbake's own count wins: "Attempted N tasks of which M didn't need to be rerun and 1 failed" (N depends
    # on how far the other recipes got before the failure stopped the scheduler)
    attempted = _attempted(text)
    assert s.tasks_total == 26 and s.tasks_failed == 1 and s.tasks_done == attempted - 1 < 25


def test_failing_compile_with_keep_going_builds_the_rest(real):
    session, runner = real()
    run, s, text = build(runner, "broken-image", keep_going=True)
    _assert_compile_failure(session, run, s, text)
    # -k: every task that does not need broken-c still ran: tiny-app, tiny-lib and tiny-tool to the end
    assert s.tasks_total == 26 and s.tasks_done == _attempted(text) - 1
    assert "tiny-tool-0.3-r0: task do_deploy: Succeeded" in text and "tiny-app-2.1-r0: task do_deploy: Succeeded" in text


def _attempted(text: str) -> int:
    m = re.search(r"Tasks Summary: Attempted (\d+) tasks of which \d+ didn't need to be rerun and 1 failed", text)
    assert m, text[-2000:]
    return int(m.group(1))


def test_python_task_exception_keeps_its_body(real):
    session, runner = real()
    run, s, text = build(runner, "pyfail")
    assert s.result == "failed" and run.exit_code() == 1
    assert [(f.recipe, f.task) for f in s.failed_tasks] == [("pyfail-1.0-r0", "do_compile")]
    assert os.path.isfile(s.failed_tasks[0].log)
    err = s.errors[0]
    assert err.text.startswith("Error executing a python function")
    assert "Exception: KeyError: 'cxx'" in err.more
    assert "The stack trace of python calls that resulted in this exception/failure was:" in err.more
    # bitbake's own counts: 1 warning (the task's bb.warn), 1 error
    assert s.warnings_total == 1 and s.errors_total == 1
    assert hint_for_summary(s, [], session.profile).id == "python-task"


def test_parse_error_fails_before_any_task(real):
    session, runner = real()
    bad = session.project / "layers" / "meta-tiny" / "recipes" / "zz-bad_1.0.bb"
    bad.write_text('DEPENDS = "${@\n')
    run, s, text = build(runner, "tiny-image")
    assert s.result == "failed" and run.exit_code() == 1
    assert s.fatal.startswith("ParseError at ") and "zz-bad_1.0.bb" in s.fatal
    assert s.tasks_total == 0 and not s.failed_tasks
    assert hint_for_summary(s, [], session.profile).id == "parse"
    assert session.step_state("build").detail.startswith("A recipe or configuration file has an error")


def test_nothing_provides_fails_with_its_hint(real):
    session, runner = real()
    run, s, text = build(runner, "needs-missing")
    assert s.result == "failed" and run.exit_code() == 1
    assert s.fatal.startswith("Nothing PROVIDES 'no-such-lib'")
    assert s.errors_total == 2
    assert any("Missing or unbuildable dependency chain" in line for line in s.errors[1].more)
    assert hint_for_summary(s, [], session.profile).id == "nothing-provides"


def test_python_too_new_dies_at_import_and_gets_its_hint(real):
    new = Path(sys.executable)
    if sys.version_info < (3, 10):
        pytest.skip("needs a Python >= 3.10 to show bitbake 1.44 failing at import")
    session, runner = real(python=new)
    run, s, text = build(runner, "tiny-image")
    assert "cannot import name 'MutableMapping' from 'collections'" in text
    assert s.result == "failed" and run.exit_code() == 1
    assert s.errors[0].text.startswith("ImportError: cannot import name 'MutableMapping'")
    hint = hint_for_summary(s, [], session.profile)
    assert hint is not None and hint.id == "python-too-new"


def _wait_running(follower, task: str, timeout: float = 40.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        follower.poll()
        if any(t.task == task for t in follower.summary.running_tasks()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {task} started in time")


def test_one_ctrl_c_lets_running_tasks_finish(real):
    session, runner = real()
    run = runner.start("slow-image", env=bitbake_env())
    follower = BuildFollower(runner, run)
    _wait_running(follower, "do_compile")
    assert run.interrupt()
    text = follow_to_end(follower, timeout=60)
    s = follower.summary
    assert "Keyboard Interrupt, closing down..." in text
    assert s.result == "cancelled" and run.exit_code() == 1
    assert s.interrupted == 1 and not s.failed_tasks
    assert 0 < s.tasks_done < s.tasks_total == 16
    assert session.step_state("build").detail == "stopped before the end"


def test_two_ctrl_c_stop_at_once(real):
    session, runner = real()
    run = runner.start("slow-image", env=bitbake_env())
    follower = BuildFollower(runner, run)
    _wait_running(follower, "do_compile")
    assert run.interrupt()
    time.sleep(0.5)
    assert run.interrupt()
    text = follow_to_end(follower, timeout=60)
    s = follower.summary
    assert "Second Keyboard Interrupt, stopping..." in text
    assert s.result == "cancelled" and s.interrupted == 2 and run.exit_code() == 1


def test_sigkill_from_outside_is_a_failure_not_a_stop(real):
    session, runner = real()
    run = runner.start("slow-image", env=bitbake_env())
    follower = BuildFollower(runner, run)
    _wait_running(follower, "do_compile")
    os.killpg(run.pid, signal.SIGKILL)      # e.g. the out-of-memory killer: nobody asked it to stop
    follow_to_end(follower, timeout=30)
    s = follower.summary
    assert run.exit_code() is None and s.exit_code == -9
    assert s.result == "failed" and s.killed == 9
    assert session.step_state("build").detail == "bitbake was killed (signal 9) before it finished"


def test_forced_stop_is_cancelled(real):
    session, runner = real()
    run = runner.start("slow-image", env=bitbake_env())
    follower = BuildFollower(runner, run)
    _wait_running(follower, "do_compile")
    assert run.force(grace=5)
    follow_to_end(follower, timeout=30)
    s = follower.summary
    assert s.result == "cancelled" and not s.killed and s.exit_code != 0


def test_cli_build_reports_result_tasks_failed_task_and_exit_code(real, tmp_path):
    """The installed `wrnv-wizard build`, with a profile copy that lets its bitbake run as root (the suite
    runs as root; the product's profile refuses)."""
    from wrnvtest import wizard_command

    session, runner = real()
    src = (Path(__file__).resolve().parents[2] / "assets" / "profiles" / "wrlinux-lts19-jetpack-4.3.toml")
    profile = tmp_path / "test-profile.toml"
    profile.write_text(src.read_text().replace("bitbake_refuses_root = true", "bitbake_refuses_root = false"))
    r = subprocess.run([*wizard_command(), "--profile", str(profile), "build", "--project", str(session.project),
                        "--target", "broken-image"], env=dict(bitbake_env(), HOME=str(tmp_path)),
                       capture_output=True, text=True, timeout=120)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert re.search(r"tasks \d+ of 26", out)
    assert "Build failed (bitbake exit code 1)" in out
    assert "Failed task: broken-c-0.18.0-r0 do_compile (log: " in out
    assert "> main.c:2:46: error: implicit declaration of function 'strlcpy'" in out
    assert "Hint: The source does not build with this compiler" in out


def test_log_summary_on_real_logs(real, tmp_path):
    session, runner = real()
    run, s, _ = build(runner, "pyfail")
    env = dict(bitbake_env(), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "wizard.cli", "log-summary"]
    r = subprocess.run(cmd + [str(run.log)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Result: failed" in r.stdout and "Exception: KeyError: 'cxx'" in r.stdout
    r = subprocess.run(cmd + [str(run.log), "--json"], env=env, capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["result"] == "failed" and doc["failed_tasks"][0]["task"] == "do_compile"
    # a file with no bitbake output: one line, exit 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(4096))
    for f in (junk, tmp_path / "empty.log"):
        f.touch()
        r = subprocess.run(cmd + [str(f)], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "holds no bitbake output" in r.stderr and len(r.stderr.splitlines()) == 1
        assert "Traceback" not in r.stderr


def _tty_build(proj: Path, target: str, out: Path) -> int:
    """bitbake in a real pseudo-terminal (script(1)): knotty draws its footer, as in a user's terminal."""
    cmd = (f'cd {proj} && . ./environment-setup-x86_64-wrlinuxsdk-linux && . ./oe-init-build-env build '
           f'>/dev/null && bitbake {target}')
    r = subprocess.run(["script", "-qfec", cmd, str(out)], env=dict(bitbake_env(), TERM="xterm", COLUMNS="100",
                                                                    LINES="30"),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return r.returncode


@pytest.mark.skipif(not Path("/usr/bin/script").exists(), reason="script(1) (util-linux) is not installed")
def test_terminal_logs_with_knotty_footer(real):
    session, runner = real()
    proj = session.project
    ok_log = proj / "tty-ok.log"
    assert _tty_build(proj, "tiny-image", ok_log) == 0
    raw = ok_log.read_bytes()
    assert b"running tasks (" in raw and b"\x1b[" in raw     # the footer and its redraws are in the capture
    s = parse_file(ok_log)
    assert (s.result, s.tasks_done, s.tasks_total) == ("succeeded", 21, 21)
    fail_log = proj / "tty-fail.log"
    assert _tty_build(proj, "broken-image", fail_log) == 1
    s = parse_file(fail_log, 1)
    assert s.result == "failed" and [(f.recipe, f.task) for f in s.failed_tasks] == [
        ("broken-c-0.18.0-r0", "do_compile")]
    assert os.path.isfile(s.failed_tasks[0].log)
    assert s.errors_total == 1 and any("strlcpy" in line for line in s.errors[0].more)


def test_the_vendored_bitbake_is_the_one_used(real):
    session, runner = real()
    run, s, text = build(runner, "tiny-tool")
    assert s.result == "succeeded"
    # the project's environment put the vendored bin/ and Python 3.7 first on PATH
    env = (session.project / "environment-setup-x86_64-wrlinuxsdk-linux").read_text()
    assert str(BITBAKE / "bin") in env and os.readlink(session.project / "buildtools-bin" / "python3") == \
        str(PYTHON37)


def test_team_hash_equivalence_server(real, tmp_path):
    """The real bitbake-hashserv on 127.0.0.1: local.conf's BB_HASHSERVE line makes 1.44 ask it for every
    setscene task, and a build that restores from the shared state says how much (setscene X of Y)."""
    import ast
    import shutil
    import socket

    from wizard.commands.build import progress_line
    from wizard.demo.board import free_port
    from wizard.project.localconf import TeamSettings, team_lines

    port = free_port()
    server = subprocess.Popen([str(PYTHON37), str(BITBAKE / "bin" / "bitbake-hashserv"), "--bind",
                               f"127.0.0.1:{port}", "--database", str(tmp_path / "hashserv.db")],
                              env=bitbake_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < end and server.poll() is None, "bitbake-hashserv did not start"
                time.sleep(0.1)
        lines = team_lines(TeamSettings(hash_server=f"127.0.0.1:{port}"))
        assert lines == [f'BB_HASHSERVE = "127.0.0.1:{port}"', 'BB_SIGNATURE_HANDLER = "OEEquivHash"']
        session, runner = real(extra_local="\n".join(lines) + "\n")
        run, s, text = build(runner, "tiny-image")
        assert s.result == "succeeded", text[-3000:]

        def stats() -> dict:
            r = subprocess.run([str(PYTHON37), str(BITBAKE / "bin" / "bitbake-hashclient"), "--address",
                                f"127.0.0.1:{port}", "stats"], env=bitbake_env(), capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0, r.stderr
            return ast.literal_eval(r.stdout)

        asked = stats()["requests"]["num"]
        assert asked >= 4          # one question per setscene task (do_deploy of each recipe)
        # a second build from the shared state (stamps gone, outputs kept): restored, not rebuilt
        shutil.rmtree(session.project / "build" / "tmp" / "stamps")
        run, s, text = build(runner, "tiny-image")
        assert s.result == "succeeded", text[-3000:]
        assert "Running setscene task" in text
        assert s.setscene_total >= 4 and s.setscene_done == s.setscene_total
        assert stats()["requests"]["num"] > asked
        assert f"setscene {s.setscene_done} of {s.setscene_total}" in progress_line(s, run.started)
    finally:
        server.terminate()
        server.wait(10)


async def test_build_screen_with_real_bitbake_shows_the_cause(real, monkeypatch):
    """The Build screen (App.run_test + pilot) follows the real bitbake to a failed do_compile and shows the
    compiler's error and the hint first; ctrl+o shows the task's full log."""
    from screens.app import WizardApp
    from screens.build import BuildScreen

    from .test_screen import text_of, wait_for

    monkeypatch.setattr(BuildScreen, "RUNNER_OPTIONS", {"allow_root": True, "min_free_bytes": 0})
    for k, v in bitbake_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    session, _ = real()
    session.answers.image = "broken-image"
    app = WizardApp(session, start_at="build")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.click("#build-start")
        await wait_for(pilot, lambda: session.status("build") is Status.FAILED, timeout=90)
        await wait_for(pilot, lambda: screen._finished_result == "failed")
        await pilot.pause(0.3)
        failure = text_of(screen, "#build-failure")
        assert "broken-c-0.18.0-r0 do_compile failed" in failure
        assert "implicit declaration of function 'strlcpy'" in failure
        assert "Hint — The source does not build with this compiler" in failure
        assert "exit code 1" in text_of(screen, "#build-status")
        assert "Tasks " in text_of(screen, "#build-progress-text") and " of 26" in text_of(screen, "#build-progress-text")
        await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        assert any("strlcpy" in line for line in screen.log_view.lines)
