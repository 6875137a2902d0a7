"""Streaming inventory of a model archive: what it holds, with hard limits and named findings.

Everything streams from a binary file-like (a local file, an S3 ``StreamingBody``): nothing is written
whole to disk, nothing seeks, memory stays bounded whatever the archive size, and hard limits
(:class:`Limits`) stop a hostile archive with a named finding instead of a hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import InputError, NotFoundError, RunbookError
from ..findings import Finding
from ..s3 import parse_s3_uri
from .tarstream import (
    GzipReader,
    Member,
    StreamError,
    TarScanner,
)

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
class ArchiveInventory:
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
        if m.type == "dir" and p.strip("/") in ("", "."):
            pass  # the archive's root itself: the SageMaker SDK's repack writes "/" (tar.add(dir, arcname=os.sep))
        elif not p or p.startswith("/") or _has_dotdot(p) or (len(p) > 1 and p[1] == ":"):
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
              refuse: bool = False) -> tuple[ArchiveInventory, GzipReader, TarScanner, _Collector]:
    """The shared reading loop. With ``refuse=True`` a refusing finding raises InputError right away."""
    inv = ArchiveInventory()
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
#: A Hugging Face model's own description at the archive's root: its config and its card (the task it does).
MODEL_CARD = ("config.json", "README.md")
MAX_SOURCE_BYTES = 1 << 20


def inventory(stream: BinaryIO, *, limits: Limits | None = None, digests: bool = False,
              sources: dict[str, bytes] | None = None,
              on_data: Callable[[Member, memoryview], None] | None = None) -> ArchiveInventory:
    """Read a gzip'd tar from ``stream`` (never seeks, never writes it to disk) and list what it holds.

    Stream and safety findings go to ``ArchiveInventory.findings``; nothing raises for bad content.
    ``digests=True`` also computes each file member's sha256. ``sources``, when given, receives the small
    source files (``.py``, ``.txt`` ... up to 1 MiB each, empty ones included) for import resolution.
    ``on_data`` is also given every member's data as it passes (e.g. :class:`~.extract.CheckFiles`).
    """
    if sources is None and on_data is None:
        inv, *_ = _read_tar(stream, limits or Limits(), digests=digests)
        return inv
    buffers: dict[str, bytearray] = {}

    def wanted(m: Member) -> bool:
        return sources is not None and m.type == "file" and (m.path.endswith(SOURCE_SUFFIXES) or
                                                             m.path in MODEL_CARD) and m.size <= MAX_SOURCE_BYTES

    def on_member(m: Member, _raw: bytes) -> None:
        if wanted(m):
            buffers[m.path] = bytearray()

    def on_member_data(m: Member, data: memoryview) -> None:
        if wanted(m) and m.path in buffers:
            buffers[m.path] += data
        if on_data is not None:
            on_data(m, data)

    inv, *_ = _read_tar(stream, limits or Limits(), digests=digests, on_member=on_member, on_data=on_member_data)
    if sources is not None:
        sources.update((k, bytes(v)) for k, v in buffers.items())
    return inv


def _get_object(s3_client: Any, uri: str) -> Any:
    bucket, key = parse_s3_uri(uri)
    with _named_read_errors(uri):
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"]


def _head_object(s3_client: Any, uri: str) -> dict[str, Any]:
    bucket, key = parse_s3_uri(uri)
    with _named_read_errors(uri):
        return s3_client.head_object(Bucket=bucket, Key=key)


@contextlib.contextmanager
def _named_read_errors(uri: str) -> Iterator[None]:
    from ..aws import is_error

    try:
        yield
    except Exception as e:
        if is_error(e, "NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise NotFoundError(f"{uri} does not exist", code="not-found",
                                hint="Check the model's ModelDataUrl.") from e
        if is_error(e, "AccessDenied", "403", "Forbidden"):
            raise RunbookError(f"access denied reading {uri}", code="access-denied",
                               hint="The role needs s3:GetObject on it.") from e
        raise


def inventory_s3(s3_client: Any, uri: str, *, limits: Limits | None = None, digests: bool = False,
                 sources: dict[str, bytes] | None = None,
                 on_data: Callable[[Member, memoryview], None] | None = None, readers: int = 8,
                 ranged_from: int = 64 << 20) -> ArchiveInventory:
    """:func:`inventory` of ``s3://bucket/key``: one streaming GetObject, or from ``ranged_from`` bytes
    ``readers`` parallel ranged GETs pinned to the object's ETag (a link that limits each connection is then
    used ``readers`` times over, and a source replaced mid-read fails instead of mixing two objects)."""
    from ..s3 import RangedReader

    head = _head_object(s3_client, uri) if readers > 1 else None
    if head is not None and head["ContentLength"] >= ranged_from:
        with RangedReader(s3_client, uri, size=head["ContentLength"], etag=head.get("ETag"),
                          workers=readers) as reader:
            return inventory(reader, limits=limits, digests=digests, sources=sources, on_data=on_data)
    body = _get_object(s3_client, uri)
    try:
        return inventory(body, limits=limits, digests=digests, sources=sources, on_data=on_data)
    finally:
        body.close()


# ---------------------------------------------------------------------------------------------------------
# layout lint and the presence table
# ---------------------------------------------------------------------------------------------------------
