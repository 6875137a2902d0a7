"""Where a missing package's source is on this machine: the ``source_roots`` searched recursively, ranked.

A source root is any local folder (a repository checkout, its ``src/``, the package folder itself). Below it,
every folder named like the package that holds Python (a regular package with ``__init__.py``, or a PEP 420
namespace package: ``.py`` files or regular packages without one) and every ``<pkg>.py`` is a candidate. The walk is bounded in
depth and in folders visited, and skips what never holds a project's own code (VCS folders, virtual
environments, ``node_modules``, build output, caches, installed packages).

Candidates are ranked by what the code imports from the package (:class:`Wanted`): how many of the imported
submodules the candidate has, at the paths the import statements name (its layout matches the import path),
then how many of the imported names it defines, then a regular package over a bare folder, then the
shallower one, then the earlier root. The best is proposed; the runner-up is shown beside it.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .records import ImportRecord

__all__ = ["MAX_DEPTH", "MAX_FOLDERS", "SourceCandidate", "SourceIndex", "Wanted", "wanted_from"]

#: How deep below a source root the search goes, and how many folders it visits in all (the bound).
MAX_DEPTH = 8
MAX_FOLDERS = 20000
#: Folders that never hold the project's own code (and can be huge).
_SKIP = frozenset({"node_modules", "__pycache__", "site-packages", "dist-packages", "build", "dist", "venv",
                   "virtualenv", "htmlcov", "wandb", "mlruns", "lightning_logs"})
_MAX_PARSE_BYTES = 2 << 20


def _skipped(name: str, path: str) -> bool:
    if name.startswith(".") or name in _SKIP or name.endswith((".egg-info", ".dist-info", ".egg")):
        return True
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))  # a virtual environment, whatever its name


@dataclass(frozen=True)
class Wanted:
    """What the code imports from one top-level package: dotted submodules (``pkg.a.b``) and, per module,
    the names ``from <module> import <names>`` takes."""

    package: str
    modules: tuple[str, ...] = ()
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()


def wanted_from(package: str, records: Iterable[ImportRecord]) -> Wanted:
    """The :class:`Wanted` of ``package`` from the import records that name it."""
    modules: dict[str, None] = {}
    names: dict[str, dict[str, None]] = {}
    for r in records:
        if r.package != package or r.module.startswith("."):
            continue
        base = r.module
        if r.status == "circular":  # "pkg.mod.Name" records the name, not a module
            continue
        modules[base] = None
        if r.kind == "from":
            try:
                node = ast.parse(r.statement).body[0]
            except (SyntaxError, IndexError, ValueError):
                continue
            if isinstance(node, ast.ImportFrom) and not node.level:
                names.setdefault(base, {}).update({a.name: None for a in node.names if a.name != "*"})
    return Wanted(package, tuple(modules), tuple((m, tuple(n)) for m, n in names.items()))


@dataclass(frozen=True)
class SourceCandidate:
    """A folder (or ``<pkg>.py``) that may be the package. ``layout``/``names``: how many of the wanted
    submodules / imported names it has, out of ``layout_of``/``names_of``."""

    label: str
    root: Path
    path: Path
    kind: str  # package | namespace | module
    depth: int
    root_index: int
    layout: int = 0
    layout_of: int = 0
    names: int = 0
    names_of: int = 0
    missing: tuple[str, ...] = field(default=(), compare=False)

    @property
    def rank(self) -> tuple[int, int, int, int, int]:
        return (self.layout, self.names, int(self.kind != "namespace"), -self.depth, -self.root_index)

    @property
    def rel_parent(self) -> str:
        """The candidate's folder relative to its source root ('' for a top-level one; '..' for the root itself)."""
        try:
            rel = self.path.parent.relative_to(self.root)
        except ValueError:
            return ".."
        return "" if str(rel) == "." else rel.as_posix()

    def why(self) -> str:
        bits = [{"package": "a package", "namespace": "a namespace package (no __init__.py)",
                 "module": "a module"}[self.kind]]
        if self.layout_of:
            bits.append(f"has {self.layout} of the {self.layout_of} submodules the code imports")
        if self.names_of:
            bits.append(f"defines {self.names} of the {self.names_of} names the code imports")
        if self.missing:
            bits.append(f"lacks {', '.join(self.missing[:3])}")
        return ", ".join(bits)

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.path), "root": self.label, "kind": self.kind, "why": self.why()}


