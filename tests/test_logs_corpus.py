"""The real-log corpus (tests/data/logs-corpus/, copied from shared/logs-corpus with each file's source header):
every file classified as its header's ``expected-cause`` says, through every input form a user may bring it
in (pasted text, CloudWatch events one per line or one multi-line event, the console's CSV export and
copy-paste, local mode's docker-compose prefixes, a markdown fence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from endpoint_runbook.cli import main
from endpoint_runbook.logs import LogEvent, events_from_text, evidence_from_events, evidence_from_text

CORPUS = Path(__file__).parent / "data" / "logs-corpus"
FILES = sorted(CORPUS.glob("[0-9]*.txt"))


def _read(path: Path) -> tuple[dict[str, str], str]:
    head, sep, body = path.read_text().partition("\n---\n")
    assert sep, f"{path.name}: no header separator"
    meta = {}
    for line in head.splitlines():
        key, _, value = line.lstrip("# ").partition(":")
        meta[key.strip()] = value.strip()
    return meta, body


def test_the_corpus_is_all_here_with_headers():
    assert len(FILES) == 22
    for p in FILES:
        meta, body = _read(p)
        assert meta["source"] and meta["expected-cause"] and body.strip(), p.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:40])
def test_each_file_is_classified_as_its_header_says(path):
    meta, body = _read(path)
    ev = evidence_from_text(body)
    assert ev.cause.code == meta["expected-cause"], ev.cause.to_dict()
    if meta["expected-cause"] == "healthy":
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
def test_every_file_keeps_its_cause_in_every_input_form(form):
    wrong = {}
    for path in FILES:
        meta, body = _read(path)
        data = _forms(body)[form]
        ev = evidence_from_events(data) if isinstance(data, list) else evidence_from_text(data)
        if ev.cause.code != meta["expected-cause"]:
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
    "09-": {"library": "libcuda.so.1"},
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
}


@pytest.mark.parametrize("prefix", sorted(DETAILS))
def test_causes_carry_the_detail(prefix):
    (path,) = [p for p in FILES if p.name.startswith(prefix)]
    details = evidence_from_text(_read(path)[1]).cause.details
    assert {k: details.get(k) for k in DETAILS[prefix]} == DETAILS[prefix]


def test_noise_is_labelled_not_a_cause():
    _meta, body = _read(CORPUS / "01-requirements-install-failed-tfs-ei-pip3.txt")
    ev = evidence_from_text(body)
    assert ev.noise == {"pip-notice": 1}
    assert not any("You are using pip" in e for e in ev.cause.evidence)


def test_explain_logs_cli_reads_a_file_and_stdin(tmp_path, capsys, monkeypatch):
    _meta, body = _read(CORPUS / "08-missing-module-sklearn-importmoduleerror-xgboost.txt")
    f = tmp_path / "pasted.log"
    f.write_text(body)
    assert main(["explain-logs", str(f)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("cause: missing-module") and "xgboost" in out
    assert main(["explain-logs", "--json", str(f)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["cause"]["code"] == "missing-module" and doc["cause"]["details"]["package"] == "xgboost"
    import io

    _meta, healthy = _read(CORPUS / "14-healthy-mms-local-mode-startup.txt")
    monkeypatch.setattr("sys.stdin", io.StringIO(healthy))
    assert main(["explain-logs", "-"]) == 0
    assert capsys.readouterr().out.startswith("cause: healthy")
    assert main(["explain-logs", str(tmp_path / "missing.log")]) == 2
    assert "no such log file" in capsys.readouterr().err
