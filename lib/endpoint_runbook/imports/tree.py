"""The archive's files as the import system sees them: folders, packages, modules, extension modules."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .records import MODEL_DIR

__all__ = ["ArchiveTree", "archive_dir", "join", "norm", "walk_names"]

_EXT_SUFFIX = re.compile(r"^(?P<name>[A-Za-z_]\w*)\.(?:[\w.-]+\.)?(?:so|pyd)$")


class ArchiveTree:
    """The archive's files, by normalised member path; sources read lazily for a directory."""

    def __init__(self, files: Mapping[str, bytes | None] | str | os.PathLike[str]):
        self.root: Path | None = None
        self.data: dict[str, bytes | None] = {}
        if isinstance(files, (str, os.PathLike)):
            self.root = Path(files)
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames[:] = [d for d in dirnames if d != "__pycache__"]
                rel = os.path.relpath(dirpath, self.root)
                for name in filenames:
                    self.data[norm(name if rel == "." else f"{rel}/{name}")] = None
        else:
            for name, content in files.items():
                n = norm(name)
                if n:
                    self.data[n] = content
        self.dirs: set[str] = {""}
        self.children: dict[str, set[str]] = {}
        self._ext: dict[str, dict[str, str]] = {}
        for name in list(self.data):
            if name.endswith("/"):  # a directory member
                self.data.pop(name)
                name = name.rstrip("/")
                self._add_dir(name)
                continue
            parent, _, base = name.rpartition("/")
            self._add_dir(parent)
            self.children.setdefault(parent, set()).add(base)

    def _add_dir(self, d: str) -> None:
        while d not in self.dirs:
            self.dirs.add(d)
            parent, _, base = d.rpartition("/")
            self.children.setdefault(parent, set()).add(base + "/")
            d = parent

    def is_file(self, path: str) -> bool:
        return path in self.data

    def source(self, path: str) -> bytes | None:
        content = self.data.get(path)
        if content is None and self.root is not None and path in self.data:
            try:
                content = (self.root / path).read_bytes()
            except OSError:
                return None
            self.data[path] = content
        return content

    def find(self, directory: str, name: str) -> tuple[str, str] | None:
        """How ``name`` is found in ``directory``: ("package"|"module"|"namespace", archive path)."""
        kids = self.children.get(directory)
        if not kids:
            return None
        base = join(directory, name)
        if name + "/" in kids and "__init__.py" in self.children.get(base, ()):
            return "package", base
        if name + ".py" in kids:
            return "module", base + ".py"
        ext = self._ext.get(directory)
        if ext is None:
            ext = self._ext[directory] = {}
            for k in kids:
                m = _EXT_SUFFIX.match(k)
                if m:
                    ext.setdefault(m.group("name"), join(directory, k))
        if name in ext:
            return "module", ext[name]
        if name + "/" in kids:
            return "namespace", base
        return None


def norm(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return ""
    return "/".join(parts) + ("/" if name.endswith("/") and parts else "")


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def archive_dir(container_path: str) -> str | None:
    p = posixpath.normpath(container_path)
    if p == MODEL_DIR:
        return ""
    if p.startswith(MODEL_DIR + "/"):
        return p[len(MODEL_DIR) + 1:]
    return None


def walk_names(tree: ArchiveTree, directory: str) -> Iterable[str]:
    """Every file name under ``directory`` (recursively)."""
    stack = [directory]
    while stack:
        d = stack.pop()
        for k in tree.children.get(d, ()):
            if k.endswith("/"):
                stack.append(join(d, k[:-1]))
            else:
                yield k
