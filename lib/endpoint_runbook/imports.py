"""Import resolution of the serving code, statically (``ast``; nothing is executed).

The SageMaker PyTorch toolkit imports ``code/<SAGEMAKER_PROGRAM>`` as a top-level module with the model
directory's ``code/`` and the model directory itself on the import path (``/opt/ml/model/code``,
``/opt/ml/model``). :func:`resolve_imports` follows the entry script and, transitively, every module it
imports from inside the archive, in the order the interpreter would run them: module-level code at import
time, function bodies (``model_fn``, ``predict_fn``...) afterwards, at call time. ``sys.path`` additions the
code makes (``sys.path.insert/append/extend``, ``site.addsitedir``) are evaluated where they are static --
literal paths and paths built from ``__file__``, ``model_dir`` or ``SM_MODEL_DIR`` with ``os.path``/
``pathlib`` -- mapping ``/opt/ml/model`` to the archive root.

Each import is resolved against, in the interpreter's order: the archive directories on the path in front
of the standard library, the standard library, the serving image's packages, ``code/requirements.txt``,
then directories the code appended at the back.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .findings import Finding

__all__ = [
    "DEFAULT_IMAGE_MODULES",
    "DIST_TO_MODULES",
    "MODEL_DIR",
    "ImportRecord",
    "ImportReport",
    "Placement",
    "Status",
    "SysPathEntry",
    "requirement_modules",
    "resolve_imports",
    "suggest_placement",
]

Status = Literal["archive", "stdlib", "image", "requirements", "unresolved"]

#: Where SageMaker extracts model.tar.gz in the container; maps to the archive root.
MODEL_DIR = "/opt/ml/model"

#: Top-level modules the SageMaker PyTorch inference image ships, as far as this project can vouch for
#: (PyTorch and its dependencies, the toolkit, TorchServe, the AWS SDK, the usual scientific stack of the
#: DLC). A conservative default: pass ``ServingEnv.image_modules()`` for the exact list of an environment.
DEFAULT_IMAGE_MODULES: frozenset[str] = frozenset({
    "torch", "torchvision", "torchaudio", "functorch", "numpy", "scipy", "pandas", "PIL", "cv2",
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "requests", "certifi", "idna",
    "charset_normalizer", "six", "yaml", "psutil", "retrying", "packaging", "setuptools", "pkg_resources",
    "typing_extensions", "filelock", "fsspec", "jinja2", "markupsafe", "sympy", "mpmath", "networkx",
    "sagemaker_inference", "sagemaker_pytorch_serving_container", "ts", "model_archiver",
})

#: Distribution name (normalised, PEP 503) → top-level import names, for the names that differ.
DIST_TO_MODULES: dict[str, tuple[str, ...]] = {
    "faiss-cpu": ("faiss",), "faiss-gpu": ("faiss",),
    "pillow": ("PIL",), "pillow-simd": ("PIL",),
    "opencv-python": ("cv2",), "opencv-python-headless": ("cv2",),
    "opencv-contrib-python": ("cv2",), "opencv-contrib-python-headless": ("cv2",),
    "scikit-learn": ("sklearn",), "scikit-image": ("skimage",),
    "pyyaml": ("yaml",), "protobuf": ("google",), "python-dateutil": ("dateutil",),
    "beautifulsoup4": ("bs4",), "open-clip-torch": ("open_clip",), "clip": ("clip",),
    "pymupdf": ("fitz",), "attrs": ("attr", "attrs"), "google-cloud-storage": ("google",),
    "msgpack-python": ("msgpack",), "python-multipart": ("multipart",), "tensorflow-cpu": ("tensorflow",),
    "huggingface-hub": ("huggingface_hub",), "pytorch-lightning": ("pytorch_lightning",),
}
_MODULE_TO_DIST: dict[str, str] = {
    "faiss": "faiss-cpu", "PIL": "pillow", "cv2": "opencv-python-headless", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "yaml": "pyyaml", "dateutil": "python-dateutil", "bs4": "beautifulsoup4",
    "open_clip": "open-clip-torch", "fitz": "pymupdf",
}
_STDLIB: frozenset[str] = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)
_GUARD_EXC = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_EXT_SUFFIX = re.compile(r"^(?P<name>[A-Za-z_]\w*)\.(?:[\w.-]+\.)?(?:so|pyd)$")


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ImportRecord:
    """One import the code makes. ``in_function``: the function it sits in (imported when that function runs,
    not when the module loads). ``guard``: the ``except`` clause that catches its failure (degraded fallback,
    not a crash)."""

    file: str
    line: int
    module: str
    statement: str
    status: Status
    guard: str | None = None
    in_function: str | None = None
    kind: Literal["import", "from", "dynamic"] = "import"
    resolved: str | None = None  # archive path of the module, or where it was found
    note: str | None = None

    @property
    def guarded(self) -> bool:
        return self.guard is not None

    @property
    def package(self) -> str:
        return self.module.lstrip(".").split(".")[0]

    @property
    def evidence(self) -> str:
        return f"{self.file}:{self.line} {self.statement}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["guarded"] = self.guarded
        d["package"] = self.package
        return d


@dataclass(frozen=True)
class SysPathEntry:
    """A ``sys.path`` addition the code makes. ``value``: the container path (None if not static);
    ``archive_dir``: that path inside the archive ("" = archive root; None when outside the model dir)."""

    file: str
    line: int
    expr: str
    value: str | None
    archive_dir: str | None
    position: Literal["front", "back"]
    in_function: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    program: str
    entry: str
    entry_exists: bool
    import_path: list[str] = field(default_factory=list)  # archive dirs on the path at the end, in order
    sys_path: list[SysPathEntry] = field(default_factory=list)
    imports: list[ImportRecord] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # archive files parsed, in execution order
    findings: list[Finding] = field(default_factory=list)
    requirements: dict[str, list[str]] = field(default_factory=dict)  # distribution → import names

    @property
    def missing_packages(self) -> list[str]:
        """Top-level packages imported without a guard that nothing provides (the crash)."""
        return _dedup(r.package for r in self.imports if r.status == "unresolved" and not r.guarded
                      and not r.module.startswith("."))

    @property
    def guarded_missing_packages(self) -> list[str]:
        hard = set(self.missing_packages)
        return _dedup(r.package for r in self.imports if r.status == "unresolved" and r.guarded
                      and r.package not in hard and not r.module.startswith("."))

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program, "entry": self.entry, "entry_exists": self.entry_exists,
            "import_path": list(self.import_path), "sys_path": [s.to_dict() for s in self.sys_path],
            "imports": [r.to_dict() for r in self.imports], "modules": list(self.modules),
            "findings": [f.to_dict() for f in self.findings], "requirements": dict(self.requirements),
            "missing_packages": self.missing_packages, "guarded_missing_packages": self.guarded_missing_packages,
            "ok": self.ok,
        }


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------- archive


class _Archive:
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
                    self.data[_norm(name if rel == "." else f"{rel}/{name}")] = None
        else:
            for name, content in files.items():
                n = _norm(name)
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
        base = _join(directory, name)
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
                    ext.setdefault(m.group("name"), _join(directory, k))
        if name in ext:
            return "module", ext[name]
        if name + "/" in kids:
            return "namespace", base
        return None


def _norm(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return ""
    return "/".join(parts) + ("/" if name.endswith("/") and parts else "")


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _archive_dir(container_path: str) -> str | None:
    p = posixpath.normpath(container_path)
    if p == MODEL_DIR:
        return ""
    if p.startswith(MODEL_DIR + "/"):
        return p[len(MODEL_DIR) + 1:]
    return None


# ------------------------------------------------------------------------------------------ requirements


def _canon(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9._-]+)")


def requirement_modules(lines: Iterable[str]) -> dict[str, list[str]]:
    """``requirements.txt`` lines → {distribution: [top-level import names]}. Options (``-r``, ``-i``...)
    and unnamed URLs are skipped; ``name @ url`` and ``...#egg=name`` count by name."""
    out: dict[str, list[str]] = {}
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        egg = _EGG.search(line)
        if egg:
            name = egg.group(1)
        elif line.startswith("-") or "://" in line.split("@", 1)[0]:
            continue
        else:
            m = _REQ_NAME.match(line)
            if not m:
                continue
            name = m.group(1)
        dist = _canon(name)
        out[dist] = list(DIST_TO_MODULES.get(dist, (dist.replace("-", "_"),)))
    return out


