"""Benchmarks (bench_*.py) run only when asked for by path: `pytest tests/benchmarks -s`.

They print ratios against the tools people use instead, measured in the same run; the default test run
never collects them (they take minutes and need a quiet machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _asked_for(config, file_path: Path) -> bool:
    """The benchmarks folder itself was given; a file given by name is collected by pytest itself."""
    args = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    if file_path.resolve() in args:
        return False
    return any(a == HERE for a in args)


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and _asked_for(parent.config, file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
