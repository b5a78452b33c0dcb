"""Boot & check finds each written card's board by its host name (`<hostname>.local`).

No test asks the network: the resolver is injected (card names -> 127.0.0.1, where the tests' sshd runs), and
the real getaddrinfo path is only asked about `localhost` (answered from /etc/hosts) and numeric addresses."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from wizard.board import cards
from wizard.board.cards import CardBoard, card_boards, look_up, lookup_line, system_resolve
from wizard.cli import main
from wizard.core.session import Session
from wizard.core.steps import Status


def written(session, *cards_, status=Status.DONE):
    """The Write the card step's record as the engine (wizard.card.fanout.record_step) leaves it."""
    session.mark("flash", status, f"{len(cards_)} cards written and verified",
                 cards=[{"device": f"/dev/loop{i}", "name": f"loop{i}", "hostname": h, "error": err,
                         "verified": err is None, "bytes_written": 1024} for i, (h, err) in enumerate(cards_)])


def resolver(table: dict):
    """name -> addresses from a table; a name not in it fails the way getaddrinfo does."""
    asked = []

    def resolve(name):
        asked.append(name)
        if name in table:
            return list(table[name])
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolve.asked = asked
    return resolve


@pytest.fixture
def session(tmp_path):
    return Session.open(tmp_path / "project")


def test_card_boards_reads_the_written_cards_host_names(session):
    assert card_boards(session) == []
    written(session, ("jetson-01", None), ("", None), ("jetson-02", None), ("jetson-03", "I/O error"),
            ("jetson-01", None))
    got = card_boards(session)
    # The failed card never became a board, a card without a host name has nothing to look up, and the same
    # name twice is one board.
    assert [(b.hostname, b.name, b.device) for b in got] == [("jetson-01", "jetson-01.local", "/dev/loop0"),
                                                             ("jetson-02", "jetson-02.local", "/dev/loop2")]


def test_lookups_run_at_once_and_a_slow_one_is_not_waited_for():
    release = threading.Event()

    def resolve(name):
        if name == "stuck.local":
            release.wait(20)
            return ["127.0.0.1"]
        time.sleep(0.6)
        return ["127.0.0.1"] if name != "gone.local" else []

    names = ["a.local", "b.local", "c.local", "d.local", "gone.local", "stuck.local"]
    boards = [CardBoard(n.split(".")[0], n) for n in names]
    seen = []
    t0 = time.monotonic()
    try:
        out = look_up(boards, resolve, timeout=1.5, on_result=seen.append)
    finally:
        release.set()
    took = time.monotonic() - t0
    # Five lookups of 0.6 s each one after another would take 3 s; at once, well under the 1.5 s limit.
    assert took < 2.5
    assert [r.board.name for r in out] == names
    assert [r.found for r in out] == [True, True, True, True, False, False]
    assert out[4].why == "no address" and out[5].why == "no answer within 1.5 s"
    assert sorted(r.board.name for r in seen) == sorted(names)
    assert "stuck: not found (stuck.local: no answer within 1.5 s) -> is it booted and on this network? " \
           "mDNS needs avahi/nss-mdns on this computer: apt-get install libnss-mdns" == lookup_line(out[5])
    assert lookup_line(out[0]) == "a: found at 127.0.0.1 (a.local)"


def test_a_resolver_error_is_not_found_in_its_own_words():
    out = look_up([CardBoard("jetson-02", "jetson-02.local")], resolver({}), timeout=5)
    assert not out[0].found and out[0].why == "Name or service not known"


@pytest.mark.parametrize("text,want", [
    ("hosts: files mdns4_minimal [NOTFOUND=return] dns\n", True),
    ("passwd: files\nhosts:\tfiles mdns dns myhostname\n", True),
    ("hosts: files dns\n", False),
    ("# hosts: files mdns4\nhosts: files dns\n", False),
    ("passwd: files\n", False),
])
def test_mdns_configured_reads_the_hosts_line(tmp_path, text, want):
    from wizard.board.cards import mdns_configured

    (tmp_path / "nss").write_text(text)
    assert mdns_configured(str(tmp_path / "nss")) is want
    assert mdns_configured(str(tmp_path / "missing")) is None


