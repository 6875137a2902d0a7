"""Matching: every line of a log that a signature names, plus what Python tracebacks tell.

One pass of a compiled alternation of the catalogue's anchors (:data:`catalogue.ANCHORS`) finds the lines
worth a look; only those are split from their log prefix and tried against the rules whose anchors they
hold. A traceback (its header, or a frame when an excerpt starts mid-traceback) switches to reading every
following line until it ends, per stream and per worker, so interleaved workers do not mix.

Log prefixes understood (the body after them is what rules see): TorchServe 0.3 → 0.12 and MMS log4j lines
(``2026-… [INFO ] W-9000-model_1.0-stdout MODEL_LOG - …``, ``… W-9000-model-stdout
com.amazonaws.ml.mms.wlm.WorkerLifeCycle - …``, also without time and level), DJL's ``PyProcess W-…:``,
TensorFlow Serving's and Triton's glog prefixes, Python logging's ``ERROR:__main__:`` and
``<time> INFO - name - ``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from .catalogue import ANCHORS, SIGNATURES, STRENGTHS, Kind, Rule, Signature, Strength, by_code
from .forms import detect_form, events_from_lines, normalize_text, timestamp_of
from .reading import LogEvent, iso

__all__ = ["SignatureHit", "match_signatures", "match_text"]


@dataclass(frozen=True)
class SignatureHit:
    """One line that matched a signature. ``context``: supporting lines (the user frame of a traceback);
    ``strength``: how surely the line names its cause (:data:`catalogue.STRENGTHS`; causes only)."""

    code: str
    kind: Kind
    timestamp: int | None
    stream: str
    line: str
    details: Mapping[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    strength: Strength = "sure"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "timestamp": iso(self.timestamp), "stream": self.stream,
                "line": self.line, "details": dict(self.details), "context": list(self.context),
                "strength": self.strength}


# Lines that carry context rather than a signature: pip's "Collecting <req>" (names the requirement a build
# failure is about) and the entry script's name when a container prints its environment.
_COLLECTING = re.compile(r"^\s*Collecting (?P<requirement>[^\s(]+)")
_ENTRY = re.compile(r"(?i)(?:SAGEMAKER_PROGRAM|sagemaker_program|user_entry_point)[\"']?\s*[=:]\s*[\"']?"
                    r"(?P<name>[\w./-]+?)(?:\.py)?[\"'\s,}]")
# Lines that tell the verdict where it is: a multi-model endpoint (its model directories, the scikit-learn/XGBoost
# containers start MMS only in multi-model mode, the toolkit's MME switch), a TorchServe reply deadline met
# while serving (not loading), a failed import of the MXNet toolkit's user module.
_MME = ("/opt/ml/models/", "multi-model", "multi_model", "MultiModel", "MULTI_MODEL")
_INFERENCE = ("unsuccessful inference", "Inference time ns")
_CONTEXT_ANCHORS = ("Collecting ", "SAGEMAKER_PROGRAM", "sagemaker_program", "user_entry_point",
                    "import_module exception", "Retrying in 1 second") + _MME + _INFERENCE

_ALL_ANCHORS = tuple(sorted(set(ANCHORS) | set(_CONTEXT_ANCHORS), key=lambda a: (-len(a), a)))

# The prefilter. The regex engine skips, in C, every position whose character cannot start an alternative and
# tries the alternatives only at the others. So each anchor is represented by a tail of it (at least 4
# characters, or the whole anchor) that starts at a character from a small set of rare ones: the set is a
# greedy weighted cover (cheapest character per anchor it serves first), weighted by how often characters
# occur in published SageMaker container logs (per 100 000 characters of tests/data/logs-corpus and a
# TorchServe crash loop). A line a tail finds but that holds no whole anchor is let go in _signatures.
_CHAR_FREQ = {
    " ": 8493, "e": 5824, "o": 4427, "1": 4265, "-": 4047, "0": 3656, "t": 3568, "r": 3529, "l": 3029, "i": 2912,
    "n": 2796, ".": 2770, "s": 2684, "2": 2563, "a": 2494, "d": 2440, "m": 2325, "_": 2017, ":": 1784, "c": 1732,
    "p": 1663, "/": 1627, "O": 1391, ",": 1275, "3": 1221, "7": 1197, "^": 1130, "4": 1126, "u": 1117, "8": 1074,
    "6": 975, "9": 958, "L": 919, "W": 869, "k": 856, "g": 854, "T": 820, "v": 815, "F": 796, "y": 777, "h": 764,
    "[": 671, "]": 671, "N": 639, "I": 634, "E": 589, '"': 587, "w": 533, "f": 520, "M": 490, "b": 464, "D": 444,
    "5": 442, "G": 425, "(": 261, ")": 246, "z": 201, "S": 196, "R": 188, "C": 173, "x": 155, "A": 134, "=": 99,
    "'": 95, ">": 93, "P": 91, "<": 84, "B": 58, "|": 54, "H": 43, "q": 41, "#": 30, "K": 30, "U": 26, "j": 26,
    "X": 24, "+": 22, "*": 15, "\\": 13, "J": 6, "V": 4, "Y": 4, "$": 2, "@": 2, "~": 2,
}


def _prefilter_keys(anchors: tuple[str, ...], keep: int = 4) -> tuple[str, ...]:
    starts = {a: range(1) if len(a) <= keep else range(len(a) - keep + 1) for a in anchors}
    chosen: set[str] = set()
    uncovered = set(anchors)
    while uncovered:
        serves: dict[str, int] = {}
        for a in uncovered:
            for c in {a[i] for i in starts[a]}:
                serves[c] = serves.get(c, 0) + 1
        best = min(sorted(serves), key=lambda c: (_CHAR_FREQ.get(c, 0) + 1) / serves[c])
        chosen.add(best)
        uncovered = {a for a in uncovered if best not in {a[i] for i in starts[a]}}
    keys = {a[min((i for i in starts[a] if a[i] in chosen), key=lambda i: (_CHAR_FREQ.get(a[i], 0), i)):]
            for a in anchors}
    return tuple(sorted(keys, key=lambda k: (-len(k), k)))


def _trie_regex(keys: tuple[str, ...]) -> str:
    """One regex for a set of literals, factored as a trie: at a position whose character starts a key, the engine
    tries one branch per distinct next character instead of every key (a flat alternation of 300 literals costs
    300 first-character checks there). A key that is a prefix of another ends the match early, which is all the
    prefilter needs (it only finds lines)."""
    trie: dict[str, dict] = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        if "" in node:
            return ""  # a whole key ends here: enough to select the line
        alts = []
        for ch in sorted(node):
            rest, child = ch, node[ch]
            while len(child) == 1 and "" not in child:  # a chain without branching: one literal
                (nxt,) = child
                rest, child = rest + nxt, child[nxt]
            alts.append(re.escape(rest) + build(child))
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return build(trie)


_KEYS = _prefilter_keys(_ALL_ANCHORS)
_ANY = re.compile(_trie_regex(_KEYS))
# Every anchor at every position (for the few lines the prefilter selects), and the anchors inside each one.
_EVERY = re.compile("(?=(" + "|".join(re.escape(a) for a in _ALL_ANCHORS) + "))")
_INSIDE: dict[str, tuple[str, ...]] = {a: tuple(b for b in _ALL_ANCHORS if b in a) for a in _ALL_ANCHORS}
# anchor → the (signature, rule) pairs it gates, in catalogue order
_GATED: dict[str, list[tuple[Signature, Rule]]] = {}
for _s in SIGNATURES:
    for _r in _s.rules:
        for _a in _r.anchors:
            _GATED.setdefault(_a, []).append((_s, _r))
_ORDER = {id(r): i for i, r in enumerate(r for s in SIGNATURES for r in s.rules)}

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
    if "PyProcess" in line or "Python" in line and " W-" in line:
        m = _DJL.match(line)
    if m is not None:
        pass
    elif c.isdigit():
        m = _LOG4J.match(line)
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
# Triton's Python backend stub, console scripts.
_CONTAINER_CODE = re.compile(r"^(?:/sagemaker/|/usr/(?:local/)?bin/|/(?:opt/conda|miniconda3|usr/local)/bin/"
                             r"|/opt/tritonserver/|/workspace/)")
# The serving stacks' own packages: an exception raised there with no user frame is theirs.
_SERVING_PACKAGE = re.compile(r"/(?:ts|mms|sagemaker_inference|sagemaker_containers|sagemaker_\w+_container|"
                              r"sagemaker_huggingface_inference_toolkit|text_generation_server|djl_python|gunicorn)/")


def _is_user_frame(path: str) -> bool:
    return not ("site-packages" in path or "dist-packages" in path or path.startswith("<")
                or _PY_STDLIB.search(path) is not None or _CONTAINER_CODE.match(path) is not None)


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


# ----------------------------------------------------------------------------------------------- scanner


@dataclass
class _Hit:
    code: str
    kind: Kind
    offset: int
    stream: str
    line: str
    details: dict[str, Any]
    context: tuple[str, ...] = ()
    strength: Strength = "sure"


_RANK = {s: i for i, s in enumerate(STRENGTHS)}
# Exceptions that mean a defect of the code they are raised in (not bad input or a missing resource).
_DEFECT = frozenset(("NameError", "UnboundLocalError", "AttributeError", "TypeError", "ZombieProcess"))


class _Scanner:
    """The per-line state machine; fed only the lines the prefilter (or an open traceback) selects."""

    def __init__(self) -> None:
        self.hits: list[_Hit] = []
        self.open: dict[tuple[str, str], _Traceback] = {}
        self.entry_names: set[str] = set()
        self.collecting: dict[str, str] = {}
        self.mme = False  # the log shows a multi-model endpoint
        self.inference = False  # the log shows requests being served (TorchServe's inference accounting)
        self.import_failed = False  # the MXNet toolkit could not import the user module
        self.bind_retries = False  # gunicorn retried binding its socket
        self.labelled: list[tuple[int, int]] = []  # spans of tracebacks a hit accounts for (offsets)

    def line(self, raw: str, offset: int, stream: str) -> None:
        raw = raw.rstrip("\r")
        self._context(raw)
        key, body = _split(raw)
        k = (stream, key)
        if _TB_HEADER in body:
            head, _, rest = body.partition(_TB_HEADER)
            if head.strip():
                self._signatures(raw, head, offset, stream)
            prev = self.open.get(k)
            if prev is not None:
                self._unclosed(raw, offset, stream, prev)
            tb = self.open[k] = _Traceback(offset=offset)
            rest = rest.lstrip(":").strip()
            if rest:  # a traceback flattened onto one line by a paste or a console
                for part in re.split(r'\s(?=File ")', " " + rest):
                    if part.strip():
                        self._frame_or_line(raw, part.strip(), offset, stream, k, tb)
            return
        tb = self.open.get(k)
        if tb is None:
            fm = _FRAME.match(body)
            if fm is None:
                self._signatures(raw, body, offset, stream)
                return
            tb = self.open[k] = _Traceback(offset=offset)  # an excerpt that starts mid-traceback
        self._frame_or_line(raw, body, offset, stream, k, tb)

    def _context(self, raw: str) -> None:
        if not self.mme and (any(m in raw for m in _MME) or raw.strip() == "start_model_server()"):
            # (the scikit-learn and XGBoost containers' serving_entrypoint calls a bare start_model_server()
            # only in multi-model mode; single models go to gunicorn)
            self.mme = True
        if not self.inference and any(m in raw for m in _INFERENCE):
            self.inference = True
        if "import_module exception" in raw:
            self.import_failed = True
        if "Retrying in 1 second" in raw:
            self.bind_retries = True

    def _frame_or_line(self, raw: str, body: str, offset: int, stream: str, k: tuple[str, str],
                       tb: _Traceback) -> None:
        tb.lines += 1
        fm = _FRAME.match(body)
        if fm:
            if not tb.frames:
                tb.indent = _indent(body)
            fr = _Frame(fm.group("file"), int(fm.group("line")), fm.group("func"), raw=body.strip())
            rest = fm.group("rest").strip()
            if rest:
                fr.code = rest
            tb.frames.append(fr)
            return
        stripped = body.strip()
        if not stripped or stripped in ("...", "--") or stripped.startswith("```") or _CONSOLE_TIME.match(stripped):
            if tb.lines > 400:
                del self.open[k]
            return
        em = _EXC.match(stripped)
        if em and (not body.startswith((" ", "\t")) or _indent(body) < tb.indent):
            # (a whole traceback pasted indented: its exception line is indented less than its frames)
            del self.open[k]
            self._traceback_hits(raw, offset, stream, tb, em.group("type"), em.group("msg") or "")
            return
        if not em and tb.frames and tb.frames[-1].code is None and not _CARET.match(body):
            tb.frames[-1].code = stripped  # the source line under a frame (indented or not)
            return
        if body.startswith((" ", "\t")) and not em:
            if tb.lines > 400:  # a traceback that never ended: forget it
                del self.open[k]
            return
        # Another line of the same stream and worker: this traceback was cut short (an excerpt, a paste).
        del self.open[k]
        self._unclosed(raw, offset, stream, tb)
        if _ANY.search(body):
            self._signatures(raw, body, offset, stream)

    def _signatures(self, raw: str, body: str, offset: int, stream: str, *, record: bool = True) -> list[_Hit]:
        text = body.strip()
        out: list[_Hit] = []
        tried: set[int] = set()
        gated = []
        found = {b for f in _EVERY.findall(text) for b in _INSIDE[f]}
        if not found:
            return out
        for a in found:
            for sig, rule in _GATED.get(a, ()):
                if id(rule) not in tried:
                    tried.add(id(rule))
                    gated.append((sig, rule))
        gated.sort(key=lambda sr: _ORDER[id(sr[1])])
        best: dict[str, tuple[Rule, re.Match[str]]] = {}  # per signature, its strongest matching rule
        for sig, rule in gated:
            have = best.get(sig.code)
            if have is not None and _RANK[have[0].strength] <= _RANK[rule.strength]:
                continue
            m = rule.pattern.search(text)
            if m:
                best[sig.code] = (rule, m)
        for sig, rule in gated:
            if sig.code in best and best[sig.code][0] is rule:
                m = best[sig.code][1]
                details = {k: v for k, v in m.groupdict().items() if v is not None}
                out.append(_Hit(sig.code, sig.kind, offset, stream, raw, _refine(sig.code, details, text),
                                strength=rule.strength))
        if "Collecting " in text:
            cm = _COLLECTING.match(text)
            if cm:
                self.collecting[stream] = cm.group("requirement")
        if "rogram" in text or "entry_point" in text:
            em = _ENTRY.search(text + " ")
            if em:
                self.entry_names.add(em.group("name").rsplit("/", 1)[-1])
        for h in out:
            if h.code == "requirements-install-failed" and "requirement" not in h.details \
                    and stream in self.collecting:
                h.details["requirement"] = self.collecting[stream]
        if record:
            self.hits.extend(out)
        return out

    def _traceback_hits(self, raw: str, offset: int, stream: str, tb: _Traceback, exc_type: str,
                        exc_msg: str) -> None:
        exc_line = f"{exc_type}: {exc_msg}" if exc_msg else exc_type
        self.labelled.append((tb.offset, offset))
        line_hits = self._signatures(raw, exc_line, offset, stream)
        user = [f for f in tb.frames if _is_user_frame(f.file)]
        inner = user[-1] if user else None
        exc = exc_type.rsplit(".", 1)[-1]
        details: dict[str, Any] = {"exception": exc, "message": exc_msg}
        context: list[str] = []
        if inner is not None:
            details["where"] = _frame_text(inner)
            details["file"] = _archive_path(inner.file) or inner.file
            details["line"] = inner.line
            if inner.code:
                details["statement"] = inner.code
            context = [inner.raw] + ([f"    {inner.code}"] if inner.code else [])
        elif tb.frames:
            details["raised_in"] = _frame_text(tb.frames[-1])
            if tb.frames[-1].code:
                details["statement"] = tb.frames[-1].code
        funcs = {f.func for f in tb.frames}

        if tb.frames and all(_METRICS.search(f.file) for f in tb.frames if _is_toolkit_frame(f.file)) \
                and any(_METRICS.search(f.file) for f in tb.frames) and inner is None:
            # The server's metrics collector (a side process) failed: serving goes on; label it, never a cause.
            for h in line_hits:
                self.hits.remove(h)
            self.hits.append(_Hit("metrics-collector-error", "noise", offset, stream, raw,
                                  {**details, "raised_in": _frame_text(tb.frames[-1])}))
            return

        if any(h.kind == "cause" for h in line_hits):
            # A known cause (missing module, syntax error...): the traceback adds where it happened.
            for h in line_hits:
                if h.kind != "cause":
                    continue
                h.details = {**details, **h.details}
                ctx = context
                if h.code == "syntax-error" and tb.frames:
                    # The last "File" entry of a SyntaxError is the file that does not compile.
                    last = tb.frames[-1]
                    h.details.update(where=_frame_text(last), file=_archive_path(last.file) or last.file,
                                     line=last.line)
                    ctx = [last.raw] + ([f"    {last.code}"] if last.code else [])
                if h.code == "missing-module" and inner is None and tb.frames \
                        and tb.frames[-1].func in _IMPORT_USER_MODULE:
                    h.details["imported_by_toolkit"] = True
                h.context = tuple(ctx)
            return

        code, strength = self._derive(tb, exc, exc_msg, inner, funcs)
        if code is None:
            return
        sig = by_code(code)
        assert sig is not None
        self.hits.insert(len(self.hits) - len(line_hits),
                         _Hit(code, sig.kind, offset, stream, raw, details, tuple(context), strength))

    @staticmethod
    def _derive(tb: _Traceback, exc: str, msg: str, inner: _Frame | None,
                funcs: set[str | None]) -> tuple[str | None, Strength]:
        """A cause from where a traceback ran when its exception line names none."""
        files = [f.file for f in tb.frames]
        if "default_model_fn" in funcs:
            return "default-handler-used", "likely"  # the toolkit's own model_fn: the user's was not found
        if any(f.endswith("gunicorn/sock.py") for f in files) and exc == "OSError":
            return "toolkit-bug", "likely"  # gunicorn's socket options refused by the kernel (SO_REUSEPORT)
        if exc == "KeyError" and any(f.endswith("configuration_auto.py") for f in files):
            return "unsupported-model-architecture", "likely"  # transformers does not know the model_type
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

    def _unclosed(self, raw: str, offset: int, stream: str, tb: _Traceback) -> None:
        """A traceback cut before its exception line: the message may still be in the last frame's ``raise``
        statement, and the frames say which step failed."""
        last = tb.frames[-1] if tb.frames else None
        if last is not None and last.code and last.code.startswith("raise "):
            for h in self._signatures(last.raw, last.code, tb.offset, stream):
                h.context = (last.raw, f"    {last.code}")
        pip = [f for f in tb.frames if f.func == "_install_requirements" or "_install_requirements(" in (f.code or "")]
        if pip and not any(h.code == "requirements-install-failed" for h in self.hits):
            first = pip[0]
            self.hits.append(_Hit("requirements-install-failed", "cause", tb.offset, stream, raw,
                                  {"raised_in": _frame_text(first)}, (first.raw,), "likely"))

    def finish(self) -> None:
        """What needs the whole log: tracebacks still open at its end; missing modules that are the entry script
        itself (by the name the log gives for it, the toolkit importing it directly, or a script-like name such
        as ``inference`` or ``None``); a missing user module in a multi-model endpoint; a TorchServe reply
        deadline met while serving rather than loading; gunicorn giving up on a socket it could not bind."""
        for (stream, _key), tb in list(self.open.items()):
            self._unclosed("", tb.offset, stream, tb)
        self.open.clear()
        for h in self.hits:
            if h.code != "missing-module":
                continue
            mod = h.details.get("module", "")
            top = mod.split(".")[0]
            reason = None
            strength: Strength = "likely"
            if top in self.entry_names or mod in self.entry_names:
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
                h.code, h.strength = "missing-entry-script", strength
                h.details = {**h.details, "entry_module": mod, "reason": reason}
                h.details.pop("package", None)
        for h in self.hits:
            if h.code in ("missing-entry-script", "default-handler-used") and self.mme and (
                    h.details.get("entry_module") == "None" or "'NoneType'" in h.line
                    or h.code == "missing-entry-script"):
                h.code = "mme-user-module-missing"
                h.details = {**h.details, "reason": "a multi-model endpoint's model names no user module the "
                                                    "toolkit can import"}
            elif h.code == "default-handler-used" and "'NoneType'" in h.line and self.import_failed:
                h.code = "mme-user-module-missing" if self.mme else "missing-entry-script"
            elif h.code == "startup-health-check-timeout" and self.inference \
                    and "did not respond in given time" in h.line:
                h.code = "worker-timeout"
        if not any(h.code == "worker-timeout" for h in self.hits):
            # gunicorn SIGKILLs a worker itself only when it times out; any other SIGKILL is the kernel's OOM killer
            for h in self.hits:
                if h.code == "out-of-memory" and h.strength == "weak" and "SIGKILL" in h.line:
                    h.strength = "likely"
        if any(h.code == "server-bind-failed" for h in self.hits) and self.bind_retries \
                and not any(h.code in ("server-config-invalid", "toolkit-bug") for h in self.hits):
            first = next(h for h in self.hits if h.code == "server-bind-failed")
            self.hits.append(_Hit("toolkit-bug", "cause", first.offset, first.stream, first.line,
                                  {"reason": "gunicorn retried binding without saying why (at its default log "
                                             "level): a socket option the kernel refuses (SO_REUSEPORT in "
                                             "gunicorn 19.7), not a port in use or a bad address"}, (), "weak"))


#: TorchServe's fallback after the user's handler failed to import: it tries ``ts.torch_handler.<handler>`` (its
#: built-in handlers) and that fails too. Not a package the model lacks: the real error is the one logged before.
TS_FALLBACK_HANDLER = "ts.torch_handler."


def _refine(code: str, details: dict[str, Any], text: str) -> dict[str, Any]:
    if code == "missing-module":
        if details["module"].startswith(TS_FALLBACK_HANDLER):
            details["fallback_handler"] = True  # no package: see TS_FALLBACK_HANDLER
        else:
            details["package"] = details["module"].split(".")[0]
    elif code == "import-error":
        m = re.search(r"cannot import name '(?P<name>[^']+)' from '(?P<module>[^']+)'", text)
        if m:
            details.update(name=m.group("name"), module=m.group("module"), package=m.group("module").split(".")[0])
    elif code == "requirements-install-failed":
        cmd = details.get("command", "")
        if cmd:
            details["command"] = cmd = cmd.strip("'\"[] ")
        m = re.search(r"'-r',\s*'(?P<f>[^']+)'?|-r\s+(?P<g>\S+)", cmd)
        if m:
            details["requirements_file"] = (m.group("f") or m.group("g")).rstrip("'\"]")
        if "build_dir" in details:
            req = details["build_dir"].rstrip("/").rsplit("/", 1)[-1]
            if req:
                details["requirement"] = req
    elif code == "out-of-memory":
        low = text.lower()
        details["memory"] = ("gpu" if "cuda" in low or "gpu" in low else
                             "jvm-direct" if "direct" in low else
                             "jvm-heap" if "java" in low or "heap" in low else
                             "killed" if "kill" in low or "signal" in low or "137" in low else "host")
    return details


# ------------------------------------------------------------------------------------------- entry points


# Served requests in an access log (nginx/gunicorn, TorchServe/MMS ACCESS_LOG): healthy, but most lines of a healthy
# endpoint are these, so they are looked for only when the scan found nothing wrong (one search from the start).
_SERVED = re.compile(r'"(?:GET /ping|POST /invocations) HTTP/1\.[01]" 200\b')


def _served(sc: _Scanner, buf: str, stream_at: Callable[[int], str], most: int = 5) -> None:
    if any(h.kind in ("cause", "symptom") for h in sc.hits):
        return
    for i, m in enumerate(_SERVED.finditer(buf)):
        if i == most:
            break
        start = buf.rfind("\n", 0, m.start()) + 1
        end = buf.find("\n", m.end())
        sc.hits.append(_Hit("request-served", "healthy", start, stream_at(start), buf[start:end if end >= 0 else None],
                            {}))


# Error-looking lines (log levels, exception names, Rust errors and panics, glog's E lines): when the scan named
# nothing, such a line that no signature labelled means "unknown", not "healthy".
_ERRORISH = re.compile(r"\b(?:ERROR|CRITICAL|FATAL)\b|\b[Ee]rror\b:|Traceback \(most recent call last\)|"
                       r"(?:Error|Exception): |panicked at|Segmentation fault|core dumped")
# the literals every such line holds (found in one C-level pass; the regex above then checks the line)
_ERRORISH_KEYS = re.compile(_trie_regex(("ERROR", "CRITICAL", "FATAL", "rror:", "Exception: ", "Traceback (most",
                                         "panicked at", "Segmentation fault", "core dumped")))


def _unexplained(sc: _Scanner, buf: str, stream_at: Callable[[int], str], most: int = 5) -> None:
    if any(h.kind in ("cause", "symptom") for h in sc.hits):
        return
    labelled = {h.offset for h in sc.hits}
    spans = sc.labelled if any(h.kind == "noise" for h in sc.hits) else []
    found = 0
    pos = 0
    while True:
        m = _ERRORISH_KEYS.search(buf, pos)
        if m is None:
            break
        start = buf.rfind("\n", 0, m.start()) + 1
        end = buf.find("\n", m.end())
        line = buf[start:end if end >= 0 else None]
        pos = end + 1 if end >= 0 else len(buf)
        if start in labelled or any(a <= start <= b for a, b in spans) or not _ERRORISH.search(line):
            continue
        sc.hits.append(_Hit("unexplained-error", "symptom", start, stream_at(start), line, {}))
        labelled.add(start)
        found += 1
        if found == most:
            break


def _scan(buf: str, stream_at: Callable[[int], str]) -> _Scanner:
    sc = _Scanner()
    search, find, rfind, n = _ANY.search, buf.find, buf.rfind, len(buf)
    pos = 0
    while pos < n:
        m = search(buf, pos)
        if m is None:
            break
        start = rfind("\n", 0, m.start()) + 1
        end = find("\n", m.end())
        if end < 0:
            end = n
        sc.line(buf[start:end], start, stream_at(start))
        pos = end + 1
        while sc.open and pos < n:  # follow open tracebacks line by line
            end = find("\n", pos)
            if end < 0:
                end = n
            sc.line(buf[pos:end], pos, stream_at(pos))
            pos = end + 1
    sc.finish()
    _unexplained(sc, buf, stream_at)
    _served(sc, buf, stream_at)
    return sc


def _unescape(text: str) -> str:
    """Quotes a JSON encoder escaped (``couldn\\u0027t``) back to themselves, so anchors with quotes match."""
    return text.replace("\\u0027", "'").replace("\\u0022", '"') if "\\u00" in text else text


def match_signatures(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> list[SignatureHit]:
    """Every line of ``events`` that matches a signature in :data:`SIGNATURES`, plus the hits derived from
    tracebacks, in log order.

    ``events``: :class:`LogEvent` objects, CloudWatch event dicts (``timestamp``/``message``/``logStreamName``)
    or plain lines; an event may hold several lines (a whole traceback). A traceback enriches its final
    exception's hit with the innermost user frame (``details['where']``, e.g. ``code/inference.py:2``); a
    traceback through the toolkit's default ``model_fn`` is a ``missing-entry-script``; other exceptions
    while loading are ``model-fn-error``, while importing the code ``import-error``, while serving
    ``invocation-error``.
    """
    evs = list(_as_events(events))
    if not evs:
        return []
    msgs = [_unescape(e.message) for e in evs]
    starts = list(accumulate(map((1).__add__, map(len, msgs)), initial=0))
    streams = [e.stream for e in evs]
    one_stream = len(set(streams)) == 1

    def stream_at(off: int) -> str:
        return streams[0] if one_stream else streams[bisect_right(starts, off) - 1]

    sc = _scan("\n".join(msgs), stream_at)
    return [SignatureHit(h.code, h.kind, evs[bisect_right(starts, h.offset) - 1].timestamp, h.stream, h.line,
                         h.details, h.context, h.strength) for h in sc.hits]


def match_text(text: str, *, stream: str = "") -> list[SignatureHit]:
    """:func:`match_signatures` for a pasted or exported log in any form :mod:`.forms` reads, without making
    an event of every line (plain text is scanned as one buffer)."""
    form = detect_form(text)
    if form.json or form.csv:
        from .forms import events_from_text

        return match_signatures(events_from_text(text, stream=stream))
    buf = _unescape(normalize_text(text, form))
    sc = _scan(buf, lambda _off: stream)
    return [SignatureHit(h.code, h.kind, timestamp_of(h.line), h.stream, h.line, h.details, h.context, h.strength)
            for h in sc.hits]


def _as_events(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> Iterable[LogEvent]:
    for ev in events:
        if isinstance(ev, LogEvent):
            yield ev
        elif isinstance(ev, str):
            yield from events_from_lines([ev])
        else:
            yield LogEvent(ev.get("timestamp"), str(ev.get("message", "")).rstrip("\n"),
                           ev.get("logStreamName", ev.get("stream", "")))
