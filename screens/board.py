"""Step 5: which Jetson, which Wind River source and distro, which image and NVIDIA packages, where the project
goes; mirrors and the meta-tegra commit under "Advanced". Everything is saved as the session's answers."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import (
    Button,
    Collapsible,
    DataTable,
    Input,
    Label,
    RadioSet,
    SelectionList,
    Static,
)

from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.steps import Status

from .base import StepScreen
from .choice import Choice
from .tick_list import TickList


class BoardScreen(StepScreen):
    STEP_ID = "board"
    CSS_PATH = str(asset("styles", "board.tcss"))

    def compose_body(self) -> ComposeResult:
        prof, a = self.session.base_profile, self.session.answers
        with VerticalScroll(id="board-scroll"):
            yield Label("Board (MACHINE)", classes="board-heading")
            table = DataTable(id="board-machines", cursor_type="row", zebra_stripes=True)
            table.add_columns("Machine", "SoC", "SD card", "Module")
            for m in prof.machines:
                table.add_row(m.name, m.soc, "yes" if m.sdcard else "no", m.module, key=m.name)
            yield table
            yield Label("Wind River source", classes="board-heading")
            with RadioSet(id="board-source"):
                for s in prof.wrlinux.sources:
                    yield Choice(s.title, value=s.id == a.source, name=s.id)
            yield Static("The public BASE source needs no account. The LTS source is for Wind River subscribers: "
                         "creating the project asks for a Windshare login.", classes="board-note")
            yield Label("Distro", classes="board-heading")
            with RadioSet(id="board-distro"):
                for d in prof.distros:
                    yield Choice(d.title, value=d.id == a.distro, name=d.id)
            yield Label("Image target", classes="board-heading")
            with RadioSet(id="board-image"):
                for i in prof.images:
                    yield Choice(i.title, value=i.id == a.image, name=i.id)
            yield Label("NVIDIA packages (the downloads step checks their files)",
                        classes="board-heading")
            yield TickList(*[(p.title, p.id, p.id in a.packages) for p in prof.packages], id="board-packages")
            yield Label("Project folder", classes="board-heading")
            yield Input(a.project_dir, id="board-project", placeholder="e.g. ~/wrlinux-jetson")
            with Collapsible(title="Advanced: mirrors and the meta-tegra commit", id="board-advanced"):
                yield Label(f"wrlinux-x URL (empty: {prof.source(a.source).url})")
                yield Input(a.wrlinux_url, id="board-wrlinux-url")
                yield Label(f"meta-tegra URL (empty: {prof.meta_tegra.url})")
                yield Input(a.meta_tegra_url, id="board-meta-tegra-url")
                yield Label(f"meta-tegra commit (empty: the tested {prof.meta_tegra.commit})")
                yield Input(a.meta_tegra_commit, id="board-meta-tegra-commit")
                yield Label("Team download mirror (SOURCE_MIRROR_URL, optional)")
                yield Input(a.source_mirror_url, id="board-source-mirror")
                yield Label("Team sstate mirror (SSTATE_MIRRORS, optional)")
                yield Input(a.sstate_mirror_url, id="board-sstate-mirror")
            with Horizontal(id="board-actions"):
                yield Button("Use these choices", id="board-save", variant="primary", compact=True)
                yield Static("", id="board-result")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#board-machines", DataTable)
        names = [m.name for m in self.session.base_profile.machines]
        if self.session.answers.machine in names:
            table.move_cursor(row=names.index(self.session.answers.machine))

    # -- reading the widgets ---------------------------------------------------------------------------
    def _radio(self, wid: str) -> str:
        pressed = self.query_one(f"#{wid}", RadioSet).pressed_button
        return pressed.name if pressed is not None else ""

    def choices(self) -> dict:
        table = self.query_one("#board-machines", DataTable)
        machine = self.session.base_profile.machines[table.cursor_row].name
        order = [p.id for p in self.session.base_profile.packages]
        picked = set(self.query_one("#board-packages", SelectionList).selected)

        def text(wid: str) -> str:
            return self.query_one(f"#{wid}", Input).value.strip()

        return {"machine": machine, "source": self._radio("board-source"), "distro": self._radio("board-distro"),
                "image": self._radio("board-image"), "packages": [p for p in order if p in picked],
                "project_dir": text("board-project"), "wrlinux_url": text("board-wrlinux-url"),
                "meta_tegra_url": text("board-meta-tegra-url"), "meta_tegra_commit": text("board-meta-tegra-commit"),
                "source_mirror_url": text("board-source-mirror"), "sstate_mirror_url": text("board-sstate-mirror")}

    def save(self) -> bool:
        """Validate and save; a problem shows as one line and nothing is saved."""
        result = self.query_one("#board-result", Static)
        new = self.choices()
        if not new["project_dir"]:
            result.update("[red]Choose a project folder.[/]")
            return False
        try:
            self.session.choose_board(**new)
        except WizardError as e:
            result.update(f"[red]{e}[/]")
            return False
        result.update(f"[green]Saved:[/] {new['machine']} · {new['distro']} · {len(new['packages'])} packages")
        self.refresh_nav()
        return True

    @on(Button.Pressed, "#board-save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.save()

    def action_next(self) -> None:
        # "Next" saves what is on screen first, so the user never loses a choice by moving on.
        if self.save():
            super().action_next()

    def can_advance(self) -> tuple:
        # Next saves what is on screen (action_next), so it is never blocked by "not saved yet".
        ok, why = super().can_advance()
        if not ok and not self.busy and self.session.status(self.STEP_ID) is not Status.RUNNING:
            return True, ""
        return ok, why
