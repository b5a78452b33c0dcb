"""The Boot & check screen at 80x24 with two written cards: jetson-01 resolves to the tests' real sshd on
127.0.0.1, jetson-02 does not resolve. The resolver is a table: no test asks the network."""

from __future__ import annotations

import socket

import pytest
from wrnvtest import screen_lines, wait_until

from screens.app import WizardApp
from screens.boot import BootScreen
from screens.boot_cards import CardList
from screens.boot_hostkey import HostKeyScreen
from wizard.core.session import Session
from wizard.core.steps import Status

SIZE = (80, 24)


@pytest.fixture
def cards_session(board_host, tmp_path, monkeypatch):
    asked = []

    def resolve(name):
        asked.append(name)
        if name == "jetson-01.local":
            return ["127.0.0.1"]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(BootScreen, "known_hosts", tmp_path / "kh")
    monkeypatch.setattr(BootScreen, "ssh_config", "/dev/null")
    monkeypatch.setattr(BootScreen, "resolver", staticmethod(resolve))
    nss = tmp_path / "nsswitch.conf"
    nss.write_text("passwd: files\nhosts:          files mdns4_minimal [NOTFOUND=return] dns\n")
    monkeypatch.setattr(BootScreen, "nsswitch", str(nss))
    s = Session.open(tmp_path / "project", str(board_host["profile"]))
    s.mark("flash", Status.DONE, "2 cards written and verified",
           cards=[{"device": f"/dev/loop{i}", "name": f"loop{i}", "hostname": h, "error": None, "verified": True}
                  for i, h in enumerate(("jetson-01", "jetson-02"))])
    s.update_answers(board_port=board_host["port"], board_identity=str(board_host["identity"]))
    s.asked = asked
    return s


async def test_two_cards_one_found_one_not_at_80x24(cards_session, board_host, jetson, libcuda_standin):
    jetson.install_libcuda(libcuda_standin)
    app = WizardApp(cards_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        cards = screen.query_one(CardList)
        await wait_until(pilot, lambda: len(cards.lookups) == 2, 20)
        await pilot.pause()
        assert sorted(cards_session.asked) == ["jetson-01.local", "jetson-02.local"]
        text = "\n".join(screen_lines(app))
        assert "jetson-01  found at 127.0.0.1" in text
        assert "jetson-02  not found (jetson-02.local: Name or service not known)" in text
        flat = " ".join(" ".join(screen_lines(app)).split())
        assert "is it booted and on this network? mDNS needs avahi/nss-mdns on this computer: apt-get install " \
               "libnss-mdns" in flat
        assert screen.query_one("#boot-no-mdns").display is False       # this "computer" has nss-mdns
        # The image's default name is nobody's once the cards have their own.
        assert not any(c.kind == "mdns" for c in screen.query_one("#boot-candidates").candidates)

        # Enter on jetson-01 checks that board (first contact: the host-key question).
        cards.focus()
        cards.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.screen.focused is not None)
        await pilot.press("tab")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen and not screen.busy
                         and cards_session.status("boot") is not Status.RUNNING, 90)
        await pilot.pause()
        st = cards_session.step_state("boot")
        assert st.data["boards"]["jetson-01"]["ok"] is True, st.detail
        assert st.data["boards"]["jetson-01"]["address"] == "127.0.0.1"
        assert "jetson-02" not in st.data["boards"]
        assert st.status is Status.PENDING and st.detail == "passed: jetson-01; not checked yet: jetson-02"
        assert "every check passed" in str(cards.get_option_at_index(0).prompt)
        assert str(screen.query_one("#nav-status").render()) == "Passed: jetson-01; not checked yet: jetson-02."

        # jetson-02: not found, so its row asks for the address (and the check would be kept for jetson-02).
        cards.focus()
        cards.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert screen.focused is screen.query_one("#boot-host")
        assert screen.query_one("#boot-host").value == ""
        assert "jetson-02 was not found by name" in str(screen.query_one("#boot-card-note").render())
        screen.query_one("#boot-host").value = "127.0.0.1"
        await pilot.press("enter")
        # The same address as jetson-01, but another card: its key is asked about under its own name.
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.screen.focused is not None)
        assert app.screen.host_name.startswith("jetson-02 (jetson-02.local at 127.0.0.1:")
        await pilot.press("tab")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.busy and cards_session.status("boot") is not Status.RUNNING
                         and "jetson-02" in cards_session.step_state("boot").data.get("boards", {}), 90)
        await pilot.pause()
        st = cards_session.step_state("boot")
        assert st.status is Status.DONE and st.detail == "2 boards: every check passed (jetson-01, jetson-02)"
        assert screen.query_one("#nav-next").disabled is False


