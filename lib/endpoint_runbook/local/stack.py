"""The embedded local stack: moto's server plus local hosting and runtime, in one long-lived process.

``up()`` starts it as a separate process on loopback and returns once it answers; where it listens (and the
pids of every model container it runs) is kept in a state file, so ``status()`` and ``down()`` work from any
shell. Nothing global is exported: a client points at the stack by its endpoint URL.

Requests are served by moto. Its SageMaker backend is the stack's (``local.sagemaker``, in moto's shape): creates
refuse existing names, CreateEndpoint, UpdateEndpoint (moto lacks it) and DeleteEndpoint start and stop model
containers through ``hosting``. The runtime's InvokeEndpoint/InvokeEndpointAsync reach them (``runtime``).
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import RunbookError
from ..serving.env import cache_root
from .access import authorize

__all__ = ["DEFAULT_PORT", "StackError", "StackInfo", "up", "down", "status", "default_state_dir"]

DEFAULT_PORT = 5479
STATE_FILE = "state.json"
CONTAINERS_DIR = "containers"  # under the state dir: the containers' work dirs (and their instance volumes)
_CRED = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/")
_RUNTIME = re.compile(r"^/endpoints/([^/]+)/(invocations|async-invocations)$")

log = logging.getLogger("endpoint_runbook.local")


class StackError(RunbookError):
    code = "local-stack"


def default_state_dir() -> Path:
    return cache_root() / "local"


# ------------------------------------------------------------------------------------------------------
# The server side (runs in the stack process)
# ------------------------------------------------------------------------------------------------------
class StackApp:
    """WSGI app: the runtime's invocations and the stack's status are handled here, everything else by moto."""

    def __init__(self, moto_app: Callable, hosting: Any, runtime: Any):
        self.moto_app, self.hosting, self.runtime = moto_app, hosting, runtime

    @staticmethod
    def _who(environ: dict[str, Any]) -> tuple[str, str]:
        from moto.iam.models import get_account_id_from

        m = _CRED.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return get_account_id_from(""), "us-east-1"
        return get_account_id_from(m.group(1)), m.group(2)

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _reply(start_response: Callable, status: int, headers: dict[str, str], body: bytes) -> list[bytes]:
        reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 424: "Failed Dependency",
                  500: "Internal Server Error"}.get(status, "")
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/_local/status":
            body = json.dumps(status_payload(self.hosting)).encode()
            return self._reply(start_response, 200, {"Content-Type": "application/json"}, body)
        m = _RUNTIME.match(path)
        if m and method == "POST":
            return self._runtime(environ, start_response, m.group(1), m.group(2))
        return self.moto_app(environ, start_response)

    def _runtime(self, environ: dict[str, Any], start_response: Callable, name: str, kind: str) -> Any:
        from .runtime import RuntimeError_

        account, region = self._who(environ)
        body = self._body(environ)
        action = "sagemaker:InvokeEndpoint" if kind == "invocations" else "sagemaker:InvokeEndpointAsync"
        denied = authorize(environ, body, [(action, f"arn:aws:sagemaker:{region}:{account}:endpoint/{name.lower()}")],
                           s3=False)
        if denied is not None:
            return denied(environ, start_response)
        # Header names compared lower-case, as HTTP says.
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            if kind == "invocations":
                status, h, out = self.runtime.invoke(account, region, name, body, headers)
            else:
                status, h, out = self.runtime.invoke_async(account, region, name, headers)
        except RuntimeError_ as e:
            return self._reply(start_response, e.status, {"x-amzn-ErrorType": e.code, "Content-Type": "application/json"},
                               json.dumps({"message": e.message, **e.extra}).encode())
        return self._reply(start_response, status, h, out)


def status_payload(hosting: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "containers": [c.describe() for c in hosting.all_containers()]}


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def serve(port: int, state_dir: Path, startup_timeout: float, s3_bandwidth: float | None = None, *,
          invocation_timeout: float | None = None, serverless_idle: float | None = None,
          model_download_bandwidth: float | None = None) -> None:
    """The stack process's main loop (``python -m endpoint_runbook.local.stack``)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from . import access
    from .faults import FaultLayer
    from .hosting import DEFAULT_SERVERLESS_IDLE_S, Hosting
    from .runtime import DEFAULT_SYNC_TIMEOUT, Runtime
    from .s3_link import S3Link
    from .sagemaker import install as install_sagemaker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / STATE_FILE
    holder: dict[str, Any] = {}
    lock = threading.Lock()
    info: dict[str, Any] = {"pid": os.getpid(), "port": None, "url": None, "started": time.time(),
                            "state_dir": str(state_dir), "containers": []}

    def on_change() -> None:
        h = holder.get("hosting")
        with lock:
            info["containers"] = [c.describe() for c in h.all_containers()] if h else []
            if info["url"]:
                _write_json_atomic(state_path, info)

    server = make_server("127.0.0.1", port, None, threaded=True, request_handler=MotoRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    hosting = Hosting(server_url=url, work_root=state_dir / CONTAINERS_DIR, startup_timeout=startup_timeout,
                      on_change=on_change, serverless_idle=serverless_idle or DEFAULT_SERVERLESS_IDLE_S,
                      model_download_bandwidth=model_download_bandwidth)
    holder["hosting"] = hosting
    install_sagemaker(hosting)
    access.install()  # IAM enforcement, once switched on (/moto-api/reset-auth), judged as AWS judges it
    runtime = Runtime(hosting, invocation_timeout=invocation_timeout or DEFAULT_SYNC_TIMEOUT)
    # Every request passes the fault layer first (inert until rules are set on /_local/faults).
    # S3 goes through the link layer (bandwidth limit, byte ranges, UploadPartCopy as S3 does it).
    server.app = FaultLayer(S3Link(StackApp(DomainDispatcherApplication(create_backend_app), hosting, runtime),
                                   s3_bandwidth))
    stop = threading.Event()

    def on_signal(signo: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=server.serve_forever, name="server", daemon=True)
    t.start()
    info.update(port=server.server_address[1], url=url)
    on_change()
    log.info("local stack listening on %s", url)
    stop.wait()
    log.info("stopping: %d container(s)", len(hosting.all_containers()))
    runtime.shutdown()
    hosting.shutdown()
    server.shutdown()
    state_path.unlink(missing_ok=True)
    log.info("stopped")


# ------------------------------------------------------------------------------------------------------
# The client side: up / status / down
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackInfo:
    url: str
    pid: int
    port: int
    state_dir: Path
    containers: list[dict[str, Any]]

    @property
    def log_file(self) -> Path:
        return self.state_dir / "stack.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"pid": -1, "corrupt": True}


def _answers(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/_local/status", timeout=3) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def status(state_dir: Path | None = None) -> StackInfo | None:
    """The running stack, or None. A stale state file raises StackError saying what to do."""
    state_dir = Path(state_dir or default_state_dir())
    st = _read_state(state_dir)
    if st is None:
        return None
    if st.get("corrupt") or not _alive(int(st.get("pid", -1))):
        raise StackError(f"stale local-stack state file {state_dir / STATE_FILE} (its process is gone).",
                         code="stale-state", hint="Run `endpoint-runbook local down` to clear it.")
    live = _answers(st["url"]) or {}
    return StackInfo(url=st["url"], pid=int(st["pid"]), port=int(st["port"]), state_dir=state_dir,
                     containers=live.get("containers", st.get("containers", [])))


def _check_port(port: int) -> None:
    if port == 0:
        return
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise StackError(f"port {port} on 127.0.0.1 is in use.", code="port-in-use",
                                 hint="Pass --port N (0 picks a free one), or stop what listens there.") from None
            raise


def preflight() -> None:
    """Everything the stack needs that is not ours to install: one-line errors that say what to do."""
    from ..serving.env import check_java

    try:
        import moto.server  # noqa: F401
        import werkzeug  # noqa: F401
    except ImportError:
        raise StackError("moto's server is not installed.", code="missing-extra",
                         hint="Install the local extra: pip install -e '.[local]'.") from None
    check_java()


def up(*, port: int = DEFAULT_PORT, state_dir: Path | None = None, startup_timeout: float = 600.0,
       timeout: float = 60.0, progress: Callable[[str], None] | None = None,
       s3_bandwidth: float | None = None, images: Sequence[str] = (), invocation_timeout: float | None = None,
       serverless_idle: float | None = None, model_download_bandwidth: float | None = None) -> StackInfo:
    """Start the stack in the background; return once it answers. ``s3_bandwidth``: bytes/s per connection
    for S3 request and response bodies (a slow link for benchmarks and tests; None: unlimited).
    ``invocation_timeout``: seconds the model has to answer an InvokeEndpoint (default SageMaker's 60; shorter makes
    a rehearsal of a hung model quicker); ``serverless_idle``: seconds a serverless container stays warm after its
    last request (default 300); ``model_download_bandwidth``: bytes/s at which an instance downloads its model data
    from S3 (SageMaker's in-region link, which ``s3_bandwidth`` leaves alone; None: unlimited), so that a
    ``ModelDataDownloadTimeoutInSeconds`` can really pass.

    No serving environment is built here unless ``images`` names some: each endpoint's container builds its
    image profile's environment the first time one starts (minutes, once per profile; the endpoint stays
    Creating meanwhile and its log says so). ``images``: build those images' environments now, in this
    shell, so that their errors show here and the first endpoint starts at once."""
    from ..serving.env import ensure_serving_env

    state_dir = Path(state_dir or default_state_dir())
    try:
        running = status(state_dir)
    except StackError:
        raise
    if running is not None:
        raise StackError(f"a local stack is already running at {running.url} (pid {running.pid}).",
                         code="already-running", hint="Use it, or run `endpoint-runbook local down` first.")
    preflight()
    _check_port(port)
    for image in images:
        ensure_serving_env(image, log=progress)
    state_dir.mkdir(parents=True, exist_ok=True)
    logf = open(state_dir / "stack.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "endpoint_runbook.local.stack", "--port", str(port), "--state-dir", str(state_dir),
         "--startup-timeout", str(startup_timeout)] + (["--s3-bandwidth", str(s3_bandwidth)] if s3_bandwidth else [])
        + (["--invocation-timeout", str(invocation_timeout)] if invocation_timeout else [])
        + (["--serverless-idle", str(serverless_idle)] if serverless_idle else [])
        + (["--model-download-bandwidth", str(model_download_bandwidth)] if model_download_bandwidth else []),
        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )
    logf.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir / "stack.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise StackError(f"the local stack exited at start-up: {tail[0] if tail else '?'}",
                             code="start-failed", hint=f"See {state_dir / 'stack.log'}.")
        st = _read_state(state_dir)
        if st and st.get("pid") == proc.pid and st.get("url") and _answers(st["url"]):
            return StackInfo(url=st["url"], pid=proc.pid, port=int(st["port"]), state_dir=state_dir, containers=[])
        time.sleep(0.1)
    proc.kill()
    raise StackError(f"the local stack did not answer within {timeout:.0f} s.", code="start-timeout",
                     hint=f"See {state_dir / 'stack.log'}.")


