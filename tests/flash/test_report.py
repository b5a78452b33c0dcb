"""The flashing session report: JSON round trip against its schema, Markdown for people, bad files refused."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from wizard.card.report import REPORT_SCHEMA, CardRecord, ReportError, SessionReport


def _session() -> SessionReport:
    s = SessionReport(image="/build/deploy/wrlinux-image-glibc-std.sdcard", started="2026-12-01T00:00:00+00:00")
    s.add(CardRecord(device="/dev/sdb", model="SanDisk Ultra", serial="AA01", size_bytes=31_914_983_424,
                     hostname="jetson-01", bytes_written=15_840_000_000, verified=True,
                     verified_how="read back 15.8 GB and compared; read back with debugfs: /etc/hostname",
                     seconds=612.4))
    s.add(CardRecord(device="/dev/sdc", model="Generic | Reader\nslot 2", serial="", size_bytes=16_000_000_000,
                     hostname="jetson-02", bytes_written=4_000_000_000, verified=False, seconds=101.0,
                     error="the card stopped answering (I/O error at 4.0 GB); try another card"))
    s.finished = "2026-12-01T00:10:30+00:00"
    return s


def test_json_round_trip_matches_schema(tmp_path):
    s = _session()
    path = s.write_json(tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, REPORT_SCHEMA)
    assert data["totals"] == {"cards": 2, "ok": 1, "failed": 1, "bytes_written": 19_840_000_000,
                              "wall_seconds": 630.0}
    back = SessionReport.read_json(path)
    assert back == s
    assert back.to_dict() == data
    assert os.listdir(tmp_path / "out") == ["report.json"]  # atomic write leaves no temp file
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_exit_rule_every_card_ok():
    s = _session()
    assert not s.all_ok
    s.cards[1].error, s.cards[1].verified = None, True
    assert s.all_ok
    assert not SessionReport(image="x").all_ok  # nothing written is not success


def test_unverified_card_without_error_is_not_ok():
    c = CardRecord(device="/dev/sdd", bytes_written=10)
    assert not c.ok


def test_markdown_names_each_card_and_keeps_the_table_whole():
    md = _session().to_markdown()
    lines = md.splitlines()
    assert lines[0] == "# Flashing session: wrlinux-image-glibc-std.sdcard"
    assert "Cards: 2, written and verified: 1, failed: 1" in md and "10 minutes and 30 seconds" in md
    rows = [ln for ln in lines if ln.startswith("| 1 ") or ln.startswith("| 2 ")]
    assert len(rows) == 2
    assert "| /dev/sdb | SanDisk Ultra | AA01 | 31.9 GB | jetson-01 | 15.8 GB | yes: read back" in rows[0]
    assert rows[0].endswith("| 612.4 s | ok |")
    assert "Generic \\| Reader slot 2" in rows[1] and "FAILED: the card stopped answering" in rows[1]
    header_cells = lines[lines.index(rows[0]) - 2].count(" | ")
    assert all(r.replace("\\|", "").count(" | ") == header_cells for r in rows)


def test_markdown_written_atomically(tmp_path):
    p = _session().write_markdown(tmp_path / "report.md")
    assert p.read_text() == _session().to_markdown()


def test_empty_session_renders():
    md = SessionReport(image="a.sdcard", started="2026-12-01T00:00:00+00:00",
                       finished="2026-12-01T00:00:00+00:00").to_markdown()
    assert "no card was written" in md and "Cards: 0" in md


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('{"format": "something else"}', "not a flash session report"),
    ('{"format": "wrnv-wizard flash session report", "version": 99}', "version 99"),
    ('{"format": "wrnv-wizard flash session report", "version": 1, "cards": [{"model": "x"}]}', "no device"),
    ('{"format": "wrnv-wizard flash session report", "version": 1, "cards": [{"device": "/dev/sdb", "x": 1}]}',
     "unknown field 'x'"),
])
def test_bad_report_file_is_one_line(tmp_path, content, match):
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(ReportError, match=match) as e:
        SessionReport.read_json(p)
    assert "\n" not in str(e.value)


def test_missing_report_file(tmp_path):
    with pytest.raises(ReportError, match="cannot read"):
        SessionReport.read_json(tmp_path / "none.json")


def test_schema_rejects_a_broken_record():
    data = _session().to_dict()
    del data["cards"][0]["serial"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, REPORT_SCHEMA)
