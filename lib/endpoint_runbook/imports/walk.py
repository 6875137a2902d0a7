"""The walk's objects (functions, classes, instances and modules of the serving code as the walk sees them,
the context a statement runs in), its limits and its AST helpers; :mod:`.resolver` walks with them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .guards import Frame
from .records import PHASES, ImportRecord
from .values import ModuleScope, dotted

__all__ = ["PARTIAL", "PARTIAL_NOTE", "TOOLKIT_HANDLERS"]


#: What the SageMaker inference toolkit calls in the entry script, in order, and the phase each runs in.
TOOLKIT_HANDLERS: tuple[tuple[str, str], ...] = (
    ("model_fn", "model_fn"), ("input_fn", "request"), ("predict_fn", "request"), ("output_fn", "request"),
    ("transform_fn", "request"),
)
_MAX_DEPTH = 40
_CONSTRUCT = ("__new__", "__init__", "__post_init__")
_DUNDER_ON_CALL = ("__call__", "forward", "call")  # nn.Module / keras Layer: calling the instance runs these
_FAIL_IMPORT = "ModuleNotFoundError"
#: The note of an import whose package is in the archive while the submodule it names is not.
PARTIAL = "{found} is in the archive ({at}) but {missing} is not"
PARTIAL_NOTE = re.compile(r"^(?P<found>[\w.]+) is in the archive \((?P<at>[^)]*)\) but (?P<missing>[\w.]+) is not$")
#: Class methods an external base class provides that build an instance of the class they are called on
#: (Lightning's ``load_from_checkpoint``, Hugging Face's ``from_pretrained``): the class's constructor runs.
_ALT_CONSTRUCTORS = ("load_from_checkpoint", "from_pretrained", "from_config")
#: Calls that test whether a path exists: not reads, and the code under them falls back when it does not.
_PROBES = frozenset({"os.path.exists", "os.path.isfile", "os.path.isdir", "os.path.lexists", "os.access",
                     "posixpath.exists", "posixpath.isfile", "posixpath.isdir"})
_PROBE_METHODS = ("exists", "is_file", "is_dir")
#: Keyword arguments that name a file the call reads (Lightning's ``load_from_checkpoint(checkpoint_path=…)``,
#: ``torch.load(f=…)``, ``np.load(file=…)``): looked at as the first positional arguments are.
_PATH_KEYWORDS = frozenset({"checkpoint_path", "ckpt_path", "f", "file", "filename", "fname", "filepath",
                            "file_path", "path", "model_path", "weights_path", "model_file", "config_file",
                            "pretrained_model_name_or_path", "model_name_or_path"})


# ------------------------------------------------------------------------------------------- the objects


@dataclass(eq=False)
class _Func:
    mod: _Mod
    node: ast.FunctionDef | ast.AsyncFunctionDef
    qualname: str
    cls: _Class | None = None
    closure: dict[str, Any] = field(default_factory=dict)
    escapes: set[str] = field(default_factory=set)
    visits: set[bool] = field(default_factory=set)
    returns: Any = None
    returns_done: bool = False

    @property
    def decorators(self) -> set[str]:
        return {d for d in (dotted(x.func if isinstance(x, ast.Call) else x) for x in self.node.decorator_list) if d}

    @property
    def is_property(self) -> bool:
        return any(d.split(".")[-1] in ("property", "cached_property", "setter") for d in self.decorators)

    @property
    def is_static(self) -> bool:
        return "staticmethod" in self.decorators

    @property
    def is_classmethod(self) -> bool:
        return "classmethod" in self.decorators


@dataclass(eq=False)
class _Class:
    mod: _Mod
    node: ast.ClassDef
    qualname: str
    methods: dict[str, _Func] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    live: bool = False
    _mro: list[_Class] | None = None


@dataclass(frozen=True, eq=False)
class _Inst:
    cls: _Class


@dataclass(frozen=True)
class _ModRef:
    name: str


@dataclass(frozen=True, eq=False)
class _Super:
    cls: _Class


class _External:
    """A value from outside the project (a library module, a builtin, what they return)."""


_EXT = _External()


class _Mod(ModuleScope):
    def __init__(self, path: str, name: str, is_package: bool, tree: ast.Module, lines: list[str]):
        super().__init__(path, name, is_package, tree, lines)
        self.defs: dict[str, _Func | _Class] = {}
        self.values: dict[str, Any] = {}
        self.bound: set[str] = set()
        self.state = "running"
        self.escapes: set[str] = set()
        self.funcs: list[_Func] = []


@dataclass
class _Ctx:
    mod: _Mod
    func: _Func | None = None
    cls: _Class | None = None  # walking a class body
    frames: tuple[Frame, ...] = ()
    stack: tuple[tuple[Any, int], ...] = ()
    phase: str = "import"
    via: tuple[str, ...] = ()
    locals: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    globals_decl: set[str] = field(default_factory=set)
    conditional: bool = False
    note: str | None = None
    probed: frozenset[str] = frozenset()  # paths the code checked exist before this point (it falls back)

    @property
    def latent(self) -> bool:
        return self.phase == "latent"

    def but(self, **kw: Any) -> _Ctx:
        return replace(self, **kw)


# ------------------------------------------------------------------------------------------------ helpers


def _not_a_read(name: str | None, call: ast.Call) -> bool:
    """Calls that take a path without reading it: conversions, printing, logging."""
    if name in ("str", "repr", "print", "format", "os.fspath", "pathlib.Path", "pathlib.PurePath",
                "pathlib.PosixPath", "pathlib.PurePosixPath"):
        return True
    return isinstance(call.func, ast.Attribute) and call.func.attr in (
        "debug", "info", "warning", "warn", "error", "exception", "critical", "log")


def _rank(r: ImportRecord) -> tuple[int, int, int]:
    return (0 if r.runs else 1, 1 if (r.guarded or r.conditional) else 0, PHASES.index(r.phase))


def _fname(ctx: _Ctx) -> str | None:
    return ctx.func.qualname if ctx.func is not None else None


def _sub_bodies(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    for attr in ("body", "orelse", "finalbody"):
        b = getattr(node, attr, None)
        if isinstance(b, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield b
    for h in getattr(node, "handlers", []) or []:
        yield h.body
    for c in getattr(node, "cases", []) or []:
        yield c.body


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of a function body, not descending into nested functions or classes."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(c)


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"}
    if isinstance(node, (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
        out = set()
        if isinstance(node, (ast.For, ast.AsyncFor)):
            out |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        return out  # nested bodies are bound as they are walked
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _may_raise_other(body: list[ast.stmt]) -> bool:
    """The body does something besides imports that may raise (so a broad handler may run)."""
    for st in body:
        if isinstance(st, (ast.Import, ast.ImportFrom, ast.Pass)):
            continue
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue
        if isinstance(st, ast.Assign) and isinstance(st.value, (ast.Constant, ast.Name)):
            continue
        return True
    return False


def _literal_all(mod: _Mod) -> list[str] | None:
    for node in mod.tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and isinstance(node.value, (ast.List, ast.Tuple))):
            names = [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            return names if len(names) == len(node.value.elts) else None
    return None


def _relative(mod: ModuleScope, level: int, base: str) -> str | None:
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    if not package:
        return None
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    anchor = ".".join(parts[: len(parts) - (level - 1)])
    return f"{anchor}.{base}" if base else anchor


def _is_type_checking(mod: ModuleScope, test: ast.AST) -> bool:
    name = mod.canonical(test)
    return name in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or (name or "").endswith(".TYPE_CHECKING")


def _is_main_guard(test: ast.AST) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")
