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
    assert "wizard.session" in mods and "wizard.doctor" in mods
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
