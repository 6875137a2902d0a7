"""No network for model code run here, and a record of every host it tried to reach.

The load check runs ``model_fn`` with ``HTTP_PROXY``/``HTTPS_PROXY`` (and their lower-case and ``ALL_PROXY``
forms) pointing at a :class:`RefusingProxy` on loopback: every HTTP(S) request the model's libraries make goes
there first (``requests``/urllib3, ``urllib.request`` and so ``torch.hub``, ``huggingface_hub``'s HTTP client,
``hf_xet``), the proxy notes the host (``CONNECT host:443`` or the absolute URL of a plain request) and answers
``403`` at once, so nothing leaves the machine and no one waits for a DNS or connect timeout. The check's child
process refuses any other connection (and any name lookup) to anything but loopback, and notes it too
(``serving/loadcheck_child.py``); the two records are joined by the client's port.

What this says is this machine's result: the host the model needs at start-up. Whether the endpoint reaches
it depends on the endpoint's network (``EnableNetworkIsolation``, ``VpcConfig``: see ``network_reach``).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ProxyAttempt", "RefusingProxy", "proxy_env"]

_BODY = b"endpoint-runbook load check: no network here; the request was refused and recorded.\n"


@dataclass(frozen=True)
class ProxyAttempt:
    client_port: int
    method: str
    host: str
    port: int
    target: str  # host:port of a CONNECT, or the URL of a plain request
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"client_port": self.client_port, "method": self.method, "host": self.host, "port": self.port,
                "target": self.target}


def proxy_env(url: str) -> dict[str, str]:
    """The variables that send every HTTP(S) client's requests to the proxy at ``url`` (none bypassed)."""
    return {k: url for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")} | {
        "NO_PROXY": "", "no_proxy": ""}


def _parse(head: bytes) -> tuple[str, str, str, int] | None:
    """(method, target, host, port) of a proxy request's first line."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace").strip()
    parts = line.split()
    if len(parts) < 2:
        return None
    method, target = parts[0].upper(), parts[1]
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return method, target, host.strip("[]") or target, int(port) if port.isdigit() else 443
    rest = target.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
    default = 443 if target.lower().startswith("https") else 80
    return method, target, host or authority, int(port) if port.isdigit() else default


class RefusingProxy:
    """An HTTP(S) proxy on ``127.0.0.1`` that refuses every request and records where it was going
    (``attempts``). Use as a context manager; ``url`` and ``env()`` point clients at it."""

    def __init__(self) -> None:
        self.attempts: list[ProxyAttempt] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="refusing-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return proxy_env(self.url)

    def __enter__(self) -> RefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        try:
            # wake accept()
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            if self._stop.is_set():
                conn.close()
                return
            threading.Thread(target=self._answer, args=(conn, peer), daemon=True).start()

    def _answer(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except OSError:
                pass
            parsed = _parse(head) if head else None
            if parsed is not None:
                method, target, host, port = parsed
                self.attempts.append(ProxyAttempt(peer[1], method, host, port, target, time.time()))
            try:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)
            except OSError:
                pass
