"""The local stack's S3 link: a bandwidth limit, byte ranges read without loading whole objects,
``UploadPartCopy`` with ``x-amz-copy-source-range`` answered as S3 answers it, and uploads completed in place.

A WSGI layer in front of moto for S3 requests only (the SigV4 credential scope says ``s3``):

- **bandwidth** (``rate``, bytes/s per connection, ``None``: unlimited): request bodies (PutObject,
  UploadPart) are read, and response bodies (GetObject) are sent, no faster than ``rate``. A request is one
  connection's turn (keep-alive requests are sequential), so N parallel connections get N x ``rate``, as on
  S3. The stack's own traffic (hosting fetching a model, the ``local-stack`` key) is not limited: it stands for
  SageMaker's in-region download, not the user's link.
- **GetObject** of a key (with or without ``Range: bytes=a-b | a- | -n``) is streamed from the object's buffer
  in chunks, so a ranged read of a 4 GiB object reads the range, not 4 GiB (moto loads the whole value).
  Conditional and SSE-C requests, versions and part numbers are left to moto.
- **UploadPartCopy**: moto copies the whole value when the range is malformed, clips a range past the end, and
  answers no part checksum. Here, as on S3: the range must be ``bytes=first-last`` inside the source
  (``InvalidArgument`` otherwise), ``x-amz-copy-source-if-match`` is honoured (``PreconditionFailed``), a copied part is at most 5 GiB (``InvalidRequest``), a missing source is
  ``NoSuchKey`` and a missing upload ``NoSuchUpload``; only the range is read from the source's buffer; the
  part's SHA-256 (when the upload was created with ``ChecksumAlgorithm=SHA256``) is in ``CopyPartResult``, so
  the caller can check what S3 copied against what it read. The range is streamed into the part (no whole
  copy in memory).
- **CompleteMultipartUpload** (moto's, replaced in the stack process by :func:`install_streaming_complete`): the
  object is its parts joined where they are, as on S3, instead of moto's join in memory and rewrite (two
  whole copies of the object in memory at once, three with the default checksum). Same checks and answers (InvalidPart,
  EntityTooSmall, the multipart ETag, checksums, metadata, tags, ACL, the CompleteMultipartUpload event).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import html
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .access import authorize
from .faults import INTERNAL_KEY, identify

__all__ = ["MAX_COPY_PART", "S3Link", "Throttle", "install_streaming_complete"]

MAX_COPY_PART = 5 << 30  # S3: a copied part (or CopyObject source) is at most 5 GiB
CHUNK = 256 << 10
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Throttle:
    """Pace bytes to ``rate`` per second from the first byte (a token bucket with no burst)."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self.t0 = time.monotonic()
        self.sent = 0

    def pace(self, n: int) -> None:
        self.sent += n
        ahead = self.t0 + self.sent / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


class _SlowInput:
    """``wsgi.input`` read no faster than the throttle allows."""

    def __init__(self, raw: Any, throttle: Throttle):
        self.raw, self.throttle = raw, throttle

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            out = bytearray()
            while True:
                b = self.read(CHUNK)
                if not b:
                    return bytes(out)
                out += b
        b = self.raw.read(min(n, CHUNK))
        self.throttle.pace(len(b))
        return b

    def readline(self, *args: Any) -> bytes:
        b = self.raw.readline(*args)
        self.throttle.pace(len(b))
        return b

    def __iter__(self) -> Iterator[bytes]:
        while True:
            b = self.read(CHUNK)
            if not b:
                return
            yield b


def _paced(body: Iterable[bytes], throttle: Throttle) -> Iterator[bytes]:
    try:
        for piece in body:
            for i in range(0, len(piece), CHUNK):
                part = piece[i:i + CHUNK]
                throttle.pace(len(part))
                yield part
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _error(start_response: Callable, status: str, code: str, message: str) -> list[bytes]:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{html.escape(message)}'
            f"</Message></Error>").encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _etag_matches(header: str, etag: str) -> bool:
    tags = {t.strip().strip('"') for t in header.split(",")}
    return "*" in tags or etag.strip('"') in tags


