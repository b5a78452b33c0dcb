"""Boot & check with three written cards (jetson-01..03) at 80x24 and 120x40: found / not found before any
check, a check running, every board passed, one board failed.

The lookups go through an injected resolver (no test asks the network); the neighbour table and serial ports of
the machine running the tests are left out, so that the pictures are of the screen, not of this host. Recorded
checks are given as the engine records them (data["boards"] per host name); a running check is drawn through
the screen's own drawing calls (those its worker makes)."""

from __future__ import annotations

import socket

import pytest

from screens.boot import BootScreen
from screens.boot_cards import CardList
from screens.boot_checks import ChecksView
from wizard.board.cards import BoardsOutcome
from wizard.board.check import CHECKS, FAIL, PASS, SKIP, Check
from wizard.core.steps import Status

from .test_snapshots import _session, _shot, root  # noqa: F401  (root is a fixture)

SIZES = ("80x24", "120x40")
FOUND = {"jetson-01.local": ["192.168.1.41"], "jetson-03.local": ["192.168.1.43"]}


@pytest.fixture
def cards(root, monkeypatch):  # noqa: F811
    def resolve(name):
        if name in FOUND:
            return FOUND[name]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    nss = root / "nsswitch.conf"
    nss.write_text("hosts: files mdns4_minimal [NOTFOUND=return] dns\n")
    monkeypatch.setattr(BootScreen, "resolver", staticmethod(resolve))
    monkeypatch.setattr(BootScreen, "nsswitch", str(nss))
    monkeypatch.setattr("wizard.board.find.neighbour_candidates", lambda *a, **k: [])
    monkeypatch.setattr("wizard.board.find.serial_candidates", lambda *a, **k: [])
    monkeypatch.setattr("wizard.board.find.watch_serial", lambda *a, **k: None)
    s = _session(root, "boot")
    s.mark("flash", Status.DONE, "3 cards written and verified",
           cards=[{"device": f"/dev/sd{d}", "name": f"sd{d}", "hostname": h, "error": None, "verified": True}
                  for d, h in zip("bcd", ("jetson-01", "jetson-02", "jetson-03"))])
    return s


def _checks(failed_at: str = "") -> list:
    out, failed = [], False
    for name, _title in CHECKS:
        if failed:
            out.append(Check(name, SKIP, hint="needs an earlier check"))
        elif name == failed_at:
            out.append(Check(name, FAIL, "ssh root@192.168.1.43 'docker info'", "Runtimes: runc",
                             "runtimes: runc only -> nvidia-container-runtime is not in the image: check the "
                             "packages in local.conf"))
            failed = True
        else:
            out.append(Check(name, PASS, f"({name})", "ok"))
    return out


def _board(address: str, failed_at: str = "") -> dict:
    checks = _checks(failed_at)
    ok = not failed_at
    detail = f"root@{address}: " + ("every check passed" if ok else
                                    f"{dict(CHECKS)[failed_at]} -> {checks[[c.name for c in checks].index(failed_at)].hint}")
    return {"address": address, "ok": ok, "detail": detail, "host": f"root@{address}", "gpu": {},
            "checked_at": 1_700_000_000.0, "checks": [c.to_json() for c in checks]}


async def _looked_up(pilot):
    from wrnvtest import wait_until

    screen = pilot.app.screen
    await wait_until(pilot, lambda: len(screen.query_one(CardList).lookups) == 3, 20)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_boot_cards_before(snap_compare, cards, size):
    assert _shot(snap_compare, cards, "boot", size, before=_looked_up)


@pytest.mark.parametrize("size", SIZES)
def test_boot_cards_running(snap_compare, cards, size):
    async def running(pilot):
        await _looked_up(pilot)
        screen = pilot.app.screen
        cards.mark("boot", Status.RUNNING, "checking jetson-01 at root@192.168.1.41")
        # What picking jetson-01's row sets (without starting ssh: no test leaves 127.0.0.1), then the worker.
        screen.query_one("#boot-host").value = "192.168.1.41"
        note = screen.query_one("#boot-card-note")
        note.update("Checking jetson-01 at 192.168.1.41 (jetson-01.local).")
        note.display = True
        screen.busy = "checking jetson-01 at root@192.168.1.41"
        screen.query_one("#boot-scroll").scroll_to_widget(screen.query_one("#boot-result"), top=True, animate=False)
        view = screen.query_one(ChecksView)
        for c in _checks()[:3]:
            view.show(c)
        view.running("daemon_json")

    assert _shot(snap_compare, cards, "boot", size, before=running)


@pytest.mark.parametrize("size", SIZES)
def test_boot_cards_all_passed(snap_compare, cards, size):
    boards = {"jetson-01": _board("192.168.1.41"), "jetson-02": _board("192.168.1.42"),
              "jetson-03": _board("192.168.1.43")}
    detail = BoardsOutcome(["jetson-01", "jetson-02", "jetson-03"], boards).detail()
    cards.mark("boot", Status.DONE, detail,
               boards=boards, card="jetson-03", **{k: v for k, v in boards["jetson-03"].items()
                                                   if k in ("host", "ok", "gpu", "checked_at", "checks")})
    assert _shot(snap_compare, cards, "boot", size, before=_looked_up)


@pytest.mark.parametrize("size", SIZES)
def test_boot_cards_one_failed(snap_compare, cards, size):
    boards = {"jetson-01": _board("192.168.1.41"), "jetson-03": _board("192.168.1.43", "nvidia_runtime")}
    detail = BoardsOutcome(["jetson-01", "jetson-02", "jetson-03"], boards).detail()
    cards.mark("boot", Status.FAILED, detail, boards=boards, card="jetson-03",
               **{k: v for k, v in boards["jetson-03"].items() if k in ("host", "ok", "gpu", "checked_at", "checks")})
    assert _shot(snap_compare, cards, "boot", size, before=_looked_up)
