"""Notebook rendering of the verify step (and the deploy step's outcome): figures, the results table and,
for recommender-shaped outputs, the query image beside the recommended items' images with their scores (an image
the model answers with is shown as it came); for a real-time or serverless endpoint, the outage's requests as its
CloudWatch metrics counted them, minute by minute.

Works from a :class:`~endpoint_runbook.steps.verify.VerifyResult` or from its record (``04-verify.json``), so an
executed notebook and a record read later show the same thing. Images are fetched from S3 (the bucket of
the request's input unless ``image_bucket`` is given), bounded in number and size, and embedded as base64
``<img>`` tags, so the saved notebook keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..invocation.invoke import RequestResult
from ..steps.verify import VerifyResult
from .common import _PER_ROW, _TABLE, _TD, _TH, _bad, _e, _fmt_s, _ok, _rows, health_label

__all__ = ["outage_html", "replay_html", "show_verify", "verify_html"]

#: Reads one picture: an S3 URI → (``data:`` URI, None) or (None, why not)
#: (:func:`endpoint_runbook.invocation.pictures.s3_pictures`).
Pictures = Callable[[str], tuple[str | None, str | None]]



def _as_result(result: VerifyResult | Mapping[str, Any]) -> VerifyResult:
    return result if isinstance(result, VerifyResult) else VerifyResult.from_dict(dict(result))


def _figures_html(r: VerifyResult) -> str:
    f = r.figures or {}
    warm = f.get("warm") or {}
    rows = [
        ("endpoint", f"{_e(r.endpoint_name)} ({_e(r.endpoint_status)})" + (f" — {_e(r.kind)}" if r.kind else "")),
        ("result", _ok("PASSED") if r.ok else _bad("FAILED")),
        ("requests", (f"{f.get('requests', len(r.requests))} sent · {f.get('completed', 0)} completed · "
                     f"{f.get('failed', 0)} failed · {f.get('timeouts', 0)} timed out · {f.get('skipped', 0)} skipped")),
        ("cold latency", _fmt_s(f.get("cold_s")) if f.get("cold_s") is not None else _e(f.get("cold_status") or "–")),
        ("warm latency", f"p50 {_fmt_s(warm.get('p50_s'))} · p95 {_fmt_s(warm.get('p95_s'))} (n={warm.get('n', 0)})"),
        ("notifications", _e(_notes_line(r.notifications))),
    ]
    for h in r.health:
        mark = _ok("found") if h.get("found") else _bad("missing")
        rows.append((f"log: {_e(health_label(h))}", f"{mark} <span title='{_e(h.get('pattern'))}'>"
                     f"{_e(h.get('first_line') or '')}</span>"))
    if r.error:
        rows.append(("error", f"{_bad(_e(r.error.get('code')))}: {_e(r.error.get('message'))}"))
    for p in r.problems:
        rows.append(("problem", _e(p)))
    cause = ((r.log_evidence or {}).get("cause") or {}).get("summary")
    if cause:
        rows.append(("log evidence", _e(cause)))
    for fd in r.findings:
        rows.append((f"finding: {_e(fd.code)}", f"{_e(fd.severity)} — {_e(fd.message)}"))
    return _rows(rows)


def _notes_line(n: Mapping[str, Any] | None) -> str:
    if not n:
        return "–"
    mode = n.get("mode")
    if mode == "temporary":
        c = n.get("cleanup") or {}
        gone = "removed" if c.get("queue_deleted") and not c.get("errors") else f"cleanup: {c.get('errors')}"
        return f"temporary queue + subscription ({gone})"
    if mode in ("existing", "given"):
        return f"{mode} queue {n.get('queue_url')}"
    return str(mode)


def _summary_cell(rr: RequestResult, top: int = 3) -> str:
    if rr.status != "completed":
        return _bad(_e((rr.failure_reason or '')[:400]))
    s = rr.summary or {}
    if s.get("kind") == "image":
        return (f"<img src='{s['data_uri']}' width='96' alt='the model answered with an image'/>"
                if s.get("data_uri") else f"an image ({_e(s.get('content_type'))}, {_e(s.get('bytes'))} bytes)")
    if s.get("kind") == "recommendations":
        q = s.get("query") or {}
        head = " ".join(_e(q.get(k)) for k in ("dominant_color", "category_guess", "type_guess") if q.get(k))
        items = ", ".join(f"{_e(i.get('key', '').rsplit('/', 1)[-1])} ({_e(i.get('score'))})"
                          for i in (s.get("top") or [])[:top])
        return f"{head} → {items}" if head else items
    return _e(s.get("preview") or s.get("kind") or "")


def _table_html(r: VerifyResult) -> str:
    head = "<tr>" + "".join(f"<th {_TH}>{h}</th>" for h in ("#", "kind", "input", "inference id", "status", "latency",
                                                          "notification", "output / failure", "summary")) + "</tr>"
    rows = []
    for rr in r.requests:
        status = _e(rr.status)
        status = _ok(status) if rr.ok else (status if rr.status == "skipped" else _bad(status))
        n = rr.notification or {}
        note = "–" if rr.notification is None else (f"{_e(n.get('status'))}" if n.get("received") else
                                                   _bad("missing"))
        loc = rr.output_location if rr.status == "completed" else rr.failure_location
        if loc is None and rr.status == "completed":  # synchronous: the answer came in the response
            loc = f"(response: {(rr.summary or {}).get('bytes')} bytes)"
        cells = [str(rr.index), _e(rr.kind), _e(rr.input.rsplit('/', 1)[-1]),
                 f"<code>{_e((rr.inference_id or '')[:8])}</code>", status, _fmt_s(rr.latency_s), note,
                 f"<code>{_e(loc or '')}</code>", _summary_cell(rr)]
        rows.append("<tr>" + "".join(f"<td {_TD}>{c}</td>" for c in cells) + "</tr>")
    return f"<table {_TABLE}>" + head + "".join(rows) + "</table>"


def _card(src: str | None, why: str | None, caption: str, *, query: bool = False) -> str:
    """One picture and its caption, as a table cell (a row of them is the grid)."""
    img = (f"<img src='{src}' width='124' height='124' alt='' style='width:124px;height:124px;object-fit:contain;"
           f"background-color:#fafafa'/>" if src else
           f"<table style='width:124px;height:124px;background-color:#f6f6f6;color:#888'><tr><td "
           f"style='text-align:center'>{_e(why or 'no image')}</td></tr></table>")
    border = "2px solid #333" if query else "1px solid #ddd"
    return (f"<td style='width:132px;font-size:11px;border:{border};padding:4px;vertical-align:top;"
            f"text-align:left'>{img}<br/>{caption}</td>")


def _grid(cards: list[str]) -> str:
    rows = ["<tr>" + "".join(cards[i:i + _PER_ROW]) + "</tr>" for i in range(0, len(cards), _PER_ROW)]
    return "<table style='border-collapse:separate;border-spacing:6px'>" + "".join(rows) + "</table>"


def _pictures_html(r: VerifyResult, fetch: Pictures, *, max_images: int, max_inputs: int, image_bucket: str | None) -> str:
    shown: list[str] = []
    seen_inputs: set[str] = set()
    budget = max_images
    for rr in r.requests:
        s = rr.summary or {}
        if rr.status == "completed" and s.get("kind") == "image" and rr.input not in seen_inputs and budget >= 2:
            seen_inputs.add(rr.input)  # the model answers with a picture: the input beside it
            src, why = fetch(rr.input)
            out_src, out_why = ((s["data_uri"], None) if s.get("data_uri") else
                                fetch(rr.output_location) if rr.output_location else (None, "not kept"))
            budget -= 2
            shown.append(f"<h4>{_e(rr.input)} → the model's answer (request {rr.index}, {_fmt_s(rr.latency_s)})</h4>"
                         + _grid([_card(src, why, "<b>input</b>", query=True), _card(out_src, out_why, "answer")]))
            continue
        if rr.status != "completed" or s.get("kind") != "recommendations" or rr.input in seen_inputs:
            continue
        if len(seen_inputs) >= max_inputs or budget <= 0:
            break
        seen_inputs.add(rr.input)
        bucket = image_bucket or rr.input.removeprefix("s3://").partition("/")[0]
        cards = []
        q = s.get("query") or {}
        src, why = fetch(rr.input)
        budget -= 1
        qcap = "<b>query</b><br/>" + _e(rr.input.rsplit("/", 1)[-1]) + "<br/>" + " · ".join(
            _e(q.get(k)) for k in ("dominant_color", "category_guess", "type_guess") if q.get(k))
        cards.append(_card(src, why, qcap, query=True))
        for item in s.get("top") or []:
            if budget <= 0:
                break
            key = item.get("key")
            if not key:
                continue
            uri = key if str(key).startswith("s3://") else f"s3://{bucket}/{key}"
            src, why = fetch(uri)
            budget -= 1
            cap = (f"#{_e(item.get('rank'))} score <b>{_e(item.get('score'))}</b><br/>"
                   + " · ".join(_e(item.get(k)) for k in ("category", "type", "color") if item.get(k))
                   + f"<br/><span title='{_e(key)}'>{_e(str(key).rsplit('/', 1)[-1])}</span>")
            cards.append(_card(src, why, cap))
        shown.append(f"<h4>{_e(rr.input)} — {s.get('count', len(s.get('top') or []))} recommendations "
                     f"(request {rr.index}, {_fmt_s(rr.latency_s)})</h4>{_grid(cards)}")
    return "".join(shown)


def verify_html(result: VerifyResult | Mapping[str, Any], pictures: Pictures | None = None, *, max_images: int = 24,
                max_inputs: int = 3, image_bucket: str | None = None) -> str:
    """The verify result as one HTML fragment: figures, the results table, pictures (when ``pictures`` is given
    and the outputs are images or recommender-shaped; at most ``max_images`` images for ``max_inputs`` inputs).
    ``pictures`` reads them (:func:`endpoint_runbook.invocation.pictures.s3_pictures`): rendering calls no AWS."""
    r = _as_result(result)
    parts = ["<div>", _figures_html(r), _table_html(r), replay_html(r.replay), outage_html(r.outage)]
    if pictures is not None:
        parts.append(_pictures_html(r, pictures, max_images=max_images, max_inputs=max_inputs,
                                    image_bucket=image_bucket))
    parts.append("</div>")
    return "".join(parts)


def replay_html(replay: Mapping[str, Any] | None) -> str:
    """The outage's failed requests: how many failed, were replayed and served; one row per request."""
    if not replay:
        return ""
    c = replay.get("counts") or {}
    again = _e(c.get("failed_again"))
    outage = replay.get("outage") or {}
    where = (f"<p>failed on <code>{_e(outage.get('endpoint'))}</code> (looked for under "
             f"<code>{_e(outage.get('failure_path'))}</code> and its error topic, from {_e(outage.get('source'))}) → "
             f"sent to <code>{_e(replay.get('endpoint_name'))}</code></p>" if outage else "")
    head = (f"<h4>Replay of the failed requests ({_e(replay.get('window_start'))} → {_e(replay.get('window_end'))})"
            f"</h4>{where}<p><b>{_e(c.get('failed'))}</b> failed · <b>{_e(c.get('replayed'))}</b> replayed now · "
            f"{_ok(_e(c.get('served')) + ' served')} · {_e(c.get('already_served'))} served "
            f"before · {(_bad if c.get('failed_again') else _ok)(again + ' failed again')}"
            f" · {_e(c.get('input_unknown'))} input unknown · concurrency {_e(replay.get('concurrency'))}"
            + (f" · {_e(c.get('throughput_rps'))} req/s" if c.get("throughput_rps") else "") + "</p>")
    rows = "".join(
        "<tr>" + "".join(f"<td {_TD}>{v}</td>" for v in (
            _e(r.get("original_id")), _e(r.get("input")), _e(r.get("replay_id")),
            (_ok if r.get("status") in ("served", "already-served") else _bad)(_e(r.get("status"))),
            _fmt_s(r.get("latency_s")))) + "</tr>" for r in replay.get("rows") or [])
    heads = "".join(f"<th {_TH}>{h}</th>" for h in ("original id", "input", "replay id", "status", "latency"))
    return head + (f"<table {_TABLE}><tr>{heads}</tr>{rows}</table>" if rows else "")


