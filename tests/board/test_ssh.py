"""The ssh wrapper against a real sshd: first contact, trust, changed keys, refusals."""

from __future__ import annotations

import subprocess

import pytest

from wizard.board.ssh import HostKeyChanged, HostKeyUnknown, SshClient, SshTarget
from wizard.core.errors import WizardError


def _client(board_host, known_hosts, identity=None, alias=""):
    # Each test's own connection: no shared master between tests (multiplex off).
    return SshClient(SshTarget("127.0.0.1", "root", board_host["port"], alias=alias),
                     identity=str(identity or board_host["identity"]), known_hosts=known_hosts,
                     connect_timeout=5, config_file="/dev/null", multiplex=False)


def _fingerprint(board_host) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{board_host['host_key']}.pub"], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[1]


def test_first_contact_shows_fingerprint_and_refuses_without_yes(board_host, tmp_path):
    kh = tmp_path / "kh"
    c = _client(board_host, kh)
    assert not c.is_known()
    seen = []
    with pytest.raises(HostKeyUnknown) as e:
        c.ensure_trusted(lambda keys: seen.append(keys) or False)
    fp = _fingerprint(board_host)
    assert seen and any(fp in f for f in seen[0].fingerprints)
    assert fp in str(e.value) and "--accept-new-host-key" in str(e.value) and "\n" not in str(e.value)
    assert not kh.exists()
    # Never silently accepted: a plain run without trust is refused by ssh itself.
    r = c.run("true")
    assert r.returncode == 255 and "Host key verification failed" in r.stderr


def test_trust_then_login(board_host, tmp_path):
    kh = tmp_path / "cfg" / "kh"
    c = _client(board_host, kh)
    c.ensure_trusted(lambda keys: True)
    assert c.is_known() and (kh.stat().st_mode & 0o777) == 0o600
    assert f"[127.0.0.1]:{board_host['port']}" in kh.read_text()
    r = c.run("id -un")
    assert r.ok and r.stdout.strip() == "root"
    assert "BatchMode=yes" in r.argv and "StrictHostKeyChecking=yes" in r.argv
    # stdin goes through (the probe travels this way)
    r = c.run("cat", stdin=b"hello board\n")
    assert r.stdout == "hello board\n"


def test_changed_host_key_is_refused_then_forgotten(board_host, tmp_path):
    kh = tmp_path / "kh"
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh.write_text(f"[127.0.0.1]:{board_host['port']} {other.with_suffix('.pub').read_text()}")
    c = _client(board_host, kh)
    assert c.is_known()
    with pytest.raises(HostKeyChanged) as e:
        c.run("true")
    assert "ssh-keygen -R" in str(e.value)
    c.forget()
    assert not c.is_known()
    c.ensure_trusted(lambda keys: True)
    assert c.run("true").ok


def test_a_cards_key_is_kept_under_its_name_not_its_address(board_host, tmp_path):
    """Two boards met at the same address one after the other (DHCP gave jetson-02 the address jetson-01 had):
    each key is its name's, so the second is a first contact, not a "changed key" scare; and a key that
    really changed under the same name is refused and named for `ssh-keygen -R`."""
    kh = tmp_path / "kh"
    one = _client(board_host, kh, alias="jetson-01.local")
    assert one.target.shown == f"jetson-01.local at 127.0.0.1:{board_host['port']}"
    one.ensure_trusted(lambda keys: True)
    lines = kh.read_text().splitlines()
    assert lines and all(line.startswith("jetson-01.local ") for line in lines), lines
    assert one.run("true").ok
    assert "HostKeyAlias=jetson-01.local" in one.argv("true")
    # The address itself was never trusted, and the next card at that address is asked about.
    assert not _client(board_host, kh).is_known()
    two = _client(board_host, kh, alias="jetson-02.local")
    asked = []
    with pytest.raises(HostKeyUnknown) as e:
        two.ensure_trusted(lambda keys: asked.append(keys) or False)
    assert asked and "jetson-02.local at 127.0.0.1" in str(e.value)
    # jetson-01 re-flashed (new key, same name): refused by ssh, and the fix names the card.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh.write_text(f"jetson-01.local {other.with_suffix('.pub').read_text()}")
    with pytest.raises(HostKeyChanged) as e:
        one.run("true")
    assert "ssh-keygen -R 'jetson-01.local'" in str(e.value)
    one.forget()
    assert not one.is_known()


def test_unknown_key_login_is_refused(board_host, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    c = _client(board_host, tmp_path / "kh", identity=stranger)
    c.ensure_trusted(lambda keys: True)
    r = c.run("true")
    assert r.returncode == 255 and "Permission denied" in r.stderr


@pytest.mark.parametrize("host", ["", "-oProxyCommand=touch /tmp/x", "a b"])
def test_bad_host_is_one_line_error(host):
    with pytest.raises(WizardError):
        SshTarget(host)


def test_missing_identity_is_one_line_error(tmp_path):
    with pytest.raises(WizardError, match="does not exist"):
        SshClient(SshTarget("127.0.0.1"), identity=str(tmp_path / "nope"), known_hosts=tmp_path / "kh")


def test_nobody_listening_scan_fails_cleanly(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = SshClient(SshTarget("127.0.0.1", "root", port), known_hosts=tmp_path / "kh", connect_timeout=2,
                  config_file="/dev/null")
    with pytest.raises(WizardError, match="could not read the host key"):
        c.ensure_trusted(lambda keys: True)


def test_typed_secret_goes_through_askpass(board_host, tmp_path):
    """The password path (SSH_ASKPASS, BatchMode off), proven with a key passphrase on the real sshd."""
    c = SshClient(SshTarget("127.0.0.1", "root", board_host["port"]), identity=str(board_host["locked_identity"]),
                  known_hosts=tmp_path / "kh", connect_timeout=5, config_file="/dev/null", multiplex=False,
                  password=board_host["passphrase"])
    c.ensure_trusted(lambda keys: True)
    r = c.run("id -un")
    assert r.ok and r.stdout.strip() == "root", r.stderr
    assert "BatchMode=no" in r.argv and board_host["passphrase"] not in " ".join(r.argv)
    # Wrong secret: refused, and no prompt hangs (one attempt, askpass forced).
    c.password = "wrong"
    r = c.run("true", timeout=10)
    assert r.returncode == 255 and not r.timed_out
    # Without any secret BatchMode stays on: no hidden prompt.
    c.password = ""
    r = c.run("true", timeout=10)
    assert r.returncode == 255 and "BatchMode=yes" in r.argv
