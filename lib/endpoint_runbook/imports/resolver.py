"""The walk: the serving code run in the order the container runs it, statically.

The toolkit imports ``code/<program>`` (module-level code runs: imports, ``sys.path`` changes, calls to
initializers, singletons built), then calls ``model_fn`` (a failure in either kills the worker), then, per
request, ``input_fn``/``predict_fn``/``output_fn`` (or ``transform_fn``). The walk follows calls it can resolve
-- functions and classes of the project's modules, methods through ``self``/``cls``/``super()``, instances
whose class is known from a constructor call or an annotation, module-level singletons -- depth first, in
statement order, so ``sys.path`` changes apply to the imports that run after them. A method called on an
object of unknown type reaches the methods of that name of the classes the running code instantiates (rapid
type analysis). Functions nothing reaches are walked last, as ``latent``.

Failures (an import nothing provides, a syntax error, a circular ``from`` import) travel outward through
the enclosing ``try`` clauses and across calls, as exceptions do (see :mod:`.guards`).
"""

from __future__ import annotations

import ast
import builtins
import posixpath
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..findings import Finding
from .downloads import UNKNOWN, Download, match_download
from .guards import Frame, frame_of_try, frame_of_with
from .records import MODEL_DIR, PHASES, STDLIB, ImportRecord, Status, SysPathEntry
from .tree import ArchiveTree, archive_dir, join
from .values import ModuleScope, as_str, dotted

__all__ = ["PARTIAL_NOTE", "Resolver", "TOOLKIT_HANDLERS"]

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


# ------------------------------------------------------------------------------------------- the resolver


