"""What a log line is made of: the prefix a container's logger puts before the message (log4j, DJL, glog, Python
logging, the CloudWatch console's rows), the Python tracebacks the lines form (frames: whose code, which path), and
the scanner's record of a line a signature named."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .causes import Kind, Strength

# ------------------------------------------------------------------------------------------ log prefixes

_LOG4J = re.compile(
    r"^\d{4}-\d\d-\d\d[T ][\d:,.]+(?:Z|[+-]\d\d:?\d\d)?\s+\[\s*(?P<level>[A-Z]+)\s*\]\s+(?P<thread>\S+)\s+"
    r"(?P<logger>\S+)\s+- ?(?P<body>.*)$")
_LOG4J_BARE = re.compile(r"^(?:\[\s*[A-Z]+\s*\]\s+)?(?P<thread>W-\S+)\s+(?P<logger>[\w.$]+)\s+- ?(?P<body>.*)$")
_DJL = re.compile(r"^(?:.*?\s)?(?:PyProcess|Python[A-Za-z]*)\s+(?P<thread>W-\S+?):\s?(?P<body>.*)$")
_GLOG = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ )"
                   r"[\w./-]+:\d+\] (?P<body>.*)$")
_PYLOG = re.compile(r"^(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:"
                    r"|\d{4}-\d\d-\d\d[T ][\d:,.]+\s+(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+-\s+[\w.-]+\s+-\s+)"
                    r"(?P<body>.*)$")
# Heroku's logplex lines ("2020-03-05T09:21:49.428537+00:00 app[web.1]: ..."): the source and dyno are the key.
_LOGPLEX = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d) (?P<thread>[a-z]+\[[\w.-]+\]): (?P<body>.*)$")
# vLLM's logger ("ERROR 05-26 00:17:47 [engine.py:448] ..."), after its process tag in a multi-process engine
# ("(EngineCore_DP0 pid=1094) "): each line of a traceback it logs carries the prefix; the tag is the key.
_VLLM = re.compile(r"^(?P<thread>\([\w .=-]+ pid=\d+\) )?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) \d\d-\d\d "
                   r"\d\d:\d\d:\d\d(?:\.\d+)? \[[\w./-]+:\d+\] (?P<body>.*)$")
_WORKER = re.compile(r"^(W-\d+)[^ ]*?(?:-(stdout|stderr))?$")


# The CloudWatch console's "timestamp<TAB>message" rows (and a markdown quote a paste put after them).
_CONSOLE_ROW = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?\t(?:> )?")


def _split(line: str) -> tuple[str, str]:
    """(traceback key from the log4j/DJL worker thread, body). Lines without a known prefix: ('', line)."""
    if "\t" in line[:40]:
        cm = _CONSOLE_ROW.match(line)
        if cm:
            line = line[cm.end():]
    c = line[:1]
    m = None
    if c in ("E", "I", "W", "D", "C", "(") and " [" in line[:60]:
        v = _VLLM.match(line)
        if v:
            return (v.group("thread") or "").strip(), v.group("body")
    if "PyProcess" in line or "Python" in line and " W-" in line:
        m = _DJL.match(line)
    if m is not None:
        pass
    elif c.isdigit():
        m = _LOG4J.match(line) or _LOGPLEX.match(line)
        if m is None:
            g = _GLOG.match(line) or _PYLOG.match(line)
            return ("", g.group("body")) if g else ("", line)
    elif c in ("W", "["):
        m = _LOG4J_BARE.match(line)
    elif c in ("I", "E", "F"):
        g = _GLOG.match(line) or _PYLOG.match(line)
        if g:
            return "", g.group("body")
    elif c in ("D", "C"):
        g = _PYLOG.match(line)
        if g:
            return "", g.group("body")
    if m is None:
        return "", line
    thread = m.group("thread")
    w = _WORKER.match(thread)
    key = f"{w.group(1)}-{w.group(2) or ''}" if w else thread
    return key, m.group("body")


# ------------------------------------------------------------------------------------------- tracebacks

_TB_HEADER = "Traceback (most recent call last)"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?\s*(?P<rest>.*)$')
_EXC = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Fault|Failure|Warning))(?::\s?(?P<msg>.*))?$"
)
_CARET = re.compile(r"^\s*[\^~]+\s*$")
_CONSOLE_TIME = re.compile(r"^\d\d:\d\d:\d\d(?:\.\d+)?$")  # the console copy's event time, on its own line
# Functions on the toolkits' model-loading path (TorchServe/MMS loader, sagemaker_inference, sagemaker-containers,
# the framework containers' own loaders).
_LOAD_PATH = frozenset(("load_model", "validate_and_initialize", "initialize", "model_fn", "_validate_user_module",
                        "get_loaded_booster", "_load_model", "load_models", "default_model_fn", "model_load"))
# Functions on the request path.
_SERVE_PATH = frozenset(("transform", "_default_transform_fn", "input_fn", "predict_fn", "output_fn", "transform_fn",
                         "invocations", "handle_request", "predict", "inference", "preprocess", "postprocess"))
_DEFAULT_FN_FILES = ("default_pytorch_inference_handler.py", "default_inference_handler.py",
                     "default_handler_service.py")
# Where a toolkit imports the user's entry module itself.
_IMPORT_USER_MODULE = frozenset(("_validate_user_module_and_set_functions", "import_module", "import_app",
                                 "load_wsgiapp", "_import_module", "load"))
_PY_STDLIB = re.compile(r"/lib/python\d\.\d+/")
# Names people give entry scripts (SAGEMAKER_PROGRAM / entry_point=): a missing module of that name is the entry
# script itself not being where the toolkit imports it from.
_SCRIPT_NAME = re.compile(
    r"^(?:None|inference|serve|serving|predict|predictor|prediction|handler|entry_?point|main|app|wsgi|asgi|script|train|"
    r"transform|[\w]+_(?:inference|handler|serve|serving|predict|predictor|prediction|entry_?point|scripts?|"
    r"transform|train)|(?:inference|serve|serving|predict|predictor|transform|entry|custom)_\w+|\w+scripts?)$")


_METRICS = re.compile(r"/(?:ts|mms)/metrics/")


def _is_toolkit_frame(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path


# The containers' own programs outside site-packages: entrypoints, the TF Serving container's /sagemaker/*.py,
# Triton's Python backend stub, console scripts, KServe's storage initializer, TorchServe's KServe wrapper.
_CONTAINER_CODE = re.compile(r"^(?:/sagemaker/|/usr/(?:local/)?bin/|/(?:opt/conda|miniconda3|usr/local)/bin/"
                             r"|/opt/tritonserver/|/workspace/|/(?:storage|model)-initializer/|/home/model-server/"
                             r"kserve_wrapper/)")
# The images' serving stacks' own packages: the LLM engines' servers (their images install no requirements.txt of
# the model's), and the model servers and toolkits that run a model's code. A model's code rarely imports their
# insides, and an exception raised there with no user frame on the way is theirs.
ENGINE_PACKAGES = frozenset(("vllm", "tensorrt_llm", "text_generation_server", "text_embeddings_server", "lmi_dist"))
SERVING_PACKAGES = ENGINE_PACKAGES | frozenset((
    "ts", "mms", "djl_python", "transformers_neuronx", "sagemaker_inference", "sagemaker_containers",
    "sagemaker_huggingface_inference_toolkit", "sagemaker_pytorch_serving_container",
    "sagemaker_tensorflow_serving_container", "sagemaker_xgboost_container", "sagemaker_sklearn_container",
    "kserve", "kfserving", "mlserver", "bentoml", "tritonserver", "gunicorn"))


def package_path(names: frozenset[str]) -> re.Pattern[str]:
    """A frame's file inside one of these packages."""
    return re.compile(r"/(?:%s)/" % "|".join(sorted(names)))


