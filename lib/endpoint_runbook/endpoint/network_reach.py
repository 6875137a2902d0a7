"""Can the endpoint reach a host its model needs? From the model's own network settings (DescribeModel).

The model's ``EnableNetworkIsolation`` and ``VpcConfig`` decide what its container can reach:

- network isolation: nothing at all (not even S3 or the hub: SageMaker stages the model data before start);
- a VPC (``VpcConfig`` with subnets and security groups): only what the subnets route to -- the internet only
  through a NAT gateway (a ``0.0.0.0/0`` route to ``nat-...``) with security-group egress on 443; a VPC
  endpoint serves AWS services (S3 has a gateway endpoint), never a model hub;
- neither: SageMaker gives the container internet access: public hosts are reachable.

The load check runs with no network at all (``serving.offline``): what it says about a host is this machine's
result; :func:`network_needs` says the endpoint's, and what to do when it cannot reach the host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..findings import Finding

__all__ = ["Reach", "endpoint_reach", "network_needs"]


@dataclass(frozen=True)
class Reach:
    """Whether the endpoint's container reaches a public host: ``no``, ``vpc`` (only through a NAT gateway), or
    ``yes``; ``why`` in words, ``check``: what to look at for a VPC."""

    reach: str
    why: str
    check: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint_reach(network_isolation: bool | None, vpc_config: dict[str, Any] | None) -> Reach:
    if network_isolation:
        return Reach("no", "the model has EnableNetworkIsolation: its container reaches no host at all")
    subnets = list((vpc_config or {}).get("Subnets") or [])
    groups = list((vpc_config or {}).get("SecurityGroupIds") or [])
    if subnets:
        return Reach("vpc", f"the model runs in VPC subnets {', '.join(subnets)}: its container reaches a public host "
                     "only through a NAT gateway",
                     f"the route tables of {', '.join(subnets)} have a 0.0.0.0/0 route to a NAT gateway and that the "
                     f"security groups {', '.join(groups) or '(none given)'} allow egress to port 443 (a VPC endpoint "
                     "serves AWS services only, never a model hub)")
    return Reach("yes", "the model has no network isolation and no VPC: SageMaker gives its container internet "
                 "access")


@dataclass
class _Need:
    host: str
    phase: str
    static: list[dict[str, Any]] = field(default_factory=list)  # the downloads the code makes (imports.downloads)
    seen: list[dict[str, Any]] = field(default_factory=list)  # what the load check saw tried (LoadCheck.network)


def network_needs(network_isolation: bool | None, vpc_config: dict[str, Any] | None,
                  downloads: list[dict[str, Any]], tried: list[dict[str, Any]],
                  check_stopped: bool = False) -> list[Finding]:
    """``network-need``, one per host the serving code needs: the calls that need it (static, with their line),
    what the load check saw (this machine: no network, refused and recorded), and whether the endpoint reaches it
    (its EnableNetworkIsolation/VpcConfig). An error when a start-up need meets an endpoint that cannot reach the
    host, a warning for a VPC (it depends on its routes), info when the endpoint reaches it."""
    reach = endpoint_reach(network_isolation, vpc_config)
    needs: dict[str, _Need] = {}
    for d in downloads:
        if d.get("phase") in ("import", "model_fn", "request"):
            n = needs.setdefault(d["host"], _Need(d["host"], d["phase"]))
            n.static.append(d)
            if d["phase"] != "request":
                n.phase = d["phase"]
    for t in tried:
        if t.get("host") and t.get("stage") in ("import", "model_fn"):
            n = needs.setdefault(str(t["host"]), _Need(str(t["host"]), t["stage"]))
            n.seen.append(t)
            n.phase = t["stage"] if n.phase == "request" else n.phase
    out = []
    for host, n in needs.items():
        startup = n.phase in ("import", "model_fn")
        calls = [f"{d['file']}:{d['line']} {d['call'].rsplit('.', 1)[-1]}(…) {'downloads' if d.get('certain', True) else 'may download'} "
                 f"{d['what']}" for d in n.static[:3]]
        where = [f"{(t.get('where') or {}).get('file')}:{(t.get('where') or {}).get('line')}" for t in n.seen
                 if (t.get("where") or {}).get("file")]
        here = (f"This machine: the load check's model_fn tried {host}" + (f" at {where[0]}" if where else "")
                + " and was refused (the check has no network; nothing left this machine)"
                + (", so the check stopped there" if check_stopped else "") + "." if n.seen else
                f"This machine: the static analysis finds {'it' if len(calls) == 1 else 'them'}; "
                "the load check did not reach the call.")
        when = "at every worker start" if startup else "at the first request"
        hint = next((d.get("hint") for d in n.static if d.get("hint")), "") or \
            "put the files in the archive and load them from /opt/ml/model"
        if reach.reach == "no":
            severity = "error" if startup else "warning"
            there = f"The endpoint: cannot reach {host} ({reach.why}), so {'its workers die' if startup else 'every request fails'} there. To do without it: {hint}."
        elif reach.reach == "vpc":
            severity = "warning"
            there = (f"The endpoint: {reach.why}; check that {reach.check}. If it cannot reach {host}: {hint}.")
        else:
            severity = "info"
            there = (f"The endpoint: reaches {host} ({reach.why}); the download costs time {when}. To make the "
                     f"model independent of {host}: {hint}.")
        out.append(Finding(
            "network-need", severity,
            f"The serving code needs {host} {when}" + (f": {'; '.join(calls)}" if calls else "") + f". {here} {there}",
            [*(f"{d['file']}:{d['line']} {d.get('statement', '')}".strip() for d in n.static[:3]),
             *(f"load check: {t.get('method') or t.get('via')} {t.get('target') or host}" for t in n.seen[:2])],
            {"host": host, "phase": n.phase, "endpoint_reach": reach.reach, "endpoint_why": reach.why,
             "vpc_check": reach.check or None, "calls": [f"{d['file']}:{d['line']}" for d in n.static],
             "load_check": [t.get("where") for t in n.seen], "this_machine": "refused (no network)" if n.seen else
             "not tried"}))
    return out
