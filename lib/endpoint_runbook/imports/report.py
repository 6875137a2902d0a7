"""``resolve_imports``: the walk, then one finding per problem, with a severity that says whether the worker
fails (error), runs degraded or conditionally (warning), or carries code nothing runs (info)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping

from ..findings import Finding
from .downloads import download_findings, smp_pinned_before_hub
from .handlers import handler_signature_findings
from .records import DEFAULT_IMAGE_MODULES, MODEL_DIR, ImportRecord, ImportReport, requirement_modules
from .resolver import Resolver
from .tree import ArchiveTree, walk_names
from .walk import PARTIAL_NOTE

__all__ = ["placement_base", "resolve_imports"]


def resolve_imports(
    files: Mapping[str, bytes | None] | str | os.PathLike[str],
    *,
    program: str = "inference.py",
    requirements: list[str] | None = None,
    image_modules: set[str] | frozenset[str] | None = None,
) -> ImportReport:
    """Resolve every import of ``code/<program>`` and of the archive modules it reaches, in the order and
    with the reachability the container gives them (see :mod:`.resolver`).

    ``files``: archive member path → bytes (every ``.py`` member; other members may map to ``None`` or
    ``b""`` -- only their names matter) or a directory where the archive is extracted. ``requirements``:
    the lines of ``code/requirements.txt`` (read from ``files`` when None). ``image_modules``: top-level
    modules the serving image has (default :data:`DEFAULT_IMAGE_MODULES`).
    """
    tree = ArchiveTree(files)
    program = program if program.endswith(".py") else program + ".py"
    entry = f"code/{program}"
    if requirements is None:
        raw = tree.source("code/requirements.txt") if tree.is_file("code/requirements.txt") else None
        requirements = raw.decode("utf-8", errors="replace").splitlines() if raw else []
    reqs = requirement_modules(requirements)
    report = ImportReport(program=program, entry=entry, entry_exists=tree.is_file(entry), requirements=reqs)
    if not report.entry_exists:
        others = sorted(p for p in tree.data if p.endswith("/" + program) or p == program)
        report.findings.append(Finding(
            "missing-entry-script", "error",
            f"the archive has no {entry}; the toolkit then falls back to its default model_fn, which fails. "
            f"Put the serving script at {entry} (or set SAGEMAKER_PROGRAM to its name).",
            [f"found instead: {p}" for p in others] or [f"{entry} not in the archive"],
            {"entry": entry, "found": others}))
        report.import_path = ["code", ""]
        return report
    resolver = Resolver(tree, entry, image_modules if image_modules is not None else DEFAULT_IMAGE_MODULES,
                        {m.split(".")[0] for mods in reqs.values() for m in mods})
    resolver.smp_before_hub = smp_pinned_before_hub(requirements)
    try:
        resolver.run_entry()
    except Exception as e:  # a bug of this analysis must not hide the archive's problems behind a traceback
        resolver.findings.append(Finding(
            "analysis-error", "warning",
            f"the static analysis stopped early ({type(e).__name__}: {e}); what it found so far is reported, the "
            "load check runs the code for real. Please report this as a bug of the runbook.",
            [f"{type(e).__name__}: {e}"], {"error_type": type(e).__name__}))
    report.imports = list(resolver.records.values())
    report.sys_path = resolver.sys_path
    report.modules = resolver.modules
    report.import_path = resolver.front + resolver.back
    report.handlers = resolver.handlers
    report.reads = list(resolver.reads)
    report.optional_reads = [r for r in resolver.optional_reads if r not in resolver.reads]
    report.off_path = _off_path_packages(tree, set(report.import_path), used=report.modules)
    report.downloads = list(resolver.downloads)
    report.findings = resolver.findings + _import_findings(report, tree)
    # What the toolkit's own calls trip on, and what the running code needs the network for.
    report.findings += handler_signature_findings(report, tree) + download_findings(report.downloads)
    lacking = [r for r in report.reads if not tree.is_file(r) and r not in tree.dirs]
    if lacking:
        # The same file elsewhere in the archive (a checkpoint packed under code/) says where it went instead.
        elsewhere = {r: [p for p in tree.data if posixpath.basename(p) == posixpath.basename(r)][:3] for r in lacking}
        seen = "; ".join(f"{posixpath.basename(r)} is at {', '.join(ps)}" for r, ps in elsewhere.items() if ps)
        report.findings.append(Finding(
            "missing-artifact", "warning",
            f"the code the toolkit runs reads {', '.join(MODEL_DIR + '/' + r for r in lacking[:5])}, which the archive "
            f"lacks (paths worked out statically){f' ({seen})' if seen else ''}; add them where the code reads them, "
            "unless the code creates them.",
            lacking[:20], {"paths": lacking, "elsewhere": {r: ps for r, ps in elsewhere.items() if ps}}))
    return report


# ------------------------------------------------------------------------------------------------ findings


def _severity(recs: list[ImportRecord]) -> tuple[str, list[ImportRecord], str]:
    """(severity, the records that decide it, what they are)."""
    hard = [r for r in recs if r.runs and not r.guarded and not r.conditional]
    if hard:
        return "error", hard, "fails"
    guarded = [r for r in recs if r.runs and r.guarded]
    if guarded:
        if all(r.fallback_ok for r in guarded):
            return "info", guarded, "fallback"
        return "warning", guarded, "degraded"
    conditional = [r for r in recs if r.runs and r.conditional]
    if conditional:
        return "warning", conditional, "conditional"
    return "info", recs, "latent"


def _when(r: ImportRecord) -> str:
    chain = " → ".join(r.via)
    if r.phase == "import":
        text = "at import, when the toolkit loads the entry script" + (f" (via {chain})" if r.via else "")
        text += ": the worker dies at start-up"
    elif r.phase == "model_fn":
        text = f"when {r.via[0] if r.via else 'model_fn'} runs" + (f" (via {chain})" if len(r.via) > 1 else "")
        text += ": the worker dies loading the model"
    elif r.phase == "request":
        text = f"when {r.via[0] if r.via else 'a request handler'} runs" + (
            f" (via {chain})" if len(r.via) > 1 else "") + ": every request fails"
    else:
        text = "only in code nothing the toolkit calls reaches"
    if r.reraised_by:
        text += f"; {', '.join(r.reraised_by)} catches it but raises again, which is no guard"
    return text


def placement_base(report: ImportReport, recs: list[ImportRecord] | None = None) -> str:
    """Where a missing package goes: the folder the script itself puts on sys.path (``src`` for
    ``/opt/ml/model/src``) when it is on the path wherever the package is imported, else ``code``."""
    added = [s.archive_dir for s in report.sys_path if s.applied and s.archive_dir not in (None, "", "code")]
    for d in added:
        if d is not None and all(d in r.search_path for r in (recs or []) if r.search_path):
            return d
    return "code"


def _import_findings(report: ImportReport, tree: ArchiveTree) -> list[Finding]:
    out: list[Finding] = []
    by_pkg: dict[str, list[ImportRecord]] = {}
    for r in report.imports:
        if r.status == "circular":
            sev, _, what = _severity([r])
            out.append(Finding(
                "circular-import", sev,
                f"{r.file}:{r.line} {r.note}: it fails {_when(r)}. Move the import below the definition it needs, "
                "or import the module instead of the name.", [r.evidence],
                {"file": r.file, "line": r.line, "module": r.module, "phase": r.phase, "kind": what}))
        elif r.status == "unresolved" and r.module.startswith("."):
            sev, _, what = _severity([r])
            out.append(Finding(
                "bad-relative-import", sev,
                f"{r.file}:{r.line} is a relative import, but {r.file} is not inside a package (the toolkit imports "
                f"the entry script as a top-level module); it fails {_when(r)}. Use an absolute import.",
                [r.evidence], {"file": r.file, "line": r.line, "phase": r.phase, "guard": r.guard, "kind": what}))
        elif r.status == "unresolved":
            by_pkg.setdefault(r.package, []).append(r)
    on_path = set(report.import_path)
    for pkg, recs in by_pkg.items():
        sev, deciding, what = _severity(recs)
        first = deciding[0]
        elsewhere = _find_off_path(tree, pkg, on_path)
        base = placement_base(report, deciding)
        data = {"package": pkg, "modules": _dedup(r.module for r in recs), "file": first.file,
                "line": first.line, "statement": first.statement, "found_in_archive": elsewhere,
                "at": "import" if any(r.phase == "import" for r in deciding) else "call",
                "phase": first.phase, "functions": _dedup(r.in_function for r in deciding if r.in_function),
                "via": list(first.via), "guard": first.guard, "reraised_by": list(first.reraised_by),
                "note": first.note, "target": f"{base}/{pkg}/", "kind": what}
        evidence = [r.evidence for r in deciding[:5]]
        partial = PARTIAL_NOTE.match(first.note or "")
        if partial is not None and what == "fails":
            at, missing = partial.group("at"), partial.group("missing")
            leaf = posixpath.join(at, missing.rsplit(".", 1)[-1])
            # Python stops at the first; the others fail next, once it is added: all of them are named at once.
            others = _dedup(m.group("missing") for r in recs for m in [PARTIAL_NOTE.match(r.note or "")]
                            if m is not None and m.group("at") == at and m.group("missing") != missing)
            data.update(target=f"{leaf}.py", submodule=missing, in_archive=at, submodules=[missing, *others])
            also = (f" {len(others)} more of its modules are missing too ({', '.join(others)}): they fail next, "
                    "once this one is there." if others else "")
            out.append(Finding(
                "missing-module", "error",
                f"{first.file}:{first.line} imports {first.module!r}: {partial.group('found')} is in the archive "
                f"({at}) but {missing} is not, so it fails {_when(first)}.{also} Add the file {leaf}.py (or the "
                f"folder {leaf}/){' and the others' if others else ''} from your copy of {pkg!r}.",
                evidence, data))
        elif what == "fails":
            out.append(Finding(
                "missing-module", "error",
                f"{first.file}:{first.line} imports {first.module!r} but nothing provides package {pkg!r} in the "
                f"container (archive import path, standard library, image, code/requirements.txt): it fails "
                f"{_when(first)}. Add it to the archive as "
                + (f"the package folder {base}/{pkg}/" if any(r.module != pkg for r in recs)  # pkg.sub: a package
                   else f"{base}/{pkg}.py (a module) or {base}/{pkg}/ (a package)")
                + ", or list it in code/requirements.txt if it is published.", evidence, data))
        elif what in ("degraded", "fallback"):
            out.append(Finding(
                "guarded-missing-module" if what == "degraded" else "import-fallback", sev,
                f"{first.file}:{first.line} imports {first.module!r}, which the container does not have, inside "
                f"{first.guard}, which carries on: "
                + ("the code runs on a degraded path. Add " + repr(pkg) + " if the feature is wanted."
                   if what == "degraded" else "the handler's alternative import resolves, so the code works."),
                evidence, data))
        elif what == "conditional":
            out.append(Finding(
                "conditional-missing-module", "warning",
                f"{first.file}:{first.line} imports {first.module!r}, which the container does not have, in a handler "
                "that runs only if the code before it fails; then it fails too. Add "
                f"{pkg!r} (under {base}/{pkg}/ or in code/requirements.txt) if that path matters.", evidence, data))
        else:
            out.append(Finding(
                "latent-missing-module", "info",
                f"{first.file}:{first.line} imports {first.module!r}, which the container does not have, "
                + (f"in {first.note}" if first.note else
                   "in code nothing the toolkit calls reaches") + "; harmless unless that code is used.",
                evidence, data))
        if elsewhere and sev != "info":
            out.append(Finding(
                "source-outside-import-path", sev,
                f"package {pkg!r} is in the archive at {', '.join(elsewhere)}, which is not on the import path "
                f"({', '.join(_show(d) for d in report.import_path)}). Move it to {base}/{pkg}/, or make the "
                f"script add {MODEL_DIR}/{posixpath.dirname(elsewhere[0])} to sys.path before it imports {pkg!r}.",
                [f"{e}/" if not e.endswith(".py") else e for e in elsewhere], {"package": pkg, "found": elsewhere}))
    return out


def _dedup(items: object) -> list[str]:
    return list(dict.fromkeys(items))  # type: ignore[call-overload]


def _show(d: str) -> str:
    return posixpath.join(MODEL_DIR, d) if d else MODEL_DIR


def _find_off_path(tree: ArchiveTree, pkg: str, on_path: set[str]) -> list[str]:
    found: list[str] = []
    for d in sorted(tree.dirs):
        if d in on_path:
            continue
        f = tree.find(d, pkg)
        if f is None:
            continue
        kind, path = f
        if kind == "namespace" and not any(k.endswith(".py") for k in walk_names(tree, path)):
            continue  # a folder of data files with the same name is not the package
        found.append(path)
    return found


def _off_path_packages(tree: ArchiveTree, on_path: set[str], *, used: list[str] = ()) -> list[str]:
    """Regular packages (a folder with ``__init__.py``, outermost) whose parent is not on the import path, and
    from which the serving code imports nothing (``used``: the archive files it ran): one inside a namespace
    package (``code/ns/pkg/``, imported as ``ns.pkg``) is off the path only by its parent's name."""
    pkgs = {posixpath.dirname(p) for p in tree.data if posixpath.basename(p) == "__init__.py"}
    out = []
    for d in sorted(pkgs):
        if not d or posixpath.dirname(d) in pkgs:
            continue
        if posixpath.dirname(d) not in on_path and not any(m.startswith(d + "/") for m in used):
            out.append(d)
    return out