_SERVING_PACKAGE = package_path(SERVING_PACKAGES)


def _is_user_frame(path: str) -> bool:
    """A frame of the model's own code: not an installed package, the standard library, the image's own scripts, or
    a serving stack's package run from its source folder (/kfserving/kfserving/storage.py)."""
    return not ("site-packages" in path or "dist-packages" in path or path.startswith("<")
                or _PY_STDLIB.search(path) is not None or _CONTAINER_CODE.match(path) is not None
                or _SERVING_PACKAGE.search(path) is not None)


def _archive_path(path: str) -> str | None:
    """``/opt/ml/model/code/inference.py`` → ``code/inference.py`` (best effort for other model dirs)."""
    if "/opt/ml/model/" in path:
        return path.split("/opt/ml/model/", 1)[1]
    if "/code/" in path:
        return "code/" + path.rsplit("/code/", 1)[1]
    return None


@dataclass
class _Frame:
    file: str
    line: int
    func: str | None
    code: str | None = None
    raw: str = ""


@dataclass
class _Traceback:
    frames: list[_Frame] = field(default_factory=list)
    lines: int = 0
    offset: int = 0
    indent: int = 0  # of its first frame line


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _frame_text(fr: _Frame) -> str:
    text = f"{_archive_path(fr.file) or fr.file}:{fr.line}"
    if fr.func:
        text += f" in {fr.func}"
    return text


@dataclass
class _Hit:
    """A line the scanner named: its code and kind, where it is (offset, stream), what it says (details), the lines
    that support it (context: a traceback's user frame) and how surely it names its cause."""

    code: str
    kind: Kind
    offset: int
    stream: str
    line: str
    details: dict[str, Any]
    context: tuple[str, ...] = ()
    strength: Strength = "sure"
