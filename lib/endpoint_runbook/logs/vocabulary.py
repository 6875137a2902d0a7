"""A guess from words, for the logs no rule knows: the failure vocabulary servers, runtimes and platforms share.

The catalogue's rules name messages; a log from a server it has never seen names none of them, yet its error line
usually says what went wrong in words every stack uses ("out of memory", "Permission denied", "compute
capability", "No such file or directory ... model.onnx"). When the scan found no cause, the first error line (beside
symptoms alone too; or, in a log with no error line and no sign of health, the first failure-sounding line that is
neither a warning nor a caution) that holds such words gives a
*weak* cause: the verdict names it at low confidence and says it is a guess, and diagnose does not act on it (the
load check still has its say). The classes are tried in order, the narrower first (a GPU's memory before memory,
a driver before a file).

Nothing here is fitted to a log: each class is the words the failure is spelled with across stacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["FAILURE_WORDS", "VOCABULARY", "failure_lines", "guess"]

_I = re.IGNORECASE

#: (cause, words): tried in order on one line; the first class whose words the line holds names the guess.
VOCABULARY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("cuda-out-of-memory", re.compile(
        r"\b(?:CUDA|GPU|device|HBM|VRAM|NeuronCore|Neuron)\b[^\n]{0,80}?\b(?:out of memory|OOM|memory (?:allocation|"
        r"exhausted))|\b(?:out of memory|OOM)\b[^\n]{0,80}?\b(?:CUDA|GPU|device)\b|cudaErrorMemoryAllocation|"
        r"CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_(?:ALLOC_FAILED|NOT_INITIALIZED)|(?:alloc|allocate)\w*[^\n]{0,20}?"
        r"\b(?:device|GPU|HBM) memory|\bKV cache\b[^\n]{0,80}?(?:is needed|larger than|too small|exceed)|(?:not enough|"
        r"insufficient|no available)[^\n]{0,40}?(?:KV cache|cache blocks)|GPU memory utili[sz]ation|"
        r"gpu_memory_utili[sz]ation|enough GPU "
        r"(?:RAM|memory)|mem[-_]fraction", _I)),
    ("out-of-memory", re.compile(
        r"\bout of memory\b|\bOOM(?:[- ]?kill(?:ed|er)?)?\b|\bMemoryError\b|Cannot allocate memory|std::bad_alloc|"
        r"\bmemory (?:quota|limit) (?:exceeded|reached)|exceeded (?:its |the )?memory|ran out of (?:RAM|memory)|"
        r"killed by signal 9|\bsignal 9\b|SIGKILL", _I)),
    ("disk-full", re.compile(
        r"No space left|disk quota|\bdisk (?:is )?full\b|ephemeral[- ]storage|not enough (?:disk|free) space|"
        r"\bENOSPC\b|insufficient (?:disk|storage)|out of disk", _I)),
    ("shared-memory-too-small", re.compile(r"/dev/shm|shared memory (?:region|segment|pool|size)|\bshm[- ]size", _I)),
    ("gpu-image-on-cpu-host", re.compile(
        r"no CUDA-capable device|(?:found )?no NVIDIA driver|could not select device driver|NVIDIA-SMI has failed|"
        r"no GPUs? (?:found|available|detected)|CUDA is not available|cuda\.is_available\(\) (?:is|returned) False|"
        r"failed call to cuInit|cuInit\(\) failed|CUDA_ERROR_NO_DEVICE|No CUDA GPUs are available|\bGPU is required|"
        r"requires a GPU|has no (?:neuron|NVIDIA|GPU) devices|Failed to infer device type|driver is a stub library", _I)),
    ("cuda-driver-mismatch", re.compile(
        r"driver version is insufficient|(?:CUDA|NVIDIA) driver (?:version )?(?:is )?too old|"
        r"forward compatibility was attempted|CUDA driver version|libcuda\.so[^\n]{0,40}(?:cannot open|not found)|"
        r"(?:NVIDIA|CUDA) driver[^\n]{0,40}?(?:or later|or newer|insufficient)",
        _I)),
    ("gpu-architecture-mismatch", re.compile(
        r"(?:compute|CUDA|GPU) capability|too old to be supported|no kernel image is available|\bsm_\d{2,3}\b|not supported (?:on|by) (?:this|your|the) "
        r"(?:GPU|device|hardware)|(?:bfloat16|bf16)[^\n]{0,40}only supported", _I)),
    ("wrong-architecture", re.compile(
        r"exec format error|wrong ELF class|Illegal instruction|no matching manifest|no match for (?:current )?platform|"
        r"platform \([\w/.-]+\) does not match|compiled to use (?:AVX|SSE|FMA)\w*|rosetta error", _I)),
    ("insufficient-capacity", re.compile(
        r"\bInsufficient (?:nvidia\.com/gpu|memory|cpu)\b|ResourceLimitExceeded|InsufficientInstanceCapacity|"
        r"not enough capacity|(?:account|service)[- ]level (?:quota|limit)", _I)),
    ("network-unreachable", re.compile(
        r"Name or service not known|Temporary failure in name resolution|Could not resolve host|Network is "
        r"unreachable|No route to host|Failed to establish a new connection|getaddrinfo failed|"
        r"(?:ConnectTimeout|ConnectTimeoutError|ReadTimeoutError)\b|\bdial tcp\b|i/o timeout|no such host|server "
        r"misbehaving|Max retries exceeded|(?:Failed to|could not|unable to) connect to|TLS handshake timeout|"
        r"locate the files? on the Hub", _I)),
    ("permission-denied", re.compile(
        r"Permission denied|\bEACCES\b|Read-only file system|AccessDenied|Access Denied|\bForbidden\b|"
        r"not authori[sz]ed|\bUnauthori[sz]ed\b|\b40[13] Client Error|gated repo|private repo", _I)),
    ("image-not-sagemaker-compatible", re.compile(
        r"(?:unexpected|unknown|unrecogni[sz]ed|invalid) (?:extra )?(?:arguments?|command|option)[: ]+['\"(]?serve\b",
        _I)),
    ("server-config-invalid", re.compile(
        r"Address already in use|\bEADDRINUSE\b|port [^\n]{0,30}(?:already )?in use|bind\(\) (?:to [^\n]{0,40})?failed|"
        r"\balready in use\b|\b(?:could not|cannot|can't|unable to|failed to) bind\b|\bUnexpected argument|"
        r"unrecogni[sz]ed (?:arguments?|options?)\b|unknown (?:option|flag|argument)s?\b|invalid (?:option|flag)\b|"
        r"\brequires setting\b|^Usage: ", _I | re.MULTILINE)),
    ("missing-entry-script", re.compile(
        r"application module|Could not locate a Flask application|Failed to find Flask application|import service|"
        r"No service found|(?:entry ?point|executable file)\b[^\n]{0,40}?(?:not found|no such file)|"
        r"executable file not found in \$PATH", _I)),
    ("requirements-install-failed", re.compile(
        r"No matching distribution|Could not find a version that satisfies|Failed building wheel|"
        r"subprocess-exited-with-error|ResolutionImpossible|pip[^\n]{0,40}(?:failed|error)|Failed to install|"
        r"(?:create|creating|set ?up|setup)\w* (?:the )?(?:venv|virtual ?env\w*|conda env\w*|runtime env\w*)|"
        r"runtime environment", _I)),
    ("missing-module", re.compile(r"requires the \w+ library but it was not found", _I)),
    ("import-error", re.compile(
        r"\bImportError\b|cannot import name|undefined symbol|DLL load failed|cannot open shared object file|"
        r"compiled against (?:API|ABI) version|(?:GLIBC|GLIBCXX|CXXABI)_[\d.]+'? not found", _I)),
    ("engine-version-mismatch", re.compile(
        r"\b(?:engine|plan file|NEFF|TensorRT|TRT|serialized|neuronx?-cc|compiled model)\b[^\n]{0,80}?"
        r"(?:version|incompatib|newer than|older than|mismatch)|(?:version|incompatib|mismatch)[^\n]{0,80}?"
        r"\b(?:engine|plan file|NEFF|TensorRT|serialized)\b", _I)),
    ("model-config-invalid", re.compile(
        r"(?:GPU|CUDA|Neuron|NeuronCore) devices? (?:are |is )?not enough|not enough (?:GPU|CUDA|Neuron)\w* devices|no "
        r"devices left|exceeds? (?:the )?(?:total number of )?available (?:GPU|device)s|(?:does not|doesn't) match (?:the )?"
        r"available (?:GPU|device)s|(?:tensor|pipeline)[ _-]parallel\w*[^\n]{0,60}?(?:exceeds|larger than|more than|"
        r"not divisible|must divide)|invalid device ordinal", _I)),
    ("framework-version-mismatch", re.compile(
        r"unexpected keyword argument|Unrecogni[sz]ed keyword arguments|Unknown objective|untagged enum|"
        r"kMaxSupportedFileFormatVersion|version mismatch|incompatible version|"
        r"(?:was|were) (?:saved|pickled|trained|serialized|exported|created) "
        r"(?:with|by|using) [^\n]{0,60}(?:version|\d+\.\d+)|requires [\w.-]+ ?(?:>=|==|version) ?\d|"
        r"(?:newer|older) than (?:the )?(?:current|installed|supported)|unsupported (?:pickle|format) version", _I)),
    ("model-file-not-found", re.compile(
        r"(?:No such file or directory|FileNotFoundError|\bnot found\b|does not exist|(?:can ?not|can't|could not|"
        r"unable to|failed to) (?:find|open|locate|read)|\bmissing\b(?! \d+ required))[^\n]{0,160}?(?:\bmodel|weight|checkpoint|"
        r"\.(?:bin|pt|pth|onnx|pkl|joblib|h5|keras|safetensors|pb|plan|engine|mar|gguf|tflite|params)\b|saved_?model|"
        r"config\.(?:json|pbtxt))|(?:\bmodel|weights?|checkpoint|saved_?model)\b[^\n]{0,80}?(?:not found|does not "
        r"exist|No such file|is missing|missing)|not a local folder|not a valid model identifier|No model found|"
        r"Invalid repository ID or local directory|Incorrect directory structure|No file or directory found|"
        r"\bNO_?SUCHFILE\b|Failed to detect engine", _I)),
    # (a missing file the line does not say is a model's: in a model server's log, most often it is)
    ("model-file-not-found", re.compile(r"No such file or directory|FileNotFoundError|\bfile not found\b", _I)),
    ("unsupported-model-architecture", re.compile(
        r"\bnot (?:yet )?supported\b|\bunsupported\b|Unrecogni[sz]ed (?:model|configuration|architecture)|"
        r"Unknown (?:model|architecture|op|layer|operator)|does not (?:yet )?support|is not (?:yet )?implemented|"
        r"NotImplementedError|Op type not registered|No (?:OpKernel|kernel) (?:was )?registered", _I)),
    ("corrupt-model-archive", re.compile(
        r"\bcorrupt(?:ed)?\b|unexpected end of (?:file|data|archive|stream)|not a (?:gzip|zip|tar)|invalid (?:magic|"
        r"header)|bad magic|Protobuf parsing failed|truncated (?:file|archive|header)", _I)),
    ("model-fn-error", re.compile(
        r"size mismatch for|\bstate_dict\b|Unexpected key\(s\)|Missing key\(s\)|custom_objects|Could not locate "
        r"class|Unknown (?:loss|layer|metric|optimizer|activation)\b|cannot be loaded|(?:failed|unable) "
        r"to (?:load|deserialize) (?:the )?model|error (?:while |when )?loading (?:the )?model", _I)),
    ("model-config-invalid", re.compile(
        r"(?:invalid|malformed|failed to parse|could not parse|error parsing|unable to parse|bad)\b[^\n]{0,40}?"
        r"\b(?:config|configuration|argument|parameter|property|properties|option|setting|yaml|json|pbtxt)|"
        r"Invalid argument|ValidationError", _I)),
    ("startup-health-check-timeout", re.compile(
        r"(?:health ?check|/ping|readiness probe|liveness probe|start-?up probe)[^\n]{0,60}?(?:timed? ?out|timeout|"
        r"failed|did not)", _I)),
)

#: Words of a line that reports a failure, for a log with no error line: without one of them a line that holds a
#: class's words is chatter (a config dump's "memory limit", a path with "model").
FAILURE_WORDS = re.compile(
    r"\b(?:fail(?:ed|s|ure)?|error|unable|cannot|can't|could not|couldn't|not found|denied|killed|exceeded|ran out|"
    r"out of|no space|invalid|unsupported|not supported|timed out|refused|mismatch|incompatible|abort(?:ed|ing)?|"
    r"exception|fatal|panic(?:ked)?|crash(?:ed)?|exit(?:ed)? with|terminated|does not exist|missing|no such file|"
    r"(?:does|do) not support)\b", _I)


def guess(line: str) -> tuple[str, str] | None:
    """The cause a line's words spell, and the words: None when it holds none of the vocabulary's."""
    for code, words in VOCABULARY:
        m = words.search(line)
        if m:
            return code, m.group(0)
    return None


# (glog's W lines too, and TensorFlow's dso_loader, whose "Could not load dynamic library" a CPU host prints healthy)
_WARNING = re.compile(r"\b(?:WARN|WARNING|Warning)\b|^W(?:\d{4})? [\w./-]+:\d+\]|dso_loader|Could not load dynamic library")
# a line that only says what could go wrong ("This is not supported for all configurations ... and can yield errors")
_HEDGED = re.compile(r"\b(?:may|might|can (?:yield|cause|lead)|could (?:yield|cause|lead)|consider|recommended|"
                     r"deprecated|will be (?:removed|ignored))\b", _I)


def failure_lines(buf: str, labelled: set[int], most: int = 200) -> Iterator[tuple[int, str]]:
    """The lines of ``buf`` that report a failure in words (:data:`FAILURE_WORDS`), as (offset, line), in order:
    not those at ``labelled`` offsets, not warnings, not cautions; at most the first ``most`` word hits are read."""
    seen = set(labelled)
    for i, m in enumerate(FAILURE_WORDS.finditer(buf)):
        if i == most:
            return
        start = buf.rfind("\n", 0, m.start()) + 1
        if start in seen:
            continue
        seen.add(start)
        end = buf.find("\n", m.end())
        line = buf[start:end if end >= 0 else None]
        if not (_WARNING.search(line) or _HEDGED.search(line)):
            yield start, line
