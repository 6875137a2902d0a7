"""Where a missing package goes in the archive, and where it comes from."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .records import MODULE_TO_DIST, ImportRecord, ImportReport
from .report import placement_base
from .sources import SourceCandidate, SourceIndex, _module_file, wanted_from
from .walk import PARTIAL_NOTE

__all__ = ["Placement", "place_missing", "place_package", "suggest_placement"]

Sources = Mapping[str, Path | str] | SourceIndex


@dataclass(frozen=True)
class Placement:
    """Where a missing package goes in the archive, and where it comes from.

    ``action``: ``copy`` (from ``source``, a local folder), ``move`` (``source`` is an archive path off the
    import path), ``requirement`` (a published distribution: add ``requirement`` to code/requirements.txt),
    ``unknown`` (no source found: name the folder yourself). ``submodule``: the package is in the archive and
    only this module of it is not (then ``source``/``target`` are that file). ``runner_up``: the next best local
    candidate, when there was one.
    """

    package: str
    action: Literal["copy", "move", "requirement", "unknown"]
    target: str | None
    source: str | None = None
    source_label: str | None = None
    requirement: str | None = None
    guarded: bool = False
    reason: str = ""
    submodule: str | None = None
    runner_up: dict[str, Any] | None = field(default=None, compare=False)
    source_kind: str | None = None  # package | namespace | module: what the chosen local source is

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _index(dirs: Sources) -> SourceIndex:
    return dirs if isinstance(dirs, SourceIndex) else SourceIndex(dirs)


def suggest_placement(report: ImportReport, available_source_dirs: Sources) -> list[Placement]:
    """For each missing top-level package (unguarded first, then guarded ones), where to put it: once, in the
    folder this script imports it from.

    Target: ``code/<pkg>/`` (on the import path without any code change), or ``<dir>/<pkg>/`` when the
    script itself adds ``/opt/ml/model/<dir>`` to ``sys.path`` before the import (e.g. ``src/<pkg>/``, the
    layout it expects; the folder the source sits in below its root decides between several). Source: the best
    ranked candidate below ``available_source_dirs`` (label → folder, e.g. a repository checkout; searched
    recursively, see :mod:`.sources`); else the archive's own off-path copy; else a known distribution.
    """
    index = _index(available_source_dirs)
    out: list[Placement] = []
    for pkg, guarded in [(p, False) for p in report.missing_packages] + \
                        [(p, True) for p in report.guarded_missing_packages]:
        out.append(place_package(pkg, report, index, guarded=guarded))
    return out


def place_missing(report: ImportReport, available_source_dirs: Sources, *,
                  include_guarded: bool = True) -> list[Placement]:
    """Every addition the report asks for: one placement per missing package, or per missing module of a package
    the archive has. Guarded imports (a degraded path) are included only when a local source provides them."""
    index = _index(available_source_dirs)
    out: list[Placement] = []
    pkgs = [(p, False) for p in report.missing_packages]
    if include_guarded:
        pkgs += [(p, True) for p in report.guarded_missing_packages]
    for pkg, guarded in pkgs:
        partial = _partial_records(report, pkg)
        if partial:
            seen: set[str] = set()
            for rec in partial:
                m = PARTIAL_NOTE.match(rec.note or "")
                if m and m.group("missing") not in seen:
                    seen.add(m.group("missing"))
                    out.append(_place_submodule(pkg, report, index, m.group("found"), m.group("at"),
                                                m.group("missing"), guarded))
            continue
        p = place_package(pkg, report, index, guarded=guarded)
        if guarded and p.action != "copy":
            continue
        out.append(p)
    return out


def _running_failures(report: ImportReport | None, pkg: str) -> list[ImportRecord]:
    if report is None:
        return []
    return [r for r in report.imports if r.package == pkg and r.fails and r.runs]


def _partial_records(report: ImportReport | None, pkg: str) -> list[ImportRecord]:
    return [r for r in _running_failures(report, pkg) if PARTIAL_NOTE.match(r.note or "")]


def _base(report: ImportReport | None, recs: list[ImportRecord], best: SourceCandidate | None) -> str:
    """Where the package goes: the folder its source sits in below its root when the script itself puts that
    folder on sys.path before the import (``src`` for ``<repo>/src/<pkg>``, the root for ``<repo>/<pkg>`` when
    the script appends /opt/ml/model), else :func:`placement_base`."""
    if report is None:
        return "code"
    deciding = [r for r in recs if not r.guarded] or recs
    if best is not None:
        added = {s.archive_dir for s in report.sys_path if s.applied and s.archive_dir is not None}
        rel = best.rel_parent
        if rel in added and rel != "code" and all(rel in r.search_path for r in deciding if r.search_path):
            return rel
    return placement_base(report, deciding)


def _why_base(base: str, pkg: str) -> str:
    if base == "code":
        return "code/ is on the import path, no code change needed"
    return f"the script adds /opt/ml/model{'/' + base if base else ''} to sys.path before it imports {pkg!r}"


def _runner_up(cands: list[SourceCandidate]) -> dict[str, Any] | None:
    return cands[1].to_dict() if len(cands) > 1 else None


def place_package(pkg: str, report: ImportReport | None, available_source_dirs: Sources, *,
                  guarded: bool = False) -> Placement:
    """Where one package goes (see :func:`suggest_placement`); ``report`` may be None (only the logs name it)."""
    off_path: dict[str, list[str]] = {}
    if report is not None:
        for f in report.findings:
            if f.code == "source-outside-import-path" and "package" in f.data:
                off_path[f.data["package"]] = list(f.data.get("found", []))
    recs = _running_failures(report, pkg)
    index = _index(available_source_dirs)
    cands = index.candidates(wanted_from(pkg, report.imports if report is not None else []))
    best = cands[0] if cands else None
    base = _base(report, recs, best)
    why = _why_base(base, pkg)
    if best is not None:
        path = best.path
        name = f"{pkg}.py" if best.kind == "module" else f"{pkg}/"
        target = posixpath.join(base, name) if base else name
        runner = _runner_up(cands)
        also = f"; runner-up {runner['source']} ({runner['why']})" if runner else ""
        return Placement(pkg, "copy", target, str(path), best.label, guarded=guarded,
                         reason=f"found at {path} ({best.why()}){also}; {why}", runner_up=runner,
                         source_kind=best.kind)
    if pkg in off_path:
        here = off_path[pkg][0]
        name = f"{pkg}.py" if here.endswith(".py") else f"{pkg}/"
        return Placement(pkg, "move", posixpath.join(base, name) if base else name, here, "archive", guarded=guarded,
                         reason=f"the archive has it at {here}, off the import path; {why}")
    if pkg in MODULE_TO_DIST:
        return Placement(pkg, "requirement", "code/requirements.txt", requirement=MODULE_TO_DIST[pkg],
                         guarded=guarded, reason=f"{pkg!r} is published as {MODULE_TO_DIST[pkg]!r}")
    searched = f" ({index.describe()})" if index.roots else ""
    return Placement(pkg, "unknown", posixpath.join(base, f"{pkg}/") if base else f"{pkg}/", guarded=guarded,
                     reason=f"no local folder provides it{searched}; name the source folder, or add its "
                     "distribution to code/requirements.txt if it is published")


def _place_submodule(pkg: str, report: ImportReport, index: SourceIndex, found: str, at: str, missing: str,
                     guarded: bool) -> Placement:
    """The package is in the archive (``found`` at ``at``) but its module ``missing`` is not: add that file (or
    folder) from the best local copy of the package that has it."""
    rest = missing.split(".")[len(found.split(".")):]
    leaf = rest[0] if rest else missing.rsplit(".", 1)[-1]
    first_missing = ".".join([found, leaf])
    parts = first_missing.split(".")[1:]
    cands = [c for c in index.candidates(wanted_from(pkg, report.imports)) if c.kind != "module"]
    having = [(c, f) for c in cands for f in [_module_file(c.path, parts)] if f is not None]
    head = f"{found} is in the archive ({at}) but {first_missing} is not"
    if not having:
        searched = f" ({index.describe()})" if index.roots else ""
        return Placement(pkg, "unknown", posixpath.join(at, f"{leaf}.py"), guarded=guarded, submodule=first_missing,
                         reason=f"{head}; no local copy of {pkg!r} has it{searched}: add the file "
                         f"{posixpath.join(at, leaf)}.py (or the folder {posixpath.join(at, leaf)}/) yourself")
    c, f = having[0]
    target = posixpath.join(at, f.name + ("/" if f.is_dir() else ""))
    runner = having[1][0].to_dict() if len(having) > 1 else None
    return Placement(pkg, "copy", target, str(f), c.label, guarded=guarded, submodule=first_missing,
                     reason=f"{head}: add that file, from {f}", runner_up=runner)
