"""Each link of the chain, broken one at a time on the fake Jetson behind a real sshd: the right check
fails with the right hint, and the checks that depend on it are skipped."""

from __future__ import annotations

import pytest

from wizard.board.check import FAIL, PASS, SKIP, BoardChecker


def _run(client, jetson, packages=None):
    checker = BoardChecker(client, jetson.profile,
                           jetson.profile.default_packages if packages is None else packages, image="l4t-test")
    seen = []
    report = checker.run(on_check=seen.append)
    assert [c.name for c in seen] == [c.name for c in report.checks]
    return report


def _status(report) -> dict:
    return {c.name: c.status for c in report.checks}


def test_healthy_board_passes_everything(client, jetson, libcuda_standin):
    jetson.install_libcuda(libcuda_standin)
    report = _run(client, jetson)
    assert report.ok, [(c.name, c.status, c.output, c.hint) for c in report.checks]
    gpu = report.check("gpu")
    assert "NVIDIA Tegra X1 (stand-in): 3964 MiB, compute 5.3" in gpu.output
    assert gpu.command.startswith(f"ssh -p {client.target.port} root@127.0.0.1 ")
    assert "docker run --rm -i --runtime nvidia l4t-test python3 -" in gpu.command
    assert report.gpu["devices"][0]["name"] == "NVIDIA Tegra X1 (stand-in)"
    assert "Runtimes: nvidia runc" in report.check("nvidia_runtime").output
    assert report.to_json()["ok"] is True


def test_no_libcuda_in_container_real_probe_says_no_driver(client, jetson):
    report = _run(client, jetson)
    st = _status(report)
    assert st["gpu"] == FAIL and all(v == PASS for k, v in st.items() if k != "gpu")
    gpu = report.check("gpu")
    assert report.gpu["error"] == "no CUDA driver"
    assert "libcuda was not mounted" in gpu.hint and "container-csv" in gpu.hint


def test_runtime_missing_from_image(client, jetson):
    jetson.scenario(runtimes=["runc"])
    jetson.path("daemon_json").unlink()
    report = _run(client, jetson)
    st = _status(report)
    assert st["daemon_json"] == FAIL and st["nvidia_runtime"] == FAIL and st["gpu"] == SKIP
    hint = report.check("nvidia_runtime").hint
    assert hint.startswith("runtimes: runc only -> nvidia-container-runtime is not in the image")
    assert "local.conf" in hint and "nvidia-docker" in hint
    assert "nvidia-docker" in report.check("daemon_json").hint
    assert not report.ok


def test_daemon_not_restarted_after_daemon_json(client, jetson):
    jetson.scenario(runtimes=["runc"])
    report = _run(client, jetson)
    assert _status(report)["daemon_json"] == PASS
    assert "restart docker" in report.check("nvidia_runtime").hint


def test_docker_daemon_down(client, jetson):
    jetson.scenario(docker="down")
    report = _run(client, jetson)
    st = _status(report)
    assert st["docker"] == FAIL and st["nvidia_runtime"] == SKIP and st["gpu"] == SKIP
    assert "systemctl start docker" in report.check("docker").hint
    assert "Cannot connect to the Docker daemon" in report.check("docker").output


def test_docker_not_in_image(client, jetson):
    jetson.scenario(docker="missing")
    report = _run(client, jetson)
    assert "docker is not in the image" in report.check("docker").hint


def test_broken_daemon_json(client, jetson):
    jetson.path("daemon_json").write_text('{"runtimes": {"nvidia": ')
    report = _run(client, jetson)
    assert "not valid JSON" in report.check("daemon_json").hint


def test_runtime_config_missing(client, jetson):
    jetson.path("runtime_config").unlink()
    c = _run(client, jetson).check("runtime_config")
    assert c.status == FAIL and "nvidia-container-toolkit" in c.hint


def test_ldconfig_missing(client, jetson):
    (jetson.root / "sbin" / "ldconfig").unlink()
    c = _run(client, jetson).check("runtime_config")
    assert c.status == FAIL and 'DISTRO_FEATURES_append = " ldconfig"' in c.hint


def test_csv_for_chosen_package_missing(client, jetson):
    (jetson.path("csv_dir") / "cudnn.csv").unlink()
    c = _run(client, jetson).check("csv_files")
    assert c.status == FAIL and "cudnn.csv" in c.hint and "cudnn-container-csv" in c.hint
    # Without cuDNN chosen the same board is fine for this check.
    assert _run(client, jetson, packages=["libvisionworks"]).check("csv_files").status == PASS


def test_csv_always_missing(client, jetson):
    (jetson.path("csv_dir") / "cuda-core.csv").unlink()
    c = _run(client, jetson).check("csv_files")
    assert c.status == FAIL and "cuda-core.csv" in c.hint and "cuda-container-csv" in c.hint


def test_csv_folder_missing(client, jetson):
    import shutil

    shutil.rmtree(jetson.path("csv_dir"))
    c = _run(client, jetson).check("csv_files")
    assert c.status == FAIL and "itself is missing" in c.hint


def test_board_offline_cannot_pull(client, jetson):
    jetson.scenario(pull="offline")
    c = _run(client, jetson).check("gpu")
    assert c.status == FAIL and "needs internet" in c.hint and "dial tcp" in c.output


def test_gpu_nodes_missing(client, jetson, libcuda_standin):
    jetson.install_libcuda(libcuda_standin)
    jetson.scenario(cuda_fail=100)
    c = _run(client, jetson).check("gpu")
    assert c.status == FAIL and "cuInit failed (CUDA_ERROR_NO_DEVICE)" in c.hint


def test_unreachable_board_skips_the_rest(tmp_path, jetson):
    import socket

    from wizard.board.ssh import SshClient, SshTarget

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with SshClient(SshTarget("127.0.0.1", "root", port), known_hosts=tmp_path / "kh", connect_timeout=2,
                   config_file="/dev/null") as c:
        report = _run(c, jetson)
    st = _status(report)
    assert st["reachable"] == FAIL and all(v == SKIP for k, v in st.items() if k != "reachable")
    assert "debug UART (115200 8N1)" in report.check("reachable").hint
    assert report.check("login").hint == "needs: board reachable on the network"


def test_refused_login_hint(board_host, tmp_path, jetson):
    import subprocess

    from wizard.board.ssh import SshClient, SshTarget

    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with SshClient(SshTarget("127.0.0.1", "root", board_host["port"]), identity=str(stranger),
                   known_hosts=tmp_path / "kh", connect_timeout=5, config_file="/dev/null") as c:
        c.ensure_trusted(lambda k: True)
        login = _run(c, jetson).check("login")
    assert login.status == FAIL and "refused the login as root" in login.hint and "ssh-copy-id" in login.hint


@pytest.mark.parametrize("text,lines", [("a\nb\nc", 3), ("\n".join(str(i) for i in range(40)), 15)])
def test_excerpt_keeps_the_tail(text, lines):
    from wizard.board.check import excerpt

    out = excerpt(text)
    assert out.splitlines()[-1] == text.splitlines()[-1] and len(out.splitlines()) == lines
