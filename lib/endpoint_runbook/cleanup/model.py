"""The cleanup's data: plan items, the plan, outcomes, the report, guards; names and the confirm token."""


from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import botocore.exceptions

from ..errors import InputError

__all__ = ["KINDS", "ACTIONS", "OUTCOMES", "SCALING_NAMESPACE", "SCALING_DIMENSION", "IN_TRANSITION", "Progress",
           "PlanItem", "CleanupPlan", "Outcome", "CleanupReport", "Guard", "parse_names", "confirm_token",
           "check_confirm"]

#: Dependency order: what must go first comes first.
KINDS = ("scaling-policy", "scalable-target", "endpoint", "endpoint-config", "model", "s3-object", "s3-prefix")
#: delete: will be deleted; keep: stays (reason says why); refuse: a guard tripped (deleted only with force);
#: absent: already gone.
ACTIONS = ("delete", "keep", "refuse", "absent")
OUTCOMES = ("deleted", "kept", "already-gone", "failed", "refused", "skipped", "not-run")
SCALING_NAMESPACE = "sagemaker"
SCALING_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
IN_TRANSITION = ("Creating", "Updating", "SystemUpdating", "RollingBack")
_NOT_FOUND = ("ValidationException", "ValidationError", "ResourceNotFound", "ResourceNotFoundException")
_SUCCESS_LINE = "Inference request succeeded"
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)

Progress = Callable[[str], None] | None


# ---------------------------------------------------------------------------------------------- data


@dataclass
class PlanItem:
    """One resource the plan looked at. ``endpoint`` is the named endpoint it was reached from."""

    kind: str
    name: str
    action: str
    reason: str
    code: str  # stable: unused, shared-config, shared-model, asked-to-keep, kept-endpoint, recent-traffic, ...
    arn: str | None = None
    endpoint: str | None = None
    evidence: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanItem":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class CleanupPlan:
    endpoint_names: list[str]
    items: list[PlanItem]
    recent_minutes: float
    include_outputs: bool
    output_prefix: str | None
    keep: list[str]
    created: str
    notes: list[str] = field(default_factory=list)

    @property
    def confirm_token(self) -> str:
        return confirm_token(self.endpoint_names)

    @property
    def blocked(self) -> bool:
        """True when a guard refused something: nothing is deleted unless ``force``."""
        return any(i.action == "refuse" for i in self.items)

    def by_action(self, action: str) -> list[PlanItem]:
        return [i for i in self.items if i.action == action]

    @property
    def to_delete(self) -> list[PlanItem]:
        return [i for i in self.items if i.action in ("delete", "refuse")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_names": self.endpoint_names, "confirm_token": self.confirm_token, "blocked": self.blocked,
            "recent_minutes": self.recent_minutes, "include_outputs": self.include_outputs,
            "output_prefix": self.output_prefix, "keep": self.keep, "created": self.created, "notes": self.notes,
            "counts": {a: len(self.by_action(a)) for a in ACTIONS},
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CleanupPlan":
        return cls(list(d["endpoint_names"]), [PlanItem.from_dict(i) for i in d.get("items", [])],
                   float(d.get("recent_minutes", 60)), bool(d.get("include_outputs")), d.get("output_prefix"),
                   list(d.get("keep", [])), d.get("created", ""), list(d.get("notes", [])))


@dataclass
class Outcome:
    kind: str
    name: str
    outcome: str  # one of OUTCOMES
    message: str
    endpoint: str | None = None
    arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class CleanupReport:
    """What a cleanup run did. ``status``: dry-run, blocked, done, partial, nothing-to-do."""

    plan: CleanupPlan
    status: str
    dry_run: bool
    force: bool
    outcomes: list[Outcome] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    denied: Any = field(default=None, repr=False)  # the AccessDenied that stopped the deletes, if one did

    def names(self, outcome: str) -> list[str]:
        return [f"{o.kind} {o.name}" for o in self.outcomes if o.outcome == outcome]

    @property
    def deleted(self) -> list[str]:
        return self.names("deleted")

    @property
    def failed(self) -> list[str]:
        return self.names("failed")

    @property
    def changed(self) -> bool:
        return any(o.outcome == "deleted" for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": "cleanup", "status": self.status, "dry_run": self.dry_run, "force": self.force,
            "started": self.started, "seconds": self.seconds,
            "endpoint_names": self.plan.endpoint_names, "confirm_token": self.plan.confirm_token,
            "counts": {o: len(self.names(o)) for o in OUTCOMES},
            "deleted": self.names("deleted"), "kept": self.names("kept"), "already_gone": self.names("already-gone"),
            "failed": self.names("failed"), "refused": self.names("refused"), "skipped": self.names("skipped"),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "plan": self.plan.to_dict(),
            "access_denied": self.denied.finding.to_dict() if self.denied is not None else None,
        }


@dataclass
class Guard:
    """A reason not to delete an endpoint (``code``: no-fix-serving, recent-traffic, verified-endpoint,
    in-transition, queued-requests, guard-unreadable)."""

    code: str
    reason: str
    evidence: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- names


def parse_names(endpoint_names: str | Sequence[str] | None) -> list[str]:
    """``"a"``, ``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (order kept; blanks and duplicates rejected)."""
    if endpoint_names is None:
        raw: list[str] = []
    elif isinstance(endpoint_names, str):
        raw = endpoint_names.split(",")
    else:
        raw = [str(n) for n in endpoint_names]
    names = [n.strip() for n in raw]
    if not names or any(not n for n in names):
        raise InputError("no endpoint name to clean up.", code="missing-input",
                         hint="Set endpoint_name (several: comma-separated), or run diagnose first with this run_dir.")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputError(f"endpoint name(s) given twice: {', '.join(dups)}", code="bad-input",
                         hint="Name each endpoint once.")
    return names


def confirm_token(endpoint_names: Sequence[str]) -> str:
    """What ``confirm`` must be: the endpoint name, or the names comma-joined in the given order."""
    return ",".join(endpoint_names)


def check_confirm(endpoint_names: Sequence[str], confirm: str | None) -> None:
    """Raise ``InputError(code="confirm-mismatch")`` unless ``confirm`` names exactly these endpoints, in order."""
    given = [t.strip() for t in (confirm or "").split(",")]
    if given != list(endpoint_names):
        expected = confirm_token(endpoint_names)
        raise InputError(f"confirm {confirm!r} does not match the endpoint name(s) {expected!r}: nothing was deleted.",
                         code="confirm-mismatch",
                         hint=f"To delete, set confirm to exactly {expected!r} (and dry_run to False).")
