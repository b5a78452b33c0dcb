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


def _size(value) -> str:
    return humanize.naturalsize(int(value)) if isinstance(value, (int, float)) else str(value)


def _seconds(value) -> str:
    return took(float(value)) if isinstance(value, (int, float)) else str(value)


def _image_lines(data: dict) -> list:
    """The SD-card image step's saved data in words (the raw fields stay in the state file)."""
    out = []
    if data.get("path"):
        out.append(("SD-card image", str(data["path"])))
    if isinstance(data.get("apparent"), (int, float)):
        size = _size(data["apparent"])
        if isinstance(data.get("allocated"), (int, float)):
            size += f" ({_size(data['allocated'])} of it data)"
        out.append(("SD-card image size", size))
    if data.get("package"):
        out.append(("Made from", str(data["package"])))
    return out


def _card_lines(data: dict) -> list:
    """The write step's saved data in words: what was written where, how fast, and whether it was checked.
    Several cards written at once (`flash --target A --target B ...`) get a line each."""
    cards = [c for c in data.get("cards") or [] if isinstance(c, dict)]
    if len(cards) > 1:
        return _cards_lines(data, cards)
    out = []
    if cards and cards[0].get("hostname"):
        out.append(("Host name", str(cards[0]["hostname"])))
    if data.get("target"):
        out.append(("Written to", str(data["target"])))
    if data.get("image"):
        out.append(("Image", str(data["image"])))
    if isinstance(data.get("written"), (int, float)):
        line = f"{_size(data['written'])} written"
        if isinstance(data.get("image_size"), (int, float)):
            line += f" of a {_size(data['image_size'])} image"
        if data.get("skipped"):
            line += f" ({_size(data['skipped'])} skipped: already zeros)"
        if isinstance(data.get("seconds"), (int, float)):
            line += f" in {_seconds(data['seconds'])}"
        out.append(("Written", line))
    if data.get("verified"):
        line = f"{_size(data['verified'])} read back and compared"
        if isinstance(data.get("verify_seconds"), (int, float)):
            line += f" in {_seconds(data['verify_seconds'])}"
        out.append(("Checked", line))
    elif "verified" in data:
        out.append(("Checked", "not read back"))
    return out


def _cards_lines(data: dict, cards: list) -> list:
    """One line per card: device, host name, bytes written, whether it was read back, and its error."""
    good = sum(1 for c in cards if c.get("error") is None and c.get("verified"))
    out = [("Cards", f"{good} of {len(cards)} written and verified")]
    if data.get("image"):
        out.append(("Image", str(data["image"])))
    for n, c in enumerate(cards, 1):
        words = [f"host name {c['hostname']}"] if c.get("hostname") else []
        if isinstance(c.get("bytes_written"), (int, float)):
            words.append(f"{_size(c['bytes_written'])} written")
        if c.get("error"):
            words.append(f"FAILED: {c['error']}")
        elif c.get("verified"):
            checked = c.get("verified_bytes")
            words.append(f"{_size(checked)} read back and compared" if checked else "verified")
        else:
            words.append("not read back")
        out.append((f"Card {n} ({c.get('device', '?')})", ", ".join(words)))
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
    s.facts += _image_lines(session.step_state("image").data)

    total = 0.0
    for spec in STEPS:
        st = session.step_state(spec.id)
        dur = st.duration if st.status is not Status.PENDING else None
        if dur is not None:
            total += dur
        s.steps.append(StepRow(spec.id, spec.title, _STATUS_WORDS.get(st.status, st.status.value), took(dur),
                               st.detail))
    s.total = took(total)

    s.card = _card_lines(session.step_state("flash").data)

    boot = session.step_state("boot")
    data = boot.data
    if data.get("host"):
        s.board.append(("Log in with", ssh_command(session, data)))
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
    s.board += _boards_lines(data)

    s.next_steps = _next_steps(session, data, _card_names(session.step_state("flash").data))
    return s


def ssh_command(session, boot: dict) -> str:
    """The ssh command line that reaches the board: `ssh -p PORT user@host` (a URL-like `host:port` is not
    something ssh understands)."""
    a = session.answers
    b = session.profile.board
    host = a.board_host or b.get("mdns_name", "{machine}.local").format(machine=a.machine)
    user, port = a.board_user or b.get("user", "root"), a.board_port or 22
    checked = str(boot.get("host") or "")
    if checked:
        # What the check recorded: "user@host" or "user@host:port".
        login, _, tail = checked.rpartition(":") if checked.count(":") == 1 else (checked, "", "")
        if tail.isdigit():
            checked, port = login, int(tail)
        user, _, host = checked.rpartition("@") if "@" in checked else (user, "", checked)
    return f"ssh -p {port} {user}@{host}" if int(port) != 22 else f"ssh {user}@{host}"


def _card_names(flash: dict) -> list:
    """The host names the written cards were given (several cards, or one with --hostname)."""
    return [str(c["hostname"]) for c in flash.get("cards") or [] if isinstance(c, dict) and c.get("hostname")]


def _boards_lines(boot: dict) -> list:
    """One line per card's board checked by its host name (Boot & check with several cards)."""
    boards = boot.get("boards")
    if not isinstance(boards, dict):
        return []
    out = []
    for name, b in boards.items():
        if not isinstance(b, dict):
            continue
        at = f" at {b['address']}" if b.get("address") else ""
        out.append((f"Board {name}", f"every check passed{at}" if b.get("ok") else
                    f"some checks did not pass{at}" + (f": {b['detail']}" if b.get("detail") else "")))
    return out


def _next_steps(session, boot: dict, cards: list = ()) -> list:
    b = session.profile.board
    demo = f"docker run --runtime nvidia -it {b.get('demo_image', '')} {b.get('demo_command', '')}".strip()
    steps = []
    boards = boot.get("boards") if isinstance(boot.get("boards"), dict) else {}
    if cards and not all((boards.get(n) or {}).get("ok") for n in cards):
        steps.append(f"Check every card's board ({', '.join(cards)}): `wrnv-wizard check-board --all-cards` looks "
                     "each up by its host name (<name>.local) and shows each link of the GPU chain and what to fix.")
    elif not cards and not boot.get("ok"):
        steps.append("Check the board: `wrnv-wizard check-board <address>` shows each link of the GPU chain "
                     "and what to fix.")
    steps += [
        f"Run the tutorial's GPU demo: `{ssh_command(session, boot)}`, then `{demo}` (the board needs internet: "
        "it pulls the image and downloads MNIST on first run; whether the image is still published is unverified).",
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
