"""Log evidence: reading an endpoint's log group from a real moto server, and the signature catalogue on
genuine TorchServe 0.12 lines (tests/data/logs/crashloop-tinypkg.log) and purpose-built line sets."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.stub import Stubber
from endpoint_runbook import logs
from endpoint_runbook.logs import (
    CAUSE_PRECEDENCE,
    LogEvent,
    analyze,
    events_from_lines,
    log_group_name,
    match_signatures,
    read_endpoint_logs,
    summarize,
)

DATA = Path(__file__).parent / "data" / "logs"
GENUINE = (DATA / "crashloop-tinypkg.log").read_text().splitlines()
T0 = int(datetime(2026, 11, 28, 14, 37, tzinfo=timezone.utc).timestamp() * 1000)

P = "2026-11-28T14:37:14,873 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - "  # a worker's stdout line
SITE = "/opt/conda/lib/python3.11/site-packages"
NOISE = ("2026-11-28T14:37:35,397 [ERROR] epollEventLoopGroup-3-2 org.pytorch.serve.http.HttpRequestHandler - "
         "io.netty.channel.unix.Errors$NativeIoException: readAddress(..) failed: Connection reset by peer")
CRASH_MARKERS = [
    P + "Backend worker process died.",
    ("2026-11-28T14:37:14,887 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.BatchAggregator - "
     "Load model failed: model, error: Worker died."),
    "2026-11-28T14:37:17,232 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Auto recovery failed again",
    ("2026-11-28T14:37:17,232 [INFO ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - "
     "Retry worker: 9000 in 34 seconds."),
]


def tb(*frames: tuple[str, int, str, str], exc: list[str], prefix: str = P) -> list[str]:
    """A worker traceback as TorchServe logs it: one line per event."""
    out = [prefix + "Traceback (most recent call last):"]
    for file, line, func, code in frames:
        out.append(prefix + f'  File "{file}", line {line}, in {func}')
        if code:
            out.append(prefix + f"    {code}")
    return out + [prefix + e for e in exc]


LOAD_FRAMES = [
    (f"{SITE}/ts/model_loader.py", 143, "load", "initialize_fn(service.context)"),
    (f"{SITE}/sagemaker_inference/default_handler_service.py", 66, "initialize",
     "self._service.validate_and_initialize(model_dir=model_dir, context=context)"),
    (f"{SITE}/sagemaker_inference/transformer.py", 184, "validate_and_initialize",
     "self._model = self._run_handler_function(self._model_fn, *(model_dir,))"),
    (f"{SITE}/sagemaker_inference/transformer.py", 272, "_run_handler_function", "result = func(*argv)"),
]


def cause_of(lines: list[str]) -> logs.Cause:
    evs = events_from_lines(lines, stream="AllTraffic/i-0a")
    return summarize(match_signatures(evs), events_read=len(evs)).cause


# ------------------------------------------------------------------------------------- genuine crash loop


def test_genuine_crash_loop_names_the_missing_module_with_where_and_counts():
    evs = events_from_lines(GENUINE, stream="AllTraffic/i-0a")
    ev = summarize(match_signatures(evs), events_read=len(evs))
    assert ev.cause.code == "missing-module"
    assert ev.cause.details["module"] == "tinypkg"
    assert ev.cause.details["package"] == "tinypkg"
    assert ev.cause.details["where"] == "code/inference.py:2 in <module>"
    assert ev.cause.details["statement"] == "from tinypkg import answer"
    assert ev.cause.confidence == "high"
    assert ev.crash_loop
    # Two workers, two crash cycles each: every interleaved traceback is followed to its own exception.
    assert ev.codes["missing-module"].count == 4
    assert all(d.get("where") for d in ev.codes["missing-module"].details)
    assert ev.codes["worker-died"].count == 4
    assert ev.codes["auto-recovery-failed"].count >= 2
    assert {"worker-died", "load-model-failed", "auto-recovery-failed", "worker-retry"} <= set(ev.cause.also_seen)
    # Evidence: the exception line (deduplicated across workers and timestamps), its user frame, the markers.
    assert any("No module named 'tinypkg'" in e and "(×4)" in e for e in ev.cause.evidence)
    assert any('code/inference.py", line 2' in e for e in ev.cause.evidence)
    assert len(ev.codes["missing-module"].samples) == 1
    json.dumps(ev.to_dict())


def test_events_from_lines_reads_torchserve_timestamps():
    (ev,) = events_from_lines([P + "x"])
    assert ev.timestamp == int(datetime(2026, 11, 28, 14, 37, 14, 873000, tzinfo=timezone.utc).timestamp() * 1000)
    (ev,) = events_from_lines(["no timestamp here"])
    assert ev.timestamp is None


# --------------------------------------------------------------------------------------- signature zoo


def test_requirements_install_failure_beats_everything_after_it():
    lines = [
        "2026-11-28 14:30:01,100 INFO - installing packages from requirements.txt...",
        "ERROR: Could not find a version that satisfies the requirement stygig==0.1 (from versions: none)",
        "ERROR: No matching distribution found for stygig==0.1",
        "2026-11-28 14:30:05,100 ERROR - failed to install required packages, exiting",
        "Traceback (most recent call last):",
        '  File "/usr/local/bin/dockerd-entrypoint.py", line 23, in <module>',
        "    serving.main()",
        "ValueError: failed to install required packages",
    ]
    c = cause_of(lines)
    assert c.code == "requirements-install-failed"
    assert c.details["requirements"] == ["stygig==0.1"]
    # Even with a (stale) missing-module from an earlier container in the same window.
    assert cause_of(lines + [P + "ModuleNotFoundError: No module named 'stygig'"]).code == "requirements-install-failed"


def test_default_handler_via_the_pytorch_default_model_fn():
    """The toolkit's own default_model_fn ran: the user's model_fn was not found (default-handler-used, the
    issue-14 missing-entry-script). "Exactly one .pth" also follows a model archive without its model file, so
    the line alone is only likely (medium)."""
    lines = tb(*LOAD_FRAMES, (f"{SITE}/sagemaker_pytorch_serving_container/default_pytorch_inference_handler.py",
                              73, "default_model_fn", "raise ValueError("),
               exc=["ValueError: Exactly one .pth or .pt file is required for PyTorch models: []"])
    c = cause_of(lines + CRASH_MARKERS)
    assert (c.code, c.broader_code) == ("default-handler-used", "missing-entry-script")
    assert c.confidence == "medium"


def test_default_handler_via_the_generic_default_model_fn_message():
    lines = tb(*LOAD_FRAMES, (f"{SITE}/sagemaker_inference/default_inference_handler.py", 35, "default_model_fn",
                              "raise NotImplementedError("),
               exc=["NotImplementedError: ", "Please provide a model_fn implementation.",
                    "See documentation for model_fn at https://sagemaker.readthedocs.io/en/stable/"])
    c = cause_of(lines)
    assert (c.code, c.confidence) == ("default-handler-used", "high")


def test_model_file_not_found_names_exception_and_innermost_user_frame():
    lines = tb(*LOAD_FRAMES,
               ("/opt/ml/model/code/inference.py", 14, "model_fn", "index = load_index(model_dir)"),
               ("/opt/ml/model/code/helpers.py", 5, "load_index", "with open(path, 'rb') as f:"),
               exc=["FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/model/faiss_index.index'"])
    c = cause_of(lines + CRASH_MARKERS)
    assert (c.code, c.broader_code, c.confidence) == ("model-file-not-found", "model-fn-error", "high")
    assert c.details["exception"] == "FileNotFoundError"
    assert c.details["path"] == "/opt/ml/model/faiss_index.index"
    assert "faiss_index.index" in c.details["message"]
    assert c.details["where"] == "code/helpers.py:5 in load_index"
    assert c.details["statement"] == "with open(path, 'rb') as f:"
    assert any('code/helpers.py", line 5' in e for e in c.evidence)


def test_syntax_error_points_at_the_file_that_does_not_compile():
    lines = tb(*LOAD_FRAMES[:3],
               (f"{SITE}/sagemaker_inference/transformer.py", 206, "_validate_user_module_and_set_functions",
                "user_module = importlib.import_module(user_module_name)"),
               exc=[])
    lines += [P + '  File "/opt/ml/model/code/inference.py", line 7', P + "    def model_fn(model_dir)",
              P + "                           ^", P + "SyntaxError: expected ':'"]
    c = cause_of(lines + CRASH_MARKERS)
    assert c.code == "syntax-error"
    assert c.details["where"] == "code/inference.py:7"
    assert c.details["line"] == 7


@pytest.mark.parametrize("line", [
    ("2026-11-28T14:37:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - "
     "Out of memory error when creating workers"),
    "java.lang.OutOfMemoryError: Java heap space",
    P + "Load model model cpu OOM, exception ",
    "Killed",
])
def test_out_of_memory(line):
    assert cause_of([line] + CRASH_MARKERS).code == "out-of-memory"


def test_memory_error_in_model_fn_is_out_of_memory_not_a_model_fn_error():
    lines = tb(*LOAD_FRAMES, ("/opt/ml/model/code/inference.py", 9, "model_fn", "x = np.zeros(10**12)"),
               exc=["MemoryError: Unable to allocate 7.28 TiB"])
    assert cause_of(lines).code == "out-of-memory"


def test_torchserve_reply_deadline_at_start_up_or_while_serving():
    """TorchServe says "did not respond in given time" for a load and for a request alike: beside its inference
    accounting it is a slow request (worker-timeout), otherwise a slow start-up. The text alone is only likely."""
    lines = ["2026-11-28T14:40:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Backend worker error",
             "org.pytorch.serve.wlm.WorkerInitializationException: Backend worker did not respond in given time"]
    c = cause_of(lines + CRASH_MARKERS)
    assert (c.code, c.confidence) == ("startup-health-check-timeout", "medium")
    serving = ["2026-11-28T14:40:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Number or "
               "consecutive unsuccessful inference 1"]
    assert cause_of(serving + lines).code == "worker-timeout"


def test_gunicorn_sigkill_is_the_timeout_s_own_kill_when_a_timeout_precedes_it():
    guni = "[2024-03-01 10:00:00 +0000] [42] "
    kill = guni + "[ERROR] Worker (pid:51) was sent SIGKILL! Perhaps out of memory?"
    c = cause_of([guni + "[CRITICAL] WORKER TIMEOUT (pid:51)", kill])
    assert (c.code, c.confidence) == ("worker-timeout", "medium")
    assert cause_of([kill]).code == "out-of-memory"


def test_cuda_oom_and_host_oom_are_told_apart():
    assert cause_of([P + "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]).code \
        == "cuda-out-of-memory"
    assert cause_of([P + "MemoryError: Unable to allocate 7.28 TiB"]).code == "out-of-memory"
    assert cause_of(["[2024-03-01 10:00:00 +0000] [42] [WARNING] Worker with pid 51 was terminated due to signal 9"]
                    ).code == "out-of-memory"


def test_a_failing_ping_alone_is_named_with_low_confidence():
    """A /ping that answers an error is ping-error, one that times out a slow start-up, a health check SageMaker
    reports failed without either is ping-failing; a consequence, so never above medium, and never the cause
    beside a cause line."""
    c = cause_of([('2026-11-28T14:42:35,374 [INFO ] pool-2-thread-9 ACCESS_LOG - /169.254.178.2:41234 '
                   '"GET /ping HTTP/1.1" 500 3')])
    assert (c.code, c.confidence, c.broader_code) == ("ping-error", "low", "ping-failing")
    c = cause_of(['2020/08/11 16:26:09 [error] 22#22: *193 upstream timed out (110: Connection timed out) while reading '
                  'response header from upstream, client: 10.32.0.2, server: , request: "GET /ping HTTP/1.1", '
                  'upstream: "http://unix:/tmp/gunicorn.sock/ping", host: "model.aws.local:8080"'])
    assert (c.code, c.confidence) == ("startup-health-check-timeout", "medium")
    c = cause_of(["The primary container for production variant AllTraffic did not pass the ping health check."])
    assert (c.code, c.confidence) == ("ping-failing", "low")
    healthy = '2026-11-28T14:37:35,374 [INFO ] W-9001-model_1.0 ACCESS_LOG - /127.0.0.1:49582 "GET /ping HTTP/1.1" 200 25'
    assert cause_of([healthy]).code == "healthy"


def test_crash_markers_alone_are_a_crash_loop_of_unknown_origin():
    c = cause_of(CRASH_MARKERS)
    assert c.code == "worker-crash-loop"
    assert c.confidence == "low"
    assert c.details["markers"]["worker-retry"] == 1


def test_noise_is_never_the_cause():
    assert cause_of([NOISE] * 3).code == "no-known-signature"
    assert cause_of([NOISE] + CRASH_MARKERS).code == "worker-crash-loop"
    c = cause_of([NOISE, P + "ModuleNotFoundError: No module named 'stygig.core'"] + CRASH_MARKERS)
    assert c.code == "missing-module"
    assert c.details["package"] == "stygig"
    assert not any("NativeIoException" in e for e in c.evidence)
    evs = events_from_lines([NOISE])
    assert [h.kind for h in match_signatures(evs)] == ["noise"]


def test_a_caught_import_error_a_library_falls_back_from_is_noise_not_the_missing_module():
    """faiss-cpu (the StyGig sample's index) logs each optional build it could not import, as a value, on every
    worker start: in the incident's crash loop the cause is still the one raised module."""
    faiss = [P + "Loading faiss with AVX512 support.", P + "Could not load library with AVX512 support due to:",
             P + "ModuleNotFoundError(\"No module named 'faiss.swigfaiss_avx512'\")",
             P + "Loading faiss with AVX2 support.", P + "Could not load library with AVX2 support due to:",
             P + "ModuleNotFoundError(\"No module named 'faiss.swigfaiss_avx2'\")",
             P + "Loading faiss.", P + "Successfully loaded faiss."]
    crash = tb(*LOAD_FRAMES, ("/opt/ml/model/code/inference.py", 12, "<module>",
                              "from stygig.core.color_logic import ColorProcessor"),
               exc=["ModuleNotFoundError: No module named 'stygig'"])
    evs = events_from_lines(faiss + crash + CRASH_MARKERS, stream="AllTraffic/i-0a")
    ev = summarize(match_signatures(evs), events_read=len(evs))
    assert ev.cause.code == "missing-module" and ev.cause.details["package"] == "stygig"
    assert {d.get("package") for d in ev.codes["missing-module"].details} == {"stygig"}
    assert ev.codes["optional-module-fallback"].count == 4
    assert not any("faiss" in e for e in ev.cause.evidence)
    assert cause_of(faiss).code == "no-known-signature"


def test_no_events_is_no_logs():
    assert summarize([], events_read=0).cause.code == "no-logs"


def test_import_error_other_than_missing_module():
    lines = tb(("/opt/ml/model/code/inference.py", 3, "<module>", "from transformers import CLIPModelX"),
               exc=["ImportError: cannot import name 'CLIPModelX' from 'transformers'"])
    c = cause_of(lines)
    assert c.code == "import-error"
    assert c.details["where"] == "code/inference.py:3 in <module>"


HANDLER = "/home/model-server/tmp/models/4f1c2e/handler_service"
FALLBACK = tb((f"{SITE}/ts/model_loader.py", 110, "load", "module = self._load_default_handler(handler)"),
              (f"{SITE}/ts/model_loader.py", 159, "_load_default_handler",
               'module = importlib.import_module(module_name, "ts.torch_handler")'),
              exc=[f"ModuleNotFoundError: No module named 'ts.torch_handler.{HANDLER}'"])


def _handler_import_failed(exc: str, code: str) -> list[str]:
    """TorchServe's model_loader: the user's handler fails to import (``exc``), then, while handling that, its
    fallback to a built-in handler fails too (``No module named 'ts.torch_handler.<handler>'``)."""
    first = tb((f"{SITE}/ts/model_loader.py", 108, "load", "module, function_name = self._load_handler_file(handler)"),
               (f"{SITE}/ts/model_loader.py", 153, "_load_handler_file", "module = importlib.import_module(module_name)"),
               (f"{HANDLER}.py", 4, "<module>", code), exc=[exc])
    return first + [P, P + "During handling of the above exception, another exception occurred:", P] + FALLBACK \
        + CRASH_MARKERS


def test_torchserves_fallback_handler_import_is_not_a_missing_package_ts():
    # issue 22 point 7: the missing package is the one the handler imports, never 'ts'
    c = cause_of(_handler_import_failed("ModuleNotFoundError: No module named 'stygig'", "import stygig"))
    assert c.code == "missing-module" and c.details["package"] == "stygig", c
    assert c.details["packages"] == ["stygig"] and "'ts'" not in c.summary, c
    # The handler's own error is not a missing module: the fallback alone never makes one.
    c = cause_of(_handler_import_failed("ImportError: cannot import name 'Thing' from 'helpers'",
                                        "from helpers import Thing"))
    assert c.code == "import-error" and "missing-module" not in c.also_seen, c
    assert cause_of(FALLBACK + CRASH_MARKERS).code == "worker-crash-loop"


def test_precedence_is_the_start_up_order_and_root_causes_beat_symptoms():
    assert CAUSE_PRECEDENCE.index("syntax-error") < CAUSE_PRECEDENCE.index("missing-module") \
        < CAUSE_PRECEDENCE.index("model-fn-error") < CAUSE_PRECEDENCE.index("out-of-memory")
    c = cause_of(["Killed", P + "ModuleNotFoundError: No module named 'faiss'"] + CRASH_MARKERS)
    assert c.code == "missing-module"
    assert "out-of-memory" in c.also_seen


def test_dedup_strips_timestamps_and_worker_ids():
    lines = [
        "2026-11-28T14:37:14,872 [INFO ] W-9001-model_1.0-stdout MODEL_LOG - Backend worker process died.",
        "2026-11-28T14:38:14,872 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Backend worker process died.",
        "2026-11-28T14:39:14,872 [INFO ] W-9002-model_1.0-stdout MODEL_LOG - Backend worker process died.",
    ]
    ev = summarize(match_signatures(events_from_lines(lines)))
    cs = ev.codes["worker-died"]
    assert cs.count == 3
    assert [s.count for s in cs.samples] == [3]
    assert cs.first_seen < cs.last_seen


def test_cloudwatch_event_dicts_are_accepted():
    hits = match_signatures([{"timestamp": T0, "message": CRASH_MARKERS[2], "logStreamName": "AllTraffic/i-1"}])
    assert [(h.code, h.stream, h.timestamp) for h in hits] == [("auto-recovery-failed", "AllTraffic/i-1", T0)]


# ------------------------------------------------------------------------------------ reading from moto


def _endpoint(logs_client, lines_by_stream: dict[str, list[str]], *, step_ms: int = 10) -> str:
    name = f"ep-{uuid.uuid4().hex[:10]}"
    group = log_group_name(name)
    logs_client.create_log_group(logGroupName=group)
    for i, (stream, lines) in enumerate(lines_by_stream.items()):
        logs_client.create_log_stream(logGroupName=group, logStreamName=stream)
        events = [{"timestamp": T0 + i + j * step_ms, "message": line} for j, line in enumerate(lines)]
        for k in range(0, len(events), 5000):
            logs_client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[k:k + 5000])
    return name


