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
from dataclasses import replace
from typing import Any

from ..findings import Finding
from .downloads import Download
from .guards import frame_of_try, frame_of_with
from .records import ImportRecord, SysPathEntry
from .resolver_imports import ImportWalk
from .tree import ArchiveTree
from .values import dotted
from .walk import (
    _ALT_CONSTRUCTORS,
    _CONSTRUCT,
    _DUNDER_ON_CALL,
    _EXT,
    _FAIL_IMPORT,
    _MAX_DEPTH,
    TOOLKIT_HANDLERS,
    _bound_names,
    _Class,
    _Ctx,
    _External,
    _Func,
    _Inst,
    _is_main_guard,
    _is_type_checking,
    _may_raise_other,
    _Mod,
    _ModRef,
    _own_nodes,
    _sub_bodies,
    _Super,
)

__all__ = ["Resolver"]


# ------------------------------------------------------------------------------------------- the resolver


class Resolver(ImportWalk):
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
