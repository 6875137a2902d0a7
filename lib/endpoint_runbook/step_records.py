"""What a step reads from an earlier step's record, typed: one dataclass per record (``from_dict`` / ``to_dict``,
``read(run_dir)``), so no step pokes into another step's JSON by key.

Each view holds only what a later step uses; the record on disk keeps everything the step wrote (it is the
audit log). Unknown or missing keys never raise: a record from an older run reads with the fields it has.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from .records import read_record

__all__ = ["DeployRecord", "DiagnoseRecord", "EndpointFacts", "RebuildRecord", "VerifyRecord", "uncompressed_prefix",
           "variant_names"]

_T = TypeVar("_T")
_R = TypeVar("_R", bound="_StepRecord")


def _pick(cls: type[_T], d: dict[str, Any] | None) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in (d or {}).items() if k in names}


class _View:
    """A typed view of a dict: ``from_dict`` keeps the keys that are fields (others are ignored), ``to_dict``."""

    @classmethod
    def from_dict(cls: type[_T], d: dict[str, Any] | None) -> _T:
        return cls(**_pick(cls, d))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


class _StepRecord(_View):
    """``read(run_dir)``: the view of ``STEP``'s record in ``run_dir``, or None when the step has not written one."""

    STEP: ClassVar[str]

    @classmethod
    def read(cls: type[_R], run_dir: str | os.PathLike[str] | None) -> _R | None:
        d = read_record(run_dir, cls.STEP)
        return cls.from_dict(d) if d is not None else None


def variant_names(variants: list[dict[str, Any]] | None) -> list[str]:
    """The names of ``ProductionVariants`` as DescribeEndpoint or DescribeEndpointConfig list them."""
    return [str(v["VariantName"]) for v in variants or [] if v.get("VariantName")]


@dataclass(frozen=True)
class EndpointFacts(_View):
    """The endpoint's facts, one type: what DescribeEndpoint → DescribeEndpointConfig → DescribeModel said of the
    crash-looping endpoint (:func:`endpoint_runbook.endpoint.facts.endpoint_facts` reads them), as step 1 records
    them (``01-diagnose.json``'s ``endpoint``) and the later steps read them back. Every field has a default: a
    record from an older run reads with the fields it has (``kind`` None: from before kinds were read)."""

    name: str | None = None
    arn: str | None = None
    status: str | None = None
    failure_reason: str | None = None
    config_name: str | None = None
    created: str | None = None
    last_modified: str | None = None
    variants: list[dict[str, Any]] | None = None  # as DescribeEndpoint showed them (VariantName, ...)
    async_config: dict[str, Any] | None = None
    model_name: str | None = None
    image: str | None = None
    model_data_url: str | None = None
    environment: dict[str, str] | None = None
    execution_role_arn: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    kind: str | None = None  # async | real-time | serverless (endpoint.kind)
    serverless_config: dict[str, Any] | None = None  # the variant's ServerlessConfig (memory, max concurrency)
    model_data_source: dict[str, Any] | None = None  # PrimaryContainer.ModelDataSource.S3DataSource, if any
    network_isolation: bool = False  # the model's EnableNetworkIsolation: its container reaches no host
    vpc_config: dict[str, Any] | None = None  # the model's VpcConfig: the internet only through a NAT gateway
    variant_config: dict[str, Any] | None = None  # the config's first production variant, as CreateEndpointConfig took it

    @property
    def variant_names(self) -> list[str]:
        return variant_names(self.variants)

    @property
    def program(self) -> str:
        """The entry script the container runs (``SAGEMAKER_PROGRAM``, else the toolkit's ``inference.py``)."""
        return (self.environment or {}).get("SAGEMAKER_PROGRAM") or "inference.py"

    @property
    def model_data_prefix(self) -> str | None:
        """The S3 prefix of uncompressed model data (``S3Prefix``, ``CompressionType: None``), else None."""
        return uncompressed_prefix(self.model_data_source)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"program": self.program}


