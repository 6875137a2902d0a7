"""The lib's layout (issue 27): no import cycle among its modules, no module over 600 lines outside ``local/``,
dependencies one way (steps → domains → plumbing; ``render/`` reads results and imports nothing that calls AWS).

What counts as an edge of the import graph: every ``import`` / ``from … import`` statement of a module of the
lib, wherever it is -- at module level, inside a function, under ``if TYPE_CHECKING`` -- because an import inside
a function only defers the loop to the call that runs it. ``from pkg import name`` is an edge to ``pkg.name``
when that is a module, else to ``pkg`` (its ``__init__``). The implicit import of a submodule's parent packages
is not an edge (a package's ``__init__`` importing its own submodules is how packages work, not a loop).
"""

from __future__ import annotations

import ast
from pathlib import Path

import endpoint_runbook

LIB = Path(endpoint_runbook.__file__).resolve().parent
MAX_LINES = 600

#: The plumbing every layer may use; it uses nothing above it.
PLUMBING = {"aws", "s3", "errors", "findings", "records", "step_records", "progress", "permissions", "params"}
#: The domains: what the steps are made of.
DOMAINS = {"archive", "imports", "logs", "serving", "cleanup", "fleet", "endpoint", "invocation", "local"}


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name → file, for every module of the package at ``root`` (a package is its ``__init__``)."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports (module-level and function-level imports alike)."""
    mods = module_names(root)
    top = root.name

    def owner(name: str) -> str | None:  # the module a dotted name lives in (a.b.C → a.b)
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, f in mods.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t.split(".")[0] == top and (o := owner(t)) and o != mod:
                    graph[mod].add(o)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def long_modules(root: Path, limit: int = MAX_LINES, skip: tuple[str, ...] = ("local",)) -> dict[str, int]:
    """Modules over ``limit`` lines, outside the top-level packages named in ``skip``."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        if rel.parts[0] in skip:
            continue
        n = len(f.read_text().splitlines())
        if n > limit:
            out[str(rel)] = n
    return out


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# ---------------------------------------------------------------------------------------------- the checks


def test_the_walk_sees_every_kind_of_import_and_finds_the_loop_they_make(tmp_path):
    pkg = _write(tmp_path / "pkg", {
        "__init__.py": "from .a import A\n",
        "a.py": "from . import b\nA = 1\n",                           # from-package import of a module
        "b.py": "def f():\n    from .c import C\n    return C\n",      # function-level
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\nC = 2\n",
        "d.py": "from .sub import thing\nfrom .sub.deep import x\nimport json\n",  # package __init__, submodule
        "sub/__init__.py": "thing = 1\n",
        "sub/deep.py": "from ..a import A as x\n",
    })
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"},
                     "pkg.d": {"pkg.sub", "pkg.sub.deep"}, "pkg.sub": set(), "pkg.sub.deep": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    (pkg / "c.py").write_text("C = 2\n")  # the loop broken: nothing left to report
    assert cycles(import_graph(pkg)) == []


def test_no_import_cycle_in_the_lib():
    graph = import_graph(LIB)
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # the walk really saw the lib
    # A known edge of each kind: module level, and inside a function.
    assert "endpoint_runbook.aws" in graph["endpoint_runbook.s3"]
    assert "endpoint_runbook.endpoint.names" in graph["endpoint_runbook.policy"]
    assert cycles(graph) == []


def test_the_line_count_flags_a_long_module_and_skips_local(tmp_path):
    pkg = _write(tmp_path / "pkg", {"ok.py": "x = 1\n" * MAX_LINES, "long.py": "x = 1\n" * (MAX_LINES + 1),
                                     "local/big.py": "x = 1\n" * 2000, "sub/long.py": "x = 1\n" * 700})
    assert long_modules(pkg) == {"long.py": MAX_LINES + 1, "sub/long.py": 700}


def test_no_module_over_600_lines_outside_local():
    assert long_modules(LIB) == {}
    assert long_modules(LIB, limit=400)  # the count really reads the lib's files


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "entry"  # the package's __init__
    head = parts[1]
    if head in PLUMBING:
        return "plumbing"
    if head in DOMAINS:
        return "domain"
    if head in ("steps", "render"):
        return head
    return "entry"  # cli, runner, policy: what a user calls


def test_dependencies_run_one_way():
    """Plumbing uses only plumbing; domains use domains and plumbing (never a step or the rendering); steps never
    render nor reach the entry points; rendering imports no AWS plumbing (it reads results and records)."""
    allowed = {"plumbing": {"plumbing"}, "domain": {"domain", "plumbing"}, "steps": {"steps", "domain", "plumbing"},
               "render": {"render", "steps", "domain", "plumbing"}}
    graph = import_graph(LIB)
    layers = {m: _layer(m) for m in graph}
    assert {"plumbing", "domain", "steps", "render", "entry"} <= set(layers.values())
    wrong = sorted(f"{m} ({layers[m]}) imports {t} ({layers[t]})" for m, ts in graph.items() for t in ts
                   if layers[m] in allowed and layers[t] not in allowed[layers[m]])
    assert wrong == []
    aws = {"endpoint_runbook.aws", "endpoint_runbook.s3"}
    render_aws = sorted(f"{m} imports {t}" for m, ts in graph.items() if layers[m] == "render" for t in ts & aws)
    assert render_aws == []
    third_party = []
    for f in (LIB / "render").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            third_party += [f"{f.name}: {n}" for n in names if n.split(".")[0] in ("boto3", "botocore")]
    assert third_party == []
