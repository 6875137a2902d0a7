"""The guess from words (logs.vocabulary): only where no rule names a cause, always weak, said to be a guess, and
never acted on by diagnose."""

from __future__ import annotations

import pytest
from endpoint_runbook.endpoint.diagnosis import _log_code
from endpoint_runbook.logs import evidence_from_text
from endpoint_runbook.logs.vocabulary import VOCABULARY, guess

# the start of a server no rule of the catalogue knows
PREAMBLE = [
    "2026-11-30 08:01:02.114 INFO  [acme-serve] starting acme-serve 3.2.1 (workers=2)",
    "2026-11-30 08:01:02.120 INFO  [acme-serve] reading /srv/models/ranker",
]


@pytest.mark.parametrize("line,code", [
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] worker 0: GPU 0 ran out of memory while placing 1.2 GiB of tensors",
     "cuda-out-of-memory"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] worker 0 was OOM-killed (RSS 7.9 GiB)", "out-of-memory"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] write /srv/cache/blob-17: no space left on device",
     "disk-full"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] open /srv/models/ranker/weights.safetensors: permission denied",
     "permission-denied"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] cannot open /srv/models/ranker/model.onnx", "model-file-not-found"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] kernel for sm_61 missing: the device's compute capability is 6.1",
     "gpu-architecture-mismatch"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] layer type 'RotaryMoE' is not supported",
     "unsupported-model-architecture"),
    # the words servers, launchers and platforms share (the classes' second layer)
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] 3.1 GiB KV cache is needed, 1.2 GiB are free", "cuda-out-of-memory"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] No CUDA GPUs are available", "gpu-image-on-cpu-host"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] acme-serve was compiled to use AVX2 instructions", "wrong-architecture"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] pulling weights: dial tcp 10.0.0.5:443: i/o timeout",
     "network-unreachable"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] grpc socket 0.0.0.0:9000 already in use", "server-config-invalid"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] unknown option --workers-per-gpu", "server-config-invalid"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] unknown command 'serve'", "image-not-sagemaker-compatible"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] entrypoint /srv/start.sh not found", "missing-entry-script"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] Failed to install the model's requirements", "requirements-install-failed"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] shard plan needs 8 GPU devices, not enough GPU devices (4)",
     "model-config-invalid"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] Ranker.__init__() got an unexpected keyword argument 'rope_theta'",
     "framework-version-mismatch"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] /srv/models/ranker is not a local folder", "model-file-not-found"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] size mismatch for head.weight: [10, 512] vs [2, 512]", "model-fn-error"),
    ("2026-11-30 08:01:09.001 ERROR [acme-serve] 0/3 nodes: Insufficient nvidia.com/gpu", "insufficient-capacity"),
])
def test_an_error_line_no_rule_knows_gives_a_weak_guess_from_its_words(line, code):
    ev = evidence_from_text("\n".join(PREAMBLE + [line]))
    assert ev.cause.code == code, ev.cause.to_dict()
    assert ev.cause.confidence == "low"
    assert ev.cause.details["guessed"] is True and ev.cause.details["guessed_from"]
    assert ev.cause.summary.startswith("a guess from the words")
    assert line in ev.cause.evidence


def test_a_line_without_an_error_level_is_guessed_only_when_it_reports_a_failure():
    failing = "08:01:09 worker exited: ran out of memory loading ranker (limit 512 MB)"
    ev = evidence_from_text("\n".join(PREAMBLE + [failing]))
    assert ev.cause.code == "out-of-memory" and ev.cause.details.get("guessed"), ev.cause.to_dict()
    hedged = ("You are using a model of type llama to instantiate a model of type mistral. This is not supported for "
              "all configurations of models and can yield errors.")
    ev = evidence_from_text("\n".join(PREAMBLE + [hedged]))
    assert ev.cause.code == "no-known-signature", ev.cause.to_dict()
    chatter = "08:01:03 settings: memory limit 512 MB, model dir /srv/models/ranker, checkpoint every 10 min"
    ev = evidence_from_text("\n".join(PREAMBLE + [chatter]))
    assert ev.cause.code == "no-known-signature", ev.cause.to_dict()


def test_a_healthy_log_that_mentions_memory_stays_healthy():
    healthy = [
        "2026-11-30T08:01:02,114 [INFO ] main org.pytorch.serve.ModelServer - Max heap size: 7953 M",
        "2026-11-30T08:01:05,000 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - cuda out-of-memory retries: 0 "
        "(limit 3)",
        "2026-11-30T08:01:06,000 [INFO ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Backend response "
        "time: 840",
        "2026-11-30T08:01:06,001 [INFO ] W-9000-model_1.0 TS_METRICS - WorkerLoadTime.Milliseconds:3021.0",
    ]
    ev = evidence_from_text("\n".join(healthy))
    assert not ev.cause.details.get("guessed"), ev.cause.to_dict()


