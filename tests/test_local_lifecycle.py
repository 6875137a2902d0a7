"""`endpoint-runbook local up|status|down`: bad situations get one-line errors that say what to do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from endpoint_runbook.local import stack


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "endpoint_runbook.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_up_status_down_leaves_no_process(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(cache))
    info = stack.up(port=0, state_dir=tmp_path)
    try:
        assert stack.status(tmp_path).url == info.url
        # `up` builds no serving environment: each is built when the first endpoint on its image starts.
        assert not (cache / "serving").exists()
        with pytest.raises(stack.StackError) as e:
            stack.up(port=0, state_dir=tmp_path)
        assert e.value.code == "already-running" and "local down" in str(e.value)
        r = cli("local", "status", "--state-dir", str(tmp_path))
        assert r.returncode == 0 and info.url in r.stdout
    finally:
        result = stack.down(tmp_path)
    assert result["stopped"] and not stack._live_members(info.pid)
    assert not (tmp_path / "state.json").exists()
    assert stack.status(tmp_path) is None
    assert stack.down(tmp_path) == {"stopped": False, "reason": "not running"}


def test_port_in_use_is_named(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("local", "up", "--port", str(port), "--state-dir", str(tmp_path))
    assert r.returncode == 2
    assert f"port {port}" in r.stderr and "--port" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_stale_state_file_says_what_to_do(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "state.json").write_text(json.dumps({"pid": dead.pid, "port": 1, "url": "http://127.0.0.1:1",
                                                     "containers": []}))
    r = cli("local", "up", "--port", "0", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "stale" in r.stderr and "local down" in r.stderr
    r = cli("local", "down", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and not (tmp_path / "state.json").exists()


def test_java_missing_is_named(tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))  # no java on this PATH
    r = cli("local", "up", "--port", "0", "--state-dir", str(tmp_path), env=env)
    assert r.returncode == 2 and "Java" in r.stderr and "openjdk" in r.stderr
