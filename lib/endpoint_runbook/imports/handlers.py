"""The handlers' signatures against how the toolkit calls them, statically.

The SageMaker inference toolkit (``sagemaker_inference.transformer.Transformer._run_handler_function``, the
same in sagemaker-inference 1.10 and the copy the PyTorch toolkit vendors from 2.0.21 on) counts a handler's
parameters (``len(inspect.signature(fn).parameters)``: every parameter, ``*args``, keyword-only and ``**kwargs``
included) and calls it with its own arguments when the count matches, with its context object appended when the
handler has exactly one parameter more, and raises ``TypeError`` for any other count. Its arguments:
``model_fn(model_dir)``, ``input_fn(input_data, content_type)``, ``predict_fn(data, model)``,
``output_fn(prediction, accept)``, ``transform_fn(model, input_data, content_type, accept)``.

A signature the container trips on is named: ``model-fn-signature`` (the worker dies loading the model) or
``handler-signature`` (every request fails), with the ``def``'s line and what to change. A parameter with a
default that receives the context (``model_fn(model_dir, file_name=None)``) is a warning: the code will see the
toolkit's context where it expects its default; the load check shows whether that breaks it.
"""

from __future__ import annotations

import ast

from ..findings import Finding
from .records import ImportReport
from .tree import ArchiveTree

__all__ = ["TOOLKIT_ARGUMENTS", "handler_signature_findings", "signature_problem"]

#: What the toolkit passes each handler (before the context it appends to a handler with one more parameter).
TOOLKIT_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "model_fn": ("model_dir",), "input_fn": ("input_data", "content_type"), "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"), "transform_fn": ("model", "input_data", "content_type", "accept"),
}
_CONTEXT_NAMES = ("context", "ctx", "_context", "request_context", "_ctx", "_")


def signature_problem(handler: str, args: ast.arguments) -> tuple[str, str] | None:
    """(severity, what happens) when the toolkit's call of ``handler`` with these parameters fails or hands
    the context to a parameter that expects something else; None when the call is fine."""
    passed = TOOLKIT_ARGUMENTS[handler]
    positional = [*args.posonlyargs, *args.args]
    n = len(positional) + len(args.kwonlyargs) + (args.vararg is not None) + (args.kwarg is not None)
    if n not in (len(passed), len(passed) + 1):
        return "error", (f"it has {n} parameter{'s' * (n != 1)}, and the toolkit calls {handler} with "
                         f"{len(passed)} ({', '.join(passed)}) or, for a handler with one parameter more, with its "
                         f"context appended: TypeError: {handler} takes {n} arguments but {len(passed)} were given")
    k = n  # positional arguments the toolkit passes: its own, plus the context when there is one more parameter
    if k > len(positional) and args.vararg is None:
        extra = "**" + args.kwarg.arg if args.kwarg is not None and not args.kwonlyargs else \
            ", ".join(a.arg for a in args.kwonlyargs) or "?"
        return "error", (f"the toolkit passes {k} positional argument{'s' * (k != 1)} "
                         f"({', '.join(passed)}{', context' if k > len(passed) else ''}) but {extra} can only be "
                         "given by keyword: TypeError")
    required_kw = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if required_kw:
        return "error", f"the toolkit never passes the keyword-only {', '.join(required_kw)}: TypeError"
    if k == len(passed) + 1 and k <= len(positional):
        slot = positional[k - 1]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        if defaults[k - 1] is not None and slot.arg not in _CONTEXT_NAMES:
            return "warning", (f"the toolkit passes its context object as the parameter {slot.arg!r} (its default "
                               f"{ast.unparse(defaults[k - 1])} is never used): code that uses {slot.arg} as "
                               f"{'a path' if handler == 'model_fn' else 'its own value'} gets the context instead")
    return None


def handler_signature_findings(report: ImportReport, tree: ArchiveTree) -> list[Finding]:
    """A finding per handler of the entry script whose signature the toolkit's call trips on."""
    out: list[Finding] = []
    for handler, where in report.handlers.items():
        if handler not in TOOLKIT_ARGUMENTS:
            continue
        path, _, line = where.rpartition(":")
        src = tree.source(path)
        if src is None or not line.isdigit():
            continue
        try:
            node = next((n for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and n.lineno == int(line)), None)
        except SyntaxError:
            continue
        if node is None or node.decorator_list:  # a decorator may change the signature the toolkit sees
            continue
        problem = signature_problem(handler, node.args)
        if problem is None:
            continue
        severity, what = problem
        passed = TOOLKIT_ARGUMENTS[handler]
        wanted = f"def {handler}({', '.join(passed)})" + (
            f" or def {handler}({', '.join(passed)}, context)" if handler != "transform_fn" else "")
        startup = handler == "model_fn"
        out.append(Finding(
            "model-fn-signature" if startup else "handler-signature", severity,
            f"{where} def {node.name}({ast.unparse(node.args)}): {what}"
            + (": the worker dies loading the model" if startup and severity == "error" else
               ": every request fails" if severity == "error" else "")
            + f". Make it {wanted}, and pass the optional values some other way.",
            [f"{where} {src.decode('utf-8', 'replace').splitlines()[node.lineno - 1].strip()}"],
            {"handler": handler, "file": path, "line": int(line), "parameters": ast.unparse(node.args),
             "toolkit_passes": list(passed), "phase": "model_fn" if startup else "request", "source": "static"}))
    return out
