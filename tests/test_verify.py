"""Step 4 — verify. Quick tests on plain moto (output summaries, figures, the notification watcher with a
temporary or a shared queue, bad input, rendering); slow ones on the stygig-incident stack against the
fixed endpoint (shared with test_deploy) and the crash-looping one."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from endpoint_runbook import records
from endpoint_runbook.errors import CheckFailed, NotFoundError
from endpoint_runbook.invocation import invoke
from endpoint_runbook.invocation.invoke import RequestResult
from endpoint_runbook.invocation.notifications import NotificationWatcher
from endpoint_runbook.invocation.pictures import s3_pictures
from endpoint_runbook.render.deploy import deploy_html
from endpoint_runbook.render.verify import verify_html
from endpoint_runbook.steps import verify
from endpoint_runbook.steps.verify import VerifyResult
from test_deploy import NAMES, SEED_INPUT, shared_fixed_deployment

STYGIG_OUTPUT = {
    "query": {"source": "request body", "dominant_color": "red", "dominant_rgb": [200, 10, 10],
              "category_guess": "upperwear", "type_guess": "tshirt", "gender": "unisex",
              "compatible_categories": ["bottomwear", "footwear"], "timing_ms": {"encode_ms": 3.2}},
    "recommendations": [
        {"rank": n, "key": f"train/bottomwear/jeans/bottomwear_jeans{n}.png", "category": "bottomwear",
         "type": "jeans", "color": "blue", "score": round(0.9 - n / 100, 4), "components": {"color": 0.5}}
        for n in range(1, 13)],
}
PNG = base64.b64decode(  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


# ---------------------------------------------------------------------------------------------- quick: data


def test_summaries_keep_the_top_items_of_a_recommender_and_stay_small_otherwise():
    s = invoke.summarize_output(json.dumps(STYGIG_OUTPUT).encode(), "application/json")
    assert s["kind"] == "recommendations" and s["count"] == 12 and len(s["top"]) == 10
    assert s["top"][0] == {"rank": 1, "key": "train/bottomwear/jeans/bottomwear_jeans1.png", "category": "bottomwear",
                           "type": "jeans", "color": "blue", "score": 0.89}
    assert s["query"]["dominant_color"] == "red" and s["query"]["timing_ms"] == {"encode_ms": 3.2}
    j = invoke.summarize_output(b'{"predictions": [1, 2]}', "application/json")
    assert j["kind"] == "json" and j["keys"] == ["predictions"]
    assert invoke.summarize_output(b"hello", "text/plain")["preview"] == "hello"
    assert invoke.summarize_output(b"\xff\xfe\x00", None)["kind"] == "binary"


def test_figures_split_cold_and_warm_and_count_failures():
    def rr(i: int, kind: str, status: str, lat: float | None) -> RequestResult:
        return RequestResult(index=i, kind=kind, input="s3://b/k.png", status=status, latency_s=lat)

    reqs = [rr(1, "cold", "completed", 9.0)] + [rr(i, "warm", "completed", float(i)) for i in range(2, 12)]
    reqs.append(rr(12, "warm", "failed", 1.0))
    f = verify.latency_figures(reqs)
    assert f["cold_s"] == 9.0 and f["warm"]["n"] == 10 and f["failed"] == 1 and f["completed"] == 11
    assert f["warm"]["p50_s"] == 6.5 and f["warm"]["p95_s"] == pytest.approx(10.55)
    assert verify.percentile([], 50) is None and verify.percentile([3.0], 95) == 3.0
    assert verify.guess_content_type("s3://b/x/y.png") == "image/png"
    assert verify.guess_content_type("s3://b/req.json") == "application/json"


# ---------------------------------------------------------------------------------------------- quick: notifications


def _note(inference_id: str, status: str = "Completed") -> str:
    return json.dumps({"eventName": "InferenceResult", "invocationStatus": status, "inferenceId": inference_id,
                       "receivedTime": "2026-11-28T10:00:00.000Z", "eventTime": "2026-11-28T10:00:01.500Z",
                       "responseParameters": {"outputLocation": f"s3://b/out/{inference_id}.out"}})


def _poll_until(w: NotificationWatcher, iid: str, timeout: float = 10) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        w.poll()
        if w.get(iid):
            return w.get(iid)
        time.sleep(0.1)
    return None


def test_temporary_queue_gets_our_notifications_and_is_removed(aws):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    w = NotificationWatcher(sns, sqs, [topic, topic]).open()
    assert w.mode == "temporary" and w.active and len(w.subscriptions) == 1
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=w.queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == [topic]
    w.watch("ours")
    sns.publish(TopicArn=topic, Message=_note("someone-else"))
    sns.publish(TopicArn=topic, Message=_note("ours"))
    note = _poll_until(w, "ours")
    assert note["status"] == "Completed" and note["service_latency_s"] == 1.5 and note["topic"] == topic
    assert w.get("someone-else") is None
    info = w.close()
    assert info["queue_deleted"] and len(info["unsubscribed"]) == 1 and not info["errors"]
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=w.queue_url, AttributeNames=["QueueArn"])


def test_an_existing_subscribed_queue_is_used_and_others_messages_stay(aws):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    tag = uuid.uuid4().hex[:8]
    topic = sns.create_topic(Name=f"t-{tag}")["TopicArn"]
    q = sqs.create_queue(QueueName=f"app-{tag}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    for i in range(12):  # more than one receive's worth of someone else's messages, ahead of ours
        sns.publish(TopicArn=topic, Message=_note(f"app-{i}"))
    sqs.send_message(QueueUrl=q, MessageBody="not json at all")
    w = NotificationWatcher(sns, sqs, [topic]).open()
    assert w.mode == "existing" and w.queue_url == q and not w.subscriptions
    w.watch("ours")
    sns.publish(TopicArn=topic, Message=_note("ours", "Failed"))
    assert _poll_until(w, "ours")["status"] == "Failed"
    w.close()
    attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages",
                                                                 "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "13" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    sqs.get_queue_url(QueueName=f"app-{tag}")  # still there


def test_a_missing_topic_is_named_and_leaves_nothing_behind(aws):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    gone = topic + "-gone"
    before = set(sqs.list_queues(QueueNamePrefix="endpoint-runbook-verify").get("QueueUrls", []))
    w = NotificationWatcher(sns, sqs, [topic, gone], queue_url=verify.TEMPORARY_QUEUE).open()
    assert w.mode == "unavailable" and not w.active
    assert [f.code for f in w.findings] in (["topic-not-found"], ["subscribe-failed"])
    assert set(sqs.list_queues(QueueNamePrefix="endpoint-runbook-verify").get("QueueUrls", [])) == before
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_the_outage_endpoints_failures_are_collected_not_those_of_an_endpoint_sharing_its_paths(aws):
    """After a new-endpoint deploy the fixed endpoint shares the broken one's failure path and topic: a failure
    object whose notification names the fixed endpoint is not the outage's; one without a notification is."""
    import datetime as dt

    from endpoint_runbook.invocation.replay import collect_failed

    s3, sns, sqs = aws.client("s3"), aws.client("sns"), aws.client("sqs")
    tag = uuid.uuid4().hex[:8]
    bucket = f"outage-{tag}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    topic = sns.create_topic(Name=f"err-{tag}")["TopicArn"]
    q = sqs.create_queue(QueueName=f"app-{tag}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for iid, endpoint in (("b1", "broken"), ("b2", "broken"), ("f1", "fixed")):
        sns.publish(TopicArn=topic, Message=json.dumps({
            "eventName": "InferenceResult", "invocationStatus": "Failed", "inferenceId": iid, "receivedTime": stamp,
            "eventTime": stamp, "failureReason": "timed out",
            "requestParameters": {"endpointName": endpoint, "inputLocation": f"s3://{bucket}/in/{iid}.png",
                                  "contentType": "image/png"},
            "responseParameters": {"failureLocation": f"s3://{bucket}/fail/{iid}-error.out"}}))
    for iid in ("b1", "b2", "f1", "b3"):  # b3: its notification is gone
        s3.put_object(Bucket=bucket, Key=f"fail/{iid}-error.out", Body=b"timed out")
    window = {"start": now - dt.timedelta(minutes=5), "end": now + dt.timedelta(minutes=5)}
    rows, info, _ = collect_failed(aws, "broken", failure_path=f"s3://{bucket}/fail/", error_topic=topic, **window)
    by = {r.inference_id: r for r in rows}
    assert set(by) == {"b1", "b2", "b3"} and info["other_endpoints_failures"] == 1
    assert by["b1"].input_location == f"s3://{bucket}/in/b1.png" and by["b3"].input_location is None
    assert sorted(by["b1"].sources) == ["failure-object", "notification"]
    rows, _, _ = collect_failed(aws, "fixed", failure_path=f"s3://{bucket}/fail/", error_topic=topic, **window)
    assert "f1" in {r.inference_id for r in rows} and not {"b1", "b2"} & {r.inference_id for r in rows}


# ---------------------------------------------------------------------------------------------- quick: bad input


def test_unknown_endpoint_is_a_named_error_with_a_record(aws, tmp_path):
    with pytest.raises(NotFoundError) as e:
        verify.run(aws, run_dir=str(tmp_path), endpoint_name=f"no-such-endpoint-{uuid.uuid4().hex[:6]}",
                   inputs=["s3://b/k.png"])
    assert e.value.code == "endpoint-not-found"
    assert records.read_record(tmp_path, "verify")["error"]["code"] == "endpoint-not-found"


def test_missing_endpoint_name_without_a_deploy_record(aws, tmp_path):
    with pytest.raises(Exception) as e:
        verify.run(aws, run_dir=str(tmp_path))
    assert getattr(e.value, "code", None) == "missing-input"


# ---------------------------------------------------------------------------------------------- quick: rendering


def test_verify_html_shows_figures_table_and_pictures_bounded(aws):
    s3 = aws.client("s3")
    bucket = f"pics-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_object(Bucket=bucket, Key="train/upperwear/tshirt/q.png", Body=PNG, ContentType="image/png")
    for n in range(1, 13):
        s3.put_object(Bucket=bucket, Key=f"train/bottomwear/jeans/bottomwear_jeans{n}.png", Body=PNG)
    summary = invoke.summarize_output(json.dumps(STYGIG_OUTPUT).encode(), "application/json")
    ok = RequestResult(index=1, kind="cold", input=f"s3://{bucket}/train/upperwear/tshirt/q.png", status="completed",
                       latency_s=2.5, inference_id="abc", summary=summary, output_location="s3://x/o.out")
    bad = RequestResult(index=2, kind="warm", input=f"s3://{bucket}/bad.png", status="failed", latency_s=0.3,
                        failure_reason="ClientError: <not an image>", failure_location="s3://x/f.out")
    res = VerifyResult(ok=False, endpoint_name="ep", endpoint_status="InService", requests=[ok, bad],
                       figures=verify.latency_figures([ok, bad]),
                       health=[{"pattern": "CLIP model loaded", "found": True, "first_line": "✓ CLIP model loaded"}],
                       problems=[bad.problem()])
    html = verify_html(res.to_dict(), s3_pictures(aws), max_images=6)  # from the record, as a later reader would
    assert "FAILED" in html and "CLIP model loaded" in html and "2.50 s" in html
    assert html.count("data:image/png;base64,") == 6  # the query + 5 items: bounded
    assert "score <b>0.89</b>" in html and "bottomwear_jeans1.png" in html
    assert "&lt;not an image&gt;" in html  # escaped
    assert "data:image" not in verify_html(res)  # no picture reader → no pictures
    missing = RequestResult(index=1, kind="cold", input=f"s3://{bucket}/gone.png", status="completed", summary=summary)
    assert "NoSuchKey" in verify_html(VerifyResult(requests=[missing]), s3_pictures(aws), max_images=2)


def test_deploy_html_renders_a_record():
    html = deploy_html({"ok": False, "status": "smoke-failed", "endpoint_name": "e", "failure_reason": "timed <out>",
                        "log_evidence": {"cause": {"summary": "missing stygig", "evidence": ["No module named"]}},
                        "timings": {"total_s": 3.0}, "smoke": {"status": "failed", "latency_s": 20.0}})
    assert "smoke-failed" in html and "timed &lt;out&gt;" in html and "missing stygig" in html


# ---------------------------------------------------------------------------------------------- slow


@pytest.fixture(scope="module")
def fixed(request, incident_stack, tmp_path_factory):
    return shared_fixed_deployment(request, incident_stack.url, tmp_path_factory.mktemp("deploy"))


def _temporary_queues(sqs: Any) -> set[str]:
    return set(sqs.list_queues(QueueNamePrefix="endpoint-runbook-verify").get("QueueUrls", []))


@pytest.mark.slow
def test_verify_passes_on_the_fixed_endpoint_with_a_temporary_queue(fixed, incident_aws, tmp_path):
    sns, sqs = incident_aws.client("sns"), incident_aws.client("sqs")
    records.write_record(tmp_path, "deploy", records.read_record(fixed["run_dir"], "deploy"))
    before = _temporary_queues(sqs)
    topic = fixed["result"].plan["async_config"]["OutputConfig"]["NotificationConfig"]["SuccessTopic"]
    subs_before = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    r = verify.run(incident_aws, run_dir=str(tmp_path), count=2, queue_url=verify.TEMPORARY_QUEUE,
                   deadline_seconds=180, progress=lambda _m: None)
    assert r.ok and [q.status for q in r.requests] == ["completed"] * 3
    assert [q.kind for q in r.requests] == ["cold", "warm", "warm"] and r.inputs == [SEED_INPUT]
    for q in r.requests:
        assert q.notification["received"] and q.notification["status"] == "Completed"
        assert q.notification["output_location"] == q.output_location
        assert q.summary["kind"] == "recommendations" and q.summary["top"]
    assert r.figures["cold_s"] > 0 and r.figures["warm"]["n"] == 2 and r.figures["failed"] == 0
    assert all(h["found"] for h in r.health), r.health
    assert r.notifications["mode"] == "temporary" and r.notifications["cleanup"]["queue_deleted"]
    assert _temporary_queues(sqs) == before
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == subs_before
    saved = records.read_record(tmp_path, "verify")
    assert saved["ok"] and saved["requests"][0]["inference_id"] == r.requests[0].inference_id
    html = verify_html(saved, s3_pictures(incident_aws), max_images=4)
    assert html.count("data:image/png;base64,") == 4 and "PASSED" in html


@pytest.mark.slow
def test_verify_uses_the_scenario_queue_and_leaves_other_messages(fixed, incident_aws, tmp_path):
    sqs = incident_aws.client("sqs")
    q = sqs.get_queue_url(QueueName=NAMES.queue)["QueueUrl"]
    sqs.send_message(QueueUrl=q, MessageBody=json.dumps({"note": "someone else's"}))
    def count() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    before = count()
    r = verify.run(incident_aws, run_dir=str(fixed["run_dir"]), count=1, deadline_seconds=180,
                   progress=lambda _m: None)
    assert r.ok and r.notifications["mode"] == "existing" and r.notifications["queue_url"] == q
    assert all(x.notification["received"] for x in r.requests)
    assert count() == before  # ours were taken, everything else is visible again


@pytest.mark.slow
def test_verify_names_a_rejected_image_and_a_missing_input(fixed, incident_aws, tmp_path):
    s3, sqs = incident_aws.client("s3"), incident_aws.client("sqs")
    bad_key = f"test-verify/{uuid.uuid4().hex[:6]}/not-an-image.png"
    s3.put_object(Bucket=NAMES.bucket, Key=bad_key, Body=b"this is text, not a PNG")
    bad = f"s3://{NAMES.bucket}/{bad_key}"
    before = _temporary_queues(sqs)
    with pytest.raises(CheckFailed) as e:
        verify.run(incident_aws, run_dir=str(tmp_path), endpoint_name=fixed["result"].endpoint_name,
                   inputs=[SEED_INPUT, bad], count=1, queue_url=verify.TEMPORARY_QUEUE, deadline_seconds=120,
                   progress=lambda _m: None)
    assert e.value.code == "verify-failed" and bad in str(e.value)
    saved = records.read_record(tmp_path, "verify")
    cold, warm = saved["requests"]
    assert cold["status"] == "completed" and warm["status"] == "failed" and warm["input"] == bad
    assert "not an image" in warm["failure_reason"] and warm["notification"]["status"] == "Failed"
    assert saved["figures"]["failed"] == 1 and _temporary_queues(sqs) == before

    with pytest.raises(NotFoundError) as e2:
        verify.run(incident_aws, run_dir=str(tmp_path), endpoint_name=fixed["result"].endpoint_name,
                   inputs=[f"s3://{NAMES.bucket}/train/no-such-image.png"], queue_url=verify.TEMPORARY_QUEUE,
                   progress=lambda _m: None)
    assert e2.value.code == "input-not-found" and "no-such-image.png" in str(e2.value)
    assert _temporary_queues(sqs) == before
    s3.delete_object(Bucket=NAMES.bucket, Key=bad_key)


@pytest.mark.slow
def test_replay_after_a_new_endpoint_deploy_sends_the_broken_endpoints_failures(fixed, incident_aws, tmp_path):
    """Deployed beside the broken endpoint (mode new-endpoint), the fix must replay the requests that failed on
    the BROKEN one (the diagnosed endpoint), not look for failures of its own name; a failure of the fixed endpoint
    under the failure path both share is not the outage's. Then cleanup sees a verified fix serving."""
    from endpoint_runbook import cleanup

    for step in ("diagnose", "deploy"):
        records.write_record(tmp_path, step, records.read_record(fixed["run_dir"], step))
    fixed_name = fixed["result"].endpoint_name
    assert fixed["result"].mode == "new-endpoint" and fixed_name != NAMES.endpoint
    s3 = incident_aws.client("s3")
    bad_key = f"test-replay/{uuid.uuid4().hex[:6]}/not-an-image.png"
    s3.put_object(Bucket=NAMES.bucket, Key=bad_key, Body=b"this is text, not a PNG")
    own = invoke.invoke_and_wait(incident_aws.client("sagemaker-runtime"), s3, endpoint_name=fixed_name,
                                 input_uri=f"s3://{NAMES.bucket}/{bad_key}", content_type="image/png",
                                 deadline=time.monotonic() + 120, invocation_timeout=60)
    assert own.status == "failed" and own.failure_location.startswith(f"s3://{NAMES.bucket}/{NAMES.failure_prefix}/")

    r = verify.run(incident_aws, run_dir=str(tmp_path), count=0, deadline_seconds=240, replay_failed=True,
                   replay_concurrency=3, progress=lambda _m: None)
    rep = r.replay
    assert r.ok and rep["endpoint_name"] == fixed_name
    assert rep["outage"]["endpoint"] == NAMES.endpoint and rep["outage"]["source"] == "01-diagnose.json"
    rows = {row["original_id"]: row for row in rep["rows"]}
    assert own.inference_id not in rows and rep["sources"]["other_endpoints_failures"] >= 1
    c = rep["counts"]
    assert c["failed"] >= NAMES.outage_requests and c["input_unknown"] == 0 and c["failed_again"] == 0, rep["rows"]
    assert all(row["status"] == "served" and row["input"] for row in rows.values()), rep["rows"]
    for row in rows.values():
        bucket, key = row["output_location"][5:].split("/", 1)
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    p = cleanup.plan(incident_aws, NAMES.endpoint, run_dir=str(tmp_path), recent_minutes=0)
    broken = next(i for i in p.items if i.kind == "endpoint" and i.name == NAMES.endpoint)
    assert "no-fix-serving" not in broken.detail.get("guards", []) and not p.notes
    s3.delete_object(Bucket=NAMES.bucket, Key=bad_key)


@pytest.mark.slow
def test_verify_fails_on_the_crash_looping_endpoint_within_its_deadline(incident_aws, tmp_path):
    sqs = incident_aws.client("sqs")
    before = _temporary_queues(sqs)
    with pytest.raises(CheckFailed) as e:
        verify.run(incident_aws, run_dir=str(tmp_path), endpoint_name=NAMES.endpoint, inputs=[SEED_INPUT],
                   count=2, invocation_timeout=20, deadline_seconds=60, queue_url=verify.TEMPORARY_QUEUE,
                   progress=lambda _m: None)
    assert e.value.code == "verify-failed"
    saved = records.read_record(tmp_path, "verify")
    cold = saved["requests"][0]
    # The failure object came back (not our own deadline), and so did the error notification.
    assert cold["status"] == "failed" and "timed out" in cold["failure_reason"]
    assert cold["failure_location"] and cold["notification"]["received"]
    assert cold["notification"]["status"] == "Failed" and cold["notification"]["failure_reason"]
    assert [r["status"] for r in saved["requests"][1:]] == ["skipped", "skipped"]
    assert saved["log_evidence"]["cause"]["code"] == "missing-module"
    assert not any(h["found"] for h in saved["health"])
    assert _temporary_queues(sqs) == before
