"""An async endpoint's backlog: the requests its internal queue holds (waiting or being processed), as SageMaker
publishes it (AWS/SageMaker ``ApproximateBacklogSize``, ``ApproximateBacklogSizePerInstance``,
``HasBacklogWithoutCapacity``; dimension EndpointName). Read by diagnose (reported) and cleanup (a guard)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..findings import Finding

__all__ = ["BACKLOG_METRICS", "Backlog", "backlog_finding", "read_backlog", "report"]

BACKLOG_METRICS = ("ApproximateBacklogSize", "ApproximateBacklogSizePerInstance", "HasBacklogWithoutCapacity")


@dataclass
class Backlog:
    """The latest minute's maximum of each metric (None: no datapoint in the window)."""

    endpoint: str
    size: float | None = None
    per_instance: float | None = None
    without_capacity: bool | None = None
    at: str | None = None
    window_minutes: float = 5.0

    @property
    def requests(self) -> int:
        """How many queued requests a delete would lose (0 when nothing is known)."""
        return int(self.size or 0)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "requests": self.requests}


def _latest(cw: Any, metric: str, endpoint: str, start: dt.datetime, end: dt.datetime) -> tuple[float, dt.datetime] | None:
    resp = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, StartTime=start, EndTime=end,
                                    Period=60, Statistics=["Maximum"],
                                    Dimensions=[{"Name": "EndpointName", "Value": endpoint}])
    points = sorted(resp.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return (float(points[-1]["Maximum"]), points[-1]["Timestamp"]) if points else None


def read_backlog(cw: Any, endpoint: str, *, window_minutes: float = 5.0, now: dt.datetime | None = None) -> Backlog:
    """The endpoint's backlog from its CloudWatch metrics over the last ``window_minutes`` (the latest minute
    with data: a conservative reading, since a minute's maximum counts a request queued at any time in it)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(minutes=window_minutes)
    b = Backlog(endpoint=endpoint, window_minutes=window_minutes)
    size = _latest(cw, "ApproximateBacklogSize", endpoint, start, now + dt.timedelta(minutes=1))
    if size:
        b.size, b.at = size[0], size[1].isoformat() if hasattr(size[1], "isoformat") else str(size[1])
    per = _latest(cw, "ApproximateBacklogSizePerInstance", endpoint, start, now + dt.timedelta(minutes=1))
    b.per_instance = per[0] if per else None
    nocap = _latest(cw, "HasBacklogWithoutCapacity", endpoint, start, now + dt.timedelta(minutes=1))
    b.without_capacity = bool(nocap[0]) if nocap else None
    return b


def backlog_finding(b: Backlog) -> Finding | None:
    """``queued-requests`` (warning) when the endpoint holds requests; None otherwise."""
    if not b.requests:
        return None
    extra = " and no instance to serve them (HasBacklogWithoutCapacity)" if b.without_capacity else ""
    return Finding("queued-requests", "warning",
                   f"{b.endpoint} holds about {b.requests} queued request(s){extra}. Fix it in place (deploy mode "
                   "in-place) so they are served; deleting the endpoint drops them.",
                   [f"ApproximateBacklogSize {b.size:g} at {b.at}"], {"backlog": b.to_dict()})


def report(cw: Any, endpoint: str, *, window_minutes: float = 5.0) -> tuple[dict[str, Any], list[Finding]]:
    """For diagnose: the backlog reading (or why it is unknown) and its finding, never raising."""
    import botocore.exceptions

    try:
        b = read_backlog(cw, endpoint, window_minutes=window_minutes)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        return {"endpoint": endpoint, "error": f"{type(e).__name__}: {e}"[:300]}, [Finding(
            "backlog-unreadable", "info", f"Could not read {endpoint}'s backlog metrics: check "
            "cloudwatch:GetMetricStatistics.", [str(e)[:300]])]
    f = backlog_finding(b)
    return b.to_dict(), [f] if f else []
