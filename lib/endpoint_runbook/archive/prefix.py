"""Uncompressed model data: a model whose ``ModelDataSource`` is an S3 prefix (``S3Prefix``, ``CompressionType:
None``) instead of a ``model.tar.gz``. The prefix is the model directory: ``<prefix>/code/inference.py`` is
``/opt/ml/model/code/inference.py``.

- :func:`list_prefix`: the objects from a listing (no object is read); :func:`listing_inventory` makes them an
  :class:`ArchiveInventory` for the same layout lint and presence table as an archive;
- :func:`read_sources`: the small source files (``.py``, ``.txt`` ...), for import resolution;
- :func:`fetch_for_check`: writes only the code files (``code/``) and small files to a local dir, for the same
  lint, import resolution and load check as an archive; the weights are not downloaded;
- :func:`copy_prefix`: the fix as a **new** prefix: every existing object copied inside S3 (CopyObject; a
  managed multipart copy above 5 GiB), then the added files uploaded. The source prefix is only read (listed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..s3 import parse_s3_prefix
from .extract import SMALL_FILE_BYTES
from .inventory import MAX_SOURCE_BYTES, SOURCE_SUFFIXES, ArchiveInventory, Limits, _Collector
from .rebuild import _collect, default_skip
from .tarstream import Member

__all__ = ["PrefixCopy", "PrefixObject", "copy_prefix", "fetch_for_check", "list_prefix", "listing_inventory",
           "prefix_uri", "read_sources"]


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


def listing_inventory(objects: Sequence[PrefixObject]) -> ArchiveInventory:
    """The prefix as an :class:`ArchiveInventory` (one file member per object), with the same safety findings
    as an archive's members (``unsafe-path`` for ``..`` or absolute keys, ...)."""
    collector = _Collector(Limits())
    members = []
    for o in objects:
        m = Member(name=o.path, type="file", size=o.size, mode=0o644, mtime=0)
        collector.member(m)
        members.append(m)
    total = sum(o.size for o in objects)
    return ArchiveInventory(members=members, findings=collector.findings(), compressed_bytes=total,
                            tar_bytes=total, total_size=total, complete=True)


def _get(s3_client: Any, bucket: str, o: PrefixObject) -> Any:
    kw = {"IfMatch": o.etag} if o.etag else {}
    return s3_client.get_object(Bucket=bucket, Key=o.key, **kw)["Body"]


def read_sources(s3_client: Any, uri: str, objects: Sequence[PrefixObject]) -> tuple[dict[str, bytes], int]:
    """The small source files (as an archive's inventory keeps them: ``.py``, ``.txt``, ``.cfg``, ``.toml`` up
    to 1 MiB), for import resolution; and the bytes read. Nothing else is read."""
    bucket, _ = parse_s3_prefix(prefix_uri(uri))
    out: dict[str, bytes] = {}
    for o in objects:
        if o.path.endswith(SOURCE_SUFFIXES) and o.size <= MAX_SOURCE_BYTES:
            body = _get(s3_client, bucket, o)
            try:
                out[o.path] = body.read()
            finally:
                body.close()
    return out, sum(len(v) for v in out.values())


def fetch_for_check(s3_client: Any, uri: str, objects: Sequence[PrefixObject], dest: str | os.PathLike[str], *,
                    small_file_bytes: int = SMALL_FILE_BYTES) -> dict[str, Any]:
    """Download the code files and small files under ``dest`` (the model dir); return what was read/withheld."""
    bucket, _ = parse_s3_prefix(prefix_uri(uri))
    root = os.path.realpath(os.fspath(dest))
    read, withheld = 0, 0
    files = []
    withheld_paths: dict[str, int] = {}
    for o in objects:
        if not (o.path.startswith("code/") or o.size <= small_file_bytes):
            withheld += o.size
            withheld_paths[o.path] = o.size
            continue
        target = os.path.realpath(os.path.join(root, *o.path.split("/")))
        if not target.startswith(root + os.sep):
            raise InputError(f"object {o.key!r} resolves outside the model dir", code="unsafe-path")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        body = _get(s3_client, bucket, o)
        with open(target, "wb") as f:
            while chunk := body.read(1 << 20):
                f.write(chunk)
                read += len(chunk)
        files.append(o.path)
    return {"files": files, "bytes_read": read, "withheld_bytes": withheld, "withheld": withheld_paths}


def copy_prefix(s3_client: Any, source_uri: str, target_uri: str, objects: Sequence[PrefixObject],
                additions: Sequence[tuple[str | os.PathLike[str], str]], *,
                skip: Callable[[str, bool], bool] = default_skip, overwrite: bool = False,
                replace: Collection[str] = ()) -> PrefixCopy:
    """Build ``target_uri`` as the source's objects (copied in S3, pinned to their ETags) plus ``additions``
    (uploaded). Refuses a target inside/equal to the source, an addition over an existing file
    (``member-exists``; unless ``replace`` names that path: then the addition stands in for the source's
    object) and a non-empty target unless ``overwrite``."""
    src, dst = prefix_uri(source_uri), prefix_uri(target_uri)
    sb, sp = parse_s3_prefix(src)
    db, dp = parse_s3_prefix(dst)
    if sb == db and (dp.startswith(sp) or sp.startswith(dp)):
        raise InputError(f"the target {dst} overlaps the source {src}.", code="target-is-source",
                         hint="Choose a sibling prefix, e.g. <model>-fixed/.")
    entries = [e for e in _collect(additions, skip) if e.kind == "file"]
    existing = {o.path for o in objects}
    clash = [e.path for e in entries if e.path in existing and e.path not in replace]
    if clash:
        raise InputError(f"the model already has {clash[0]!r}; refusing to add a second copy", code="member-exists")
    if not overwrite and s3_client.list_objects_v2(Bucket=db, Prefix=dp, MaxKeys=1).get("KeyCount", 0):
        raise InputError(f"{dst} already holds objects.", code="target-exists",
                         hint="Set overwrite: true, or choose another target.")
    out = PrefixCopy(src, dst)
    for o in objects:
        if o.path in replace and any(e.path == o.path for e in entries):
            continue
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
