"""Static values: what a path expression evaluates to in the container, where that is knowable.

Literal strings, f-strings, ``+``, ``os.path``/``posixpath`` joins, ``pathlib`` paths (``/``, ``.parent``,
``.parents[n]``, ``.resolve()``), ``__file__`` (the module's container path), ``model_dir`` (the directory the
toolkit passes to ``model_fn``) and ``SM_MODEL_DIR`` map to ``/opt/ml/model``. Anything else is ``None``.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .records import MODEL_DIR

__all__ = ["PathVal", "ModuleScope", "Val", "as_str", "dotted"]


@dataclass(frozen=True)
class PathVal:
    """A ``pathlib.Path`` value (so ``/`` and ``.parent`` work)."""

    path: str


Val = str | PathVal | None


def as_str(v: Any) -> str | None:
    if isinstance(v, PathVal):
        return v.path
    return v if isinstance(v, str) else None


def dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class ModuleScope:
    """A parsed archive module: its name, aliases (``from os.path import join``) and static bindings."""

    def __init__(self, path: str, name: str, is_package: bool, tree: ast.Module, lines: list[str]):
        self.path = path
        self.name = name
        self.is_package = is_package
        self.tree = tree
        self.lines = lines
        self.aliases: dict[str, str] = {}
        self.env: dict[str, Any] = {}

    def canonical(self, node: ast.AST) -> str | None:
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head in self.aliases:
            head = self.aliases[head]
        return f"{head}.{rest}" if rest else head

    def line(self, n: int) -> str:
        return self.lines[n - 1].strip() if 0 < n <= len(self.lines) else ""

    def eval(self, node: ast.AST, env: Mapping[str, Any]) -> Val:
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id == "__file__":
                return posixpath.join(MODEL_DIR, self.path)
            if node.id == "model_dir":
                return PathVal(MODEL_DIR)
            return None
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.append(str(part.value))
                elif isinstance(part, ast.FormattedValue) and part.format_spec is None:
                    s = as_str(self.eval(part.value, env))
                    if s is None:
                        return None
                    out.append(s)
                else:
                    return None
            return "".join(out)
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left, env), self.eval(node.right, env)
            if isinstance(node.op, ast.Add) and as_str(left) is not None and as_str(right) is not None:
                return as_str(left) + as_str(right)  # type: ignore[operator]
            if isinstance(node.op, ast.Div) and isinstance(left, PathVal) and as_str(right) is not None:
                return PathVal(posixpath.join(left.path, as_str(right)))  # type: ignore[arg-type]
            return None
        if isinstance(node, ast.Attribute):
            if node.attr == "parent":
                v = self.eval(node.value, env)
                return PathVal(posixpath.dirname(v.path)) if isinstance(v, PathVal) else None
            return None
        if isinstance(node, ast.Subscript):
            target = self.canonical(node.value)
            if target == "os.environ":
                key = self.eval(node.slice, env)
                return MODEL_DIR if key == "SM_MODEL_DIR" else None
            if isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
                v = self.eval(node.value.value, env)
                idx = node.slice
                if isinstance(v, PathVal) and isinstance(idx, ast.Constant) and isinstance(idx.value, int):
                    p = v.path
                    for _ in range(idx.value + 1):
                        p = posixpath.dirname(p)
                    return PathVal(p)
            return None
        if isinstance(node, ast.Call):
            return self._eval_call(node, env)
        return None

    def _eval_call(self, node: ast.Call, env: Mapping[str, Any]) -> Val:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("resolve", "absolute", "joinpath", "expanduser"):
            base = self.eval(func.value, env)
            if isinstance(base, PathVal):
                if func.attr == "joinpath":
                    parts = [as_str(self.eval(a, env)) for a in node.args]
                    if any(p is None for p in parts):
                        return None
                    return PathVal(posixpath.join(base.path, *parts))  # type: ignore[arg-type]
                return None if func.attr == "expanduser" else base
        name = self.canonical(func)
        args = [self.eval(a, env) for a in node.args]
        strs = [as_str(a) for a in args]
        if name in ("os.path.join", "posixpath.join"):
            return None if not strs or any(s is None for s in strs) else posixpath.join(*strs)  # type: ignore[arg-type]
        if name in ("os.path.dirname", "posixpath.dirname") and len(strs) == 1 and strs[0] is not None:
            return posixpath.dirname(strs[0])
        if name in ("os.path.abspath", "os.path.realpath", "os.path.normpath") and len(strs) == 1:
            return posixpath.normpath(strs[0]) if strs[0] is not None and strs[0].startswith("/") else None
        if name in ("str", "os.fspath") and len(args) == 1:
            return strs[0]
        if name in ("pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath"):
            if not strs or any(s is None for s in strs):
                return None
            return PathVal(posixpath.join(*strs))  # type: ignore[arg-type]
        if name in ("os.getenv", "os.environ.get"):
            key = strs[0] if strs else None
            if key == "SM_MODEL_DIR":
                return MODEL_DIR
            return strs[1] if len(strs) > 1 else None
        return None
