"""Fixtures of the flash area (root, loop devices); the helpers live in flashkit.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from flashkit import Loops, _need_root  # noqa: E402


@pytest.fixture
def root():
    _need_root()


@pytest.fixture
def loops(root):
    lp = Loops()
    try:
        yield lp
    finally:
        lp.cleanup()


@pytest.fixture(scope="module")
def desktop_stack():
    """The real dbus-daemon --system, systemd-udevd, polkitd and udisksd for the tests of one module, stopped by
    pid after it: a running udevd probes every device a later test closes after writing (extra reads, a
    different view of filesystems in wizard.card.disks), so no other test may run beside it."""
    import os

    import daemons

    if os.geteuid() != 0:
        pytest.skip("needs root (starts the system bus, udevd, polkitd, udisksd)")
    gone = daemons.missing()
    if gone:
        pytest.skip(f"needs {gone} (apt-get install dbus udev policykit-1 udisks2)")
    stack = daemons.Stack()
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
