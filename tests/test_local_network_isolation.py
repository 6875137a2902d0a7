"""A model with ``EnableNetworkIsolation`` runs without a network on the local stack (``serving.netns``).

Quick: the wrapper and the bridges in a real network namespace (a tiny HTTP server inside answers through them,
while the host's loopback and DNS are out of its reach; exit status and signals are passed on; stop leaves nothing),
the isolated container's pip environment, and the refusal when no namespace can be made.
Slow (real containers): an isolated endpoint serves through the bridge; with a code/requirements.txt naming a package
the image lacks, pip cannot reach any index and the model never serves, while the same archive without isolation
installs and serves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.config
import botocore.exceptions
import pytest
from endpoint_runbook.serving import netns
from endpoint_runbook.serving.server import container_env, start_model_server
from stacks import log_text, stack_with_bucket, wait_settled
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

REGION = "ap-south-1"

#: Inside the namespace: report whether the host's listener and DNS are reachable, then serve on the bridged port.
_INNER = """
import http.server, socket, sys
port, host_port = int(sys.argv[1]), int(sys.argv[2])
try:
    socket.create_connection(("127.0.0.1", host_port), timeout=3).close()
    print("host loopback: reached", flush=True)
except OSError as e:
    print("host loopback: " + type(e).__name__, flush=True)
try:
    socket.getaddrinfo("pypi.org", 443)
    print("dns: resolved", flush=True)
except OSError as e:
    print("dns: " + type(e).__name__, flush=True)

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"inside " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _get(url: str, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return r.read()
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _isolated(tmp: Path, inner: list[str]) -> tuple[netns.Forwarder, int, subprocess.Popen]:
    """``inner`` (``{port}`` in it: the bridged port) run in a namespace of its own, behind its bridge."""
    sock = tmp / "net.sock"
    bridge = netns.stack_bridge(0, sock)
    port = bridge.listener.getsockname()[1]
    cmd = netns.isolated_command([a.replace("{port}", str(port)) for a in inner], python=sys.executable,
                                 socket_path=sock, port=port)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return bridge, port, proc


@pytest.fixture()
def short_tmp():
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="erb-nt-"))  # AF_UNIX paths are short: not pytest's long tmp_path
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_inside_the_namespace_a_server_answers_through_the_bridge_and_the_host_is_out_of_reach(short_tmp):
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(8)  # a listener on the host's loopback: reachable from here, not from inside
    host_port = host.getsockname()[1]
    socket.create_connection(("127.0.0.1", host_port), timeout=3).close()
    host.accept()[0].close()
    bridge, port, proc = _isolated(short_tmp, [sys.executable, "-c", _INNER, "{port}", str(host_port)])
    try:
        assert proc.stdout is not None
        # a connection before the server listens is closed, not hung: urllib sees an error and retries
        assert _get(f"http://127.0.0.1:{port}/ping") == b"inside /ping"
        assert _get(f"http://127.0.0.1:{port}/invocations?x=1") == b"inside /invocations?x=1"
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines == ["host loopback: ConnectionRefusedError", "dns: gaierror"], lines
        host.settimeout(0.5)
        with pytest.raises(socket.timeout):
            host.accept()  # nothing from inside ever arrived
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=10)
        bridge.close()
        host.close()
    assert code == -signal.SIGTERM  # the wrapper dies of its child's signal
    assert not (short_tmp / "net.sock").exists()  # and removes its socket
    assert bridge.open_connections == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(f"netns-bridge-{port}")]
    with pytest.raises(OSError):  # the stack's side of the port is closed
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_the_wrapper_passes_on_the_exit_status_and_the_signals_it_gets(short_tmp):
    bridge, _, proc = _isolated(short_tmp, [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    try:
        assert proc.communicate(timeout=30)[0].strip() == "out" and proc.returncode == 3
    finally:
        bridge.close()
    # SIGTERM to the wrapper alone reaches its child, which exits on its own terms
    child = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\nprint('up', flush=True)\n" \
            "time.sleep(60)"
    bridge, _, proc = _isolated(short_tmp, [sys.executable, "-c", child])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
    finally:
        bridge.close()


def test_an_isolated_containers_pip_gets_none_of_this_machines_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_INDEX_URL", "file:///opt/pypi/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///opt/pypi-more/simple")
    connected = container_env(None, home=tmp_path / "h1", tmp=tmp_path / "t1", pip=True)
    assert connected["PIP_FIND_LINKS"] == "/opt/wheels" and connected["PIP_INDEX_URL"] == "file:///opt/pypi/simple"
    isolated = container_env(None, home=tmp_path / "h2", tmp=tmp_path / "t2", pip=True, network=False)
    assert {k: v for k, v in isolated.items() if k.startswith("PIP_")} == {
        "PIP_CONFIG_FILE": os.devnull, "PIP_CACHE_DIR": str(tmp_path / "h2" / ".cache" / "pip")}
    # the model's own Environment is the model's: kept
    own = container_env(None, home=tmp_path / "h3", tmp=tmp_path / "t3", pip=True, network=False,
                        environment={"PIP_INDEX_URL": "https://pypi.example.internal/simple"})
    assert own["PIP_INDEX_URL"] == "https://pypi.example.internal/simple"


def test_without_a_way_to_make_a_namespace_the_container_is_not_started(tmp_path, monkeypatch):
    from endpoint_runbook.serving.env import ServingEnv

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no unshare on this PATH
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("erb-ts-*"))
    with pytest.raises(netns.IsolationUnavailable, match="no `unshare` command"):
        start_model_server(ServingEnv(tmp_path / "env"), base_dir=tmp_path / "ml", workdir=tmp_path / "w",
                           network=False)
    assert not (tmp_path / "w").exists()
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("erb-ts-*")) == before  # nothing made, nothing left


