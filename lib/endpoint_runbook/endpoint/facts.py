"""The endpoint's facts read: DescribeEndpoint → DescribeEndpointConfig → DescribeModel, into the one type
(:class:`endpoint_runbook.step_records.EndpointFacts`) step 1 records and every later step reads back."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any

from ..aws import AccessDenied, is_error
from ..errors import NotFoundError
from ..records import iso_time
from ..step_records import EndpointFacts
from .kind import kind_of, serverless_config_of

__all__ = ["endpoint_facts"]


def endpoint_facts(sm: Any, name: str) -> EndpointFacts:
    """Endpoint → endpoint config (its kind: AsyncInferenceConfig, ServerlessConfig or instances) → model. A missing
    endpoint is a NotFoundError that names the near misses."""
    try:
        ep = sm.describe_endpoint(EndpointName=name)
    except Exception as e:
        if is_error(e, "ValidationException", "ValidationError", "ResourceNotFound"):
            try:  # only a hint (near misses): the runbook's policy does not grant sagemaker:ListEndpoints
                pages = sm.get_paginator("list_endpoints").paginate()
                names: list[str] | None = [s["EndpointName"] for page in pages for s in page["Endpoints"]]
            except AccessDenied:
                names = None
            close = difflib.get_close_matches(name, names or [], n=3, cutoff=0.5)
            if close:
                hint = f"Did you mean: {', '.join(close)}?"
            elif names is None:
                hint = ("The endpoints here could not be listed (sagemaker:ListEndpoints is not granted): check the "
                        "name and the region in the params.")
            else:
                hint = f"Endpoints here: {', '.join(names[:10]) or 'none'}."
            raise NotFoundError(f"endpoint {name!r} does not exist in this account/region.",
                                code="endpoint-not-found", hint=hint) from e
        raise
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    variant = cfg["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    url = container.get("ModelDataUrl")
    if not url and source and source.get("S3DataType") == "S3Object" and source.get("CompressionType") == "Gzip":
        url = source.get("S3Uri")  # the same model.tar.gz, named the newer way
    return EndpointFacts(
        name=name, arn=ep["EndpointArn"], status=ep["EndpointStatus"], failure_reason=ep.get("FailureReason"),
        config_name=ep["EndpointConfigName"], created=iso_time(ep.get("CreationTime")),
        last_modified=iso_time(ep.get("LastModifiedTime")),
        variants=[{k: v for k, v in pv.items() if not isinstance(v, (dt.datetime,))}
                  for pv in ep.get("ProductionVariants", [])],
        async_config=cfg.get("AsyncInferenceConfig"), model_name=variant["ModelName"],
        image=container.get("Image"), model_data_url=url,
        environment=dict(container.get("Environment") or {}), execution_role_arn=model.get("ExecutionRoleArn"),
        instance_type=variant.get("InstanceType"), instance_count=variant.get("InitialInstanceCount"),
        kind=kind_of(cfg), serverless_config=serverless_config_of(cfg),
        model_data_source=dict(source) if source else None,
        network_isolation=bool(model.get("EnableNetworkIsolation")), vpc_config=model.get("VpcConfig") or None,
        variant_config={k: v for k, v in variant.items() if not isinstance(v, dt.datetime)},
    )
