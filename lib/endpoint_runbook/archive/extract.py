"""Safe extraction: never writes outside the destination, refuses hostile members before writing."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from typing import Any, BinaryIO

from ..errors import InputError
from .inventory import ArchiveInventory, Limits, _read_tar, _show
from .tarstream import (
    Member,
)

#: Files outside ``code/`` up to this size are written for the load check (config.json and the like).
SMALL_FILE_BYTES = 1 << 20


def safe_extract(stream: BinaryIO, dest: str | os.PathLike[str], limits: Limits | None = None) -> ArchiveInventory:
    """Extract a gzip'd tar into ``dest`` (created if missing), streaming, never writing outside it.

    Refuses (InputError with the finding code) traversal, absolute paths, links outside, devices/fifos,
    corrupt or truncated data, bombs and limit overruns — checked per member before anything is written
    for it, plus a realpath check of every target (as tarfile's ``data`` filter). Modes: setuid/setgid/
    sticky and group/other write bits are cleared; owners are not applied. On error ``dest`` may hold a
    partial extraction: use a fresh directory and discard it.
    """
    limits = limits or Limits()
    root = os.path.realpath(os.fspath(dest))
    os.makedirs(root, exist_ok=True)
    cur: dict[str, Any] = {"fd": None, "left": 0, "path": None, "m": None}

    def inside(p: str) -> bool:
        return p == root or p.startswith(root + os.sep)

    def target_of(m: Member) -> str:
        rel = m.path
        t = os.path.join(root, *[os.fsdecode(os.fsencode(x)) for x in rel.split("/") if x not in ("", ".")])
        parent = os.path.realpath(os.path.dirname(t))
        if not inside(parent) or not inside(os.path.normpath(t)):
            raise InputError(f"refusing member {_show(m.name)!r}: it resolves outside {root}", code="unsafe-path")
        return t

    def close_current() -> None:
        fd = cur["fd"]
        if fd is not None:
            m: Member = cur["m"]
            os.close(fd)
            cur["fd"] = None
            os.chmod(cur["path"], (m.mode & 0o755) | 0o600)
            os.utime(cur["path"], (m.mtime, m.mtime))

    def remove_existing(t: str) -> None:
        try:
            st = os.lstat(t)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"refusing to replace directory {t} by a non-directory", code="duplicate-member")
        os.unlink(t)

    def on_member(m: Member, raw: bytes) -> None:
        close_current()
        if m.path in ("", ".") or (m.type == "dir" and m.path.strip("/") in ("", ".")):  # the root (SDK repack)
            return
        t = target_of(m)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        if m.type == "dir":
            if os.path.islink(t):
                raise InputError(f"refusing directory {_show(m.name)!r} over a symlink", code="link-outside")
            os.makedirs(t, exist_ok=True)
        elif m.type == "file":
            remove_existing(t)
            fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            cur.update(fd=fd, left=m.size, path=t, m=m)
            if m.size == 0:
                close_current()
        elif m.type == "symlink":
            remove_existing(t)
            os.symlink(m.linkname, t)
            if not inside(os.path.realpath(t)):
                os.unlink(t)
                raise InputError(f"refusing symlink {_show(m.name)!r}: it resolves outside {root}",
                                 code="link-outside")
        elif m.type == "hardlink":
            src = os.path.join(root, *[x for x in posixpath.normpath(m.linkname).split("/") if x not in ("", ".")])
            rsrc = os.path.realpath(src)
            if not inside(rsrc) or not os.path.isfile(rsrc):
                raise InputError(f"refusing hard link {_show(m.name)!r} to {_show(m.linkname)!r}: no such file "
                                 "inside the archive", code="link-outside")
            remove_existing(t)
            try:
                os.link(rsrc, t)
            except OSError:
                import shutil

                shutil.copyfile(rsrc, t)
        else:  # refused earlier by the collector; defence in depth
            raise InputError(f"refusing special member {_show(m.name)!r}", code="special-member")

    def on_data(m: Member, mv: memoryview) -> None:
        fd = cur["fd"]
        if fd is None or cur["m"] is not m:
            return
        while mv:
            n = os.write(fd, mv)
            mv = mv[n:]
            cur["left"] -= n
        if cur["left"] <= 0:
            close_current()

    try:
        inv, *_ = _read_tar(stream, limits, on_member=on_member, on_data=on_data, refuse=True)
    finally:
        if cur["fd"] is not None:
            os.close(cur["fd"])
            cur["fd"] = None
    return inv


# ---------------------------------------------------------------------------------------------------------
# rebuild
# ---------------------------------------------------------------------------------------------------------


class CheckFiles:
    """An ``on_data`` sink that writes the members a load check needs (``code/`` and files up to ``small``
    bytes) under ``root`` and counts the rest (``withheld``): a model's code from one read of its archive,
    with its weights left where they are. A member that would land outside ``root`` is refused (``strict``,
    InputError ``unsafe-path``) or skipped (the inventory reports it); links and special members are not made.
    """

    def __init__(self, root: str | os.PathLike[str], small: int = SMALL_FILE_BYTES, *, strict: bool = True):
        self.root = os.path.realpath(os.fspath(root))
        self.small = small
        self.strict = strict
        self.member: Member | None = None
        self.fh: Any = None
        self.written = 0
        self.files: list[str] = []
        self.withheld: dict[str, int] = {}

    def wants(self, m: Member) -> bool:
        return m.type == "file" and (m.path.startswith("code/") or m.size <= self.small)

    def _open(self, m: Member) -> Any:
        target = os.path.realpath(os.path.join(self.root, *m.path.split("/")))
        if not target.startswith(self.root + os.sep):
            if not self.strict:
                return None
            raise InputError(f"refusing member {m.path!r}: it resolves outside the check dir", code="unsafe-path")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self.files.append(m.path)
        return open(target, "wb")

    def __call__(self, m: Member, mv: memoryview) -> None:
        if m is not self.member:
            self.close()
            self.member = m
            if self.wants(m):
                self.fh = self._open(m)
            elif m.type == "file":
                self.withheld[m.path] = m.size
        if self.fh is not None:
            self.fh.write(mv)
            self.written += len(mv)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def finish(self, members: Iterable[tuple[str, str, int]]) -> None:
        """Empty files never reach ``on_data``: create those of ``members`` (path, type, size) that are wanted;
        files with content were written already."""
        self.close()
        for path, kind, size in members:
            if kind == "file" and not size and path not in self.files:
                m = Member(path, "file", 0, 0o644, 0)
                if self.wants(m) and (fh := self._open(m)) is not None:
                    fh.close()


def place_additions(additions: Iterable[tuple[str | os.PathLike[str], str]], model_dir: str | os.PathLike[str]) -> None:
    """Lay additions (a folder or file on disk, its archive path) into an extracted model folder, as a rebuilt
    archive would hold them (caches and bytecode left out), for a check of the result before it is built."""
    import shutil
    from pathlib import Path

    from .rebuild import default_skip

    for source, target in additions:
        dst = Path(model_dir) / str(target).strip("/")
        if Path(source).is_dir():
            def ignore(folder: str, names: list[str], _root: str = str(source)) -> set[str]:
                rel = os.path.relpath(folder, _root).replace(os.sep, "/")
                return {n for n in names if default_skip(posixpath.join(rel, n) if rel != "." else n,
                                                         os.path.isdir(os.path.join(folder, n)))}
            shutil.copytree(source, dst, dirs_exist_ok=True, ignore=ignore)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst)