def _read_range(key: Any, start: int, length: int) -> bytes:
    with key.lock:
        key._value_buffer.seek(start)
        return key._value_buffer.read(length)


def _iter_range(key: Any, start: int, length: int) -> Iterator[bytes]:
    pos, left = start, length
    while left > 0:
        b = _read_range(key, pos, min(CHUNK * 16, left))
        if not b:
            return
        pos += len(b)
        left -= len(b)
        yield b


def _copy_part(multipart: Any, part_number: int, key: Any, start: int, length: int,
               sha256: bool) -> tuple[Any, bytes]:
    """``key[start:start+length]`` as part ``part_number`` of ``multipart``, streamed piece by piece into the
    part's buffer (its ETag, the MD5 S3 gives a copied part, and the SHA-256 computed on the way)."""
    part = multipart.set_part(part_number, b"")
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256() if sha256 else None
    buf = part._value_buffer
    if length > getattr(buf, "_max_size", 0):
        buf.rollover()  # straight to its file: no in-memory copy of a large part first
    for piece in _iter_range(key, start, length):
        md5.update(piece)
        if sha is not None:
            sha.update(piece)
        buf.write(piece)
    part.contentsize = length
    part._etag = md5.hexdigest()
    if sha is not None:
        part._sha256 = sha.digest()
    return part, sha.digest() if sha is not None else b""


def install_streaming_complete() -> None:
    """Replace moto's CompleteMultipartUpload (which joins every part in memory and copies the result again: two
    or three whole copies of the object at once, then a rewrite to disk) with one that joins the parts in place.
    Same answers: part and size checks, ETag (MD5 of the part MD5s), checksums, metadata, tags, ACL, event."""
    from moto.s3.models import S3Backend

    if getattr(S3Backend.complete_multipart_upload, "_streaming", False):
        return
    original = S3Backend.complete_multipart_upload

    def complete_multipart_upload(self: Any, bucket_name: str, multipart_id: str, body: Iterator[tuple[int, str]]):
        bucket = self.get_bucket(bucket_name)
        multipart = bucket.multiparts[multipart_id]
        checksum = _StreamChecksum.of(multipart)
        if checksum is None:  # an algorithm this can't compute piece by piece as moto would: moto's own way
            return original(self, bucket_name, multipart_id, body)
        return _complete_streaming(self, bucket, multipart, multipart_id, body, checksum)

    complete_multipart_upload._streaming = True  # type: ignore[attr-defined]
    S3Backend.complete_multipart_upload = complete_multipart_upload


class _StreamChecksum:
    """moto's MultipartChecksumBuilder, fed piece by piece: COMPOSITE (a checksum per part, then of those) or
    FULL_OBJECT (one running checksum). None from :meth:`of` when the algorithm has no running form here."""

    def __init__(self, algorithm: str, kind: str):
        self.algorithm, self.kind = algorithm, kind
        self.parts = bytearray()
        self.count = 0
        self.crc = 0
        self.h: Any = None

    @classmethod
    def of(cls, multipart: Any) -> _StreamChecksum | None:
        from moto.core.compat import HAS_CRT

        algorithm = multipart.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME"
        kind = multipart.metadata.get("x-amz-checksum-type") or ""
        kind = kind or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
        try:
            import crc32c  # type: ignore[import-not-found]  # noqa: F401 - moto uses it when present
            has_crc32c = True
        except ImportError:
            has_crc32c = False
        # Without those libraries moto computes CRC32 for CRC32C and CRC64NVME, which runs piece by piece here
        if (algorithm == "CRC32C" and has_crc32c) or (algorithm == "CRC64NVME" and HAS_CRT):
            return None
        return cls(algorithm, kind)

    def start_part(self) -> None:
        if self.kind == "COMPOSITE" or self.h is None:
            self.h = self._new()

    def _new(self) -> Any:
        if self.algorithm in ("CRC32", "CRC32C", "CRC64NVME"):
            return None
        return hashlib.sha1(usedforsecurity=False) if self.algorithm == "SHA1" else hashlib.sha256()

    def update(self, piece: bytes) -> None:
        if self.h is None:
            self.crc = binascii.crc32(piece, self.crc)
        else:
            self.h.update(piece)

    def _digest(self) -> bytes:
        if self.h is None:
            out, self.crc = self.crc.to_bytes(4, "big"), 0
            return out
        return self.h.digest()

    def add_part_digest(self, digest: bytes) -> None:
        self.count += 1
        self.parts += digest

    def end_part(self) -> None:
        self.count += 1
        if self.kind == "COMPOSITE":
            self.parts += self._digest()
            self.h = None

    def build(self) -> tuple[str, str, int]:
        from moto.s3.utils import compute_checksum

        if self.kind == "COMPOSITE":
            return self.kind, compute_checksum(bytes(self.parts), self.algorithm).decode(), self.count
        return self.kind, base64.b64encode(self._digest()).decode(), 1


