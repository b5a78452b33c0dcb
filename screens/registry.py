"""Which screen shows which step: step id -> "module:Class". A missing module shows a placeholder,
so the shell runs while a step's screen is still being written."""

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
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        from .placeholder import PlaceholderScreen

        return PlaceholderScreen
    return getattr(module, cls_name)
