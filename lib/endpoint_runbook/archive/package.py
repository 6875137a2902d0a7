"""Packaging a model directory into a correct, deterministic ``model.tar.gz`` (the permanent fix)."""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from ..errors import InputError
from ..findings import Finding
from .inventory import ArchiveInventory
from .lint import lint
from .rebuild import _collect, _CountingWriter, default_skip
from .tarstream import (
    Entry,
    Member,
    iter_entries,
)


@dataclass
class PackageResult:
    sha256: str
    bytes: int
    members: list[str]
    findings: list[Finding]
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


def package_model(out: str | os.PathLike[str] | BinaryIO, *, model_dir: str | os.PathLike[str] | None,
                  entry_script: str | os.PathLike[str], requirements: str | os.PathLike[str] | None = None,
                  source_packages: Sequence[str | os.PathLike[str]] = (),
                  extra_dirs: Sequence[str | os.PathLike[str]] = (), program: str = "inference.py",
                  skip: Callable[[str, bool], bool] = default_skip, level: int = 6) -> PackageResult:
    """Build a correct, deterministic ``model.tar.gz``.

    Layout: ``model_dir``'s content at the root, ``code/<program>`` (from ``entry_script``),
    ``code/requirements.txt``, each source package at ``code/<pkg>/`` (must hold ``__init__.py``:
    InputError ``not-a-package`` otherwise), each extra dir at ``<name>/`` at the root. Same inputs →
    same bytes. ``findings``: the layout lint of the result.
    """
    if not os.path.isfile(entry_script):
        raise InputError(f"entry script {entry_script} does not exist", code="missing-source")
    adds: list[Entry] = []
    if model_dir is not None:
        if not os.path.isdir(model_dir):
            raise InputError(f"model dir {model_dir} does not exist", code="missing-source")
        for name in sorted(os.listdir(model_dir)):
            full = os.path.join(model_dir, name)
            is_dir = os.path.isdir(full)
            if skip(name, is_dir):
                continue
            adds += _collect([(full, name)], skip)
    code_entries = _collect([(entry_script, f"code/{program}")], skip)
    if requirements is not None:
        if not os.path.isfile(requirements):
            raise InputError(f"requirements file {requirements} does not exist", code="missing-source")
        code_entries += _collect([(requirements, "code/requirements.txt")], skip)
    for pkg in source_packages:
        name = os.path.basename(os.path.normpath(os.fspath(pkg)))
        code_entries += _collect([(pkg, f"code/{name}")], skip, require_package=True)
    for d in extra_dirs:
        if not os.path.isdir(d):
            raise InputError(f"extra dir {d} does not exist", code="missing-source")
        adds += _collect([(d, os.path.basename(os.path.normpath(os.fspath(d))))], skip)
    all_entries: dict[str, Entry] = {}
    for e in adds + [Entry("code", "dir")] + code_entries:
        prev = all_entries.get(e.path)
        if prev is not None and not (prev.kind == "dir" and e.kind == "dir"):
            raise InputError(f"two sources write {e.path!r} (e.g. model_dir already has code/)",
                             code="member-exists")
        all_entries[e.path] = e
    ordered = [all_entries[k] for k in sorted(all_entries)]

    def write_to(f: BinaryIO) -> tuple[str, int]:
        w = _CountingWriter(f)
        comp = zlib.compressobj(level, zlib.DEFLATED, 31)
        for piece in iter_entries(ordered, 0):
            w(comp.compress(piece))
        w(comp.flush())
        return w.hash.hexdigest(), w.bytes

    path = None
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        fd, tmp = tempfile.mkstemp(prefix=".package-", suffix=".tar.gz", dir=os.path.dirname(path) or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                sha, n = write_to(f)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        sha, n = write_to(out)
    inv = ArchiveInventory(members=[Member(e.path, e.kind, e.size, 0o755 if e.kind == "dir" else 0o644, 0)
                             for e in ordered], complete=True)
    return PackageResult(sha256=sha, bytes=n, members=[e.path for e in ordered], findings=lint(inv, program),
                         path=path)


# ---------------------------------------------------------------------------------------------------------
# upload
# ---------------------------------------------------------------------------------------------------------
