"""The summary's card section from the Write the card step's record: one card as before, several cards (a
multi-card write) one line each, with device, host name, bytes, verified and error, in the screen's lines and
in the Markdown export."""

from __future__ import annotations

from wizard.core.session import Session
from wizard.core.summary import build_summary, to_markdown

CARDS = [
    {"device": "/dev/sdb", "name": "sdb", "hostname": "jetson-01", "bytes_written": 3_000_000,
     "verified": True, "verified_bytes": 3_000_000, "error": None},
    {"device": "/dev/sdc", "name": "sdc", "hostname": "jetson-02", "bytes_written": 1_000_000,
     "verified": False, "verified_bytes": 0, "error": "I/O error at byte 1,048,576: the card was pulled out?"},
    {"device": "/dev/sdd", "name": "sdd", "hostname": None, "bytes_written": 3_000_000,
     "verified": False, "verified_bytes": 0, "error": None},
]


def _session(tmp_path, **data):
    s = Session.open(tmp_path / "project")
    with s.step_run("flash") as run:
        run.fail("1 of 3 cards written and verified; failed: sdc", **data)
    return s


def test_several_cards_each_on_its_line(tmp_path):
    s = _session(tmp_path, image="/p/img.sdcard", image_size=3_000_000, target="/dev/sdb, /dev/sdc, /dev/sdd",
                 written=7_000_000, cards=CARDS)
    lines = build_summary(s).card
    assert lines[0] == ("Cards", "1 of 3 written and verified")
    assert ("Image", "/p/img.sdcard") in lines
    d = dict(lines)
    assert d["Card 1 (/dev/sdb)"] == "host name jetson-01, 3.0 MB written, 3.0 MB read back and compared"
    assert d["Card 2 (/dev/sdc)"] == ("host name jetson-02, 1.0 MB written, FAILED: I/O error at byte 1,048,576: "
                                      "the card was pulled out?")
    assert d["Card 3 (/dev/sdd)"] == "3.0 MB written, not read back"
    md = to_markdown(build_summary(s))
    section = md.split("## The SD card\n")[1].split("## The board")[0]
    assert "- **Cards:** 1 of 3 written and verified" in section
    assert "- **Card 2 (/dev/sdc):** host name jetson-02, 1.0 MB written, FAILED: " in section
    assert "Written to" not in section          # not the one-card lines with a joined device list


def test_one_card_keeps_the_one_card_lines_and_its_host_name(tmp_path):
    s = _session(tmp_path, target="/dev/sdb", image="/p/img.sdcard", written=3_000_000, image_size=3_000_000,
                 verified=3_000_000, cards=CARDS[:1])
    d = dict(build_summary(s).card)
    assert d["Written to"] == "/dev/sdb" and d["Host name"] == "jetson-01"
    assert d["Checked"].startswith("3.0 MB read back") and "Cards" not in d