_BAR = "display:inline-block;height:10px;vertical-align:middle"


def _bar(n: float, scale: float, colour: str) -> str:
    """An inline bar ``n`` long (of ``scale``): inline styles only, so an untrusted notebook still shows it."""
    width = 0 if not n or not scale else max(2, int(160 * n / scale))
    return f"<span style='{_BAR};width:{width}px;background-color:{colour}'></span>" if width else ""


def outage_html(outage: Mapping[str, Any] | None) -> str:
    """A real-time or serverless endpoint's requests as CloudWatch counted them (``invocation.metrics``): the
    totals before and after the fix began serving, and each minute with requests (errors in red)."""
    if not outage:
        return ""
    head = (f"<h4>The outage's requests, from CloudWatch metrics ({_e(outage.get('endpoint'))}, "
            f"{_e(outage.get('window_start'))} → {_e(outage.get('window_end'))})</h4>")
    if outage.get("error"):
        return head + f"<p>{_bad('unreadable')}: {_e(outage['error'])}</p>"
    b, a = outage.get("before_fix") or {}, outage.get("after_fix") or {}
    fixed = outage.get("fixed_at")
    failed_b, failed_a = outage.get("failed_before_fix", 0), outage.get("failed_after_fix", 0)

    def counts(c: Mapping[str, Any]) -> str:
        return (f"{c.get('Invocations', 0):g} requests · {c.get('Invocation4XXErrors', 0):g} 4xx · "
                f"{c.get('Invocation5XXErrors', 0):g} 5xx (or no answer)")

    lat = outage.get("latency_ms") or {}
    rows = [(("before the fix" if fixed else "in the window (when the fix began serving is not recorded)"),
             (_bad if failed_b else _ok)(f"{failed_b:g} failed") + " — " + counts(b)
             + (f" · model latency {lat['before_fix_avg']} ms" if lat.get("before_fix_avg") is not None else ""))]
    at = outage.get("at_fix") or {}
    if fixed and at.get("Invocations"):
        failed_at = outage.get("failed_at_fix", 0)
        rows.append(("the minute the fix began serving in", f"{failed_at:g} failed — " + counts(at)
                     + (f" · model latency {lat['at_fix_avg']} ms" if lat.get("at_fix_avg") is not None else "")
                     + " (CloudWatch counts whole minutes: these came before or after the fix)"))
    if fixed:
        rows.append((f"since the fix ({_e(fixed)})", (_bad if failed_a else _ok)(f"{failed_a:g} failed") + " — "
                     + counts(a) + (f" · model latency {lat['after_fix_avg']} ms" if lat.get("after_fix_avg")
                                    is not None else "")))
    cold = outage.get("cold_starts") or {}
    if cold:
        rows.append(("cold starts (serverless)", f"{cold.get('count', 0):g} · the longest setup "
                     f"{_e(cold.get('longest_setup_s'))} s (ModelSetupTime)"))
    series = outage.get("series") or []
    scale = max((p.get("Invocations", 0) for p in series), default=0)
    heads = "".join(f"<th {_TH}>{h}</th>" for h in ("minute", "requests", "4xx", "5xx / no answer",
                                                    "model latency avg / max", ""))
    body = "".join(
        "<tr>" + "".join(f"<td {_TD}>{v}</td>" for v in (
            _e(p.get("t")) + (" ✔" if p.get("after_fix") else " ◐ the fix" if p.get("at_fix") else ""), f"{p.get('Invocations', 0):g}",
            f"{p.get('Invocation4XXErrors', 0):g}", f"{p.get('Invocation5XXErrors', 0):g}",
            (f"{p['latency_avg_ms']} / {p['latency_max_ms']} ms" if p.get("latency_avg_ms") is not None else "–")
            + (f" · cold start {p['setup_max_s']} s" if p.get("cold_starts") else ""),
            _bar(p.get("Invocations", 0) - p.get("Invocation4XXErrors", 0) - p.get("Invocation5XXErrors", 0),
                 scale, "#17702a")
            + _bar(p.get("Invocation4XXErrors", 0) + p.get("Invocation5XXErrors", 0), scale, "#b00020")))
        + "</tr>" for p in series)
    table = f"<table {_TABLE}><tr>{heads}</tr>{body}</table>" if body else "<p>no requests in the window</p>"
    return head + _rows(rows) + table


def show_verify(result: VerifyResult | Mapping[str, Any], pictures: Pictures | None = None, **kw: Any) -> None:
    """Render :func:`verify_html` in the notebook."""
    from IPython.display import HTML, display

    display(HTML(verify_html(result, pictures, **kw)))


