"""The one place boto3 sessions and clients are built.

Every other module takes clients as arguments (or an :class:`Aws` built here). Real AWS is the default;
an ``endpoint_url`` (parameter, or the standard ``AWS_ENDPOINT_URL`` variable that botocore reads itself)
points every client somewhere else, e.g. at the embedded local stack. Nothing here asks which world it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from .errors import RunbookError
from .findings import Finding
from .permissions import ACCESS_DENIED_CODES, Grant, Where, denied_grant, grants_for

__all__ = ["AwsParams", "Aws", "error_code", "is_error", "CredentialsError", "AwsCallFailed", "AccessDenied",
           "CALL_LOG_ENV", "error_entry", "named_aws_errors", "RETRY_MODES", "AssumeRoleFailed"]

#: botocore's retry modes: ``standard`` (the runbook's default) and ``adaptive`` (standard plus a client-side rate
#: limiter that slows down when the service throttles: what a scan over many endpoints uses).
RETRY_MODES = ("standard", "adaptive")

#: Set to a file path to append one JSON line per AWS call the runbook makes (service, operation, the IAM
#: action(s) and resource(s) it needs, its HTTP status): what a run really used, for a least-privilege review.
CALL_LOG_ENV = "ENDPOINT_RUNBOOK_CALL_LOG"
_LOG_LOCK = threading.Lock()


class CredentialsError(RunbookError):
    code = "no-credentials"


class AwsCallFailed(RunbookError):
    """AWS failed past botocore's retries (throttling, 5xx, a dropped connection, a permission)."""

    code = "aws-call-failed"


class AccessDenied(RunbookError):
    """AWS refused a call for want of a permission. ``finding`` (code ``access-denied``) names the action and the
    resource to grant; ``grants`` every permission the call needs; ``done`` what the step had already changed
    (empty: nothing), which the step fills in when it knows."""

    code = "access-denied"

    def __init__(self, service: str, operation: str, missing: list[Grant], grants: list[Grant], aws_message: str):
        self.service, self.operation = service, operation
        self.missing, self.grants, self.aws_message = missing, grants, aws_message
        self.done: list[str] = []
        super().__init__(self._message(), hint=self._hint())

    def _message(self) -> str:
        what = " or ".join(f"{g.action} on {g.resource}" for g in self.missing) or f"the permission for {self.operation}"
        return f"access denied: {self.service} {self.operation} needs {what}."

    def _hint(self) -> str:
        done = ("Already done: " + "; ".join(self.done) + ". ") if self.done else "Nothing was changed. "
        return (done + "Grant it to the role or user the runbook runs as (`endpoint-runbook policy params/<env>.yaml` "
                "prints the policy each step needs), then rerun the step.")

    def with_done(self, *done: str) -> "AccessDenied":
        """Record what the step had changed before the refusal (shown in the message and the finding)."""
        self.done.extend(d for d in done if d and d not in self.done)
        self.hint = self._hint()
        return self

    @property
    def finding(self) -> Finding:
        first = self.missing[0] if self.missing else None
        return Finding("access-denied", "error", f"{self._message()} {self._hint()}",
                       [f"{self.service}:{self.operation}: {self.aws_message}"[:500]],
                       {"action": first.action if first else None, "resource": first.resource if first else None,
                        "missing": [g.to_dict() for g in self.missing], "needs": [g.to_dict() for g in self.grants],
                        "service": self.service, "operation": self.operation, "done": list(self.done)})


