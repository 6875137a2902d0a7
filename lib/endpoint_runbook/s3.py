"""S3 in one place: ``s3://`` URI parsing, head/exists with one not-found rule, streaming multipart upload.

Functions take a boto3 S3 client; none builds its own (see :mod:`endpoint_runbook.aws`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO

from .errors import InputError

__all__ = ["NOT_FOUND_CODES", "head_object", "object_exists", "parse_s3_prefix", "parse_s3_uri", "upload_stream"]

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


def _is_error(exc: BaseException, *codes: str) -> bool:
    from .aws import is_error  # aws imports this module: resolve at call time

    return is_error(exc, *codes)


def head_object(s3_client: Any, uri: str) -> dict[str, Any] | None:
    """HeadObject of ``uri``, or None when the object (or its bucket) does not exist. Other errors raise."""
    bucket, key = parse_s3_uri(uri)
    try:
        return s3_client.head_object(Bucket=bucket, Key=key)
    except Exception as e:
        if _is_error(e, *NOT_FOUND_CODES):
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
            if not _is_error(e, "404", "NoSuchKey", "NotFound"):
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
