"""Network needs of the serving code, statically: calls that download weights or files when they run.

A model that fetches its weights from a hub in ``model_fn`` needs the network at every start of every worker;
an endpoint with network isolation, or in a VPC without a NAT gateway, never has it, and the worker dies. The
calls the walk reaches (:mod:`.resolver`) are matched against the libraries' documented defaults:

- ``open_clip.create_model*(name, pretrained=<tag>)``: the tag's weights (Hugging Face Hub first);
- ``timm.create_model(name, pretrained=True)``; torchvision model builders with ``weights=``/``pretrained=True``;
- segmentation_models_pytorch architectures: ``encoder_weights`` defaults to ``"imagenet"`` (a download unless
  ``encoder_weights=None``); smp >= 0.5 fetches ``smp-hub/<encoder>.<weights>`` from the Hugging Face Hub, older
  releases the encoder's original URL;
- ``<anything>.from_pretrained(<hub id>)``, ``SentenceTransformer(<hub id>)``, ``pipeline(model=<hub id>)``,
  SpeechBrain's ``<Pretrained>.from_hparams(source=<hub id>)``;
- ``torch.hub.load(<github repo>, ...)``, ``torch.hub.load_state_dict_from_url(url)``, ``model_zoo.load_url``;
- ``huggingface_hub.hf_hub_download`` / ``snapshot_download``;
- literal URLs fetched with ``urllib.request``, ``requests``, ``httpx``, ``wget``;
- ``tiktoken.get_encoding``, OpenAI's ``clip.load`` and ``whisper.load_model``, ``nltk.download``.

A value the analysis cannot know (``pretrained=self.config[...]``) makes it a possible download, said so.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from ..findings import Finding
from .records import MODEL_DIR

__all__ = ["Download", "Hit", "UNKNOWN", "download_findings", "match_download", "smp_pinned_before_hub"]

HF = "huggingface.co"
PYTORCH = "download.pytorch.org"
OPENAI_BLOB = "openaipublic.blob.core.windows.net"
OPENAI_CDN = "openaipublic.azureedge.net"


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


#: A value the static analysis cannot know.
UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Download:
    """A call that fetches something over the network when it runs."""

    call: str  # the library function, dotted (segmentation_models_pytorch.UnetPlusPlus)
    file: str
    line: int
    statement: str
    host: str  # where it goes (huggingface.co)
    what: str  # what it fetches, in words
    certain: bool = True  # False: it depends on a value known only at run time
    phase: str = "model_fn"
    via: tuple[str, ...] = ()
    guard: str | None = None  # an except clause that catches a failure and carries on
    hint: str = ""  # how to do without the download, for this library
    target: str = ""  # what it fetches, when known statically: the URL, or the Hugging Face Hub id

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["via"] = list(self.via)
        return d


Value = Callable[[ast.AST], Any]  # an argument's static value: a literal, a str, or UNKNOWN


class Hit(NamedTuple):
    call: str
    host: str
    what: str
    certain: bool
    hint: str = ""
    target: str = ""


_VENDOR = "put the files in the archive and load them from /opt/ml/model"
_HINT_OPEN_CLIP = ("put the weights file in the archive and pass its path as pretrained (open_clip loads a local "
                   "file), or pretrained=None when the model's own weights are loaded afterwards")
_HINT_SMP = ("pass encoder_weights=None when a checkpoint of the whole model is loaded afterwards (it holds the "
             "encoder's weights too); else put the encoder's weights in the archive and load them from /opt/ml/model")
_HINT_HF = "put the model's files in the archive and pass their folder under /opt/ml/model instead of the hub id"


def _arg(call: ast.Call, value: Value, index: int | None, *names: str, default: Any = None) -> Any:
    for kw in call.keywords:
        if kw.arg in names:
            return value(kw.value)
        if kw.arg is None:  # **kwargs: anything may be in it
            default = UNKNOWN
    if index is not None and index < len(call.args):
        a = call.args[index]
        return UNKNOWN if isinstance(a, ast.Starred) else value(a)
    if any(isinstance(a, ast.Starred) for a in call.args):
        return UNKNOWN
    return default


def _is_local(v: str) -> bool:
    return v.startswith(("/", "./", "../", "~")) or v.endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt"))


def _hub_id(v: Any) -> bool:
    """A Hugging Face Hub model id (``org/name`` or a bare canonical name), not a local path."""
    return isinstance(v, str) and bool(v) and not _is_local(v) and bool(re.fullmatch(r"[\w.-]+(/[\w.-]+)?", v))


def _host_of(url: Any) -> str | None:
    if isinstance(url, str):
        m = re.match(r"^(?:https?|ftp)://([^/:?#]+)", url)
        return m.group(1) if m else None
    return None


def _shown(node: ast.AST | None) -> str:
    return ast.unparse(node) if node is not None else "?"


_OPEN_CLIP = {"create_model_and_transforms", "create_model", "create_model_from_pretrained"}
_SMP_ARCHS = {"Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "PAN",
              "UPerNet", "Segformer", "DPT"}
_HTTP_GET = {"urllib.request.urlopen", "urllib.request.urlretrieve", "requests.get", "requests.post",
             "requests.head", "requests.request", "httpx.get", "httpx.stream", "wget.download", "urllib3.request"}


def match_download(name: str | None, call: ast.Call, value: Value, *,
                   smp_before_hub: bool = False) -> Hit | None:
    """A :class:`Hit` when the call ``name`` (dotted, import aliases resolved) with these
    arguments downloads; None when it does not (or is not a known download). ``value`` gives an argument's
    static value; ``smp_before_hub``: the requirements pin segmentation_models_pytorch below 0.5."""
    if not name:
        return None
    last = name.rpartition(".")[2]
    top = name.split(".")[0]
    if top == "open_clip" and last in _OPEN_CLIP:
        model = _arg(call, value, 0, "model_name")
        if isinstance(model, str) and model.startswith(("hf-hub:", "hf_hub:")):
            return Hit(name, HF, f"the model {model[7:]} and its weights", True, _HINT_HF)
        pretrained = _arg(call, value, 1, "pretrained")
        if pretrained in (None, "", False) or (isinstance(pretrained, str) and _is_local(pretrained)):
            return None
        tag = f"pretrained={pretrained!r}" if pretrained is not UNKNOWN else \
            f"pretrained={_shown(_kw(call, 'pretrained') or _pos(call, 1))}, known only at run time"
        return Hit(name, HF, f"the CLIP weights ({tag})", pretrained is not UNKNOWN, _HINT_OPEN_CLIP)
    if top == "timm" and last == "create_model":
        model = _arg(call, value, 0, "model_name")
        if isinstance(model, str) and model.startswith(("hf-hub:", "hf_hub:")):
            return Hit(name, HF, f"the model {model[7:]}", True, _HINT_HF)
        pretrained = _arg(call, value, 1, "pretrained", default=False)
        if pretrained in (None, False, "") or isinstance(pretrained, str):
            return None
        return Hit(name, HF, f"the pretrained weights of {model if isinstance(model, str) else 'the model'}",
                   pretrained is not UNKNOWN, "pretrained=False, then load the weights from a file in the archive "
                   "(or pretrained_cfg_overlay=dict(file=<path under /opt/ml/model>))")
    if name.startswith("torchvision.models.") and last[:1].islower() and last not in (
            "list_models", "get_weight", "get_model_weights"):
        weights = _arg(call, value, 1 if last == "get_model" else None, "weights")
        pretrained = _arg(call, value, None, "pretrained", default=False)
        if weights in (None, "") and pretrained in (None, False):
            return None
        return Hit(name, PYTORCH, "the pretrained weights", UNKNOWN not in (weights, pretrained) or pretrained is True,
                   "weights=None, then load_state_dict from a file in the archive")
    if top == "segmentation_models_pytorch" and (last in _SMP_ARCHS or last == "create_model"):
        off = 1 if last == "create_model" else 0
        encoder = _arg(call, value, off, "encoder_name", default="resnet34")
        weights = _arg(call, value, off + 2, "encoder_weights", default="imagenet")
        if weights in (None, ""):
            return None
        enc = encoder if isinstance(encoder, str) else "its"
        w = weights if isinstance(weights, str) else "?"
        default = not any(kw.arg == "encoder_weights" for kw in call.keywords) and len(call.args) <= off + 2
        why = f"the {enc} encoder's {w} weights"
        said = "encoder_weights defaults to 'imagenet'" if default else ""
        if isinstance(encoder, str) and encoder.startswith("tu-"):
            return Hit(name, HF, f"{why} through timm{f' ({said})' if said else ''}", weights is not UNKNOWN,
                       _HINT_SMP)
        if smp_before_hub:
            host = PYTORCH if isinstance(encoder, str) and encoder.startswith(("resnet", "resnext")) else \
                "the encoder's own URL"
            return Hit(name, host, f"{why}{f' ({said})' if said else ''}", weights is not UNKNOWN, _HINT_SMP)
        where = f"smp-hub/{enc}.{w}" if isinstance(encoder, str) and isinstance(weights, str) else "smp-hub"
        return Hit(name, HF, f"{why} ({where}{'; ' + said if said else ''})", weights is not UNKNOWN, _HINT_SMP)
    if last == "from_pretrained" or name in ("sentence_transformers.SentenceTransformer", "transformers.pipeline",
                                             "diffusers.DiffusionPipeline"):
        if name == "transformers.pipeline":
            target = _arg(call, value, None, "model", default=None)
            if target is None:
                return Hit(name, HF, "the task's default model", True, _HINT_HF)
        else:
            target = _arg(call, value, 0, "pretrained_model_name_or_path", "model_name_or_path")
        if _hub_id(target) and not str(target).startswith(MODEL_DIR):
            return Hit(name, HF, f"the model {target}", True, _HINT_HF, target)
        return None
    if top == "speechbrain" and last == "from_hparams":  # Pretrained.from_hparams(source=<hub id or folder>)
        source = _arg(call, value, 0, "source")
        if source is UNKNOWN:
            node = next((kw.value for kw in call.keywords if kw.arg == "source"), _pos(call, 0))
            return Hit(name, HF, f"the model source={_shown(node)} names (unless that is a folder)", False, _HINT_HF)
        if _hub_id(source) and not str(source).startswith(MODEL_DIR):
            return Hit(name, HF, f"the model {source}", True, _HINT_HF)
        return None
    if name in ("torch.hub.load", "torch.hub.list", "torch.hub.help"):
        if _arg(call, value, None, "source", default="github") == "local":
            return None
        repo = _arg(call, value, 0, "repo_or_dir", "github")
        shown = repo if isinstance(repo, str) else _shown(_pos(call, 0))
        return Hit(name, "github.com", f"the repository {shown} (and the weights its hubconf fetches)",
                   repo is not UNKNOWN, "put the repository and its weights in the archive and call "
                   "torch.hub.load(<folder under /opt/ml/model>, ..., source='local')")
    if name in ("torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url",
                "torch.hub.download_url_to_file", "torchvision.datasets.utils.download_url"):
        url = _arg(call, value, 0, "url")
        host = _host_of(url)
        return Hit(name, host, str(url), True, _VENDOR, str(url)) if host else None
    if top == "huggingface_hub" and last in ("hf_hub_download", "snapshot_download", "cached_download"):
        repo = _arg(call, value, 0, "repo_id", "url")
        return Hit(name, HF, f"files of {repo if isinstance(repo, str) else 'a repository'}", True, _VENDOR,
                   repo if _hub_id(repo) else "")
    if name in _HTTP_GET:
        url = _arg(call, value, 1 if name in ("requests.request", "urllib3.request") else 0, "url")
        host = _host_of(url)
        return Hit(name, host, str(url), True, _VENDOR) if host else None
    if name in ("tiktoken.get_encoding", "tiktoken.encoding_for_model"):
        enc = _arg(call, value, 0, "encoding_name", "model_name")
        return Hit(name, OPENAI_BLOB, f"the {enc + ' ' if isinstance(enc, str) else ''}BPE files", True,
                   "put tiktoken's cache files in the archive and point TIKTOKEN_CACHE_DIR at them")
    if name in ("clip.load", "whisper.load_model"):
        model = _arg(call, value, 0, "name")
        if isinstance(model, str) and _is_local(model):
            return None
        return Hit(name, OPENAI_CDN, f"the {model + ' ' if isinstance(model, str) else ''}weights", True,
                   "put the weights file in the archive and pass its path")
    if name == "nltk.download":
        return Hit(name, "raw.githubusercontent.com", "NLTK data", True,
                   "put the NLTK data in the archive and point NLTK_DATA at it")
    return None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _pos(call: ast.Call, i: int) -> ast.AST | None:
    return call.args[i] if i < len(call.args) else None


_WHEN = {"import": "when the toolkit imports the entry script", "model_fn": "when model_fn runs",
         "request": "at the first request"}


def download_findings(downloads: list[Download]) -> list[Finding]:
    """One finding per download the running code reaches: ``startup-download`` (import or model_fn: the worker
    needs the host at every start) or ``request-download`` (a request handler)."""
    out: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for d in downloads:
        if (d.file, d.line, d.call) in seen or d.phase not in _WHEN:
            continue
        seen.add((d.file, d.line, d.call))
        chain = f" (via {' → '.join(d.via)})" if len(d.via) > 1 else ""
        verb = "downloads" if d.certain else "may download"
        startup = d.phase in ("import", "model_fn")
        fails = "the worker dies at start-up" if startup else "every request fails"
        guard = f" {d.guard} catches its failure and carries on, degraded." if d.guard else ""
        out.append(Finding(
            "startup-download" if startup else "request-download", "warning",
            f"{d.where} {d.call.rsplit('.', 1)[-1]}(…) {verb} {d.what} from {d.host} {_WHEN[d.phase]}{chain}. "
            f"On an endpoint that cannot reach {d.host} (network isolation; a VPC without a NAT gateway or endpoint) "
            f"{fails}.{guard} To do without it: {d.hint or _VENDOR}.",
            [f"{d.where} {d.statement}"],
            {"call": d.call, "file": d.file, "line": d.line, "host": d.host, "what": d.what, "certain": d.certain,
             "phase": d.phase, "via": list(d.via), "guard": d.guard, "hint": d.hint, "source": "static"}))
    return out


def smp_pinned_before_hub(requirements: list[str]) -> bool:
    """The requirements pin segmentation-models-pytorch to a release before 0.5 (its weights then come from each
    encoder's original URL, not the Hugging Face Hub)."""
    for line in requirements:
        m = re.match(r"^\s*segmentation[-_.]models[-_.]pytorch\s*([^;#]*)", line, re.I)
        if not m or not m.group(1).strip():
            continue
        specs = re.findall(r"(===|==|~=|!=|<=|>=|<|>)\s*([0-9][0-9.]*)", m.group(1))

        def allows(v: tuple[int, ...], specs: list[tuple[str, str]] = specs) -> bool:
            return all(_compare(v, op, tuple(int(x) for x in want.split(".") if x)) for op, want in specs)

        pinned = [tuple(int(x) for x in want.split(".") if x) for op, want in specs if op in ("==", "===")]
        if pinned:
            return pinned[0] < (0, 5)
        return bool(specs) and not allows((0, 5, 0)) and not allows((0, 6, 0)) and (allows((0, 4, 0))
                                                                                   or allows((0, 3, 4)))
    return False


def _compare(v: tuple[int, ...], op: str, want: tuple[int, ...]) -> bool:
    n = max(len(v), len(want))
    a, b = v + (0,) * (n - len(v)), want + (0,) * (n - len(want))
    if op in ("==", "==="):
        return a[:len(want)] == b[:len(want)]
    if op == "~=":
        return a >= b and a[:len(want) - 1] == b[:len(want) - 1]
    return {"!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}[op]
