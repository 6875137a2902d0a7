"""model_fn failures named by sub-cause, on real log excerpts (tests/data/logs, headers kept) and real errors."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from endpoint_runbook.endpoint.startup_failure import classify_startup_failure

LOGS = Path(__file__).parent / "data" / "logs"


def _last_exception(path: Path) -> tuple[str, str, str]:
    body = path.read_text().split("---", 1)[1]
    m = [x for x in re.finditer(r"^(\w+(?:Error|Exception)): (.*)$", body, re.M)][0]
    return m.group(1), m.group(2), body


def test_cloudpickle_saved_elsewhere_is_a_version_mismatch():
    et, msg, tb = _last_exception(LOGS / "05-model-fn-error-sklearn-cloudpickle-code-args.txt")
    assert et == "TypeError"
    assert classify_startup_failure(et, msg, tb).sub_cause == "version-mismatch"


def test_an_index_error_in_the_model_code_is_not_forced_into_a_sub_cause():
    et, msg, tb = _last_exception(LOGS / "17-model-fn-error-xgboost-algorithm-mode-no-model-file.txt")
    assert classify_startup_failure(et, msg, tb).sub_cause == "model-fn-exception"


def test_real_network_errors_are_network_at_startup():
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen("https://hub.zoo.invalid/weights.bin", timeout=5)
    f = classify_startup_failure(type(e.value).__name__, str(e.value))
    assert f.sub_cause == "network-at-startup" and "internet" in f.advice
    s = socket.socket()
    with pytest.raises(ConnectionRefusedError) as e2:
        s.connect(("127.0.0.1", 1))
    s.close()
    assert classify_startup_failure(type(e2.value).__name__, str(e2.value)).sub_cause == "network-at-startup"


def test_missing_file_names_the_archive_path(tmp_path):
    model_dir = tmp_path / "ml" / "model"
    model_dir.mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as e:
        open(model_dir / "weights" / "clip.bin", "rb")
    f = classify_startup_failure("FileNotFoundError", str(e.value), model_dir=str(model_dir))
    assert f.sub_cause == "missing-artifact" and f.data["archive_path"] == "weights/clip.bin"


def test_memory_errors_and_kills_are_out_of_memory():
    with pytest.raises(MemoryError) as e:
        bytearray(1 << 50)
    assert classify_startup_failure("MemoryError", str(e.value)).sub_cause == "out-of-memory"
    assert classify_startup_failure(None, None, exit_code=-9).sub_cause == "out-of-memory"
