"""The causes the catalogue (:mod:`.catalogue`) names, one entry each: its description, what to do, the stage it
fails in, the broader cause it refines and the symptoms it explains; and the types of the catalogue's rules.
The order of :data:`CAUSES` is the start-up order: :data:`CAUSE_PRECEDENCE` breaks ties between equally strong
causes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["BROADER", "CAUSES", "CAUSE_PRECEDENCE", "EXPLAINS", "STRENGTHS", "CauseInfo", "Kind", "Rule", "RuleTable",
           "Signature", "Strength", "merged_rules"]


Kind = Literal["cause", "symptom", "noise", "healthy"]
Strength = Literal["sure", "likely", "weak"]

#: Strengths, strongest first (the verdict ranks causes by this, then by precedence).
STRENGTHS: tuple[Strength, ...] = ("sure", "likely", "weak")


@dataclass(frozen=True)
class Rule:
    """One way a signature shows: ``pattern`` is searched in a line's body (log prefixes removed);
    ``anchors``: literal texts, at least one of which is in every line ``pattern`` matches; ``strength``: how
    surely the line names its cause (causes only)."""

    anchors: tuple[str, ...]
    pattern: re.Pattern[str]
    strength: Strength = "sure"


@dataclass(frozen=True)
class Signature:
    code: str
    kind: Kind
    description: str
    rules: tuple[Rule, ...] = ()

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(r.pattern for r in self.rules)


@dataclass(frozen=True)
class CauseInfo:
    """What a cause code means, what to do about it, which container families print it, and the issue-14 code
    that the same evidence had before the catalogue named it (``broader``; None: the code is that old)."""

    description: str
    action: str
    families: tuple[str, ...]
    broader: str | None = None


_ALL = ("any",)
_PLATFORM = ("SageMaker CreateModel / CreateEndpoint / FailureReason",)
_PY_TOOLKITS = ("PyTorch (TorchServe, MMS-era)", "Hugging Face toolkit (MMS)", "MXNet (MMS)",
                "scikit-learn / XGBoost (sagemaker-containers, toolkits)", "TensorFlow Serving (python_service)",
                "bring-your-own Flask / gunicorn / FastAPI", "local mode")
_LLM = ("Hugging Face TGI", "Hugging Face TEI", "DJL / LMI (vLLM, TensorRT-LLM, DeepSpeed)")

#: Every cause code, earliest start-up phase first (this order is :data:`CAUSE_PRECEDENCE`). A failure in an
#: earlier phase keeps the later ones from running: the platform (capacity, archive, image) before the
#: container's start (disk, pip, network, credentials, server config), the import of the serving code, the
#: engine and GPU checks, the model load, then serving.
CAUSES: dict[str, CauseInfo] = {
    "insufficient-capacity": CauseInfo(
        "the instance type could not be provided (no capacity in the region or zone, or the account's quota "
        "for it is used up)",
        "try another instance type or Availability Zone later, or request a quota increase (Service Quotas)",
        _PLATFORM),
    "serverless-limit": CauseInfo(
        "a serverless endpoint limit was exceeded (image larger than 10 GiB, request over 4 MB, memory, "
        "concurrency)",
        "use a real-time (or asynchronous) endpoint, a smaller image or payload, or more serverless memory",
        _PLATFORM + ("serverless endpoints",)),
    "model-archive-too-large": CauseInfo(
        "SageMaker refuses to extract the model data: the archive is too large for the instance",
        "make model.tar.gz smaller, use an instance type with more memory/storage, or uncompressed model data",
        _PLATFORM),
    "corrupt-model-archive": CauseInfo(
        "the model data is not a valid tar.gz archive, so SageMaker (or the container) cannot extract it",
        "rebuild model.tar.gz with tar -czf (gzip-compressed, files at its root) and upload it again",
        _PLATFORM + _PY_TOOLKITS),
    "wrong-architecture": CauseInfo(
        "the image was built for another CPU architecture than the instance (e.g. arm64 on an x86_64 host): "
        "its entrypoint cannot be executed",
        "build the image for the instance's platform (docker buildx build --platform linux/amd64)",
        ("bring-your-own containers",)),
    "image-not-sagemaker-compatible": CauseInfo(
        "the image does not do what SageMaker expects of it (the 'serve' argument, /ping and /invocations on "
        "port 8080, the multi-model API and label)",
        "use the SageMaker build of the image (the DLC URI from image_uris.retrieve) or add SageMaker's "
        "serve entrypoint and APIs to it",
        ("Hugging Face TGI", "Hugging Face TEI", "multi-model endpoints", "bring-your-own containers")),
    "training-image-used-for-serving": CauseInfo(
        "a training image was deployed for inference: it has no serving stack (nginx, model server)",
        "deploy with the framework's inference image (image_uris.retrieve(..., image_scope='inference'))",
        ("MXNet", "TensorFlow", "PyTorch", "bring-your-own containers")),
    "gpu-image-on-cpu-host": CauseInfo(
        "a GPU build of the image or model server runs where no NVIDIA driver is visible (a CPU instance, or "
        "no GPU runtime): libcuda / the driver cannot be loaded",
        "use the CPU image on a CPU instance, or a GPU instance type for the GPU image",
        ("TensorFlow Serving", "PyTorch", "bring-your-own containers"), broader="import-error"),
    "disk-full": CauseInfo(
        "a disk filled up (model copy, model archive, weights download, pip cache or /tmp)",
        "give the endpoint more storage (VolumeSizeInGB or an instance with a larger volume / NVMe) or make "
        "the model smaller; point caches at the large volume",
        _ALL),
    "requirements-install-failed": CauseInfo(
        "pip could not install code/requirements.txt; the container exits before the model server serves",
        "fix code/requirements.txt (versions that exist for the image's Python, no local files it lacks) or "
        "vendor the packages into code/",
        _PY_TOOLKITS),
    "network-unreachable": CauseInfo(
        "the container (or SageMaker, for model data) cannot reach a host it needs (S3, the Hugging Face Hub): "
        "no route, DNS or connection refused, typically a VPC without NAT or endpoints",
        "give the subnets a route (NAT gateway, S3 gateway endpoint) or ship the model in model.tar.gz instead "
        "of downloading it at start-up",
        _PLATFORM + _LLM + ("Hugging Face toolkit",)),
    "permission-denied": CauseInfo(
        "access was refused: the execution role cannot read the model data, the Hub needs a token for a gated "
        "or private model, or a directory is not writable",
        "grant the role s3:GetObject/ListBucket (and KMS) on the model data, set HF_TOKEN / "
        "HUGGING_FACE_HUB_TOKEN for gated models, or point caches at a writable directory",
        _PLATFORM + _LLM + ("Hugging Face toolkit", "serverless endpoints")),
    "model-download-timeout": CauseInfo(
        "downloading the model took longer than allowed",
        "raise ModelDataDownloadTimeoutInSeconds (or the server's download timeout), use a larger instance, "
        "or a smaller / uncompressed model",
        _PLATFORM + ("Triton", "DJL / LMI")),
    "shared-memory-too-small": CauseInfo(
        "/dev/shm is too small for the server's inter-process shared memory (NCCL, shards, the Python backend)",
        "give the container more shared memory (an instance type SageMaker sizes /dev/shm for, fewer shards, "
        "NCCL_SHM_DISABLE=1 for single-GPU), or --shm-size when running locally",
        ("Hugging Face TGI", "Triton", "DJL / LMI", "PyTorch")),
    "server-config-invalid": CauseInfo(
        "the model server refuses its own configuration (launcher arguments, nginx directives, bind address)",
        "fix the server settings the error names (the environment variables or config file that set them)",
        ("Hugging Face TGI", "Hugging Face TEI", "gunicorn / nginx", "bring-your-own containers")),
    "syntax-error": CauseInfo(
        "a syntax error in the model code", "fix the file and line the error names", _PY_TOOLKITS),
    "missing-entry-script": CauseInfo(
        "the serving entry point is missing: no code/<SAGEMAKER_PROGRAM> where the toolkit imports it (or "
        "none named), or the image has no runnable serve program",
        "put the entry script under code/ in model.tar.gz and set SAGEMAKER_PROGRAM (entry_point=), or make "
        "the image's serve executable",
        _PY_TOOLKITS),
    "mme-user-module-missing": CauseInfo(
        "a multi-model endpoint's models name no user module the toolkit can import (SAGEMAKER_PROGRAM unset, "
        "module None, or the code not inside each model's archive)",
        "put code/inference.py inside every model's archive and set SAGEMAKER_PROGRAM on the model",
        ("multi-model endpoints",), broader="missing-entry-script"),
    "missing-module": CauseInfo(
        "the model code imports a module the container does not have",
        "add the package to code/requirements.txt, or its source under code/", _ALL),
    "import-error": CauseInfo(
        "an import in the model code failed (a name, a version or a native library is missing)",
        "install the library version (or system package) the import needs", _ALL),
    "cuda-driver-mismatch": CauseInfo(
        "the model needs a CUDA/driver the instance or image does not have (driver too old for the image's "
        "CUDA, a CPU build on a GPU path)",
        "use an image whose CUDA the instance's driver supports (or a newer instance family)",
        ("PyTorch", "Triton", "Hugging Face TGI", "DJL / LMI", "TensorFlow Serving")),
    "gpu-architecture-mismatch": CauseInfo(
        "the instance's GPU generation does not match what the image or model needs (compute capability, "
        "bfloat16, flash attention)",
        "use an instance with a newer GPU (g5/g6/p4/p5), an image built for this GPU, or dtype float16",
        ("Hugging Face TEI", "Hugging Face TGI", "DJL / LMI (vLLM)", "PyTorch"), broader="cuda-driver-mismatch"),
    "engine-version-mismatch": CauseInfo(
        "a compiled model artifact (TensorRT plan, Neuron NEFF, ONNX IR) was built for another engine version "
        "or target than the serving container's",
        "rebuild the artifact with the serving container's exact engine version (or pick the image that "
        "matches it)",
        ("Triton", "Hugging Face TGI (Neuron)", "DJL / LMI"), broader="model-fn-error"),
    "framework-version-mismatch": CauseInfo(
        "the model was saved with a framework version the serving runtime does not match (ops or formats it "
        "does not know)",
        "serve with the framework version the model was trained/exported with (framework_version=)",
        ("TensorFlow Serving", "XGBoost", "scikit-learn"), broader="model-fn-error"),
    "unsupported-model-architecture": CauseInfo(
        "the serving engine in the image does not support the model's architecture, op or weight format",
        "use an image version that supports the model (newer TGI/TEI/vLLM/transformers), trust_remote_code, or "
        "a custom inference.py",
        _LLM + ("Hugging Face toolkit", "TensorFlow Serving"), broader="model-fn-error"),
    "model-config-invalid": CauseInfo(
        "the serving configuration does not fit the model (shards / tensor parallel degree vs. heads, Triton "
        "config.pbtxt vs. the model's tensors or backend)",
        "make the configuration agree with the model (number of GPUs/shards, config.pbtxt names, shapes, "
        "backend/platform)",
        ("Triton",) + _LLM, broader="model-fn-error"),
    "toolkit-bug": CauseInfo(
        "a defect in the container's own serving stack (toolkit, model server, entrypoint), not in the model "
        "or its code",
        "use a newer (or older, known-good) image / toolkit release that fixes it",
        _ALL),
    "default-handler-used": CauseInfo(
        "the toolkit fell back to its default handler because it did not find the overrides (model_fn, "
        "input_fn, ... or HF_TASK) it needs",
        "put inference.py with model_fn (and the other overrides) under code/ and set SAGEMAKER_PROGRAM, or "
        "set HF_TASK for the Hugging Face toolkit",
        ("PyTorch", "Hugging Face toolkit", "MXNet", "scikit-learn"), broader="missing-entry-script"),
    "model-file-not-found": CauseInfo(
        "a model file the server or model_fn loads is not where it looks (not in model.tar.gz, another name or "
        "folder, no version directory, no model data at the S3 location)",
        "put the file where the loader looks (the path in the error) or fix the path in model_fn / the "
        "model data URL",
        _ALL, broader="model-fn-error"),
    "model-fn-error": CauseInfo(
        "the model could not be loaded (model_fn, or the server's own loader, failed)",
        "fix model_fn (the exception and line in the evidence)", _ALL),
    "cuda-out-of-memory": CauseInfo(
        "the model ran out of GPU memory (or an Inferentia/Trainium NeuronCore's device memory) (loading, warm-up "
        "or a request)",
        "use a GPU with more memory (or more GPUs), quantize, or lower the batch / token limits",
        ("PyTorch", "Triton", "TensorFlow Serving") + _LLM, broader="out-of-memory"),
    "out-of-memory": CauseInfo(
        "the worker or the model server ran out of (host or JVM) memory", "use a larger instance or fewer "
        "workers (or raise the JVM's -Xmx / MaxDirectMemorySize)", _ALL),
    "startup-health-check-timeout": CauseInfo(
        "the model takes longer to load than the server or SageMaker's start-up health check waits",
        "raise ContainerStartupHealthCheckTimeoutInSeconds (and the server's start-up timeout), use a larger "
        "instance, or load faster",
        ("PyTorch (TorchServe, MMS)", "gunicorn / nginx toolkits"), broader="ping-failing"),
    "worker-timeout": CauseInfo(
        "a worker did not load or answer in time",
        "a larger instance, a longer server timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT / gunicorn --timeout), "
        "or a faster model",
        ("gunicorn / nginx toolkits", "PyTorch (TorchServe)", "bring-your-own containers")),
    "response-too-large": CauseInfo(
        "the model's response is larger than the model server's maximum response size",
        "return less, or raise the server's limit (TS_MAX_RESPONSE_SIZE / max_response_size)",
        ("PyTorch (TorchServe, MMS)", "MXNet")),
    "bad-request": CauseInfo(
        "the container rejects the request (4xx): its content type, format or size does not fit the model",
        "send the content type and payload shape the model expects (and under 6 MB, or use async/batch)",
        _ALL),
    "invocation-error": CauseInfo(
        "the model code (or the server's input validation) failed while serving a request",
        "fix the request or input_fn / predict_fn / output_fn (the exception in the evidence)", _ALL),
    "ping-error": CauseInfo(
        "the container's /ping answers an error (its health check handler fails)",
        "fix what /ping does (usually the model load it triggers; see the container's exception)",
        ("gunicorn / nginx toolkits", "bring-your-own Flask / gunicorn / FastAPI"), broader="ping-failing"),
    "deploy-wait-timeout": CauseInfo(
        "the client stopped waiting for the endpoint to become InService; the endpoint itself may still be "
        "Creating",
        "check the endpoint's status and logs, then wait longer (or find why it is slow)",
        ("SageMaker SDK / CloudFormation / Terraform",)),
}

#: Cause codes, earliest start-up phase first.
CAUSE_PRECEDENCE: tuple[str, ...] = tuple(CAUSES)

#: New code → the issue-14 code the same evidence had (consumers that know only those can fall back).
BROADER: dict[str, str] = {c: i.broader for c, i in CAUSES.items() if i.broader}

#: When the winning cause is one of these, the listed codes beside it are its consequences (they do not lower
#: the confidence). Any cause explains a failing request or health check.
_EXPLAINS: dict[str, frozenset[str]] = {
    "disk-full": frozenset(CAUSES),
    "shared-memory-too-small": frozenset({"out-of-memory", "toolkit-bug"}),
    "requirements-install-failed": frozenset({"missing-module", "import-error", "permission-denied",
                                              "network-unreachable"}),
    "missing-entry-script": frozenset({"missing-module", "import-error", "default-handler-used"}),
    "mme-user-module-missing": frozenset({"missing-entry-script", "missing-module", "default-handler-used"}),
    "missing-module": frozenset({"import-error", "model-fn-error", "default-handler-used"}),
    "gpu-image-on-cpu-host": frozenset({"import-error", "cuda-driver-mismatch"}),
    "cuda-driver-mismatch": frozenset({"model-fn-error", "cuda-out-of-memory"}),
    "gpu-architecture-mismatch": frozenset({"model-fn-error", "cuda-out-of-memory", "missing-module"}),
    "engine-version-mismatch": frozenset({"model-fn-error", "model-file-not-found"}),
    "framework-version-mismatch": frozenset({"model-fn-error"}),
    "unsupported-model-architecture": frozenset({"model-fn-error", "model-file-not-found"}),
    "model-config-invalid": frozenset({"model-fn-error"}),
    "default-handler-used": frozenset({"model-fn-error", "model-file-not-found"}),
    "model-file-not-found": frozenset({"model-fn-error"}),
    "permission-denied": frozenset({"model-file-not-found", "model-fn-error"}),
    "network-unreachable": frozenset({"model-file-not-found", "model-fn-error", "model-download-timeout"}),
    "model-download-timeout": frozenset({"model-file-not-found", "model-fn-error"}),
    "cuda-out-of-memory": frozenset({"out-of-memory", "model-fn-error"}),
    "out-of-memory": frozenset({"model-fn-error"}),
    "worker-timeout": frozenset({"out-of-memory"}),
    "startup-health-check-timeout": frozenset({"out-of-memory", "worker-timeout"}),
}
_ALWAYS_CONSEQUENCES = frozenset({"invocation-error", "ping-error", "bad-request"})
EXPLAINS: dict[str, frozenset[str]] = {c: _EXPLAINS.get(c, frozenset()) | _ALWAYS_CONSEQUENCES for c in CAUSES}


def _rules(*rules: tuple[str | tuple[str, ...], str] | tuple[str | tuple[str, ...], str, Strength]
           ) -> tuple[Rule, ...]:
    """Rules from ``(anchors, pattern[, strength])`` tuples (anchors: one literal or a tuple of them)."""
    built = []
    for rule in rules:
        anchors, pattern = rule[0], rule[1]
        strength: Strength = rule[2] if len(rule) > 2 else "sure"  # type: ignore[misc]
        built.append(Rule(anchors if isinstance(anchors, tuple) else (anchors,), re.compile(pattern), strength))
    return tuple(built)


RuleTable = dict[str, tuple[tuple, ...]]


def merged_rules(*tables: RuleTable) -> RuleTable:
    """Rule tables (cause code → ``(anchors, pattern[, strength])`` tuples) as one: each code's rules in the order
    of the tables given."""
    out: RuleTable = {}
    for table in tables:
        for code, rules in table.items():
            out[code] = out.get(code, ()) + rules
    return out


def _sig(code: str, kind: Kind, description: str,
         *rules: tuple[str | tuple[str, ...], str] | tuple[str | tuple[str, ...], str, Strength]) -> Signature:
    return Signature(code, kind, description, _rules(*rules))


def _cause(code: str, *rules: tuple[str | tuple[str, ...], str] | tuple[str | tuple[str, ...], str, Strength]
           ) -> Signature:
    return _sig(code, "cause", CAUSES[code].description, *rules)
