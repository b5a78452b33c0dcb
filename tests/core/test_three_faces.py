"""Issue 15: one journey, three faces. The same demo journey run in the TUI (under pilot, driven by the
autopilot as a person would), in `--plain --answers`, and as a script of subcommands leaves the same step
records in state.json (times aside) and the same summary, card section included."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from wizard.core.steps import STEP_IDS, Status

pytestmark = [pytest.mark.slow]

SPEED = "40"
# Facts that differ between two correct runs: clocks, process ids, throughput and the build's log names.
VOLATILE = {"started", "finished", "checked_at", "seconds", "elapsed", "rate", "pid", "pgid", "log", "exit_code",
            "write_seconds", "verify_seconds", "took", "duration", "boot_id", "log_dir", "start_time", "cpu_seconds",
            "ended", "wall_seconds", "eta", "exit_file", "pid_start"}
# Steps a subcommand exists for (welcome, prerequisites, board and summary are questions, not commands).
COMMAND_STEPS = ("host", "downloads", "project", "localconf", "build", "image", "flash", "boot")


def volatile(key: str) -> bool:
    return key in VOLATILE or key.endswith(("seconds", "_time", "_rate", "_at"))


def differences(a: dict, b: dict) -> list:
    """(step, key, a's value, b's value) for each fact that differs: a readable failure."""
    out = []
    for step in sorted(set(a) | set(b)):
        ra, rb = a.get(step, {}), b.get(step, {})
        for key in ("status", "detail"):
            if ra.get(key) != rb.get(key):
                out.append((step, key, ra.get(key), rb.get(key)))
        da, db = ra.get("data", {}), rb.get("data", {})
        for key in sorted(set(da) | set(db)):
            va, vb = da.get(key), db.get(key)
            if isinstance(va, list) and isinstance(vb, list) and len(va) == len(vb):
                out += [(step, f"data.{key}[{i}]", x, y) for i, (x, y) in enumerate(zip(va, vb)) if x != y]
            elif va != vb:
                out.append((step, f"data.{key}", va, vb))
    return out


def toml_line(key, value) -> str:
    return f"{key} = {json.dumps(value)}"


class Face:
    """One sandbox, with the environment the demo gives its wizard."""

    def __init__(self, root: Path, monkeypatch):
        from wizard.demo import sandbox

        self.sb = sandbox.build(root, speed=float(SPEED), use_loop=False)
        for k, v in self.sb.env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("PATH", f"{self.sb.bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("HOME", str(root / "home"))
        for k, v in {"GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test@wrnv.invalid",
                     "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test@wrnv.invalid"}.items():
            monkeypatch.setenv(k, v)      # setup.sh commits in the project
        monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "home" / ".config"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(root / "home" / ".cache"))
        self.answers_file = root / "answers.toml"
        # What the autopilot ticks on the checklist, as an answers file says it.
        self.answers = {**self.sb.answers(), "confirmed_prereqs": ["account", "sdkmanager"]}
        self.answers_file.write_text("\n".join(toml_line(k, v) for k, v in self.answers.items()) + "\n")

    @property
    def project(self) -> Path:
        return self.sb.project

    def normalize(self, value):
        """Paths into this sandbox, and its board's port, as placeholders (each face has its own)."""
        if isinstance(value, dict):
            return {k: self.normalize(v) for k, v in value.items() if not volatile(k)}
        if isinstance(value, list):
            return [self.normalize(v) for v in value]
        if isinstance(value, str):
            value = value.replace(str(self.sb.root), "<sandbox>")
            if self.sb.board is not None:
                value = value.replace(str(self.sb.answers().get("board_port", "")), "<port>")
            value = re.sub(r"\d{8}-?\d{6}", "<stamp>", value)                      # build time in names
            value = re.sub(r"[A-Z][a-z]{2} +\d+ \d\d:\d\d", "<mtime>", value)          # `ls -l` on the board
            value = re.sub(r"\d+(\.\d+)? s\b", "<t> s", value)                      # durations in details
            value = re.sub(r"\d+(\.\d+)? ?[kMG]?B/s", "<rate>", value)
            return value
        return value

    def records(self, steps=STEP_IDS) -> dict:
        doc = json.loads((self.project / ".wrnv-wizard" / "state.json").read_text())
        return {s: self.normalize(doc["steps"][s]) for s in steps}

    def summary(self) -> str:
        from wizard.core.session import Session
        from wizard.core.summary import build_summary, to_markdown

        text = to_markdown(build_summary(Session.open(self.project, str(self.sb.profile_path))))
        lines = []
        for line in text.splitlines():
            m = re.match(r"- \*\*(?:[^*]*: )?([\w ]+):\*\* ", line)
            if m and volatile(m.group(1).replace(" ", "_")):
                line = m.group(0) + "<varies>"
            if line.startswith(("_Written ", "Total time in steps", "- **Checked:**")):
                line = "<when>"
            if line.startswith("| ") and line.count("|") == 5:        # the steps table: drop "Took"
                cells = line.split("|")
                cells[3] = " <took> "
                line = "|".join(cells)
            lines.append(line)
        return self.normalize("\n".join(lines))

    def sections(self, text: str, names=("What was built", "The SD card", "The board")) -> dict:
        parts = {}
        for chunk in text.split("\n## ")[1:]:
            title, _, body = chunk.partition("\n")
            if title in names:
                parts[title] = body
        return parts

    def close(self):
        self.sb.close()