# ----------------------------------------------------------------------------------------- static values


@dataclass(frozen=True)
class _PathVal:
    """A ``pathlib.Path`` value (so ``/`` and ``.parent`` work)."""

    path: str


_Val = str | _PathVal | None


def _as_str(v: Any) -> str | None:
    if isinstance(v, _PathVal):
        return v.path
    return v if isinstance(v, str) else None


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Module:
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
        d = _dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head in self.aliases:
            head = self.aliases[head]
        return f"{head}.{rest}" if rest else head

    def line(self, n: int) -> str:
        return self.lines[n - 1].strip() if 0 < n <= len(self.lines) else ""

    def eval(self, node: ast.AST, env: Mapping[str, Any]) -> _Val:
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id == "__file__":
                return posixpath.join(MODEL_DIR, self.path)
            if node.id == "model_dir":
                return MODEL_DIR
            return None
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.append(str(part.value))
                elif isinstance(part, ast.FormattedValue) and part.format_spec is None:
                    s = _as_str(self.eval(part.value, env))
                    if s is None:
                        return None
                    out.append(s)
                else:
                    return None
            return "".join(out)
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left, env), self.eval(node.right, env)
            if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
                return left + right
            if isinstance(node.op, ast.Div) and isinstance(left, _PathVal) and _as_str(right) is not None:
                return _PathVal(posixpath.join(left.path, _as_str(right)))  # type: ignore[arg-type]
            return None
        if isinstance(node, ast.Attribute):
            if node.attr == "parent":
                v = self.eval(node.value, env)
                return _PathVal(posixpath.dirname(v.path)) if isinstance(v, _PathVal) else None
            return None
        if isinstance(node, ast.Subscript):
            target = self.canonical(node.value)
            if target == "os.environ":
                key = self.eval(node.slice, env)
                return MODEL_DIR if key == "SM_MODEL_DIR" else None
            if isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
                v = self.eval(node.value.value, env)
                idx = node.slice
                if isinstance(v, _PathVal) and isinstance(idx, ast.Constant) and isinstance(idx.value, int):
                    p = v.path
                    for _ in range(idx.value + 1):
                        p = posixpath.dirname(p)
                    return _PathVal(p)
            return None
        if isinstance(node, ast.Call):
            return self._eval_call(node, env)
        return None

    def _eval_call(self, node: ast.Call, env: Mapping[str, Any]) -> _Val:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("resolve", "absolute", "joinpath", "expanduser"):
            base = self.eval(func.value, env)
            if isinstance(base, _PathVal):
                if func.attr == "joinpath":
                    parts = [_as_str(self.eval(a, env)) for a in node.args]
                    if any(p is None for p in parts):
                        return None
                    return _PathVal(posixpath.join(base.path, *parts))  # type: ignore[arg-type]
                return None if func.attr == "expanduser" else base
        name = self.canonical(func)
        args = [self.eval(a, env) for a in node.args]
        strs = [_as_str(a) for a in args]
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
            return _PathVal(posixpath.join(*strs))  # type: ignore[arg-type]
        if name in ("os.getenv", "os.environ.get"):
            key = strs[0] if strs else None
            if key == "SM_MODEL_DIR":
                return MODEL_DIR
            return strs[1] if len(strs) > 1 else None
        return None


