"""The load check's child: runs in the serving environment as ``python -s -c <this file's text>`` (so the cwd, a
private work dir, is dropped from the path and nothing of the caller's is importable). Never imported.

Arguments: ``model_dir program proxy_port [extra sys.path entries...]``. It does what a TorchServe worker of the
image does with the model, as far as loading goes:

1. the worker's logging and import path (``code/``, the model dir, the requirements layer), with
   ``/opt/ml/model/...`` paths the code adds resolving inside ``model_dir``;
2. the handler service module of the image's toolkit is imported (as TorchServe imports its handler), then the
   entry script (stage ``import``);
3. ``HandlerService().initialize(context)`` with TorchServe's own ``Context`` (stage ``model_fn``): the toolkit's
   ``Transformer.validate_and_initialize`` picks the handlers (its defaults for missing ones) and calls
   ``model_fn`` through ``_run_handler_function``, exactly as in the container;
4. the request handlers' signatures through the toolkit's own ``transform`` (stage ``done``): every handler
   replaced by a stand-in with its signature that runs none of its code, so the toolkit's dispatch (argument
   counts, the context it appends) is what is checked.

No network: every connection to the check's recording proxy (``HTTP(S)_PROXY``) is noted with the Python
frames that made it (joined with the host the proxy saw, by the client port), and a direct connection or name
lookup of anything but loopback is refused and noted. One JSON line on stdout, after a marker.
"""

import importlib
import inspect
import json
import logging
import os
import socket
import sys
import time
import traceback

sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
model_dir, program, proxy_port, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
code_dir = os.path.join(model_dir, "code")
sys.path[:0] = [code_dir, model_dir] + [p for p in extra if p]
# The container's model dir is /opt/ml/model: sys.path entries the code adds under it resolve in model_dir.
import importlib.machinery as _mach  # noqa: E402

_details = [(_mach.ExtensionFileLoader, _mach.EXTENSION_SUFFIXES), (_mach.SourceFileLoader, _mach.SOURCE_SUFFIXES),
            (_mach.SourcelessFileLoader, _mach.BYTECODE_SUFFIXES)]


def _container_path_hook(path, _root="/opt/ml/model"):
    if path == _root or path.startswith(_root + "/"):
        return _mach.FileFinder(model_dir + path[len(_root):], *_details)
    raise ImportError(path)


sys.path_hooks.insert(0, _container_path_hook)
sys.path_importer_cache.clear()
os.environ.setdefault("SAGEMAKER_BASE_DIR", os.path.dirname(model_dir))
logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.INFO)  # as TorchServe's worker does

out = {"stage": "import", "ok": False, "network": []}


def _disk_used(roots):
    """Bytes the files under ``roots`` take on disk (allocated blocks: a sparse file counts what it holds)."""
    total = 0
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    pass
    return total


# Where the container writes on its volume: the model dir, its temp dir and its home.
_volume = [p for p in {model_dir, os.environ.get("TMPDIR"), os.environ.get("HOME")} if p and os.path.isdir(p)]
_disk_before = _disk_used(_volume)

# ------------------------------------------------------------------------------------------------ the network
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_FETCHERS = ("hf_hub_download", "snapshot_download", "load_state_dict_from_url", "load_url", "download_url_to_file",
             "urlopen", "urlretrieve", "request", "get", "head", "post", "download", "get_encoding")
import sysconfig  # noqa: E402

_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + "/"


def _rel(path):
    if path.startswith(model_dir + "/"):
        return path[len(model_dir) + 1:]
    cut = path.rfind("site-packages/")
    if cut >= 0:
        return path[cut + len("site-packages/"):]
    real = os.path.realpath(path)
    return real[len(_STDLIB):] if real.startswith(_STDLIB) else path


def _where():
    """The innermost frame of the model's own code that led here, the library call it made, and the first
    frame inside it that fetches (hf_hub_download, load_state_dict_from_url, urlopen, requests' get, ...)."""
    frames = traceback.extract_stack()[:-3]
    mine = [i for i, f in enumerate(frames) if f.filename.startswith(model_dir + "/")]
    where = {}
    inner = frames[mine[-1] + 1:] if mine else frames
    if mine:
        f = frames[mine[-1]]
        where["file"], where["line"], where["code"] = _rel(f.filename), f.lineno, (f.line or "").strip()
    if inner:
        where["library"] = "%s:%d %s" % (_rel(inner[0].filename), inner[0].lineno, inner[0].name)
    fetch = next((f for f in inner if f.name in _FETCHERS), None)
    if fetch is not None and fetch is not (inner[0] if inner else None):
        where["fetch"] = "%s:%d %s" % (_rel(fetch.filename), fetch.lineno, fetch.name)
    return where


def _note(**kw):
    kw["stage"] = out["stage"]
    out["network"].append(kw)


_real_connect, _real_connect_ex, _real_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
_real_ghbn, _real_ghbn_ex = socket.gethostbyname, socket.gethostbyname_ex


