"""What a traceback's frames and the whole log say beyond the lines' own words: a cause from where a traceback ran
when its exception line names none, and the missing modules that are really something else (the entry script, a
module of another version of a framework a pickle names). Used by :mod:`.matching`'s scanner.
"""

from __future__ import annotations

import re

from .causes import Strength
from .lines import (
    _CONTAINER_CODE,
    _LOAD_PATH,
    _SCRIPT_NAME,
    _SERVE_PATH,
    _SERVING_PACKAGE,
    ENGINE_PACKAGES,
    SERVING_PACKAGES,
    _Frame,
    _frame_text,
    _Hit,
    _is_user_frame,
    _Traceback,
    package_path,
)

__all__ = ["derive_from_frames", "relabel_missing_module", "relabel_traceback_import"]

# A submodule of a framework a model is pickled with, and a traceback frame that unpickles.
_FRAMEWORK_SUBMODULE = re.compile(r"(?:sklearn|xgboost|lightgbm|catboost|numpy|pandas|scipy|statsmodels)\.\w")
# a line that says a model was being loaded when the import failed (a server's wrapper of the exception)
_LOADING = re.compile(r"\b(?:fail(?:ed)? to load|(?:error|exception) (?:while |when )?loading|load_model|loading) "
                      r"(?:the )?model\b", re.IGNORECASE)
_UNPICKLE = re.compile(r"pickle\.loads?\(|joblib\.load\(|numpy_pickle|\bfind_class\b|\bload_build\b|"
                       r"torch\.load\(|pd\.read_pickle\(|\bcloudpickle\.load|\bdill\.loads?\(")
_TS_BUILTIN_HANDLERS = "ts.torch_handler."  # the fallback TorchServe tries after the user's handler failed
_ENGINE_PACKAGE = package_path(ENGINE_PACKAGES)
# Exceptions that mean a defect of the code they are raised in (not bad input or a missing resource); a lookup
# (IndexError, KeyError) that fails inside the serving stack with no model frame on the way is its own too (weak).
_DEFECT = frozenset(("NameError", "UnboundLocalError", "AttributeError", "TypeError", "IndexError", "KeyError",
                     "ZombieProcess"))


def derive_from_frames(tb: _Traceback, exc: str, msg: str, inner: _Frame | None,
                       funcs: set[str | None]) -> tuple[str | None, Strength]:
    """A cause from where a traceback ran when its exception line names none."""
    files = [f.file for f in tb.frames]
    if "default_model_fn" in funcs:
        return "default-handler-used", "likely"  # the toolkit's own model_fn: the user's was not found
    if any(f.endswith("gunicorn/sock.py") for f in files) and exc == "OSError":
        return "toolkit-bug", "likely"  # gunicorn's socket options refused by the kernel (SO_REUSEPORT)
    if exc == "KeyError" and any(f.endswith("configuration_auto.py") for f in files):
        return "unsupported-model-architecture", "likely"  # transformers does not know the model_type
    if exc == "KeyError" and any(f.file.endswith("pickle.py") and "dispatch[" in (f.code or "") for f in tb.frames):
        return "framework-version-mismatch", "likely"  # an opcode pickle does not know: a newer pickle/joblib wrote it
    if exc == "IndexError" and "get_loaded_booster" in funcs:
        return "model-file-not-found", "likely"  # the XGBoost container found no model file to load
    if funcs & _LOAD_PATH and (exc == "FileNotFoundError" or "No such file or directory" in msg):
        return "model-file-not-found", "likely"
    if funcs & _LOAD_PATH:
        return "model-fn-error", "likely"
    if inner is not None and inner.func == "<module>":
        return "import-error", "likely"
    if funcs & _SERVE_PATH or inner is not None:
        return "invocation-error", "likely"
    if inner is None and exc in _DEFECT and any(_SERVING_PACKAGE.search(f) for f in files):
        return "toolkit-bug", "weak"  # raised inside the serving stack's own code, no user frame on the way
    return None, "weak"


def relabel_traceback_import(h: _Hit, tb: _Traceback) -> None:
    """A missing module whose traceback says it is something else: a pickled framework's submodule, or a module an
    engine's own serving code imports."""
    _relabel_pickled_submodule(h, tb)
    if h.code == "missing-module":
        _relabel_serving_stack_import(h, tb)


def _relabel_serving_stack_import(h: _Hit, tb: _Traceback) -> None:
    """A module an engine's own serving code imports, or the image's own entry code outside any package (TorchServe's
    KServe wrapper importing tornado), with no user frame on the way (TGI's attention layers importing flashinfer):
    the image ships its server without it — these imports run before any model's requirements.txt could be
    installed, so it is the image's defect to work around (another tag), not a package the model lacks. (Inside the
    SageMaker toolkits', the TF Serving container's /sagemaker/ scripts and TorchServe's own packages a missing
    module stays one to add: their images install the model's requirements.txt before running them.)"""
    if tb.frames and not any(_is_user_frame(f.file) for f in tb.frames) \
            and (_ENGINE_PACKAGE.search(tb.frames[-1].file) or _CONTAINER_CODE.match(tb.frames[-1].file)
                 and not tb.frames[-1].file.startswith("/sagemaker/")) \
            and h.details.get("module", "").split(".")[0] not in SERVING_PACKAGES:
        _relabel(h, "toolkit-bug", f"the image's own serving code ({_frame_text(tb.frames[-1])}) imports "
                                   f"{h.details.get('module')!r}, which the image does not have: use another tag of "
                                   "the image")


