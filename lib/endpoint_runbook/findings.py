"""Findings: what a check saw, with a stable code that users and tests match on (never the wording)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Finding", "Severity", "worst"]

Severity = Literal["error", "warning", "info"]
_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    code: stable, kebab-case (``missing-module``, ``nested-top-folder``...).
    severity: ``error`` (this will crash or corrupt), ``warning`` (degraded or suspicious), ``info``.
    message: one sentence that says what is wrong and what to do.
    evidence: the lines, paths or values that show it.
    """

    code: str
    severity: Severity
    message: str
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(d["code"], d["severity"], d["message"], list(d.get("evidence", [])), dict(d.get("data", {})))


def worst(findings: list[Finding]) -> Severity | None:
    """The most severe severity among ``findings`` (None when there are none)."""
    if not findings:
        return None
    return min((f.severity for f in findings), key=_RANK.__getitem__)