def test_read_all_streams_in_time_order_and_analyze(aws):
    client = aws.client("logs")
    half = len(GENUINE) // 2
    name = _endpoint(client, {
        "AllTraffic/i-0aaa": GENUINE[:half],
        "AllTraffic/i-0bbb": GENUINE[half:],
        "AllTraffic/i-0aaa/data-log": ['{"message": "request accepted"}'],
    })
    read = read_endpoint_logs(client, name, start=T0 - 1000, end=T0 + 10_000_000)
    assert read.ok and not read.truncated
    assert len(read.events) == len(GENUINE) + 1
    assert {s.name for s in read.streams} == {"AllTraffic/i-0aaa", "AllTraffic/i-0bbb", "AllTraffic/i-0aaa/data-log"}
    assert {e.stream for e in read.events} == {s.name for s in read.streams}
    stamps = [e.timestamp for e in read.events]
    assert stamps == sorted(stamps)
    ev = analyze(read)
    assert ev.cause.code == "missing-module"
    assert ev.cause.details["package"] == "tinypkg"
    assert ev.cause.details["events_read"] == len(GENUINE) + 1
    json.dumps(read.to_dict(include_events=True))
    json.dumps(ev.to_dict())


def test_pagination_reads_every_page(aws):
    client = aws.client("logs")
    lines = [f"line {i}" for i in range(230)]
    name = _endpoint(client, {"AllTraffic/i-1": lines[:115], "AllTraffic/i-2": lines[115:]})
    read = read_endpoint_logs(client, name, start=T0, end=T0 + 10_000, page_size=50)
    assert read.pages >= 5
    assert not read.truncated
    assert sorted(e.message for e in read.events) == sorted(lines)