def test_the_real_resolver_answers_localhost_from_this_host():
    """getaddrinfo itself (no network: /etc/hosts and numeric addresses)."""
    assert "127.0.0.1" in system_resolve("localhost")
    assert system_resolve("127.0.0.1") == ["127.0.0.1"]
    assert system_resolve("::1") == ["::1"]
    out = look_up([CardBoard("localhost", "localhost"), CardBoard("v6", "::1")], timeout=5)
    assert [r.address for r in out] == ["127.0.0.1", "::1"]


# -- the check-board command ------------------------------------------------------------------------------

def _args(board_host, tmp_path, project, *extra):
    return ["--profile", str(board_host["profile"]), "--project", str(project), "check-board", "--all-cards",
            "--port", str(board_host["port"]), "--identity", str(board_host["identity"]),
            "--known-hosts", str(tmp_path / "kh"), "--image", "l4t-test", "--timeout", "5", *extra]


@pytest.fixture
def project(board_host, tmp_path):
    s = Session.open(tmp_path / "project", str(board_host["profile"]))
    written(s, ("jetson-01", None), ("jetson-02", None))
    return tmp_path / "project"


def test_all_cards_one_found_one_not_exit_1(board_host, jetson, libcuda_standin, project, tmp_path, capsys,
                                            monkeypatch):
    jetson.install_libcuda(libcuda_standin)
    res = resolver({"jetson-01.local": ["127.0.0.1"]})
    monkeypatch.setattr(cards, "system_resolve", res)
    rc = main(_args(board_host, tmp_path, project, "--accept-new-host-key"))
    out = capsys.readouterr().out
    assert rc == 1
    assert sorted(res.asked) == ["jetson-01.local", "jetson-02.local"]
    assert "jetson-01: found at 127.0.0.1 (jetson-01.local)" in out
    assert "jetson-02: not found (jetson-02.local: Name or service not known) -> is it booted" in out
    assert "[PASS] GPU visible inside a container" in out
    assert "1 of 2 boards passed every check; to fix: jetson-02" in out
    s = Session.open(project, str(board_host["profile"]))
    st = s.step_state("boot")
    # The found board is recorded under its host name; the other is still to check, so the step is not done.
    assert st.status is Status.PENDING and st.detail == "passed: jetson-01; not checked yet: jetson-02"
    assert st.data["boards"]["jetson-01"]["ok"] is True
    assert st.data["boards"]["jetson-01"]["address"] == "127.0.0.1"
    assert "jetson-02" not in st.data["boards"]


def test_all_cards_every_board_passes_exit_0(board_host, jetson, libcuda_standin, project, tmp_path, capsys,
                                             monkeypatch):
    jetson.install_libcuda(libcuda_standin)
    monkeypatch.setattr(cards, "system_resolve", resolver({"jetson-01.local": ["127.0.0.1"],
                                                           "jetson-02.local": ["127.0.0.1"]}))
    rc = main(_args(board_host, tmp_path, project, "--accept-new-host-key", "--json"))
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["ok"] is True
    assert [(b["hostname"], b["address"], b["ok"]) for b in doc["boards"]] == [
        ("jetson-01", "127.0.0.1", True), ("jetson-02", "127.0.0.1", True)]
    st = Session.open(project, str(board_host["profile"])).step_state("boot")
    assert st.status is Status.DONE and st.detail == "2 boards: every check passed (jetson-01, jetson-02)"
    assert set(st.data["boards"]) == {"jetson-01", "jetson-02"}
    # Both boards answered at one address; each key is kept under its card's name, none under the address.
    names = {line.split()[0] for line in (tmp_path / "kh").read_text().splitlines() if line.strip()}
    assert names == {"jetson-01.local", "jetson-02.local"}, names


def test_all_cards_a_failing_board_fails_the_step(board_host, jetson, project, tmp_path, capsys, monkeypatch):
    """No stand-in CUDA driver: every board reaches the GPU check and fails it."""
    monkeypatch.setattr(cards, "system_resolve", resolver({"jetson-01.local": ["127.0.0.1"],
                                                           "jetson-02.local": ["127.0.0.1"]}))
    rc = main(_args(board_host, tmp_path, project, "--accept-new-host-key"))
    assert rc == 1
    st = Session.open(project, str(board_host["profile"])).step_state("boot")
    assert st.status is Status.FAILED and st.detail.startswith("2 of 2 failed: jetson-01, jetson-02 (GPU visible")


