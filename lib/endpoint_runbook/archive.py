"""The model archive: inventory, layout lint, safe extraction, streaming rebuild, packaging, upload.

Everything streams from a binary file-like (a local file, an S3 ``StreamingBody``): nothing is written
whole to disk, nothing seeks, memory stays bounded whatever the archive size, and hard limits
(:class:`Limits`) stop a hostile archive with a named finding instead of a hang.

Finding codes (stable; see :data:`FINDING_CODES`):
  stream:  not-gzip, corrupt-gzip, truncated, not-tar, bad-header, empty-archive, missing-end-marker,
           trailing-garbage, too-many-members, too-large, gzip-bomb
  safety:  unsafe-path, link-outside, special-member, duplicate-member, non-utf8-name
  layout:  missing-code-dir, missing-entry-script, nested-top-folder, requirements-at-root,
           source-outside-import-path, bytecode-only

``rebuild`` copies the source's compressed bytes verbatim and re-encodes only the last deflate block
(see :mod:`endpoint_runbook.gzappend`) when the system zlib allows it, else it re-encodes the stream with
``isal`` (optional accelerator) or zlib level 1. An addition that collides with an existing file is refused
(``member-exists``) unless ``replace=True``, which drops the old member and forces the re-encode path.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import posixpath
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from .errors import InputError, NotFoundError, RunbookError
from .findings import Finding
from .gzappend import splice, splice_available
from .s3uri import parse_s3_uri
from .tarstream import (
    Entry,
    GzipReader,
    Member,
    StreamError,
    TarScanner,
    compressor,
    has_isal,
    iter_entries,
)

__all__ = [
    "FINDING_CODES",
    "Inventory",
    "Limits",
    "Member",
    "PackageResult",
    "RebuildResult",
    "check_archive",
    "default_skip",
    "has_isal",
    "inventory",
    "inventory_s3",
    "lint",
    "package_model",
    "parse_s3_uri",
    "presence_table",
    "rebuild",
    "safe_extract",
    "splice_available",
    "upload_stream",
]

FINDING_CODES: dict[str, str] = {
    # stream
    "not-gzip": "error", "corrupt-gzip": "error", "truncated": "error", "not-tar": "error",
    "bad-header": "error", "empty-archive": "error", "missing-end-marker": "warning",
    "trailing-garbage": "warning", "too-many-members": "error", "too-large": "error", "gzip-bomb": "error",
    # safety
    "unsafe-path": "error", "link-outside": "error", "special-member": "error",
    "duplicate-member": "warning", "non-utf8-name": "warning",
    # layout
    "missing-code-dir": "error", "missing-entry-script": "error", "nested-top-folder": "error",
    "requirements-at-root": "warning", "source-outside-import-path": "warning", "bytecode-only": "warning",
}
#: Codes that make an archive unsafe to extract or rebuild.
REFUSE_CODES = frozenset({"not-gzip", "corrupt-gzip", "truncated", "not-tar", "bad-header", "too-many-members",
                          "too-large", "gzip-bomb", "unsafe-path", "link-outside", "special-member"})

_MESSAGES: dict[str, str] = {
    "not-gzip": "The file is not gzip-compressed; SageMaker needs a gzip'd tar: "
                "`tar -C <model-dir> -czf model.tar.gz .`.",
    "corrupt-gzip": "The gzip data is corrupt ({detail}); upload the archive again from a good copy.",
    "truncated": "The archive is truncated ({detail}); the upload or download was cut short — upload it again.",
    "not-tar": "The gzip content is not a tar archive ({detail}); build it with `tar -czf` or tarfile.",
    "bad-header": "A tar header is corrupt ({detail}); rebuild the archive.",
    "empty-archive": "The archive holds no members; package the model directory into it.",
    "missing-end-marker": "The tar has no end-of-archive marker; it was probably not closed — rebuild it.",
    "trailing-garbage": "{count} unexpected bytes follow the gzip data; rebuild the archive.",
    "too-many-members": "The archive has more than {limit} members; reading stopped. Raise the limit if "
                        "this is expected, or package fewer files.",
    "too-large": "The archive expands to more than {limit} bytes; reading stopped. Raise the limit if "
                 "this is expected.",
    "gzip-bomb": "The archive expands more than {limit}x its compressed size (a gzip bomb?); reading stopped.",
    "unsafe-path": "{count} member(s) have absolute or '..' paths that would write outside the model folder; "
                   "rebuild from inside the folder: `tar -C <model-dir> -czf model.tar.gz .`.",
    "link-outside": "{count} link(s) point outside the archive; replace them with the files they point to.",
    "special-member": "{count} device/fifo/special member(s); remove them from the archive.",
    "duplicate-member": "{count} name(s) appear more than once; the last copy wins on extraction — "
                        "remove the stale copies.",
    "non-utf8-name": "{count} name(s) are not valid UTF-8; rename them.",
    "missing-code-dir": "There is no code/ folder; put the entry script and requirements.txt under code/.",
    "missing-entry-script": "code/{program} is missing; the container looks for the entry script "
                            "(SAGEMAKER_PROGRAM) there.",
    "nested-top-folder": "Everything sits under '{top}/'; SageMaker extracts to /opt/ml/model, so the files "
                         "land in /opt/ml/model/{top}/. Re-tar from inside it: `tar -C {top} -czf model.tar.gz .`.",
    "requirements-at-root": "requirements.txt is at the archive root, where the container ignores it; "
                            "move it to code/requirements.txt.",
    "source-outside-import-path": "{count} Python package(s) sit outside the worker's import path "
                                  "(/opt/ml/model/code and /opt/ml/model); move them to code/<pkg>/ "
                                  "(or make the entry script add their folder to sys.path).",
    "bytecode-only": "{count} module(s) under code/ ship only as .pyc; include the .py sources.",
}


def _finding(code: str, evidence: list[str] | None = None, **fmt: Any) -> Finding:
    class _D(dict):
        def __missing__(self, k: str) -> str:
            return "?"

    msg = _MESSAGES[code].format_map(_D(fmt))
    data = {k: v for k, v in fmt.items() if isinstance(v, (int, float, str))}
    return Finding(code, FINDING_CODES[code], msg, list(evidence or []), data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Limits:
    """Hard limits that stop reading with a named finding instead of hanging or eating memory."""

    max_members: int = 50_000
    max_total_bytes: int = 50 << 30  # expanded (tar) bytes
    max_ratio: float = 200.0  # expanded / compressed, applied once ratio_min_bytes are expanded
    ratio_min_bytes: int = 64 << 20
    max_ext_header_bytes: int = 1 << 20  # pax / GNU long-name header content


@dataclass
class Inventory:
    """What an archive holds. ``complete`` is False when reading stopped early (see ``findings``)."""

    members: list[Member] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    sha256: str = ""
    compressed_bytes: int = 0
    tar_bytes: int = 0
    total_size: int = 0
    gzip_members: int = 0
    complete: bool = False

    @property
    def member_count(self) -> int:
        return len(self.members)

    def paths(self) -> dict[str, Member]:
        """Normalized path → member (the last copy wins, as on extraction)."""
        return {m.path: m for m in self.members if m.path not in ("", ".")}

    def has(self, path: str) -> bool:
        p = path.strip("/")
        paths = self.paths()
        return p in paths or any(k.startswith(p + "/") for k in paths)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.members:
            out[m.type] = out.get(m.type, 0) + 1
        return out

    def to_dict(self, *, members: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "sha256": self.sha256, "compressed_bytes": self.compressed_bytes, "tar_bytes": self.tar_bytes,
            "total_size": self.total_size, "member_count": self.member_count, "gzip_members": self.gzip_members,
            "complete": self.complete, "counts": self.counts(), "findings": [f.to_dict() for f in self.findings],
        }
        if members:
            d["members"] = [m.to_dict() for m in self.members]
        return d


class _Collector:
    """Per-member checks, aggregated into one finding per code (evidence capped)."""

    def __init__(self, limits: Limits, max_evidence: int = 20):
        self.limits = limits
        self.max_evidence = max_evidence
        self.hits: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.seen: dict[str, str] = {}
        self.extra: dict[str, dict[str, Any]] = {}

    def add(self, code: str, evidence: str | None = None, **extra: Any) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1
        ev = self.hits.setdefault(code, [])
        if evidence is not None and len(ev) < self.max_evidence:
            ev.append(evidence)
        if extra:
            self.extra.setdefault(code, {}).update(extra)

    def member(self, m: Member) -> list[str]:
        """Check one member; return the codes it raised."""
        before = dict(self.counts)
        shown = _show(m.name)
        p = m.name
        if not p or p.startswith("/") or _has_dotdot(p) or (len(p) > 1 and p[1] == ":"):
            self.add("unsafe-path", shown)
        if m.type == "symlink":
            t = m.linkname
            if not t or t.startswith("/") or _escapes(posixpath.join(posixpath.dirname(m.path), t)):
                self.add("link-outside", f"{shown} -> {_show(t)}")
        elif m.type == "hardlink":
            t = m.linkname
            if not t or t.startswith("/") or _escapes(t):
                self.add("link-outside", f"{shown} => {_show(t)}")
        elif m.type in ("device", "fifo", "other"):
            self.add("special-member", f"{shown} ({m.type})")
        if not m.utf8:
            self.add("non-utf8-name", shown)
        key = m.path
        if key not in ("", "."):
            prev = self.seen.get(key)
            if prev is not None and not (prev == "dir" and m.type == "dir"):
                self.add("duplicate-member", key)
            self.seen[key] = m.type
        return [c for c, n in self.counts.items() if n != before.get(c, 0)]

    def findings(self) -> list[Finding]:
        out = []
        for code in sorted(self.hits, key=lambda c: (list(FINDING_CODES).index(c), c)):
            out.append(_finding(code, self.hits[code], count=self.counts[code], **self.extra.get(code, {})))
        return out


def _show(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _has_dotdot(p: str) -> bool:
    return ".." in p.replace("\\", "/").split("/")


def _escapes(p: str) -> bool:
    n = posixpath.normpath(p)
    return n == ".." or n.startswith(("../", "/"))


# ---------------------------------------------------------------------------------------------------------
# inventory
# ---------------------------------------------------------------------------------------------------------

class _Stop(Exception):
    def __init__(self, code: str, **fmt: Any):
        super().__init__(code)
        self.code = code
        self.fmt = fmt


def _read_tar(stream: BinaryIO, limits: Limits, *, on_member: Callable[[Member, bytes], None] | None = None,
              on_data: Callable[[Member, memoryview], None] | None = None,
              on_pad: Callable[[memoryview], None] | None = None, digests: bool = False,
              refuse: bool = False) -> tuple[Inventory, GzipReader, TarScanner, _Collector]:
    """The shared reading loop. With ``refuse=True`` a refusing finding raises InputError right away."""
    inv = Inventory()
    col = _Collector(limits)
    reader = GzipReader(stream, max_ratio=limits.max_ratio, ratio_min_bytes=limits.ratio_min_bytes,
                        max_bytes=limits.max_total_bytes)
    hashers: dict[int, Any] = {}

    def member_cb(m: Member, raw: bytes) -> None:
        if len(inv.members) >= limits.max_members:
            raise _Stop("too-many-members", limit=limits.max_members)
        inv.members.append(m)
        inv.total_size += m.size
        if inv.total_size > limits.max_total_bytes:
            raise _Stop("too-large", limit=limits.max_total_bytes)
        codes = col.member(m)
        if refuse:
            bad = [c for c in codes if c in REFUSE_CODES]
            if bad:
                raise InputError(f"refusing the archive: {_finding(bad[0], [_show(m.name)], count=1).message} "
                                 f"(member {_show(m.name)!r})", code=bad[0])
        if digests and m.type == "file":
            hashers.clear()
            hashers[id(m)] = hashlib.sha256()
            if m.size == 0:
                m.sha256 = hashers[id(m)].hexdigest()
        if on_member is not None:
            on_member(m, raw)

    data_cb = _digest_wrapper(hashers, on_data) if digests else on_data
    scanner = TarScanner(member_cb, data_cb, on_pad, max_ext_bytes=limits.max_ext_header_bytes)
    stop: tuple[str, dict[str, Any]] | None = None
    try:
        for chunk in reader:
            if not scanner.done:
                scanner.feed(chunk)
    except _Stop as e:
        stop = (e.code, e.fmt)
    except StreamError as e:
        fmt: dict[str, Any] = {"detail": str(e)}
        if e.code == "gzip-bomb":
            fmt["limit"] = f"{limits.max_ratio:g}"
        elif e.code == "too-large":
            fmt["limit"] = limits.max_total_bytes
        stop = (e.code, fmt)
    if stop is not None:
        if stop[0] not in ("gzip-bomb", "too-large", "too-many-members"):
            reader.drain()  # the sha256 covers the whole object when reading it is cheap
        if refuse:
            f = _finding(stop[0], [], **stop[1])
            raise InputError(f"refusing the archive: {f.message}", code=stop[0])
    inv.sha256 = reader.sha256()
    inv.compressed_bytes = reader.compressed_bytes
    inv.tar_bytes = reader.uncompressed_bytes
    inv.gzip_members = reader.gzip_members
    findings = col.findings()
    if stop is not None:
        findings.insert(0, _finding(stop[0], [], **stop[1]))
    else:
        if scanner.end_offset is None:
            if scanner.at_member_boundary and inv.members:
                findings.append(_finding("missing-end-marker"))
            elif inv.members:
                findings.insert(0, _finding("truncated", [], detail="the tar stream ends inside a member"))
                stop = ("truncated", {})
        if not inv.members and stop is None:
            findings.insert(0, _finding("empty-archive"))
        if reader.trailing_garbage:
            findings.append(_finding("trailing-garbage", [], count=reader.trailing_garbage))
    inv.complete = stop is None
    inv.findings = findings
    if refuse and stop is not None:
        raise InputError(f"refusing the archive: {findings[0].message}", code=stop[0])
    return inv, reader, scanner, col


def _digest_wrapper(hashers: dict[int, Any],
                    on_data: Callable[[Member, memoryview], None] | None) -> Callable[[Member, memoryview], None]:
    state = {"left": 0, "id": None}

    def cb(m: Member, mv: memoryview) -> None:
        hh = hashers.get(id(m))
        if hh is not None:
            if state["id"] != id(m):
                state["id"] = id(m)
                state["left"] = m.size
            hh.update(mv)
            state["left"] -= len(mv)
            if state["left"] == 0:
                m.sha256 = hh.hexdigest()
        if on_data is not None:
            on_data(m, mv)

    return cb


SOURCE_SUFFIXES = (".py", ".txt", ".cfg", ".toml")
MAX_SOURCE_BYTES = 1 << 20


def inventory(stream: BinaryIO, *, limits: Limits | None = None, digests: bool = False,
              sources: dict[str, bytes] | None = None) -> Inventory:
    """Read a gzip'd tar from ``stream`` (never seeks, never writes it to disk) and list what it holds.

    Stream and safety findings go to ``Inventory.findings``; nothing raises for bad content.
    ``digests=True`` also computes each file member's sha256. ``sources``, when given, receives the small
    source files (``.py``, ``.txt`` ... up to 1 MiB each, empty ones included) for import resolution.
    """
    if sources is None:
        inv, *_ = _read_tar(stream, limits or Limits(), digests=digests)
        return inv
    buffers: dict[str, bytearray] = {}

    def wanted(m: Member) -> bool:
        return m.type == "file" and m.path.endswith(SOURCE_SUFFIXES) and m.size <= MAX_SOURCE_BYTES

    def on_member(m: Member, _raw: bytes) -> None:
        if wanted(m):
            buffers[m.path] = bytearray()

    def on_data(m: Member, data: memoryview) -> None:
        if wanted(m) and m.path in buffers:
            buffers[m.path] += data

    inv, *_ = _read_tar(stream, limits or Limits(), digests=digests, on_member=on_member, on_data=on_data)
    sources.update((k, bytes(v)) for k, v in buffers.items())
    return inv


def _get_object(s3_client: Any, uri: str) -> Any:
    from .aws import is_error

    bucket, key = parse_s3_uri(uri)
    try:
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as e:
        if is_error(e, "NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise NotFoundError(f"{uri} does not exist", code="not-found",
                                hint="Check the model's ModelDataUrl.") from e
        if is_error(e, "AccessDenied", "403", "Forbidden"):
            raise RunbookError(f"access denied reading {uri}", code="access-denied",
                               hint="The role needs s3:GetObject on it.") from e
        raise


def inventory_s3(s3_client: Any, uri: str, *, limits: Limits | None = None, digests: bool = False,
                 sources: dict[str, bytes] | None = None) -> Inventory:
    """:func:`inventory` of ``s3://bucket/key``, streamed from GetObject."""
    body = _get_object(s3_client, uri)
    try:
        return inventory(body, limits=limits, digests=digests, sources=sources)
    finally:
        body.close()


