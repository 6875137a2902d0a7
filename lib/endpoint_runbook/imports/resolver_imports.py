"""The resolver's import side: an ``import`` statement resolved as the container resolves it (the archive's
``sys.path`` in order, then the image), failures travelling out through the enclosing ``try`` clauses,
``sys.path`` changes, data reads and downloads (:class:`ImportWalk`, a part of :class:`.resolver.Resolver`)."""

from __future__ import annotations

import ast
import posixpath
import sys
from typing import Any

from ..findings import Finding
from .downloads import UNKNOWN, Download, match_download
from .records import MODEL_DIR, STDLIB, ImportRecord, Status, SysPathEntry
from .tree import archive_dir, join
from .values import as_str
from .walk import (
    _FAIL_IMPORT,
    _PATH_KEYWORDS,
    _PROBE_METHODS,
    _PROBES,
    PARTIAL,
    _Ctx,
    _fname,
    _literal_all,
    _Mod,
    _not_a_read,
    _rank,
    _relative,
)


class ImportWalk:
    """The import statements, failures, ``sys.path`` changes, reads and downloads of :class:`.resolver.Resolver`
    (which holds the state these methods use)."""

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
        named = [kw.value for kw in call.keywords if kw.arg in _PATH_KEYWORDS]
        for a in [*call.args[:2], *named, *extra]:
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
                                           hit.what, hit.certain, ctx.phase, ctx.via, guard, hit.hint,
                                           hit.target))
