"""No internal words where a user reads: the strings of the engine and the screens, the shipped texts, the
profile's values and every command's --help. Words from the project's own research ("seed", "anchor") mean
nothing to a user; docstrings and comments are for us and are not scanned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
INTERNAL = re.compile(r"\b(seed|anchors?|research brief)\b", re.IGNORECASE)


def _docstring_nodes(tree) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def code_strings(path: Path) -> list:
    """(line, text) of every string literal in a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstring_nodes(tree)
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def _toml_strings(value, where=""):
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _toml_strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _toml_strings(v, f"{where}[{i}]")


def test_the_scanner_finds_a_planted_word(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text('"""Docstrings may say seed."""\nX = f"Run the seed\'s demo on {1}"\n# seed in a comment\n')
    hits = [t for _, t in code_strings(planted) if INTERNAL.search(t)]
    assert hits == ["Run the seed's demo on "]


@pytest.mark.parametrize("folder", ["wizard", "screens"])
def test_no_internal_words_in_code_strings(folder):
    hits = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for line, text in code_strings(path):
            if INTERNAL.search(text):
                hits.append(f"{path.relative_to(REPO)}:{line}: {text.strip()[:90]}")
    assert not hits, "internal words in user-visible strings:\n" + "\n".join(hits)


def test_no_internal_words_in_shipped_texts_and_profiles():
    hits = []
    for path in sorted((REPO / "assets" / "text").glob("*")):
        hits += [f"{path.name}: {m.group(0)}" for m in INTERNAL.finditer(path.read_text(encoding="utf-8"))]
    for path in sorted((REPO / "assets" / "profiles").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        hits += [f"{path.name}{where}: {text[:80]}" for where, text in _toml_strings(data) if INTERNAL.search(text)]
    assert not hits, "\n".join(hits)


def test_no_internal_words_in_any_help():
    from wizard.cli import build_parser
    from wizard.commands import COMMANDS

    texts = [build_parser(only="").format_help()]
    for name in COMMANDS:
        parser = build_parser(only=name)
        sub = next(a for a in parser._actions if a.dest == "command")
        texts.append(sub.choices[name].format_help())
    hits = [m.group(0) for t in texts for m in INTERNAL.finditer(t)]
    assert len(texts) == len(COMMANDS) + 1 and not hits, hits
