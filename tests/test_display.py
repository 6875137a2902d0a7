"""Rendering that survives JupyterLab's sanitizer, labels from names, and the confirm widget's report."""

from __future__ import annotations

import re

from endpoint_runbook import render as rb
from endpoint_runbook.invocation.invoke import RequestResult
from endpoint_runbook.invocation.pictures import s3_pictures
from endpoint_runbook.records import read_record
from endpoint_runbook.render.deploy import deploy_html
from endpoint_runbook.render.verify import verify_html
from endpoint_runbook.steps import cleanup as cleanup_step
from endpoint_runbook.steps.verify import VerifyResult
from test_cleanup import Account, simple

SUMMARY = {"kind": "recommendations", "count": 2, "query": {"dominant_color": "black"},
           "top": [{"rank": 1, "key": "a.png", "score": 0.9}, {"rank": 2, "key": "b.png", "score": 0.8}]}


def _sanitizer_safe(html: str) -> None:
    assert "<style" not in html and "<script" not in html
    assert not re.search(r"\sclass=", html)  # classes style nothing once the <style> block is gone
    assert "display:flex" not in html.replace(" ", "")


def test_verify_and_deploy_html_need_no_style_block():
    res = VerifyResult(ok=True, endpoint_name="e", requests=[RequestResult(
        index=1, kind="cold", input="s3://b/q.png", status="completed", summary=SUMMARY, latency_s=1.0)],
        health=[{"pattern": r"Loaded metadata for \d+ categories", "name": "catalog metadata loaded", "found": True},
                {"pattern": r"All models\s+initialized", "name": None, "found": False}])
    html = verify_html(res)
    _sanitizer_safe(html)
    assert "log: catalog metadata loaded" in html and "log: All models initialized" in html
    assert r"\d+" not in html.split("title=")[0]  # the pattern is only a tooltip
    _sanitizer_safe(deploy_html({"ok": True, "status": "deployed", "endpoint_name": "e", "timings": {}}))


def test_pictures_sit_in_table_rows(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="pics-rows", CreateBucketConfiguration={"LocationConstraint": aws.region})
    for key in ("q.png", "a.png", "b.png"):
        s3.put_object(Bucket="pics-rows", Key=key, Body=b"\x89PNG\r\n\x1a\n", ContentType="image/png")
    res = VerifyResult(ok=True, requests=[RequestResult(index=1, kind="cold", input="s3://pics-rows/q.png",
                                                        status="completed", summary=SUMMARY)])
    html = verify_html(res, s3_pictures(aws))
    _sanitizer_safe(html)
    row = re.search(r"<tr>(<td[^>]*><img .*?)</tr>", html).group(1)
    assert row.count("<img ") == 3  # query + two items side by side in one row


def test_health_label_reads_a_pattern_when_no_name_is_given():
    assert rb.health_label({"pattern": r"Loaded metadata for \d+ categories"}) == "Loaded metadata for N categories"
    assert rb.health_label({"pattern": "x+", "name": "model loaded"}) == "model loaded"


def test_progress_draws_a_bar_live_and_plain_lines_headless(monkeypatch):
    monkeypatch.delenv(rb.HEADLESS_ENV, raising=False)
    assert rb.progress.bar
    monkeypatch.setenv(rb.HEADLESS_ENV, "1")
    assert not rb.progress.bar


def test_confirm_widget_renders_the_report_into_its_output_and_records_it(aws, tmp_path):
    acct = Account(aws)
    try:
        e, c, m = simple(acct)
        report = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e)
        delete = cleanup_step.deleter(aws, report, run_dir=str(tmp_path), force=False, include_outputs=False,
                                      recent_minutes=60)
        box = rb.cleanup_confirm(report, delete, run_dir=str(tmp_path))
        assert box.output in box.children  # the callback's output has somewhere to go
        box.text.value = e
        box.button.click()
        rec = read_record(tmp_path, "cleanup")
        assert rec["status"] == "done" and not rec["dry_run"]
        assert not aws.client("sagemaker").list_endpoints(NameContains=e)["Endpoints"]
        # The status line says what the run did (it once read "Done: done" above the report).
        status = box.status.value
        assert "Deleted 3 item(s)" in status and f"endpoint {e}" in status and f"model {m}" in status
        assert "Done" not in status
    finally:
        acct.teardown()