def test_one_address_for_a_named_card(board_host, jetson, libcuda_standin, project, tmp_path, capsys):
    """mDNS does not work here: the user names the card whose board is at this address."""
    jetson.install_libcuda(libcuda_standin)
    args = _args(board_host, tmp_path, project, "--accept-new-host-key")
    args[args.index("--all-cards")] = "127.0.0.1"
    assert main([*args, "--card", "jetson-02"]) == 0
    st = Session.open(project, str(board_host["profile"])).step_state("boot")
    assert st.status is Status.PENDING and st.detail == "passed: jetson-02; not checked yet: jetson-01"
    assert "Trusting jetson-02.local at 127.0.0.1:" in capsys.readouterr().err
    assert (tmp_path / "kh").read_text().startswith("jetson-02.local ")


@pytest.mark.parametrize("extra,words", [
    (["127.0.0.1"], "leave out HOST"),
    (["--card", "jetson-01"], "leave out HOST and --card"),
])
def test_all_cards_usage_errors(board_host, project, tmp_path, capsys, extra, words):
    assert main([*_args(board_host, tmp_path, project), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_all_cards_needs_cards_with_host_names(board_host, tmp_path, capsys, monkeypatch):
    Session.open(tmp_path / "bare", str(board_host["profile"])).save()
    res = resolver({})
    monkeypatch.setattr(cards, "system_resolve", res)
    assert main(_args(board_host, tmp_path, tmp_path / "bare")) == 2
    err = capsys.readouterr().err
    assert "no card written in this project has a host name" in err and "--hostname" in err
    assert res.asked == []
    # Without a project at all.
    assert main(_args(board_host, tmp_path, tmp_path / "nothing-here")) == 2
    assert "--all-cards reads the cards written in a project" in capsys.readouterr().err


def test_no_host_and_no_all_cards_is_a_usage_error(board_host, tmp_path, capsys):
    assert main(["--profile", str(board_host["profile"]), "check-board"]) == 2
    assert "--all-cards" in capsys.readouterr().err


def test_card_must_be_a_host_name(board_host, project, tmp_path, capsys):
    args = _args(board_host, tmp_path, project)
    args[args.index("--all-cards")] = "127.0.0.1"
    assert main([*args, "--card", "jetson 02"]) == 2
    err = capsys.readouterr().err
    assert "--card" in err and "not a host name" in err


def test_plain_mode_checks_each_card_found_by_name(board_host, jetson, libcuda_standin, project, tmp_path,
                                                  monkeypatch):
    """`--plain --answers`: the found card's board is checked and kept under its host name; the other one is
    said to be not found and not checked, so the step does not pass."""
    from wizard.plain import PlainRun

    jetson.install_libcuda(libcuda_standin)
    monkeypatch.setattr(cards, "system_resolve", resolver({"jetson-02.local": ["127.0.0.1"]}))
    s = Session.open(project, str(board_host["profile"]))
    s.update_answers(board_port=board_host["port"], board_identity=str(board_host["identity"]))
    lines = []
    run = PlainRun(s, ask=False, out=lines.append, extra_args={"check-board": [
        "--accept-new-host-key", "--known-hosts", str(tmp_path / "kh"), "--image", "l4t-test", "--timeout", "5"]})
    assert run.step_boot() is False
    text = "\n".join(lines)
    assert "jetson-01: not found (jetson-01.local: Name or service not known) -> is it booted" in text
    assert "jetson-02: found at 127.0.0.1 (jetson-02.local)" in text
    assert "jetson-01: not checked." in text
    ran = [ln for ln in lines if ln.startswith("$ wrnv-wizard check-board")]
    assert len(ran) == 1 and " 127.0.0.1 --card jetson-02 " in ran[0]
    st = Session.open(project, str(board_host["profile"])).step_state("boot")
    assert st.data["boards"]["jetson-02"]["ok"] is True
    assert st.status is Status.PENDING and st.detail == "passed: jetson-02; not checked yet: jetson-01"
