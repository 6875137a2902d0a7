"""Uncompressed model data: a model whose ``ModelDataSource`` is an S3 prefix (``S3Prefix``, ``CompressionType:
None``) instead of a ``model.tar.gz``. The prefix is the model directory: ``<prefix>/code/inference.py`` is
``/opt/ml/model/code/inference.py``.

- :func:`list_prefix`: the inventory from a listing (no object is read);
- :func:`fetch_for_check`: writes only the code files (``code/``) and small files to a local dir, for the same
  lint, import resolution and load check as an archive; the weights are not downloaded;
- :func:`copy_prefix`: the fix as a **new** prefix: every existing object copied inside S3 (CopyObject; a
  managed multipart copy above 5 GiB), then the added files uploaded. The source prefix is only read (listed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..s3 import parse_s3_prefix
from .rebuild import _collect, default_skip

__all__ = ["PrefixCopy", "PrefixObject", "copy_prefix", "fetch_for_check", "list_prefix", "prefix_uri"]

SMALL_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class PrefixObject:
    key: str
    path: str  # relative to the prefix, as the model dir sees it
    size: int
    etag: str


@dataclass
class PrefixCopy:
    source_uri: str
    target_uri: str
    objects_copied: int = 0
    bytes_copied_server_side: int = 0
    files_uploaded: list[dict[str, Any]] = field(default_factory=list)
    bytes_uploaded: int = 0


def prefix_uri(uri: str) -> str:
    """``s3://bucket/a/b`` → ``s3://bucket/a/b/`` (a model prefix always ends with a slash)."""
    bucket, prefix = parse_s3_prefix(uri)
    return f"s3://{bucket}/{prefix.strip('/') + '/' if prefix.strip('/') else ''}"


def list_prefix(s3_client: Any, uri: str) -> list[PrefixObject]:
    """Every object under the prefix (folder markers skipped), sorted by path. ``empty-prefix`` if none."""
    bucket, prefix = parse_s3_prefix(prefix_uri(uri))
    out: list[PrefixObject] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            rel = o["Key"][len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            out.append(PrefixObject(o["Key"], rel, int(o["Size"]), o.get("ETag", "")))
    if not out:
        raise InputError(f"{uri} holds no objects.", code="empty-prefix",
                         hint="Check the model's ModelDataSource S3Uri (it must end with the model directory).")
    return sorted(out, key=lambda o: o.path)


def fetch_for_check(s3_client: Any, uri: str, objects: Sequence[PrefixObject], dest: str | os.PathLike[str], *,
                    small_file_bytes: int = SMALL_FILE_BYTES) -> dict[str, Any]:
    """Download the code files and small files under ``dest`` (the model dir); return what was read/withheld."""
    bucket, _ = parse_s3_prefix(prefix_uri(uri))
    root = os.path.realpath(os.fspath(dest))
    read, withheld = 0, 0
    files = []
    for o in objects:
        if not (o.path.startswith("code/") or o.size <= small_file_bytes):
            withheld += o.size
            continue
        target = os.path.realpath(os.path.join(root, *o.path.split("/")))
        if not target.startswith(root + os.sep):
            raise InputError(f"object {o.key!r} resolves outside the model dir", code="unsafe-path")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        body = s3_client.get_object(Bucket=bucket, Key=o.key, IfMatch=o.etag)["Body"] if o.etag else \
            s3_client.get_object(Bucket=bucket, Key=o.key)["Body"]
        with open(target, "wb") as f:
            while chunk := body.read(1 << 20):
                f.write(chunk)
                read += len(chunk)
        files.append(o.path)
    return {"files": files, "bytes_read": read, "withheld_bytes": withheld}


def copy_prefix(s3_client: Any, source_uri: str, target_uri: str, objects: Sequence[PrefixObject],
                additions: Sequence[tuple[str | os.PathLike[str], str]], *,
                skip: Callable[[str, bool], bool] = default_skip, overwrite: bool = False) -> PrefixCopy:
    """Build ``target_uri`` as the source's objects (copied in S3, pinned to their ETags) plus ``additions``
    (uploaded). Refuses a target inside/equal to the source, an addition over an existing file
    (``member-exists``) and a non-empty target unless ``overwrite``."""
    src, dst = prefix_uri(source_uri), prefix_uri(target_uri)
    sb, sp = parse_s3_prefix(src)
    db, dp = parse_s3_prefix(dst)
    if sb == db and (dp.startswith(sp) or sp.startswith(dp)):
        raise InputError(f"the target {dst} overlaps the source {src}.", code="target-is-source",
                         hint="Choose a sibling prefix, e.g. <model>-fixed/.")
    entries = [e for e in _collect(additions, skip) if e.kind == "file"]
    existing = {o.path for o in objects}
    clash = [e.path for e in entries if e.path in existing]
    if clash:
        raise InputError(f"the model already has {clash[0]!r}; refusing to add a second copy", code="member-exists")
    if not overwrite and s3_client.list_objects_v2(Bucket=db, Prefix=dp, MaxKeys=1).get("KeyCount", 0):
        raise InputError(f"{dst} already holds objects.", code="target-exists",
                         hint="Set overwrite: true, or choose another target.")
    out = PrefixCopy(src, dst)
    for o in objects:
        copy_source = {"Bucket": sb, "Key": o.key}
        if o.size <= (5 << 30):
            kw: dict[str, Any] = {"CopySource": copy_source, "Bucket": db, "Key": dp + o.path}
            if o.etag:
                kw["CopySourceIfMatch"] = o.etag
            s3_client.copy_object(**kw)
        else:  # CopyObject stops at 5 GiB: boto3's managed copy uses UploadPartCopy (still inside S3)
            s3_client.copy(copy_source, db, dp + o.path)
        out.objects_copied += 1
        out.bytes_copied_server_side += o.size
    for e in entries:
        with open(e.source, "rb") as f:  # type: ignore[arg-type]
            s3_client.put_object(Bucket=db, Key=dp + e.path, Body=f)
        out.files_uploaded.append({"path": e.path, "size": e.size})
        out.bytes_uploaded += e.size
    return out
