"""--auto: the wizard drives itself, as a person at the keyboard would, for unattended booth demos.

It presses the same buttons and types into the same fields (visibly, with pauses), so the run shows the
real screens doing the real work. It never answers what a person must answer in a real run: it only runs
when the app was started with auto=True, which the command line allows only with --demo.
"""

from __future__ import annotations

import asyncio
import time
from typing import Optional

from textual.widgets import Button, Checkbox, Input

from wizard.core.steps import STEPS, Status

from .base import StepScreen
from .confirm import ConfirmScreen

STEP_TIMEOUT = 600.0


class Autopilot:
    def __init__(self, app, pause: float = 0.8, exit_at_end: bool = False, card: str = "",
                 on_settled=None) -> None:
        self.app, self.pause, self.exit_at_end, self.card = app, pause, exit_at_end, card
        # Called with the step id once each step has done its work (the screenshot script uses it).
        self.on_settled = on_settled

    @property
    def session(self):
        return self.app.session

    async def run(self) -> None:
        while True:
            step = self.app.current_step
            screen: StepScreen = self.app.step_screen(step)
            await self.sleep(self.pause)
            if step == STEPS[-1].id:
                await self.sleep(self.pause * 2)
                if self.on_settled:
                    self.on_settled(step)
                if self.exit_at_end:
                    self.app.exit(self.exit_code())
                return
            if not self.session.status(step).finished:
                act = getattr(self, f"act_{step}", None)
                if act is not None:
                    await act(screen)
            ok = await self.wait_settled(screen)
            await self.sleep(self.pause)
            if self.on_settled:
                self.on_settled(step)
            if ok:
                screen.action_next()
            elif screen.can_continue_anyway():
                screen.action_continue_anyway()
                await self.answer_modal(yes=True)
            else:
                self.app.notify(f"Autopilot stopped at {screen.spec.title}: {screen.can_advance()[1]}",
                                severity="error", timeout=30)
                if self.exit_at_end:
                    await self.sleep(self.pause * 2)
                    self.app.exit(1)
                return
            await self.wait_for(lambda s=step: self.app.current_step != s, 10)

    def exit_code(self) -> int:
        """0 only when every step before the summary is done (none failed, none continued past)."""
        return 0 if all(self.session.status(s.id) is Status.DONE for s in STEPS[:-1]) else 1

    # -- waiting -------------------------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_for(self, cond, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            await asyncio.sleep(0.1)
        return False

    async def wait_settled(self, screen: StepScreen, timeout: float = STEP_TIMEOUT) -> bool:
        """Until the step may advance, or it failed and nothing runs any more."""
        def settled() -> bool:
            if screen.can_advance()[0]:
                return True
            status = self.session.status(screen.STEP_ID)
            return not screen.busy and status is Status.FAILED

        await asyncio.sleep(0.3)
        await self.wait_for(settled, timeout)
        await asyncio.sleep(0.3)
        return screen.can_advance()[0]

    async def answer_modal(self, yes: bool, timeout: float = 3.0) -> None:
        if await self.wait_for(lambda: isinstance(self.app.screen, ConfirmScreen), timeout):
            await self.sleep(self.pause)
            self.app.screen.dismiss(yes)

    async def press(self, screen, selector: str) -> None:
        await self.wait_for(lambda: bool(screen.query(selector)), 10)
        button = screen.query_one(selector, Button)
        await self.wait_for(lambda: not button.disabled, 30)
        button.focus()
        await self.sleep(self.pause / 2)
        button.press()

    async def type_into(self, field: Input, text: str) -> None:
        field.focus()
        field.value = ""
        for ch in text:
            field.value += ch
            await asyncio.sleep(0.06)

    # -- what a person does on each step -------------------------------------------------------------
    async def act_prereqs(self, screen) -> None:
        # Tick what cannot be detected (the account; SDK Manager used on another machine).
        await self.wait_for(lambda: bool(screen.query(Checkbox)), 10)
        for box in list(screen.query(Checkbox)):
            if not box.disabled and not box.value:
                await self.sleep(self.pause / 2)
                box.value = True

    async def act_downloads(self, screen) -> None:
        # The step stages TensorRT and checks by itself: a person only waits for the result.
        await self.wait_for(lambda: not screen.busy, STEP_TIMEOUT)

    async def act_board(self, screen) -> None:
        await self.press(screen, "#board-save")

    async def act_project(self, screen) -> None:
        await self.press(screen, "#project-run")
        await self.wait_for(lambda: screen.busy, 5)

    async def act_localconf(self, screen) -> None:
        await self.press(screen, "#lc-apply")

    async def act_build(self, screen) -> None:
        if self.session.status(screen.STEP_ID) is not Status.RUNNING:
            await self.press(screen, "#build-start")
        await self.wait_for(lambda: self.session.status(screen.STEP_ID) is Status.RUNNING, 10)

    async def act_image(self, screen) -> None:
        fab = self.session.answers.fab
        if fab and screen.query(f"#fab-{fab}"):
            screen.query_one(f"#fab-{fab}").value = True
            await self.sleep(self.pause / 2)
        await self.press(screen, "#image-start")
        await self.wait_for(lambda: screen.busy, 5)

    async def act_flash(self, screen) -> None:
        if not self.card:
            return
        if self.card.startswith("/dev/"):
            table = screen.query_one("#flash-disks")
            if not await self.wait_for(lambda: any(d.path == self.card for d in table.offered), 15):
                return
            disk = next(d for d in table.offered if d.path == self.card)
            table.focus()
            await self.sleep(self.pause)
            table.post_message(table.Picked(disk))
            if not await self.wait_for(lambda: type(self.app.screen).__name__ == "TypedConfirmScreen", 5):
                return
            modal = self.app.screen
            await self.sleep(self.pause)
            await self.type_into(modal.query_one("#typed-input", Input), disk.name)
            await self.sleep(self.pause)
            modal.query_one("#typed-ok", Button).press()
        else:
            # The row sits in a container whose children may mount a moment after the screen does.
            if not await self.wait_for(lambda: bool(screen.query("#flash-file")), 5):
                return
            await self.type_into(screen.query_one("#flash-file", Input), self.card)
            await self.sleep(self.pause / 2)
            screen.pick_file(self.card)
            await self.answer_modal(yes=True, timeout=1.0)
        await self.wait_for(lambda: screen.busy, 5)

    async def act_boot(self, screen) -> None:
        field: Optional[Input] = next(iter(screen.query("#boot-host")), None)
        if field is not None and self.session.answers.board_host and not field.value:
            await self.type_into(field, self.session.answers.board_host)
        await self.press(screen, "#boot-check")
        # First contact: the host-key window. The demo's board is the sandbox's own sshd, so trust it.
        def asking() -> bool:
            return type(self.app.screen).__name__ == "HostKeyScreen"

        def done() -> bool:
            return not screen.busy and self.session.status(screen.STEP_ID) in (Status.DONE, Status.FAILED)

        await self.wait_for(lambda: asking() or done(), 30)
        if asking():
            modal = self.app.screen
            await self.sleep(self.pause * 2)
            modal.query_one("#hostkey-yes", Button).press()
        await self.wait_for(lambda: screen.busy, 5)