def test_more_events_than_one_full_page(aws):
    client = aws.client("logs")
    lines = [f"event {i}" for i in range(10_050)]
    name = _endpoint(client, {"AllTraffic/i-1": lines}, step_ms=1)
    read = read_endpoint_logs(client, name, start=T0, end=T0 + 100_000)
    assert read.pages == 2
    assert len(read.events) == 10_050 and not read.truncated


def test_bound_on_events_read(aws):
    client = aws.client("logs")
    lines = [f"line {i}" for i in range(230)]
    name = _endpoint(client, {"AllTraffic/i-1": lines})
    read = read_endpoint_logs(client, name, start=T0, end=T0 + 10_000, max_events=100, page_size=40)
    assert read.truncated
    assert [e.message for e in read.events] == lines[:100]  # the earliest of the window
    exact = read_endpoint_logs(client, name, start=T0, end=T0 + 10_000, max_events=230)
    assert len(exact.events) == 230 and not exact.truncated


def test_time_window_is_applied(aws):
    client = aws.client("logs")
    name = _endpoint(client, {"AllTraffic/i-1": [f"line {i}" for i in range(100)]})  # 10 ms apart
    read = read_endpoint_logs(client, name, start=T0 + 200, end=T0 + 290)
    assert [e.message for e in read.events] == [f"line {i}" for i in range(20, 30)]
    dt = read_endpoint_logs(client, name, start=datetime.fromtimestamp((T0 + 950) / 1000, tz=timezone.utc),
                            end=T0 + 5000)
    assert [e.message for e in dt.events] == [f"line {i}" for i in range(95, 100)]
    ago = read_endpoint_logs(client, name, start=timedelta(milliseconds=40), end=T0 + 990)
    assert [e.message for e in ago.events] == [f"line {i}" for i in range(95, 100)]


