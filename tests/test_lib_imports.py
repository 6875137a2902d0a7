"""Every relative import in the lib resolves, including the ones inside functions (which only fail when that code
path runs: a moved module once broke the local stack's hosting this way while every module imported cleanly)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import endpoint_runbook

LIB = Path(endpoint_runbook.__file__).resolve().parent


def _relative_imports() -> list[tuple[str, int, str, list[str]]]:
    out = []
    for f in sorted(LIB.rglob("*.py")):
        parts = list(f.relative_to(LIB.parent).with_suffix("").parts)
        pkg = parts[:-1]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                out.append((str(f.relative_to(LIB)), node.lineno, mod, [a.name for a in node.names]))
    return out


def test_every_relative_import_in_the_lib_resolves():
    imports = _relative_imports()
    assert len(imports) > 100  # the walk really saw the lib
    broken = []
    for where, line, mod, names in imports:
        if importlib.util.find_spec(mod) is None:
            broken.append(f"{where}:{line}: no module {mod}")
            continue
        m = importlib.import_module(mod)
        broken += [f"{where}:{line}: {mod} has no {n}" for n in names
                   if n != "*" and not hasattr(m, n) and importlib.util.find_spec(f"{mod}.{n}") is None]
    assert broken == []
