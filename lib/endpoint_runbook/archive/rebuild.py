"""Streaming rebuild: add members to an archive, every existing member byte-identical.

``rebuild`` copies the source's compressed bytes verbatim and re-encodes only the last deflate block
(see :mod:`.gzappend`) when the system zlib allows it, else it re-encodes the stream with
``isal`` (optional accelerator) or zlib level 1. An addition that collides with an existing file is refused
(``member-exists``) unless ``replace=True``, which drops the old member and forces the re-encode path.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError, RunbookError
from ..findings import Finding
from .gzappend import splice, splice_available
from .inventory import _MESSAGES, REFUSE_CODES, Limits, _Collector, _finding, _has_dotdot, _show
from .tarstream import (
    Entry,
    GzipReader,
    Member,
    StreamError,
    TarScanner,
    compressor,
    iter_entries,
)

_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".bzr", ".ipynb_checkpoints", ".pytest_cache",
              ".mypy_cache", ".ruff_cache", ".idea", ".vscode", ".tox", ".eggs"}
_SKIP_FILES = {".DS_Store", "Thumbs.db", ".gitignore", ".gitattributes", ".gitmodules", ".hgignore"}


def default_skip(rel_path: str, is_dir: bool) -> bool:
    """True for what never belongs in a model archive: caches, bytecode, VCS and editor files."""
    name = posixpath.basename(rel_path)
    if is_dir:
        return name in _SKIP_DIRS or name.endswith(".egg-info")
    return (name in _SKIP_FILES or name.endswith((".pyc", ".pyo", "~", ".swp", ".swo"))
            or name.startswith(".#") or (name.startswith("#") and name.endswith("#")))


#: An addition that brings more than this is said so (weights or data kept in a code folder are copied too).
BIG_ADDITION = 20 * 1024 * 1024


def addition_note(source: str | os.PathLike[str], *, big: int = BIG_ADDITION) -> str:
    """'' for a small addition; else what it brings ("; it brings 80.0 MiB …, the largest …"), as a rebuilt
    archive would hold it (caches and bytecode left out)."""
    root = Path(source)
    if root.is_file():
        sizes = [(root.name, root.stat().st_size)]
    else:
        sizes = []
        for folder, dirs, files in os.walk(root):
            rel = os.path.relpath(folder, root).replace(os.sep, "/")
            dirs[:] = [d for d in dirs if not default_skip(posixpath.join(rel, d) if rel != "." else d, True)]
            for f in files:
                path = posixpath.join(rel, f) if rel != "." else f
                if not default_skip(path, False):
                    try:
                        sizes.append((path, os.lstat(os.path.join(folder, f)).st_size))
                    except OSError:
                        continue
    total = sum(n for _, n in sizes)
    if total < big:
        return ""
    name, largest = max(sizes, key=lambda x: x[1])
    return (f"; it brings {total / 2**20:.1f} MiB in {len(sizes)} files (the largest, {name}, {largest / 2**20:.1f} "
            "MiB): what the folder holds besides code is copied too; move it out if the code does not need it")


def _clean_prefix(prefix: str) -> str:
    p = prefix.replace("\\", "/").strip("/")
    while p.startswith("./"):
        p = p[2:]
    if not p or p.startswith("/") or _has_dotdot(p) or p == ".":
        raise InputError(f"archive path {prefix!r} is not a relative path inside the archive", code="unsafe-path")
    return p


def _collect(additions: Iterable[tuple[str | os.PathLike[str], str]], skip: Callable[[str, bool], bool],
             *, require_package: bool = False) -> list[Entry]:
    """Walk the addition sources into sorted entries (dirs included, skipped junk excluded)."""
    entries: dict[str, Entry] = {}

    def put(e: Entry) -> None:
        if e.path in entries:
            if e.kind == "dir" and entries[e.path].kind == "dir":
                return
            raise InputError(f"two additions write {e.path!r}", code="duplicate-addition")
        entries[e.path] = e

    for src, prefix in additions:
        src = os.fspath(src)
        arc = _clean_prefix(prefix)
        if not os.path.exists(src):
            raise InputError(f"{src} does not exist", code="not-a-package" if require_package else "missing-source",
                             hint="Point it at the source folder on disk.")
        if os.path.isfile(src):
            if require_package:
                raise InputError(f"{src} is a file, not a package folder", code="not-a-package")
            put(Entry(arc, "file", source=src, size=os.path.getsize(src)))
            continue
        if require_package and not os.path.isfile(os.path.join(src, "__init__.py")):
            raise InputError(f"{src} has no __init__.py, so it is not an importable package", code="not-a-package",
                             hint="Point at the package folder itself (the one holding __init__.py).")
        put(Entry(arc, "dir"))
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = os.path.relpath(dirpath, src).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            keep = []
            for d in sorted(dirnames):
                rel = posixpath.join(rel_dir, d)
                if skip(rel, True) or os.path.islink(os.path.join(dirpath, d)):
                    continue
                keep.append(d)
                put(Entry(posixpath.join(arc, rel), "dir"))
            dirnames[:] = keep
            for fn in sorted(filenames):
                rel = posixpath.join(rel_dir, fn)
                full = os.path.join(dirpath, fn)
                if skip(rel, False) or not os.path.isfile(full):
                    continue
                put(Entry(posixpath.join(arc, rel), "file", source=full, size=os.path.getsize(full)))
    return [entries[k] for k in sorted(entries)]


@dataclass
class RebuildResult:
    """What a rebuild did. ``diff`` rows: {path, status: added|unchanged|replaced, type, size[, sha256]}."""

    source_sha256: str
    result_sha256: str
    source_bytes: int
    result_bytes: int
    method: str  # "splice" (no recompression of unchanged data) or "reencode"
    diff: list[dict[str, Any]]
    counts: dict[str, int]
    findings: list[Finding]
    copied_compressed_bytes: int = 0
    reencoded_source_bytes: int = 0
    seconds: float = 0.0
    tail_start: int = 0  # splice: result offset of the new self-contained compressed data (see gzappend)
    tail_wbits: int = -15

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


class _CountingWriter:
    def __init__(self, dst: BinaryIO, *, hashing: bool = True):
        self.dst = dst
        self.hash = hashlib.sha256() if hashing else None
        self.bytes = 0

    def __call__(self, b: Any) -> None:
        if b:
            self.dst.write(b)
            if self.hash is not None:
                self.hash.update(b)
            self.bytes += len(b)


def rebuild(src_stream: BinaryIO, dst: BinaryIO | str | os.PathLike[str],
            additions: Sequence[tuple[str | os.PathLike[str], str]], *,
            skip: Callable[[str, bool], bool] = default_skip, replace: bool | Collection[str] = False,
            limits: Limits | None = None, method: str = "auto", level: int = 6,
            write_prefix: Callable[[Any], Any] | None = None,
            on_data: Callable[[Member, memoryview], None] | None = None) -> RebuildResult:
    """Stream ``src_stream`` (a gzip'd tar) to ``dst`` with every member unchanged plus ``additions``.

    ``additions``: (folder or file on disk, archive path), e.g. ``("repo/src/mypkg", "code/mypkg")``.
    Added members: sorted, mtime 1980-01-01, owner 0, mode 0o644 (dirs 0o755); directories already in the
    source are not added again. A file collision is refused (``member-exists``) unless ``replace=True`` (or
    ``replace`` names that archive path: only those are replaced).
    ``method``: ``auto`` (splice when possible), ``splice``, ``reencode``. Sources that fail the safety
    checks are refused (InputError with the finding code). ``dst`` may be a path (written to a temporary
    file and renamed on success) or a writable binary stream (on error its content is invalid: discard it).
    ``write_prefix`` (splice only): receives the bytes copied verbatim, ``source[0:copied_compressed_bytes]``,
    instead of ``dst`` (which then gets only the rest). ``on_data``: sees every source member's content.
    """
    limits = limits or Limits()
    entries = _collect(additions, skip)
    add_by_path = {e.path: e for e in entries}
    if method not in ("auto", "splice", "reencode"):
        raise InputError(f"unknown rebuild method {method!r}", code="bad-input")
    if write_prefix is not None and (method != "splice" or isinstance(dst, (str, os.PathLike))):
        raise InputError("write_prefix needs method='splice' and a stream dst", code="bad-input")
    if method == "splice" and replace:
        raise InputError("replace=True needs method='reencode' (or 'auto')", code="bad-input")
    if method == "splice" and not splice_available():
        raise RunbookError("the system zlib cannot be used for the splice rebuild", code="splice-unsupported",
                           hint="Use method='reencode'.")
    use_splice = method == "splice" or (method == "auto" and not replace and splice_available())

    if isinstance(dst, (str, os.PathLike)):
        final = os.fspath(dst)
        fd, tmp = tempfile.mkstemp(prefix=".rebuild-", suffix=".tar.gz", dir=os.path.dirname(final) or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                result = rebuild(src_stream, f, additions, skip=skip, replace=replace, limits=limits,
                                 method=method, level=level, on_data=on_data)
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return result

    t0 = time.monotonic()
    col = _Collector(limits)
    source_rows: list[dict[str, Any]] = []
    existing_dirs: set[str] = set()
    state = {"members": 0, "total": 0}

    def check_member(m: Member) -> bool:
        """Safety + collision checks; returns True to drop the member (replaced)."""
        state["members"] += 1
        if state["members"] > limits.max_members:
            raise InputError(f"refusing the archive: {_finding('too-many-members', limit=limits.max_members).message}",
                             code="too-many-members")
        state["total"] += m.size
        if state["total"] > limits.max_total_bytes:
            raise InputError(f"refusing the archive: {_finding('too-large', limit=limits.max_total_bytes).message}",
                             code="too-large")
        bad = [c for c in col.member(m) if c in REFUSE_CODES]
        if bad:
            raise InputError(f"refusing the archive: {_finding(bad[0], count=1).message} (member "
                             f"{_show(m.name)!r})", code=bad[0])
        e = add_by_path.get(m.path)
        if e is not None and not (e.kind == "dir" and m.type == "dir"):
            if not (replace is True or (not isinstance(replace, bool) and m.path in replace)):
                raise InputError(f"the archive already has {m.path!r}; refusing to add a second copy",
                                 code="member-exists", hint="Pass replace=True to replace it.")
            source_rows.append({"path": m.path, "status": "replaced", "type": m.type, "size": m.size})
            return True
        if m.type == "dir":
            existing_dirs.add(m.path)
        source_rows.append({"path": m.path, "status": "unchanged", "type": m.type, "size": m.size})
        return False

    def new_entries() -> list[Entry]:
        return [e for e in entries if not (e.kind == "dir" and e.path in existing_dirs)]

    writer = _CountingWriter(dst, hashing=not use_splice)  # type: ignore[arg-type]
    try:
        if use_splice:
            scanner = TarScanner(lambda m, raw: check_member(m), on_data,
                                 max_ext_bytes=limits.max_ext_header_bytes)
            out_entries: list[Entry] = []

            def tail(end: int) -> Iterable[bytes]:
                out_entries.extend(new_entries())
                return iter_entries(out_entries, end)

            st = splice(src_stream.read, writer, scanner, tail, level=level, max_ratio=limits.max_ratio,
                        ratio_min_bytes=limits.ratio_min_bytes, max_bytes=limits.max_total_bytes,
                        write_prefix=write_prefix)
            tail_at = (st.tail_start, st.tail_wbits)
            src_sha, src_bytes = st.source_sha256, st.source_bytes
            copied, reenc = st.copied_bytes, st.reencoded_source_bytes
            result_sha = st.result_sha256
            if st.trailing_garbage:
                col.add("trailing-garbage")
                col.counts["trailing-garbage"] = st.trailing_garbage
            method_used = "splice"
        else:
            out_entries, src_sha, src_bytes = _reencode(src_stream, writer, check_member, new_entries, limits,
                                                       level, on_data)
            copied, reenc = 0, 0
            tail_at = (0, -15)
            method_used = "reencode"
            result_sha = writer.hash.hexdigest()  # type: ignore[union-attr]
    except StreamError as e:
        fmt: dict[str, Any] = {"detail": str(e), "limit": limits.max_ratio if e.code == "gzip-bomb"
                               else limits.max_total_bytes}
        code = e.code
        msg = _finding(code, **fmt).message if code in _MESSAGES else str(e)
        raise InputError(f"refusing the archive: {msg}", code=code) from e
    rows = source_rows + [{"path": e.path, "status": "added", "type": e.kind, "size": e.size,
                           **({"sha256": e.sha256} if e.kind == "file" else {})} for e in out_entries]
    counts = {"unchanged": 0, "added": 0, "replaced": 0}
    for r in rows:
        counts[r["status"]] += 1
    counts["added_bytes"] = sum(e.size for e in out_entries)
    return RebuildResult(source_sha256=src_sha, result_sha256=result_sha, source_bytes=src_bytes,
                         result_bytes=copied + writer.bytes if write_prefix is not None else writer.bytes,
                         tail_start=tail_at[0], tail_wbits=tail_at[1], method=method_used, diff=rows, counts=counts,
                         findings=col.findings(), copied_compressed_bytes=copied, reencoded_source_bytes=reenc,
                         seconds=round(time.monotonic() - t0, 3))


def _reencode(src: BinaryIO, write: Callable[[Any], None], check_member: Callable[[Member], bool],
              new_entries: Callable[[], list[Entry]], limits: Limits, level: int,
              on_source_data: Callable[[Member, memoryview], None] | None = None) -> tuple[list[Entry], str, int]:
    """Decompress → copy raw tar bytes (dropping replaced members) → recompress (isal if present)."""
    comp = compressor(1, fast=True)
    pos = {"out": 0, "skip": False}
    pending = bytearray()
    piece = 1 << 20  # isal's output depends on call boundaries: feed fixed pieces, so output is deterministic

    def put(b: Any) -> None:
        pos["out"] += len(b)
        pending.extend(b)
        if len(pending) >= piece:
            n = len(pending) - len(pending) % piece
            with memoryview(pending) as mv:
                for i in range(0, n, piece):
                    write(comp.compress(mv[i:i + piece]))
            del pending[:n]

    def on_member(m: Member, raw: bytes) -> None:
        pos["skip"] = check_member(m)
        if not pos["skip"]:
            put(raw)

    def on_data(m: Member, mv: memoryview) -> None:
        if on_source_data is not None:
            on_source_data(m, mv)
        if not pos["skip"]:
            put(mv)

    def on_pad(mv: memoryview) -> None:
        if not pos["skip"]:
            put(mv)

    reader = GzipReader(src, max_ratio=limits.max_ratio, ratio_min_bytes=limits.ratio_min_bytes,
                        max_bytes=limits.max_total_bytes)
    scanner = TarScanner(on_member, on_data, on_pad, max_ext_bytes=limits.max_ext_header_bytes)
    for chunk in reader:
        if not scanner.done:
            scanner.feed(chunk)
    if scanner.end_offset is None and not scanner.at_member_boundary:
        raise StreamError("truncated", "the tar stream ends inside a member")
    entries = new_entries()
    pos["skip"] = False
    for b in iter_entries(entries, pos["out"]):
        put(b)
    write(comp.compress(bytes(pending)))
    write(comp.flush())
    return entries, reader.sha256(), reader.compressed_bytes


# ---------------------------------------------------------------------------------------------------------
# packaging (the permanent fix)
# ---------------------------------------------------------------------------------------------------------