class _JoinedParts:
    """An object's buffer that is its completed upload's parts, read in place (S3 does not copy parts when it
    completes an upload; copying here wrote every byte to disk again). Read-only to S3 calls; moto only reads an
    existing key's buffer. Closing it disposes the parts."""

    def __init__(self, parts: list[Any]):
        self.parts = parts
        self.starts: list[int] = []
        pos = 0
        for p in parts:
            self.starts.append(pos)
            pos += p.contentsize
        self.size = pos
        self.pos = 0
        self.closed = False

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of closed file")
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        out = bytearray()
        while self.pos < end:
            i = bisect.bisect_right(self.starts, self.pos) - 1
            part, off = self.parts[i], self.pos - self.starts[i]
            take = min(end - self.pos, part.contentsize - off)
            b = _read_range(part, off, take)
            if not b:
                break
            out += b
            self.pos += len(b)
        return bytes(out)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for p in self.parts:
                p.dispose()


def _complete_streaming(backend: Any, bucket: Any, multipart: Any, multipart_id: str,
                        body: Iterator[tuple[int, str]], checksum: _StreamChecksum) -> Any:
    from moto.s3 import models, notifications
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML

    chosen: list[Any] = []
    md5s = bytearray()
    last = None
    for pn, etag in body:
        part = multipart.parts.get(pn)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise InvalidPart()
        if last is not None and last.contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s += bytes.fromhex(part.etag.replace('"', ""))
        chosen.append(part)
        last = part
    if not chosen:
        raise MalformedXML()
    etag = f"{hashlib.md5(bytes(md5s), usedforsecurity=False).hexdigest()}-{len(chosen)}"
    for part in chosen:  # the checksum reads the parts (no write): S3 keeps them, it does not copy them
        known = getattr(part, "_sha256", None)
        if known is not None and checksum.kind == "COMPOSITE" and checksum.algorithm == "SHA256":
            checksum.add_part_digest(known)  # computed from the same bytes when the part was copied
            continue
        checksum.start_part()
        for piece in _iter_range(part, 0, part.contentsize):
            checksum.update(piece)
        checksum.end_part()
    # The new object is its parts, joined where they are; detached first (deleting the upload disposes its parts).
    joined = _JoinedParts(chosen)
    for pn in [pn for pn, p in multipart.parts.items() if any(p is c for c in chosen)]:
        del multipart.parts[pn]
    del bucket.multiparts[multipart_id]  # disposes the parts that were not chosen
    key = backend.put_object(bucket.name, multipart.key_name, b"", storage=multipart.storage, etag=etag,
                             multipart=multipart, encryption=multipart.sse_encryption,
                             kms_key_id=multipart.kms_key_id, disable_notification=True)
    with key.lock:
        key._value_buffer.close()
        key._value_buffer = joined
    size = joined.size
    key.contentsize = size
    key.set_metadata(multipart.metadata)
    key.checksum_algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
    key.checksum_type, key.checksum_value, key.checksum_parts = checksum.build()
    backend.put_object_tagging(key, multipart.tags)
    backend.put_object_acl(bucket_name=bucket.name, key_name=key.name, acl=multipart.acl, disable_notification=True)
    notifications.send_event(backend.account_id,
                             notifications.S3NotificationEvent.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT,
                             bucket, bucket.keys.get(multipart.key_name))
    return key