def run_tui(face: Face) -> None:
    from screens.app import WizardApp
    from wizard.core.session import Session

    session = Session.open(face.project, str(face.sb.profile_path))
    session.update_answers(**face.sb.answers())

    async def drive():
        app = WizardApp(session, auto=True, pause=0.05, card=face.sb.card_target, allow_non_removable=True,
                        only_target=face.sb.card_target, only_reason="not the demo's card")
        async with app.run_test(size=(100, 36)) as pilot:
            loop = asyncio.get_running_loop()
            end, last, seen = loop.time() + 400, None, loop.time()
            while session.status("summary") is not Status.DONE:
                now = {s: (session.status(s).value, session.step_state(s).detail) for s in STEP_IDS}
                if now != last:
                    last, seen = now, loop.time()
                # Nothing moved for two minutes: the autopilot stopped (it says why in a notification).
                assert loop.time() < end and loop.time() - seen < 120, (now, [n.message for n in
                                                                              app._notifications])
                await pilot.pause(0.2)
            await pilot.pause(0.5)

    asyncio.run(drive())


def run_plain(face: Face) -> int:
    from wizard.core.session import Session
    from wizard.plain import run_plain as plain

    session = Session.open(face.project, str(face.sb.profile_path))
    args = argparse.Namespace(project=str(face.project), profile=str(face.sb.profile_path),
                              answers=str(face.answers_file))
    # --yes: this test has no terminal to type the card's name into (every safety check still runs).
    return plain(args, session=session, given=set(face.answers),
                 extra_args={"flash": ["--target", face.sb.card_target, "--allow-non-removable", "--yes"],
                             "check-board": ["--accept-new-host-key"]})


def run_commands(face: Face) -> list:
    from wizard.cli import main

    a = face.sb.answers()
    common = ["--project", str(face.project), "--profile", str(face.sb.profile_path)]
    script = [
        ["--answers", str(face.answers_file), "doctor", *common],
        ["verify-downloads", *common, "--stage-nodla"],
        ["setup", *common],
        ["localconf", *common, "--apply"],
        ["build", *common],
        ["image", *common],
        ["flash", *common, "--target", face.sb.card_target, "--allow-non-removable", "--yes"],
        ["check-board", a["board_host"], *common, "--user", a["board_user"], "--port", str(a["board_port"]),
         *(["--identity", a["board_identity"]] if a.get("board_identity") else []), "--accept-new-host-key"],
    ]
    return [main(argv) for argv in script]


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo's stand-in board needs root for its sshd")
def test_tui_plain_and_commands_leave_the_same_record(tmp_path, monkeypatch):
    with monkeypatch.context() as mp:
        tui = Face(tmp_path / "tui", mp)
        try:
            run_tui(tui)
            tui_records, tui_summary = tui.records(), tui.summary()
        finally:
            tui.close()
    with monkeypatch.context() as mp:
        plain = Face(tmp_path / "plain", mp)
        try:
            plain_code = run_plain(plain)
            plain_records, plain_summary = plain.records(), plain.summary()
        finally:
            plain.close()
    with monkeypatch.context() as mp:
        cmds = Face(tmp_path / "cmds", mp)
        try:
            codes = run_commands(cmds)
            cmd_records, cmd_summary = cmds.records(COMMAND_STEPS), cmds.summary()
        finally:
            cmds.close()

    assert all(r["status"] in ("done", "skipped") for r in tui_records.values()), tui_records
    assert tui_records["flash"]["status"] == "done" and tui_records["boot"]["status"] == "done"
    assert not differences(tui_records, plain_records)
    # Exit 1 only when it went on past a failed step (the host check, when this runs as root).
    assert plain_code == (1 if any(r["status"] == "skipped" for r in plain_records.values()) else 0)
    import difflib

    assert tui_summary == plain_summary, "\n".join(difflib.unified_diff(tui_summary.splitlines(),
                                                                      plain_summary.splitlines(), lineterm=""))
    assert "Not written with the wizard." not in plain_summary
    # A script has no "continue anyway": a step the others went on past (the host check, run as root here)
    # is a failed command there, and the script goes on by itself.
    skipped = [s for s in COMMAND_STEPS if tui_records[s]["status"] == "skipped"]
    assert [c for s, c in zip(COMMAND_STEPS, codes) if s not in skipped] == [0] * (len(COMMAND_STEPS) - len(skipped))
    assert all(cmd_records[s]["status"] == "failed" for s in skipped)
    assert not differences({s: r for s, r in cmd_records.items() if s not in skipped},
                           {s: tui_records[s] for s in COMMAND_STEPS if s not in skipped})
    # The summary's sections built from the steps' data (image, card, board) agree too.
    assert cmds.sections(cmd_summary) == plain.sections(plain_summary)
    assert len(plain.sections(plain_summary)) == 3