async def test_no_cards_no_card_rows(board_host, tmp_path, monkeypatch):
    """A project whose cards have no host names: the step looks as before, with the image's mDNS name."""
    monkeypatch.setattr(BootScreen, "resolver", staticmethod(lambda name: pytest.fail(f"looked up {name}")))
    s = Session.open(tmp_path / "project", str(board_host["profile"]))
    app = WizardApp(s, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one("#boot-candidates").candidates, 20)
        assert screen.query_one("#boot-cards-box").display is False
        assert any(c.kind == "mdns" for c in screen.query_one("#boot-candidates").candidates)


async def test_a_computer_without_nss_mdns_is_told_once(cards_session, tmp_path, monkeypatch):
    nss = tmp_path / "nsswitch-plain.conf"
    nss.write_text("hosts: files dns   # mdns4 would go here\n")
    monkeypatch.setattr(BootScreen, "nsswitch", str(nss))
    app = WizardApp(cards_session, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        cards = app.screen.query_one(CardList)
        await wait_until(pilot, lambda: len(cards.lookups) == 2, 20)
        await pilot.pause()
        note = app.screen.query_one("#boot-no-mdns")
        assert note.display is True
        flat = " ".join(" ".join(screen_lines(app)).split())
        assert "This computer does not look up .local names (no mdns on the hosts line of /etc/nsswitch.conf): " \
               "apt-get install libnss-mdns, or give each board's address." in flat
        assert "jetson-01 found at 127.0.0.1" in flat and "jetson-02 not found" in flat


async def test_check_all_found_checks_each_found_board_in_turn(board_host, jetson, libcuda_standin, tmp_path,
                                                               monkeypatch):
    """Three cards: two found (both at the tests' sshd), one not; "Check all found" checks the two, one after
    the other, each recorded under its host name; the third stays to do."""
    jetson.install_libcuda(libcuda_standin)
    table = {"jetson-01.local": ["127.0.0.1"], "jetson-03.local": ["127.0.0.1"]}

    def resolve(name):
        if name in table:
            return table[name]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(BootScreen, "known_hosts", tmp_path / "kh")
    monkeypatch.setattr(BootScreen, "ssh_config", "/dev/null")
    monkeypatch.setattr(BootScreen, "resolver", staticmethod(resolve))
    s = Session.open(tmp_path / "project", str(board_host["profile"]))
    s.mark("flash", Status.DONE, "3 cards written and verified",
           cards=[{"device": f"/dev/loop{i}", "hostname": h, "error": None}
                  for i, h in enumerate(("jetson-01", "jetson-02", "jetson-03"))])
    s.update_answers(board_port=board_host["port"], board_identity=str(board_host["identity"]))
    app = WizardApp(s, start_at="boot")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        cards = screen.query_one(CardList)
        await wait_until(pilot, lambda: len(cards.lookups) == 3, 20)
        await pilot.click("#boot-check-all")
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyScreen) and app.screen.focused is not None)
        assert app.screen.host_name == f"jetson-01 (jetson-01.local at 127.0.0.1:{board_host['port']})"
        await pilot.press("tab")
        await pilot.press("enter")
        # The next found board is asked about in turn, under its own name (same address here).
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyScreen)
                         and app.screen.host_name.startswith("jetson-03 ") and app.screen.focused is not None, 120)
        await pilot.press("tab")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.busy and set(s.step_state("boot").data.get("boards", {}))
                         == {"jetson-01", "jetson-03"} and s.status("boot") is not Status.RUNNING, 120)
        await pilot.pause()
        st = s.step_state("boot")
        assert all(st.data["boards"][n]["ok"] for n in ("jetson-01", "jetson-03"))
        assert st.status is Status.PENDING and st.detail == "passed: jetson-01, jetson-03; not checked yet: jetson-02"
        assert not screen._queue
