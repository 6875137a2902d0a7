"""S3 in one place: ``s3://`` URI parsing, head/exists with one not-found rule, streaming multipart upload.

Functions take a boto3 S3 client; none builds its own (see :mod:`endpoint_runbook.aws`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO

from .aws import AccessDenied, is_error
from .errors import InputError

__all__ = ["MIN_PART", "NOT_FOUND_CODES", "ComposedUpload", "RangedReader", "compose_object", "head_object",
           "object_exists", "parse_s3_prefix", "parse_s3_uri", "upload_stream"]

#: S3's smallest multipart part (every part but the last).
MIN_PART = 5 << 20

#: The error codes S3 answers for "there is no such object" (HeadObject has no body: 404 only).
NOT_FOUND_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; InputError ``bad-s3-uri`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"not an S3 URI: {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/key.")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise InputError(f"not an S3 object URI: {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/key.")
    return bucket, key


def parse_s3_prefix(uri: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` → ``(bucket, prefix)`` (the prefix may be empty); ``bad-s3-uri`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"not an S3 URI: {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/prefix/.")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InputError(f"no bucket in {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/prefix/.")
    return bucket, prefix


def head_object(s3_client: Any, uri: str) -> dict[str, Any] | None:
    """HeadObject of ``uri``, or None when the object (or its bucket) does not exist. Other errors raise."""
    bucket, key = parse_s3_uri(uri)
    try:
        return s3_client.head_object(Bucket=bucket, Key=key)
    except Exception as e:
        if is_error(e, *NOT_FOUND_CODES):
            return None
        raise


def object_exists(s3_client: Any, uri: str | None) -> bool:
    """Whether ``uri`` names an existing object (an unset URI: no)."""
    return bool(uri) and head_object(s3_client, uri) is not None  # type: ignore[arg-type]


def upload_stream(s3_client: Any, fileobj: BinaryIO, uri: str, *, source_uri: str | None = None,
                  source_sha256: str | None = None, overwrite: bool = False, part_size: int = 16 << 20,
                  progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Multipart-upload ``fileobj`` to ``uri`` with SHA-256 checksums and source metadata.

    Refuses an existing target unless ``overwrite`` (``target-exists``) and a target equal to the source
    (``target-is-source``). Any failure (including KeyboardInterrupt) aborts the multipart upload, so no
    object and no unfinished upload remain. Returns {uri, etag, version_id, sha256, bytes, parts}.
    """
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
    except BaseException as failure:
        # Abort ours, and any upload whose CreateMultipartUpload answer was lost (its id never reached us).
        _abort_left(s3_client, bucket, key, failure)
        raise
    with contextlib.suppress(Exception):  # the object is complete; an orphan from a retried create is not ours
        _sweep_uploads(s3_client, bucket, key)
    return {"uri": uri, "etag": r.get("ETag"), "version_id": r.get("VersionId"), "sha256": total.hexdigest(),
            "bytes": n, "parts": len(parts)}


def _sweep_uploads(s3_client: Any, bucket: str, key: str, *, attempts: int = 4) -> None:
    """Abort every unfinished multipart upload of exactly ``key`` (the target is a new key, or one the caller
    chose to overwrite, so they are this tool's). Each abort is retried beyond botocore's own retries, so a
    flaky network does not leave an upload (and its storage bill) behind; a refusal is not retried."""
    import time


    uploads = s3_client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    for u in (u for u in uploads if u["Key"] == key):
        for attempt in range(attempts):
            try:
                s3_client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=u["UploadId"])
                break
            except Exception as e:
                if attempt == attempts - 1 or isinstance(e, AccessDenied):
                    raise
                time.sleep(0.5 * 2 ** attempt)


def _abort_left(s3_client: Any, bucket: str, key: str, failure: BaseException | None) -> None:
    """Abort what an upload of ``key`` left, after ``failure`` (or when it was given up). Any error here gives
    way to the original one, except a missing permission to abort: that is raised (``access-denied``), naming
    the unfinished upload it leaves behind, which nothing else would tell."""

    try:
        _sweep_uploads(s3_client, bucket, key)
    except AccessDenied as denied:
        if isinstance(failure, AccessDenied):
            return  # the permission that stopped the upload is the one to name first
        why = f" ({type(failure).__name__}: {str(failure)[:200]})" if failure is not None else ""
        raise denied.with_done(f"the upload to s3://{bucket}/{key} stopped{why}: no object was written there, "
                               "but its unfinished multipart upload is left (its parts are billed until it is "
                               "aborted)") from failure
    except Exception:
        pass


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


