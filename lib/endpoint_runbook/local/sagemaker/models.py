"""SageMaker's control plane in the local stack: moto's backend, with what hosting needs of it.

``LocalSageMakerBackend`` holds the state and behaviour moto lacks or differs in:

- creates refuse a name that exists, as SageMaker does (moto would overwrite the record, and a retried
  CreateEndpoint whose first answer was lost would start a second container);
- CreateEndpoint leaves the endpoint ``Creating`` and hands it to hosting, which starts its model container;
- UpdateEndpoint (moto has none): blue/green, as SageMaker's. The endpoint is ``Updating`` with the new config
  in ``PendingDeploymentSummary`` while the old fleet keeps serving; hosting reports the outcome;
- DeleteEndpoint stops the endpoint's container before the record goes;
- serverless configs are held to SageMaker's rules (moto checks only the memory size): ``MaxConcurrency`` 1–200,
  ``ProvisionedConcurrency`` at most that, one variant, no async config or data capture with it; an endpoint on
  instances cannot be updated to a serverless config (the Developer Guide: "you receive a ValidationError");
- the endpoint record (``LocalEndpoint``) carries what DescribeEndpoint shows of that: ``FailureReason``,
  ``PendingDeploymentSummary``, ``LastDeploymentConfig``, the variants' instance counts.

Hosting reports status changes through :meth:`LocalEndpoint.set_state`; the SageMaker API has no call for that.

An endpoint that needs no container (a fleet at scale: :func:`local.scenarios.seed_fleet`) is asked for with the
tag ``local-stack:state`` on CreateEndpoint: ``InService`` or ``Failed`` (with ``local-stack:failure-reason``).
Its record is in that state at once and hosting never sees it: whatever it logs is what its creator wrote into its
log group.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    Model,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.utils import arn_formatter

from .exceptions import AlreadyExists, EndpointInProgress, NotFound

__all__ = ["LocalEndpoint", "LocalSageMakerBackend", "install"]

_IN_PROGRESS = ("Creating", "Updating", "Deleting", "SystemUpdating")
STATE_TAG, REASON_TAG = "local-stack:state", "local-stack:failure-reason"
_CANNED_STATES = ("InService", "Failed")


class LocalEndpoint(FakeEndpoint):
    """moto's endpoint record, with the fields DescribeEndpoint shows while a container starts or an update runs."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.endpoint_status = "Creating"  # InService once hosting's container answers /ping
        self.pending_deployment_summary: dict[str, Any] | None = None
        self.last_deployment_config: dict[str, Any] | None = None

    def begin_update(self, config_name: str, deployment_config: dict[str, Any] | None) -> None:
        if deployment_config:
            self.last_deployment_config = deployment_config
        now = utcnow()
        self.set_state("Updating", pending={
            "EndpointConfigName": config_name, "StartTime": now,
            "ProductionVariants": [dict(v, VariantStatus=[{"Status": "Creating", "StartTime": now}])
                                   for v in self.production_variants]})

    def set_state(self, status: str, reason: str | None = None, *, config_name: str | None = None,
                  variants: list[dict[str, Any]] | None = None, pending: dict[str, Any] | None = None) -> None:
        """A status change reported by hosting. ``pending``: the update being deployed (only while Updating);
        ``config_name``/``variants``: the config now serving."""
        self.endpoint_status = status
        self.failure_reason = reason
        self.pending_deployment_summary = pending
        if config_name:
            self.endpoint_config_name = config_name
        if variants is not None:
            self.production_variants = self._process_production_variants(variants)
        if status == "Failed":
            for v in self.production_variants:
                v["CurrentInstanceCount"] = 0
        self.last_modified_time = utcnow()


