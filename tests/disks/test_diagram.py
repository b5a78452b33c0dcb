"""The recovery-mode pin diagram: fits an 80-column terminal and says what the reference says."""

from __future__ import annotations

from wizard.core.paths import asset


def test_diagram_fits_and_marks_the_3rd_and_4th_pins_from_the_right():
    text = asset("diagrams", "jetson-nano-recovery.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 76
    assert "\t" not in text
    pin_rows = [ln for ln in lines if ln.count("●") >= 4]
    assert len(pin_rows) == 1
    pins = [i for i, c in enumerate(pin_rows[0]) if c == "●"]
    jumpered = [i for i in pins if pin_rows[0][i - 1] == "["]
    assert jumpered == [pins[-4], pins[-3]]  # counted from the right: 4th and 3rd
    labels = lines[lines.index(pin_rows[0]) + 1]
    for nth, col in zip(("1st", "2nd", "3rd", "4th"), reversed(pins)):
        assert labels[col - 1:col + 2] == nth
    for fact in ("FRC", "GND", "3rd and 4th pins from the right", "under the module", "micro-USB",
                 "recovery mode", "0955"):
        assert fact in " ".join(text.split()), fact
