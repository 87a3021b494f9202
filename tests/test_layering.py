"""The layering of ../shared/DESIGN.md, read from the import statements of every package.

Imports point down only: proto < sim < render, scenarios < policies_api, evaluation < tools.
A module may import its own package and those below it, never one beside or above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ALLOWED = {
    "proto": set(),
    "sim": set(),
    "render": {"sim"},
    "scenarios": {"sim"},
    "policies_api": {"sim", "render", "scenarios", "proto"},
    "evaluation": {"sim", "render", "scenarios", "proto", "policies_api"},
    "tools": {"sim", "render", "scenarios", "proto", "policies_api", "evaluation"},
}
MAX_LINES = 700
MAX_TOOLS_LINES = 250


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / package).rglob("*.py") if "_pb2" not in p.name)


def _first_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package):
    wrong = {str(p.relative_to(REPO_ROOT)): sorted(_first_party_imports(p) - ALLOWED[package] - {package})
             for p in _sources(package)}
    assert not {k: v for k, v in wrong.items() if v}, "imports against the layering of DESIGN.md"


def test_modules_stay_small_enough_to_read():
    sizes = {str(p.relative_to(REPO_ROOT)): len(p.read_text().splitlines())
             for package in (*ALLOWED, "tests", "examples") for p in _sources(package)}
    assert not {k: n for k, n in sizes.items() if n > MAX_LINES}
    assert not {k: n for k, n in sizes.items() if k.startswith("tools/") and n > MAX_TOOLS_LINES}