# ---------------------------------------------------------------------------------------------- resolver


@dataclass(frozen=True)
class _Ctx:
    function: str | None = None
    guard: str | None = None
    env: Mapping[str, Any] | None = None  # local bindings of a function body


class _Resolver:
    def __init__(self, archive: _Archive, entry: str, image_modules: set[str] | frozenset[str],
                 req_modules: set[str]):
        self.archive = archive
        self.entry = entry
        self.image = image_modules
        self.req = req_modules
        self.front: list[str] = ["code", ""]
        self.back: list[str] = []
        self.visited: set[str] = set()
        self.deferred: deque[tuple[_Module, ast.FunctionDef | ast.AsyncFunctionDef, _Ctx]] = deque()
        self.records: list[ImportRecord] = []
        self.sys_path: list[SysPathEntry] = []
        self.findings: list[Finding] = []
        self.modules: list[str] = []

    # -- module loading --------------------------------------------------------------------------------
    def run_entry(self) -> None:
        self._run_file(self.entry, posixpath.basename(self.entry)[:-3], False)
        # Call time: the toolkit calls model_fn first, then the request handlers.
        while self.deferred:
            mod, fn, ctx = self.deferred.popleft()
            self._walk(mod, fn.body, ctx)

    def _run_file(self, path: str, name: str, is_package: bool) -> _Module | None:
        if path in self.visited:
            return None
        self.visited.add(path)
        src = self.archive.source(path)
        if src is None:
            return None
        try:
            tree = ast.parse(src, filename=path)
        except (SyntaxError, ValueError) as e:
            line = getattr(e, "lineno", None) or 0
            msg = getattr(e, "msg", None) or str(e)
            self.findings.append(Finding(
                "syntax-error", "error",
                f"{path} does not compile ({msg}); fix it before deploying, the worker dies importing it.",
                [f"{path}:{line} {msg}"], {"file": path, "line": line, "message": msg},
            ))
            return None
        lines = src.decode("utf-8", errors="replace").splitlines()
        mod = _Module(path, name, is_package, tree, lines)
        self.modules.append(path)
        self._walk(mod, tree.body, _Ctx())
        return mod

    # -- walking -----------------------------------------------------------------------------------------
    def _walk(self, mod: _Module, body: Iterable[ast.stmt], ctx: _Ctx) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import_stmt(mod, node, ctx)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                item = (mod, node, _Ctx(function=node.name, env=dict(ctx.env or {})))
                if node.name == "model_fn" and mod.path == self.entry and ctx.function is None:
                    self.deferred.appendleft(item)  # the toolkit calls it first, at load
                else:
                    self.deferred.append(item)
            elif isinstance(node, ast.ClassDef):
                self._walk(mod, node.body, ctx)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                guard = _guard_of(node.handlers) or ctx.guard  # type: ignore[attr-defined]
                self._walk(mod, node.body, _Ctx(ctx.function, guard, ctx.env))  # type: ignore[attr-defined]
                for h in node.handlers:  # type: ignore[attr-defined]
                    self._walk(mod, h.body, ctx)
                self._walk(mod, node.orelse, ctx)  # type: ignore[attr-defined]
                self._walk(mod, node.finalbody, ctx)  # type: ignore[attr-defined]
            elif isinstance(node, ast.If):
                self._scan_expr(mod, node.test, ctx)
                if _is_type_checking(mod, node.test) or _is_main_guard(node.test):
                    self._walk(mod, node.orelse, ctx)
                    continue
                self._walk(mod, node.body, ctx)
                self._walk(mod, node.orelse, ctx)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                guard = ctx.guard
                for item in node.items:
                    c = item.context_expr
                    if (isinstance(c, ast.Call) and (mod.canonical(c.func) or "").endswith("suppress")
                            and any(_exc_name(a) in _GUARD_EXC for a in c.args)):
                        guard = "suppress(ImportError)"
                    self._scan_expr(mod, c, ctx)
                self._walk(mod, node.body, _Ctx(ctx.function, guard, ctx.env))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                self._scan_expr(mod, node.iter if not isinstance(node, ast.While) else node.test, ctx)
                self._walk(mod, node.body, ctx)
                self._walk(mod, node.orelse, ctx)
            elif type(node).__name__ == "Match":
                for case in node.cases:  # type: ignore[attr-defined]
                    self._walk(mod, case.body, ctx)
            else:
                self._scan_expr(mod, node, ctx)
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    env = mod.env if ctx.function is None else ctx.env
                    if isinstance(env, dict):
                        value = mod.eval(node.value, {**mod.env, **(ctx.env or {})})
                        for t in targets:
                            if isinstance(t, ast.Name):
                                if value is None:
                                    env.pop(t.id, None)
                                else:
                                    env[t.id] = value

    def _scan_expr(self, mod: _Module, node: ast.AST, ctx: _Ctx) -> None:
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call):
                continue
            name = mod.canonical(sub.func)
            if name in ("sys.path.insert", "sys.path.append", "sys.path.extend", "site.addsitedir"):
                self._sys_path_call(mod, sub, name, ctx)
            elif name in ("importlib.import_module", "__import__"):
                self._dynamic_import(mod, sub, name, ctx)

    # -- sys.path --------------------------------------------------------------------------------------
    def _sys_path_call(self, mod: _Module, call: ast.Call, name: str, ctx: _Ctx) -> None:
        env = {**mod.env, **(ctx.env or {})}
        position: Literal["front", "back"] = "front" if name.endswith("insert") else "back"
        if name.endswith("insert"):
            arg_nodes = call.args[1:2]
        elif name.endswith("extend"):
            arg = call.args[0] if call.args else None
            arg_nodes = list(arg.elts) if isinstance(arg, (ast.List, ast.Tuple)) else [arg] if arg else []
        else:
            arg_nodes = call.args[:1]
        for a in arg_nodes:
            if a is None or isinstance(a, ast.Starred):
                value = None
                expr = mod.line(call.lineno)
            else:
                value = _as_str(mod.eval(a, env))
                expr = ast.unparse(a)
            if value is not None:
                # A relative path is relative to the worker's working directory: not knowable here.
                value = posixpath.normpath(value) if value.startswith("/") else None
            adir = _archive_dir(value) if value is not None else None
            entry = SysPathEntry(mod.path, call.lineno, expr, value, adir, position, ctx.function)
            self.sys_path.append(entry)
            if value is None:
                self.findings.append(Finding(
                    "dynamic-sys-path", "warning",
                    f"{mod.path}:{call.lineno} adds to sys.path with a value that cannot be worked out statically; "
                    "imports that rely on it are checked without it (the load check runs it for real).",
                    [f"{mod.path}:{call.lineno} {mod.line(call.lineno)}"], {"file": mod.path, "line": call.lineno}))
            elif adir is None:
                self.findings.append(Finding(
                    "sys-path-outside-model", "info",
                    f"{mod.path}:{call.lineno} adds {value} to sys.path, which is outside the model directory "
                    f"({MODEL_DIR}); nothing in the archive is found through it.",
                    [f"{mod.path}:{call.lineno} {mod.line(call.lineno)}"], {"file": mod.path, "value": value}))
            else:
                roots = self.front if position == "front" else self.back
                if adir in roots:
                    roots.remove(adir)
                if position == "front":
                    roots.insert(0, adir)
                else:
                    roots.append(adir)

    # -- imports ---------------------------------------------------------------------------------------
    def _import_stmt(self, mod: _Module, node: ast.Import | ast.ImportFrom, ctx: _Ctx) -> None:
        stmt = ast.unparse(node)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    mod.aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    mod.aliases.setdefault(head, head)
                self._import(mod, alias.name, node.lineno, stmt, ctx, "import")
            return
        base = node.module or ""
        for alias in node.names:
            full = f"{base}.{alias.name}" if base else alias.name
            mod.aliases[alias.asname or alias.name] = full
        if node.level:
            target = _relative(mod, node.level, base)
            if target is None:
                self.records.append(ImportRecord(
                    mod.path, node.lineno, "." * node.level + base, stmt, "unresolved", ctx.guard, ctx.function,
                    "from", note="relative import outside a package"))
                self.findings.append(Finding(
                    "bad-relative-import", "error" if ctx.guard is None else "warning",
                    f"{mod.path}:{node.lineno} is a relative import, but {mod.path} is not inside a package "
                    "(the toolkit imports the entry script as a top-level module); use an absolute import.",
                    [f"{mod.path}:{node.lineno} {stmt}"], {"file": mod.path, "line": node.lineno}))
                return
            base = target
        rec = self._import(mod, base, node.lineno, stmt, ctx, "from") if base else None
        # ``from pkg import name``: ``name`` may be a submodule of an archive package; it is then loaded too.
        if rec is not None and rec.status == "archive" and rec.resolved and not rec.resolved.endswith(".py"):
            for alias in node.names:
                if alias.name != "*":
                    self._load_submodule(base, alias.name, rec.resolved)

    def _dynamic_import(self, mod: _Module, call: ast.Call, name: str, ctx: _Ctx) -> None:
        env = {**mod.env, **(ctx.env or {})}
        target = _as_str(mod.eval(call.args[0], env)) if call.args else None
        package = None
        for kw in call.keywords:
            if kw.arg == "package":
                package = _as_str(mod.eval(kw.value, env))
                if package is None and isinstance(kw.value, ast.Name) and kw.value.id in ("__name__", "__package__"):
                    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
        if target is None:
            self.findings.append(Finding(
                "dynamic-import", "info",
                f"{mod.path}:{call.lineno} imports a module whose name is computed at run time; not checked here "
                "(the load check runs it for real).",
                [f"{mod.path}:{call.lineno} {mod.line(call.lineno)}"], {"file": mod.path, "line": call.lineno}))
            return
        if target.startswith("."):
            level = len(target) - len(target.lstrip("."))
            rest = target[level:]
            if package:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - level + 1]) if level <= len(parts) else None
                target = f"{base}.{rest}" if base and rest else base or ""  # type: ignore[assignment]
            if not package or not target:
                return
        self._import(mod, target, call.lineno, mod.line(call.lineno), ctx, "dynamic")

    def _import(self, mod: _Module, module: str, line: int, stmt: str, ctx: _Ctx, kind: str) -> ImportRecord:
        status, resolved, note, chain = self._resolve(module)
        rec = ImportRecord(mod.path, line, module, stmt, status, ctx.guard, ctx.function, kind,  # type: ignore[arg-type]
                           resolved, note)
        self.records.append(rec)
        # Importing a.b.c runs a/__init__.py, a/b/__init__.py, then a/b/c.py.
        for path, name, is_pkg in chain:
            self._run_file(path, name, is_pkg)
        return rec

    def _load_submodule(self, package: str, name: str, package_dir: str) -> None:
        for portion in package_dir.split("|"):
            found = self.archive.find(portion, name)
            if found and found[0] in ("package", "module"):
                kind, path = found
                if kind == "package":
                    path = _join(path, "__init__.py")
                self._run_file(path, f"{package}.{name}", kind == "package")
                return

    def _resolve(self, module: str) -> tuple[Status, str | None, str | None, list[tuple[str, str, bool]]]:
        parts = module.split(".")
        top = parts[0]
        if top in sys.builtin_module_names or top == "__future__":
            return "stdlib", None, None, []
        found = self._find_top(top, self.front)
        if found is None or found[0] == "namespace":
            if top in _STDLIB:
                return "stdlib", None, None, []
            if top in self.image:
                return "image", None, None, []
            if top in self.req:
                return "requirements", None, None, []
            back = self._find_top(top, self.back)
            if back is not None and (found is None or back[0] != "namespace"):
                found = back
            elif back is not None and found is not None:
                found = ("namespace", found[1] + "|" + back[1])
        if found is None:
            return "unresolved", None, None, []
        kind, path = found
        chain: list[tuple[str, str, bool]] = []
        if kind == "package":
            chain.append((_join(path, "__init__.py"), top, True))
        elif kind == "module":
            chain.append((path, top, False))
        portions = path.split("|") if kind != "module" else []
        for i, part in enumerate(parts[1:], start=1):
            name = ".".join(parts[: i + 1])
            if kind == "module":
                return "unresolved", path, f"{'.'.join(parts[:i])} is a module, not a package", chain
            nxt: tuple[str, str] | None = None
            ns: list[str] = []
            for portion in portions:
                f = self.archive.find(portion, part)
                if f and f[0] != "namespace":
                    nxt = f
                    break
                if f:
                    ns.append(f[1])
            if nxt is None and ns:
                nxt = ("namespace", "|".join(ns))
            if nxt is None:
                return "unresolved", path, f"{'.'.join(parts[:i])} is in the archive ({portions[0]}) but {name} is not", chain
            kind, path = nxt
            if kind == "package":
                chain.append((_join(path, "__init__.py"), name, True))
            elif kind == "module":
                chain.append((path, name, False))
            portions = path.split("|") if kind != "module" else []
        return "archive", path, None, chain

    def _find_top(self, top: str, roots: list[str]) -> tuple[str, str] | None:
        namespace: list[str] = []
        for root in roots:
            f = self.archive.find(root, top)
            if f is None:
                continue
            if f[0] != "namespace":
                return f
            namespace.append(f[1])
        return ("namespace", "|".join(namespace)) if namespace else None