def _check_connect(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return None
    host, port = address[0], address[1]
    if host in _LOOPBACK:
        return ("proxy", port) if port == proxy_port else None
    _note(via="direct", host=host, port=port, where=_where())
    return "refuse"


def _connect(self, address):
    what = _check_connect(self, address)
    if what == "refuse":
        raise ConnectionRefusedError(111, "Connection refused (the load check has no network: %s)" % (address,))
    try:
        result = _real_connect(self, address)
    except BlockingIOError:  # a non-blocking socket (asyncio): the connection is under way
        if what:
            _note(via="proxy", client_port=self.getsockname()[1], where=_where())
        raise
    if what:
        _note(via="proxy", client_port=self.getsockname()[1], where=_where())
    return result


def _connect_ex(self, address):
    what = _check_connect(self, address)
    if what == "refuse":
        return 111
    result = _real_connect_ex(self, address)
    if what and result in (0, 115):  # connected, or under way (EINPROGRESS)
        _note(via="proxy", client_port=self.getsockname()[1], where=_where())
    return result


def _getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name in _LOOPBACK or name.startswith("127."):
        return _real_gai(host, *args, **kwargs)
    _note(via="lookup", host=name, where=_where())
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (the load check has no network)")


def _resolver(real):
    def resolve(host):
        if host in _LOOPBACK or host.startswith("127."):
            return real(host)
        _note(via="lookup", host=host, where=_where())
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (the load check has no network)")
    return resolve


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = _connect, _connect_ex, _getaddrinfo
socket.gethostbyname, socket.gethostbyname_ex = _resolver(_real_ghbn), _resolver(_real_ghbn_ex)


# ------------------------------------------------------------------------------------------------ the toolkit
def _version(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def _context():
    """TorchServe's Context as its Service builds it for the model (its constructor differs across releases:
    the arguments go by name)."""
    import ts
    from ts.context import Context

    manifest = None
    mf = os.path.join(model_dir, "MAR-INF", "MANIFEST.json")
    if os.path.exists(mf):
        with open(mf) as f:
            manifest = json.load(f)
    metrics = None
    try:
        from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

        metrics = MetricsCacheYamlImpl(config_file_path=os.path.join(os.path.dirname(ts.__file__), "configs",
                                                                      "metrics.yaml"))
        metrics.initialize_cache()
    except Exception:
        metrics = None
    known = {"model_name": "model", "model_dir": model_dir, "manifest": manifest, "batch_size": 1, "gpu": None,
             "mms_version": getattr(ts, "__version__", None), "limit_max_image_pixels": True, "metrics": metrics,
             "model_yaml_config": {}}
    kwargs = {}
    for name, p in list(inspect.signature(Context.__init__).parameters.items())[1:]:
        if name in known:
            kwargs[name] = known[name]
        elif p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise RuntimeError("TorchServe's Context needs %r, which the load check does not know" % name)
    return Context(**kwargs)


def _def_of(fn):
    fn = inspect.unwrap(fn)
    try:
        path = inspect.getsourcefile(fn) or ""
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return None
    if not path.startswith(model_dir + "/"):
        return None
    return {"file": _rel(path), "line": line, "parameters": str(inspect.signature(fn)),
            "count": len(inspect.signature(fn).parameters)}


def _signature_fault(exc, context, tb):
    """The context the toolkit appended to model_fn's arguments, in the model's own frames, when the failure's
    message names its class (``join() argument must be str ... not 'Context'``): the signature is the cause."""
    name = type(context).__name__
    if name not in str(exc) or not out.get("handlers", {}).get("model_fn", {}).get("context"):
        return None
    holders = []
    while tb is not None:
        f = tb.tb_frame
        if f.f_code.co_filename.startswith(model_dir + "/"):
            for k, v in f.f_locals.items():
                if v is context:
                    holders.append({"file": _rel(f.f_code.co_filename), "line": tb.tb_lineno,
                                    "function": f.f_code.co_name, "name": k})
        tb = tb.tb_next
    return {"context_type": name, "holders": holders}


def _standin(name, fn, bound, lenient):
    """A function with ``fn``'s signature (the toolkit counts its parameters) that binds the arguments as the
    real call would and runs none of its code; ``bound[name]`` holds how many arguments it got."""
    sig = inspect.signature(fn)

    def standin(*args, **kwargs):
        if not lenient:
            sig.bind(*args, **kwargs)  # a TypeError exactly where the real call raises one
        bound[name] = len(args) + len(kwargs)
        return ('""', "application/json") if name in ("output_fn", "transform_fn") else {}

    standin.__name__ = getattr(fn, "__name__", name)
    if lenient:  # a handler already found wrong: as many parameters as the toolkit passes, to check the next
        P = inspect.Parameter
        standin.__signature__ = inspect.Signature(
            [P("a%d" % i, P.POSITIONAL_OR_KEYWORD) for i in range(4 if name == "transform_fn" else 2)])
    else:
        standin.__wrapped__ = fn
    return standin


def _request_signatures(transformer, context, user):
    """Each request handler's call through the toolkit's own ``transform`` (its argument counts, the context it
    appends): ``{handler: {"passed": n, "error": None | "TypeError: ..."}}``."""
    from ts.context import RequestProcessor

    names = ["transform_fn"] if user.get("transform_fn") else ["input_fn", "predict_fn", "output_fn"]
    real = {n: user.get(n) or getattr(transformer, "_" + n) for n in names}
    result = {}
    for _ in names:
        bound, errors = {}, []
        for n in names:
            setattr(transformer, "_" + n, _standin(n, real[n], bound, n in result))
        # the toolkit wraps what a handler raised; its traceback's last line is the original exception
        transformer.handle_error = lambda ctx, exc, trace, errors=errors: errors.append(trace) or [""]
        context.request_processor = [RequestProcessor({"Content-Type": "application/json",
                                                       "Accept": "application/json"})]
        transformer.transform([{"body": b"{}"}], context)
        for n in names:
            if n in bound and n not in result:
                result[n] = {"passed": bound[n], "error": None}
        if not errors:
            break
        # The handlers run in order: the first that did not bind is the one the toolkit's call failed on.
        failed = next((n for n in names if n not in bound), None)
        if failed is None:
            break
        result[failed] = {"passed": None, "error": (errors[0].strip().splitlines() or ["?"])[-1]}
    return result


t0 = time.monotonic()
context = None
try:
    try:  # TorchServe imports the handler service module (the toolkit) before the model's code
        from sagemaker_pytorch_serving_container.handler_service import HandlerService

        context = _context()
    except Exception as e:  # a pre-built environment without the toolkit or TorchServe: said so
        HandlerService, context = None, None
        out["caller"] = "direct: model_fn(model_dir) (no SageMaker toolkit with TorchServe here: %s: %s)" % (
            type(e).__name__, e)
    t0 = time.monotonic()  # the model's own import (the toolkit's, torch's, came before it)
    module_name = program[:-3] if program.endswith(".py") else program
    mod = importlib.import_module(module_name)
    out["import_seconds"] = round(time.monotonic() - t0, 3)
    out["stage"] = "model_fn"
    user = {n: getattr(mod, n, None) for n in ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")}
    out["handlers"] = {}
    for n, fn in user.items():
        if fn is not None and callable(fn):
            d = _def_of(fn) or {"defined": repr(fn)[:80]}
            d["context"] = d.get("count") == {"model_fn": 1, "transform_fn": 4}.get(n, 2) + 1
            out["handlers"][n] = d
    t1 = time.monotonic()
    if HandlerService is None:
        if user["model_fn"] is None:
            out.update(ok=True, stage="done", note="no model_fn: the toolkit's default model_fn would be used")
        else:
            model = user["model_fn"](model_dir)
            out["model_type"] = type(model).__name__
            out.update(ok=True, stage="done")
    else:
        out["caller"] = "sagemaker-pytorch-inference %s (HandlerService%s) with TorchServe %s's Context" % (
            _version("sagemaker-pytorch-inference"),
            ", sagemaker-inference %s" % _version("sagemaker-inference") if _version("sagemaker-inference") else "",
            _version("torchserve"))
        service = HandlerService()
        service.initialize(context)
        transformer = service._service
        out["model_fn_seconds"] = round(time.monotonic() - t1, 3)
        out["model_type"] = type(transformer._model).__name__
        if user["model_fn"] is None:
            out["note"] = "no model_fn: the toolkit's default model_fn loaded the model"
        out.update(ok=True, stage="done")
        try:
            out["requests"] = _request_signatures(transformer, context, user)
        except Exception as e:  # the dry run itself: said, not a failure of the model
            out["requests_error"] = "%s: %s" % (type(e).__name__, e)
except BaseException as e:
    out["error_type"] = type(e).__name__
    out["error"] = str(e)
    out["traceback"] = traceback.format_exc()
    if isinstance(e, ModuleNotFoundError):
        out["missing_module"] = e.name
    if out["stage"] == "model_fn" and context is not None:
        out["signature"] = _signature_fault(e, context, e.__traceback__)
        last = traceback.extract_tb(e.__traceback__)[-1]
        if isinstance(e, TypeError) and last.name == "_run_handler_function" and "arguments but" in str(e):
            out["signature"] = {"toolkit": str(e)}
origins, linked = {}, {}
for name, m in list(sys.modules.items()):
    f = getattr(m, "__file__", None)
    if f and "." not in name:
        origins[name] = os.path.realpath(f)
        if os.path.abspath(f) != origins[name]:  # e.g. Debian's sitecustomize.py -> /etc/python3.X/
            linked[name] = os.path.abspath(f)
out["origins"], out["linked"] = origins, linked
try:  # the peak resident memory of this process (the model loaded in it): what one worker needs
    import resource
    out["peak_rss_mb"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
except Exception:
    pass
out["disk_written_mb"] = max(0, _disk_used(_volume) - _disk_before) // 2**20  # what import and model_fn wrote
out["stdlib"] = [os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")]
sys.stdout.flush()
print("\n@@LOADCHECK@@" + json.dumps(out, default=str))
