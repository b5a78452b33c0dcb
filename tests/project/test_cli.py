"""The headless commands: setup, localconf, export-kas -- exit codes and one-line errors."""

from __future__ import annotations

import yaml

from wizard.cli import main


def _setup_args(world, project):
    return ["setup", "--project", str(project), "--wrlinux-url", world.wrlinux_url, "--meta-tegra-url",
            world.meta_tegra_url, "--meta-tegra-commit", world.commits.tested]


def test_setup_localconf_export_end_to_end(world, tmp_path, capsys):
    project, dl = tmp_path / "proj", tmp_path / "dl"
    dl.mkdir()
    assert main(_setup_args(world, project)) == 0
    out = capsys.readouterr().out
    assert "==> Clone wrlinux-x" in out and "is ready" in out
    assert main(_setup_args(world, project)) == 0
    out = capsys.readouterr().out
    assert "already set up: nothing to do" in out and out.count("already done:") == 5

    assert main(["localconf", "--project", str(project), "--downloads", str(dl), "--print"]) == 0
    printed = capsys.readouterr().out
    assert f"NVIDIA_DEVNET_MIRROR = 'file://{dl}'" in printed
    assert main(["localconf", "--project", str(project), "--apply"]) == 0
    assert "updated" in capsys.readouterr().out
    conf = project / "build" / "conf" / "local.conf"
    assert printed in conf.read_text()
    before = conf.read_bytes()
    assert main(["localconf", "--project", str(project), "--apply"]) == 0
    assert "nothing changed" in capsys.readouterr().out and conf.read_bytes() == before

    out_file = tmp_path / "jetson.kas.yml"
    assert main(["export-kas", "--project", str(project), "-o", str(out_file)]) == 0
    assert "written" in capsys.readouterr().out
    doc = yaml.safe_load(out_file.read_text())
    assert doc["repos"]["meta-tegra"]["commit"] == world.commits.tested
    assert main(["export-kas", "--project", str(project)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == doc


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wrnv-wizard: error: "), err
    return err[0]


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["localconf", "--project", str(tmp_path)]) == 2
    assert "--print" in _one_line_error(capsys)
    assert main(["setup", "--project", str(tmp_path), "--bogus"]) == 2
    _one_line_error(capsys)


def test_bad_answers_and_missing_project_exit_1(tmp_path, capsys, world):
    assert main(["setup", "--project", str(tmp_path / "p"), "--machine", "jetson-nope"]) == 1
    assert "jetson-nano-qspi-sd" in _one_line_error(capsys)
    assert main(["setup", "--project", str(tmp_path / "p"), "--meta-tegra-commit", "abc"]) == 1
    assert "40-character" in _one_line_error(capsys)
    assert main(["localconf", "--project", str(tmp_path / "p"), "--apply"]) == 1
    assert "wrnv-wizard setup" in _one_line_error(capsys)
    assert main(["export-kas", "--project", str(tmp_path / "p")]) == 1
    assert "wrnv-wizard setup" in _one_line_error(capsys)


def test_failing_clone_is_one_line_with_hint_and_log(tmp_path, capsys):
    project = tmp_path / "p"
    rc = main(["setup", "--project", str(project), "--wrlinux-url", "http://127.0.0.1:9/wrlinux-x"])
    assert rc == 1
    line = _one_line_error(capsys)
    assert "network" in line and "project-clone-wrlinux.log" in line


def test_installed_command_login_from_environment_is_never_logged(world, tmp_path):
    from wrnvtest import run_cli

    from wizard.core.session import Session

    project = tmp_path / "p"
    Session.open(project).update_answers(source="lts")     # the subscriber source (the default is BASE)
    secret = "pa55-from-env"
    r = run_cli(*_setup_args(world, project),
                env={"WRNV_WINDSHARE_USER": "carol", "WRNV_WINDSHARE_PASSWORD": secret}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Detected Windshare configuration." in r.stdout       # the LTS source got the login
    assert secret not in r.stdout + r.stderr
    for log in (project / ".wrnv-wizard" / "logs").iterdir():
        assert secret not in log.read_text()


def test_installed_command_errors_have_no_traceback(tmp_path):
    from wrnvtest import run_cli

    r = run_cli("export-kas", "--project", str(tmp_path / "none"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "wrnv-wizard setup" in r.stderr