def _relative(mod: _Module, level: int, base: str) -> str | None:
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    if not package:
        return None
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    anchor = ".".join(parts[: len(parts) - (level - 1)])
    return f"{anchor}.{base}" if base else anchor


def _exc_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _guard_of(handlers: list[ast.ExceptHandler]) -> str | None:
    for h in handlers:
        if h.type is None:
            return "except:"
        names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
        for n in names:
            name = _exc_name(n)
            if name in _GUARD_EXC:
                return f"except {name}"
    return None


def _is_type_checking(mod: _Module, test: ast.AST) -> bool:
    name = mod.canonical(test)
    return name in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or (name or "").endswith(".TYPE_CHECKING")


def _is_main_guard(test: ast.AST) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


# --------------------------------------------------------------------------------------------- top level


def resolve_imports(
    files: Mapping[str, bytes | None] | str | os.PathLike[str],
    *,
    program: str = "inference.py",
    requirements: list[str] | None = None,
    image_modules: set[str] | frozenset[str] | None = None,
) -> ImportReport:
    """Resolve every import of ``code/<program>`` and of the archive modules it reaches.

    ``files``: archive member path → bytes (every ``.py`` member; other members may map to ``None`` or
    ``b""`` -- only their names matter) or a directory where the archive is extracted. ``requirements``:
    the lines of ``code/requirements.txt`` (read from ``files`` when None). ``image_modules``: top-level
    modules the serving image has (default :data:`DEFAULT_IMAGE_MODULES`).
    """
    archive = _Archive(files)
    program = program if program.endswith(".py") else program + ".py"
    entry = f"code/{program}"
    if requirements is None:
        raw = archive.source("code/requirements.txt") if archive.is_file("code/requirements.txt") else None
        requirements = raw.decode("utf-8", errors="replace").splitlines() if raw else []
    reqs = requirement_modules(requirements)
    report = ImportReport(program=program, entry=entry, entry_exists=archive.is_file(entry), requirements=reqs)
    if not report.entry_exists:
        others = sorted(p for p in archive.data if p.endswith("/" + program) or p == program)
        report.findings.append(Finding(
            "missing-entry-script", "error",
            f"the archive has no {entry}; the toolkit then falls back to its default model_fn, which fails. "
            f"Put the serving script at {entry} (or set SAGEMAKER_PROGRAM to its name).",
            [f"found instead: {p}" for p in others] or [f"{entry} not in the archive"],
            {"entry": entry, "found": others}))
        report.import_path = ["code", ""]
        return report
    resolver = _Resolver(archive, entry, image_modules if image_modules is not None else DEFAULT_IMAGE_MODULES,
                         {m.split(".")[0] for mods in reqs.values() for m in mods})
    resolver.run_entry()
    report.imports = resolver.records
    report.sys_path = resolver.sys_path
    report.modules = resolver.modules
    report.import_path = resolver.front + resolver.back
    report.findings = resolver.findings + _missing_findings(report, archive)
    return report


