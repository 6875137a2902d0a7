"""A model container without a network (a model's ``EnableNetworkIsolation``), and the stack's way to its port.

The container's process tree runs in a network namespace of its own with only loopback up: no S3, no package
index, no DNS, nothing of this machine's loopback either. Two bridges keep its inference port reachable from the
stack at the same ``http://127.0.0.1:<port>``:

- inside the namespace, this file run as a wrapper (``unshare --net python netns.py --socket S --port P -- cmd``)
  brings ``lo`` up, forwards connections on the AF_UNIX socket ``S`` (a path in the container's private tmp dir:
  pathname sockets are reachable across network namespaces, the filesystem is shared) to ``127.0.0.1:P`` of the
  namespace, and runs ``cmd`` (the container) as its child, passing on signals and its exit status;
- in the stack's namespace, a :class:`Forwarder` listens on ``127.0.0.1:P`` and forwards each connection to ``S``
  (:func:`stack_bridge`).

As root the namespace is ``unshare --net``; otherwise ``unshare --user --map-root-user --net``. Where neither can be
made, :func:`unshare_prefix` raises :class:`IsolationUnavailable`: the container is not started at all (never run
with the network instead).

Standard library only and no package-relative imports: the wrapper runs by path in the serving environment's Python.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

__all__ = ["Forwarder", "IsolationUnavailable", "isolated_command", "loopback_up", "main", "stack_bridge",
           "unshare_prefix"]

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_probed: dict[tuple[str, ...], str | None] = {}  # an unshare command → None (it works) or why not


class IsolationUnavailable(RuntimeError):
    """No network namespace can be made on this machine; the message says why."""


def unshare_prefix() -> list[str]:
    """The command prefix that runs a command in a new network namespace here. Raises IsolationUnavailable."""
    exe = shutil.which("unshare")
    if not exe:
        raise IsolationUnavailable("this machine has no `unshare` command (util-linux)")
    cmd = (exe, "--net") if os.geteuid() == 0 else (exe, "--user", "--map-root-user", "--net")
    if cmd not in _probed:
        try:
            r = subprocess.run([*cmd, "true"], capture_output=True, text=True, timeout=30)
            why = None if r.returncode == 0 else (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        if why is not None:  # not remembered: a refusal may be lifted (e.g. user namespaces enabled) while we run
            raise IsolationUnavailable(f"`{' '.join(cmd)} true` failed: {why}")
        _probed[cmd] = None
    return list(cmd)


def isolated_command(cmd: list[str], *, python: str, socket_path: Path, port: int) -> list[str]:
    """``cmd`` run without a network: in a new network namespace, under this file's wrapper (``python`` runs it),
    with ``127.0.0.1:port`` of the namespace reachable through ``socket_path``. Raises IsolationUnavailable."""
    return [*unshare_prefix(), python, "-I", str(Path(__file__).resolve()), "--socket", str(socket_path),
            "--port", str(port), "--", *cmd]


def stack_bridge(port: int, socket_path: Path) -> Forwarder:
    """The stack's side: ``127.0.0.1:port`` here forwarded to the container's ``socket_path`` (a connection made
    before the container listens is closed at once, as a refused one)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise

    def connect() -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(str(socket_path))
            s.settimeout(None)
        except OSError:
            s.close()
            raise
        return s

    return Forwarder(listener, connect, name=f"netns-bridge-{port}")


class Forwarder:
    """Accepts connections on ``listener`` and pipes each, both ways, to a new connection from ``connect`` until
    either side closes. :meth:`close` ends it all (listener, every open connection, its threads)."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket], *, name: str = "forwarder"):
        self.listener, self._connect = listener, connect
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        listener.settimeout(0.2)  # accept() wakes up to see close()
        self._acceptor = threading.Thread(target=self._accept, name=name, daemon=True)
        self._acceptor.start()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open) // 2

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = self._connect()
            except OSError:
                client.close()  # nothing listens on the other side (yet): the client sees its connection closed
                continue
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
                pending = [2]
                self._threads = [t for t in self._threads if t.is_alive()]
                for src, dst in ((client, upstream), (upstream, client)):
                    t = threading.Thread(target=self._pipe, args=(src, dst, client, upstream, pending), daemon=True,
                                         name=f"{self._acceptor.name}-pipe")
                    self._threads.append(t)
                    t.start()

    def _pipe(self, src: socket.socket, dst: socket.socket, a: socket.socket, b: socket.socket,
              pending: list[int]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # the other side sees the end of what this side sent
        except OSError:
            pass
        with self._lock:
            pending[0] -= 1
            if pending[0]:
                return
            self._open.difference_update((a, b))
        a.close()
        b.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            conns, threads = list(self._open), list(self._threads)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the pipes' recv()
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)
        for s in conns:
            s.close()


def loopback_up() -> None:
    """Bring ``lo`` up in this process's network namespace (a new one has it down), without the ``ip`` command."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, struct.pack("16sh22x", b"lo", 0))
        flags = struct.unpack("16sh22x", ifreq)[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | _IFF_UP))


def main(argv: list[str] | None = None) -> None:
    """The wrapper, inside the new namespace: loopback up, the socket's forwarder, then the container as a child
    (same process group and output); signals are passed on, and its exit status is this process's."""
    import argparse

    ap = argparse.ArgumentParser(description="Run a command with loopback only, its port reachable through a socket.")
    ap.add_argument("--socket", required=True, help="AF_UNIX socket path to listen on")
    ap.add_argument("--port", required=True, type=int, help="the namespace's 127.0.0.1 port it forwards to")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command to run")
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given after --")
    try:
        loopback_up()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        Path(args.socket).unlink(missing_ok=True)  # a stale one of an earlier run in the same dir
        listener.bind(args.socket)
        listener.listen(64)
    except OSError as e:
        print(f"[local stack] network isolation: could not set up the container's namespace: {e}", file=sys.stderr,
              flush=True)
        sys.exit(1)
    Forwarder(listener, lambda: socket.create_connection(("127.0.0.1", args.port), timeout=5),
              name=f"netns-{args.port}")
    child = subprocess.Popen(cmd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    code = child.wait()
    Path(args.socket).unlink(missing_ok=True)
    if code < 0:  # killed by a signal: this process dies the same way, so that its parent sees what it saw
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
