"""The multi-card write (`flash --target A --target B ... --project DIR`) is the project's Write the card step:
recorded by the engine with each card (device, host name, bytes, verified, error), and the summary (screen
text and Markdown export) lists every card. Real loop devices; one of them runs out of room mid-write."""

from __future__ import annotations

import subprocess

from cardimage import make_card_image
from flashkit import run_cli

from wizard.core.session import Session
from wizard.core.steps import Status
from wizard.core.summary import build_summary, to_markdown


def test_several_cards_are_recorded_and_summarised_each(tmp_path, loops):
    project = tmp_path / "project"
    session = Session.open(project)
    session.save()
    image = make_card_image(tmp_path / "card.img", tmp_path)
    devs = []
    for i in range(2):
        f = tmp_path / f"c{i}"
        subprocess.run(["truncate", "-s", "32M", str(f)], check=True)
        devs.append(loops.attach(f))
    small = tmp_path / "small"                       # a card with too little room: fails alone, mid-write
    loops.mount("tmpfs", small, "-t", "tmpfs", "-o", "size=64k")
    subprocess.run(["truncate", "-s", "32M", str(small / "card")], check=True)
    bad = loops.attach(small / "card")
    order = [devs[0], bad, devs[1]]
    args = ["flash", image, "--yes", "--allow-non-removable", "--hostname", "jetson-{n:02}", "--project", project]
    for d in order:
        args += ["--target", d]
    proc = run_cli(*args, timeout=240)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr

    s = Session.open(project)
    rec = s.step_state("flash")
    assert rec.status is Status.FAILED, (rec.status, rec.detail)
    assert rec.detail.startswith("2 of 3 cards written and verified; failed: ") and bad.split("/")[-1] in rec.detail
    cards = rec.data["cards"]
    assert [c["device"] for c in cards] == order
    assert [c["hostname"] for c in cards] == ["jetson-01", "jetson-02", "jetson-03"]
    by = {c["device"]: c for c in cards}
    assert by[bad]["error"] and not by[bad]["verified"]
    for d in devs:
        assert by[d]["error"] is None and by[d]["verified"] and by[d]["bytes_written"] > 0
        assert by[d]["verified_bytes"] >= by[d]["bytes_written"] - 1
    assert rec.data["image"] == str(image)

    summary = build_summary(s)
    lines = dict(summary.card)
    assert lines["Cards"] == "2 of 3 written and verified"
    assert lines[f"Card 2 ({bad})"].startswith("host name jetson-02, ") and "FAILED: " in lines[f"Card 2 ({bad})"]
    for n, d in ((1, devs[0]), (3, devs[1])):
        line = lines[f"Card {n} ({d})"]
        assert line.startswith(f"host name jetson-{n:02}, ") and "written, " in line
        assert line.endswith("read back and compared"), line
    md = to_markdown(summary)
    section = md.split("## The SD card")[1].split("## The board")[0]
    assert "Not written with the wizard." not in section
    for n, d in enumerate(order, 1):
        assert f"- **Card {n} ({d}):** host name jetson-{n:02}" in section, section

    # Two cards again (jetson-01, jetson-02 by the command's own numbering): the step is done. The project keeps
    # its boards by name: jetson-01 is the new card, jetson-02 is a board now (it failed before), and
    # jetson-03, written earlier, is still one of the project's boards (Boot & check looks it up).
    args = ["flash", image, "--yes", "--allow-non-removable", "--hostname", "jetson-{n:02}", "--project", project,
            "--target", devs[0], "--target", devs[1]]
    proc = run_cli(*args, timeout=240)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    # jetson-01 is already a board (jetson-02 failed before, so it is not): said before the confirmation.
    assert "Note: jetson-01 is already the name of a board of this project; the card written now takes the " \
           "name over." in proc.stderr, proc.stderr
    s = Session.open(project)
    rec = s.step_state("flash")
    assert rec.status is Status.DONE, (rec.status, rec.detail)
    assert rec.detail == "2 cards written and verified (1 more written earlier: jetson-03)"
    assert [(c["hostname"], c["device"]) for c in rec.data["cards"]] == [
        ("jetson-03", devs[1]), ("jetson-01", devs[0]), ("jetson-02", devs[1])]
    assert dict(build_summary(s).card)["Cards"] == "3 of 3 written and verified"


def test_one_customised_card_is_recorded_as_one_card(tmp_path, loops):
    project = tmp_path / "project"
    Session.open(project).save()
    image = make_card_image(tmp_path / "card.img", tmp_path)
    f = tmp_path / "c0"
    subprocess.run(["truncate", "-s", "32M", str(f)], check=True)
    dev = loops.attach(f)
    proc = run_cli("flash", image, "--yes", "--allow-non-removable", "--hostname", "desk-jetson", "--project",
                   project, "--target", dev, timeout=240)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    s = Session.open(project)
    rec = s.step_state("flash")
    assert rec.status is Status.DONE and rec.detail == f"written to {dev} and verified"
    d = dict(build_summary(s).card)
    assert d["Written to"] == dev and d["Host name"] == "desk-jetson"
    assert d["Checked"].endswith("read back and compared") or "read back and compared in" in d["Checked"]


def test_insert_session_keeps_every_card(tmp_path, loops):
    """'Write every card I insert': cards written one after another are all in the step's record, each with the
    host name it was given, so Boot & check and the Summary see every card (the step held only the last one)."""
    from wizard.card.customise import CardOptions
    from wizard.card.fanout import CardJob, InsertSession
    from wizard.card.writer import WriteOptions, check_image

    project = tmp_path / "project"
    session = Session.open(project)
    session.save()
    image = make_card_image(tmp_path / "card.img", tmp_path)
    info = check_image(image)
    insert = InsertSession(session, info)
    devs = []
    try:
        for n in (1, 2):
            f = tmp_path / f"c{n}"
            subprocess.run(["truncate", "-s", "32M", str(f)], check=True)
            dev = loops.attach(f)
            devs.append(dev)
            job = CardJob(target=dev, name=dev.split("/")[-1], identity=None, route="in-process",
                          options=WriteOptions(allow_non_removable=True, overwrite_file=True),
                          card_options=CardOptions(hostname=f"desk-{n:02}"))
            out = insert.write(job, progress_for=lambda i: None)
            assert out.ok, out.error
            rec = Session.open(project).step_state("flash")
            assert [c["hostname"] for c in rec.data["cards"]] == [f"desk-{k:02}" for k in range(1, n + 1)]
    finally:
        insert.close()
    rec = Session.open(project).step_state("flash")
    assert rec.status is Status.DONE, (rec.status, rec.detail)
    assert rec.detail == "2 cards written and verified"
    assert [c["device"] for c in rec.data["cards"]] == devs
    for n, dev in enumerate(devs, 1):
        part = subprocess.run(["debugfs", "-R", "cat /etc/hostname", f"{dev}?offset={_app_offset(dev)}"],
                              capture_output=True, text=True)
        assert part.stdout == f"desk-{n:02}\n", part.stderr


def _app_offset(dev: str) -> int:
    from wizard.card.gpt import find_partition

    return find_partition(dev, "APP").offset