class LocalSageMakerBackend(SageMakerModelBackend):
    #: The stack's model hosting (``local.hosting.Hosting``), set by :func:`install`.
    hosting: Any = None

    def _arn(self, kind: str, name: str) -> str:
        return arn_formatter(kind, name.lower(), self.account_id, self.region_name)

    def create_model(self, model_name: str, execution_role_arn: str, primary_container: dict[str, Any] | None,
                     vpc_config: dict[str, Any] | None, containers: list[dict[str, Any]] | None,
                     tags: list[dict[str, str]] | None) -> Model:
        if model_name in self._models:
            raise AlreadyExists("model", self._arn("model", model_name))
        return super().create_model(model_name, execution_role_arn, primary_container, vpc_config, containers, tags)

    def create_endpoint_config(self, endpoint_config_name: str, production_variants: list[dict[str, Any]],
                               data_capture_config: dict[str, Any], async_inference_config: dict[str, Any],
                               tags: list[dict[str, str]], kms_key_id: str) -> FakeEndpointConfig:
        if endpoint_config_name in self.endpoint_configs:
            raise AlreadyExists("endpoint configuration", self._arn("endpoint-config", endpoint_config_name))
        _check_serverless(production_variants, async_inference_config, data_capture_config)
        _check_instance_fields(production_variants)
        return super().create_endpoint_config(endpoint_config_name, production_variants, data_capture_config,
                                              async_inference_config, tags, kms_key_id)

    def create_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        tags: list[dict[str, str]]) -> LocalEndpoint:
        if endpoint_name in self.endpoints:
            raise AlreadyExists("endpoint", self._arn("endpoint", endpoint_name))
        config = self.describe_endpoint_config(endpoint_config_name)  # ValidationError when missing
        endpoint = LocalEndpoint(account_id=self.account_id, region_name=self.region_name,
                                 endpoint_name=endpoint_name, endpoint_config_name=endpoint_config_name,
                                 production_variants=config["ProductionVariants"],
                                 data_capture_config=config.get("DataCaptureConfig"), tags=tags)
        self.endpoints[endpoint_name] = endpoint
        tags_by_key = {t.get("Key"): t.get("Value") for t in tags or []}
        state = tags_by_key.get(STATE_TAG)
        if state is not None:  # no container: the record is in the asked state at once
            if state not in _CANNED_STATES:
                del self.endpoints[endpoint_name]
                raise ValidationError(f"Tag {STATE_TAG} must be one of {', '.join(_CANNED_STATES)}, not {state!r}.")
            endpoint.set_state(state, tags_by_key.get(REASON_TAG) if state == "Failed" else None)
            return endpoint
        self.hosting.create_endpoint(self.account_id, self.region_name, endpoint_name, endpoint_config_name)
        return endpoint

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        deployment_config: dict[str, Any] | None = None) -> str:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise NotFound("endpoint", self._arn("endpoint", endpoint_name))
        if endpoint_config_name not in self.endpoint_configs:
            raise NotFound("endpoint configuration", endpoint_config_name)
        if endpoint.endpoint_status in _IN_PROGRESS:
            raise EndpointInProgress(endpoint.arn)
        current = self.endpoint_configs.get(endpoint.endpoint_config_name)
        if current is not None and not _serverless(current.production_variants) and _serverless(
                self.endpoint_configs[endpoint_config_name].production_variants):
            raise ValidationError(f"Cannot update endpoint {endpoint_name} from an instance-based endpoint "
                                  "configuration to a serverless one.")
        endpoint.begin_update(endpoint_config_name, deployment_config)
        self.hosting.update_endpoint(self.account_id, self.region_name, endpoint_name, endpoint_config_name)
        return endpoint.arn

    def delete_endpoint(self, endpoint_name: str) -> None:
        if endpoint_name in self.endpoints:
            self.hosting.delete_endpoint(self.account_id, self.region_name, endpoint_name)
        super().delete_endpoint(endpoint_name)


def _serverless(variants: list[dict[str, Any]] | None) -> bool:
    return any(v.get("ServerlessConfig") for v in variants or [])


def _check_serverless(variants: list[dict[str, Any]], async_config: dict[str, Any] | None,
                      data_capture: dict[str, Any] | None) -> None:
    """SageMaker's rules for a serverless variant that moto does not check (it checks MemorySizeInMB)."""
    if not _serverless(variants):
        return
    for v in variants:
        sc = v.get("ServerlessConfig") or {}
        mc, pc = sc.get("MaxConcurrency"), sc.get("ProvisionedConcurrency")
        if not isinstance(mc, int) or not 1 <= mc <= 200:
            raise ValidationError(f"Value '{mc}' at 'MaxConcurrency' failed to satisfy constraint: Member must have "
                                  "value between 1 and 200.")
        if pc is not None and (not isinstance(pc, int) or not 1 <= pc <= mc):
            raise ValidationError(f"ProvisionedConcurrency {pc} must be between 1 and MaxConcurrency ({mc}).")
        if v.get("InstanceType") or v.get("InitialInstanceCount"):
            raise ValidationError("A production variant with a ServerlessConfig takes no InstanceType or "
                                  "InitialInstanceCount.")
    if len(variants) > 1:
        raise ValidationError("A serverless endpoint configuration takes one production variant.")
    if async_config:
        raise ValidationError("AsyncInferenceConfig is not supported for serverless endpoint configurations.")
    if data_capture:
        raise ValidationError("DataCaptureConfig is not supported for serverless endpoint configurations.")


#: ProductionVariant's ranges (API reference, ProductionVariant).
_RANGES = {"ModelDataDownloadTimeoutInSeconds": (60, 3600), "VolumeSizeInGB": (1, 512)}


def _check_instance_fields(variants: list[dict[str, Any]]) -> None:
    """The instance fields' ranges (moto checks none), and VolumeSizeInGB only where there is an EBS volume: an
    instance type with local NVMe storage has none to size (``endpoint.instances.has_nvme``)."""
    from ...endpoint.instances import has_nvme

    for i, v in enumerate(variants, 1):
        for name, (lo, hi) in _RANGES.items():
            value = v.get(name)
            if value is not None and (not isinstance(value, int) or not lo <= value <= hi):
                field = name[0].lower() + name[1:]
                raise ValidationError(f"Value '{value}' at 'productionVariants.{i}.member.{field}' failed to satisfy "
                                      f"constraint: Member must have value between {lo} and {hi}.")
        if v.get("VolumeSizeInGB") is not None and has_nvme(v.get("InstanceType") or ""):
            raise ValidationError(f"VolumeSizeInGB is not supported for instance type {v['InstanceType']}: it has local "
                                  "NVMe instance storage. Remove VolumeSizeInGB, or use an instance type without "
                                  "instance storage (e.g. ml.m5, ml.c5, ml.r5).")


def install(hosting: Any) -> None:
    """Make moto's SageMaker backends (and the responses they route to) the local stack's, with ``hosting``.
    Called once in the stack process, before its first request: no SageMaker state exists yet."""
    if any(len(account) for account in sagemaker_backends.values()):
        raise RuntimeError("the local SageMaker backend must be installed before the first SageMaker request")
    LocalSageMakerBackend.hosting = hosting
    sagemaker_backends.backend = LocalSageMakerBackend
    for account in sagemaker_backends.values():
        account.backend = LocalSageMakerBackend