def _missing_findings(report: ImportReport, archive: _Archive) -> list[Finding]:
    out: list[Finding] = []
    by_pkg: dict[str, list[ImportRecord]] = {}
    for r in report.imports:
        if r.status == "unresolved" and not r.module.startswith("."):
            by_pkg.setdefault(r.package, []).append(r)
    on_path = set(report.import_path)
    for pkg, recs in by_pkg.items():
        hard = [r for r in recs if not r.guarded]
        elsewhere = _find_off_path(archive, pkg, on_path)
        evidence = [r.evidence for r in (hard or recs)[:5]]
        first = (hard or recs)[0]
        data = {"package": pkg, "modules": _dedup(r.module for r in recs), "file": first.file,
                "line": first.line, "statement": first.statement, "found_in_archive": elsewhere,
                "at": "call" if all(r.in_function for r in (hard or recs)) else "import",
                "functions": _dedup(r.in_function for r in recs if r.in_function), "note": first.note}
        when = (f"when {', '.join(data['functions'])} runs" if data["at"] == "call" else "at import")
        if hard:
            out.append(Finding(
                "missing-module", "error",
                f"{first.file}:{first.line} imports {first.module!r} but nothing provides package {pkg!r} in the "
                f"container (archive import path, standard library, image, code/requirements.txt): the worker "
                f"fails {when}. Add the package to the archive under code/{pkg}/, or list it in "
                "code/requirements.txt if it is published.", evidence, data))
        else:
            out.append(Finding(
                "guarded-missing-module", "warning",
                f"{first.file}:{first.line} imports {first.module!r}, which the container does not have, inside "
                f"{first.guard}: the code falls back to a degraded path. Add {pkg!r} if the feature is wanted.",
                evidence, data))
        if elsewhere:
            out.append(Finding(
                "source-outside-import-path", "error" if hard else "warning",
                f"package {pkg!r} is in the archive at {', '.join(elsewhere)}, which is not on the import path "
                f"({', '.join(_show(d) for d in report.import_path)}). Move it to code/{pkg}/, or make the script "
                f"add {MODEL_DIR}/{posixpath.dirname(elsewhere[0])} to sys.path.",
                [f"{e}/" if not e.endswith(".py") else e for e in elsewhere], {"package": pkg, "found": elsewhere}))
    return out


