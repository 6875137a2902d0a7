"""An endpoint's requests as SageMaker counts them in CloudWatch (namespace ``AWS/SageMaker``, dimensions
``EndpointName`` and ``VariantName``, one-minute data): how many, how many the model answered with a 4xx or a 5xx
(or never answered), how long it took, and (serverless) the cold starts.

A real-time or serverless request that failed cannot be sent again (its caller got the error), so these metrics are
the outage's record: :func:`read_outage` reads them over a window, per minute, and splits them at the moment the fix
began serving. GetMetricData (:func:`get_metric_data`, :func:`metric_query`) is shared with the fleet scan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COUNTS", "MAX_QUERIES", "OutageMetrics", "get_metric_data", "metric_query", "read_outage"]

MAX_QUERIES = 500  # GetMetricData's own limit per call
#: Request counts (Sum per minute): sent, answered with a 4xx, with a 5xx (or not at all), not answered with a 2xx.
COUNTS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors")
#: Durations (microseconds): the model's answer; a serverless endpoint's new compute (a cold start).
_DURATIONS = (("ModelLatency", "Average"), ("ModelLatency", "Maximum"), ("ModelSetupTime", "Maximum"),
              ("ModelSetupTime", "SampleCount"))


def metric_query(qid: str, metric: str, dims: dict[str, str], stat: str, period: int) -> dict[str, Any]:
    """One GetMetricData query of an ``AWS/SageMaker`` metric."""
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
        "Period": period, "Stat": stat}}


def get_metric_data(cw: Any, queries: list[dict[str, Any]], start: dt.datetime,
                    end: dt.datetime) -> dict[str, list[Any]]:
    """Query id → [(timestamp, value)] newest first, in calls of at most 500 queries (and their pages)."""
    out: dict[str, list[Any]] = {}
    for i in range(0, len(queries), MAX_QUERIES):
        token = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": queries[i:i + MAX_QUERIES], "StartTime": start,
                                      "EndTime": end, "ScanBy": "TimestampDescending"}
            if token:
                kwargs["NextToken"] = token
            page = cw.get_metric_data(**kwargs)
            for r in page.get("MetricDataResults", []):
                out.setdefault(r["Id"], []).extend(zip(r.get("Timestamps", []), r.get("Values", [])))
            token = page.get("NextToken")
            if not token:
                break
    for points in out.values():
        points.sort(key=lambda p: p[0], reverse=True)
    return out


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def _zero() -> dict[str, float]:
    return {m: 0.0 for m in COUNTS}


@dataclass
class OutageMetrics:
    """An endpoint's requests over a window, per minute (only the minutes with data), and their totals before and
    after ``fixed_at`` (when the fix began serving; None: not known, everything counts as before).

    CloudWatch counts a minute as a whole, so the minute in which the fix began serving holds requests of both: its
    counts are ``at_fix``, neither before nor after (a fast fix can put the whole outage in that minute)."""

    endpoint: str
    variants: list[str]
    window_start: str
    window_end: str
    fixed_at: str | None = None
    period_s: int = 60
    series: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=_zero)
    before_fix: dict[str, float] = field(default_factory=_zero)
    at_fix: dict[str, float] = field(default_factory=_zero)  # the minute the fix began serving in: before or after
    after_fix: dict[str, float] = field(default_factory=_zero)
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # the model's answers, before / after the fix
    cold_starts: dict[str, Any] = field(default_factory=dict)  # serverless: how many, the longest setup
    error: str | None = None  # the metrics could not be read (the code and message)

    @property
    def failed_before_fix(self) -> float:
        """The outage's failed requests: answered with a 4xx or 5xx, or not at all."""
        return _failed(self.before_fix)

    @property
    def failed_at_fix(self) -> float:
        """Failed requests in the minute the fix began serving in (CloudWatch cannot tell before from after)."""
        return _failed(self.at_fix)

    @property
    def failed_after_fix(self) -> float:
        """Failed requests in the whole minutes after the one the fix began serving in."""
        return _failed(self.after_fix)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["failed_before_fix"], d["failed_at_fix"] = self.failed_before_fix, self.failed_at_fix
        d["failed_after_fix"] = self.failed_after_fix
        return d