# ---------------------------------------------------------------------------------------------------------
# layout lint and the presence table
# ---------------------------------------------------------------------------------------------------------

def lint(inv: Inventory, program: str = "inference.py") -> list[Finding]:
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


def presence_table(inv: Inventory, expected: Sequence[str] | None = None, *,
                   program: str = "inference.py") -> list[dict[str, Any]]:
    """The seed's ✅/❌ rows as data: one dict per expected entry (a trailing ``/`` means a folder).

    Each row: ``path``, ``present``, ``mark`` (✅/❌), ``size`` (bytes, folders summed), ``note`` (where a
    missing entry was found instead, e.g. ``found at code/stygig/``)."""
    expected = list(expected) if expected is not None else [f"code/{program}", "code/requirements.txt"]
    paths = inv.paths()
    rows = []
    for e in expected:
        is_dir = e.endswith("/")
        p = e.strip("/")
        if is_dir:
            under = [m for k, m in paths.items() if k.startswith(p + "/")]
            present = (p in paths and paths[p].type == "dir") or bool(under)
            size = sum(m.size for m in under)
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
                  image_modules: set[str] | frozenset[str] | None = None) -> list[Finding]:
    """Inventory + layout lint + static import resolution of the serving code (no AWS call unless
    ``source`` is an ``s3://`` URI; no load check: nothing is executed). ``image_modules``: what the serving
    image ships (``image_profiles.profile_for_image(uri).modules``)."""
    from .imports import resolve_imports

    sources: dict[str, bytes] = {}
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
        layout = lint(inv, program)
        findings += layout
        if not any(f.code in ("missing-entry-script", "nested-top-folder") for f in layout):
            req = sources.get("code/requirements.txt", b"").decode("utf-8", "replace").splitlines()
            report = resolve_imports(sources, program=program, requirements=req, image_modules=image_modules)
            findings += [f for f in report.findings if f.code not in {x.code for x in layout}
                         or f.code == "missing-module"]
    return findings


