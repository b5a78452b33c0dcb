"""The boards of the cards written in this project, found by the host name each card was given.

Write the card can give every card its own host name (`flash --hostname jetson-{n:02}`); the image's avahi
then announces `<hostname>.local` once the board boots. Boot & check looks each name up with getaddrinfo: that
is the host's own resolver, so `.local` names resolve exactly when this computer can reach them by name
(nss-mdns through avahi), and what we find is what `ssh jetson-01.local` would reach. Nothing is scanned: one
lookup per card, each in its own thread with a short limit (a missing board makes nss-mdns wait seconds; ten
cards must not wait ten times that).

The resolver is a plain function (name -> addresses) so that tests never ask the network.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from wizard.core.profile import Profile

LOOKUP_TIMEOUT = 3.0
NOT_FOUND_FIX = ("is it booted and on this network? mDNS needs avahi/nss-mdns on this computer: "
                 "apt-get install libnss-mdns")
NO_MDNS_HERE = ("This computer does not look up .local names (no mdns on the hosts line of /etc/nsswitch.conf): "
                "apt-get install libnss-mdns, or give each board's address.")

Resolver = Callable[[str], list]


@dataclass(frozen=True)
class CardBoard:
    """One written card, by the host name it was given: the board it becomes."""

    hostname: str
    name: str            # what to look up: the profile's mDNS name for that host name (jetson-01.local)
    device: str = ""     # where the card was written (for the user to tell them apart)


@dataclass(frozen=True)
class Lookup:
    board: CardBoard
    addresses: tuple = ()
    why: str = ""        # when nothing was found: what the resolver said
    seconds: float = 0.0

    @property
    def found(self) -> bool:
        return bool(self.addresses)

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""


def mdns_name(profile: Profile, hostname: str) -> str:
    """The name a board with this host name announces (the profile's pattern: `{machine}.local`)."""
    return profile.board.get("mdns_name", "{machine}.local").format(machine=hostname)


def card_boards(session) -> list:
    """The cards written in this project that have a host name, in the order they were written.

    Read from the Write the card step's record (each card with its host name and error): a card whose write
    failed never became a board and is left out; the same host name twice (a card written again) is one board."""
    data = session.step_state("flash").data
    out, seen = [], set()
    for card in data.get("cards") or []:
        if not isinstance(card, dict):
            continue
        name = str(card.get("hostname") or "").strip()
        if not name or card.get("error") or name in seen:
            continue
        seen.add(name)
        out.append(CardBoard(name, mdns_name(session.profile, name), str(card.get("device") or "")))
    return out


def system_resolve(name: str) -> list:
    """The host's resolver (nsswitch: /etc/hosts, nss-mdns for .local, DNS): the addresses, IPv4 first
    (an IPv6 link-local address needs an interface name that ssh users rarely type)."""
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    v4 = [i[4][0] for i in infos if i[0] == socket.AF_INET]
    v6 = [i[4][0] for i in infos if i[0] == socket.AF_INET6]
    out: list = []
    for a in v4 + v6:
        if a not in out:
            out.append(a)
    return out


def mdns_configured(nsswitch: str = "/etc/nsswitch.conf") -> Optional[bool]:
    """Whether this computer's resolver asks mDNS for .local names (an `mdns*` source on the `hosts:` line,
    which libnss-mdns adds); None when that cannot be told (no such file: another C library, a container)."""
    try:
        text = open(nsswitch, encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("hosts:"):
            return any(src.startswith("mdns") for src in line[len("hosts:"):].split())
    return False


def _why(e: BaseException) -> str:
    if isinstance(e, socket.gaierror):
        return e.strerror or str(e)
    return str(e) or type(e).__name__


def look_up(boards: Iterable[CardBoard], resolve: Optional[Resolver] = None, timeout: float = LOOKUP_TIMEOUT,
            on_result: Optional[Callable[[Lookup], None]] = None) -> list:
    """Look every board's name up at once; returns one Lookup per board, in the boards' order, within about
    `timeout` seconds. `on_result` sees each as it comes (the screen fills its rows as answers arrive).

    getaddrinfo cannot be interrupted, so each lookup runs in a daemon thread and a late one is simply not
    waited for (it ends on its own; its answer is dropped)."""
    resolve = resolve or system_resolve
    boards = list(boards)
    results: dict = {}
    lock = threading.Lock()
    done = threading.Condition(lock)

    def one(i: int, board: CardBoard) -> None:
        t0 = time.monotonic()
        try:
            addrs = tuple(str(a) for a in (resolve(board.name) or ()))
            r = Lookup(board, addrs, "" if addrs else "no address", time.monotonic() - t0)
        except Exception as e:   # any resolver failure is "not found", said in its own words
            r = Lookup(board, (), _why(e), time.monotonic() - t0)
        with lock:
            if i in results:          # already given up on
                return
            results[i] = r
            done.notify_all()
        if on_result:
            on_result(r)

    for i, b in enumerate(boards):
        threading.Thread(target=one, args=(i, b), name=f"lookup-{b.name}", daemon=True).start()
    end = time.monotonic() + timeout
    late = []
    with lock:
        while len(results) < len(boards):
            left = end - time.monotonic()
            if left <= 0:
                break
            done.wait(left)
        for i, b in enumerate(boards):
            if i not in results:
                results[i] = Lookup(b, (), f"no answer within {timeout:g} s", timeout)
                late.append(results[i])
    for r in late:
        if on_result:
            on_result(r)
    return [results[i] for i in range(len(boards))]


def lookup_line(r: Lookup) -> str:
    """One line for a list: `jetson-01: found at 192.168.1.7 (jetson-01.local)` / `...: not found (why) -> fix`."""
    if r.found:
        return f"{r.board.hostname}: found at {r.address} ({r.board.name})"
    return f"{r.board.hostname}: not found ({r.board.name}: {r.why}) -> {NOT_FOUND_FIX}"


@dataclass
class BoardsOutcome:
    """The Boot & check step over several boards: each card's last check, by host name."""

    expected: list                       # host names of the cards written
    boards: dict = field(default_factory=dict)   # host name -> recorded check (ok, detail, address, ...)

    @property
    def passed(self) -> list:
        return [n for n in self.expected if (self.boards.get(n) or {}).get("ok")]

    @property
    def failed(self) -> list:
        return [n for n in self.expected if n in self.boards and not self.boards[n].get("ok")]

    @property
    def unchecked(self) -> list:
        return [n for n in self.expected if n not in self.boards]

    def detail(self) -> str:
        n = len(self.expected)
        if not self.failed and not self.unchecked:
            return f"{n} boards: every check passed ({', '.join(self.expected)})" if n > 1 else \
                f"{self.expected[0]}: every check passed"
        parts = []
        if self.failed:
            first = self.failed[0]
            # The first failed check's title only: its fix is on the card's row and in the checks table.
            what = (self.boards[first].get("detail") or "").split(": ", 1)[-1].split(" -> ", 1)[0]
            parts.append(f"{len(self.failed)} of {n} failed: {', '.join(self.failed)} ({what})")
        if self.passed:
            parts.append(f"passed: {', '.join(self.passed)}")
        if self.unchecked:
            parts.append(f"not checked yet: {', '.join(self.unchecked)}")
        return "; ".join(parts)


def recorded_boards(session) -> dict:
    """host name -> that board's last check, as the Boot & check step recorded it."""
    boards = session.step_state("boot").data.get("boards")
    return dict(boards) if isinstance(boards, dict) else {}
