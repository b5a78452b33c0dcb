"""Step 4: Verify downloads — every SDK Manager file the build reads, present and intact, checked up front.

Thin: the engine (wizard.downloads.manifest / verify / nodla) decides; this screen chooses the folder and packages,
shows each file's status as it is found, the progress, and what to do.

At 80 columns a third "Detail" column ran off the right edge: the table has two columns (status, file name fitted
to the width, shortened in the middle so that version and architecture stay) and the highlighted file's whole
name, problem and fix sit under it; after a check the cursor is on the first file to fix.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
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

STATUS_WIDTH = 14     # "✖ bad checksum", the longest status word
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
        self._rows: dict = {}           # row key -> the file's latest result (None: not looked at yet)
        self._names: dict = {}          # row key -> the name shown (whole; fitted to the column when drawn)
        self._doing = ""                # what the running check does now, for the status line

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
        yield Static("", id="dl-row-detail")
        # What to do, one line per action: scrolls (keyboard too) when it is longer than the room left.
        with VerticalScroll(id="dl-advice-scroll"):
            yield Static("", id="dl-advice")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#dl-table", DataTable)
        table.add_column("Status", key="status", width=STATUS_WIDTH)
        table.add_column("File", key="file")
        self.query_one("#dl-row-detail").display = False
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
        call(self._doing_now, "looking at the folder")
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
        self._rows, self._names = {}, {}
        width = self._file_width()
        for n in needed:
            key = n.entry.rel
            self._names[key] = key + ("  (recommended)" if not n.required else "")
            table.add_row(self._status_cell("pending"), fit(self._names[key], width), key=key)
            self._rows[key] = None
        self.query_one("#dl-advice", Static).update("")
        self.query_one("#dl-overall", Static).update(f"{len(needed)} files to check")
        self.query_one("#dl-bar", ProgressBar).update(total=None, progress=0)
        self._doing_now(f"hashing the files, 0 of {len(needed)} done")
        self.query_one("#dl-row-detail").display = True
        self._show_detail(self._cursor_key())
        # A table just shown has no width yet: fit the names once it is laid out.
        self.call_after_refresh(self._refit)

    def _file_width(self) -> int:
        """Room for the file name: the table's width less the status column and the cells' padding."""
        table = self.query_one("#dl-table", DataTable)
        width = table.scrollable_content_region.width
        if not width:           # not laid out yet (hidden until now): _refit runs once it is
            return 10_000
        return max(24, width - STATUS_WIDTH - 4 * table.cell_padding - 1)

    def on_resize(self, _event) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        table = self.query_one("#dl-table", DataTable)
        width = self._file_width()
        for key, name in self._names.items():
            try:
                table.update_cell(key, "file", fit(name, width), update_width=True)
            except Exception:       # the rows were replaced meanwhile
                return

    @staticmethod
    def _status_cell(status: str) -> Text:
        label, colour = STYLE.get(status, (status, "white"))
        return Text(label, style=colour)

    def _row(self, r) -> None:
        if r.rel not in self._rows:
            return
        self._rows[r.rel] = r
        table = self.query_one("#dl-table", DataTable)
        status = r.status if (r.good or r.needed.required or r.status in ("checking", "pending")) else "warning"
        cell = self._status_cell(status) if status != "warning" else Text(f"! {r.status}", style="yellow")
        table.update_cell(r.rel, "status", cell)
        if r.rel == self._cursor_key():
            self._show_detail(r.rel)

    def _progress(self, p) -> None:
        bar = self.query_one("#dl-bar", ProgressBar)
        bar.update(total=p.total or None, progress=p.done)
        self.query_one("#dl-progress", Static).update(p.line())
        done = sum(1 for r in self._rows.values() if r is not None and r.status not in ("checking", "pending"))
        if (p.label or "").startswith("Staging"):
            self._doing_now("copying TensorRT into NoDLA/")
        else:
            self._doing_now(f"hashing the files, {done} of {len(self._rows)} done")

    def _doing_now(self, what: str) -> None:
        if what != self._doing:
            self._doing = what
            self.refresh_nav()

    # -- the highlighted file ------------------------------------------------------------------------
    def _cursor_key(self) -> str:
        table = self.query_one("#dl-table", DataTable)
        if not table.row_count:
            return ""
        try:
            return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value or ""
        except Exception:
            return ""

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._show_detail(event.row_key.value)

    def _show_detail(self, key: str) -> None:
        """The whole name, what was found and what to do, for the highlighted file (wrapped, never cut)."""
        panel = self.query_one("#dl-row-detail", Static)
        if key not in self._rows:
            panel.update("")
            return
        r = self._rows[key]
        text = Text(self._names.get(key, key), style="bold")
        if r is None or r.status == "pending":
            text.append("  waiting to be checked", style="dim")
        elif r.status == "checking":
            text.append("  being checked now", style="cyan")
        else:
            label, colour = STYLE.get(r.status, (r.status, "white"))
            if not r.good and not r.needed.required:
                label, colour = f"! {r.status}", "yellow"
            text.append(f"  {label}", style=colour)
            if r.detail:
                text.append(f": {r.detail}")
            hint = getattr(r, "hint", "")      # a result drawn by a test may carry no fix
            if hint and not r.good:
                text.append(f"\n→ {hint}", style="bold yellow")
        panel.update(text)

    def _first_to_fix(self) -> str:
        bad = [k for k, r in self._rows.items() if r is not None and not r.good]
        required = [k for k in bad if self._rows[k].needed.required]
        return (required or bad or [""])[0]

    def _finished(self, report, error: str) -> None:
        advice = self.query_one("#dl-advice", Static)
        overall = self.query_one("#dl-overall", Static)
        table = self.query_one("#dl-table", DataTable)
        progress = self.query_one("#dl-progress-box")
        detail = self.query_one("#dl-row-detail", Static)
        self._doing = ""
        if report is None:
            overall.update(Text(error, style="bold red"))
            advice.update("")
            # Nothing was checked: no file rows, no bar.
            table.clear()
            self._rows, self._names = {}, {}
            table.display = progress.display = detail.display = False
        else:
            table.display = detail.display = True
            # The result line says it all: on a short terminal the finished bar gives its rows to the files.
            progress.display = not self.has_class("-short")
            overall.update(Text(report.summary(), style="bold green" if report.ok else "bold red"))
            text = Text()
            for line in report.advice():
                text.append(f"• {line}\n", style="cyan")
            for note in report.notes:
                text.append(f"note: {note}\n", style="dim")
            advice.update(text)
            first = self._first_to_fix()
            if first:
                table.move_cursor(row=table.get_row_index(first))
            self._show_detail(first or self._cursor_key())
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
        if self.busy:
            # A re-check runs: say so and what it does, not the last result's "fix what is shown".
            return False, f"Busy: {self._doing or 'checking the downloads'}. Next waits for the result."
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


def fit(name: str, width: int) -> str:
    """`name` in `width` characters: shortened in the middle, keeping its end (version, architecture, the
    "(recommended)" mark), which is what tells two similar files apart."""
    if len(name) <= width:
        return name
    tail = max(8, (width - 1) * 3 // 5)
    head = width - 1 - tail
    return name[:head] + "…" + name[-tail:]