class S3Link:
    """WSGI middleware for S3 requests (see the module docstring); everything else passes through."""

    def __init__(self, app: Callable, rate: float | None = None):
        if rate is not None and rate <= 0:
            raise ValueError("the bandwidth limit must be a positive number of bytes per second")
        self.app, self.rate = app, rate
        install_streaming_complete()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        call = identify(environ)
        if call.service != "s3":
            return self.app(environ, start_response)
        limited = self.rate is not None and call.access_key != INTERNAL_KEY
        if limited and int(environ.get("CONTENT_LENGTH") or 0) > 0:
            environ["wsgi.input"] = _SlowInput(environ["wsgi.input"], Throttle(self.rate))  # type: ignore[arg-type]
        if call.operation == "UploadPartCopy":
            denied = self._authorize_copy(environ)
            if denied is not None:
                return denied(environ, start_response)
            return self._upload_part_copy(environ, start_response)
        body: Iterable[bytes] | None = None
        if call.operation == "GetObject":
            bucket, name = self._bucket_key(environ.get("PATH_INFO", ""))
            denied = authorize(environ, b"", [("s3:GetObject", f"arn:aws:s3:::{bucket}/{name}")], s3=True)
            if denied is not None:
                return denied(environ, start_response)
            body = self._get_object(environ, start_response)
        if body is None:
            body = self.app(environ, start_response)
        if limited and environ.get("REQUEST_METHOD") == "GET":
            return _paced(body, Throttle(self.rate))  # type: ignore[arg-type]
        return body

    # -- helpers ------------------------------------------------------------------------------------------
    def _authorize_copy(self, environ: dict[str, Any]) -> Callable | None:
        """UploadPartCopy, under IAM enforcement: s3:PutObject on the target and s3:GetObject on the source."""
        dest_bucket, dest_key = self._bucket_key(environ.get("PATH_INFO", ""))
        src_bucket, src_key = self._bucket_key(urllib.parse.urlparse(environ.get("HTTP_X_AMZ_COPY_SOURCE", "")).path)
        return authorize(environ, b"", [("s3:PutObject", f"arn:aws:s3:::{dest_bucket}/{dest_key}"),
                                        ("s3:GetObject", f"arn:aws:s3:::{src_bucket}/{src_key}")], s3=True)

    @staticmethod
    def _account(environ: dict[str, Any]) -> str:
        from moto.iam.models import get_account_id_from

        call = identify(environ)
        return get_account_id_from(call.access_key)

    def _backend(self, environ: dict[str, Any]) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self._account(environ)]["aws"]

    @staticmethod
    def _bucket_key(path: str) -> tuple[str, str]:
        bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
        return bucket, key

    def _key(self, environ: dict[str, Any], bucket: str, key: str, version: str | None = None) -> Any | None:
        backend = self._backend(environ)
        try:
            return backend.get_object(bucket, key, version_id=version)
        except Exception:  # noqa: BLE001 - missing bucket/key: the caller answers S3's error (or moto does)
            return None

    # -- GetObject ----------------------------------------------------------------------------------------
    def _get_object(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes] | None:
        """Stream a plain or ranged GET from the object's buffer; None: leave the request to moto."""
        if environ.get("QUERY_STRING"):
            return None
        if any(k in environ for k in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
                                      "HTTP_IF_UNMODIFIED_SINCE",
                                      "HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION_CUSTOMER_ALGORITHM")):
            return None
        bucket, name = self._bucket_key(environ.get("PATH_INFO", ""))
        key = self._key(environ, bucket, name)
        if key is None or getattr(key, "disposed", False) or key.storage_class in ("GLACIER", "DEEP_ARCHIVE"):
            return None  # moto answers NoSuchKey / InvalidObjectState
        if "HTTP_IF_MATCH" in environ and not _etag_matches(environ["HTTP_IF_MATCH"], key.etag):
            return _error(start_response, "412 Precondition Failed", "PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold")
        size = key.size
        rng = environ.get("HTTP_RANGE")
        start, length, status = 0, size, "200 OK"
        headers = {k: v for k, v in key.response_dict.items()}
        headers.update({k: v for k, v in key.metadata.items()})
        headers["Accept-Ranges"] = "bytes"
        if rng:
            m = _RANGE.match(rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return None  # multi-range or malformed: moto's behaviour (the whole object)
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                if start >= size:
                    return _error(start_response, "416 Requested Range Not Satisfiable", "InvalidRange",
                                  "The requested range is not satisfiable")
                if end < start:
                    return None
            else:
                n = int(m.group(2))
                if n == 0:
                    return _error(start_response, "416 Requested Range Not Satisfiable", "InvalidRange",
                                  "The requested range is not satisfiable")
                start, end = max(0, size - n), size - 1
            length = end - start + 1
            status = "206 Partial Content"
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            for h in [h for h in headers if h.lower().startswith("x-amz-checksum-")]:
                del headers[h]
        headers["content-length"] = str(length)
        start_response(status, [(k, str(v)) for k, v in headers.items()])
        return _iter_range(key, start, length)

    # -- UploadPartCopy -----------------------------------------------------------------------------------
    def _upload_part_copy(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        from moto.s3.exceptions import NoSuchUpload  # noqa: F401 - the name S3 uses, for readers

        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        upload_id = (query.get("uploadId") or [""])[0]
        try:
            part_number = int((query.get("partNumber") or [""])[0])
        except ValueError:
            part_number = 0
        if not 1 <= part_number <= 10000:
            return _error(start_response, "400 Bad Request", "InvalidArgument",
                          "Part number must be an integer between 1 and 10000, inclusive")
        dest_bucket, dest_key = self._bucket_key(environ.get("PATH_INFO", ""))
        source = urllib.parse.urlparse(environ.get("HTTP_X_AMZ_COPY_SOURCE", ""))
        src_bucket, src_key = self._bucket_key(source.path)
        version = (urllib.parse.parse_qs(source.query).get("versionId") or [None])[0]
        backend = self._backend(environ)
        try:
            multipart = backend.get_bucket(dest_bucket).multiparts[upload_id]
        except Exception:  # noqa: BLE001 - missing bucket or upload
            return _error(start_response, "404 Not Found", "NoSuchUpload",
                          "The specified upload does not exist. The upload ID may be invalid, or the upload "
                          "may have been aborted or completed.")
        key = self._key(environ, src_bucket, src_key, version)
        if key is None:
            return _error(start_response, "404 Not Found", "NoSuchKey", "The specified key does not exist.")
        want = environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH")
        if want is not None and not _etag_matches(want, key.etag):
            return _error(start_response, "412 Precondition Failed", "PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold")
        size = key.size
        rng = environ.get("HTTP_X_AMZ_COPY_SOURCE_RANGE")
        if rng is None:
            start, length = 0, size
        else:
            m = _RANGE.match(rng.strip())
            if not m or not m.group(1) or not m.group(2):
                return _error(start_response, "400 Bad Request", "InvalidArgument",
                              "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                              "and last are the zero-based offsets of the first and last bytes to copy")
            start, last = int(m.group(1)), int(m.group(2))
            if start > last or last >= size:
                return _error(start_response, "400 Bad Request", "InvalidArgument",
                              f"Range specified is not valid for source object of size: {size}")
            length = last - start + 1
        if length > MAX_COPY_PART:
            return _error(start_response, "400 Bad Request", "InvalidRequest",
                          "The specified copy source is larger than the maximum allowable size for a copy "
                          f"source: {MAX_COPY_PART}")
        sha = (multipart.metadata.get("x-amz-checksum-algorithm") or "").upper() == "SHA256"
        part, digest = _copy_part(multipart, part_number, key, start, length, sha)
        checksum = base64.b64encode(digest).decode() if sha else ""
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult>'
                f"<LastModified>{part.last_modified_ISO8601}</LastModified><ETag>{html.escape(part.etag)}</ETag>"
                + (f"<ChecksumSHA256>{checksum}</ChecksumSHA256>" if checksum else "")
                + "</CopyPartResult>").encode()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        if key._is_versioned:
            headers.append(("x-amz-copy-source-version-id", str(key.version_id)))
        start_response("200 OK", headers)
        return [body]