# -- on the stack (real containers) ------------------------------------------------------------------------------
TABULATE_MODEL = INFERENCE.replace(b"import json\n", b"import json\nimport tabulate\n", 1)
ARCHIVE = tar_gz({"code/inference.py": TABULATE_MODEL, "code/tinypkg/__init__.py": TINYPKG,
                  "code/requirements.txt": b"tabulate==0.9.0\n"})


@pytest.fixture(scope="module")
def iso(tmp_path_factory):
    with stack_with_bucket(tmp_path_factory, "netiso-stack", region=REGION, prefix="iso", startup_timeout=180) as iso:
        yield iso


def _endpoint(iso, name: str, archive: bytes, *, isolated: bool) -> None:
    sm, key = iso["c"]["sagemaker"], f"{name}/model.tar.gz"
    iso["c"]["s3"].put_object(Bucket=iso["bucket"], Key=key, Body=archive)
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny",
                    EnableNetworkIsolation=isolated, PrimaryContainer={
                        "Image": IMAGE, "ModelDataUrl": f"s3://{iso['bucket']}/{key}",
                        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
    assert sm.describe_model(ModelName=name)["EnableNetworkIsolation"] is isolated
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _wait(iso, name: str, timeout: float = 300) -> dict:
    return wait_settled(iso["c"]["sagemaker"], name, timeout)


def _invoke(iso, name: str) -> dict:
    out = iso["c"]["runtime"].invoke_endpoint(EndpointName=name, Body=json.dumps({"x": [1, 2]}).encode(),
                                              ContentType="application/json")
    return json.loads(out["Body"].read())


@pytest.mark.slow
def test_an_isolated_endpoint_serves_through_the_bridge(iso):
    name = f"iso-ok-{iso['tag']}"
    _endpoint(iso, name, tar_gz({"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG}), isolated=True)
    try:
        d = _wait(iso, name)
        text = log_text(iso["c"]["logs"], f"/aws/sagemaker/Endpoints/{name}")
        assert d["EndpointStatus"] == "InService", (d.get("FailureReason"), text[-3000:])
        assert _invoke(iso, name) == {"answer": 105}
        assert "[local stack] EnableNetworkIsolation: the container has no network" in text, text[-3000:]
    finally:
        iso["c"]["sagemaker"].delete_endpoint(EndpointName=name)


@pytest.mark.slow
def test_requirements_install_and_serve_with_the_network_and_not_without(iso):
    sm, logs = iso["c"]["sagemaker"], iso["c"]["logs"]
    # With this machine's network (its pip plumbing): tabulate installs, the model imports it and serves. Its
    # layer is cached for later containers of the same requirements: the isolated one below must not use it.
    plain = f"iso-net-{iso['tag']}"
    _endpoint(iso, plain, ARCHIVE, isolated=False)
    try:
        d = _wait(iso, plain)
        text = log_text(logs, f"/aws/sagemaker/Endpoints/{plain}")
        assert d["EndpointStatus"] == "InService", (d.get("FailureReason"), text[-3000:])
        assert _invoke(iso, plain) == {"answer": 105}
        assert "EnableNetworkIsolation" not in text
    finally:
        sm.delete_endpoint(EndpointName=plain)
    # The same archive, isolated: pip reaches no index (not even this machine's local ones) and the model never
    # serves.
    name = f"iso-pip-{iso['tag']}"
    _endpoint(iso, name, ARCHIVE, isolated=True)
    try:
        d = _wait(iso, name)
        group = f"/aws/sagemaker/Endpoints/{name}"
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline:  # the last lines are shipped every 0.5 s
            text = log_text(logs, group)
            if "No matching distribution found for tabulate" in text:
                break
            time.sleep(1)
        assert d["EndpointStatus"] == "Failed", (d["EndpointStatus"], text[-3000:])
        assert "installing packages from requirements.txt" in text, text[-3000:]
        assert "ERROR: No matching distribution found for tabulate==0.9.0" in text, text[-3000:]
        assert "Failed to establish a new connection" in text and "/simple/tabulate/" in text, text[-3000:]
        assert "file:///opt" not in text and "/opt/wheels" not in text, text[-3000:]  # no local index was asked
        assert "WorkerLoadTime" not in text  # the model never loaded
        with pytest.raises(botocore.exceptions.ClientError):
            _invoke(iso, name)
        print("\n".join(line for line in text.splitlines() if "tabulate" in line or "connection" in line.lower()))
    finally:
        sm.delete_endpoint(EndpointName=name)
