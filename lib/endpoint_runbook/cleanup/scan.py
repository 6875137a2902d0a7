"""A scan of the account/region's endpoints, endpoint configs and models (:class:`AccountScan`), so sharing is seen."""


from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..aws import is_error
from ..endpoint.kind import kind_of
from ..step_records import variant_names
from .model import _AWS_ERRORS, _NOT_FOUND, SCALING_NAMESPACE, Progress

# ---------------------------------------------------------------------------------------------- scanning


def _models_of(cfg: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for v in list(cfg.get("ProductionVariants") or []) + list(cfg.get("ShadowProductionVariants") or []):
        m = v.get("ModelName")
        if m and m not in out:
            out.append(m)
    return out


def _output_paths(cfg: dict[str, Any]) -> list[str]:
    oc = ((cfg.get("AsyncInferenceConfig") or {}).get("OutputConfig") or {})
    return [p for p in (oc.get("S3OutputPath"), oc.get("S3FailurePath")) if p]


@dataclass
class AccountScan:
    """Every endpoint (→ config) and endpoint config (→ models, output paths) of the account/region."""

    endpoints: dict[str, dict[str, Any]]
    configs: dict[str, dict[str, Any]]

    def config_users(self, config: str) -> list[str]:
        return sorted(n for n, e in self.endpoints.items() if config in (e["config"], e.get("pending_config")))

    def model_users(self, model: str) -> list[str]:
        return sorted(n for n, c in self.configs.items() if model in c["models"])

    def endpoints_of_config(self, config: str) -> list[str]:
        return self.config_users(config)


def _describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        ep = sm.describe_endpoint(EndpointName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    pending = (ep.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    return {"arn": ep.get("EndpointArn"), "status": ep.get("EndpointStatus"), "config": ep.get("EndpointConfigName"),
            "pending_config": pending,
            "variants": variant_names(ep.get("ProductionVariants"))}


def _describe_config(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        cfg = sm.describe_endpoint_config(EndpointConfigName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    return {"arn": cfg.get("EndpointConfigArn"), "models": _models_of(cfg), "output_paths": _output_paths(cfg),
            "variants": variant_names(cfg.get("ProductionVariants")),
            "kind": kind_of(cfg)}


def _describe_model(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        m = sm.describe_model(ModelName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    return {"arn": m.get("ModelArn")}


def _list(sm: Any, op: str, key: str, name_key: str) -> list[str]:
    return [s[name_key] for page in sm.get_paginator(op).paginate() for s in page[key]]


def scan(sm: Any, *, workers: int = 8, progress: Progress = None) -> AccountScan:
    """Describe every endpoint and endpoint config (paginated lists, describes in a small thread pool)."""
    say = progress or (lambda _m: None)
    ep_names = _list(sm, "list_endpoints", "Endpoints", "EndpointName")
    cfg_names = _list(sm, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName")
    say(f"scanning {len(ep_names)} endpoint(s) and {len(cfg_names)} endpoint config(s) for sharing")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        eps = dict(zip(ep_names, pool.map(lambda n: _describe_endpoint(sm, n), ep_names)))
        cfgs = dict(zip(cfg_names, pool.map(lambda n: _describe_config(sm, n), cfg_names)))
    # Gone between list and describe: not there.
    return AccountScan({k: v for k, v in eps.items() if v is not None}, {k: v for k, v in cfgs.items() if v is not None})


def _scaling_all(aas: Any) -> tuple[list[dict], list[dict]]:
    """(scaling policies, scalable targets) of the sagemaker namespace (usually few; paginated)."""
    targets = [t for page in aas.get_paginator("describe_scalable_targets").paginate(
        ServiceNamespace=SCALING_NAMESPACE) for t in page["ScalableTargets"]]
    policies = [p for page in aas.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=SCALING_NAMESPACE) for p in page["ScalingPolicies"]]
    return policies, targets


def _scaling_of(endpoint: str, everything: tuple[list[dict], list[dict]]) -> tuple[list[dict], list[dict]]:
    """The policies and targets whose resource id is one of the endpoint's variants
    (``endpoint/<name>/variant/<variant>``, any dimension), also when the endpoint itself is gone."""
    prefix = f"endpoint/{endpoint}/variant/"
    policies, targets = everything
    return ([p for p in policies if p["ResourceId"].startswith(prefix)],
            [t for t in targets if t["ResourceId"].startswith(prefix)])