def _live_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (zombies, which an init that does not reap may
    keep around forever, do not count)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def down(state_dir: Path | None = None, *, timeout: float = 60.0) -> dict[str, Any]:
    """Stop the stack and every container it started; also clears a stale state file. Returns what was
    stopped. Nothing is left running: container process groups are checked and killed if need be."""
    state_dir = Path(state_dir or default_state_dir())
    st = _read_state(state_dir)
    if st is None:
        return {"stopped": False, "reason": "not running"}
    pid = int(st.get("pid", -1))
    pgids = [int(c["pid"]) for c in st.get("containers", []) if c.get("pid")]
    if pid > 0 and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    killed = []
    for pgid in pgids:  # anything the stack could not stop (or a stale state file's leftovers)
        if _live_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
                killed.append(pgid)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while any(_live_members(p) for p in [pid, *pgids] if p > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    from .volume import unmount_stale

    volumes = unmount_stale(state_dir / CONTAINERS_DIR)  # a killed stack's instance volumes hold RAM
    left = [m for p in [pid, *pgids] if p > 0 for m in _live_members(p)]
    if left:
        raise StackError(f"processes still running after stop: {left}", code="stop-failed",
                         hint="Kill them by hand (kill -9).")
    return {"stopped": True, "pid": pid, "containers": len(pgids), "killed_leftovers": killed,
            "stale_volumes": [str(v) for v in volumes]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m endpoint_runbook.local.stack")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--state-dir", type=Path, default=default_state_dir())
    ap.add_argument("--startup-timeout", type=float, default=600.0)
    ap.add_argument("--s3-bandwidth", type=float, default=None, help="bytes/s per connection for S3 bodies")
    ap.add_argument("--invocation-timeout", type=float, default=None, help="seconds the model has to answer")
    ap.add_argument("--serverless-idle", type=float, default=None, help="seconds a serverless container stays warm")
    ap.add_argument("--model-download-bandwidth", type=float, default=None,
                    help="bytes/s at which an instance downloads its model data from S3")
    args = ap.parse_args(argv)
    serve(args.port, args.state_dir, args.startup_timeout, args.s3_bandwidth,
          invocation_timeout=args.invocation_timeout, serverless_idle=args.serverless_idle,
          model_download_bandwidth=args.model_download_bandwidth)


if __name__ == "__main__":
    main()