class SourceIndex:
    """The source roots walked once (bounded), then asked per package: :meth:`candidates`."""

    def __init__(self, roots: Mapping[str, Path | str], *, max_depth: int = MAX_DEPTH,
                 max_folders: int = MAX_FOLDERS):
        self.roots = {label: Path(p) for label, p in roots.items()}
        self.max_depth, self.max_folders = max_depth, max_folders
        self.folders_seen = 0
        self.truncated = False
        self._dirs: dict[str, list[tuple[int, str, int]]] | None = None
        self._mods: dict[str, list[tuple[int, str, int]]] = {}

    def _build(self) -> None:
        dirs: dict[str, list[tuple[int, str, int]]] = {}
        mods: dict[str, list[tuple[int, str, int]]] = {}
        for i, root in enumerate(self.roots.values()):
            if not root.is_dir():
                continue
            dirs.setdefault(root.name, []).append((i, str(root), 0))
            stack = [(str(root), 0)]
            while stack:
                folder, depth = stack.pop()
                self.folders_seen += 1
                if self.folders_seen > self.max_folders:
                    self.truncated = True
                    break
                try:
                    entries = list(os.scandir(folder))
                except OSError:
                    continue
                for e in entries:
                    name = e.name
                    try:
                        is_dir = e.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir:
                        if _skipped(name, e.path):
                            continue
                        dirs.setdefault(name, []).append((i, e.path, depth + 1))
                        if depth + 1 < self.max_depth:
                            stack.append((e.path, depth + 1))
                    elif name.endswith(".py"):
                        mods.setdefault(name[:-3], []).append((i, e.path, depth + 1))
            if self.truncated:
                break
        self._dirs, self._mods = dirs, mods

    def candidates(self, wanted: Wanted | str) -> list[SourceCandidate]:
        """Every candidate for the package, best first (see the module docstring)."""
        if isinstance(wanted, str):
            wanted = Wanted(wanted)
        if self._dirs is None:
            self._build()
        assert self._dirs is not None
        labels = list(self.roots)
        pkg = wanted.package
        out: list[SourceCandidate] = []
        for i, path, depth in self._dirs.get(pkg, []):
            kind = _package_kind(Path(path))
            if kind is None or (depth == 0 and kind != "package"):
                continue  # a checkout named like its package is not the package unless it is a regular one
            out.append(_scored(SourceCandidate(labels[i], self.roots[labels[i]], Path(path), kind, depth, i), wanted))
        for i, path, depth in self._mods.get(pkg, []):
            out.append(_scored(SourceCandidate(labels[i], self.roots[labels[i]], Path(path), "module", depth, i),
                               wanted))
        out.sort(key=lambda c: str(c.path))  # ties go to the first by path, whatever order the disk lists
        return sorted(out, key=lambda c: c.rank, reverse=True)

    def describe(self) -> str:
        where = ", ".join(str(p) for p in self.roots.values()) or "no source roots"
        bound = (f" (the search stopped at its bound: {self.max_folders} folders, depth {self.max_depth})"
                 if self.truncated else "")
        return f"searched {where} to depth {self.max_depth}{bound}"


def _package_kind(path: Path) -> str | None:
    """``package`` (``__init__.py``), ``namespace`` (PEP 420: Python files, or only regular packages, below it
    without one: ``realesrgan/realesrgan/__init__.py`` imported as ``realesrgan.realesrgan``), else None."""
    if (path / "__init__.py").is_file():
        return "package"
    try:
        children = list(path.iterdir())
        if any(c.suffix == ".py" and c.is_file() for c in children):
            return "namespace"
        return "namespace" if any(c.is_dir() and (c / "__init__.py").is_file() for c in children) else None
    except OSError:
        return None


def _module_file(base: Path, parts: list[str]) -> Path | None:
    """The file (or folder) of submodule ``parts`` below the package folder ``base``, if it exists."""
    if not parts:
        return base if base.exists() else None
    p = base.joinpath(*parts)
    if (p.parent / f"{parts[-1]}.py").is_file():
        return p.parent / f"{parts[-1]}.py"
    if p.is_dir():
        return p
    try:
        for c in p.parent.iterdir():
            if c.name.startswith(parts[-1] + ".") and c.suffix in (".so", ".pyd"):
                return c
    except OSError:
        return None
    return None


def _defined_names(path: Path) -> set[str] | None:
    """Top-level names a module binds (defs, classes, assignments, imports); None when it cannot be read."""
    f = path / "__init__.py" if path.is_dir() else path
    if f.suffix != ".py" or not f.is_file():
        return None
    try:
        if f.stat().st_size > _MAX_PARSE_BYTES:
            return None
        tree = ast.parse(f.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    out: set[str] = set()
    _bind(tree.body, out)
    return out


def _bind(body: list[ast.stmt], out: set[str]) -> None:
    """Names bound at module level (through if/try/with blocks, not inside functions or classes)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                out.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for block in ("body", "orelse", "finalbody"):
                _bind(getattr(node, block, []) or [], out)
            for h in getattr(node, "handlers", []) or []:
                _bind(h.body, out)


def _scored(c: SourceCandidate, wanted: Wanted) -> SourceCandidate:
    subs = [m.split(".")[1:] for m in wanted.modules if "." in m]
    layout, missing = 0, []
    for parts in subs:
        if c.kind == "module":
            missing.append(".".join([wanted.package, *parts]))
            continue
        if _module_file(c.path, parts) is not None:
            layout += 1
        else:
            missing.append(".".join([wanted.package, *parts]))
    names = names_of = 0
    for module, imported in wanted.names:
        parts = module.split(".")[1:]
        target = c.path if not parts else (None if c.kind == "module" else _module_file(c.path, parts))
        defined = _defined_names(target) if target is not None else None
        for n in imported:
            names_of += 1
            if defined is not None and n in defined:
                names += 1
            elif target is not None and target.is_dir() and _module_file(target, [n]) is not None:
                names += 1  # ``from pkg import sub``: a submodule
    return replace(c, layout=layout, layout_of=len(subs), names=names, names_of=names_of, missing=tuple(missing))