# ---------------------------------------------------------------------------------------------------------
# safe extraction
# ---------------------------------------------------------------------------------------------------------

def safe_extract(stream: BinaryIO, dest: str | os.PathLike[str], limits: Limits | None = None) -> Inventory:
    """Extract a gzip'd tar into ``dest`` (created if missing), streaming, never writing outside it.

    Refuses (InputError with the finding code) traversal, absolute paths, links outside, devices/fifos,
    corrupt or truncated data, bombs and limit overruns — checked per member before anything is written
    for it, plus a realpath check of every target (as tarfile's ``data`` filter). Modes: setuid/setgid/
    sticky and group/other write bits are cleared; owners are not applied. On error ``dest`` may hold a
    partial extraction: use a fresh directory and discard it.
    """
    limits = limits or Limits()
    root = os.path.realpath(os.fspath(dest))
    os.makedirs(root, exist_ok=True)
    cur: dict[str, Any] = {"fd": None, "left": 0, "path": None, "m": None}

    def inside(p: str) -> bool:
        return p == root or p.startswith(root + os.sep)

    def target_of(m: Member) -> str:
        rel = m.path
        t = os.path.join(root, *[os.fsdecode(os.fsencode(x)) for x in rel.split("/") if x not in ("", ".")])
        parent = os.path.realpath(os.path.dirname(t))
        if not inside(parent) or not inside(os.path.normpath(t)):
            raise InputError(f"refusing member {_show(m.name)!r}: it resolves outside {root}", code="unsafe-path")
        return t

    def close_current() -> None:
        fd = cur["fd"]
        if fd is not None:
            m: Member = cur["m"]
            os.close(fd)
            cur["fd"] = None
            os.chmod(cur["path"], (m.mode & 0o755) | 0o600)
            os.utime(cur["path"], (m.mtime, m.mtime))

    def remove_existing(t: str) -> None:
        try:
            st = os.lstat(t)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"refusing to replace directory {t} by a non-directory", code="duplicate-member")
        os.unlink(t)

    def on_member(m: Member, raw: bytes) -> None:
        close_current()
        if m.path in ("", "."):
            return
        t = target_of(m)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        if m.type == "dir":
            if os.path.islink(t):
                raise InputError(f"refusing directory {_show(m.name)!r} over a symlink", code="link-outside")
            os.makedirs(t, exist_ok=True)
        elif m.type == "file":
            remove_existing(t)
            fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            cur.update(fd=fd, left=m.size, path=t, m=m)
            if m.size == 0:
                close_current()
        elif m.type == "symlink":
            remove_existing(t)
            os.symlink(m.linkname, t)
            if not inside(os.path.realpath(t)):
                os.unlink(t)
                raise InputError(f"refusing symlink {_show(m.name)!r}: it resolves outside {root}",
                                 code="link-outside")
        elif m.type == "hardlink":
            src = os.path.join(root, *[x for x in posixpath.normpath(m.linkname).split("/") if x not in ("", ".")])
            rsrc = os.path.realpath(src)
            if not inside(rsrc) or not os.path.isfile(rsrc):
                raise InputError(f"refusing hard link {_show(m.name)!r} to {_show(m.linkname)!r}: no such file "
                                 "inside the archive", code="link-outside")
            remove_existing(t)
            try:
                os.link(rsrc, t)
            except OSError:
                import shutil

                shutil.copyfile(rsrc, t)
        else:  # refused earlier by the collector; defence in depth
            raise InputError(f"refusing special member {_show(m.name)!r}", code="special-member")

    def on_data(m: Member, mv: memoryview) -> None:
        fd = cur["fd"]
        if fd is None or cur["m"] is not m:
            return
        while mv:
            n = os.write(fd, mv)
            mv = mv[n:]
            cur["left"] -= n
        if cur["left"] <= 0:
            close_current()

    try:
        inv, *_ = _read_tar(stream, limits, on_member=on_member, on_data=on_data, refuse=True)
    finally:
        if cur["fd"] is not None:
            os.close(cur["fd"])
            cur["fd"] = None
    return inv


