"""Where a missing package goes in the archive, and where it comes from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from .records import MODULE_TO_DIST, ImportReport
from .report import placement_base

__all__ = ["Placement", "place_package", "suggest_placement"]


@dataclass(frozen=True)
class Placement:
    """Where a missing package goes in the archive, and where it comes from.

    ``action``: ``copy`` (from ``source``, a local folder), ``move`` (``source`` is an archive path off the
    import path), ``requirement`` (a published distribution: add ``requirement`` to code/requirements.txt),
    ``unknown`` (no source found: name the folder yourself).
    """

    package: str
    action: Literal["copy", "move", "requirement", "unknown"]
    target: str | None
    source: str | None = None
    source_label: str | None = None
    requirement: str | None = None
    guarded: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggest_placement(report: ImportReport, available_source_dirs: Mapping[str, Path | str]) -> list[Placement]:
    """For each missing top-level package (unguarded first, then guarded ones), where to put it: once, in the
    folder this script imports it from.

    Target: ``code/<pkg>/`` (on the import path without any code change), or ``<dir>/<pkg>/`` when the
    script itself adds ``/opt/ml/model/<dir>`` to ``sys.path`` before the import (e.g. ``src/<pkg>/``, the
    layout it expects). Source: the first of ``available_source_dirs`` (label → folder, e.g. a repository
    checkout) that has ``src/<pkg>/``, ``<pkg>/`` (a folder with ``.py`` files), is itself the package (named
    ``<pkg>`` with an ``__init__.py``), or has ``src/<pkg>.py`` or ``<pkg>.py``; else the archive's own
    off-path copy; else a known distribution.
    """
    out: list[Placement] = []
    for pkg, guarded in [(p, False) for p in report.missing_packages] + \
                        [(p, True) for p in report.guarded_missing_packages]:
        out.append(place_package(pkg, report, available_source_dirs, guarded=guarded))
    return out


def place_package(pkg: str, report: ImportReport | None, available_source_dirs: Mapping[str, Path | str], *,
                  guarded: bool = False) -> Placement:
    """Where one package goes (see :func:`suggest_placement`); ``report`` may be None (only the logs name it)."""
    off_path: dict[str, list[str]] = {}
    recs = []
    if report is not None:
        for f in report.findings:
            if f.code == "source-outside-import-path" and "package" in f.data:
                off_path[f.data["package"]] = list(f.data.get("found", []))
        recs = [r for r in report.imports if r.package == pkg and r.fails and r.runs]
    base = placement_base(report, [r for r in recs if not r.guarded] or recs) if report is not None else "code"
    why = (f"the script adds /opt/ml/model/{base} to sys.path before it imports {pkg!r}" if base != "code"
           else "code/ is on the import path, no code change needed")
    src = _local_source(pkg, available_source_dirs)
    if src is not None:
        label, path = src
        target = f"{base}/{pkg}.py" if path.suffix == ".py" else f"{base}/{pkg}/"
        return Placement(pkg, "copy", target, str(path), label, guarded=guarded, reason=f"found at {path}; {why}")
    if pkg in off_path:
        here = off_path[pkg][0]
        target = f"{base}/{pkg}.py" if here.endswith(".py") else f"{base}/{pkg}/"
        return Placement(pkg, "move", target, here, "archive", guarded=guarded,
                         reason=f"the archive has it at {here}, off the import path; {why}")
    if pkg in MODULE_TO_DIST:
        return Placement(pkg, "requirement", "code/requirements.txt", requirement=MODULE_TO_DIST[pkg],
                         guarded=guarded, reason=f"{pkg!r} is published as {MODULE_TO_DIST[pkg]!r}")
    return Placement(pkg, "unknown", f"{base}/{pkg}/", guarded=guarded,
                     reason="no local folder provides it; name the source folder, or add its "
                     "distribution to code/requirements.txt if it is published")


def _local_source(pkg: str, dirs: Mapping[str, Path | str]) -> tuple[str, Path] | None:
    for label, root in dirs.items():
        root = Path(root)
        for cand in (root / "src" / pkg, root / pkg):
            if _is_package_dir(cand):
                return label, cand
        # The package folder itself (a regular package: a repo named like its package is not one).
        if root.name == pkg and (root / "__init__.py").is_file():
            return label, root
        for cand in (root / "src" / f"{pkg}.py", root / f"{pkg}.py"):
            if cand.is_file():
                return label, cand
    return None


def _is_package_dir(p: Path) -> bool:
    if not p.is_dir():
        return False
    if (p / "__init__.py").is_file():
        return True
    try:
        return any(c.suffix == ".py" for c in p.iterdir())
    except OSError:
        return False
