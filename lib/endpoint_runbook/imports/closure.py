"""The complete fix, statically: lay the proposed additions into the archive's files and resolve the imports
again, round after round, until they pass or nothing provides the next module.

A package added in one round can import another the archive lacks (yif-AI's ``future_attention/model.py`` needs
``baseline_transformer``, which no statement of the entry script names): the first round cannot see it, the
second does. Each folder is placed once; a round that adds nothing new ends the search.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .placement import Placement, place_missing
from .records import ImportReport
from .report import resolve_imports
from .sources import SourceIndex

__all__ = ["CompleteFix", "complete_fix", "lay_files"]

MAX_ROUNDS = 8
_JUNK_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache",
                        ".ruff_cache", ".tox", ".eggs"})
_MAX_SOURCE_BYTES = 4 << 20


@dataclass
class CompleteFix:
    """``placements``: what to add, in the order the rounds found it (each source and target once);
    ``unplaced``: what nothing here provides (``unknown``/``requirement``/``move`` placements); ``rounds``: per
    round, the modules found missing; ``report``: the imports with every addition laid in."""

    placements: list[Placement] = field(default_factory=list)
    unplaced: list[Placement] = field(default_factory=list)
    rounds: list[list[str]] = field(default_factory=list)
    report: ImportReport | None = None
    search: str = ""

    @property
    def packages(self) -> list[str]:
        return list(dict.fromkeys(p.package for p in self.placements + self.unplaced))

    @property
    def passes(self) -> bool:
        """The imports resolve with the additions laid in (nothing unplaced, no failing import left)."""
        return not self.unplaced and self.report is not None and not self.report.missing_packages

    def to_dict(self) -> dict[str, Any]:
        return {"placements": [p.to_dict() for p in self.placements], "unplaced": [p.to_dict() for p in self.unplaced],
                "rounds": [list(r) for r in self.rounds], "passes": self.passes, "search": self.search,
                "still_missing": self.report.missing_packages if self.report is not None else []}


def lay_files(files: dict[str, bytes | None], source: str | os.PathLike[str], target: str) -> None:
    """Add ``source`` (a folder or a file on disk) to ``files`` (archive path → bytes) at ``target``: Python
    sources with their text (the resolver reads them), other files by name."""
    src = Path(source)
    target = target.rstrip("/")
    if src.is_file():
        files[target] = _read(src)
        return
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in _JUNK_DIRS and not d.endswith(".egg-info"))
        rel = os.path.relpath(dirpath, src).replace(os.sep, "/")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = f"{target}/{name}" if rel == "." else f"{target}/{rel}/{name}"
            files[path] = _read(Path(dirpath, name))


def _read(path: Path) -> bytes | None:
    if path.suffix != ".py":
        return None
    try:
        return path.read_bytes() if path.stat().st_size <= _MAX_SOURCE_BYTES else None
    except OSError:
        return None


def complete_fix(files: Mapping[str, bytes | None], *, program: str = "inference.py",
                 requirements: list[str] | None = None, image_modules: Iterable[str] | None = None,
                 sources: SourceIndex | Mapping[str, Path | str], include_guarded: bool = True,
                 first: ImportReport | None = None, max_rounds: int = MAX_ROUNDS) -> CompleteFix:
    """Resolve, place what is missing, lay it in, resolve again — until the imports pass, nothing new can be
    placed, or ``max_rounds``. ``first``: the report of ``files`` as they are, when already resolved."""
    index = sources if isinstance(sources, SourceIndex) else SourceIndex(sources)
    laid = dict(files)
    mods = frozenset(image_modules) if image_modules is not None else None
    out = CompleteFix()
    used_sources: set[str] = set()
    used_targets: set[str] = set()
    unplaced: dict[tuple[str, str | None], Placement] = {}
    report = first
    for _ in range(max_rounds):
        if report is None:
            report = resolve_imports(laid, program=program, requirements=requirements, image_modules=mods)
        wanted = place_missing(report, index, include_guarded=include_guarded)
        out.rounds.append([p.submodule or p.package for p in wanted])
        new = False
        for p in wanted:
            if p.action != "copy" or not p.source or not p.target:
                unplaced.setdefault((p.package, p.submodule), p)
                continue
            target = p.target.rstrip("/")
            if p.source in used_sources or target in used_targets:
                continue
            used_sources.add(p.source)
            used_targets.add(target)
            unplaced.pop((p.package, p.submodule), None)
            lay_files(laid, p.source, p.target)
            out.placements.append(p)
            new = True
        if not new:
            break
        report = None
    out.report = report if report is not None else resolve_imports(laid, program=program, requirements=requirements,
                                                                   image_modules=mods)
    still = set(out.report.missing_packages) | set(out.report.guarded_missing_packages)
    out.unplaced = [p for (pkg, _), p in unplaced.items() if pkg in still]
    out.search = index.describe()
    return out
