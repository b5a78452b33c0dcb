"""The journey's summary: what was built, where, how long each step took, the card, the board.

Built only from the saved session (state times and each step's data), so the screen, the Markdown export
and a later `--plain` run all tell the same story, and an export can be attached to a bug report or a
hand-over note as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import humanize

from wizard.core.atomic import atomic_write
from wizard.core.errors import ProfileError
from wizard.core.steps import STEPS, Status

EXPORT_NAME = "wrnv-wizard-summary.md"
_STATUS_WORDS = {Status.DONE: "done", Status.SKIPPED: "skipped", Status.FAILED: "failed",
                 Status.RUNNING: "running", Status.PENDING: "not done"}


@dataclass
class StepRow:
    id: str
    title: str
    status: str
    took: str
    detail: str


@dataclass
class Summary:
    title: str
    facts: list = field(default_factory=list)        # (label, value)
    steps: list = field(default_factory=list)        # StepRow
    total: str = ""
    card: list = field(default_factory=list)         # (label, value) from the flash step
    board: list = field(default_factory=list)        # (label, value)
    board_checks: list = field(default_factory=list)  # dicts name/status/hint
    next_steps: list = field(default_factory=list)


def took(seconds) -> str:
    """Short, human durations: `42 s`, `3 minutes and 5 seconds`, `2 hours and 13 minutes`."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    unit = "minutes" if seconds >= 3600 else "seconds"
    return humanize.precisedelta(timedelta(seconds=int(seconds)), minimum_unit=unit, format="%0.0f")


def _scalars(data: dict, skip=()) -> list:
    """A step's saved data as (label, value) lines: short scalars only (lists of files stay in the state)."""
    out = []
    for key, value in sorted(data.items()):
        if key in skip or isinstance(value, (dict, list, tuple)) or value in (None, ""):
            continue
        text = str(value)
        if len(text) > 200:
            continue
        out.append((key.replace("_", " "), text))
    return out


def build_summary(session) -> Summary:
    profile, answers = session.profile, session.answers
    try:
        module = profile.machine(answers.machine).module
    except ProfileError:
        module = answers.machine
    s = Summary(title=f"wrnv-wizard summary: {profile.title}")
    s.facts = [
        ("Board", f"{answers.machine} ({module})"),
        ("Distro / image", f"{answers.distro} / {answers.image}"),
        ("NVIDIA packages", ", ".join(answers.packages) or "none"),
        ("Project", str(session.project)),
        ("Build folder", str(session.project / profile.wrlinux.build_dir)),
        ("Downloads", answers.downloads_dir),
    ]
    image = session.step_state("image")
    s.facts += [(f"SD-card image: {k}", v) for k, v in _scalars(image.data)]

    total = 0.0
    for spec in STEPS:
        st = session.step_state(spec.id)
        dur = st.duration if st.status is not Status.PENDING else None
        if dur is not None:
            total += dur
        s.steps.append(StepRow(spec.id, spec.title, _STATUS_WORDS.get(st.status, st.status.value), took(dur),
                               st.detail))
    s.total = took(total)

    s.card = _scalars(session.step_state("flash").data)

    boot = session.step_state("boot")
    data = boot.data
    if data.get("host"):
        s.board.append(("Host", str(data["host"])))
        s.board.append(("Result", "every check passed" if data.get("ok") else "some checks did not pass"))
        gpu = data.get("gpu") or {}
        devs = gpu.get("devices") or []
        if devs:
            d = devs[0]
            s.board.append(("GPU in a container", f"{d.get('name', '?')}, {d.get('total_memory_mib', '?')} MiB, "
                                                  f"compute {d.get('compute_capability', '?')}"))
        if data.get("checked_at"):
            s.board.append(("Checked", time.strftime("%Y-%m-%d %H:%M", time.localtime(data["checked_at"]))))
        s.board_checks = [c for c in data.get("checks") or [] if isinstance(c, dict)]

    s.next_steps = _next_steps(session, data)
    return s


def _next_steps(session, boot: dict) -> list:
    b = session.profile.board
    host = boot.get("host") or f"root@{b.get('mdns_name', '{machine}.local').format(machine=session.answers.machine)}"
    demo = f"docker run --runtime nvidia -it {b.get('demo_image', '')} {b.get('demo_command', '')}".strip()
    steps = []
    if not boot.get("ok"):
        steps.append("Check the board: `wrnv-wizard check-board <address>` shows each link of the GPU chain "
                     "and what to fix.")
    steps += [
        f"Run the seed's demo: `ssh {host}`, then `{demo}` (the board needs internet: it pulls the image and "
        "downloads MNIST on first run; the image's availability today is unverified).",
        "Containers need `--runtime nvidia` on every `docker run` (daemon.json sets no default runtime).",
        "To watch the GPU on the board, add `tegra-tools-tegrastats` (and `cuda-samples` for deviceQuery) to the "
        "packages in local.conf, then rebuild with `wrnv-wizard build`.",
        "Keep the project folder: a rebuild reuses its downloads and sstate-cache and takes minutes, not hours.",
    ]
    return steps


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip() or " "


def to_markdown(s: Summary) -> str:
    lines = [f"# {s.title}", "", f"_Written {time.strftime('%Y-%m-%d %H:%M %Z')}._", "", "## What was built", ""]
    lines += [f"- **{label}:** {value}" for label, value in s.facts]
    lines += ["", "## Steps", "", "| Step | Status | Took | Detail |", "|---|---|---|---|"]
    lines += [f"| {_cell(r.title)} | {_cell(r.status)} | {_cell(r.took)} | {_cell(r.detail)} |" for r in s.steps]
    lines += ["", f"Total time in steps: {s.total}.", "", "## The SD card", ""]
    lines += [f"- **{k}:** {v}" for k, v in s.card] or ["Not written with the wizard."]
    lines += ["", "## The board", ""]
    if s.board:
        lines += [f"- **{k}:** {v}" for k, v in s.board]
        if s.board_checks:
            lines += ["", "| Check | Status | What to do |", "|---|---|---|"]
            lines += [f"| {_cell(c.get('name', ''))} | {_cell(c.get('status', ''))} | "
                      f"{_cell(c.get('hint', '') if c.get('status') != 'pass' else '')} |" for c in s.board_checks]
    else:
        lines.append("Not checked yet.")
    lines += ["", "## Next steps", ""]
    lines += [f"{i}. {step}" for i, step in enumerate(s.next_steps, 1)]
    return "\n".join(lines) + "\n"


def export_markdown(session, path=None) -> Path:
    """Write the summary as Markdown (atomically); default: <project>/wrnv-wizard-summary.md."""
    target = Path(path).expanduser() if path else session.project / EXPORT_NAME
    atomic_write(target, to_markdown(build_summary(session)))
    return target
