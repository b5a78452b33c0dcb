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