def test_a_rule_always_wins_over_words():
    # a catalogue rule names this line (CUDA OOM); the next error line's words ("permission denied") guess nothing
    lines = PREAMBLE + [
        "2026-11-30T08:01:09,000 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - torch.cuda.OutOfMemoryError: CUDA out of "
        "memory. Tried to allocate 2.00 GiB (GPU 0; 14.58 GiB total capacity; 13.1 GiB already allocated)",
        "2026-11-30 08:01:10.000 ERROR [acme-serve] open /srv/cache/lock: permission denied",
    ]
    ev = evidence_from_text("\n".join(lines))
    assert ev.cause.code == "cuda-out-of-memory" and not ev.cause.details.get("guessed"), ev.cause.to_dict()
    assert ev.cause.confidence != "low"


def test_diagnose_weighs_a_guess_as_it_weighs_no_signature():
    ev = evidence_from_text("\n".join(PREAMBLE + ["2026-11-30 08:01:09.001 ERROR [acme-serve] worker 0 was "
                                                  "OOM-killed"]))
    cause = ev.cause.to_dict()
    assert cause["code"] == "out-of-memory"
    assert _log_code(cause) == "no-known-signature"
    assert _log_code({**cause, "details": {k: v for k, v in cause["details"].items() if k != "guessed"}}) \
        == "out-of-memory"


def test_the_narrower_class_is_tried_first():
    assert guess("CUDA error: out of memory")[0] == "cuda-out-of-memory"
    assert guess("process ran out of memory")[0] == "out-of-memory"
    assert guess("libcuda.so.1: cannot open shared object file")[0] == "cuda-driver-mismatch"
    assert guess("model.onnx: No such file or directory")[0] == "model-file-not-found"
    assert guess("__init__() missing 2 required positional arguments: 'model' and 'cfg'") is None
    assert guess("all good, 2 workers up") is None
    codes = [c for c, _ in VOCABULARY]
    assert codes.index("cuda-out-of-memory") < codes.index("out-of-memory")


def test_beside_symptoms_alone_an_error_lines_words_say_why():
    ts = "2026-11-30T08:01:09,{:03d} [INFO ] W-9000-model_1.0-stdout MODEL_LOG - "
    crash = ["2026-11-30T08:01:10,000 [INFO ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerLifeCycle - Backend worker "
             "process died.",
             "2026-11-30T08:01:10,001 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Backend worker "
             "thread exception."]
    ev = evidence_from_text("\n".join(crash))
    assert ev.cause.code == "worker-crash-loop", ev.cause.to_dict()
    said = ts.format(5) + "acme_loader ERROR: shard 3 of /opt/ml/model/weights is missing"
    ev = evidence_from_text("\n".join([said] + crash))
    assert ev.cause.code == "model-file-not-found" and ev.cause.details.get("guessed"), ev.cause.to_dict()
    assert ev.cause.confidence == "low" and said in ev.cause.evidence
    # diagnose weighs what the log says without the guess: the crash loop
    assert ev.cause.details["otherwise"]["code"] == "worker-crash-loop"
    assert _log_code(ev.cause.to_dict()) == "worker-crash-loop"


def test_an_error_line_whose_words_spell_nothing_lets_the_failure_lines_around_it_speak():
    said = "Currently, acme-llm does not support linear layers with skip_bias_add argument"
    bare = "2026-11-30 08:01:09,347 - ERROR - "
    ev = evidence_from_text("\n".join(PREAMBLE + [said, bare]))
    assert ev.cause.code == "unsupported-model-architecture" and ev.cause.details.get("guessed"), ev.cause.to_dict()
    assert ev.cause.confidence == "low" and said in ev.cause.evidence
    # with nothing failure-sounding around it, the bare error line stays unexplained
    ev = evidence_from_text("\n".join(PREAMBLE + [bare]))
    assert ev.cause.code == "no-known-signature" and ev.cause.details.get("unexplained") == 1, ev.cause.to_dict()


@pytest.mark.parametrize("line", [
    # nginx's upstream time-out is a consequence (the worker behind it is slow or dead), not a network to fix
    "2019/01/03 20:53:14 [error] 55#55: *754 upstream timed out (110: Connection timed out) while reading response",
    # an engine's report of a healthy KV cache
    "INFO 03-12 14:57:38 [gpu_worker.py:227] Available KV cache memory: 8.11 GiB",
])
def test_words_that_only_sound_like_a_failure_guess_nothing(line):
    g = guess(line)
    assert g is None or g[0] not in ("network-unreachable", "cuda-out-of-memory"), g



def test_the_guess_is_measured_on_lines_no_rule_names(capsys):
    """scripts/score_guess.py (the README's figures): on the sources' cause lines the words name more rightly than
    wrongly, and stay silent on most healthy lines."""
    import runpy
    from pathlib import Path

    runpy.run_path(str(Path(__file__).parent.parent / "scripts" / "score_guess.py"), run_name="__main__")
    out = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    cause = dict(zip(*[iter(out["source-rules cause lines"].split()[1:])] * 2, strict=True))
    healthy = dict(zip(*[iter(out["source-rules healthy lines"].split()[1:])] * 2, strict=True))
    assert int(cause["right"]) > 2 * int(cause["wrong"]) and int(healthy["silent"]) > 4 * int(healthy["guessed"])