def test_missing_group_is_reported_not_raised(aws):
    read = read_endpoint_logs(aws.client("logs"), f"never-{uuid.uuid4().hex[:8]}", start=T0)
    assert read.group_exists is False and read.events == [] and read.error is None
    assert analyze(read).cause.code == "no-logs"


def test_empty_window_is_no_logs(aws):
    client = aws.client("logs")
    name = _endpoint(client, {"AllTraffic/i-1": ["a", "b"]})
    read = read_endpoint_logs(client, name, start=T0 + 3_600_000, end=T0 + 7_200_000)
    assert read.ok and read.events == []
    assert analyze(read).cause.code == "no-logs"


# AWS's refusal cannot be produced by moto's server without changing its process-wide auth settings, so the
# client's error path is driven with botocore's own Stubber (the real client, a canned AWS error response).
def test_access_denied_is_carried_as_an_error_code(aws):
    client = aws.session.client("logs", region_name="ap-south-1")
    with Stubber(client) as stub:
        stub.add_client_error("describe_log_streams", service_error_code="AccessDeniedException",
                              service_message="not authorized to perform: logs:DescribeLogStreams",
                              http_status_code=400)
        read = read_endpoint_logs(client, "stygig-async", start=T0, end=T0 + 1000)
    assert read.error == "AccessDeniedException" and read.group_exists
    c = analyze(read).cause
    assert c.code == "logs-unreadable" and "AccessDeniedException" in c.summary


def test_error_mid_read_keeps_what_was_read(aws):
    client = aws.session.client("logs", region_name="ap-south-1")
    group = log_group_name("stygig-async")
    with Stubber(client) as stub:
        stub.add_response("describe_log_streams", {"logStreams": [{"logStreamName": "AllTraffic/i-1"}]})
        stub.add_response("filter_log_events", {
            "events": [{"logStreamName": "AllTraffic/i-1", "timestamp": T0, "message": m, "eventId": str(i)}
                       for i, m in enumerate([P + "ModuleNotFoundError: No module named 'stygig'"] + CRASH_MARKERS)],
            "nextToken": "t1"})
        stub.add_client_error("filter_log_events", service_error_code="AccessDeniedException", http_status_code=400)
        read = read_endpoint_logs(client, "stygig-async", start=T0, end=T0 + 1000)
    assert read.group == group
    assert read.error == "AccessDeniedException" and len(read.events) == 5
    assert analyze(read).cause.code == "missing-module"  # a partial read that shows the cause keeps it


def test_log_event_to_dict():
    assert LogEvent(T0, "m", "s").to_dict() == {"timestamp": "2026-11-28T14:37:00.000+00:00", "stream": "s",
                                               "message": "m"}
