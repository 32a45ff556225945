"""The shape the code must keep: size budgets and one place for each kind of thing.

The layering itself (core <- edge, server, simulators <- app; no cycles) is checked by
import-linter in ``scripts/test``; these checks cover what it cannot see.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lineside", "edge", "server", "simulators", "app")
#: Migrations are long by nature: one statement per column of the schema.
EXEMPT = ("server/migrations/",)
MAX_CLASS_LINES = 500
MAX_FUNCTION_LINES = 100


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(EXEMPT):
                continue
            yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def _span(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return (node.end_lineno or node.lineno) - first + 1


def test_no_class_over_500_lines_and_no_function_over_100() -> None:
    too_long = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and _span(node) > MAX_CLASS_LINES:
                too_long.append(f"{relative}:{node.lineno} class {node.name}: {_span(node)}")
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and _span(node) > MAX_FUNCTION_LINES
            ):
                too_long.append(f"{relative}:{node.lineno} def {node.name}: {_span(node)}")
    assert too_long == []


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_one_gs1_parser() -> None:
    """lineside.gs1 parses every code; biip is only the decode benchmark's baseline."""
    users = {
        relative
        for relative, tree in _modules()
        if any(name.split(".")[0] == "biip" for name in _imports(tree))
    }
    assert users <= {"app/bench/decoding.py"}


def test_one_module_makes_mqtt_clients() -> None:
    """Credentials, TLS, sessions and logging are set in lineside.mqtt only."""
    makers = set()
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Client"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "mqtt"
            ):
                makers.add(relative)
    assert makers == {"lineside/mqtt.py"}
