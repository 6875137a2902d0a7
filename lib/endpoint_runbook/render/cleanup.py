"""Notebook rendering for step 5 (cleanup): the plan, the report, and the confirm widget.

``plan_html`` / ``report_html`` return HTML strings (tested headless); the notebook displays them.
``confirm_widget`` is for Studio only: a text box ("type the endpoint name") and a Delete button that is
enabled only while the text equals the plan's confirm token; pressing it calls ``on_confirm(text)`` and its
status line then says what the run did (``report_summary``: what was deleted, kept, or could not be). Headless runs
never build it: the notebook passes its ``confirm`` parameter instead.
"""

from __future__ import annotations

import html
from typing import Any, Callable

from ..cleanup import CleanupPlan, CleanupReport
from .common import _COLOUR, _display, card, section, table

__all__ = ["plan_html", "report_html", "report_summary", "confirm_widget", "show_cleanup", "cleanup_confirm"]

_ACTION_STYLE = {
    "delete": "background:#fde2e1;color:#9b1c1c",
    "refuse": "background:#fff3c4;color:#7a4b00;font-weight:bold",
    "keep": "background:#e3f4e6;color:#1d5b2b",
    "absent": "background:#eceff1;color:#555",
}
_OUTCOME_STYLE = {
    "deleted": _ACTION_STYLE["delete"],
    "refused": _ACTION_STYLE["refuse"],
    "failed": "background:#9b1c1c;color:white;font-weight:bold",
    "skipped": _ACTION_STYLE["refuse"],
    "not-run": _ACTION_STYLE["absent"],
    "kept": _ACTION_STYLE["keep"],
    "already-gone": _ACTION_STYLE["absent"],
}
_TABLE = "border-collapse:collapse;font-size:13px"
_CELL = "border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top"


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _badge(text: str, style: str) -> str:
    return f'<span style="{style};padding:1px 6px;border-radius:3px">{_e(text)}</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th style="{_CELL}">{_e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in r) + "</tr>" for r in rows)
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def plan_html(plan: CleanupPlan) -> str:
    """The plan as an HTML table, in dependency order, with a banner saying what would happen."""
    counts = {a: len(plan.by_action(a)) for a in ("delete", "refuse", "keep", "absent")}
    if plan.blocked:
        banner = _badge(f"BLOCKED: {counts['refuse']} item(s) refused by a guard; nothing will be deleted "
                        "unless force=True", _ACTION_STYLE["refuse"])
    elif plan.to_delete:
        banner = _badge(f"{counts['delete']} item(s) to delete; confirm with {plan.confirm_token!r}",
                        _ACTION_STYLE["delete"])
    else:
        banner = _badge("nothing to delete", _ACTION_STYLE["absent"])
    rows = []
    for n, i in enumerate(plan.items, 1):
        name = f'<code title="{_e(i.arn or "")}">{_e(i.name)}</code>'
        ev = "<br>".join(f"<small><code>{_e(x)}</code></small>" for x in i.evidence[:5])
        rows.append([str(n), _e(i.kind), name, _badge(i.action, _ACTION_STYLE.get(i.action, "")), _e(i.reason), ev])
    notes = "".join(f"<li>{_e(x)}</li>" for x in plan.notes)
    return (f"<div><p><b>Cleanup plan</b> for <code>{_e(', '.join(plan.endpoint_names))}</code> "
            f"(recent-traffic window {plan.recent_minutes:g} min, outputs "
            f"{'included' if plan.include_outputs else 'not included'}): {banner}</p>"
            + _table(["#", "kind", "name", "action", "reason", "evidence"], rows)
            + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


def _listed(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def report_summary(report: CleanupReport) -> str:
    """One sentence saying what a cleanup run did: what it deleted, what it kept, what it could not delete."""
    if report.dry_run:
        return "Dry run: nothing was deleted."
    deleted, failed = report.deleted, report.names("failed") + report.names("skipped") + report.names("not-run")
    refused = [o for o in report.outcomes if o.outcome == "refused"]
    kept, gone = report.names("kept"), report.names("already-gone")
    if report.status == "blocked":
        first = refused[0] if refused else None
        return ("Nothing was deleted: a guard refused "
                + (f"{first.kind} {first.name} ({first.message})" if first else "the plan") + ".")
    parts = [f"Deleted {len(deleted)} item(s): {_listed(deleted)}" if deleted else "Deleted nothing"]
    if refused:
        parts.append(f"refused {len(refused)}: {_listed([f'{o.kind} {o.name}' for o in refused])}")
    if failed:
        parts.append(f"not deleted {len(failed)}: {_listed(failed)} (rerun to finish)")
    if gone:
        parts.append(f"{len(gone)} already gone")
    if kept:
        parts.append(f"kept {len(kept)}: {_listed(kept)}")
    return "; ".join(parts) + "."


def report_html(report: CleanupReport) -> str:
    """What a cleanup run did, one row per item."""
    if report.dry_run:
        head = "<b>Dry run</b>: nothing was changed. Set <code>dry_run=False</code> and <code>confirm</code> to delete."
        return f"<div><p>{head}</p>{plan_html(report.plan)}</div>"
    rows = [[str(n), _e(o.kind), f"<code>{_e(o.name)}</code>", _badge(o.outcome, _OUTCOME_STYLE.get(o.outcome, "")),
             _e(o.message)] for n, o in enumerate(report.outcomes, 1)]
    return (f"<div><p><b>Cleanup {_e(report.status)}</b> ({_e(report.seconds)} s): {_e(report_summary(report))}</p>"
            + _table(["#", "kind", "name", "outcome", "message"], rows) + "</div>")





def confirm_widget(plan: CleanupPlan, on_confirm: Callable[[str], Any]) -> Any:
    """An ipywidgets box: Text ("type the endpoint name") + a Delete button enabled only while the text matches
    ``plan.confirm_token``; the button calls ``on_confirm(text)`` (once per press). The box has ``.text``,
    ``.button`` and ``.status`` attributes."""
    import ipywidgets as w

    token = plan.confirm_token
    text = w.Text(value="", placeholder="type the endpoint name" + (" (names comma-separated)"
                                                                    if len(plan.endpoint_names) > 1 else ""),
                  description="Confirm:", layout=w.Layout(width="60%"))
    button = w.Button(description="Delete", button_style="danger", icon="trash", disabled=True,
                      tooltip=f"enabled when the text is exactly {token!r}")
    status = w.HTML(value="")
    nothing = not plan.to_delete
    if nothing:
        status.value = "Nothing to delete."
    elif plan.blocked:
        status.value = ("<b>Blocked</b>: a guard refused an item; the delete needs force=True "
                        "(see the plan's reasons).")

    def matches(value: str) -> bool:
        return not nothing and [t.strip() for t in value.split(",")] == list(plan.endpoint_names)

    def on_change(change: dict[str, Any]) -> None:
        button.disabled = not matches(change["new"])

    def on_click(_b: Any) -> None:
        if not matches(text.value):  # belt and braces: a disabled button cannot be clicked in the UI
            return
        button.disabled = True
        status.value = "Deleting…"
        try:
            result = on_confirm(text.value)
        except Exception as e:  # shown in the widget (a callback's traceback is hidden in Studio's log)
            status.value = f"<b>Failed</b>: {_e(e)}"
            button.disabled = not matches(text.value)
            raise
        status.value = (f"<b>{_e(report_summary(result))}</b>" if isinstance(result, CleanupReport)
                        else "Done." if result is None else f"Done: {_e(result)}")

    text.observe(on_change, names="value")
    button.on_click(on_click)
    box = w.VBox([w.HTML(f"Type <code>{_e(token)}</code> to enable the Delete button."), w.HBox([text, button]),
                  status])
    box.text, box.button, box.status = text, button, status
    return box


# -- step 5 ------------------------------------------------------------------------------------------------
def show_cleanup(report: Any) -> None:
    plan = report.plan
    section("Plan (dependency order)")
    table([{"action": i.action, "kind": i.kind, "name": i.name, "reason": i.reason} for i in plan.items])
    status = {"done": "ok", "nothing-to-do": "ok", "dry-run": "warn"}.get(report.status, "bad")
    card(f"cleanup: {report.status}", {"endpoints": plan.endpoint_names, "dry run": report.dry_run,
                                       "force": report.force, "deleted": len(report.deleted),
                                       "failed": len(report.failed), "seconds": report.seconds}, status=status)
    if report.outcomes:
        table([{"outcome": o.outcome, "kind": o.kind, "name": o.name, "message": o.message}
               for o in report.outcomes])


def cleanup_confirm(report: Any, delete: Callable[[str], Any], *, run_dir: str) -> Any:
    """In Studio, after a dry run: type the endpoint name and press the button to delete what the plan names.
    The deletion's report renders into the widget's own ``ipywidgets.Output`` (a button callback's output
    shows nowhere else) and is recorded in the run dir (``05-cleanup.json``). Headless runs never need it
    (they pass the ``confirm`` parameter). ``delete`` is the deletion, given the typed confirmation
    (:func:`endpoint_runbook.steps.cleanup.deleter`): rendering never calls AWS itself.
    Returns the widget box (``.output`` holds the report)."""
    if not report.dry_run or not report.plan.to_delete:
        _display("<i>Nothing left to confirm.</i>", "Nothing left to confirm.")
        return None
    import ipywidgets as w

    out = w.Output()

    def on_confirm(text: str) -> Any:
        with out:
            try:
                result = delete(text)
            except Exception as e:
                _display(f"<p style='color:{_COLOUR['bad']}'><b>Cleanup failed</b>: {html.escape(str(e))}</p>"
                         f"<p>The record is in <code>{html.escape(run_dir)}</code>.</p>", f"Cleanup failed: {e}")
                raise
            _display(report_html(result) + f"<p>Recorded in <code>{html.escape(run_dir)}/05-cleanup.json</code></p>",
                     f"cleanup {result.status}: {report_summary(result)}")
        return result

    box = confirm_widget(report.plan, on_confirm)
    box.children = (*box.children, out)
    box.output = out
    from IPython.display import display as ipy_display

    ipy_display(box)
    return box
