"""Many endpoints' CloudWatch metrics in few calls: GetMetricData takes up to 500 queries a call, where
``backlog.read_backlog`` (one endpoint, GetMetricStatistics) spends three calls on one endpoint.

- the async backlog (``backlog.BACKLOG_METRICS``, dimension EndpointName), the latest minute of the window,
  as :class:`backlog.Backlog` so that a scan and diagnose read it the same way;
- recent invocation errors (:data:`ERROR_METRICS`, dimensions EndpointName + VariantName), summed over the
  window and over the endpoint's variants.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..endpoint.backlog import BACKLOG_METRICS, Backlog
from ..invocation.metrics import MAX_QUERIES, get_metric_data, metric_query

__all__ = ["ERROR_METRICS", "MAX_QUERIES", "MetricTarget", "read_fleet_metrics"]

#: Failed requests as SageMaker counts them: 5xx answers of the model container, and every request that did
#: not end in a 2xx (timeouts and dropped connections included).
ERROR_METRICS = ("Invocation5XXErrors", "InvocationModelErrors")


@dataclass(frozen=True)
class MetricTarget:
    endpoint: str
    variants: tuple[str, ...]
    is_async: bool


def read_fleet_metrics(cw: Any, targets: list[MetricTarget], *, error_window_minutes: float,
                       backlog_window_minutes: float = 5.0, now: dt.datetime | None = None
                       ) -> tuple[dict[str, Backlog], dict[str, dict[str, float]]]:
    """(endpoint → its backlog, for async endpoints; endpoint → {error metric: sum over the window}).
    Two windows, so two rounds of GetMetricData: the backlog's last minutes, the errors' whole window."""
    now = now or dt.datetime.now(dt.timezone.utc)
    backlog_q: list[dict[str, Any]] = []
    error_q: list[dict[str, Any]] = []
    ids: dict[str, tuple[str, str]] = {}
    for n, t in enumerate(targets):
        if t.is_async:
            for m, metric in enumerate(BACKLOG_METRICS):
                qid = f"b{n}_{m}"
                ids[qid] = (t.endpoint, metric)
                backlog_q.append(metric_query(qid, metric, {"EndpointName": t.endpoint}, "Maximum", 60))
        for v, variant in enumerate(t.variants):
            for m, metric in enumerate(ERROR_METRICS):
                qid = f"e{n}_{v}_{m}"
                ids[qid] = (t.endpoint, metric)
                period = max(60, int(error_window_minutes * 60) // 60 * 60)
                error_q.append(metric_query(qid, metric, {"EndpointName": t.endpoint, "VariantName": variant}, "Sum",
                                      period))
    backlogs: dict[str, Backlog] = {}
    if backlog_q:
        start = now - dt.timedelta(minutes=backlog_window_minutes)
        for qid, points in get_metric_data(cw, backlog_q, start, now + dt.timedelta(minutes=1)).items():
            if not points:
                continue
            endpoint, metric = ids[qid]
            b = backlogs.setdefault(endpoint, Backlog(endpoint=endpoint, window_minutes=backlog_window_minutes))
            ts, value = points[0]
            if metric == "ApproximateBacklogSize":
                b.size, b.at = float(value), ts.isoformat() if hasattr(ts, "isoformat") else str(ts)
            elif metric == "ApproximateBacklogSizePerInstance":
                b.per_instance = float(value)
            else:
                b.without_capacity = bool(value)
    errors: dict[str, dict[str, float]] = {}
    if error_q:
        start = now - dt.timedelta(minutes=error_window_minutes)
        for qid, points in get_metric_data(cw, error_q, start, now + dt.timedelta(minutes=1)).items():
            total = sum(float(v) for _, v in points)
            if total:
                endpoint, metric = ids[qid]
                per = errors.setdefault(endpoint, {})
                per[metric] = per.get(metric, 0.0) + total
    return backlogs, errors
