"""Names of what step 3 creates: the model, the endpoint config and a new endpoint, derived from the archive's
sha256 and a digest of the rest of their spec (a rerun finds and reuses them), and the tags they carry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from .kind import ASYNC, NAME_INFIX

__all__ = ["TAG_RUN_ID", "TAG_SOURCE", "TAG_ARCHIVE", "VARIANT", "valid_name", "name_prefix_for", "model_name_for", "config_name_for", "default_endpoint_name"]

TAG_RUN_ID = "endpoint-runbook:run-id"
TAG_SOURCE = "endpoint-runbook:source-endpoint"
TAG_ARCHIVE = "endpoint-runbook:archive-sha256"
VARIANT = "AllTraffic"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([\w+=,.@-]{1,64})$")


# ---------------------------------------------------------------------------------------------- names


def valid_name(name: str) -> bool:
    """A valid SageMaker model / endpoint-config / endpoint name (≤ 63 chars, alphanumerics and hyphens)."""
    return bool(_NAME.match(name or ""))


def _clean(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9-]", "-", text)).strip("-")


def name_prefix_for(source_endpoint: str | None) -> str:
    """``shop-async-endpoint-20251115-101546`` → ``shop``: the leading words before async/realtime/
    serverless/endpoint/model/config or a number; ``runbook`` when nothing is left."""
    if not source_endpoint:
        return "runbook"
    words: list[str] = []
    for w in _clean(source_endpoint).split("-"):
        if w.lower() in ("async", "realtime", "serverless", "endpoint", "model", "config", "ep") or w[:1].isdigit():
            break
        words.append(w)
    return "-".join(words)[:30].strip("-") or "runbook"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _compose(*parts: str) -> str:
    """Join parts with hyphens, shortening the first (the prefix) so the name fits in 63 characters."""
    tail = "-".join(p for p in parts[1:] if p)
    room = 63 - len(tail) - 1
    head = _clean(parts[0])[:max(room, 1)].strip("-") or "r"
    return f"{head}-{tail}"


def model_name_for(prefix: str, archive_sha256: str, *, image: str, model_data_url: str,
                   environment: dict[str, str], role_arn: str) -> str:
    """``<prefix>-fixed-<sha12>-<spec6>``: the archive's sha256, and a digest of the rest of the model."""
    spec = _digest({"image": image, "model_data_url": model_data_url, "environment": environment, "role": role_arn})
    return _compose(prefix, "fixed", archive_sha256[:12], spec[:6])


def config_name_for(prefix: str, archive_sha256: str, *, model_name: str, instance_type: str | None,
                    instance_count: int | None, async_config: dict[str, Any] | None,
                    variant: str | dict[str, Any] = VARIANT, kind: str = ASYNC,
                    extra: dict[str, Any] | None = None) -> str:
    """``<prefix>-<kind>-fixed-<sha12>-<spec6>`` (``async-fixed``, ``realtime-fixed``, ``serverless-fixed``): the
    archive's sha256, and a digest of the config (``variant``: its name, or the whole copied variant of an in-place
    config; ``extra``: the rest of a real-time or serverless config, e.g. its data capture)."""
    spec_of: dict[str, Any] = {"model": model_name, "instance_type": instance_type, "instance_count": instance_count,
                               "async": async_config, "variant": variant}
    if kind != ASYNC:
        spec_of.update(kind=kind, extra=extra or {})
    return _compose(prefix, NAME_INFIX[kind], archive_sha256[:12], _digest(spec_of)[:6])


def default_endpoint_name(prefix: str, now: dt.datetime | None = None, *, kind: str = ASYNC) -> str:
    """``<prefix>-<kind>-fixed-<YYYYmmdd-HHMMSS>`` (UTC)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return _compose(prefix, NAME_INFIX[kind], now.strftime("%Y%m%d-%H%M%S"))