def _show(d: str) -> str:
    return posixpath.join(MODEL_DIR, d) if d else MODEL_DIR


def _find_off_path(archive: _Archive, pkg: str, on_path: set[str]) -> list[str]:
    found: list[str] = []
    for d in sorted(archive.dirs):
        if d in on_path:
            continue
        f = archive.find(d, pkg)
        if f is None:
            continue
        kind, path = f
        if kind == "namespace" and not any(k.endswith(".py") for k in _walk_names(archive, path)):
            continue  # a folder of data files with the same name is not the package
        found.append(path)
    return found


def _walk_names(archive: _Archive, directory: str) -> Iterable[str]:
    stack = [directory]
    while stack:
        d = stack.pop()
        for k in archive.children.get(d, ()):
            if k.endswith("/"):
                stack.append(_join(d, k[:-1]))
            else:
                yield k


# --------------------------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placement:
    """Where a missing package goes in the archive, and where it comes from.

    ``action``: ``copy`` (from ``source``, a local folder), ``move`` (``source`` is an archive path off the
    import path), ``requirement`` (a published distribution: add ``requirement`` to code/requirements.txt),
    ``unknown`` (no source found: name the folder yourself).
    """

    package: str
    action: Literal["copy", "move", "requirement", "unknown"]
    target: str | None
    source: str | None = None
    source_label: str | None = None
    requirement: str | None = None
    guarded: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggest_placement(report: ImportReport, available_source_dirs: Mapping[str, Path | str]) -> list[Placement]:
    """For each missing top-level package (unguarded first, then guarded ones), where to put it.

    Target: ``code/<pkg>/`` (on the import path without any code change), or ``<dir>/<pkg>/`` when the
    script itself adds ``/opt/ml/model/<dir>`` to ``sys.path`` (e.g. ``src/<pkg>/``, the layout it expects).
    Source: the first of ``available_source_dirs`` (label → folder, e.g. a repository checkout) that has
    ``src/<pkg>/``, ``<pkg>/`` (a folder with ``.py`` files), is itself the package (named ``<pkg>`` with an
    ``__init__.py``), or has ``src/<pkg>.py`` or ``<pkg>.py``; else the archive's own off-path copy; else a known distribution.
    """
    script_dirs = [s.archive_dir for s in report.sys_path if s.archive_dir not in (None, "", "code")]
    off_path: dict[str, list[str]] = {}
    for f in report.findings:
        if f.code == "source-outside-import-path":
            off_path[f.data["package"]] = list(f.data.get("found", []))
    out: list[Placement] = []
    for pkg, guarded in [(p, False) for p in report.missing_packages] + \
                        [(p, True) for p in report.guarded_missing_packages]:
        src = _local_source(pkg, available_source_dirs)
        base = script_dirs[0] if script_dirs else "code"
        if src is not None:
            label, path = src
            target = f"{base}/{pkg}.py" if path.suffix == ".py" else f"{base}/{pkg}/"
            why = ("the script adds " + _show(base) + " to sys.path") if script_dirs else \
                "code/ is on the import path, no code change needed"
            out.append(Placement(pkg, "copy", target, str(path), label, guarded=guarded,
                                 reason=f"found at {path}; {why}"))
        elif pkg in off_path:
            here = off_path[pkg][0]
            target = f"{base}/{pkg}.py" if here.endswith(".py") else f"{base}/{pkg}/"
            out.append(Placement(pkg, "move", target, here, "archive", guarded=guarded,
                                 reason=f"the archive has it at {here}, off the import path"))
        elif pkg in _MODULE_TO_DIST:
            out.append(Placement(pkg, "requirement", "code/requirements.txt", requirement=_MODULE_TO_DIST[pkg],
                                 guarded=guarded, reason=f"{pkg!r} is published as {_MODULE_TO_DIST[pkg]!r}"))
        else:
            out.append(Placement(pkg, "unknown", f"{base}/{pkg}/", guarded=guarded,
                                 reason="no local folder provides it; name the source folder, or add its "
                                 "distribution to code/requirements.txt if it is published"))
    return out


def _local_source(pkg: str, dirs: Mapping[str, Path | str]) -> tuple[str, Path] | None:
    for label, root in dirs.items():
        root = Path(root)
        for cand in (root / "src" / pkg, root / pkg):
            if _is_package_dir(cand):
                return label, cand
        # The package folder itself (a regular package: a repo named like its package is not one).
        if root.name == pkg and (root / "__init__.py").is_file():
            return label, root
        for cand in (root / "src" / f"{pkg}.py", root / f"{pkg}.py"):
            if cand.is_file():
                return label, cand
    return None


def _is_package_dir(p: Path) -> bool:
    if not p.is_dir():
        return False
    if (p / "__init__.py").is_file():
        return True
    try:
        return any(c.suffix == ".py" for c in p.iterdir())
    except OSError:
        return False
