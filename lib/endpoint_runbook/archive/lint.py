"""Layout lint, the presence table, and ``check-archive`` (inventory + lint + static import resolution)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from typing import Any, BinaryIO

from ..errors import InputError, NotFoundError
from ..findings import Finding
from .inventory import ArchiveInventory, Limits, _finding, inventory, inventory_s3


def lint(inv: ArchiveInventory, program: str = "inference.py") -> list[Finding]:
    """Layout findings for a SageMaker framework-container model archive (see module doc for codes)."""
    out: list[Finding] = []
    paths = inv.paths()
    if not paths:
        return out
    tops = {p.split("/", 1)[0] for p in paths}
    nested_top = None
    if len(tops) == 1:
        (top,) = tops
        if top != "code" and any("/" in p for p in paths):
            nested_top = top
    entry = f"code/{program}"
    has_code = any(p == "code" or p.startswith("code/") for p in paths)
    if nested_top:
        ev = [f"{nested_top}/"] + [p for p in (f"{nested_top}/{entry}", f"{nested_top}/code/requirements.txt")
                                    if p in paths]
        out.append(_finding("nested-top-folder", ev, top=nested_top))
    if not has_code:
        out.append(_finding("missing-code-dir", sorted(tops)[:20]))
    if entry not in paths or paths[entry].type != "file":
        ev = [f"{entry}: absent"] + [f"found at {p}" for p in paths if posixpath.basename(p) == program][:20]
        out.append(_finding("missing-entry-script", ev, program=program))
    if "requirements.txt" in paths and "code/requirements.txt" not in paths:
        out.append(_finding("requirements-at-root", ["requirements.txt"]))
    if not nested_top:
        pkgs = {posixpath.dirname(p) for p, m in paths.items()
                if posixpath.basename(p) == "__init__.py" and m.type == "file"}
        tops_found: dict[str, str] = {}
        for d in sorted(pkgs):
            t = d
            while posixpath.dirname(t) in pkgs:
                t = posixpath.dirname(t)
            parent = posixpath.dirname(t)
            if t and parent not in ("", "code"):
                name = posixpath.basename(t)
                tops_found[t] = f"{t}/ (import {name}) → code/{name}/"
        if tops_found:
            out.append(_finding("source-outside-import-path", list(tops_found.values())[:20],
                                count=len(tops_found)))
    pyc: list[str] = []
    for p, m in paths.items():
        if p.startswith("code/") and p.endswith(".pyc") and m.type == "file":
            d, base = posixpath.split(p)
            if posixpath.basename(d) == "__pycache__":
                d = posixpath.dirname(d)
            src = posixpath.join(d, base.split(".", 1)[0] + ".py")
            if src not in paths:
                pyc.append(p)
    if pyc:
        out.append(_finding("bytecode-only", pyc[:20], count=len(pyc)))
    return out


def presence_table(inv: ArchiveInventory, expected: Sequence[str] | None = None, *,
                   program: str = "inference.py") -> list[dict[str, Any]]:
    """The ✅/❌ presence rows as data: one dict per expected entry (a trailing ``/`` means a folder).

    Each row: ``path``, ``present``, ``mark`` (✅/❌), ``size`` (bytes, folders summed), ``note`` (where a
    missing entry was found instead, e.g. ``found at src/<pkg>/``)."""
    expected = list(expected) if expected is not None else [f"code/{program}", "code/requirements.txt"]
    paths = inv.paths()
    rows = []
    for e in expected:
        is_dir = e.endswith("/")
        p = e.strip("/")
        if is_dir:
            under = [m for k, m in paths.items() if k.startswith(p + "/")]
            present = (p in paths and paths[p].type == "dir") or bool(under)
            size = sum(m.size for m in under) if present else None
        else:
            present = p in paths and paths[p].type in ("file", "symlink", "hardlink")
            size = paths[p].size if present else None
        note = ""
        if not present:
            base = posixpath.basename(p)
            if is_dir:
                found = set()
                for k, m in paths.items():
                    parts = k.split("/")
                    for i, comp in enumerate(parts):
                        if comp == base and (i < len(parts) - 1 or m.type == "dir"):
                            found.add("/".join(parts[: i + 1]) + "/")
                alts = sorted(found)
            else:
                alts = sorted(k for k, m in paths.items() if posixpath.basename(k) == base and m.type == "file")
            alts = [a for a in alts if a.strip("/") != p][:3]
            note = ("found at " + ", ".join(alts)) if alts else "missing"
        rows.append({"path": e, "present": present, "mark": "✅" if present else "❌", "size": size,
                     "note": note})
    return rows


def check_archive(source: str | os.PathLike[str] | BinaryIO, program: str = "inference.py", *,
                  s3_client: Any = None, limits: Limits | None = None,
                  image_modules: set[str] | frozenset[str] | None = None,
                  sources: dict[str, bytes] | None = None) -> list[Finding]:
    """Inventory + layout lint + static import resolution of the serving code (no AWS call unless
    ``source`` is an ``s3://`` URI; no load check: nothing is executed). ``image_modules``: what the serving
    image ships (``serving.image_profiles.profile_for_image(uri).modules``). ``sources``: filled with the code
    and small text files read (member → bytes), for the caller's own checks."""
    from ..imports import archive_gate

    sources = {} if sources is None else sources
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        if s.startswith("s3://"):
            if s3_client is None:
                raise InputError("an s3:// source needs an s3 client", code="bad-input")
            inv = inventory_s3(s3_client, s, limits=limits, sources=sources)
        else:
            if not os.path.isfile(s):
                raise NotFoundError(f"{s} does not exist", code="not-found")
            with open(s, "rb") as f:
                inv = inventory(f, limits=limits, sources=sources)
    else:
        inv = inventory(source, limits=limits, sources=sources)
    findings = list(inv.findings)
    if inv.complete:
        names = {p: None for p, m in inv.paths().items() if m.type == "file"}
        findings += archive_gate(lint(inv, program), {**names, **sources}, program, image_modules=image_modules)[0]
    return findings


# ---------------------------------------------------------------------------------------------------------
# safe extraction
# ---------------------------------------------------------------------------------------------------------
