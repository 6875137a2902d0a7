"""Where a model's data lives, as a SageMaker container names it: ``ModelDataUrl`` (a ``model.tar.gz``) or
``ModelDataSource.S3DataSource`` (uncompressed data: an S3 prefix, ``S3DataType: S3Prefix``,
``CompressionType: None``, extracted nowhere: the objects are the model directory).

Deploy builds the fixed model's container with :func:`container_data`; a prefix keeps the fields of the
source model's own ``S3DataSource`` (e.g. ``ModelAccessConfig``) with the new location.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..s3 import parse_s3_prefix

__all__ = ["container_data", "container_data_uri", "data_source_for", "is_prefix_uri", "prefix_identity"]

#: S3DataSource fields that name the old objects, not how to read them: never carried to a new prefix.
_NOT_CARRIED = ("S3Uri", "S3DataType", "CompressionType", "ManifestS3Uri", "ETag", "ManifestEtag")


def is_prefix_uri(uri: str | None) -> bool:
    """``s3://bucket/model/`` (uncompressed model data) as opposed to ``s3://bucket/model.tar.gz``."""
    return bool(uri) and str(uri).endswith("/")


def data_source_for(uri: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``S3DataSource`` of uncompressed model data at ``uri``: ``base``'s other fields (the source model's,
    e.g. ``ModelAccessConfig``) kept, the location and type set."""
    kept = {k: v for k, v in (base or {}).items() if k not in _NOT_CARRIED and v is not None}
    return {"S3Uri": uri, "S3DataType": "S3Prefix", "CompressionType": "None", **kept}


def container_data(uri: str, data_source: dict[str, Any] | None) -> dict[str, Any]:
    """The PrimaryContainer fragment that points at the model data."""
    if data_source is not None:
        return {"ModelDataSource": {"S3DataSource": data_source}}
    return {"ModelDataUrl": uri}


def container_data_uri(container: dict[str, Any]) -> str | None:
    """Where a described container's model data is (ModelDataUrl, else ModelDataSource's S3Uri)."""
    return container.get("ModelDataUrl") or ((container.get("ModelDataSource") or {}).get("S3DataSource")
                                             or {}).get("S3Uri")


def prefix_identity(s3_client: Any, uri: str) -> str | None:
    """A digest of what the prefix holds (every object's path, size and ETag, from a listing: nothing is read),
    or None when it holds nothing. Same objects, same digest: deploy's names derive from it."""
    bucket, prefix = parse_s3_prefix(uri)
    rows = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        rows += [(o["Key"][len(prefix):], int(o["Size"]), o.get("ETag", "")) for o in page.get("Contents", [])
                 if not o["Key"].endswith("/")]
    if not rows:
        return None
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()
