"""``s3://bucket/key`` parsing, in one place (a light module: no boto3 import)."""

from __future__ import annotations

from .errors import InputError

__all__ = ["parse_s3_uri"]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; InputError ``bad-s3-uri`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"not an S3 URI: {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/key.")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise InputError(f"not an S3 object URI: {uri!r}", code="bad-s3-uri", hint="Use s3://bucket/key.")
    return bucket, key
