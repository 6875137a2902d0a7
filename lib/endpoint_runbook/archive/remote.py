"""Server-side splice: rebuild an archive in S3 without uploading (or storing) its unchanged prefix.

The splice rebuild (:mod:`.gzappend`) writes ``source[0:P]`` verbatim, then a new tail: the last byte of the
cut rewritten (its low bits kept, the rest masked), an empty stored block, the re-encoded last block plus the
new members, and the gzip trailer. ``P`` is a whole-byte offset, so that prefix is a byte range of the source
object, which S3 can copy into the new object itself (``UploadPartCopy`` with ``CopySourceRange``, parts of at
least 5 MiB). Only the tail is uploaded.

:func:`plan_splice` reads the source once, as parallel ranged GETs (:class:`~endpoint_runbook.s3.RangedReader`),
through the same checks as the local rebuild; it hashes the prefix per copy part (to check what S3 copies) and
writes only the code files (``code/``) and small root files to ``check_dir`` for the load check; the weights
never touch the disk. :func:`write_splice` composes the new object (or, when the prefix is smaller than one
copy part, uploads it whole and says so) and :func:`verify_splice` checks what S3 holds before anything uses
it: size, S3's composite SHA-256 against the one computed from the read and the tail, and the added members
(names and sha256) read back from the object's tail.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckFailed, InputError
from ..s3 import MIN_PART, ComposedUpload, RangedReader, compose_object, parse_s3_uri, upload_stream
from .extract import SMALL_FILE_BYTES, CheckFiles
from .inventory import Limits
from .rebuild import RebuildResult, default_skip, rebuild
from .tarstream import Member, StreamError, TarScanner

__all__ = ["SMALL_FILE_BYTES", "SplicePlan", "abort_splice", "plan_splice", "verify_or_remove", "verify_splice",
           "write_splice"]

MAX_COPY_PART = (5 << 30) - MIN_PART  # a merged last copy part stays within S3's 5 GiB
MAX_COPY_PARTS = 9_000  # of S3's 10,000 parts per upload: room left for the tail's


class _PrefixHasher:
    """SHA-256 of the verbatim prefix per copy part of ``part_size`` bytes; a last part under 5 MiB is merged
    into the one before it (so every copied part meets S3's minimum). Keeps the first 5 MiB for the fallback."""

    def __init__(self, part_size: int, on_part: Callable[[int, int, bytes], None] | None = None):
        self.part_size = part_size
        self.on_part = on_part  # told each part that is final: closed, and not the one a short end may extend
        self.emitted = 0
        self.closed: list[tuple[int, int, Any]] = []
        self.cur = hashlib.sha256()
        self.merge: Any = None  # the previous part's hash, continued over the current part's first 5 MiB
        self.start = 0
        self.pos = 0
        self.head = bytearray()

    def __call__(self, b: Any) -> None:
        mv = memoryview(b)
        if len(self.head) < MIN_PART:
            self.head += mv[:MIN_PART - len(self.head)]
        while len(mv):
            piece = mv[:self.part_size - (self.pos - self.start)]
            self.cur.update(piece)
            if self.merge is not None and self.pos - self.start < MIN_PART:
                self.merge.update(piece[:MIN_PART - (self.pos - self.start)])
            self.pos += len(piece)
            mv = mv[len(piece):]
            if self.pos - self.start == self.part_size:
                if self.on_part is not None and self.closed:
                    a, b, h = self.closed[-1]  # a later part closed: this one can no longer be extended
                    self.on_part(a, b, h.digest())
                    self.emitted += 1
                self.closed.append((self.start, self.pos, self.cur))
                self.merge = self.cur.copy()
                self.cur = hashlib.sha256()
                self.start = self.pos

    def parts(self) -> list[tuple[int, int, bytes]]:
        out = [(a, b, h.digest()) for a, b, h in self.closed]
        n = self.pos - self.start
        if n == 0:
            return out
        if n >= MIN_PART or not out:
            return out + [(self.start, self.pos, self.cur.digest())]
        return out[:-1] + [(out[-1][0], self.pos, self.merge.digest())]


@dataclass
class SplicePlan:
    """What the one read of the source produced: everything needed to write and verify the new object."""

    source_uri: str
    source_etag: str | None
    source_size: int
    result: RebuildResult
    splice_offset: int  # P: the new object is source[0:P] + tail
    copy_parts: list[tuple[int, int, bytes]]
    tail: bytes
    head: bytes  # source[0:min(P, 5 MiB)], kept only for the small-prefix fallback
    bytes_read: int
    check_files: list[str] = field(default_factory=list)
    withheld: dict[str, int] = field(default_factory=dict)  # member path → bytes not written locally
    local_disk_bytes: int = 0
    upload: ComposedUpload | None = field(default=None, repr=False)  # the copy begun during the read, if any

    @property
    def server_side(self) -> bool:
        return self.splice_offset >= MIN_PART


def plan_splice(s3_client: Any, source_uri: str, additions: Sequence[tuple[str | os.PathLike[str], str]], *,
                check_dir: str | os.PathLike[str], size: int, etag: str | None, part_size: int = 64 << 20,
                readers: int = 8, chunk: int = 8 << 20, small_file_bytes: int = SMALL_FILE_BYTES,
                skip: Callable[[str, bool], bool] = default_skip, limits: Limits | None = None,
                level: int = 6, target_uri: str | None = None, overwrite: bool = False,
                copiers: int = 8) -> SplicePlan:
    """Read ``source_uri`` once (``readers`` parallel ranged GETs pinned to ``etag``) and splice ``additions``
    in memory: the tail is kept, the prefix only hashed. Refuses what the local rebuild refuses (same codes).

    With ``target_uri``, the copy starts while the read goes on: the new object's multipart upload is opened
    first (``target-exists`` unless ``overwrite``) and each part of the prefix is handed to S3 (``copiers``
    UploadPartCopy requests at once) as soon as the read has hashed it and it can no longer change; the rest
    is queued when the read ends. Nothing is visible at the target until :func:`write_splice` completes the
    upload; :func:`abort_splice` (and any error here) leaves nothing. Parts are ``part_size`` bytes, larger
    when the source would need more than S3's 10,000 parts.
    """
    if not MIN_PART <= part_size <= MAX_COPY_PART:
        raise InputError("part_size must be between 5 MiB and 5 GiB - 5 MiB", code="bad-input")
    part_size = min(MAX_COPY_PART, max(part_size, -(-size // MAX_COPY_PARTS)))
    upload = None
    if target_uri is not None:
        meta = {"source-uri": source_uri, **({"source-etag": etag.strip('"')} if etag else {})}
        upload = ComposedUpload(s3_client, target_uri, source_uri, source_etag=etag, metadata=meta,
                                overwrite=overwrite, workers=copiers)
    hasher = _PrefixHasher(part_size, on_part=upload.copy if upload is not None else None)
    files = CheckFiles(os.fspath(check_dir), small_file_bytes)
    tail = io.BytesIO()
    try:
        with RangedReader(s3_client, source_uri, size=size, etag=etag, chunk=chunk, workers=readers) as reader:
            try:
                result = rebuild(reader, tail, additions, skip=skip, limits=limits, method="splice", level=level,
                                 write_prefix=hasher, on_data=files)
            finally:
                files.close()
            bytes_read = reader.bytes_read
        files.finish((r["path"], r["type"], r["size"]) for r in result.diff if r["status"] == "unchanged")
        p = result.copied_compressed_bytes
        parts = hasher.parts()
        if upload is not None:
            if p < MIN_PART:  # no copy part: write_splice uploads the whole (small) archive
                upload.abort()
                upload = None
            else:
                for a, b, digest in parts[hasher.emitted:]:
                    upload.copy(a, b, digest)
    except BaseException as e:
        if upload is not None:
            upload.abort(e)
        raise
    return SplicePlan(source_uri=source_uri, source_etag=etag, source_size=size, result=result, splice_offset=p,
                      copy_parts=parts, tail=tail.getvalue(), head=bytes(hasher.head[:p]),
                      bytes_read=bytes_read, check_files=sorted(files.files), withheld=files.withheld,
                      local_disk_bytes=files.written, upload=upload)


def abort_splice(plan: SplicePlan) -> None:
    """Give up a plan's copy started at read time (see ``target_uri``): no object, no unfinished upload."""
    if plan.upload is not None:
        plan.upload.abort()
        plan.upload = None


def write_splice(s3_client: Any, plan: SplicePlan, target_uri: str, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the planned object at ``target_uri``: prefix copied in S3 + tail uploaded; or, when the prefix is
    under one copy part (5 MiB), the whole (small) object uploaded — ``method`` and ``note`` say which. A plan
    whose copy began during the read (``plan_splice(target_uri=...)``) is completed at that target."""
    if parse_s3_uri(target_uri) == parse_s3_uri(plan.source_uri):
        raise InputError(f"the target {target_uri} is the source object.", code="target-is-source",
                         hint="The source is never written: choose a new key.")
    if plan.upload is not None:
        if parse_s3_uri(target_uri) != (plan.upload.bucket, plan.upload.key):
            raise InputError(f"this plan is copying to {plan.upload.uri}, not {target_uri}", code="bad-input",
                             hint="Write it where plan_splice was told, or abort_splice() and plan again.")
        upload, plan.upload = plan.upload, None
        out = upload.complete(plan.tail)
        return {**out, "method": "server-side-splice", "sha256": plan.result.result_sha256, "note": None}
    meta = {"source-uri": plan.source_uri, "source-sha256": plan.result.source_sha256}
    if not plan.server_side:
        up = upload_stream(s3_client, io.BytesIO(plan.head + plan.tail), target_uri, source_uri=plan.source_uri,
                           source_sha256=plan.result.source_sha256, overwrite=overwrite)
        return {**up, "method": "full-upload", "bytes_copied": 0, "bytes_uploaded": up["bytes"],
                "note": f"the unchanged prefix ({plan.splice_offset} bytes) is smaller than S3's 5 MiB copy part "
                        "minimum: the whole archive was uploaded"}
    out = compose_object(s3_client, target_uri, plan.source_uri, plan.copy_parts, plan.tail,
                         source_etag=plan.source_etag, metadata=meta, overwrite=overwrite)
    return {**out, "method": "server-side-splice", "sha256": plan.result.result_sha256, "note": None}


def verify_splice(s3_client: Any, plan: SplicePlan, written: dict[str, Any]) -> dict[str, Any]:
    """Check the object S3 holds before it is used: size, composite SHA-256 (when S3 returns it) and the
    added members read back from its tail. Raises CheckFailed (``result-mismatch``) naming what differs."""
    bucket, key = parse_s3_uri(written["uri"])
    head = s3_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    expected_size = plan.result.result_bytes
    problems: list[str] = []
    if written.get("etag") and head.get("ETag") != written["etag"]:
        problems.append(f"ETag {head.get('ETag')} != {written['etag']} (the object was replaced after it was written)")
    if head["ContentLength"] != expected_size:
        problems.append(f"size {head['ContentLength']} != {expected_size}")
    composite = head.get("ChecksumSHA256")
    want = written.get("checksum_sha256")
    checksum = "not-returned"
    if composite and want:
        checksum = "match" if composite.split("-")[0] == want.split("-")[0] else "mismatch"
        if checksum == "mismatch":
            problems.append(f"S3's composite SHA-256 {composite} != {want} (computed from the read and the tail)")
    start = plan.result.tail_start
    data, got = b"", {}
    if head["ContentLength"] == expected_size:  # else its tail is not where the plan put it (nor maybe anywhere)
        body = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{expected_size - 1}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        try:
            members = _tail_members(data, plan.result.tail_wbits, plan.result.reencoded_source_bytes)
        except (zlib.error, ValueError, StreamError) as e:
            problems.append(f"its tail is not the planned tar data: {e}")
            members = []
        added = {r["path"]: r for r in plan.result.diff if r["status"] == "added"}
        got = {m["path"]: m for m in members}
        if sorted(got) != sorted(added):
            problems.append(f"added members {sorted(got)} != planned {sorted(added)}")
        for path, r in added.items():
            if r.get("sha256") and got.get(path, {}).get("sha256") != r["sha256"]:
                problems.append(f"{path}: sha256 differs")
    report = {"size": head["ContentLength"], "composite_sha256": checksum, "added_members_checked": len(got),
              "tail_bytes_read": len(data), "result_sha256": plan.result.result_sha256, "ok": not problems,
              "problems": problems}
    if problems:
        raise CheckFailed(f"the object written at {written['uri']} is not the planned archive: "
                          + "; ".join(problems), code="result-mismatch")
    return report


def verify_or_remove(s3_client: Any, plan: SplicePlan, written: dict[str, Any]) -> dict[str, Any]:
    """:func:`verify_splice`; an object that fails it is deleted (ours, just written, and wrong: never left for
    deploy to use) and the ``CheckFailed`` raised. When the delete is refused (``s3:DeleteObject`` on the target,
    which the step's policy grants for this alone), the refusal is raised instead (``access-denied``), naming the
    wrong object it leaves at the target."""
    try:
        return verify_splice(s3_client, plan, written)
    except CheckFailed as bad:
        from ..aws import AccessDenied

        bucket, key = parse_s3_uri(written["uri"])
        try:
            s3_client.delete_object(Bucket=bucket, Key=key)
        except AccessDenied as denied:
            raise denied.with_done(f"wrote {written['uri']}, which failed its verification ({bad}); it is still "
                                   "there and wrong: delete it (a rerun refuses an existing target)") from bad
        raise


def _tail_members(data: bytes, wbits: int, skip_bytes: int) -> list[dict[str, Any]]:
    """Inflate the object's self-contained tail and list the members after the re-encoded source bytes."""
    d = zlib.decompressobj(wbits)
    tar = d.decompress(data) + d.flush()
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}

    def on_member(m: Member, raw: bytes) -> None:
        cur.clear()
        row = {"path": m.path, "type": m.type, "size": m.size}
        if m.type == "file":
            cur["h"] = hashlib.sha256()
            row["sha256"] = cur["h"]
        out.append(row)

    def on_data(m: Member, mv: memoryview) -> None:
        cur["h"].update(mv)

    scanner = TarScanner(on_member, on_data)
    scanner.feed(memoryview(tar)[skip_bytes:])
    for row in out:
        if "sha256" in row:
            row["sha256"] = row["sha256"].hexdigest()
    return out