class Resolver:
    def __init__(self, archive: ArchiveTree, entry: str, image_modules: set[str] | frozenset[str],
                 req_modules: set[str]):
        self.archive = archive
        self.entry = entry
        self.image = image_modules
        self.req = req_modules
        self.front: list[str] = ["code", ""]
        self.back: list[str] = []
        self.by_path: dict[str, _Mod] = {}
        self.by_name: dict[str, _Mod] = {}
        self.bad: dict[str, str] = {}  # path → exception its import raises (syntax error)
        self.records: dict[tuple[str, int, str], ImportRecord] = {}
        self.log: list[ImportRecord] = []
        self.sys_path: list[SysPathEntry] = []
        self.findings: list[Finding] = []
        self.modules: list[str] = []
        self.handlers: dict[str, str] = {}
        self.reads: dict[str, None] = {}
        self.optional_reads: dict[str, None] = {}  # reads the code makes only when the file is there
        self.downloads: list[Download] = []
        self.smp_before_hub = False  # the requirements pin segmentation_models_pytorch < 0.5
        self.classes: list[_Class] = []
        self.rta_sites: dict[str, _Ctx] = {}

    # -- entry -------------------------------------------------------------------------------------------
    def run_entry(self) -> None:
        name = posixpath.basename(self.entry)[:-3]
        entry = self._exec_module(self.entry, name, False, None)
        if entry is not None:
            for handler, phase in TOOLKIT_HANDLERS:
                obj = self._name(handler, _Ctx(entry))
                if isinstance(obj, _Func):
                    self.handlers[handler] = f"{obj.mod.path}:{obj.node.lineno}"
                    self._reach(obj, _Ctx(entry, phase=phase), bound=None)
        # Latent: what nothing the toolkit calls reaches, for the record (info, never a crash).
        for mod in list(self.by_path.values()):
            i = 0
            while i < len(mod.funcs):
                fn = mod.funcs[i]
                i += 1
                if not fn.visits:
                    fn.visits.add(True)
                    self._block(fn.node.body, _Ctx(fn.mod, func=fn, cls=None, phase="latent", via=(fn.qualname,),
                                                   locals=self._params(fn)))

    # -- modules -----------------------------------------------------------------------------------------
    def _exec_module(self, path: str, name: str, is_package: bool, ctx: _Ctx | None) -> _Mod | None:
        if path in self.bad:
            if ctx is not None:
                self._fail(self.bad[path], ctx)
            return None
        if path in self.by_path:
            mod = self.by_path[path]
            if ctx is not None:
                for exc in mod.escapes:
                    self._fail(exc, ctx)
            return mod
        src = self.archive.source(path)
        if src is None:
            return None
        try:
            tree = ast.parse(src, filename=path)
        except (SyntaxError, ValueError) as e:
            self.bad[path] = "SyntaxError"
            line = getattr(e, "lineno", None) or 0
            msg = getattr(e, "msg", None) or str(e)
            guard, _ = self._fail("SyntaxError", ctx) if ctx is not None else (None, ())
            runs = ctx is None or not ctx.latent
            self.findings.append(Finding(
                "syntax-error", "error" if runs and guard is None and not (ctx and ctx.conditional) else "warning",
                f"{path} does not compile ({msg}); fix it before deploying"
                + (", the worker dies importing it." if guard is None else f" (its import is caught by {guard})."),
                [f"{path}:{line} {msg}"], {"file": path, "line": line, "message": msg, "guard": guard}))
            return None
        mod = _Mod(path, name, is_package, tree, src.decode("utf-8", errors="replace").splitlines())
        self.by_path[path] = mod
        self.by_name[name] = mod
        self.modules.append(path)
        self._index(mod, tree.body, None, "")
        outer = ctx or _Ctx(mod)
        mctx = _Ctx(mod, frames=outer.frames, stack=outer.stack + ((mod, len(outer.frames)),), phase=outer.phase,
                    via=outer.via, env=mod.env, conditional=outer.conditional, note=outer.note)
        try:
            self._block(tree.body, mctx)
        except RecursionError:
            self.findings.append(Finding(
                "analysis-incomplete", "warning", f"{path} nests too deeply to follow statically; the rest of it "
                "was not checked (the load check runs it for real).", [path], {"file": path}))
        mod.state = "done"
        return mod

    def _index(self, mod: _Mod, body: list[ast.stmt], cls: _Class | None, prefix: str) -> None:
        """Every def/class of a module body (including those under if/try), before it runs."""
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fn = _Func(mod, node, prefix + node.name, cls)
                mod.funcs.append(fn)
                if cls is not None:
                    cls.methods.setdefault(node.name, fn)
                else:
                    mod.defs.setdefault(node.name, fn)
            elif isinstance(node, ast.ClassDef):
                c = _Class(mod, node, prefix + node.name)
                self.classes.append(c)
                if cls is None:
                    mod.defs.setdefault(node.name, c)
                else:
                    cls.attrs.setdefault(node.name, c)
                self._index(mod, node.body, c, c.qualname + ".")
            else:
                for sub in _sub_bodies(node):
                    self._index(mod, sub, cls, prefix)

    # -- statements --------------------------------------------------------------------------------------
    def _block(self, body: list[ast.stmt], ctx: _Ctx) -> None:
        for node in body:
            self._stmt(node, ctx)
            after = self._probe_exit(node, ctx)
            if after:  # `if not p.exists(): return ...`: what follows runs only when p exists
                ctx = ctx.but(probed=ctx.probed | after)

    def _stmt(self, node: ast.stmt, ctx: _Ctx) -> None:
        mod = ctx.mod
        top = ctx.func is None and ctx.cls is None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import_stmt(node, ctx)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                self._scan(d, ctx)
            if ctx.func is not None:  # a nested function: a closure over the current locals
                fn = _Func(mod, node, f"{ctx.func.qualname}.{node.name}", None, dict(ctx.locals))
                mod.funcs.append(fn)
                ctx.locals[node.name] = fn
        elif isinstance(node, ast.ClassDef):
            for e in [*node.bases, *node.decorator_list]:
                self._scan(e, ctx)
            cls = self._class_of(node, ctx)
            if cls is not None:
                self._block([s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))],
                            ctx.but(cls=cls))
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self._try(node, ctx)  # type: ignore[arg-type]
        elif isinstance(node, ast.If):
            self._scan(node.test, ctx)
            if _is_type_checking(mod, node.test) or _is_main_guard(node.test):
                self._block(node.orelse, ctx)
            else:
                yes, no = self._probed_by(node.test, ctx)
                self._block(node.body, ctx.but(probed=ctx.probed | yes) if yes else ctx)
                self._block(node.orelse, ctx.but(probed=ctx.probed | no) if no else ctx)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self._scan(item.context_expr, ctx)
                if isinstance(item.optional_vars, ast.Name):
                    self._bind(item.optional_vars.id, None, ctx)
            frame = frame_of_with(node, mod.path, mod.canonical)
            self._block(node.body, ctx.but(frames=ctx.frames + (frame,)) if frame else ctx)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            self._scan(node.test if isinstance(node, ast.While) else node.iter, ctx)
            self._block(node.body, ctx)
            self._block(node.orelse, ctx)
        elif type(node).__name__ == "Match":
            self._scan(node.subject, ctx)  # type: ignore[attr-defined]
            for case in node.cases:  # type: ignore[attr-defined]
                self._block(case.body, ctx)
        elif isinstance(node, ast.Global):
            ctx.globals_decl.update(node.names)
        else:
            self._scan(node, ctx)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                self._assign(node, ctx)
        if top:
            mod.bound.update(_bound_names(node))

    def _try(self, node: ast.Try, ctx: _Ctx) -> None:
        frame = frame_of_try(node, ctx.mod.path, ctx.mod.canonical)
        self._block(node.body, ctx.but(frames=ctx.frames + (frame,)))
        other = _may_raise_other(node.body)
        failed = list(frame.failed_types)
        for h in frame.handlers:
            taken = any(frame.first_match(t) is h for t in failed)
            n0 = len(self.log)
            if h.node is not None and h.node.name:
                self._bind(h.node.name, None, ctx)
            if taken or ctx.latent:
                self._block(h.node.body if h.node else [], ctx)
            elif other and not h.only_import_errors:
                self._block(h.node.body if h.node else [], ctx.but(conditional=True))
            else:
                self._block(h.node.body if h.node else [], ctx.but(
                    phase="latent", note="a fallback that does not run: the imports it stands in for resolve"))
            mine = [r for r in self.log[n0:] if r.file == ctx.mod.path]
            if taken and mine and not any(r.fails for r in mine):
                for key in frame.caught:
                    r = self.records.get(key)
                    if r is not None and h.raises is None and h is frame.first_match(_FAIL_IMPORT):
                        self.records[key] = replace(r, fallback_ok=True)
        self._block(node.orelse, ctx)  # type: ignore[attr-defined]
        self._block(node.finalbody, ctx)  # type: ignore[attr-defined]

    def _assign(self, node: ast.Assign | ast.AnnAssign, ctx: _Ctx) -> None:
        value = self._value(node.value, ctx) if node.value is not None else None  # type: ignore[arg-type]
        if value is None and isinstance(node, ast.AnnAssign):
            value = self._annotation(node.annotation, ctx)
        static = ctx.mod.eval(node.value, {**ctx.mod.env, **ctx.env}) if node.value is not None else None
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if isinstance(t, ast.Name):
                self._bind(t.id, value, ctx)
                env = ctx.mod.env if (ctx.func is None or t.id in ctx.globals_decl) else ctx.env
                if static is None:
                    env.pop(t.id, None)
                else:
                    env[t.id] = static
            elif (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
                  and ctx.func is not None and ctx.func.cls is not None and value is not None):
                ctx.func.cls.attrs.setdefault(t.attr, value)

    def _bind(self, name: str, value: Any, ctx: _Ctx) -> None:
        if ctx.cls is not None and ctx.func is None:
            if value is not None:
                ctx.cls.attrs[name] = value
            return
        if ctx.func is None or name in ctx.globals_decl:
            if value is None:
                if ctx.func is None:
                    ctx.mod.values.pop(name, None)
            else:
                ctx.mod.values[name] = value
            return
        if value is None:
            ctx.locals.pop(name, None)
        else:
            ctx.locals[name] = value

    # -- expressions: calls, references, sys.path, dynamic imports --------------------------------------
    def _scan(self, node: ast.AST, ctx: _Ctx) -> None:
        callees = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                callees.add(id(sub.func))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                self._call(sub, ctx)
            elif ctx.latent or id(sub) in callees:
                continue
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                obj = self._name(sub.id, ctx)
                if isinstance(obj, _Func):  # a callback handed to something that will call it
                    self._reach(obj, ctx, bound=None)
                elif isinstance(obj, _Class):
                    self._make_live(obj)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
                base = self._value(sub.value, ctx)
                obj = self._attr(base, sub.attr, ctx)
                if isinstance(obj, _Func) and (obj.is_property or isinstance(base, _Inst)):
                    self._reach(obj, ctx, bound=base)
                elif base is None:
                    self._rta(sub.attr, ctx, properties_only=True)

    def _call(self, node: ast.Call, ctx: _Ctx) -> None:
        mod = ctx.mod
        name = mod.canonical(node.func)
        if name in ("sys.path.insert", "sys.path.append", "sys.path.extend", "site.addsitedir"):
            self._sys_path_call(node, name, ctx)
            return
        if name in ("importlib.import_module", "__import__", "importlib.__import__"):
            self._dynamic_import(node, name, ctx)
            return
        if ctx.latent:
            return
        self._reads(node, ctx)
        target = self._value(node.func, ctx)
        if not isinstance(target, (_Func, _Class)):
            self._download(node, name, ctx)
        if target is None and isinstance(node.func, ast.Attribute) and node.func.attr in _ALT_CONSTRUCTORS:
            owner = self._value(node.func.value, ctx)
            if isinstance(owner, _Class):
                self._construct(owner, ctx)
                return
        if isinstance(target, _Func):
            base = self._value(node.func.value, ctx) if isinstance(node.func, ast.Attribute) else None
            self._reach(target, ctx, bound=base)
        elif isinstance(target, _Class):
            self._construct(target, ctx)
        elif isinstance(target, _Inst):
            for m in _DUNDER_ON_CALL:
                f = self._method(target.cls, m)
                if f is not None:
                    self._reach(f, ctx, bound=target)
                    break
        elif target is None and isinstance(node.func, ast.Attribute):
            if self._value(node.func.value, ctx) is None:
                self._rta(node.func.attr, ctx)

    def _make_live(self, cls: _Class) -> None:
        """The running code uses the class: its methods answer calls on objects of unknown type."""
        if not cls.live:
            cls.live = True
            for c in self._mro(cls):
                for mname, f in c.methods.items():
                    site = self.rta_sites.get(mname)
                    if site is not None:
                        self._reach(f, site, bound=None)

    def _construct(self, cls: _Class, ctx: _Ctx) -> None:
        self._make_live(cls)
        for m in _CONSTRUCT:
            f = self._method(cls, m)
            if f is not None:
                self._reach(f, ctx, bound=_Inst(cls))

    def _rta(self, name: str, ctx: _Ctx, *, properties_only: bool = False) -> None:
        """A method called on an object of unknown type: the methods of that name of the live classes."""
        if not properties_only:
            self.rta_sites.setdefault(name, ctx)
        for c in self.classes:
            if c.live:
                f = c.methods.get(name)
                if f is not None and (f.is_property or not properties_only):
                    self._reach(f, ctx, bound=None)

    def _reach(self, fn: _Func, ctx: _Ctx, *, bound: Any) -> None:
        if ctx.latent or any(s[0] is fn for s in ctx.stack):
            return
        guarded_outside = self._catch(ctx)[0] is not None
        if False in fn.visits or guarded_outside in fn.visits:
            for exc in fn.escapes:
                self._fail(exc, ctx)
            return
        if len(ctx.stack) > _MAX_DEPTH:
            return
        fn.visits.add(guarded_outside)
        fctx = _Ctx(fn.mod, func=fn, frames=ctx.frames, stack=ctx.stack + ((fn, len(ctx.frames)),),
                    phase=ctx.phase, via=ctx.via + (fn.qualname,), locals=self._params(fn, bound),
                    conditional=ctx.conditional, note=ctx.note)
        self._block(fn.node.body, fctx)

    def _params(self, fn: _Func, bound: Any = None) -> dict[str, Any]:
        out = dict(fn.closure)
        args = fn.node.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        base = _Ctx(fn.mod)
        for i, a in enumerate(params):
            if i == 0 and fn.cls is not None and not fn.is_static and a in (args.posonlyargs + args.args):
                out[a.arg] = fn.cls if fn.is_classmethod else (bound if isinstance(bound, _Inst) else _Inst(fn.cls))
            elif a.annotation is not None:
                t = self._annotation(a.annotation, base)
                if t is not None:
                    out[a.arg] = t
        return out

    def _annotation(self, node: ast.AST, ctx: _Ctx) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._annotation(node.left, ctx) or self._annotation(node.right, ctx)
        if isinstance(node, ast.Subscript) and (dotted(node.value) or "").split(".")[-1] in ("Optional", "Union"):
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return next((t for t in (self._annotation(x, ctx) for x in inner) if t is not None), None)
        v = self._value(node, ctx)
        return _Inst(v) if isinstance(v, _Class) else None

    # -- values ------------------------------------------------------------------------------------------
    def _name(self, name: str, ctx: _Ctx) -> Any:
        if name in ctx.locals:
            return ctx.locals[name]
        mod = ctx.mod
        if name in mod.values:
            return mod.values[name]
        if name in mod.defs:
            return mod.defs[name]
        if name in mod.aliases:
            return self._lookup(mod.aliases[name])
        return _EXT if hasattr(builtins, name) else None

    def _value(self, node: ast.AST, ctx: _Ctx, depth: int = 0) -> Any:
        if depth > 20:
            return None
        if isinstance(node, ast.Name):
            return self._name(node.id, ctx)
        if isinstance(node, ast.Attribute):
            return self._attr(self._value(node.value, ctx, depth + 1), node.attr, ctx)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "super" and ctx.func and ctx.func.cls:
                return _Super(ctx.func.cls)
            callee = self._value(node.func, ctx, depth + 1)
            if isinstance(callee, _Class):
                return _Inst(callee)
            if callee is None and isinstance(node.func, ast.Attribute) and node.func.attr in _ALT_CONSTRUCTORS:
                owner = self._value(node.func.value, ctx, depth + 1)
                if isinstance(owner, _Class):
                    return _Inst(owner)
            if isinstance(callee, _Func):
                return self._returns(callee)
            return _EXT if isinstance(callee, (_External, _ModRef)) else None
        if isinstance(node, (ast.Constant, ast.JoinedStr, ast.List, ast.Dict, ast.Tuple, ast.Set, ast.BinOp)):
            return _EXT
        return None

    def _attr(self, base: Any, attr: str, ctx: _Ctx) -> Any:
        if isinstance(base, _ModRef):
            mod = self.by_name.get(base.name)
            if mod is None:
                return _EXT
            if attr in mod.values:
                return mod.values[attr]
            if attr in mod.defs:
                return mod.defs[attr]
            sub = f"{base.name}.{attr}"
            if sub in self.by_name:
                return _ModRef(sub)
            if attr in mod.aliases:
                return self._lookup(mod.aliases[attr])
            return None
        if isinstance(base, _Class):
            return self._method(base, attr) or next((c.attrs[attr] for c in self._mro(base) if attr in c.attrs), None)
        if isinstance(base, _Inst):
            f = self._method(base.cls, attr)
            if f is not None:
                return f
            return next((c.attrs[attr] for c in self._mro(base.cls) if attr in c.attrs), None)
        if isinstance(base, _Super):
            for c in self._mro(base.cls)[1:]:
                if attr in c.methods:
                    return c.methods[attr]
            return _EXT
        if isinstance(base, (_External, _Func)):
            return _EXT
        return None

    def _lookup(self, name: str, depth: int = 0) -> Any:
        """A dotted name an import bound (``pkg.mod.Thing``) → the project object, or external."""
        if depth > 10:
            return None
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            if head in self.by_name:
                obj: Any = _ModRef(head)
                for attr in parts[i:]:
                    obj = self._attr(obj, attr, _Ctx(self.by_name[head]))
                    if obj is None:
                        return None
                return obj
        return _EXT

    def _method(self, cls: _Class, name: str) -> _Func | None:
        for c in self._mro(cls):
            if name in c.methods:
                return c.methods[name]
        return None

    def _mro(self, cls: _Class) -> list[_Class]:
        if cls._mro is None:
            cls._mro = [cls]
            out = [cls]
            for b in cls.node.bases:
                v = self._value(b, _Ctx(cls.mod))
                if isinstance(v, _Class) and v is not cls:
                    out += [c for c in self._mro(v) if c not in out]
            cls._mro = out
        return cls._mro

    def _returns(self, fn: _Func) -> Any:
        if not fn.returns_done:
            fn.returns_done = True
            ctx = _Ctx(fn.mod, locals=self._params(fn))
            for r in _own_nodes(fn.node.body):
                if isinstance(r, ast.Return) and r.value is not None:
                    v = self._value(r.value, ctx, 5)
                    if isinstance(v, (_Inst, _Class, _Func)):
                        fn.returns = v
                        break
        return fn.returns

    def _class_of(self, node: ast.ClassDef, ctx: _Ctx) -> _Class | None:
        if ctx.func is None:
            owner = ctx.cls.attrs if ctx.cls is not None else ctx.mod.defs
            c = owner.get(node.name)
            return c if isinstance(c, _Class) and c.node is node else next(
                (k for k in self.classes if k.node is node), None)
        c = _Class(ctx.mod, node, f"{ctx.func.qualname}.{node.name}")
        self.classes.append(c)
        self._index(ctx.mod, node.body, c, c.qualname + ".")
        ctx.locals[node.name] = c
        return c

    # -- failures ----------------------------------------------------------------------------------------
    def _catch(self, ctx: _Ctx, exc: str = _FAIL_IMPORT) -> tuple[str | None, tuple[str, ...]]:
        """What the enclosing handlers do with ``exc``: (the clause that swallows it, the clauses that re-raise)."""
        reraised: list[str] = []
        for f in reversed(ctx.frames):
            h = f.first_match(exc)
            if h is None:
                continue
            if h.raises is None:
                return h.label_for(exc), tuple(reraised)
            reraised.append(h.label_for(exc))
            exc = exc if h.raises == "\x00" else h.raises
        return None, tuple(reraised)

    def _fail(self, exc: str, ctx: _Ctx, key: tuple[str, int, str] | None = None) -> tuple[str | None, tuple[str, ...]]:
        """A failure raised at ``ctx``: marks the frames it reaches and the functions/modules it leaves."""
        if ctx.latent:
            return self._catch(ctx, exc)
        reraised: list[str] = []
        si = len(ctx.stack) - 1
        for i in range(len(ctx.frames) - 1, -1, -1):
            while si >= 0 and ctx.stack[si][1] > i:
                ctx.stack[si][0].escapes.add(exc)
                si -= 1
            f = ctx.frames[i]
            h = f.first_match(exc)
            if h is None:
                continue
            f.failed = True
            f.failed_types.add(exc)
            if key is not None:
                f.caught.append(key)
            if h.raises is None:
                return h.label_for(exc), tuple(reraised)
            reraised.append(h.label_for(exc))
            exc = exc if h.raises == "\x00" else h.raises
        while si >= 0:
            ctx.stack[si][0].escapes.add(exc)
            si -= 1
        return None, tuple(reraised)

    # -- imports -----------------------------------------------------------------------------------------
    def _import_stmt(self, node: ast.Import | ast.ImportFrom, ctx: _Ctx) -> None:
        mod = ctx.mod
        stmt = ast.unparse(node)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    mod.aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    mod.aliases.setdefault(head, head)
                if ctx.func is not None:  # the local name now means the module
                    ctx.locals.pop(alias.asname or alias.name.split(".")[0], None)
                self._import(mod, alias.name, node.lineno, stmt, ctx, "import")
            return
        base = node.module or ""
        if node.level:
            target = _relative(mod, node.level, base)
            if target is None:
                key = (mod.path, node.lineno, "." * node.level + base)
                guard, reraised = self._fail("ImportError", ctx, key)
                self._add(ImportRecord(mod.path, node.lineno, "." * node.level + base, stmt, "unresolved", guard,
                                       _fname(ctx), "from", note="relative import outside a package",
                                       phase=ctx.phase, via=ctx.via, reraised_by=reraised,  # type: ignore[arg-type]
                                       conditional=ctx.conditional))
                return
            base = target
        for alias in node.names:
            if alias.name != "*":
                mod.aliases[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                if ctx.func is not None:
                    ctx.locals.pop(alias.asname or alias.name, None)
        rec = self._import(mod, base, node.lineno, stmt, ctx, "from") if base else None
        if rec is None or rec.status != "archive" or not rec.resolved:
            return
        target_mod = self.by_name.get(base)
        for alias in node.names:
            if alias.name == "*":
                self._star(mod, base, target_mod, node, ctx)
                continue
            sub = None
            if not rec.resolved.endswith(".py") and not ctx.latent:
                sub = self._load_submodule(base, alias.name, rec.resolved, ctx)
            if (sub is None and target_mod is not None and target_mod.state == "running"
                    and alias.name not in target_mod.bound and alias.name not in target_mod.defs):
                key = (mod.path, node.lineno, f"{base}.{alias.name}")
                guard, reraised = self._fail("ImportError", ctx, key)
                self._add(ImportRecord(
                    mod.path, node.lineno, f"{base}.{alias.name}", stmt, "circular", guard, _fname(ctx), "from",
                    target_mod.path, f"cannot import name {alias.name!r} from partially initialized module {base!r}"
                    " (circular import)", ctx.phase, ctx.via, reraised, ctx.conditional))  # type: ignore[arg-type]

    def _star(self, mod: _Mod, base: str, target: _Mod | None, node: ast.ImportFrom, ctx: _Ctx) -> None:
        names: list[str] = []
        if target is not None:
            explicit = _literal_all(target)
            pool = list(target.defs) + list(target.values) + list(target.aliases)
            names = explicit if explicit is not None else [n for n in dict.fromkeys(pool) if not n.startswith("_")]
            for n in names:
                mod.aliases.setdefault(n, f"{base}.{n}")
        self.findings.append(Finding(
            "star-import", "info",
            f"{mod.path}:{node.lineno} `from {base} import *`: cannot resolve statically which names it binds "
            f"beyond {base}'s top-level definitions ({len(names)} taken); calls through other names are not "
            "followed (the load check runs it for real).",
            [f"{mod.path}:{node.lineno} {ast.unparse(node)}"], {"file": mod.path, "line": node.lineno,
                                                                "module": base, "names": names[:50]}))

    def _dynamic_import(self, call: ast.Call, name: str, ctx: _Ctx) -> None:
        mod = ctx.mod
        env = {**mod.env, **ctx.env}
        target = as_str(mod.eval(call.args[0], env)) if call.args else None
        package = None
        for kw in call.keywords:
            if kw.arg == "package":
                package = as_str(mod.eval(kw.value, env))
                if package is None and isinstance(kw.value, ast.Name) and kw.value.id in ("__name__", "__package__"):
                    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
        if target is None:
            self.findings.append(Finding(
                "dynamic-import", "info",
                f"{mod.path}:{call.lineno} cannot resolve statically: it imports a module whose name is computed at "
                "run time (the load check runs it for real).",
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

    def _import(self, mod: _Mod, module: str, line: int, stmt: str, ctx: _Ctx, kind: str) -> ImportRecord:
        status, resolved, note, chain = self._resolve(module)
        key = (mod.path, line, module)
        if status == "unresolved":
            guard, reraised = self._fail(_FAIL_IMPORT, ctx, key)
        else:
            guard, reraised = self._catch(ctx)
        rec = ImportRecord(mod.path, line, module, stmt, status, guard, _fname(ctx), kind,  # type: ignore[arg-type]
                           resolved, note if note or not ctx.note else ctx.note, ctx.phase,  # type: ignore[arg-type]
                           ctx.via, reraised, ctx.conditional,
                           search_path=tuple(self.front + self.back) if status == "unresolved" else ())
        self._add(rec)
        if not ctx.latent:
            # Importing a.b.c runs a/__init__.py, a/b/__init__.py, then a/b/c.py.
            for path, name, is_pkg in chain:
                self._exec_module(path, name, is_pkg, ctx)
        return rec

    def _add(self, rec: ImportRecord) -> None:
        self.log.append(rec)
        key = (rec.file, rec.line, rec.module)
        old = self.records.get(key)
        if old is None or _rank(rec) < _rank(old):
            self.records[key] = rec

    def _load_submodule(self, package: str, name: str, package_dir: str, ctx: _Ctx) -> _Mod | None:
        for portion in package_dir.split("|"):
            found = self.archive.find(portion, name)
            if found and found[0] in ("package", "module"):
                kind, path = found
                if kind == "package":
                    path = join(path, "__init__.py")
                return self._exec_module(path, f"{package}.{name}", kind == "package", ctx)
        return None

    def _resolve(self, module: str) -> tuple[Status, str | None, str | None, list[tuple[str, str, bool]]]:
        parts = module.split(".")
        top = parts[0]
        if top in sys.builtin_module_names or top == "__future__":
            return "stdlib", None, None, []
        found = self._find_top(top, self.front)
        if found is None or found[0] == "namespace":
            if top in STDLIB:
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
            chain.append((join(path, "__init__.py"), top, True))
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
                return "unresolved", path, PARTIAL.format(found=".".join(parts[:i]), at=portions[0], missing=name), chain
            kind, path = nxt
            if kind == "package":
                chain.append((join(path, "__init__.py"), name, True))
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

    # -- sys.path and data reads -------------------------------------------------------------------------
    def _sys_path_call(self, call: ast.Call, name: str, ctx: _Ctx) -> None:
        mod = ctx.mod
        env = {**mod.env, **ctx.env}
        position = "front" if name.endswith("insert") else "back"
        if name.endswith("insert"):
            arg_nodes: list[ast.expr | None] = list(call.args[1:2])
        elif name.endswith("extend"):
            arg = call.args[0] if call.args else None
            arg_nodes = list(arg.elts) if isinstance(arg, (ast.List, ast.Tuple)) else [arg] if arg else []
        else:
            arg_nodes = list(call.args[:1])
        for a in arg_nodes:
            if a is None or isinstance(a, ast.Starred):
                value, expr = None, mod.line(call.lineno)
            else:
                value, expr = as_str(mod.eval(a, env)), ast.unparse(a)
            if value is not None:
                # A relative path is relative to the worker's working directory: not knowable here.
                value = posixpath.normpath(value) if value.startswith("/") else None
            adir = archive_dir(value) if value is not None else None
            self.sys_path.append(SysPathEntry(mod.path, call.lineno, expr, value, adir, position,  # type: ignore[arg-type]
                                              _fname(ctx), not ctx.latent))
            if value is None:
                self.findings.append(Finding(
                    "dynamic-sys-path", "warning",
                    f"{mod.path}:{call.lineno} cannot resolve statically: it adds to sys.path a value computed at run "
                    "time; imports that rely on it are checked without it (the load check runs it for real).",
                    [f"{mod.path}:{call.lineno} {mod.line(call.lineno)}"], {"file": mod.path, "line": call.lineno}))
            elif adir is None:
                self.findings.append(Finding(
                    "sys-path-outside-model", "info",
                    f"{mod.path}:{call.lineno} adds {value} to sys.path, which is outside the model directory "
                    f"({MODEL_DIR}); nothing in the archive is found through it.",
                    [f"{mod.path}:{call.lineno} {mod.line(call.lineno)}"], {"file": mod.path, "value": value}))
            elif not ctx.latent:
                roots = self.front if position == "front" else self.back
                if adir in roots:
                    roots.remove(adir)
                if position == "front":
                    roots.insert(0, adir)
                else:
                    roots.append(adir)

    def _reads(self, call: ast.Call, ctx: _Ctx) -> None:
        """Paths under the model dir that running code passes to a call (opens, loads, joins). A probe
        (``.exists()``, ``os.path.isfile``) is no read, and neither is one the code makes only after a probe of
        the same path or under a handler that catches ``FileNotFoundError`` and carries on: it falls back."""
        if self._probe_arg(call, ctx) is not None or _not_a_read(ctx.mod.canonical(call.func), call):
            return
        handled = self._catch(ctx, "FileNotFoundError")[0] is not None
        env = {**ctx.mod.env, **ctx.env}
        extra = [call.func.value] if isinstance(call.func, ast.Attribute) else []
        for a in [*call.args[:2], *extra]:
            if isinstance(a, (ast.Constant, ast.Name, ast.JoinedStr, ast.BinOp, ast.Call, ast.Attribute)):
                v = as_str(ctx.mod.eval(a, env))
                if v and v.startswith(MODEL_DIR + "/"):
                    rel = archive_dir(v)
                    if rel and not rel.startswith("code/") and not rel.endswith(".py"):
                        optional = handled or posixpath.normpath(v) in ctx.probed
                        (self.optional_reads if optional else self.reads).setdefault(rel, None)

    def _probe_arg(self, call: ast.AST, ctx: _Ctx) -> str | None:
        """The path a probe call tests (normalised), '' when it is a probe of an unknown path, else None."""
        if not isinstance(call, ast.Call):
            return None
        env = {**ctx.mod.env, **ctx.env}
        if isinstance(call.func, ast.Attribute) and call.func.attr in _PROBE_METHODS and not call.args:
            target: ast.AST | None = call.func.value
        elif ctx.mod.canonical(call.func) in _PROBES:
            target = call.args[0] if call.args else None
        else:
            return None
        v = as_str(ctx.mod.eval(target, env)) if target is not None else None
        return posixpath.normpath(v) if v else ""

    def _probed_by(self, test: ast.AST, ctx: _Ctx) -> tuple[frozenset[str], frozenset[str]]:
        """The paths an ``if`` test proves to exist in its body, and in its ``else``."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            yes, no = self._probed_by(test.operand, ctx)
            return no, yes
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            got = [self._probed_by(v, ctx)[0] for v in test.values]
            return frozenset().union(*got), frozenset()
        p = self._probe_arg(test, ctx)
        return (frozenset({p}) if p else frozenset()), frozenset()

    def _probe_exit(self, node: ast.stmt, ctx: _Ctx) -> frozenset[str]:
        """``if not <probe>: ... return/continue/break``: the paths known to exist after it."""
        if not isinstance(node, ast.If) or node.orelse or not node.body:
            return frozenset()
        if not isinstance(node.body[-1], (ast.Return, ast.Continue, ast.Break)):
            return frozenset()
        return self._probed_by(node.test, ctx)[1]

    def _download(self, call: ast.Call, name: str | None, ctx: _Ctx) -> None:
        """A call that fetches over the network when it runs (see :mod:`.downloads`)."""
        env = {**ctx.mod.env, **ctx.env}

        def value(node: ast.AST) -> Any:
            if isinstance(node, ast.Constant):
                return node.value
            v = as_str(ctx.mod.eval(node, env))
            return v if v is not None else UNKNOWN

        hit = match_download(name, call, value, smp_before_hub=self.smp_before_hub)
        if hit is not None:
            guard = self._catch(ctx, "ConnectionError")[0]
            self.downloads.append(Download(hit.call, ctx.mod.path, call.lineno, ctx.mod.line(call.lineno), hit.host,
                                           hit.what, hit.certain, ctx.phase, ctx.via, guard, hit.hint))


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