def _failed(c: dict[str, float]) -> float:
    return max(c["Invocation4XXErrors"] + c["Invocation5XXErrors"], c["InvocationModelErrors"])


def read_outage(cw: Any, endpoint: str, variants: list[str], *, start: dt.datetime, end: dt.datetime,
                fixed_at: dt.datetime | None = None) -> OutageMetrics:
    """The endpoint's request metrics from ``start`` to ``end`` (one-minute periods, minutes aligned), summed over
    its ``variants``; totals split at ``fixed_at``. Raises what the GetMetricData call raises."""
    start = start.replace(second=0, microsecond=0)
    end = (end + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    om = OutageMetrics(endpoint=endpoint, variants=list(variants), window_start=_iso(start) or "",
                       window_end=_iso(end) or "", fixed_at=_iso(fixed_at))
    queries: list[dict[str, Any]] = []
    ids: dict[str, tuple[str, str]] = {}
    for v, variant in enumerate(variants):
        dims = {"EndpointName": endpoint, "VariantName": variant}
        for m, metric in enumerate(COUNTS):
            qid = f"c{v}_{m}"
            ids[qid] = (metric, "Sum")
            queries.append(metric_query(qid, metric, dims, "Sum", 60))
        for m, (metric, stat) in enumerate(_DURATIONS):
            qid = f"d{v}_{m}"
            ids[qid] = (metric, stat)
            queries.append(metric_query(qid, metric, dims, stat, 60))
    minutes: dict[dt.datetime, dict[str, Any]] = {}
    for qid, points in get_metric_data(cw, queries, start, end).items():
        metric, stat = ids[qid]
        for ts, value in points:
            row = minutes.setdefault(ts, {})
            key = metric if stat == "Sum" else f"{metric}:{stat}"
            if stat in ("Sum", "SampleCount"):
                row[key] = row.get(key, 0.0) + float(value)
            elif stat == "Maximum":
                row[key] = max(row.get(key, 0.0), float(value))
            else:  # Average over variants: weighted later by nothing better than a plain mean
                row.setdefault(key + "s", []).append(float(value))
    lat_before: list[float] = []
    lat_after: list[float] = []
    lat_at: list[float] = []
    cold_n, cold_max = 0.0, 0.0
    fix_minute = fixed_at.replace(second=0, microsecond=0) if fixed_at is not None else None
    for ts in sorted(minutes):
        row = minutes[ts]
        at = fix_minute is not None and ts == fix_minute
        after = fix_minute is not None and ts > fix_minute
        avgs = row.pop("ModelLatency:Averages", [])
        point: dict[str, Any] = {"t": _iso(ts), "after_fix": after, "at_fix": at}
        bucket = om.after_fix if after else om.at_fix if at else om.before_fix
        for m in COUNTS:
            point[m] = row.get(m, 0.0)
            om.totals[m] += point[m]
            bucket[m] += point[m]
        if avgs:
            point["latency_avg_ms"] = round(sum(avgs) / len(avgs) / 1000.0, 1)
            point["latency_max_ms"] = round(row.get("ModelLatency:Maximum", 0.0) / 1000.0, 1)
            (lat_after if after else lat_at if at else lat_before).append(point["latency_avg_ms"])
        if row.get("ModelSetupTime:SampleCount"):
            point["cold_starts"] = row["ModelSetupTime:SampleCount"]
            point["setup_max_s"] = round(row.get("ModelSetupTime:Maximum", 0.0) / 1e6, 2)
            cold_n += point["cold_starts"]
            cold_max = max(cold_max, point["setup_max_s"])
        om.series.append(point)
    om.latency_ms = {f"{k}_fix_avg": round(sum(v) / len(v), 1) if v else None
                     for k, v in (("before", lat_before), ("at", lat_at), ("after", lat_after))}
    if cold_n:
        om.cold_starts = {"count": cold_n, "longest_setup_s": cold_max}
    return om
