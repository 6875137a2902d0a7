"""Exception semantics of ``try``/``except`` and ``contextlib.suppress``, statically.

A failing import raises ``ModuleNotFoundError`` (a subclass of ``ImportError``, ``Exception``,
``BaseException``). Walking the enclosing handlers innermost first, the first clause whose types match catches
it (Python picks the first matching clause of a ``try``). If that clause always ends in ``raise``
(bare, ``raise X``, ``raise X from e``) or ``sys.exit(...)``, the exception -- or the new one -- travels on to
the next enclosing ``try``, across function calls; a clause that completes (logs and carries on, returns a
default) is a guard: the code continues on a degraded path.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Frame", "Handler", "always_raises", "exception_mro", "frame_of_try", "frame_of_with", "handler_names"]

_EXIT_CALLS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort", "builtins.exit"})


def exception_mro(name: str) -> tuple[str, ...]:
    """The class names an exception of type ``name`` is an instance of (unknown classes: an ``Exception``)."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return tuple(c.__name__ for c in cls.__mro__ if issubclass(c, BaseException))
    return (name, "Exception", "BaseException")


def _exc_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _exc_name(node.func)
    return None


def handler_names(h: ast.ExceptHandler) -> tuple[str, ...] | None:
    """The exception class names a clause names (None for a bare ``except:``); unknown forms give ``()``."""
    if h.type is None:
        return None
    nodes = list(h.type.elts) if isinstance(h.type, ast.Tuple) else [h.type]
    return tuple(n for n in (_exc_name(x) for x in nodes) if n)


def always_raises(body: list[ast.stmt], canonical: Callable[[ast.AST], str | None], caught: str,
                  bound: str | None) -> str | None:
    """The exception type ``body`` (an ``except`` clause that caught ``caught``, bound to ``bound``) always
    ends in, or None when some path completes normally (a guard)."""
    for st in body:
        if isinstance(st, ast.Raise):
            if st.exc is None:
                return caught
            if isinstance(st.exc, ast.Name) and st.exc.id == bound:
                return caught
            return _exc_name(st.exc) or "Exception"
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and canonical(st.value.func) in _EXIT_CALLS:
            return "SystemExit"
        if isinstance(st, (ast.Return, ast.Continue, ast.Break)):
            return None
        if isinstance(st, ast.If):
            a = always_raises(st.body, canonical, caught, bound)
            b = always_raises(st.orelse, canonical, caught, bound) if st.orelse else None
            if a and b:
                return a
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            r = always_raises(st.body, canonical, caught, bound)
            if r:
                return r
        elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
            r = always_raises(st.finalbody, canonical, caught, bound)  # type: ignore[attr-defined]
            if r:
                return r
    return None


@dataclass
class Handler:
    """One ``except`` clause: the names it catches (None: everything), what it always raises (None: it
    completes), where it is."""

    names: tuple[str, ...] | None
    raises: str | None
    label: str
    node: ast.ExceptHandler | None = None

    def label_for(self, exc: str) -> str:
        """``except <the name that catches exc>`` (``except:`` for a bare clause)."""
        if self.names is None:
            return "except:"
        mro = exception_mro(exc)
        return next((f"except {n}" for n in self.names if n in mro), self.label)

    def catches(self, exc: str) -> bool:
        if self.names is None:
            return True
        mro = exception_mro(exc)
        return any(n in mro for n in self.names)

    @property
    def only_import_errors(self) -> bool:
        return self.names is not None and bool(self.names) and all(
            n in ("ImportError", "ModuleNotFoundError") for n in self.names)


@dataclass
class Frame:
    """An enclosing ``try`` (or ``suppress``): its clauses in order. ``failed``: a failure the analysis
    found in its body reaches it; ``caught``: keys of the import records whose failure it catches."""

    handlers: list[Handler]
    file: str
    line: int
    failed: bool = False
    caught: list[tuple[str, int, str]] = field(default_factory=list)
    failed_types: set[str] = field(default_factory=set)

    def first_match(self, exc: str) -> Handler | None:
        return next((h for h in self.handlers if h.catches(exc)), None)


def frame_of_try(node: ast.Try, file: str, canonical: Callable[[ast.AST], str | None]) -> Frame:
    handlers = []
    for h in node.handlers:
        names = handler_names(h)
        shown = "except:" if names is None else f"except {', '.join(names) or ast.unparse(h.type or h)}"
        # What the clause raises depends on what it caught; computed per caught type in `raises_for`.
        raises = always_raises(h.body, canonical, "\x00", h.name)
        handlers.append(Handler(names, raises, shown, h))
    return Frame(handlers, file, node.lineno)


def frame_of_with(node: ast.With | ast.AsyncWith, file: str,
                  canonical: Callable[[ast.AST], str | None]) -> Frame | None:
    """``with contextlib.suppress(ImportError, ...)``: a clause that catches those names and completes."""
    for item in node.items:
        c = item.context_expr
        if isinstance(c, ast.Call) and (canonical(c.func) or "").split(".")[-1] == "suppress":
            names = tuple(n for n in (_exc_name(a) for a in c.args) if n)
            return Frame([Handler(names, None, f"suppress({', '.join(names)})")],
                         file, node.lineno)
    return None
