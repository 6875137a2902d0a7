"""Notebook rendering of the verify step (and the deploy step's outcome): figures, the results table and,
for recommender-shaped outputs, the query image beside the recommended items' images with their scores.

Works from a :class:`~endpoint_runbook.verify.VerifyResult` or from its record (``04-verify.json``), so an
executed notebook and a record read later show the same thing. Images are fetched from S3 (the bucket of
the request's input unless ``image_bucket`` is given), bounded in number and size, and embedded as base64
``<img>`` tags, so the saved notebook keeps them.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Mapping
from typing import Any

import botocore.exceptions

from .aws import Aws, error_code
from .invoke import RequestResult
from .s3 import parse_s3_uri
from .verify import VerifyResult

__all__ = ["deploy_html", "image_data_uri", "replay_html", "show_deploy", "show_verify", "verify_html"]

_MAX_IMAGE_BYTES = 2 * 1024 * 1024
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

_CSS = """<style>
.erb-v table{border-collapse:collapse;margin:6px 0;font-size:12px}
.erb-v th,.erb-v td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
.erb-v th{background:#f3f3f3}
.erb-v .ok{color:#17702a;font-weight:bold}.erb-v .bad{color:#b00020;font-weight:bold}
.erb-v .grid{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.erb-v .card{width:132px;font-size:11px;border:1px solid #ddd;padding:4px;border-radius:4px}
.erb-v .card img{width:124px;height:124px;object-fit:contain;background:#fafafa}
.erb-v .query{border:2px solid #333}
.erb-v .missing{width:124px;height:124px;display:flex;align-items:center;justify-content:center;
  background:#f6f6f6;color:#888;text-align:center}
</style>"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _fmt_s(x: Any) -> str:
    return "–" if x is None else f"{float(x):.2f} s"


def image_data_uri(s3: Any, uri: str, *, max_bytes: int = _MAX_IMAGE_BYTES) -> tuple[str | None, str | None]:
    """(``data:`` URI, None) for an image object, or (None, why not) — missing, too big, not an image."""
    try:
        bucket, key = parse_s3_uri(uri)
    except Exception as e:  # noqa: BLE001 - a bad key in a model's output is shown, not raised
        return None, str(e)
    ctype = mimetypes.guess_type(key)[0]
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as e:
        return None, error_code(e) or "error"
    ctype = ctype if ctype in _IMAGE_TYPES else obj.get("ContentType")
    if ctype not in _IMAGE_TYPES:
        obj["Body"].close()
        return None, f"not an image ({ctype})"
    if int(obj.get("ContentLength") or 0) > max_bytes:
        obj["Body"].close()
        return None, f"too big ({obj['ContentLength']} bytes)"
    data = obj["Body"].read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, "too big"
    return f"data:{ctype};base64,{base64.b64encode(data).decode()}", None


def _as_result(result: VerifyResult | Mapping[str, Any]) -> VerifyResult:
    return result if isinstance(result, VerifyResult) else VerifyResult.from_dict(dict(result))


def _figures_html(r: VerifyResult) -> str:
    f = r.figures or {}
    warm = f.get("warm") or {}
    rows = [
        ("endpoint", f"{_e(r.endpoint_name)} ({_e(r.endpoint_status)})"),
        ("result", '<span class="ok">PASSED</span>' if r.ok else '<span class="bad">FAILED</span>'),
        ("requests", (f"{f.get('requests', len(r.requests))} sent · {f.get('completed', 0)} completed · "
                     f"{f.get('failed', 0)} failed · {f.get('timeouts', 0)} timed out · {f.get('skipped', 0)} skipped")),
        ("cold latency", _fmt_s(f.get("cold_s")) if f.get("cold_s") is not None else _e(f.get("cold_status") or "–")),
        ("warm latency", f"p50 {_fmt_s(warm.get('p50_s'))} · p95 {_fmt_s(warm.get('p95_s'))} (n={warm.get('n', 0)})"),
        ("notifications", _e(_notes_line(r.notifications))),
    ]
    for h in r.health:
        mark = '<span class="ok">found</span>' if h.get("found") else '<span class="bad">missing</span>'
        rows.append((f"log: {_e(h.get('pattern'))}", f"{mark} {_e(h.get('first_line') or '')}"))
    if r.error:
        rows.append(("error", f"<span class='bad'>{_e(r.error.get('code'))}</span>: {_e(r.error.get('message'))}"))
    for p in r.problems:
        rows.append(("problem", _e(p)))
    cause = ((r.log_evidence or {}).get("cause") or {}).get("summary")
    if cause:
        rows.append(("log evidence", _e(cause)))
    for fd in r.findings:
        rows.append((f"finding: {_e(fd.code)}", f"{_e(fd.severity)} — {_e(fd.message)}"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


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
        return f"<span class='bad'>{_e((rr.failure_reason or '')[:400])}</span>"
    s = rr.summary or {}
    if s.get("kind") == "recommendations":
        q = s.get("query") or {}
        head = " ".join(_e(q.get(k)) for k in ("dominant_color", "category_guess", "type_guess") if q.get(k))
        items = ", ".join(f"{_e(i.get('key', '').rsplit('/', 1)[-1])} ({_e(i.get('score'))})"
                          for i in (s.get("top") or [])[:top])
        return f"{head} → {items}" if head else items
    return _e(s.get("preview") or s.get("kind") or "")


def _table_html(r: VerifyResult) -> str:
    head = "<tr><th>#</th><th>kind</th><th>input</th><th>inference id</th><th>status</th><th>latency</th>" \
           "<th>notification</th><th>output / failure</th><th>summary</th></tr>"
    rows = []
    for rr in r.requests:
        cls = "ok" if rr.ok else ("" if rr.status == "skipped" else "bad")
        n = rr.notification or {}
        note = "–" if rr.notification is None else (f"{_e(n.get('status'))}" if n.get("received") else
                                                   "<span class='bad'>missing</span>")
        loc = rr.output_location if rr.status == "completed" else rr.failure_location
        rows.append(
            f"<tr><td>{rr.index}</td><td>{_e(rr.kind)}</td><td>{_e(rr.input.rsplit('/', 1)[-1])}</td>"
            f"<td><code>{_e((rr.inference_id or '')[:8])}</code></td><td class='{cls}'>{_e(rr.status)}</td>"
            f"<td>{_fmt_s(rr.latency_s)}</td><td>{note}</td><td><code>{_e(loc or '')}</code></td>"
            f"<td>{_summary_cell(rr)}</td></tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def _card(src: str | None, why: str | None, caption: str, *, query: bool = False) -> str:
    img = f"<img src='{src}'/>" if src else f"<div class='missing'>{_e(why or 'no image')}</div>"
    return f"<div class='card{' query' if query else ''}'>{img}<div>{caption}</div></div>"


def _pictures_html(r: VerifyResult, s3: Any, *, max_images: int, max_inputs: int, image_bucket: str | None) -> str:
    shown: list[str] = []
    seen_inputs: set[str] = set()
    budget = max_images
    for rr in r.requests:
        s = rr.summary or {}
        if rr.status != "completed" or s.get("kind") != "recommendations" or rr.input in seen_inputs:
            continue
        if len(seen_inputs) >= max_inputs or budget <= 0:
            break
        seen_inputs.add(rr.input)
        bucket = image_bucket or parse_s3_uri(rr.input)[0]
        cards = []
        q = s.get("query") or {}
        src, why = image_data_uri(s3, rr.input)
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
            src, why = image_data_uri(s3, uri)
            budget -= 1
            cap = (f"#{_e(item.get('rank'))} score <b>{_e(item.get('score'))}</b><br/>"
                   + " · ".join(_e(item.get(k)) for k in ("category", "type", "color") if item.get(k))
                   + f"<br/><span title='{_e(key)}'>{_e(str(key).rsplit('/', 1)[-1])}</span>")
            cards.append(_card(src, why, cap))
        shown.append(f"<h4>{_e(rr.input)} — {s.get('count', len(s.get('top') or []))} recommendations "
                     f"(request {rr.index}, {_fmt_s(rr.latency_s)})</h4><div class='grid'>{''.join(cards)}</div>")
    return "".join(shown)


def verify_html(result: VerifyResult | Mapping[str, Any], aws: Aws | None = None, *, max_images: int = 24,
                max_inputs: int = 3, image_bucket: str | None = None) -> str:
    """The verify result as one HTML fragment: figures, the results table, pictures (when ``aws`` is given
    and the outputs are recommender-shaped; at most ``max_images`` images for ``max_inputs`` inputs)."""
    r = _as_result(result)
    parts = [_CSS, "<div class='erb-v'>", _figures_html(r), _table_html(r), replay_html(r.replay)]
    if aws is not None:
        parts.append(_pictures_html(r, aws.client("s3"), max_images=max_images, max_inputs=max_inputs,
                                    image_bucket=image_bucket))
    parts.append("</div>")
    return "".join(parts)


def replay_html(replay: Mapping[str, Any] | None) -> str:
    """The outage's failed requests: how many failed, were replayed and served; one row per request."""
    if not replay:
        return ""
    c = replay.get("counts") or {}
    head = (f"<h4>Replay of the failed requests ({_e(replay.get('window_start'))} → {_e(replay.get('window_end'))})"
            f"</h4><p><b>{_e(c.get('failed'))}</b> failed · <b>{_e(c.get('replayed'))}</b> replayed now · "
            f"<span class='ok'><b>{_e(c.get('served'))}</b> served</span> · {_e(c.get('already_served'))} served "
            f"before · <span class='{'bad' if c.get('failed_again') else 'ok'}'>{_e(c.get('failed_again'))} failed "
            f"again</span> · {_e(c.get('input_unknown'))} input unknown · concurrency {_e(replay.get('concurrency'))}"
            + (f" · {_e(c.get('throughput_rps'))} req/s" if c.get("throughput_rps") else "") + "</p>")
    rows = "".join(
        f"<tr><td>{_e(r.get('original_id'))}</td><td>{_e(r.get('input'))}</td><td>{_e(r.get('replay_id'))}</td>"
        f"<td class='{'ok' if r.get('status') in ('served', 'already-served') else 'bad'}'>{_e(r.get('status'))}</td>"
        f"<td>{_fmt_s(r.get('latency_s'))}</td></tr>" for r in replay.get("rows") or [])
    return head + ("<table><tr><th>original id</th><th>input</th><th>replay id</th><th>status</th><th>latency</th>"
                   f"</tr>{rows}</table>" if rows else "")


def show_verify(result: VerifyResult | Mapping[str, Any], aws: Aws | None = None, **kw: Any) -> None:
    """Render :func:`verify_html` in the notebook."""
    from IPython.display import HTML, display

    display(HTML(verify_html(result, aws, **kw)))


def deploy_html(result: Any) -> str:
    """The deploy step's outcome: names, created vs reused, timings, the smoke request, the failure."""
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    ok = d.get("ok")
    rows = [
        ("result", f"<span class='{'ok' if ok else 'bad'}'>{_e(d.get('status'))}</span>"),
        ("endpoint", (f"{_e(d.get('endpoint_name'))} ({_e(d.get('endpoint_status'))}) — "
                     f"{_e((d.get('actions') or {}).get('endpoint', '–'))}")),
        ("endpoint config", (f"{_e(d.get('endpoint_config_name'))} — "
                            f"{_e((d.get('actions') or {}).get('endpoint_config', '–'))}")),
        ("model", f"{_e(d.get('model_name'))} — {_e((d.get('actions') or {}).get('model', '–'))}"),
        ("mode", _e(d.get("mode")) + (f" — previous config {_e(d.get('previous_endpoint_config_name'))} (the "
                                      "rollback target)" if d.get("previous_endpoint_config_name") else "")),
        ("image", _e((d.get("plan") or {}).get("image_uri"))),
        ("model data", _e((d.get("plan") or {}).get("model_data_url"))),
    ]
    t = d.get("timings") or {}
    rows.append(("timings", " · ".join(f"{_e(k)} {_fmt_s(v)}" for k, v in t.items() if v is not None)))
    sm = d.get("smoke") or {}
    if sm:
        rows.append(("smoke request", (f"{_e(sm.get('status'))} in {_fmt_s(sm.get('latency_s'))} — "
                                      f"{_e(sm.get('input'))} → {_e(sm.get('output_location') or sm.get('failure_location'))}")))
    if d.get("failure_reason"):
        rows.append(("failure reason", f"<span class='bad'>{_e(d['failure_reason'])}</span>"))
    cause = ((d.get("log_evidence") or {}).get("cause") or {})
    if cause:
        rows.append(("log evidence", _e(cause.get("summary")) + "<br/><code>"
                     + "<br/>".join(_e(x) for x in (cause.get("evidence") or [])[:8]) + "</code>"))
    for f in d.get("preflight") or []:
        if f.get("severity") != "info":
            rows.append((f"preflight: {_e(f.get('code'))}", f"{_e(f.get('severity'))} — {_e(f.get('message'))}"))
    if d.get("rollback"):
        rb = d["rollback"]
        rows.append(("rollback", f"{_e(rb.get('from_config'))} → {_e(rb.get('to_config'))} "
                     f"({_e(rb.get('endpoint_status'))}, {_fmt_s(rb.get('seconds'))})"))
    if d.get("error"):
        rows.append(("error", f"<span class='bad'>{_e(d['error'].get('code'))}</span>: {_e(d['error'].get('message'))}"))
    return _CSS + "<div class='erb-v'><table>" + "".join(
        f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table></div>"


def show_deploy(result: Any) -> None:
    """Render :func:`deploy_html` in the notebook."""
    from IPython.display import HTML, display

    display(HTML(deploy_html(result)))