@dataclass(frozen=True)
class AwsParams:
    """How to reach AWS. All optional: boto3's own resolution (env, profile, role) fills the gaps."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 70.0
    #: Another account: the role to assume there (sts:AssumeRole with the credentials found as usual).
    role_arn: str | None = None
    external_id: str | None = None
    retry_mode: str = "standard"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AwsParams":
        d = dict(d or {})
        known = {k: d.pop(k) for k in list(d) if k in cls.__dataclass_fields__}
        if d:
            raise RunbookError(f"unknown AWS parameter(s): {', '.join(sorted(d))}", code="bad-input",
                               hint=f"Known: {', '.join(cls.__dataclass_fields__)}.")
        if known.get("retry_mode", "standard") not in RETRY_MODES:
            raise RunbookError(f"unknown retry_mode {known['retry_mode']!r}", code="bad-input",
                               hint=f"One of: {', '.join(RETRY_MODES)}.")
        return cls(**known)


class AssumeRoleFailed(CredentialsError):
    code = "assume-role-failed"


@dataclass
class Aws:
    """A boto3 session plus a client cache. ``aws.client("s3")`` returns one shared client per service.

    With ``params.role_arn`` the session holds that role's credentials (one sts:AssumeRole, by the credentials
    boto3 finds as usual); :meth:`in_region` reuses them for another region without assuming again."""

    params: AwsParams = field(default_factory=AwsParams)

    @cached_property
    def session(self) -> boto3.session.Session:
        try:
            base = boto3.session.Session(profile_name=self.params.profile, region_name=self.params.region)
        except botocore.exceptions.ProfileNotFound as e:
            raise CredentialsError(str(e), hint="Name a profile from ~/.aws/config, or leave profile unset.") from e
        if not self.params.role_arn:
            return base
        creds = self.__dict__.get("_assumed") or self._assume(base)
        self.__dict__["_assumed"] = creds
        return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"], region_name=base.region_name)

    def _assume(self, base: boto3.session.Session) -> dict[str, Any]:
        if base.get_credentials() is None:
            raise CredentialsError("no AWS credentials found to assume a role with",
                                   hint="Use a profile or role that may call sts:AssumeRole.")
        kwargs: dict[str, Any] = {"region_name": base.region_name or "us-east-1", "config": self.config}
        if self.params.endpoint_url:
            kwargs["endpoint_url"] = self.params.endpoint_url
        args: dict[str, Any] = {"RoleArn": self.params.role_arn, "RoleSessionName": "endpoint-runbook"}
        if self.params.external_id:
            args["ExternalId"] = self.params.external_id
        try:
            return base.client("sts", **kwargs).assume_role(**args)["Credentials"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            raise AssumeRoleFailed(
                f"could not assume {self.params.role_arn}: {error_code(e) or type(e).__name__}: {e}",
                hint="The role must trust your account (and name the external id, if it asks for one), and your "
                     "credentials must allow sts:AssumeRole on it.") from e

    def in_region(self, region: str) -> "Aws":
        """The same account and credentials in ``region``: the same boto3 session (an assumed role is not assumed
        again, botocore's loaded service models are shared), clients of their own. Build clients from one thread:
        a boto3 session is not thread-safe (its clients are)."""
        other = Aws(dataclasses.replace(self.params, region=region))
        for key in ("session", "_assumed"):
            if key in self.__dict__:
                other.__dict__[key] = self.__dict__[key]
        return other

    @property
    def region(self) -> str:
        region = self.params.region or self.session.region_name
        if not region:
            raise RunbookError("no AWS region is set", code="no-region",
                               hint="Set `region` in the params file, or AWS_DEFAULT_REGION.")
        return region

    @cached_property
    def config(self) -> botocore.config.Config:
        return botocore.config.Config(
            retries={"mode": self.params.retry_mode, "max_attempts": self.params.max_attempts},
            connect_timeout=self.params.connect_timeout,
            read_timeout=self.params.read_timeout,
            user_agent_extra="endpoint-runbook",
            # A large model's read (8 ranged GETs) and copy (8 UploadPartCopy) share one S3 client: room for both,
            # so no connection is dropped and reopened (botocore's default pool is 10).
            max_pool_connections=32,
        )

    def client(self, service: str, *, read_timeout: float | None = None, max_attempts: int | None = None) -> Any:
        """The shared client of ``service``; ``read_timeout``/``max_attempts`` give one of its own with those
        settings (e.g. synchronous invocations: a long read, and no retry that would send a request twice)."""
        cache = self.__dict__.setdefault("_clients", {})
        key = service if read_timeout is None and max_attempts is None else (service, read_timeout, max_attempts)
        if key not in cache:
            if self.session.get_credentials() is None:
                raise CredentialsError(
                    "no AWS credentials found",
                    hint="Use a profile or role; for the embedded local stack any key works, e.g. "
                    "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing.",
                )
            config = self.config
            if key != service:
                config = config.merge(botocore.config.Config(
                    **({"read_timeout": read_timeout} if read_timeout is not None else {}),
                    **({"retries": {"mode": self.params.retry_mode, "max_attempts": max_attempts}}
                       if max_attempts is not None else {})))
            kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
            if self.params.endpoint_url:
                kwargs["endpoint_url"] = self.params.endpoint_url
            client = self.session.client(service, **kwargs)
            client.meta.events.register("before-parameter-build", _keep_params)
            client.meta.events.register("after-call", self._after_call)
            cache[key] = client
        return cache[key]

    @property
    def where(self) -> Where:
        """The account and region the calls' resources live in (the account from sts:GetCallerIdentity, which
        needs no permission)."""
        if "_where" not in self.__dict__:
            account = self.client("sts").get_caller_identity()["Account"]
            partition = self.session.get_partition_for_region(self.region) or "aws"
            self.__dict__["_where"] = Where(self.region, account, partition)
        return self.__dict__["_where"]

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
                    **_: Any) -> None:
        """Every call: appended to the call log when one is asked for; a refusal for want of a permission
        becomes :class:`AccessDenied`, naming what to grant (raised instead of botocore's ClientError)."""
        service = model.service_model.service_name
        operation = model.name
        code = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        status = getattr(http_response, "status_code", None)
        denied = status == 403 and (code in ACCESS_DENIED_CODES or code is None)
        log_path = os.environ.get(CALL_LOG_ENV)
        if not (denied or log_path):
            return
        params = context.get("endpoint_runbook_params") or {}
        grants = [] if service == "sts" else grants_for(service, operation, params, self.where)
        if log_path:
            line = {"service": service, "operation": operation, "grants": [g.to_dict() for g in grants],
                    "status": status, "error": code}
            with _LOG_LOCK, open(log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        if denied:
            message = str((parsed.get("Error") or {}).get("Message") or "")
            named = denied_grant(message)
            if named is not None and named.resource == "*":  # AWS named the action only: the call names the resource
                named = next((g for g in grants if g.action == named.action), named)
            missing = [named] if named is not None else grants
            raise AccessDenied(service, operation, missing, grants, message or f"HTTP 403 ({code or 'no body'})")

    def identity(self) -> dict[str, str]:
        """Who we are: account, ARN, region, and where the clients point (never any key material)."""
        ident = self.client("sts").get_caller_identity()
        return {
            "account": ident["Account"],
            "arn": ident["Arn"],
            "region": self.region,
            "endpoint_url": self.params.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "aws",
        }


def error_entry(e: BaseException) -> dict[str, Any]:
    """What a step's record says of the error that stopped it: code, message and, for a missing permission, the
    ``access-denied`` finding (the action and resource to grant, what was already done)."""
    code = e.code if isinstance(e, RunbookError) else (error_code(e) or type(e).__name__)
    entry: dict[str, Any] = {"code": code, "message": str(e)}
    if isinstance(e, AccessDenied):
        entry["finding"] = e.finding.to_dict()
    return entry


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """Keep the call's parameters beside it, for :meth:`Aws._after_call` (which names the resources it needs)."""
    context["endpoint_runbook_params"] = dict(params)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def is_error(exc: BaseException, *codes: str) -> bool:
    """True when ``exc`` is a ClientError with one of ``codes`` (matched by code, never by message)."""
    return error_code(exc) in codes


@contextmanager
def named_aws_errors(what: str, *, changed_nothing: bool = True) -> Iterator[None]:
    """Turn an AWS error that outlasted botocore's retries into an :class:`AwsCallFailed` that says what the
    step was doing and what to do, instead of a traceback."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise AwsCallFailed(
            f"AWS failed while {what}: {error_code(e) or type(e).__name__}: {e}",
            hint=("Throttling or a network error outlasted the retries: rerun the step"
                  + (" (it changed nothing)." if changed_nothing else " (it finishes what is left).")
                  + " If it is a permission, grant it first."),
        ) from e

