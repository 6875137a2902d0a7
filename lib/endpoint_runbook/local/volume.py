"""An instance's ML storage volume (a production variant's ``VolumeSizeInGB``) on the local stack: a size-limited
tmpfs mounted at the container's work dir before its model data is fetched, so the model data (``ml/model``),
the archive being extracted, what the toolkit and TorchServe write, the container's temp dir and home (linked onto
it) and its private requirements layer all count, and past its size a write fails with the container's own
``OSError: [Errno 28] No space left on device``.

A volume is a limit, not a security boundary (unlike network isolation, where a container that cannot be isolated
does not run): where no size-limited mount can be made here (not root, mount refused) the container runs on this
machine's disk, and its log says that the size is NOT enforced and why.

tmpfs pages are RAM: a volume holds as much memory as was written to it (nothing while empty), at most its size.
Pages the model's own processes write are charged to the container's memory cgroup as well, so on the stack what
a model writes to its volume also counts against its instance type's memory (on SageMaker the volume is EBS).
A volume is unmounted when its container stops, before its work dir is removed; volumes a crashed stack left under
its work root are unmounted when a stack starts there (:func:`unmount_stale`) and by ``local down``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import time
from pathlib import Path

__all__ = ["FS_NAME", "Volume", "filled", "mounts_under", "unmount_stale"]

#: The source name of the stack's tmpfs volumes in /proc/self/mounts: how the stack tells its own mounts.
FS_NAME = "erb-volume"
_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount(path: Path, size_bytes: int) -> None:
    opts = f"size={size_bytes},mode=0755".encode()
    if _libc.mount(FS_NAME.encode(), os.fsencode(path), b"tmpfs", 0, opts) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _umount(path: Path, flags: int = 0) -> int:
    """0, else the errno of umount2(2)."""
    return 0 if _libc.umount2(os.fsencode(path), flags) == 0 else ctypes.get_errno()


class Volume:
    """A volume of ``size_gib`` GiB at ``path`` (or exactly ``size_bytes``): :meth:`mount` before anything is
    written there, :meth:`unmount` once nothing runs on it. ``enforced`` says whether the size holds; ``why_not``
    why it does not."""

    def __init__(self, path: Path, size_gib: int, *, size_bytes: int | None = None):
        self.path = Path(path)
        self.size_gib = size_gib
        self.size_bytes = size_bytes if size_bytes is not None else int(size_gib) * 2**30
        self.enforced = False
        self.why_not: str | None = None

    def mount(self) -> bool:
        """Mount the tmpfs at ``path`` (made if need be; it must be empty). False (``why_not`` set) when it cannot
        be made: the path then stays a plain dir on this machine's disk."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            _mount(self.path, self.size_bytes)
        except OSError as e:
            hint = f" (the stack runs as uid {os.geteuid()}, not root)" if os.geteuid() != 0 else ""
            self.why_not = f"mounting a {self.size_gib} GiB tmpfs at {self.path} failed: {e}{hint}"
            return False
        self.enforced = True
        return True

    def used_bytes(self) -> int:
        """Bytes in use on the volume (0 when it is not mounted)."""
        if not self.enforced:
            return 0
        try:
            st = os.statvfs(self.path)
        except OSError:
            return 0
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def unmount(self) -> None:
        """Unmount it (its RAM is freed). Busy (a process still holds a file on it): detached, freed once that
        process is gone. Idempotent."""
        if not self.enforced:
            return
        self.enforced = False
        for _ in range(20):
            err = _umount(self.path)
            if err in (0, errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point (any more)
                return
            if err != errno.EBUSY:
                break
            time.sleep(0.1)
        _umount(self.path, _MNT_DETACH)


def filled(e: BaseException | None) -> OSError | None:
    """The ``[Errno 28] No space left on device`` behind ``e`` (itself, its cause or its context), else None."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return e
        e = e.__cause__ or e.__context__
        seen += 1
    return None


def _unescape(field: str) -> str:
    r"""A /proc/self/mounts field (space, tab, newline and backslash are octal escapes: ``\040``)."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def mounts_under(root: Path) -> list[Path]:
    """The stack's volumes (tmpfs named :data:`FS_NAME`) mounted at or below ``root``, deepest first."""
    root = Path(os.path.abspath(root))
    out = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0] != FS_NAME or fields[2] != "tmpfs":
            continue
        point = Path(_unescape(fields[1]))
        if point == root or point.is_relative_to(root):
            out.append(point)
    return sorted(out, key=lambda p: len(p.parts), reverse=True)


def unmount_stale(root: Path) -> list[Path]:
    """Unmount the volumes a crashed stack left at or below ``root`` (their RAM is freed). Returns their paths."""
    gone = []
    for point in mounts_under(root):
        if _umount(point) not in (0, errno.EINVAL):
            _umount(point, _MNT_DETACH)
        gone.append(point)
    return gone
