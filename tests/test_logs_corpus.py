"""The real-log corpus (issue 23): 348 SEEN excerpts (tests/data/logs-corpus: the 22 the issue-14 rules were written
beside, and the new excerpts the issue-23 rules were written from) and 64 HELD-OUT excerpts (tests/data/logs-heldout,
chosen by sha256(source URL) mod 3 == 0 and not read until the rules were final), and the held-out excerpts of a
second to a twenty-second collection (tests/data/logs-heldout2 … -heldout22: the same hash; their others joined the seen
ones), each scored once. Each file's header gives its
source, container, expected cause and detail, and noise.

- every seen file is classified as its header says (but for three documented known-hard files), through every input
  form a user may bring it in;
- the held-out score: the FIRST one, run once on the final rules (tests/data/logs-scores/heldout-first.json), and the
  current one, after rules chosen with the held-out misses in view (so no longer a held-out measurement); the issue's
  thresholds are asserted on the current score. The terminal summary prints all three scores.

``endpoint-runbook explain-logs --score tests/data/logs-corpus tests/data/logs-heldout`` prints the same scores.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import logscores
import pytest
from endpoint_runbook.cli import main
from endpoint_runbook.logs import CAUSES, LogEvent, events_from_text, evidence_from_events, evidence_from_text
from endpoint_runbook.logs.scoring import corpus_files, read_excerpt, score_corpus

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "logs-corpus"
HELDOUT = DATA / "logs-heldout"
HELDOUT2 = DATA / "logs-heldout2"
#: The later collections' held-out parts: number → (its name in the label, (right, total) of its first score). The
#: third: 1 excerpt; the fourth: 2 (a third of 13 fresh ones by the hash; a 14th, a Studio kernel image rather than
#: an endpoint, was dropped on its header before the split); the fifth: 3 (a third of 8; two more were dropped before
#: the split, on their collector's word that the search excerpt had cut their tracebacks before the exception); the
#: sixth: 5 (a third of 11); the seventh: 9 (of 16: the hash put more than a third there); the eighth: 7 (of 19);
#: the ninth: 7 (of 20); the tenth: 3 (of 17); the eleventh: 3 (of 9); the twelfth: 12 (of 27); the thirteenth: 2
#: (of 6); the fourteenth: 1 (of 3: a later search for the candidates the thirteenth's collectors could not finish);
#: the fifteenth: 3 (of 5); the sixteenth: 2 (of 8); the seventeenth: 4 (of 12); the eighteenth: 3 (of 4);
#: the nineteenth: 2 (of 13); the twentieth: 2 (of 16); the twenty-first: 6 (of 19);
#: the twenty-second: 5 (of 15).
LATER = {3: ("third", (0, 1)), 4: ("fourth", (1, 2)), 5: ("fifth", (1, 3)), 6: ("sixth", (5, 5)), 7: ("seventh", (4, 9)),
         8: ("eighth", (4, 7)), 9: ("ninth", (2, 7)), 10: ("tenth", (1, 3)),
         11: ("eleventh", (3, 3)), 12: ("twelfth", (7, 12)), 13: ("thirteenth", (2, 2)),
         14: ("fourteenth", (0, 1)), 15: ("fifteenth", (2, 3)),
         16: ("sixteenth", (2, 2)), 17: ("seventeenth", (4, 4)),
         18: ("eighteenth", (0, 3)), 19: ("nineteenth", (2, 2)),
         20: ("twentieth", (1, 2)), 21: ("twenty-first", (3, 6)),
         22: ("twenty-second", (3, 5))}
#: every later collection's held-out part: the second's (its 6 fresh excerpts) and those above
LATER_DIRS = (HELDOUT2, *(DATA / f"logs-heldout{n}" for n in sorted(LATER)))
#: every held-out folder: the first collection's third and the later ones'
HELD_DIRS = (HELDOUT, *LATER_DIRS)
FIRST = DATA / "logs-scores" / "heldout-first.json"
FIRST2 = DATA / "logs-scores" / "heldout2-first.json"
FILES = corpus_files(CORPUS)

#: Seen files no rule names rightly, each with why. The test below checks they are still missed: when one is named
#: rightly, take it off this list.
KNOWN_HARD = {
    "09-": "'tensorflow_model_server: error while loading shared libraries: libcuda.so.1' is, word for word, the line "
           "of 360 and 361 (gpu-image-on-cpu-host: the GPU build where no NVIDIA driver is visible); here it came "
           "from a GPU instance and the thread never found why, so its collector labelled it import-error. One text, "
           "two labels: the catalogue names gpu-image-on-cpu-host (2 of 3) at medium confidence.",
    "515-": "gunicorn 19.9 logs nothing when the kernel's OOM killer takes a worker: the excerpt is 'Booting worker' "
            "lines and the reporter's own hook prints; the OOM is in the kernel log the thread describes, not here.",
    "801-": "'Op type not registered 'TFText>RoundRobinTrim'': an op of the TensorFlow Text extension, which the "
            "catalogue names unsupported-model-architecture (the extension's op the serving binary lacks); here the "
            "image's TF Text was older than the model's, so its collector labelled it framework-version-mismatch. "
            "The text does not say which.",
    "809-": "the SageMaker SDK's exception alone (the ping health check failed): nothing in it names why; the thread "
            "found a SavedModel without its version folder.",
    "525-": "one 'Booting worker with pid' line (Cloud Foundry's ERR tag is its stderr stream): the OOM kills the "
            "reporter saw are in the kernel log, not in the excerpt.",
    "900-": "MMS 0.x's 'Incorrect or missing service file' is one message for a file that is not there and for one "
            "whose import raised; the thread found 'No module named wget' behind it. The catalogue names "
            "missing-entry-script at low confidence (weak rule).",
    "901-": "TorchServe's 'Custom pip package installation failed' without pip's own lines: the thread found the "
            "image's venv not writable by the server's user (an image bug, fixed upstream); the catalogue names "
            "requirements-install-failed at medium confidence.",
    "1840-": "XGBoost's 'cannot make canonical path: No such file or directory' for the model file: read as a missing "
             "file (medium); the thread found KServe's modelcar symlink layout breaking the path, a server bug.",
    "1846-": "'No module named ...' inside the sklearn server's own imports: a missing module by its text; the thread "
             "found the image built from master against kfserving 0.4.1, whose package lacks that module (labelled "
             "import-error).",
    "2041-": "TensorRT-LLM's JSON parse error at line 1, column 1 (an empty config.json where the engine should be): "
             "the maintainer's answer was a wrong model path; the line says only that a JSON file is empty.",
    "2100-": "transformers' 'Error no file named [...] found in directory' for a Hub repo that holds only a sharded "
             "checkpoint, which the image's transformers 4.17 cannot read: the line reads as weights not there "
             "(medium); the thread's label is the version.",
    "2181-": "TGI's 'Method Prefill encountered an error.' at warm-up, its traceback cut before the exception in the "
             "paste: the thread found the NeuronX server's warm-up bug (fixed upstream); the log names nothing.",
    "2260-": "Triton's status table: the Python backend's stub found no module 'model' (model.py was there): the "
             "thread traced it to a --backend-directory given with a trailing slash, which the backend mistook for "
             "a Python-based backend runtime (fixed upstream); the line reads as a missing module.",
    "2269-": "a bare 'No such file or directory' for the model's folder under BENTOML_HOME: read (a guess) as the "
             "model not there; the thread found the generated image's BENTOML_HOME pointing one folder too high.",
    "116-": "clap's 'unexpected argument' from TEI's own entrypoint script (a misspelled flag the image passed): the "
            "same line as a user's wrong flag (2231, server-config-invalid), which is what it is read as.",
    "2621-": "Cog's own predictor.py refuses an Optional[Path] argument of setup() with a ValueError that reads like "
             "the model code's mistake; the maintainer called it Cog's (later versions accept it). Nothing in the "
             "text tells a toolkit's wrong refusal from a right one.",
    "2663-": "CTranslate2's 'Requested float16 compute type, but the target device or backend do not support "
             "efficient float16 computation' is mostly float16 asked of a CPU (model-config-invalid, as read); here "
             "the device was a Pascal GPU without fast float16 (gpu-architecture-mismatch).",
    "2087-": "'invalid load key' from unpickling a Git LFS pointer committed in place of the model: the text reads as a "
             "corrupt model file (corrupt-model-archive); the thread's label is the file not being there.",
    "902-": "one line the user's model_fn printed (a listing of model_dir lacking a file): the toolkit's archiver "
            "dropping files is in the thread, not in the log.",
    "2904-": "'<venv>/bin/python: No module named bentoml' as OpenLLM launched `bentoml serve`: the tool built the "
             "venv without the server it runs (its bug, fixed in 0.6.7), which the text tells as a missing module.",
    "2907-": "llama.cpp's loader reading a GGUF's metadata and nothing after it: no failure and no sign of a finished "
             "start-up in the lines; the thread found the server healthy (the user expected a chat in the console).",
    "3002-": "gunicorn's '[CRITICAL] WORKER TIMEOUT' alone: the thread found the worker downloading a 298 MB model on "
             "its first request over a slow network; the line says only that the worker timed out.",
    "3008-": "vLLM's 'Please set HF_MODEL to a HuggingFace name': the engine asks for a setting; the thread found the "
             "inference server's own setup still passing the one tt-metal had removed (its bug).",
    "3009-": "TorchServe's 400 DownloadArchiveException 'Failed to download archive from: <url>': TorchServe words "
             "any failure to save the .mar so; the thread found the model store not writable.",
    "3053-": "TF Serving refusing its ModelServerConfig (server-config-invalid, likely): the SageMaker TF Serving "
             "container had written hidden folders into it as versions (its bug); the one line does not say who wrote "
             "the file.",
    "3054-": "AttributeError: 'NoneType' object has no attribute 'startswith' in seldon_core's Storage.download: the "
             "Seldon operator had dropped the model_uri parameter (its bug); the text reads as the entry module None.",
    "3103-": "Triton's 'Failed to create local folder: /tmp/fileXLgUve/variables' while copying a SavedModel from S3: "
             "the thread found its S3 download code not creating nested folders (its bug); the line reads as a model "
             "that failed to load.",
    "3153-": "Vertex AI's pre-built sklearn server: 'Could not load the model: …model.joblib. __new__() argument after "
             "** must be a mapping, not numpy.ndarray': the thread found a model pickled with other library versions; "
             "the TypeError does not say so.",
    "3058-": "'Unknown builtin op: torchvision::...' is, in a Python process, a model scripted with torchvision's ops "
             "without importing torchvision (import-error); here it was Triton's LibTorch backend, built without "
             "them. The prefix 'inference_server_1 |' does not say which.",
}

#: Codes an excerpt may expect besides the cause codes: a normal start-up, and the issue-14 health-check outcome.
OUTCOMES = ("healthy", "ping-failing", "worker-crash-loop")


def _hard(path: Path) -> str | None:
    return next((why for prefix, why in KNOWN_HARD.items() if path.name.startswith(prefix)), None)


def test_the_corpus_is_all_here_with_headers_and_sources():
    assert len(FILES) == 348
    held = corpus_files(HELDOUT)
    assert len(held) == 64
    assert [len(corpus_files(d)) for d in LATER_DIRS] == [6] + [LATER[n][1][1] for n in sorted(LATER)]
    for p in FILES + held + [p for d in LATER_DIRS for p in corpus_files(d)]:
        ex = read_excerpt(p)
        assert "(http" in ex.meta["source"] and ex.meta["container"] and ex.meta["expected-detail"], p.name
        assert "noise" in ex.meta and ex.body.strip(), p.name
        assert ex.expected in CAUSES or ex.expected in OUTCOMES, (p.name, ex.expected)


def test_the_split_is_the_fixed_hash_of_the_source_address():
    """Every new excerpt sits where sha256(source URL) mod 3 puts it (0: held-out); SOURCES.tsv lists each file."""
    for directory, held in ((CORPUS, False), (HELDOUT, True), *((d, True) for d in LATER_DIRS)):
        rows = list(csv.DictReader((directory / "SOURCES.tsv").open(), delimiter="\t"))
        listed = {r["file"] for r in rows}
        assert listed == {p.name for p in corpus_files(directory) if int(p.name.split("-")[0]) >= 100}
        for r in rows:
            assert (int(hashlib.sha256(r["url"].encode()).hexdigest(), 16) % 3 == 0) is held, r["file"]
            assert r["url"] in read_excerpt(directory / r["file"]).meta["source"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:40])
def test_each_seen_file_is_classified_as_its_header_says(path):
    ex = read_excerpt(path)
    ev = evidence_from_text(ex.body)
    if _hard(path):
        assert ev.cause.code != ex.expected, f"{path.name} is named rightly now: take it off KNOWN_HARD"
        return
    assert ev.cause.code == ex.expected, ev.cause.to_dict()
    if ex.expected == "healthy":
        assert ev.healthy
        assert not [c for c, s in ev.codes.items() if s.kind in ("cause", "symptom")]
    else:
        assert ev.cause.evidence, "a cause names its evidence lines"
    json.dumps(ev.to_dict())


def _forms(body: str) -> dict[str, str | list[LogEvent]]:
    events = events_from_text(body)
    msgs = [e.message for e in events]
    t0 = 1_700_000_000_000
    return {
        "events-one-per-line": [LogEvent(t0 + i, m, "AllTraffic/i-0a") for i, m in enumerate(msgs)],
        "one-multiline-event": [LogEvent(t0, "\n".join(msgs), "AllTraffic/i-0a")],
        "console-csv-export": "timestamp,message\n" + "\n".join(
            f'2024-01-01T00:00:{i % 60:02d}.000Z,"{m.replace(chr(34), chr(34) * 2)}"' for i, m in enumerate(msgs)),
        "console-copy": "\n".join(f"00:00:{i % 60:02d}\n{m}\n" for i, m in enumerate(msgs)),
        "docker-compose": "\n".join(f"algo-1-x7k2q_1  | {m}" for m in msgs),
        "markdown-fence": "Here is my log:\n```text\n" + "\n".join(msgs) + "\n```\n",
    }


@pytest.mark.parametrize("form", ["events-one-per-line", "one-multiline-event", "console-csv-export", "console-copy",
                                  "docker-compose", "markdown-fence"])
def test_every_seen_file_keeps_its_cause_in_every_input_form(form):
    wrong = {}
    for path in FILES:
        if _hard(path):
            continue
        ex = read_excerpt(path)
        data = _forms(ex.body)[form]
        ev = evidence_from_events(data) if isinstance(data, list) else evidence_from_text(data)
        if ev.cause.code != ex.expected:
            wrong[path.name] = ev.cause.code
    assert not wrong


# The detail each thread established, as the cause's details carry it.
DETAILS = {
    "01-": {"requirements_file": "/opt/ml/model/code/requirements.txt", "exit_status": "1"},
    "02-": {"module": "grpc", "statement": "import grpc"},
    "03-": {"exception": "PredictionException"},
    "04-": {"name": "service", "module": "google.protobuf"},
    "05-": {"where": "code/inference.py:37 in model_fn", "exception": "TypeError"},
    "06-": {"request": "POST /invocations", "pid": "3906"},
    "08-": {"module": "xgboost"},
    "10-": {"path": "/opt/ml/model/pytorch_model-00001-of-00005.bin"},
    "11-": {"path": "/.sagemaker/mms/models"},
    "16-": {"module": "keras"},
    "17-": {"exception": "IndexError", "raised_in": "/miniconda3/lib/python3.8/site-packages/sagemaker_xgboost_container/"
                                                   "algorithm_mode/serve_utils.py:192 in get_loaded_booster"},
    "18-": {"timed_out": True},
    "19-": {"memory": "jvm-direct"},
    "20-": {"memory": "jvm-direct"},
    "21-": {"entry_module": "transform_scripts"},
    "22-": {"requirements_file": "/opt/ml/code/requirements.txt", "exit_status": "2"},
    "137-": {"runtime": "75", "compiled": "80"},
    "142-": {"url": "s3://sagemaker-us-east-1-*/huggingface-model/output/model.tar.gz"},
    "146-": {"label": "multi-models"},
    "158-": {"tensor": "308"},
    "174-": {"backend": "tensorrt_plan"},
    "189-": {"model_type": "gemma3_text"},
    "302-": {"size": "13279248421", "max": "10737418240"},
    "306-": {"path": "/opt/ml/model/xgboost-model", "where": "code/inference.py:26 in model_fn"},
    "339-": {"model": "resnet_v1_50", "path": "s3://dls-test/log/resnet_v1_50/1/"},
    "348-": {"size": "6572143"},
    "507-": {"ir": "10", "max": "9"},
    "528-": {"address": "('backend', 8001)"},
    "934-": {"compiler": "neuronx-cc", "compiled": "2.13.72.0+78a426937", "current": "2.13.66.0+6dfecc895"},
    "967-": {"container": "primary"},
}


@pytest.mark.parametrize("prefix", sorted(DETAILS))
def test_causes_carry_the_detail(prefix):
    (path,) = [p for p in FILES if p.name.startswith(prefix)]
    details = evidence_from_text(read_excerpt(path).body).cause.details
    assert {k: details.get(k) for k in DETAILS[prefix]} == DETAILS[prefix]


def test_relabelled_seen_files_say_so_in_their_header():
    relabelled = {p.name[:3]: read_excerpt(p).meta["relabelled"] for p in FILES if "relabelled" in read_excerpt(p).meta}
    assert set(relabelled) == {"17-", "18-"}
    assert all("->" in why and "issue 23" in why for why in relabelled.values())


def test_noise_is_labelled_not_a_cause():
    ev = evidence_from_text(read_excerpt(CORPUS / "01-requirements-install-failed-tfs-ei-pip3.txt").body)
    assert ev.noise == {"pip-notice": 1}
    assert not any("You are using pip" in e for e in ev.cause.evidence)


# ------------------------------------------------------------------------------------------------- the scores


def test_the_seen_score():
    score = score_corpus(CORPUS)
    logscores.record("seen", score)
    assert score.right == score.total - len(KNOWN_HARD)
    assert {m.file[: m.file.index("-") + 1] for m in score.misses} == set(KNOWN_HARD)


def test_the_first_held_out_score_is_kept_as_it_came_out():
    """Run once, on the rules of the commit it names, before any held-out file was read (issue 23, item 2)."""
    first = json.loads(FIRST.read_text())
    logscores.record_first(first)
    assert first["commit"] and "first held-out score" in first["label"]
    assert [r["file"] for r in first["results"]] == [p.name for p in corpus_files(HELDOUT)]
    assert (first["right"], first["total"]) == (sum(r["right"] for r in first["results"]), 64)
    assert len(first["misses"]) == first["total"] - first["right"]


def test_the_second_collections_first_held_out_score_is_kept_as_it_came_out():
    """Eight excerpts of a second collection, set aside by the same hash before anyone read them, scored once on the
    rules of the commit it names (written from the collection's other 15): kept, misses and all. Two turned out not to
    be fresh (their sources are among the 22 first excerpts'): they left the folder, and the score without them is
    recorded beside the first."""
    first = json.loads(FIRST2.read_text())
    logscores.record_first(first, key="first-2")
    assert first["commit"] and "second collection" in first["label"]
    kept = [r for r in first["results"] if r["file"] not in first["excluded_after"]]
    assert [r["file"] for r in kept] == [p.name for p in corpus_files(HELDOUT2)]
    assert (first["right"], first["total"]) == (sum(r["right"] for r in first["results"]), 8)
    assert first["fresh_only"] == {"right": sum(r["right"] for r in kept), "total": len(kept)} == {"right": 1,
                                                                                                  "total": 6}
    assert len(first["misses"]) == first["total"] - first["right"]
    now = score_corpus(HELDOUT2)
    logscores.record("second collection, held-out (now: after rules written from its first score's misses)", now)
    assert now.right >= first["right"]  # rules added since must not lose what the first score named



@pytest.mark.parametrize("n", sorted(LATER))
def test_a_later_collections_first_held_out_score_is_kept_as_it_came_out(n):
    name, scored = LATER[n]
    held = DATA / f"logs-heldout{n}"
    first = json.loads((DATA / "logs-scores" / f"heldout{n}-first.json").read_text())
    logscores.record_first(first, key=f"first-{n}")
    assert first["commit"] and f"{name} collection" in first["label"]
    assert [r["file"] for r in first["results"]] == [p.name for p in corpus_files(held)]
    assert (first["right"], first["total"]) == scored and len(first["misses"]) == scored[1] - scored[0]
    now = score_corpus(held)
    logscores.record(f"{name} collection, held-out (now: after rules written from its first score's misses)", now)
    assert now.right >= first["right"]


@pytest.fixture(scope="module")
def every_first() -> list[dict]:
    """Every held-out excerpt's verdict as its collection's first score gave it, fresh excerpts only (the second
    collection's two that turned out not to be fresh left out)."""
    out = []
    for path in sorted((DATA / "logs-scores").glob("heldout*-first.json")):
        first = json.loads(path.read_text())
        out += [r for r in first["results"] if r["file"] not in first.get("excluded_after", ())]
    return out


@pytest.fixture(scope="module")
def first_scores(every_first) -> tuple[int, int, dict[str, tuple[int, int]]]:
    results = every_first
    by = {c: (sum(r["right"] for r in results if r["confidence"] == c),
              sum(r["confidence"] == c for r in results)) for c in ("high", "medium", "low")}
    right, total = sum(r["right"] for r in results), len(results)
    logscores.record_lines("first-all", [
        f"ALL held-out FIRST scores together ({len(LATER) + 2} collections, each scored once before any rule was "
        f"written from it): {right}/{total} right ({100 * right / total:.1f} %)",
        *(f"  {c:<6} confidence: {r}/{n} right ({100 * r / n:.1f} %)" for c, (r, n) in by.items())])
    return right, total, by


def test_every_first_score_together_holds_each_held_out_excerpt_once(first_scores, every_first):
    right, total, by = first_scores
    held = [p.name for d in HELD_DIRS for p in corpus_files(d)]
    assert sorted(r["file"] for r in every_first) == sorted(held) and total == len(held)
    assert sum(n for _, n in by.values()) == total and sum(r for r, _ in by.values()) == right


@pytest.mark.xfail(strict=True, reason="issue 23's targets are not met on text the rules were not written from: "
                   "every held-out excerpt as its collection's first score named it, see the printed summary")
def test_first_scores_together_meet_the_issue_targets(first_scores):
    right, total, by = first_scores
    high_right, high = by["high"]
    assert right / total >= 0.90 and high_right / high >= 0.95, (right, total, by)


#: two blind readings of the held-out log text, by different readers in different shuffles, and each as it came out:
#: (right, named) per sureness, all held-out excerpts of collections 1 to 22
BLINDS = {"blind-reading.tsv": {"sure": (69, 70), "likely": (44, 50), "guess": (16, 32)},
          "blind-reading-2.tsv": {"sure": (70, 72), "likely": (42, 49), "guess": (18, 31)}}


def _blind_reading(name: str) -> dict[str, tuple[str, str]]:
    """tests/data/logs-scores/<name>: held-out excerpt (under tests/data) → (code named, sureness)."""
    text = (DATA / "logs-scores" / name).read_text(encoding="utf-8")
    return {r[0]: (r[1], r[2]) for r in (line.split("\t") for line in text.splitlines() if not line.startswith("#"))}


def test_a_blind_reading_of_the_held_out_log_text_measures_what_the_text_carries(first_scores, every_first):
    """Readers given each held-out excerpt's log text alone (the header's labels unseen) named the cause: how often
    they were right, per how sure they said they were, is what the text itself can tell; a second reading by other
    readers says how much of it is the readers; the classifier's first scores are set beside them."""
    held = {f"{d.name}/{p.name}": read_excerpt(p).expected for d in HELD_DIRS for p in corpus_files(d)}
    readings = {name: _blind_reading(name) for name in BLINDS}
    lines = []
    for n, (name, blind) in enumerate(readings.items()):
        assert sorted(blind) == sorted(held), f"{name} must cover each held-out excerpt once"
        assert {code for code, _ in blind.values()} <= set(CAUSES) | {"healthy"}
        by = {s: (sum(held[f] == c for f, (c, s2) in blind.items() if s2 == s),
                  sum(s2 == s for _, s2 in blind.values())) for s in ("sure", "likely", "guess")}
        assert by == BLINDS[name] and sum(k for _, k in by.values()) == len(held)
        right = sum(r for r, _ in by.values())
        lines += [f"{'A BLIND READING' if n == 0 else 'A SECOND BLIND READING (other readers, another shuffle)'} of "
                  f"the same held-out log text (no header; readers told to look nothing up): {right}/{len(held)} right "
                  f"({100 * right / len(held):.1f} %)",
                  "  " + "; ".join(f"{s} {r}/{k} ({100 * r / k:.1f} %)" for s, (r, k) in by.items())]
    one, two = readings.values()
    either = [f for f in held if held[f] in (one[f][0], two[f][0])]
    first = {r["file"]: r["right"] for r in every_first}
    read_right = [f for f, (c, _) in one.items() if held[f] == c]
    classifier = sum(first[f.split("/")[1]] for f in read_right)
    logscores.record_lines("first-blind", lines + [
        f"  the two readings name the same cause for {sum(one[f][0] == two[f][0] for f in held)}; either is right for "
        f"{len(either)} ({100 * len(either) / len(held):.1f} %)",
        f"  the classifier's first scores on the {len(read_right)} the first readers named right: {classifier} "
        f"({100 * classifier / len(read_right):.1f} %)"])
    assert classifier <= first_scores[0] and len(either) / len(held) < 0.90  # the text does not carry issue 23's 90 %


@pytest.fixture(scope="module")
def heldout():
    score = score_corpus(HELDOUT)
    logscores.record("held-out (now: after rules chosen with the first score's misses in view)", score)
    return score


def test_held_out_high_confidence_verdicts_are_right_at_least_95_percent(heldout):
    right, n = heldout.by_confidence()["high"]
    assert n >= 10 and right / n >= 0.95, (right, n)


@pytest.mark.xfail(strict=True, reason="issue 23's target (90 %) is not met: 55/64 held-out excerpts are named "
                   "rightly after the held-out-informed rules (first score 34/64); 5 of the 9 misses carry a label that "
                   "identical text carries differently elsewhere in the corpus, see README 'Explain a log you pasted'")
def test_held_out_share_right_meets_the_issue_target(heldout):
    assert heldout.ratio >= 0.90, heldout.lines()


def test_explain_logs_scores_the_corpus(capsys):
    assert main(["explain-logs", "--score", str(CORPUS), str(HELDOUT)]) == 0
    out = capsys.readouterr().out
    assert f"{CORPUS}: 319/348 right" in out and f"{HELDOUT}: " in out
    assert "high   confidence:" in out and "misses (" in out
    assert main(["explain-logs", "--score", str(CORPUS / "nowhere")]) == 2
    assert "no corpus directory" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ consequence lines


CONSEQUENCES = {
    "nginx's failed upstream after gunicorn died": '2019/01/03 20:53:14 [crit] 15#15: *5 connect() to unix:/tmp/'
    'gunicorn.sock failed (2: No such file or directory) while connecting to upstream, client: 169.254.178.2, server: , '
    'request: "GET /ping HTTP/1.1", upstream: "http://unix:/tmp/gunicorn.sock:/ping", host: "169.254.180.2:8080"',
    "nginx's timed-out upstream": '2019/01/03 20:53:14 [error] 55#55: *754210 upstream timed out (110: Connection '
    'timed out) while reading response header from upstream, client: 10.32.0.2, server: , request: "POST /invocations '
    'HTTP/1.1", upstream: "http://unix:/tmp/gunicorn.sock/invocations", host: "model.aws.local:8080"',
    "Auto recovery failed": "2026-11-28T14:37:17,232 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - "
    "Auto recovery failed again",
    "a connection reset": "2026-11-28T14:37:35,397 [ERROR] epollEventLoopGroup-3-2 org.pytorch.serve.http."
    "HttpRequestHandler - io.netty.channel.unix.Errors$NativeIoException: readAddress(..) failed: Connection reset by "
    "peer",
    "a failed ping": '2026-11-28T14:42:35,374 [INFO ] pool-2-thread-9 ACCESS_LOG - /169.254.178.2:41234 "GET /ping '
    'HTTP/1.1" 500 3',
    "a SIGKILL gunicorn guesses is memory": "[2024-03-01 10:00:00 +0000] [42] [ERROR] Worker (pid:51) was sent SIGKILL! "
    "Perhaps out of memory?",
    "SageMaker's failed health check": "The primary container for production variant AllTraffic did not pass the "
    "ping health check. Please check CloudWatch logs for this endpoint.",
}
CAUSE_LINES = {
    "missing-module": "2026-11-28T14:37:14,873 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - ModuleNotFoundError: No "
    "module named 'stygig'",
    "import-error": "ImportError: cannot import name 'service' from 'google.protobuf'",
    "worker-timeout": "[2019-01-03 20:53:14 +0000] [45] [CRITICAL] WORKER TIMEOUT (pid:3906)",
}


@pytest.mark.parametrize("consequence", sorted(CONSEQUENCES))
@pytest.mark.parametrize("cause", sorted(CAUSE_LINES))
def test_a_consequence_line_never_names_the_cause_beside_a_cause_line(consequence, cause):
    for lines in ([CONSEQUENCES[consequence], CAUSE_LINES[cause]], [CAUSE_LINES[cause], CONSEQUENCES[consequence]]):
        ev = evidence_from_text("\n".join(lines))
        assert ev.cause.code == cause, ev.cause.to_dict()
        assert CONSEQUENCES[consequence] not in ev.cause.evidence[:1]


def test_in_the_whole_corpus_a_cause_line_beats_every_consequence():
    """Wherever a cause line matched, the named cause is one of those lines' codes, never a verdict built from
    symptoms (a failing ping, a crash loop)."""
    for path in FILES + corpus_files(HELDOUT):
        ev = evidence_from_text(read_excerpt(path).body)
        causes = [c for c, s in ev.codes.items() if s.kind == "cause"]
        if causes:
            assert ev.cause.code in causes and not ev.cause.details.get("from_symptoms"), path.name


# ------------------------------------------------------------------------------------------------------- CLI


def test_explain_logs_cli_reads_a_file_and_stdin(tmp_path, capsys, monkeypatch):
    body = read_excerpt(CORPUS / "08-missing-module-sklearn-importmoduleerror-xgboost.txt").body
    f = tmp_path / "pasted.log"
    f.write_text(body)
    assert main(["explain-logs", str(f)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("cause: missing-module") and "xgboost" in out
    assert main(["explain-logs", "--json", str(f)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["cause"]["code"] == "missing-module" and doc["cause"]["details"]["package"] == "xgboost"
    import io

    healthy = read_excerpt(CORPUS / "14-healthy-mms-local-mode-startup.txt").body
    monkeypatch.setattr("sys.stdin", io.StringIO(healthy))
    assert main(["explain-logs", "-"]) == 0
    assert capsys.readouterr().out.startswith("cause: healthy")
    assert main(["explain-logs", str(tmp_path / "missing.log")]) == 2
    assert "no such log file" in capsys.readouterr().err
    assert main(["explain-logs"]) == 2
    assert "needs a log file" in capsys.readouterr().err


def test_explain_logs_never_reads_an_excerpts_header_as_log_text(tmp_path, capsys):
    """A corpus excerpt given whole: its header describes the log (here in words that match a cause the healthy
    log does not show) and is not read; a log whose own lines start with '#' (no '---' after them) is read whole."""
    healthy = read_excerpt(CORPUS / "14-healthy-mms-local-mode-startup.txt").body
    f = tmp_path / "excerpt.txt"
    f.write_text("# source: a thread (https://example.org/t/1)\n# expected-cause: healthy\n# expected-detail: "
                 "not 'ModuleNotFoundError: No module named 'xgboost'' as the thread first thought\n---\n" + healthy)
    assert main(["explain-logs", str(f)]) == 0
    out = capsys.readouterr().out
    assert "only the log text after its '---' line is read" in out and "cause: healthy" in out, out
    commented = tmp_path / "commented.log"
    commented.write_text("# ModuleNotFoundError: No module named 'xgboost'\n" + healthy)
    main(["explain-logs", str(commented)])
    assert "excerpt's header" not in capsys.readouterr().out


def test_explain_logs_stops_quietly_when_its_reader_goes_away():
    """`explain-logs --score … --json | head -1`: the reader closes the pipe while the command still writes (its
    output is far larger than a pipe holds); the command stops without a traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "endpoint_runbook.cli", "explain-logs", "--json", "--score",
                             str(CORPUS), str(HELDOUT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"["
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err
