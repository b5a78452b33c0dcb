"""`wrnv-wizard check-board` against the real sshd: exit codes, JSON, the first-contact rule."""

from __future__ import annotations

import json

from wizard.cli import main


def _args(board_host, tmp_path, *extra):
    return ["--profile", str(board_host["profile"]), "check-board", "127.0.0.1", "--port", str(board_host["port"]),
            "--identity", str(board_host["identity"]), "--known-hosts", str(tmp_path / "kh"), "--image", "l4t-test",
            "--timeout", "5", *extra]


def test_first_contact_needs_explicit_flag(board_host, jetson, tmp_path, capsys):
    rc = main(_args(board_host, tmp_path, "--json"))
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wrnv-wizard: error: ")
    assert "SHA256:" in lines[0] and "--accept-new-host-key" in lines[0]
    assert not (tmp_path / "kh").exists()


def test_json_all_pass_exit_0(board_host, jetson, libcuda_standin, tmp_path, capsys):
    jetson.install_libcuda(libcuda_standin)
    rc = main(_args(board_host, tmp_path, "--json", "--accept-new-host-key"))
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == ["reachable", "login", "docker", "daemon_json", "runtime_config",
                                                  "nvidia_runtime", "csv_files", "gpu"]
    assert set(doc["checks"][0]) == {"name", "status", "command", "output", "hint"}
    # The key is now known: a second run needs no flag.
    assert main(_args(board_host, tmp_path, "--json")) == 0


def test_broken_link_exit_1_with_hint(board_host, jetson, tmp_path, capsys):
    jetson.scenario(runtimes=["runc"])
    jetson.path("daemon_json").unlink()
    rc = main(_args(board_host, tmp_path, "--accept-new-host-key"))
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] `docker info` lists the nvidia runtime" in out
    assert "-> runtimes: runc only -> nvidia-container-runtime is not in the image" in out
    assert "[skip] GPU visible inside a container" in out
    assert "first to fix: daemon.json registers the nvidia runtime" in out


def test_no_gpu_here_is_a_failure(board_host, jetson, tmp_path, capsys):
    rc = main(_args(board_host, tmp_path, "--json", "--accept-new-host-key"))
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["ok"] is False and doc["gpu"]["error"] == "no CUDA driver"


def test_unknown_package_is_one_line_error(board_host, tmp_path, capsys):
    rc = main(_args(board_host, tmp_path, "--packages", "cudnn,nope"))
    err = capsys.readouterr().err
    assert rc == 1 and "no package 'nope'" in err


def test_unreachable_exit_1_json(tmp_path, capsys, board_host):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(["--profile", str(board_host["profile"]), "check-board", "127.0.0.1", "--port", str(port),
               "--known-hosts", str(tmp_path / "kh"), "--timeout", "2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["checks"][0]["status"] == "fail"
    assert all(c["status"] == "skip" for c in doc["checks"][1:])


def test_result_recorded_in_the_project(board_host, jetson, libcuda_standin, tmp_path, capsys):
    from wizard.core.session import Session
    from wizard.core.steps import Status

    jetson.install_libcuda(libcuda_standin)
    project = tmp_path / "project"
    s = Session.open(project, str(board_host["profile"]))
    s.update_answers(packages=["libvisionworks"])
    rc = main(["--project", str(project), *_args(board_host, tmp_path, "--accept-new-host-key")])
    capsys.readouterr()
    assert rc == 0
    again = Session.open(project, str(board_host["profile"]))
    assert again.status("boot") is Status.DONE
    assert again.step_state("boot").data["gpu"]["devices"][0]["name"] == "NVIDIA Tegra X1 (stand-in)"