class RangedReader:
    """A sequential binary reader of one S3 object that fetches it as parallel ranged GETs.

    ``workers`` connections each fetch ``chunk`` bytes ahead (memory: about ``(workers + 1) * chunk``), every
    request pinned to ``etag`` with ``IfMatch``, so a source replaced mid-read fails (``PreconditionFailed``)
    instead of mixing two objects. ``bytes_read`` counts what came over the wire. Nothing touches the disk.
    """

    def __init__(self, s3_client: Any, uri: str, *, size: int, etag: str | None, chunk: int = 8 << 20,
                 workers: int = 8):
        from concurrent.futures import ThreadPoolExecutor

        self.s3, (self.bucket, self.key) = s3_client, parse_s3_uri(uri)
        self.size, self.etag, self.chunk, self.workers = size, etag, max(1, chunk), max(1, workers)
        self.bytes_read = 0
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="s3-range")
        self._next = 0  # next offset to schedule
        self._futures: list[Any] = []
        self._buf = memoryview(b"")
        self._fill()

    def _get(self, start: int, end: int) -> bytes:
        kw: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key, "Range": f"bytes={start}-{end - 1}"}
        if self.etag:
            kw["IfMatch"] = self.etag
        body = self.s3.get_object(**kw)["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        if len(data) != end - start:
            raise OSError(f"s3://{self.bucket}/{self.key}: asked bytes {start}-{end - 1}, got {len(data)} bytes")
        return data

    def _fill(self) -> None:
        while len(self._futures) < self.workers and self._next < self.size:
            end = min(self.size, self._next + self.chunk)
            self._futures.append(self._pool.submit(self._get, self._next, end))
            self._next = end

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size
        while not self._buf and self._futures:
            data = self._futures.pop(0).result()
            self.bytes_read += len(data)
            self._buf = memoryview(data)
            self._fill()
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out

    def close(self) -> None:
        for f in self._futures:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()
        self._buf = memoryview(b"")

    def __enter__(self) -> RangedReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ComposedUpload:
    """One multipart upload that writes ``uri`` as byte ranges of ``source_uri`` copied inside S3 followed by
    uploaded bytes, with SHA-256 part checksums.

    :meth:`copy` queues ``source[a:b]`` as the next part: up to ``workers`` UploadPartCopy requests run at once
    (pinned to ``source_etag``), so a caller still reading the source can hand over each part as soon as it is
    known, and S3 copies while the read goes on. Every part but a last one must be at least :data:`MIN_PART`;
    each copied part's checksum S3 returns must equal the ``sha256`` the caller computed from its own read
    (``copy-mismatch`` otherwise). :meth:`complete` waits for the copies, uploads ``tail`` and completes;
    :meth:`abort` (also any error, and leaving a ``with`` block by an exception) leaves no object and no
    unfinished upload. The target must not exist unless ``overwrite``.
    """

    def __init__(self, s3_client: Any, uri: str, source_uri: str, *, source_etag: str | None = None,
                 metadata: dict[str, str] | None = None, overwrite: bool = False, workers: int = 8):
        from concurrent.futures import ThreadPoolExecutor

        self.s3, self.uri, self.source_uri = s3_client, uri, source_uri
        self.bucket, self.key = parse_s3_uri(uri)
        self.src = parse_s3_uri(source_uri)
        if self.src == (self.bucket, self.key):
            raise InputError(f"the target {uri} is the source object; refusing to overwrite it",
                             code="target-is-source", hint="The source is never written: choose a new key.")
        if not overwrite and head_object(s3_client, uri) is not None:
            raise InputError(f"{uri} already exists", code="target-exists",
                             hint="Pass overwrite=True, or choose a new key.")
        self.source_etag = source_etag
        self.parts: list[dict[str, Any]] = []
        self.digests: list[bytes] = []
        self.copied = self.uploaded = self.checked = 0
        self._futures: list[Any] = []
        self._failure: BaseException | None = None  # the first copy that failed (a copy reports it at once)
        self._short_part: tuple[int, int] | None = None  # a copy part under MIN_PART: only the last may be
        self._done = False
        _sweep_uploads(s3_client, self.bucket, self.key)  # what a stopped earlier run left behind
        self.upload_id = s3_client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256", Metadata=metadata or {},
            ContentType="application/gzip")["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="s3-copy")

    def __enter__(self) -> ComposedUpload:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, *_: Any) -> None:
        if exc_type is not None or not self._done:
            self.abort(exc)

    def copy(self, a: int, b: int, digest: bytes) -> None:
        """Queue ``source[a:b]`` (whose SHA-256 the caller computed) as the next part; returns at once."""
        if b <= a:
            raise InputError(f"empty copy range {a}-{b}", code="bad-input")
        if self._short_part is not None:
            raise InputError(f"copy part {len(self.parts)} ({self._short_part[1] - self._short_part[0]} bytes) is "
                             "below S3's 5 MiB part minimum and is not the last", code="part-too-small")
        if b - a < MIN_PART:
            self._short_part = (a, b)
        self._raise_failed()
        n = len(self.parts) + 1
        self.parts.append({"PartNumber": n, "ChecksumSHA256": base64.b64encode(digest).decode()})
        self.digests.append(digest)
        self.copied += b - a
        fut = self._pool.submit(self._copy, n, a, b)
        fut.add_done_callback(self._note_failure)
        self._futures.append(fut)

    def _note_failure(self, fut: Any) -> None:
        if self._failure is None and not fut.cancelled() and fut.exception() is not None:
            self._failure = fut.exception()

    def _copy(self, n: int, a: int, b: int) -> None:
        kw: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key, "UploadId": self.upload_id, "PartNumber": n,
                              "CopySource": {"Bucket": self.src[0], "Key": self.src[1]},
                              "CopySourceRange": f"bytes={a}-{b - 1}"}
        if self.source_etag:
            kw["CopySourceIfMatch"] = self.source_etag
        r = self.s3.upload_part_copy(**kw)["CopyPartResult"]
        want = self.parts[n - 1]["ChecksumSHA256"]
        got = r.get("ChecksumSHA256")
        if got is not None:
            if got != want:
                raise InputError(f"S3 copied bytes {a}-{b - 1} of {self.source_uri} with SHA-256 {got}, but the read "
                                 f"saw {want}: the source changed or the copy is wrong", code="copy-mismatch",
                                 hint="Rerun the step; nothing was written.")
            self.checked += 1
        self.parts[n - 1]["ETag"] = r["ETag"]

    def _raise_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def complete(self, tail: bytes = b"", *, tail_part_size: int = 64 << 20) -> dict[str, Any]:
        """Wait for the copies, upload ``tail``, complete. Returns {uri, etag, version_id, checksum_sha256 (S3's
        composite, as computed from the parts), bytes, bytes_copied, bytes_uploaded, parts, copy_parts_checked}."""
        try:
            if self._short_part is not None and tail:
                raise InputError(f"copy part {len(self.parts)} is below S3's 5 MiB part minimum and is not the last",
                                 code="part-too-small")
            for f in self._futures:
                f.result()
            view = memoryview(tail)
            for i in range(0, len(tail), tail_part_size):
                piece = view[i:i + tail_part_size]
                digest = hashlib.sha256(piece).digest()
                want = base64.b64encode(digest).decode()
                n = len(self.parts) + 1
                r = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=n,
                                        Body=bytes(piece), ChecksumAlgorithm="SHA256", ChecksumSHA256=want)
                self.parts.append({"ETag": r["ETag"], "PartNumber": n, "ChecksumSHA256": want})
                self.digests.append(digest)
                self.uploaded += len(piece)
            if not self.parts:
                raise InputError("nothing to write: no copy part and no tail", code="bad-input")
            r = self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                                  MultipartUpload={"Parts": self.parts})
        except BaseException as e:
            self.abort(e)
            raise
        self._done = True
        self._pool.shutdown(wait=True)
        with contextlib.suppress(Exception):  # the object is complete; an orphan from a retried create is not ours
            _sweep_uploads(self.s3, self.bucket, self.key)
        composite = base64.b64encode(hashlib.sha256(b"".join(self.digests)).digest()).decode() + f"-{len(self.parts)}"
        return {"uri": self.uri, "etag": r.get("ETag"), "version_id": r.get("VersionId"),
                "checksum_sha256": composite, "bytes": self.copied + self.uploaded, "bytes_copied": self.copied,
                "bytes_uploaded": self.uploaded, "parts": len(self.parts), "copy_parts_checked": self.checked}

    def abort(self, failure: BaseException | None = None) -> None:
        """Stop queued copies, wait for running ones, abort the upload (and any other unfinished one of the key).
        ``failure``: why (any error aborting gives way to it, except a refused abort: see ``_abort_left``)."""
        if self._done:
            return
        self._done = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        _abort_left(self.s3, self.bucket, self.key, failure)


def compose_object(s3_client: Any, uri: str, source_uri: str, copy_parts: list[tuple[int, int, bytes]],
                   tail: bytes, *, source_etag: str | None = None, metadata: dict[str, str] | None = None,
                   overwrite: bool = True, workers: int = 8, tail_part_size: int = 64 << 20) -> dict[str, Any]:
    """Write ``uri`` as ``source[a:b]`` for each ``(a, b, sha256)`` in ``copy_parts`` followed by ``tail``, in one
    :class:`ComposedUpload` (copies ``workers`` at once, each checked; any failure leaves nothing)."""
    for i, (a, b, _d) in enumerate(copy_parts):
        last = i == len(copy_parts) - 1 and not tail
        if b <= a or (b - a < MIN_PART and not last):
            raise InputError(f"copy part {i + 1} ({b - a} bytes) is below S3's 5 MiB part minimum",
                             code="part-too-small")
    with ComposedUpload(s3_client, uri, source_uri, source_etag=source_etag, metadata=metadata,
                        overwrite=overwrite, workers=workers) as up:
        for a, b, digest in copy_parts:
            up.copy(a, b, digest)
        return up.complete(tail, tail_part_size=tail_part_size)
