"""The signature catalogue: what SageMaker's model containers print when they fail, start, or just chatter.

Texts are the ones the real software writes, read from its sources or from published logs:
sagemaker_inference 1.10 (model_server.py, transformer.py, default_inference_handler.py),
sagemaker_pytorch_serving_container 2.0, TorchServe 0.3 → 0.12 (ts/*.py and the frontend's WorkerThread,
WorkerLifeCycle, BatchAggregator, ModelManager, ModelServer), Multi Model Server (``com.amazonaws.ml.mms``,
under the Hugging Face and MXNet containers), sagemaker-containers / the framework containers' gunicorn +
nginx stack (scikit-learn, XGBoost, MXNet, legacy TensorFlow), the TensorFlow Serving container
(``serve.py`` / ``python_service.py`` / ``tensorflow_model_server``), the Hugging Face inference toolkit,
DJL / LMI, Triton, pip, the dynamic loader, the JVM, CUDA and the kernel.

Every rule pairs a regular expression with its *anchors*: literal texts, one of which every line the rule
matches contains. The matcher runs one compiled alternation of all anchors over the whole log first, so
the (many) lines that hold none of them are never looked at again.

Kinds: ``cause`` (names what is wrong), ``symptom`` (a consequence: crash-loop markers, failing health
checks), ``noise`` (looks alarming, is harmless: labelled, never a cause), ``healthy`` (a normal start-up
or a served request).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ANCHORS",
    "CAUSE_PRECEDENCE",
    "CRASH_MARKERS",
    "DERIVED",
    "SIGNATURES",
    "TRACEBACK_ANCHORS",
    "Kind",
    "Rule",
    "Signature",
    "by_code",
    "description",
]

Kind = Literal["cause", "symptom", "noise", "healthy"]


@dataclass(frozen=True)
class Rule:
    """One way a signature shows: ``pattern`` is searched in a line's body (log prefixes removed);
    ``anchors``: literal texts, at least one of which is in every line ``pattern`` matches."""

    anchors: tuple[str, ...]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Signature:
    code: str
    kind: Kind
    description: str
    rules: tuple[Rule, ...] = ()

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(r.pattern for r in self.rules)


def _sig(code: str, kind: Kind, description: str, *rules: tuple[str | tuple[str, ...], str]) -> Signature:
    built = []
    for anchors, pattern in rules:
        built.append(Rule(anchors if isinstance(anchors, tuple) else (anchors,), re.compile(pattern)))
    return Signature(code, kind, description, tuple(built))


# A warning that names a CUDA/loader problem is printed by healthy CPU containers (TensorFlow's dso_loader,
# torch's "CUDA initialization" UserWarning): lines holding these words are never a cause of that family.
_NOT_A_WARNING = r"^(?!.*(?:Warning|WARNING|dso_loader|Could not load dynamic library|^W\d{4} ))"

SIGNATURES: tuple[Signature, ...] = (
    # ------------------------------------------------------------------------------------------ causes
    _sig("disk-full", "cause", "a disk filled up (model copy, model archive, pip cache or /tmp)",
         ("No space left on device", r"No space left on device(?::\s*'(?P<path>[^']+)')?"),
         ("Errno 28", r"\[Errno 28\]"),
         ("ENOSPC", r"\bENOSPC\b"),
         ("Disk quota exceeded", r"Disk quota exceeded"),
         # model-archiver (MMS/TorchServe) says "check the file permissions" for any IOError while writing the
         # archive; in a SageMaker container (root) that is the root volume filling up with a large model.
         ("Failed to save the model-archive", r'Failed to save the model-archive to model-path "?(?P<path>[^"\s]+)')),
    _sig("requirements-install-failed", "cause",
         "pip could not install code/requirements.txt; the container exits before the model server serves",
         ("failed to install required packages", r"failed to install required packages"),
         ("No matching distribution found", r"No matching distribution found for (?P<requirement>\S+)"),
         ("Could not find a version that satisfies",
          r"Could not find a version that satisfies the requirement (?P<requirement>\S+)"),
         ("Could not install packages due to", r"Could not install packages due to"),
         ("ResolutionImpossible", r"ResolutionImpossible"),
         ("conflicting dependencies", r"because these package versions have conflicting dependencies"),
         ("Could not build wheels for", r"Could not build wheels for (?P<requirement>[\w.\-\[\]]+)"),
         ("Invalid requirement", r"Invalid requirement: '?(?P<requirement>[^'\s]+)"),
         ("Could not open requirements file", r"Could not open requirements file"),
         ("setup.py egg_info",
          r"setup\.py egg_info\"? (?:failed with error code \d+(?: in (?P<build_dir>\S+))?|did not run successfully)"
          r"|Command errored out with exit status \d+: python setup\.py egg_info"),
         ("metadata-generation-failed", r"error: metadata-generation-failed"),
         ("InstallModuleError", r"\bInstallModuleError\b"),
         ("InstallRequirementsError", r"\bInstallRequirementsError\b"),
         ("Custom pip package installation failed", r"Custom pip package installation failed"),
         # subprocess.CalledProcessError for the pip command, whole or cut short by a console or a paste
         ("CalledProcessError",
          r"CalledProcessError: Command (?P<command>.*?\bpip[\d.]*\b.*?\binstall\b.*?)"
          r"(?:'? returned non-zero exit status (?P<exit_status>\d+).*)?$")),
    _sig("syntax-error", "cause", "a syntax error in the model code",
         (("SyntaxError", "IndentationError", "TabError"), r"^(?:SyntaxError|IndentationError|TabError)(?::|$)")),
    _sig("missing-module", "cause", "the model code imports a module the container does not have",
         # Raised (``...Error: No module named``), not a caught one printed as a value (``...Error("No module``).
         ("No module named",
          r"(?:ModuleNotFound|Import|ImportModule)Error\b(?!\(['\"]).*?No module named '?(?P<module>[\w.]+)'?")),
    _sig("import-error", "cause",
         "an import in the model code failed (a name, a version or a native library is missing)",
         ("ImportError", r"(?:^|[\s.:])ImportError: (?!No module named)(?P<message>.+)"),
         ("error while loading shared libraries", r"error while loading shared libraries: (?P<library>[^:\s]+)"),
         ("cannot open shared object file",
          _NOT_A_WARNING + r".*?(?P<library>[\w.+\-]+\.so[\w.]*): cannot open shared object file"),
         ("undefined symbol", _NOT_A_WARNING + r"(?:OSError|ImportError).*undefined symbol: (?P<symbol>\S+)")),
    _sig("cuda-driver-mismatch", "cause",
         "the model needs a CUDA/driver the instance or image does not have (driver too old, no GPU, CPU build)",
         ("CUDA driver version is insufficient", r"CUDA driver version is insufficient for CUDA runtime version"),
         ("NVIDIA driver on your system is too old",
          _NOT_A_WARNING + r".*The NVIDIA driver on your system is too old(?: \(found version (?P<driver>\d+)\))?"),
         ("forward compatibility was attempted", r"forward compatibility was attempted on non supported HW"),
         ("no kernel image is available", r"no kernel image is available for execution on the device"),
         ("unsupported display driver", r"unsupported display driver / cuda driver combination"),
         ("Found no NVIDIA driver", _NOT_A_WARNING + r".*Found no NVIDIA driver on your system"),
         ("Torch not compiled with CUDA enabled", r"Torch not compiled with CUDA enabled"),
         ("CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", r"CUDA_ERROR_SYSTEM_DRIVER_MISMATCH")),
    _sig("missing-entry-script", "cause",
         "the serving entry point is missing: the toolkit fell back to its default handler (no "
         "code/<SAGEMAKER_PROGRAM>, or no model_fn in it), or the image has no serve program",
         ("Please provide a model_fn implementation", r"Please provide a model_fn implementation"),
         ("Exactly one .pth or .pt file", r"Exactly one \.pth or \.pt file is required for PyTorch models"),
         ("Failed to load model with default model_fn",
          r"Failed to load model with default model_fn: missing file (?P<file>\S+?)\.?$"),
         ("HF_TASK", r"as env 'HF_TASK'"),
         ("executable file not found", r'exec: "?(?P<program>[\w./-]+)"?: executable file not found'),
         ("can't open file", r"can't open file '(?P<file>/opt/ml/[^']+\.py)'"),
         ("No such file or directory", r"No such file or directory: '(?P<file>/opt/ml/(?:model/)?code/[^'/]+\.py)'")),
    _sig("model-fn-error", "cause", "the model could not be loaded (model_fn, or the server's own loader, failed)",
         (("() takes", "() missing", "() got an unexpected", "arguments but"),
          r"\bmodel_fn(?:\(\))? (?:takes \d+|missing \d+ required|got an unexpected keyword)"),
         ("Failed to load model", r"Failed to load model (?P<model>[^\s,]+), exception (?P<message>.*)"),
         ("No versions of servable",
          r"No versions of servable (?P<model>\S+) found under base path (?P<path>\S+)"),
         ("Could not find SavedModel", r"Could not find SavedModel \.pb or \.pbtxt"),
         ("failed to load '", r"failed to load '(?P<model>[^']+)'(?: version \d+)?: (?P<message>.+)"),
         ("EngineException", r"ai\.djl\.engine\.EngineException: (?P<message>.*)"),
         ("ModelNotFoundException", r"ai\.djl\.repository\.zoo\.ModelNotFoundException: (?P<message>.*)")),
    _sig("out-of-memory", "cause", "the worker or the model server ran out of memory",
         ("OutOfMemoryError", r"\b(?P<error>(?:java\.lang\.|torch\.cuda\.)?OutOfMemoryError)\b(?::\s*(?P<message>.*))?"),
         ("OutOfDirectMemoryError", r"\b(?P<error>OutOfDirectMemoryError)\b(?::\s*(?P<message>.*))?"),
         ("Out of memory error when creating workers", r"Out of memory error when creating workers"),
         ("MemoryError", r"(?:^|[\s.:])(?P<error>_?(?:Array)?MemoryError)\b"),
         (("cpu OOM", "cuda OOM", "OOM when allocating"), r"Load model \S+ (?:cpu|cuda) OOM|OOM when allocating tensor"),
         ("System out of memory", r"System out of memory"),
         (("CUDA out of memory", "CUDA error: out of memory"), r"CUDA (?:error: )?out of memory"),
         ("Killed", r"^Killed\s*$|Out of memory: Kill(?:ed)? process"),
         ("SIGKILL", r"SIGKILL"),
         (("signal 9", "signal: killed"), r"\bsignal 9\b|signal: killed"),
         ("xit", r"\bexit(?:ed)?(?: with)? (?:code|status):? 137\b"),
         ("Cannot allocate memory", r"Cannot allocate memory"),
         ("std::bad_alloc", r"std::bad_alloc"),
         ("OOMKilled", r"OOMKilled")),
    _sig("worker-timeout", "cause", "a worker did not load or answer in time",
         ("Backend worker did not respond in given time", r"Backend worker did not respond in given time"),
         ("Backend worker startup time out", r"Backend worker startup time out"),
         ("Backend worker did not receive connection", r"Backend worker did not receive connection in"),
         ("Worker failed to initialize within", r"Worker failed to initialize within"),
         ("WORKER TIMEOUT", r"WORKER TIMEOUT(?: \(pid:\s*(?P<pid>\d+)\))?"),
         ("upstream timed out", r'upstream timed out .*request: "(?!GET /ping)(?P<request>[A-Z]+ /[^\s"]+)'),
         ("invocation timed out", r"invocation timed out while waiting for a response from container")),
    _sig("invocation-error", "cause", "the model code raised while serving a request",
         ("Invoking custom service failed", r"Invoking custom service failed"),
         (("() takes", "() missing", "() got an unexpected", "arguments but"), r"\b(?P<function>input_fn|predict_fn|output_fn|transform_fn)(?:\(\))? "
                 r"(?:takes \d+|missing \d+ required|got an unexpected keyword)")),
    # ----------------------------------------------------------------------------------------- symptoms
    _sig("ping-failing", "symptom", "the container's health check (/ping) fails",
         (('/ping HTTP/1.1" 5', '/ping HTTP/1.0" 5'), r'"GET /ping HTTP/1\.[01]" (?P<status>5\d\d)'),
         (("upstream timed out", "connect() to", "upstream prematurely closed", "no live upstreams"),
          r'(?P<reason>upstream timed out|connect\(\) to \S+ failed|upstream prematurely closed'
                        r'|no live upstreams).*request: "GET /ping'),
         ("Error handling request /ping", r"Error handling request /ping"),
         ("did not pass the ping health check", r"did not pass the ping health check")),
    _sig("worker-died", "symptom", "a model server worker process died",
         ("Backend worker process di", r"Backend worker process die(?:d)?\."),
         ("Worker failed to boot", r"Worker failed to boot"),
         ("Exception in worker process", r"Exception in worker process"),
         ("CannotStartContainerError", r"CannotStartContainerError")),
    _sig("load-model-failed", "symptom", "the model server could not load the model into a worker",
         ("Load model failed", r"Load model failed: (?P<model>\S+), error: (?P<error>.+)"),
         ("failed to load all models", r"failed to load all models"),
         (("ShardCannotStart", "failed to start"), r"ShardCannotStart|Shard \d+ failed to start")),
    _sig("auto-recovery-failed", "symptom", "the model server's worker auto recovery keeps failing",
         ("Auto recovery failed again", r"Auto recovery failed again")),
    _sig("worker-retry", "symptom", "the model server restarts a dead worker after a back-off",
         ("Retry worker", r"Retry worker: (?P<worker>\d+) in (?P<seconds>\d+) seconds")),
    _sig("invocations-failing", "symptom", "requests to /invocations fail",
         (('/invocations HTTP/1.1" 5', '/invocations HTTP/1.0" 5'),
          r'"POST /invocations HTTP/1\.[01]" (?P<status>5\d\d)'),
         ("Prediction error", r"^Prediction error$"),
         ("upstream prematurely closed", r'upstream prematurely closed .*request: "POST /invocations')),
    # -------------------------------------------------------------------------------------------- noise
    _sig("noise", "noise", "a client closed its connection; harmless",
         (("NativeIoException", "IOException"), r"(?:NativeIoException|IOException).*(?:Connection reset by peer|Broken pipe)")),
    # faiss (and other libraries with optional builds) log the import they tried and caught, then fall back:
    #   Could not load library with AVX512 support due to:
    #   ModuleNotFoundError("No module named 'faiss.swigfaiss_avx512'")
    _sig("optional-module-fallback", "noise",
         "a library tried an optional module or build, caught the ImportError and fell back; harmless",
         ("Could not load library with", r"Could not load library with \w+ support due to"),
         (("Error(\"No module named", "Error('No module named"),
          r"(?:ModuleNotFound|Import)Error\((['\"])No module named")),
    _sig("pip-notice", "noise", "pip's upgrade or resolver notice; harmless on its own",
         ("You are using pip version", r"You are using pip version"),
         ("A new release of pip", r"A new release of pip"),
         ("pip's dependency resolver does not currently", r"pip's dependency resolver does not currently"),
         ("Running pip as the 'root' user", r"Running pip as the 'root' user")),
    # ------------------------------------------------------------------------------------------ healthy
    _sig("server-started", "healthy", "the model server started",
         ("Model server started", r"Model server started"),
         ("Listening at: ", r"Listening at: \S+"),
         ("Booting worker with pid", r"Booting worker with pid"),
         ("Entering the event loop", r"Entering the event loop"),
         ("Exporting HTTP/REST API", r"Exporting HTTP/REST API at"),
         ("Running gRPC ModelServer", r"Running gRPC ModelServer at"),
         (("Started HTTPService at", "Started GRPCInferenceService at"),
          r"Started (?:HTTPService|GRPCInferenceService) at"),
         ("API bind to", r"(?:Inference|BOTH) API bind to")),
    _sig("model-loaded", "healthy", "a worker loaded the model",
         ("WORKER_MODEL_LOADED", r"-> WORKER_MODEL_LOADED"),
         # TorchServe's INFO-level sign that a worker's model_fn returned (its load-time metric)
         ("WorkerLoadTime", r"\bWorkerLoadTime\.Milliseconds:"),
         ("Successfully loaded servable version", r"Successfully loaded servable version"),
         ("successfully loaded '", r"successfully loaded '"),
         ("Worker: ", r"Worker: \d+ started\.|Model \[\S+\] initialized")),
)

_BY_CODE: dict[str, Signature] = {s.code: s for s in SIGNATURES}

#: Codes derived from tracebacks (or from the mix of hits) besides the line signatures above.
DERIVED: dict[str, tuple[Kind, str]] = {
    "metrics-collector-error": ("noise", "the model server's metrics collector failed; serving is unaffected"),
}

#: Lines a traceback is followed from: its header, and a frame (for excerpts that start mid-traceback).
TRACEBACK_ANCHORS: tuple[str, ...] = ("Traceback (most recent call last)", 'File "')

#: Every anchor once, longest first (so an alternation reports the most specific one).
ANCHORS: tuple[str, ...] = tuple(sorted({a for s in SIGNATURES for r in s.rules for a in r.anchors}
                                        | set(TRACEBACK_ANCHORS), key=lambda a: (-len(a), a)))

#: Cause codes, earliest start-up phase first. A failure in an earlier phase prevents the later ones; a full
#: disk comes first because it makes every later step (pip, the model copy) fail in its own words.
CAUSE_PRECEDENCE: tuple[str, ...] = (
    "disk-full",
    "requirements-install-failed",
    "syntax-error",
    "missing-module",
    "import-error",
    "cuda-driver-mismatch",
    "missing-entry-script",
    "model-fn-error",
    "out-of-memory",
    "worker-timeout",
    "invocation-error",
)

#: Symptoms that mean the workers crash and restart.
CRASH_MARKERS: tuple[str, ...] = ("worker-died", "load-model-failed", "auto-recovery-failed", "worker-retry")


def by_code(code: str) -> Signature | None:
    return _BY_CODE.get(code)


def description(code: str) -> tuple[Kind, str]:
    sig = _BY_CODE.get(code)
    if sig is not None:
        return sig.kind, sig.description
    return DERIVED[code]
