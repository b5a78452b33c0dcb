"""Step 4: Verify downloads — every SDK Manager file the build reads, present and intact, checked up front.

Thin: the engine (wizard.downloads.manifest / verify / nodla) decides; this screen chooses the folder and packages,
shows each file's status as it is found, the progress, and what to do.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, DataTable, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from wizard.core.errors import WizardError
from wizard.core.paths import asset
from wizard.core.progress import Cancelled
from wizard.core.steps import Status
from wizard.downloads.manifest import cross_check, expand_packages, layer_dir, load_manifest, select
from wizard.downloads.verify import verify_step

from .base import StepScreen
from .confirm import ConfirmScreen
from .tick import Tick

STYLE = {"ok": ("✔ ok", "green"), "missing": ("✖ missing", "red"), "size-mismatch": ("✖ bad size", "red"),
         "checksum-mismatch": ("✖ bad checksum", "red"), "unreadable": ("✖ unreadable", "red"),
         "checking": ("… checking", "cyan"), "pending": ("· waiting", "dim")}


class _Stop:
    """Cancellation the engine understands (`is_set`): the screen's own event or Textual cancelling the worker."""

    def __init__(self, worker) -> None:
        self.worker, self.event = worker, threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set() or self.worker.is_cancelled


class DownloadsScreen(StepScreen):
    STEP_ID = "downloads"
    CSS_PATH = str(asset("styles", "downloads.tcss"))

    def __init__(self, session) -> None:
        super().__init__(session)
        self.report = None
        self._rows: dict = {}

    # -- layout ------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="dl-folder-row"):
            yield Label("SDK Manager folder:", id="dl-folder-label")
            yield Input(self.session.answers.downloads_dir, id="dl-folder", compact=True)
        with Horizontal(id="dl-packages"):
            chosen = set(self.session.answers.packages)
            for p in self.session.profile.packages:
                yield Tick(p.title.split(" (")[0], p.id in chosen, id=f"dl-pkg-{p.id}", compact=True,
                               tooltip=p.title)
        with Horizontal(id="dl-actions"):
            yield Button("Verify again", id="dl-verify", compact=True)
            yield Static("TensorRT goes into NoDLA/ by itself.",
                         id="dl-stage-note")
        yield Static("", id="dl-overall")
        with Vertical(id="dl-progress-box"):
            yield ProgressBar(id="dl-bar", show_eta=False)
            yield Static("", id="dl-progress")
        yield DataTable(id="dl-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="dl-advice")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#dl-table", DataTable)
        table.add_column("Status", key="status", width=16)
        table.add_column("File", key="file")
        table.add_column("Detail", key="detail")
        self.check()

    # -- what is needed ------------------------------------------------------------------------------
    def _needed(self) -> tuple:
        """(needed files, notes): the profile's manifest, corrected by the cloned layer when there is one."""
        profile = self.session.profile
        manifest = load_manifest(profile.manifest_path())
        notes = []
        layer = layer_dir(profile, self.session.project)
        machine = self.session.answers.machine or None
        if layer is not None:
            manifest, diffs = cross_check(manifest, layer, [profile.machine(machine).soc])
            notes = [f"layer differs: {d}" for d in diffs]
        return select(manifest, profile, machine, self.session.answers.packages), notes

    # -- the work ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="downloads")
    def check(self) -> None:
        stop = _Stop(get_current_worker())
        call = self.app.call_from_thread
        call(setattr, self, "busy", "checking the downloads")
        try:
            needed, notes = self._needed()

            def staged_note(staged: list) -> None:
                actions: dict = {}
                for s in staged:
                    actions[s.action] = actions.get(s.action, 0) + 1
                notes.append("TensorRT into NoDLA/: " + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())))

            # A missing folder is said once, before any row or bar suggests that something runs; TensorRT is
            # staged as plain mode stages it (the build reads it from NoDLA/; staging twice changes nothing).
            report = verify_step(self.session, needed, notes=notes, stage_first=any(n.entry.staged for n in needed),
                                 on_staged=staged_note, on_folder_ok=lambda: call(self._start_table, needed),
                                 progress=lambda p: call(self._progress, p), on_result=lambda r: call(self._row, r),
                                 cancel=stop)
        except Cancelled:
            call(self._finished, None, "Stopped.")
            return
        except WizardError as e:
            call(self._finished, None, str(e))
            return
        finally:
            call(setattr, self, "busy", "")
        call(self._finished, report, "")

    # -- drawing (main thread) -----------------------------------------------------------------------
    def _start_table(self, needed: list) -> None:
        table = self.query_one("#dl-table", DataTable)
        table.display = self.query_one("#dl-progress-box").display = True
        table.clear()
        self._rows = {}
        for n in needed:
            key = n.entry.rel
            name = key + ("  (recommended)" if not n.required else "")
            table.add_row(self._status_cell("pending"), name, "", key=key)
            self._rows[key] = True
        self.query_one("#dl-advice", Static).update("")
        self.query_one("#dl-overall", Static).update(f"{len(needed)} files to check")
        self.query_one("#dl-bar", ProgressBar).update(total=None, progress=0)

    @staticmethod
    def _status_cell(status: str) -> Text:
        label, colour = STYLE.get(status, (status, "white"))
        return Text(label, style=colour)

    def _row(self, r) -> None:
        if r.rel not in self._rows:
            return
        table = self.query_one("#dl-table", DataTable)
        status = r.status if (r.good or r.needed.required or r.status in ("checking", "pending")) else "warning"
        cell = self._status_cell(status) if status != "warning" else Text(f"! {r.status}", style="yellow")
        table.update_cell(r.rel, "status", cell)
        table.update_cell(r.rel, "detail", r.detail, update_width=True)

    def _progress(self, p) -> None:
        bar = self.query_one("#dl-bar", ProgressBar)
        bar.update(total=p.total or None, progress=p.done)
        self.query_one("#dl-progress", Static).update(p.line())

    def _finished(self, report, error: str) -> None:
        advice = self.query_one("#dl-advice", Static)
        overall = self.query_one("#dl-overall", Static)
        table = self.query_one("#dl-table", DataTable)
        progress = self.query_one("#dl-progress-box")
        if report is None:
            overall.update(Text(error, style="bold red"))
            advice.update("")
            # Nothing was checked: no file rows, no bar.
            table.clear()
            self._rows = {}
            table.display = progress.display = False
        else:
            table.display = progress.display = True
            overall.update(Text(report.summary(), style="bold green" if report.ok else "bold red"))
            text = Text()
            for line in report.advice():
                text.append(f"• {line}\n", style="cyan")
            for note in report.notes:
                text.append(f"note: {note}\n", style="dim")
            advice.update(text)
        self.refresh_nav()

    # -- input ---------------------------------------------------------------------------------------
    @on(Button.Pressed, "#dl-verify")
    def _verify_again(self, event: Button.Pressed) -> None:
        event.stop()
        self._set_folder(self.query_one("#dl-folder", Input).value)
        self.check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "dl-folder":
            self._set_folder(event.value)
            self.check()

    def _set_folder(self, value: str) -> None:
        value = value.strip()
        if value and value != self.session.answers.downloads_dir:
            self.session.update_answers(downloads_dir=value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        pid = (event.checkbox.id or "").removeprefix("dl-pkg-")
        profile = self.session.profile
        chosen = set(self.session.answers.packages)
        if event.value:
            chosen.add(pid)
        else:
            # also drop what needs it (tensorrt needs cudnn), so the answers stay valid
            chosen.discard(pid)
            chosen = {p for p in chosen if pid not in expand_packages([p], profile)}
        packages = expand_packages(sorted(chosen), profile)
        if packages != self.session.answers.packages:
            self.session.update_answers(packages=packages)
        with self.prevent(Checkbox.Changed):
            for p in profile.packages:
                self.query_one(f"#dl-pkg-{p.id}", Checkbox).value = p.id in packages
        self.check()

    # -- moving on -----------------------------------------------------------------------------------
    def can_advance(self) -> tuple:
        ok, why = super().can_advance()
        if not ok and self.session.status(self.STEP_ID) is Status.FAILED:
            return False, "Fix what is shown above, or continue anyway (the build will fail)."
        return ok, why

    def action_continue_anyway(self) -> None:
        if not self.can_continue_anyway():
            return
        bad = self.session.step_state(self.STEP_ID).data.get("bad_files") or []
        listed = "\n  ".join(bad[:8]) + (f"\n  … and {len(bad) - 8} more" if len(bad) > 8 else "")
        question = ("The build reads these files about an hour in and will fail without them:\n  "
                    f"{listed or '(not checked yet)'}\n\nContinue anyway?")

        def answered(yes) -> None:
            if yes:
                StepScreen.action_continue_anyway(self)

        self.app.push_screen(ConfirmScreen(question, yes="Continue anyway", no="Go back"), answered)
