"""Progress in words: the full line for the CLI and steps, and the compact one that keeps each card's progress
on one row at 80 columns (Write the card with several cards)."""

from __future__ import annotations

from dataclasses import dataclass

from wizard.core.progress import Progress


@dataclass
class _Fixed(Progress):
    seconds: float = 10.0

    @property
    def elapsed(self) -> float:     # a fixed clock: the rate does not depend on how fast the test runs
        return self.seconds


def _at(done: int, total: int | None, seconds: float, label: str = "Writing") -> Progress:
    return _Fixed(done, total, label=label, seconds=seconds)


def test_compact_says_the_same_in_fewer_columns():
    p = _at(2_900_000_000, 4_200_000_000, 10.0)
    full, short = p.line(), p.compact()
    assert full.startswith("Writing: 2.9 GB of 4.2 GB (69%), 290.0 MB/s, about ")
    assert short.startswith("Writing: 2.9/4.2 GB (69%), 290.0 MB/s, ") and short.endswith(" seconds left")
    assert len("sdx → lab-01: " + short) <= 78 < len("sdx → lab-01: " + full)


def test_compact_keeps_both_units_when_they_differ_and_drops_the_eta_when_done():
    assert _at(512_000_000, 4_200_000_000, 4.0).compact().startswith("Writing: 512.0 MB/4.2 GB (12%), ")
    done = _at(4_200_000_000, 4_200_000_000, 10.0, label="Verifying").compact()
    assert done == "Verifying: 4.2/4.2 GB (100%), 420.0 MB/s"
    assert _at(1_000_000, None, 1.0, label="").compact().startswith("1.0 MB, ")
