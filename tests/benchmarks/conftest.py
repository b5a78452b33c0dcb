"""Benchmarks (bench_*.py) run only when asked for by path: `pytest tests/benchmarks -s`.

They print ratios against the tools people use instead, measured in the same run; the default test run
never collects them (they take minutes and need a quiet machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _asked_for(config) -> bool:
    for arg in config.args:
        p = Path(str(arg).split("::")[0]).resolve()
        if p == HERE or HERE in p.parents:
            return True
    return False


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and _asked_for(parent.config):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
