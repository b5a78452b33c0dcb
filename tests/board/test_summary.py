"""The summary from a saved session, and its Markdown export (atomic, re-readable)."""

from __future__ import annotations

import os

from wizard.board.check import PASS, BoardReport, Check, record_report
from wizard.core.steps import Status
from wizard.core.summary import build_summary, export_markdown, to_markdown, took


def _journey(session):
    st = session.state.steps
    session.mark("welcome", Status.DONE)
    session.mark("build", Status.DONE, "bitbake wrlinux-image-glibc-std succeeded")
    st["build"].started, st["build"].finished = 1000.0, 1000.0 + 2 * 3600 + 13 * 60
    # the write step's data as the writer saves it (WriteResult.to_json() + target and image)
    session.mark("flash", Status.DONE, "card written and verified", target="/dev/sdx", image="/p/img.sdcard",
                 image_size=16 << 30, written=4071424 * 1024, skipped=(16 << 30) - 4071424 * 1024,
                 verified=4071424 * 1024, spot_checked=32, discard_zeroes=False, partitions_reread=False,
                 seconds=95.2, verify_seconds=0.006438903000002938)
    session.mark("image", Status.DONE, "img.sdcard", path="/p/img.sdcard", package="/p/x.tegraflash.zip",
                 apparent=16 << 30, allocated=4071424 * 1024, notes=[])
    session.save()


def test_took():
    assert took(None) == "-" and took(42.4) == "42 s"
    assert took(185) == "3 minutes and 5 seconds"
    assert took(2 * 3600 + 13 * 60 + 7) == "2 hours and 13 minutes"


def test_summary_rows_times_card_and_board(session):
    _journey(session)
    report = BoardReport("root@192.0.2.7", [Check("reachable", PASS), Check("gpu", PASS, "cmd", "out")],
                         gpu={"devices": [{"name": "NVIDIA Tegra X1", "total_memory_mib": 3964,
                                           "compute_capability": "5.3"}]})
    record_report(session, report)
    assert session.status("boot") is Status.DONE
    s = build_summary(session)
    rows = {r.id: r for r in s.steps}
    assert rows["build"].took == "2 hours and 13 minutes" and rows["build"].status == "done"
    assert rows["prereqs"].status == "not done" and rows["prereqs"].took == "-"
    # human values, no raw fields
    assert ("Written to", "/dev/sdx") in s.card
    assert ("Written", "4.2 GB written of a 17.2 GB image (13.0 GB skipped: already zeros) in 1 minute and "
                       "35 seconds") in s.card
    assert ("Checked", "4.2 GB read back and compared in 0 s") in s.card
    assert ("SD-card image size", "17.2 GB (4.2 GB of it data)") in s.facts
    shown = repr(s.card) + repr(s.facts)
    for raw in ("allocated", "verify seconds", "partitions reread", "4071424", "0.0064", "False", "spot"):
        assert raw not in shown, raw
    assert ("Log in with", "ssh root@192.0.2.7") in s.board
    assert ("GPU in a container", "NVIDIA Tegra X1, 3964 MiB, compute 5.3") in s.board
    assert ("Board", "jetson-nano-qspi-sd (Jetson Nano developer kit (P3448-0000, QSPI boot flash + SD card))") \
        in s.facts
    assert not any("check-board" in n for n in s.next_steps)


def test_failed_board_suggests_check_board(session):
    record_report(session, BoardReport("root@192.0.2.7", [Check("reachable", "fail", hint="power it | on")]))
    s = build_summary(session)
    assert session.status("boot") is Status.FAILED and "power it | on" in session.step_state("boot").detail
    assert "check-board" in s.next_steps[0]
    md = to_markdown(s)
    assert "| reachable | fail | power it \\| on |" in md


def test_cards_boards_each_have_a_line_and_the_next_step_checks_them_all(session):
    """Several cards with host names: the summary names each card's board and its last check, and, while one
    is not checked or failed, the next step is `check-board --all-cards` (not one address)."""
    session.mark("flash", Status.DONE, "2 cards written and verified",
                 cards=[{"device": "/dev/sdb", "hostname": "jetson-01", "verified": True, "error": None},
                        {"device": "/dev/sdc", "hostname": "jetson-02", "verified": True, "error": None}])
    session.mark("boot", Status.PENDING, "jetson-02 not checked yet", host="root@192.0.2.7", ok=True,
                 boards={"jetson-01": {"address": "192.0.2.7", "ok": True, "detail": "every check passed"}})
    session.save()
    s = build_summary(session)
    assert ("Board jetson-01", "every check passed at 192.0.2.7") in s.board
    assert "check-board --all-cards" in s.next_steps[0] and "jetson-01, jetson-02" in s.next_steps[0]
    session.mark("boot", Status.DONE, "2 boards: every check passed", host="root@192.0.2.8", ok=True,
                 boards={"jetson-01": {"address": "192.0.2.7", "ok": True},
                         "jetson-02": {"address": "192.0.2.8", "ok": False, "detail": "docker: not running"}})
    s = build_summary(session)
    assert ("Board jetson-02", "some checks did not pass at 192.0.2.8: docker: not running") in s.board
    assert "check-board --all-cards" in s.next_steps[0]
    session.mark("boot", Status.DONE, "2 boards: every check passed", host="root@192.0.2.8", ok=True,
                 boards={"jetson-01": {"address": "192.0.2.7", "ok": True},
                         "jetson-02": {"address": "192.0.2.8", "ok": True}})
    s = build_summary(session)
    assert not any("check-board" in n for n in s.next_steps)
    assert "Board jetson-02" in to_markdown(s)


def test_export_markdown_atomic(session, tmp_path):
    _journey(session)
    path = export_markdown(session)
    assert path == session.project / "wrnv-wizard-summary.md"
    text = path.read_text()
    assert text.startswith("# wrnv-wizard summary: Wind River Linux LTS 19")
    assert "| Build | done | 2 hours and 13 minutes | bitbake wrlinux-image-glibc-std succeeded |" in text
    assert "- **Written to:** /dev/sdx" in text and "Not checked yet." in text
    # Rewriting replaces the file in one step: no temp files left beside it.
    other = export_markdown(session, tmp_path / "out" / "s.md")
    assert other.read_text().count("## Steps") == 1
    assert [n for n in os.listdir(session.project) if n.startswith(".wrnv-wizard-summary")] == []


def test_next_steps_give_a_real_ssh_command(session):
    """A board on another port is reached with `ssh -p PORT user@host`, never `ssh user@host:port`."""
    record_report(session, BoardReport("root@127.0.0.1:43055", [Check("reachable", PASS)]))
    s = build_summary(session)
    demo = next(n for n in s.next_steps if "docker run" in n)
    assert "`ssh -p 43055 root@127.0.0.1`" in demo and "127.0.0.1:43055" not in demo
    assert ("Log in with", "ssh -p 43055 root@127.0.0.1") in s.board
    assert not any("seed" in n for n in s.next_steps)
    # not checked yet: the saved answers say where the board is
    session.update_answers(board_host="192.0.2.9", board_port=2222, board_user="admin")
    session.mark("boot", Status.PENDING)
    session.step_state("boot").data.clear()
    assert "`ssh -p 2222 admin@192.0.2.9`" in " ".join(build_summary(session).next_steps)
