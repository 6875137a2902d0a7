"""The pictures verify shows: an image object in S3 read into a ``data:`` URI (bounded in size), or why not (missing,
too big, not an image, not allowed), for :func:`endpoint_runbook.render.verify.verify_html` to embed."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from ..aws import AccessDenied, Aws, error_code
from ..s3 import parse_s3_uri

__all__ = ["image_data_uri", "s3_pictures"]

_MAX_IMAGE_BYTES = 2 * 1024 * 1024
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def image_data_uri(s3: Any, uri: str, *, max_bytes: int = _MAX_IMAGE_BYTES) -> tuple[str | None, str | None]:
    """(``data:`` URI, None) for an image object, or (None, why not) — missing, too big, not an image."""
    try:
        bucket, key = parse_s3_uri(uri)
    except Exception as e:  # noqa: BLE001 - a bad key in a model's output is shown, not raised
        return None, str(e)
    ctype = mimetypes.guess_type(key)[0]
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as e:
        return None, error_code(e) or "error"
    except AccessDenied as e:  # a picture is not worth stopping for: said in its place
        return None, f"not allowed to read it ({', '.join(g.action for g in e.missing)})"
    ctype = ctype if ctype in _IMAGE_TYPES else obj.get("ContentType")
    if ctype not in _IMAGE_TYPES:
        obj["Body"].close()
        return None, f"not an image ({ctype})"
    if int(obj.get("ContentLength") or 0) > max_bytes:
        obj["Body"].close()
        return None, f"too big ({obj['ContentLength']} bytes)"
    data = obj["Body"].read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, "too big"
    return f"data:{ctype};base64,{base64.b64encode(data).decode()}", None


def s3_pictures(aws: Aws, *, max_bytes: int = _MAX_IMAGE_BYTES) -> Callable[[str], tuple[str | None, str | None]]:
    """The picture reader :func:`~endpoint_runbook.render.verify.verify_html` takes: S3 URI → (data URI, why not)."""
    s3 = aws.client("s3")
    return lambda uri: image_data_uri(s3, uri, max_bytes=max_bytes)
