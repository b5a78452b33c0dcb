"""steps.py says what adding a step takes; this holds the parts that can be checked for every step."""

from __future__ import annotations

import importlib

import pytest

from wizard.commands import COMMANDS
from wizard.core.steps import STEPS
from wizard.plain import PlainRun


@pytest.mark.parametrize("spec", STEPS, ids=lambda s: s.id)
def test_every_step_has_a_screen_a_plain_step_and_its_command(spec):
    from screens.registry import SCREENS, screen_class

    assert spec.id in SCREENS, f"add {spec.id} to screens/registry.py"
    assert screen_class(spec.id).__module__ != "screens.placeholder", f"the screen for {spec.id} is missing"
    assert callable(getattr(PlainRun, f"step_{spec.id}", None)), f"add PlainRun.step_{spec.id} to wizard/plain.py"
    if spec.cli:
        assert spec.cli in COMMANDS, f"{spec.id} names the command {spec.cli!r}, which is not in COMMANDS"
        mod = importlib.import_module(COMMANDS[spec.cli])
        assert callable(mod.run) and callable(mod.add_arguments)
