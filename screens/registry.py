"""Which screen shows which step: step id -> "module:Class", imported only when the step is first shown
(the first frame waits for nothing but the first step's screen)."""

from __future__ import annotations

import importlib

SCREENS = {
    "welcome": "screens.welcome:WelcomeScreen",
    "prereqs": "screens.prereqs:PrereqsScreen",
    "host": "screens.host:HostScreen",
    "downloads": "screens.downloads:DownloadsScreen",
    "board": "screens.board:BoardScreen",
    "project": "screens.project:ProjectScreen",
    "localconf": "screens.localconf:LocalConfScreen",
    "build": "screens.build:BuildScreen",
    "image": "screens.image:ImageScreen",
    "flash": "screens.flash:FlashScreen",
    "boot": "screens.boot:BootScreen",
    "summary": "screens.summary:SummaryScreen",
}


def screen_class(step_id: str):
    module_name, _, cls_name = SCREENS[step_id].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)
