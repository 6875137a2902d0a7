"""The endpoint's facts, one type: what DescribeEndpoint → DescribeEndpointConfig → DescribeModel say about it
(:class:`EndpointFacts`), read once by step 1 and recorded for the steps after it."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from ..aws import AccessDenied, is_error
from ..errors import NotFoundError
from ..records import iso_time
from .kind import kind_of, serverless_config_of

__all__ = ["EndpointFacts", "endpoint_facts"]


@dataclass
class EndpointFacts:
    name: str
    arn: str
    status: str
    failure_reason: str | None
    config_name: str
    created: str | None
    last_modified: str | None
    variants: list[dict[str, Any]]
    async_config: dict[str, Any] | None
    model_name: str
    image: str | None
    model_data_url: str | None
    environment: dict[str, str]
    execution_role_arn: str | None
    instance_type: str | None
    instance_count: int | None
    kind: str = "real-time"  # async | real-time | serverless (endpoint_kind)
    serverless_config: dict[str, Any] | None = None  # the variant's ServerlessConfig (memory, max concurrency)
    model_data_source: dict[str, Any] | None = None  # PrimaryContainer.ModelDataSource.S3DataSource, if any
    network_isolation: bool = False  # the model's EnableNetworkIsolation: its container reaches no host
    vpc_config: dict[str, Any] | None = None  # the model's VpcConfig: the internet only through a NAT gateway

    @property
    def program(self) -> str:
        return self.environment.get("SAGEMAKER_PROGRAM") or "inference.py"

    @property
    def model_data_prefix(self) -> str | None:
        """The S3 prefix of uncompressed model data (``S3Prefix``, ``CompressionType: None``), else None."""
        ds = self.model_data_source or {}
        if ds.get("S3DataType") == "S3Prefix" and ds.get("CompressionType", "None") == "None" and ds.get("S3Uri"):
            return str(ds["S3Uri"])
        return None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"program": self.program}


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
    )


#: From this size, diagnose reads an archive once (parallel ranged GETs) and checks the code it wrote from that
#: read, leaving the weights in S3; smaller archives are read again and extracted whole for the load check.