# ---------------------------------------------------------------------------------------------------------
# rebuild
# ---------------------------------------------------------------------------------------------------------

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
            skip: Callable[[str, bool], bool] = default_skip, replace: bool = False,
            limits: Limits | None = None, method: str = "auto", level: int = 6) -> RebuildResult:
    """Stream ``src_stream`` (a gzip'd tar) to ``dst`` with every member unchanged plus ``additions``.

    ``additions``: (folder or file on disk, archive path), e.g. ``("examples/stygig/src/stygig", "code/stygig")``.
    Added members: sorted, mtime 1980-01-01, owner 0, mode 0o644 (dirs 0o755); directories already in the
    source are not added again. A file collision is refused (``member-exists``) unless ``replace=True``.
    ``method``: ``auto`` (splice when possible), ``splice``, ``reencode``. Sources that fail the safety
    checks are refused (InputError with the finding code). ``dst`` may be a path (written to a temporary
    file and renamed on success) or a writable binary stream (on error its content is invalid: discard it).
    """
    limits = limits or Limits()
    entries = _collect(additions, skip)
    add_by_path = {e.path: e for e in entries}
    if method not in ("auto", "splice", "reencode"):
        raise InputError(f"unknown rebuild method {method!r}", code="bad-input")
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
                                 method=method, level=level)
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
            if not replace:
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
            scanner = TarScanner(lambda m, raw: check_member(m), max_ext_bytes=limits.max_ext_header_bytes)
            out_entries: list[Entry] = []

            def tail(end: int) -> Iterable[bytes]:
                out_entries.extend(new_entries())
                return iter_entries(out_entries, end)

            st = splice(src_stream.read, writer, scanner, tail, level=level, max_ratio=limits.max_ratio,
                        ratio_min_bytes=limits.ratio_min_bytes, max_bytes=limits.max_total_bytes)
            src_sha, src_bytes = st.source_sha256, st.source_bytes
            copied, reenc = st.copied_bytes, st.reencoded_source_bytes
            result_sha = st.result_sha256
            if st.trailing_garbage:
                col.add("trailing-garbage")
                col.counts["trailing-garbage"] = st.trailing_garbage
            method_used = "splice"
        else:
            out_entries, src_sha, src_bytes = _reencode(src_stream, writer, check_member, new_entries, limits,
                                                       level)
            copied, reenc = 0, 0
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
                         result_bytes=writer.bytes, method=method_used, diff=rows, counts=counts,
                         findings=col.findings(), copied_compressed_bytes=copied, reencoded_source_bytes=reenc,
                         seconds=round(time.monotonic() - t0, 3))


