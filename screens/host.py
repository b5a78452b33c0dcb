"""Step 3: the host check (the same checks as `wrnv-wizard doctor`), with the fix for each problem."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from wizard.core.paths import asset
from wizard.core.steps import may_continue_anyway
from wizard.host.doctor import FAIL, PASS, WARN, check_host

from .base import StepScreen

MARK = {PASS: ("✔", "green"), WARN: ("!", "yellow"), FAIL: ("✖", "red")}


class HostScreen(StepScreen):
    STEP_ID = "host"
    CSS_PATH = str(asset("styles", "host.tcss"))

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="host-actions"):
            yield Static("", id="host-overall")
            yield Button("Check again", id="host-recheck", compact=True)
        yield VerticalScroll(Static("Checking…", id="host-results"), id="host-scroll")

    def on_mount(self) -> None:
        super().on_mount()
        self.recheck()

    @work(thread=True, exclusive=True)
    def recheck(self) -> None:
        self.app.call_from_thread(setattr, self, "busy", "checking the host")
        try:
            checks = check_host(self.session)
        finally:
            self.app.call_from_thread(setattr, self, "busy", "")
        self.app.call_from_thread(self._show, checks)

    def _show(self, checks: list) -> None:
        self._failed = [c.name for c in checks if c.status == FAIL]
        text = Text()
        # What needs doing first, with its fix, above the fold; what passed after it.
        order = {FAIL: 0, WARN: 1, PASS: 2}
        for c in sorted(checks, key=lambda c: order[c.status]):
            mark, colour = MARK[c.status]
            text.append(f"{mark} ", style=f"bold {colour}")
            text.append(c.name, style="bold")
            text.append(f" — {c.detail}\n")
            if c.fix and c.status != PASS:
                text.append("    fix: ", style="dim")
                text.append(f"{c.fix}\n", style="cyan")
        self.query_one("#host-results", Static).update(text)
        counts = {s: sum(c.status == s for c in checks) for s in (PASS, WARN, FAIL)}
        self.query_one("#host-overall", Static).update(
            f"{counts[PASS]} passed, {counts[WARN]} {'warning' if counts[WARN] == 1 else 'warnings'}, "
            f"{counts[FAIL]} failed")
        self.refresh_nav()

    @on(Button.Pressed, "#host-recheck")
    def _recheck_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.recheck()

    def can_continue_anyway(self) -> bool:
        return super().can_continue_anyway() and may_continue_anyway(self.spec, getattr(self, "_failed", ()))

    def can_advance(self) -> tuple:
        ok, why = super().can_advance()
        blocking = set(getattr(self, "_failed", ())) & set(self.spec.blocking)
        if not ok and blocking and not self.busy:
            return False, f"Fix {', '.join(sorted(blocking))} first: the build cannot run without them."
        return ok, why