def uncompressed_prefix(model_data_source: dict[str, Any] | None) -> str | None:
    """The S3 prefix of a ``ModelDataSource.S3DataSource`` of uncompressed model data (``S3DataType: S3Prefix``,
    ``CompressionType: None``, the default), else None."""
    ds = model_data_source or {}
    if ds.get("S3DataType") == "S3Prefix" and ds.get("CompressionType", "None") == "None" and ds.get("S3Uri"):
        return str(ds["S3Uri"])
    return None


@dataclass(frozen=True)
class DiagnoseRecord(_StepRecord):
    """``01-diagnose.json`` as the later steps read it."""

    STEP: ClassVar[str] = "diagnose"

    endpoint: EndpointFacts = field(default_factory=EndpointFacts)
    run_id: str | None = None
    cause: str | None = None
    model_data_url: str | None = None
    model_data_source: dict[str, Any] | None = None
    additions: list[dict[str, Any]] = field(default_factory=list)  # the fix: packages, then data folders
    requirements: dict[str, Any] | None = None  # the fix's edit of code/requirements.txt (drop, diff, text, sha)
    remedies: list[dict[str, Any]] = field(default_factory=list)  # the fix's remedies (endpoint.remedies.Remedy)
    archive_sha256: str | None = None  # the diagnosed archive's sha256 (an unchanged archive is deployed as is)

    @property
    def model_data_prefix(self) -> str | None:
        """The S3 prefix of uncompressed model data, when the model has no archive (:func:`uncompressed_prefix`)."""
        return None if self.model_data_url else uncompressed_prefix(self.model_data_source)

    @property
    def deployed_environment(self) -> dict[str, str]:
        """The container environment deploy will set as step 1 proposes it: the model's, with the enabled
        remedies' variables (TORCH_HOME for vendored weights, ...): the archive's checks run with it."""
        return {**(self.endpoint.environment or {}),
                **{r["field"]: str(r["after"]) for r in self.remedies if r.get("enabled", True)
                   and r.get("where") == "model"}}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DiagnoseRecord:
        d = d or {}
        fix = d.get("fix") or {}
        endpoint = d.get("endpoint") if isinstance(d.get("endpoint"), dict) else {}
        return cls(endpoint=EndpointFacts.from_dict(endpoint), run_id=d.get("run_id"),
                   cause=(d.get("verdict") or {}).get("cause"), model_data_url=d.get("model_data_url"),
                   model_data_source=d.get("model_data_source"),
                   additions=list(fix.get("additions") or []) + list(fix.get("extras") or []),
                   requirements=fix.get("requirements") or None, remedies=list(fix.get("remedies") or []),
                   archive_sha256=((d.get("archive") or {}).get("summary") or {}).get("sha256"))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "endpoint": self.endpoint.to_dict()}


@dataclass(frozen=True)
class RebuildRecord(_StepRecord):
    """``02-rebuild_archive.json`` as the later steps read it."""

    STEP: ClassVar[str] = "rebuild_archive"

    target_uri: str | None = None
    result_sha256: str | None = None
    image: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class DeployRecord(_StepRecord):
    """``03-deploy.json`` as the later steps (and a rerun of deploy) read it."""

    STEP: ClassVar[str] = "deploy"

    endpoint_name: str | None = None
    run_id: str | None = None
    mode: str | None = None
    previous_endpoint_config_name: str | None = None
    smoke_input: str | None = None
    ok: bool | None = None
    status: str | None = None  # deployed | preflight-failed | update-failed | smoke-failed | ...
    update_window: dict[str, Any] | None = None  # in place: when the update began, the log streams before it

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DeployRecord:
        d = d or {}
        kw = _pick(cls, d)
        kw["smoke_input"] = (d.get("smoke") or {}).get("input") or (d.get("plan") or {}).get("smoke_input")
        return cls(**kw)


@dataclass(frozen=True)
class VerifyRecord(_StepRecord):
    """``04-verify.json`` as the cleanup reads it: which endpoint was verified, and whether it passed."""

    STEP: ClassVar[str] = "verify"

    endpoint_name: str | None = None
    ok: bool | None = None