def _relabel_pickled_submodule(h: _Hit, tb: _Traceback) -> None:
    """Python names the first part of a dotted name it cannot import, so "a.b.c" missing means "a.b" was imported:
    a dotted name the unpickler itself resolves (find_class) is a module of the package's other version, whichever
    package it is — but for the model's own code (a folder its frames run from), which is code missing from what was
    shipped; and a framework's submodule missing in a traceback that unpickles is one of its other version
    (sklearn's _logistic, _forest ...)."""
    mod = h.details.get("module", "")
    own = {part for f in tb.frames if _is_user_frame(f.file) for part in f.file.split("/")[:-1]}
    resolved = "." in mod and mod.split(".")[0] not in own and any(f.func == "find_class" for f in tb.frames)
    if resolved or _FRAMEWORK_SUBMODULE.match(mod) \
            and any(_UNPICKLE.search(f"{f.file} {f.func} {f.code or ''}") for f in tb.frames):
        _pickled_by_another_version(h, mod)


def _pickled_by_another_version(h: _Hit, mod: str) -> None:
    _relabel(h, "framework-version-mismatch", f"a pickled model names a module ({mod}) this version of "
                                              f"{mod.split('.')[0]} does not have: load it with the version that "
                                              "saved it, or save it again with this one")


def _relabel(h: _Hit, code: str, reason: str, strength: Strength = "likely", **details: str) -> None:
    """A missing module that is something else: its new code and why (no package to add any more)."""
    h.code, h.strength = code, strength
    h.details = {**h.details, **details, "reason": reason}
    h.details.pop("package", None)


def relabel_missing_module(h: _Hit, entry_names: set[str]) -> None:
    """A missing module that is something else: NumPy 2's ``numpy._core`` (a pickle from NumPy 2); the module
    ``python -m`` was to run (the container's entrypoint not there); a module inside the image's own serving stack
    whose package is there (its parts' versions do not fit); the entry script itself (by the name the log gives for
    it, the toolkit importing it directly, or a script-like name such as ``inference`` or ``None``)."""
    mod = h.details.get("module", "")
    if mod == "numpy._core" or mod.startswith("numpy._core."):
        # NumPy 2 moved numpy.core to numpy._core: a pickle from NumPy 2 read by NumPy 1
        _relabel(h, "framework-version-mismatch", "the model was pickled with NumPy 2 (numpy._core); NumPy 1 reads it")
        return
    imported = re.match(r"\s*(?:from|import)\s", h.details.get("statement") or "")
    if _FRAMEWORK_SUBMODULE.match(mod) and not imported and (
            _LOADING.search(h.line) or any(p.startswith("_") for p in mod.split(".")[1:])):
        # a framework's submodule missing (so the framework is there) where a model is loaded, or a private one no
        # import statement of the model's code names: the pickled model names a module of another version of it
        _pickled_by_another_version(h, mod)
        return
    if "Error while finding module specification for" in h.line:
        # `python -m <module>` (an image's entrypoint) found no such module: what the container runs is not there
        # (a volume mounted over the package's folder, a PYTHONPATH or an image without it)
        _relabel(h, "missing-entry-script", "the module the container runs with python -m cannot be found")
        return
    top = mod.split(".")[0]
    if "." in mod and top in SERVING_PACKAGES and not mod.startswith(_TS_BUILTIN_HANDLERS):
        # a module inside the image's own serving stack is gone while its package is there: the stack's parts are
        # of versions that do not fit (an engine refactored under the server that imports it)
        _relabel(h, "toolkit-bug", f"{mod!r} is a module of the image's own serving stack ({top}), whose package is "
                                   "there: its parts' versions do not fit (use an image whose versions match)")
        return
    reason = None
    strength: Strength = "likely"
    if top in entry_names or mod in entry_names:
        reason, strength = "the missing module is the entry script the log names", "sure"
    elif mod == "None":
        reason, strength = "the toolkit imported a module named None: SAGEMAKER_PROGRAM is not set", "sure"
    elif h.details.get("imported_by_toolkit") and "." not in mod:
        reason = "the toolkit imports the entry module itself and cannot find it"
    elif top == "code" and "." in mod:
        reason = "the entry module was named as code.<script>: the stdlib module 'code' shadows it"
    elif _SCRIPT_NAME.match(mod):
        reason = f"{mod!r} is named like an entry script (SAGEMAKER_PROGRAM / entry_point)"
    if reason:
        _relabel(h, "missing-entry-script", reason, strength, entry_module=mod)