def _reencode(src: BinaryIO, write: Callable[[Any], None], check_member: Callable[[Member], bool],
              new_entries: Callable[[], list[Entry]], limits: Limits, level: int) -> tuple[list[Entry], str, int]:
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
    inv = Inventory(members=[Member(e.path, e.kind, e.size, 0o755 if e.kind == "dir" else 0o644, 0)
                             for e in ordered], complete=True)
    return PackageResult(sha256=sha, bytes=n, members=[e.path for e in ordered], findings=lint(inv, program),
                         path=path)


# ---------------------------------------------------------------------------------------------------------
# upload
# ---------------------------------------------------------------------------------------------------------

def upload_stream(s3_client: Any, fileobj: BinaryIO, uri: str, *, source_uri: str | None = None,
                  source_sha256: str | None = None, overwrite: bool = False, part_size: int = 16 << 20,
                  progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Multipart-upload ``fileobj`` to ``uri`` with SHA-256 checksums and source metadata.

    Refuses an existing target unless ``overwrite`` (``target-exists``) and a target equal to the source
    (``target-is-source``). Any failure (including KeyboardInterrupt) aborts the multipart upload, so no
    object and no unfinished upload remain. Returns {uri, etag, version_id, sha256, bytes, parts}.
    """
    from .aws import is_error

    bucket, key = parse_s3_uri(uri)
    if source_uri is not None and parse_s3_uri(source_uri) == (bucket, key):
        raise InputError(f"the target {uri} is the source object; refusing to overwrite it",
                         code="target-is-source", hint="Choose a new key, e.g. .../<name>-fixed/model.tar.gz.")
    if part_size < 5 << 20:
        raise InputError("part_size must be at least 5 MiB (S3 minimum)", code="bad-input")
    if not overwrite:
        try:
            s3_client.head_object(Bucket=bucket, Key=key)
        except Exception as e:
            if not is_error(e, "404", "NoSuchKey", "NotFound"):
                raise
        else:
            raise InputError(f"{uri} already exists", code="target-exists",
                             hint="Pass overwrite=True, or choose a new key.")
    meta = {}
    if source_uri:
        meta["source-uri"] = source_uri
    if source_sha256:
        meta["source-sha256"] = source_sha256
    _sweep_uploads(s3_client, bucket, key)  # what a stopped earlier run left behind
    total = hashlib.sha256()
    parts: list[dict[str, Any]] = []
    n = 0
    try:
        upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256",
                                                      Metadata=meta, ContentType="application/gzip")["UploadId"]
        while True:
            buf = _read_full(fileobj, part_size)
            if not buf and parts:
                break
            total.update(buf)
            digest = base64.b64encode(hashlib.sha256(buf).digest()).decode()
            r = s3_client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1,
                                      Body=buf, ChecksumAlgorithm="SHA256", ChecksumSHA256=digest)
            parts.append({"ETag": r["ETag"], "PartNumber": len(parts) + 1, "ChecksumSHA256": digest})
            n += len(buf)
            if progress is not None:
                progress(len(buf))
            if len(buf) < part_size:
                break
        r = s3_client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                MultipartUpload={"Parts": parts})
    except BaseException:
        # Abort ours, and any upload whose CreateMultipartUpload answer was lost (its id never reached us).
        with contextlib.suppress(Exception):  # the original error matters more
            _sweep_uploads(s3_client, bucket, key)
        raise
    with contextlib.suppress(Exception):  # the object is complete; an orphan from a retried create is not ours
        _sweep_uploads(s3_client, bucket, key)
    return {"uri": uri, "etag": r.get("ETag"), "version_id": r.get("VersionId"), "sha256": total.hexdigest(),
            "bytes": n, "parts": len(parts)}


def _sweep_uploads(s3_client: Any, bucket: str, key: str, *, attempts: int = 4) -> None:
    """Abort every unfinished multipart upload of exactly ``key`` (the target is a new key, or one the caller
    chose to overwrite, so they are this tool's). Each abort is retried beyond botocore's own retries, so a
    flaky network does not leave an upload (and its storage bill) behind."""
    import time

    uploads = s3_client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    for u in (u for u in uploads if u["Key"] == key):
        for attempt in range(attempts):
            try:
                s3_client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=u["UploadId"])
                break
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * 2 ** attempt)


def _read_full(f: BinaryIO, n: int) -> bytes:
    chunks = []
    left = n
    while left:
        b = f.read(left)
        if not b:
            break
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)
