"""check-archive's decision: the layout lint reconciled with the script's own import path, the import
findings, and the exit code (1 only when the analysis shows the worker will fail)."""

from __future__ import annotations

from collections.abc import Mapping

from ..findings import Finding
from .records import MODEL_DIR, ImportReport
from .report import resolve_imports

__all__ = ["archive_gate", "exit_code", "reconcile_layout"]

#: Layout findings after which the serving code cannot be located, so its imports are not resolved.
_NO_ENTRY = ("missing-entry-script", "nested-top-folder")


def archive_gate(layout: list[Finding], sources: Mapping[str, bytes | None], program: str, *,
                 requirements: list[str] | None = None,
                 image_modules: set[str] | frozenset[str] | None = None) -> tuple[list[Finding], ImportReport | None]:
    """Layout findings (``archive.lint``) + static import resolution, as one list without contradictions."""
    if any(f.code in _NO_ENTRY for f in layout):
        return list(layout), None
    if requirements is None:
        raw = sources.get("code/requirements.txt") or b""
        requirements = raw.decode("utf-8", "replace").splitlines()
    report = resolve_imports(sources, program=program, requirements=requirements, image_modules=image_modules)
    return reconcile_layout(layout, report) + [f for f in report.findings if f.code != "missing-entry-script"], report


def reconcile_layout(layout: list[Finding], report: ImportReport) -> list[Finding]:
    """The lint judges "outside the import path" against the default path (code/, the model root); the
    script's own ``sys.path`` additions change it. Packages the import findings already name are not
    repeated."""
    named = {f.data.get("package") for f in report.findings if f.code == "source-outside-import-path"}
    out = [f for f in layout if f.code != "source-outside-import-path"]
    off = [d for d in report.off_path if d.rsplit("/", 1)[-1] not in named]
    if off:
        shown = ", ".join(f"{MODEL_DIR}/{d}" if d else MODEL_DIR for d in report.import_path)
        out.append(Finding(
            "source-outside-import-path", "warning",
            f"{len(off)} Python package(s) sit outside the worker's import path ({shown}): "
            f"{', '.join(d + '/' for d in off[:5])}{' …' if len(off) > 5 else ''}; nothing the serving code runs "
            "imports them from there. Move them to code/<pkg>/ if they are meant to be used.",
            [f"{d}/ (import {d.rsplit('/', 1)[-1]})" for d in off[:20]], {"found": off, "import_path": report.import_path}))
    return out


def exit_code(findings: list[Finding], *, strict: bool = False) -> int:
    """1 when a finding is an error (the worker will fail, or the archive cannot be used); with ``strict``,
    warnings fail too; else 0."""
    sev = {f.severity for f in findings}
    return 1 if "error" in sev or (strict and "warning" in sev) else 0
