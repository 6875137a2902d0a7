"""A container's memory as its limit — a serverless container's ``MemorySizeInMB``, an instance container's instance
type's memory — enforced the way the kernel enforces a container's: past it, a process of the container is killed
(SIGKILL), the biggest first.

Two mechanisms, the first this machine allows:

- **a memory cgroup (v1)**: a child of the stack's own memory cgroup (``/sys/fs/cgroup/memory/<own>/erb-<id>``)
  with ``memory.limit_in_bytes`` set; the model server is moved into it before it execs (so every process it starts
  is in it too), and the kernel's OOM killer does the rest; ``memory.oom_control`` counts its kills;
- **a watchdog** where no memory cgroup can be made (not root, cgroup v2 only, read-only): a thread sums the
  resident memory of the container's process group every 0.2 s and kills its biggest process with SIGKILL past the
  limit. Coarser than the kernel (an allocation burst shorter than a sample passes).

RLIMIT_AS is not used: it limits address space, not memory, and a JVM (TorchServe's frontend) reserves far more
address space than it uses, so it would not start under a 1–6 GB RLIMIT_AS at all.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from pathlib import Path
from typing import Callable

__all__ = ["MemoryLimit", "cgroup_root"]

_V1 = Path("/sys/fs/cgroup/memory")


def cgroup_root() -> Path | None:
    """This process's own memory cgroup (v1), where child cgroups can be made; None when there is none writable."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                own = _V1 / path.lstrip("/")
                return own if own.is_dir() and os.access(own, os.W_OK) else None
    except (OSError, ValueError):
        return None
    return None


class MemoryLimit:
    """``limit_mb`` for one container; :meth:`preexec` for its Popen, :meth:`watch` once it runs, :meth:`close`
    after it stopped. ``mechanism`` says which one holds the limit."""

    def __init__(self, limit_mb: int, name: str, *, root: Path | None = None, source: str = "MemorySizeInMB"):
        self.limit_mb = int(limit_mb)
        self.source = source  # what sets the limit, as the container's log names it
        self.limit_bytes = self.limit_mb * 1024 * 1024
        self.path: Path | None = None
        self.kills: list[str] = []  # what the watchdog killed (the cgroup's kills are counted by the kernel)
        self._stop = threading.Event()
        root = root if root is not None else cgroup_root()
        if root is not None:
            path = root / f"erb-{name}-{uuid.uuid4().hex[:6]}"
            try:
                path.mkdir()
                if not (path / "cgroup.procs").exists():  # the kernel makes it in a real cgroup: not one
                    raise OSError("not a cgroup")
                (path / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
                if int((path / "memory.limit_in_bytes").read_text()) <= self.limit_bytes:
                    self.path = path
            except (OSError, ValueError):
                try:
                    path.rmdir()
                except OSError:
                    pass
        self.mechanism = "memory cgroup (v1)" if self.path is not None else "watchdog"

    def preexec(self) -> None:
        """In the child, before exec: join the cgroup (everything it starts is in it too)."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def watch(self, pgid: int, say: Callable[[str], None]) -> None:
        """Report the kernel's kills (cgroup), or kill past the limit (watchdog), until :meth:`close`."""
        threading.Thread(target=self._loop, args=(pgid, say), name=f"memory-{pgid}", daemon=True).start()

    def oom_kills(self) -> int:
        if self.path is None:
            return len(self.kills)
        try:
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _loop(self, pgid: int, say: Callable[[str], None]) -> None:
        seen = 0
        while not self._stop.wait(0.2 if self.path is None else 0.5):
            if self.path is None:
                self._enforce(pgid, say)
            kills = self.oom_kills()
            if kills > seen and self.path is not None:
                say(f"[local stack] the container reached its memory limit ({self.limit_mb} MB, {self.source}): the "
                    f"kernel's OOM killer killed a process of it ({kills} so far)")
            seen = kills

    def _enforce(self, pgid: int, say: Callable[[str], None]) -> None:
        procs = _group(pgid)
        total = sum(rss for _, rss, _ in procs)
        if total <= self.limit_bytes or not procs:
            return
        pid, rss, comm = max(procs, key=lambda p: p[1])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills.append(f"{comm} ({pid})")
        say(f"[local stack] the container reached its memory limit ({self.limit_mb} MB, {self.source}): killed "
            f"{comm} (pid {pid}, {rss // 2**20} MiB resident; the container {total // 2**20} MiB)")

    def close(self) -> None:
        self._stop.set()
        if self.path is not None:
            for _ in range(50):  # the cgroup goes once its processes are gone
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    self._stop.wait(0.1)


def _group(pgid: int) -> list[tuple[int, int, str]]:
    """(pid, resident bytes, command) of the live processes of process group ``pgid``."""
    page = os.sysconf("SC_PAGE_SIZE")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[2]) != pgid:
                continue
            rss = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(entry), rss, comm))
    return out
