"""The engine must stay importable without textual (headless, CLI, --plain)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tempfile

import wizard


def all_wizard_modules() -> list:
    # wizard.assets is shipped data (profiles, styles, the probe), not engine code.
    return sorted(m.name for m in pkgutil.walk_packages(wizard.__path__, prefix="wizard.")
                  if not m.name.startswith("wizard.assets"))


def test_no_wizard_module_imports_textual():
    mods = all_wizard_modules()
    assert "wizard.core.session" in mods and "wizard.host.doctor" in mods
    code = (
        "import importlib, sys\n"
        f"mods = {mods!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.') or k == 'screens'"
        " or k.startswith('screens.'))\n"
        "print(','.join(bad))\n"
    )
    # From another folder, so the import is the installed package's, as a user gets it.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"wizard modules pulled in: {out.stdout.strip()}"


def test_no_wizard_source_mentions_textual_imports():
    import re
    from pathlib import Path

    pattern = re.compile(r"^\s*(from|import)\s+(textual|screens)\b", re.M)
    offenders = [str(p) for p in Path(wizard.__file__).parent.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


# Which wizard packages each step package may import (core is open to all; build runs in the project's
# environment). The shells (cli, plain, commands, demo) sit on top and are imported by none of them.
STEP_PACKAGES = ("core", "host", "downloads", "project", "build", "card", "board")
ALLOWED = {"core": set(), "build": {"core", "project"}}
SHELLS = ("cli", "plain", "commands", "demo")


def imported_wizard_names(source: str) -> set:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("wizard.") and n.count(".") >= 1}


def test_step_packages_import_only_core_and_build_project():
    from pathlib import Path

    top = Path(wizard.__file__).parent
    on_top = sorted(p.name for p in top.iterdir() if not p.name.startswith((".", "__pycache__")))
    assert on_top == sorted(["__init__.py", "cli.py", "plain.py", "commands", "demo", "assets", *STEP_PACKAGES]
                            ) or on_top == sorted(["__init__.py", "cli.py", "plain.py", "commands", "demo",
                                                   *STEP_PACKAGES])
    offenders = []
    for pkg in STEP_PACKAGES:
        allowed = ALLOWED.get(pkg, {"core"}) | {pkg}
        for path in sorted((top / pkg).rglob("*.py")):
            bad = imported_wizard_names(path.read_text()) - allowed
            offenders += [f"{path.relative_to(top)} imports wizard.{b}" for b in sorted(bad)]
    assert offenders == []


def test_direction_rule_sees_a_forbidden_import():
    assert imported_wizard_names("from wizard.card import disks\nimport wizard.commands.flash\n") == {
        "card", "commands"}
    assert imported_wizard_names("def f():\n    from wizard.build.runner import x\n") == {"build"}
