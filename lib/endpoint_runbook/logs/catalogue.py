"""The signature catalogue: what SageMaker's model containers (and the platform around them) print when they fail,
start, or just chatter.

Texts are the ones the real software writes, read from its sources or from published logs:
sagemaker_inference 1.10 (model_server.py, transformer.py, default_inference_handler.py),
sagemaker_pytorch_serving_container 2.0, TorchServe 0.3 → 0.12 (ts/*.py and the frontend's WorkerThread,
WorkerLifeCycle, BatchAggregator, ModelManager, ModelServer), Multi Model Server (``com.amazonaws.ml.mms``,
under the Hugging Face and MXNet containers), sagemaker-containers / the framework containers' gunicorn +
nginx stack (scikit-learn, XGBoost, MXNet, legacy TensorFlow; ``_errors.py``, ``_transformer.py``, the
XGBoost container's ``serve.py``), gunicorn's ``arbiter.py`` and ``sock.py``, nginx, the TensorFlow Serving
container (``serve.py`` / ``python_service.py`` / ``tensorflow_model_server``), the Hugging Face inference
toolkit (``handler_service.py``, ``transformers_utils.py``), TGI's launcher and server, TEI's router, vLLM and
DJL / LMI, Triton, pip, transformers / huggingface_hub, the dynamic loader, the JVM, CUDA, the kernel, and
SageMaker's own CreateModel / endpoint ``FailureReason`` / InvokeEndpoint messages.

Every rule pairs a regular expression with its *anchors*: literal texts, one of which every line the rule
matches contains. The matcher runs one compiled alternation of all anchors over the whole log first, so
the (many) lines that hold none of them are never looked at again.

Kinds: ``cause`` (names what is wrong), ``symptom`` (a consequence: crash-loop markers, failing health
checks, a wrapper line that follows a failure), ``noise`` (looks alarming, is harmless: labelled, never a
cause), ``healthy`` (a normal start-up or a served request).

Each cause rule has a *strength*: ``sure`` (the line names its cause; no other cause prints it), ``likely``
(usually this cause, but the same text is printed for others too: the verdict says medium at most) or
``weak`` (a guess from a line other causes print as well: low). The verdict picks the strongest cause, then
the earliest in :data:`CAUSE_PRECEDENCE`; its confidence says how sure the text alone can be.

The table is in four parts, joined here in that order: the platform's, the container's and the import's causes
(below), the later phases' (:mod:`.loading`), then symptoms, noise and healthy lines (:mod:`.states`); the
model servers' frontend messages (:mod:`.servers`) join their causes' signatures.
"""

from __future__ import annotations

from dataclasses import replace

from .apps import APP_RULES
from .causes import CAUSES, Kind, Signature, _cause, _rules, merged_rules
from .engines import ENGINE_RULES
from .libraries import LIBRARY_RULES
from .loading import LOAD_SIGNATURES
from .platforms import OWN_LIBRARY_MISSING, PLATFORM_RULES
from .servers import SERVER_RULES
from .states import STATE_SIGNATURES

__all__ = ["ANCHORS", "CRASH_MARKERS", "DERIVED", "SIGNATURES", "TRACEBACK_ANCHORS", "by_code", "description"]


# A warning that names a CUDA/loader problem is printed by healthy CPU containers (TensorFlow's dso_loader,
# torch's "CUDA initialization" UserWarning): lines holding these words are never a cause of that family.
# (NCCL's INFO lines report optional plugins it did not find, "libnccl-net.so: cannot open shared object file")
_NOT_A_WARNING = r"^(?!.*(?:Warning|WARNING|dso_loader|Could not load dynamic library|NCCL INFO|^W\d{4} ))"
# Hosts inside the container: a refused connection to them is the local model server not (yet) up.
_LOCAL = r"(?:localhost|127\.0\.0\.1|0\.0\.0\.0|unix)"
# not a program of the image missing its own library (platforms' toolkit-bug rule names that one)
_NOT_OWN_LIBRARY = r"(?!.*?" + OWN_LIBRARY_MISSING.replace("(?P<library>", "(?:") + ")"

SIGNATURES: tuple[Signature, ...] = (
    # ------------------------------------------------------------------------------------------ causes
    _cause("insufficient-capacity",
           ("InsufficientInstanceCapacity", r"\bInsufficientInstanceCapacity\b"),
           ("sufficient capacity", r"(?:do not|don't) have sufficient (?P<instance>[\w.]+ )?capacity"),
           ("Unable to provision requested ML compute capacity", r"Unable to provision requested ML compute capacity"),
           ("account-level service limit", r"account-level service limit '(?P<limit>[^']+)' is (?P<value>\d+)"),
           # SageMaker's FailureReason when no zone of the endpoint's VPC subnets has the instance type
           ("availability zone(s) with the requested instance type",
            r"Unable to locate at least \d+ availability zone\(s\) with the requested instance type"),
           ("ResourceLimitExceeded", r"\bResourceLimitExceeded\b", "likely")),
    _cause("serverless-limit",
           ("is greater than supported size", r"Image size (?P<size>\d+) is greater than supported size (?P<max>\d+)"),
           ("oversize body", r"has oversize body", "likely")),
    _cause("model-archive-too-large",
           ("model data archive is too large", r"model data archive is too large")),
    _cause("corrupt-model-archive",
           ("Failed to extract model data archive", r"Failed to extract model data archive"),
           ("valid tar.gz archive", r"ensure that the object located at the URL is a valid tar\.gz archive"),
           ("not in gzip format", r"not in gzip format", "likely"),
           ("tarfile.ReadError", r"tarfile\.ReadError", "likely"),
           # a .mar (TorchServe/MMS) or a torch zip checkpoint cut short or not a zip at all
           (("Unexpected end of ZLIB input stream", "invalid LOC header", "zip END header not found",
             "BadZipFile", "failed finding central directory"),
            r"Unexpected end of ZLIB input stream|invalid LOC header|zip END header not found|BadZipFile|"
            r"failed finding central directory"),
           # ONNX Runtime cannot parse the model file (a truncated download, a git-lfs pointer, another format)
           (("Protobuf parsing failed", "INVALID_PROTOBUF"), r"Protobuf parsing failed|INVALID_PROTOBUF", "likely"),
           # pickle (and torch.load of a legacy file) reads a file that is no pickle: 'v' is a git-lfs pointer's
           # "version https://git-lfs…", '<' an HTML page saved as the model
           ("invalid load key", r"UnpicklingError: invalid load key, '(?P<key>[^']*)'", "likely"),
           # a .safetensors file that is not one (a git-lfs pointer, an HTML page, a truncated download)
           ("HeaderTooLarge", r"Error while deserializing header: (?:HeaderTooLarge|InvalidHeader\w*)", "likely")),
    _cause("wrong-architecture",
           # runc's own words: 'exec /serve: exec format error', 'exec user process caused: exec format error' (and
           # the older 'exec user process caused "exec format error"')
           ("exec format error", r"exec(?: (?P<program>\S+?):| user process caused:?)? ?[“\"']?exec format error"),
           # crun's (podman's) words: 'exec container process `/opt/venv/bin/vllm`: Exec format error'
           ("Exec format error", r"exec container process `(?P<program>[^`]+)`: Exec format error"),
           # docker / podman when told to run an image built for another platform (it may still run, emulated)
           ("does not match the expected platform", r"image platform \((?P<image>[\w/]+)\) does not match the "
                                                     r"expected platform \((?P<host>[\w/]+)\)", "likely")),
    _cause("image-not-sagemaker-compatible",
           ("unexpected argument 'serve'", r"unexpected argument 'serve' found"),
           ("does not contain required com.amazonaws.sagemaker.capabilities",
            r"does not contain required com\.amazonaws\.sagemaker\.capabilities\.(?P<label>[\w.-]+)=true"),
           ('"GET /models HTTP/1.1" 404', r'"GET /models HTTP/1\.1" 404', "likely"),
           ("unrecognized arguments: serve", r"unrecognized arguments: serve\b", "likely")),
    _cause("training-image-used-for-serving",
           ("No such file or directory: 'nginx'", r"No such file or directory: 'nginx'"),
           # the framework container's own serving module is not in the image: it was built from the training toolkit
           ("_container.serving'", r"No module named '(?P<module>sagemaker_\w+_container)\.serving'", "likely")),
    _cause("gpu-image-on-cpu-host",
           # libcuda / libnvidia-ml come with the host's NVIDIA driver, never with the image
           (("libcuda.so", "libnvidia-ml.so"), _NOT_A_WARNING +
            r".*?(?:error while loading shared libraries: |^\W*(?:ImportError|OSError): )(?P<library>lib(?:cuda|nvidia-ml)"
            r"\.so[\w.]*)", "likely"),
           ("could not select device driver", r'could not select device driver "[^"]*" with capabilities: \[\[gpu\]\]'),
           ("Found no NVIDIA driver", _NOT_A_WARNING + r".*Found no NVIDIA driver on your system", "likely"),
           ("couldn't communicate with the NVIDIA driver",
            r"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver", "likely")),
    _cause("disk-full",
           ("No space left on device", r"^(?!.*(?:/dev/shm|posix_fallocate|NCCL|</torch_|shared memory))"
                                       r"(?=.*No space left on device)"
                                       r"(?:.*No space left on device(?::\s*'(?P<path>[^']+)')?)"),
           ("Errno 28", r"^(?!.*(?:/dev/shm|posix_fallocate|NCCL|</torch_)).*\[Errno 28\]"),
           ("ENOSPC", r"\bENOSPC\b"),
           ("StorageFull", r"kind: StorageFull"),
           ("Disk quota exceeded", r"Disk quota exceeded"),
           # Kubernetes evicting a pod whose scratch volume or node disk filled up
           ("exceeds the limit", r'Usage of EmptyDir volume "(?P<volume>[^"]+)" exceeds the limit'),
           ("low on resource: ephemeral-storage", r"The node was low on resource: ephemeral-storage"),
           # model-archiver (MMS/TorchServe) says "check the file permissions" for any IOError while writing the
           # archive; in a SageMaker container (root) that is the root volume filling up with a large model.
           ("Failed to save the model-archive", r'Failed to save the model-archive to model-path "?(?P<path>[^"\s]+)')),
    _cause("requirements-install-failed",
           ("failed to install required packages", r"failed to install required packages"),
           # conda's solver (MLflow's and other conda-built serving images): a pinned package not in the channels
           (("ResolvePackageNotFound", "PackagesNotFoundError"),
            r"ResolvePackageNotFound|PackagesNotFoundError: The following packages are not available"),
           ("No matching distribution found", r"No matching distribution found for (?P<requirement>\S+)"),
           ("Could not find a version that satisfies",
            r"Could not find a version that satisfies the requirement (?P<requirement>\S+)"),
           ("Could not install packages due to", r"Could not install packages due to"),
           ("ResolutionImpossible", r"ResolutionImpossible"),
           ("conflicting dependencies", r"because these package versions have conflicting dependencies"),
           ("Could not build wheels for", r"Could not build wheels for (?P<requirement>[\w.\-\[\]]+)"),
           ("Failed to build installable wheels", r"Failed to build installable wheels for some pyproject\.toml"),
           # older pip falls back to setup.py install after it, which may still work
           ("Failed building wheel for", r"Failed building wheel for (?P<requirement>[\w.\-]+)", "likely"),
           ("Invalid requirement", r"Invalid requirement: '?(?P<requirement>[^'\s]+)"),
           ("Could not open requirements file", r"Could not open requirements file"),
           ("looks like a filename, but the file does not exist",
            r"Requirement '(?P<requirement>[^']+)' looks like a filename, but the file does not exist"),
           ("setup.py egg_info",
            r"setup\.py egg_info\"? (?:failed with error code \d+(?: in (?P<build_dir>\S+))?|did not run successfully)"
            r"|Command errored out with exit status \d+: python setup\.py egg_info"),
           ("metadata-generation-failed", r"error: metadata-generation-failed"),
           ("InstallModuleError", r"\bInstallModuleError\b"),
           ("InstallRequirementsError", r"\bInstallRequirementsError\b"),
           # TorchServe's summary of a per-model pip install: pip's own lines say why (a package, or the environment:
           # the image's venv not writable by the server's user was a TorchServe image bug)
           ("Custom pip package installation failed", r"Custom pip package installation failed", "likely"),
           ("Failed to create model environment", r"Failed to create model environment"),
           # subprocess.CalledProcessError for the pip command, whole or cut short by a console or a paste
           ("CalledProcessError",
            r"CalledProcessError: Command (?P<command>.*?\bpip[\d.]*\b.*?\binstall\b.*?)"
            r"(?:'? returned non-zero exit status (?P<exit_status>\d+).*)?$")),
    _cause("network-unreachable",
           ("S3 VPC endpoint", r"ensure that an S3 VPC endpoint exists"),
           # Triton's S3 filesystem client could not reach S3 at all (curl: timeout, no host, no connection); its
           # own hint names credentials, which an auth error says otherwise
           ("Unable to create S3 filesystem client",
            r"Unable to create S3 filesystem client\..*curlCode: (?P<curl_code>28|6|7)\b", "likely"),
           ("Could not connect to the endpoint URL", r"Could not connect to the endpoint URL: \"?(?P<url>[^\"\s]+)"),
           ("Temporary failure in name resolution", r"Temporary failure in name resolution"),
           ("Network is unreachable", r"Network is unreachable"),
           ("Connection error, and we cannot find the requested files",
            r"Connection error, and we cannot find the requested files", "likely"),
           # (likely: the same sentence goes on "... and it looks like X is not the path to a directory containing
           # config.json" — a local path given wrongly reads the same as a Hub it cannot reach)
           ("couldn't connect to", r"We couldn't connect to '(?P<url>[^']+)'", "likely"),
           ("error trying to connect",
            rf"error sending request for url \((?P<url>https?://(?!{_LOCAL})[^)\s]+)\): error trying to connect"),
           ("ConnectionPool(host=",
            rf"ConnectionPool\(host='(?!{_LOCAL})(?P<host>[^']+)'.*(?:Failed to establish a new connection|"
            r"Connection refused|Name or service not known|ConnectTimeoutError|timed out\. \(connect timeout)",
            "likely"),
           ("timed out. (connect timeout", rf"Connection to (?!{_LOCAL})(?P<host>[\w.-]+) timed out\. \(connect timeout",
            "likely")),
    _cause("permission-denied",
           ("Could not access model data at", r"Could not access model data at (?P<url>\S+)", "likely"),
           ("GatedRepoError", r"\bGatedRepoError\b"),
           (("gated repo", "You must be authenticated"), r"Cannot access gated repo|is gated\. You must be authenticated"),
           ("401 Client Error", r"^(?!.*Repository Not Found)(?=.*401 Client Error)(?:.*for url: (?P<url>\S+))?"),
           # the Rust clients of TGI/TEI (reqwest): "HTTP status client error (401 Unauthorized) for url (...)"
           (("(401 Unauthorized)", "(403 Forbidden)"), r"\((?:401 Unauthorized|403 Forbidden)\)(?: for url \((?P<url>[^)]+))?"),
           ("403 Client Error", r"403 Client Error(?:.*for url: (?P<url>\S+))?"),
           ("Permission denied (os error 13)", r"Permission denied \(os error 13\)"),
           # /opt/ml/model is mounted read-only in SageMaker's containers: code that writes next to the model fails
           # (and Rust's io::Error, TGI's safetensors conversion beside read-only weights: "(os error 30)", its Debug form)
           (("[Errno 30] Read-only file system", "(os error 30)", "kind: ReadOnlyFilesystem"),
            r"\[Errno 30\] Read-only file system(?::\s*'(?P<path>[^']+)')?|Read-only file system \(os error 30\)|"
            r"kind: ReadOnlyFilesystem", "likely"),
           # botocore found no credentials at all (no role's credentials in a local or self-run container)
           ("Unable to locate credentials", r"NoCredentialsError: Unable to locate credentials", "likely"),
           ("[Errno 13] Permission denied", r"\[Errno 13\] Permission denied(?::\s*'(?P<path>[^']+)')?"),
           # GNU coreutils' and the shell's own report ("ls: cannot access '/mnt/models/config': Permission denied",
           # "mkdir: cannot create directory '/data': Permission denied"): a user of the container cannot read or write
           # a mounted volume; the server's own message beside it often says "not found"
           ("Permission denied", r"\b(?:ls|cat|cd|cp|mv|rm|mkdir|touch|stat|tee|head|tail|find|du|chmod|chown|ln|tar): "
                                 r"(?:cannot \w+(?: \w+){0,2} )?'?(?P<path>/[^':\n]{0,200})'?: Permission denied", "likely"),
           # transformers' own warning (utils/hub.py) when its cache folder is not writable: a non-root container
           # whose image's cache dir (TGI's /data, a home of another user) it cannot write; downloads fail after it
           ("write in your cache folder", r"There was a problem when trying to write in your cache folder "
                                          r"\((?P<path>[^)]+)\)", "likely"),
           ("AccessDenied", r"\(AccessDenied(?:Exception)?\)|\bAccessDenied:|<Code>AccessDenied</Code>"),
           ("is not authorized to perform", r"is not authorized to perform: (?P<action>\S+)"),
           ("Repository Not Found", r"Repository Not Found for url", "weak")),
    _cause("model-download-timeout",
           # (Triton's S3 client timing out on an object; one that cannot even be created has no network: below)
           ("curlCode: 28", r"^(?!.*Unable to create S3 filesystem client).*curlCode: 28, Timeout was reached"),
           # a FailureReason or console message naming the variant's timeout in a sentence about the download
           # (SageMaker's own wording for it is not published; a config dump naming the field does not match)
           ("ModelDataDownloadTimeoutInSeconds",
            r"\b(?:[Dd]ownload|[Ee]xtract)\w*\b[^.\n]{0,160}\bModelDataDownloadTimeoutInSeconds\b|"
            r"\bModelDataDownloadTimeoutInSeconds\b[^.\n]{0,80}\b(?:exceeded|elapsed|reached|expired|timed out)",
            "likely"),
           ("Read timed out", r"(?:huggingface\.co|cdn-lfs|s3[\w.-]*\.amazonaws\.com)(?!.*runtime\.sagemaker).*"
                              r"Read timed out", "likely")),
    _cause("shared-memory-too-small",
           ("signal 7", r"was signaled to shutdown with signal 7"),
           ("insufficient shared memory", r"insufficient shared memory \(shm\)"),
           # NCCL's shared-memory transport (include/shm.h, misc/shmutils.cc)
           ("shared memory segment", r"Error while (?:creating|attaching to) shared memory segment"),
           ("posix_fallocate failed", r"posix_fallocate failed"),
           # Triton's Python backend (src/shm_manager.cc): each model instance's region in /dev/shm (64 MB by default)
           ("Unable to initialize shared memory key", r"Unable to initialize shared memory key '(?P<key>[^']+)' to "
                                                      r"requested size"),
           ("Failed to increase the shared memory pool size", r"Failed to increase the shared memory pool size"),
           ("/dev/shm", r"/dev/shm.*(?:No space left on device|\[Errno 28\])|(?:No space left on device|"
                        r"\[Errno 28\]).*/dev/shm"),
           # torch's shared-memory tensors (DataLoader workers, multiprocessing) live in /dev/shm as </torch_...>
           (("is killed by signal: Bus error", "</torch_"),
            r"is killed by signal: Bus error|(?:unable to write to|unable to mmap \d+ bytes from) file </torch_"),
           ("Bus error", r"^(?:.*\s)?Bus error(?: \(core dumped\))?\s*$", "likely")),
    _cause("server-config-invalid",
           ('unknown directive "', r'unknown directive "(?P<directive>[^"]+)"'),
           ("[emerg]", r"\[emerg\] (?P<message>.+)", "likely"),
           ("Invalid address: ", r"Invalid address: (?P<address>.+)"),
           ("Connection in use: ", r"Connection in use: (?P<address>.+)", "likely"),
           ("Address already in use", r"\[Errno 98\] Address already in use|bind\(\) to \S+ failed \(98", "likely"),
           # uvicorn's own words for the same
           ("error while attempting to bind on address",
            r"error while attempting to bind on address (?P<address>\(.+?\))", "likely"),
           ("ArgumentValidation(", r"ArgumentValidation\(\"?(?P<message>[^\")]+)"),
           ("error: invalid value '", r"error: invalid value '(?P<value>[^']*)' for '(?P<option>[^']+)'", "likely")),
    _cause("syntax-error",
           (("SyntaxError", "IndentationError", "TabError"), r"^(?:SyntaxError|IndentationError|TabError)(?::|$)")),
    _cause("missing-entry-script",
           # also what a training-only image says when SageMaker runs it with "serve"
           ("executable file not found", r'exec: "?(?P<program>[\w./-]+)"?: executable file not found', "likely"),
           ("can't open file", r"can't open file '(?P<file>/opt/ml/[^']+\.py)'"),
           ("No such file or directory", r"No such file or directory: '(?P<file>/opt/ml/(?:model/)?code/[^'/]+\.py)'"),
           # an entrypoint script saved with Windows line endings: bash runs "cd dir\r" and friends
           (("$'\\r'", "\\r'"), r"\$'\\r': command not found|: \$'[^']*\\r'"),
           # the serve script's shebang with a Windows line ending: env looks for "python\r"
           ("\\r", r"/usr/bin/env: ['‘\"]?[\w.]+\\r['’\"]?: No such file or directory", "likely"),
           # a serve program the image has but cannot run (not executable), or a shell that finds none
           (("permission denied", ": not found", "command not found"),
            r'exec:? "?(?P<program>[\w./-]*serve)"?: permission denied|sh: (?:\d+: )?(?P<missing>[\w./-]*serve): '
            r"(?:not found|command not found)", "likely"),
           # importlib.import_module(None): no SAGEMAKER_PROGRAM / entry point was given
           ("'NoneType' object has no attribute 'startswith'",
            r"'NoneType' object has no attribute 'startswith'", "likely"),
           ("Failed to find attribute", r"Failed to find (?:attribute|application object) '?(?P<attribute>[^' ]+)",
            "likely"),
           ("Error loading ASGI app", r"Error loading ASGI app\. (?P<message>.+)", "likely"),
           # MMS 0.x: one message for a service file that is not there and one whose import raised (it hides which)
           ("Incorrect or missing service file", r"Incorrect or missing service file: (?P<file>\S+)", "weak")),
    _cause("missing-module",
           # Raised (``...Error: No module named``), not a caught one printed as a value (``...Error("No module``).
           ("No module named",
            r"(?:ModuleNotFound|Import|ImportModule)Error\b(?!\(['\"]).*?No module named '?"
            r"(?!sagemaker_\w+_container\.serving')(?P<module>[\w.]+)'?"),
           # the TensorFlow Serving container's python_service answers a failed import as a JSON error
           ('"error": "No module named', r'"error": "No module named \'?(?P<module>[\w.]+)'),
           # the message of a ModelError, a console's "python: No module named x" (not a registry skipping one of its
           # optional models: SGLang's "Ignore import error when loading sglang.srt.models.x. No module named ...")
           ("No module named", r"^(?!.*\bIgnor(?:e|ing) import error)(?:.*?)(?<!Error\([\"'])(?<![\w.]Error: )"
                               r"\bNo module named '?"
                               r"(?!sagemaker_\w+_container\.serving')(?P<module>[\w.]+)'?", "likely"),
           # TGI imports its flash-attention model classes optionally; sharded models need them
           ("Could not import Flash Attention enabled models: No module named",
            r"Could not import Flash Attention enabled models: No module named '?(?P<module>[\w.]+)", "likely")),
    _cause("import-error",
           ("ImportError", r"(?:^|[\s.:])ImportError: (?!No module named|lib(?:cuda|nvidia-ml)\.so)(?P<message>.+)"),
           ("error while loading shared libraries",
            r"^" + _NOT_OWN_LIBRARY + r".*?error while loading shared libraries: "
            r"(?!lib(?:cuda|nvidia-ml)\.so)(?P<library>[^:\s]+)"),
           ("cannot open shared object file",
            _NOT_A_WARNING + _NOT_OWN_LIBRARY + r".*?(?<![\w.+\-])(?P<library>(?!lib(?:cuda|nvidia-ml)\.so)"
                                                r"[\w.+\-]+\.so[\w.]*): cannot open shared object file"),
           ("undefined symbol", _NOT_A_WARNING + r"(?:OSError|ImportError|.*?unable to load shared library:).*undefined "
                                                 r"symbol: (?P<symbol>\S+)"),
           # a compiled package built against another NumPy ABI than the one installed (NumPy 2 over a 1.x build)
           ("compiled using NumPy 1.x cannot be run in", r"compiled using NumPy 1\.x cannot be run in"),
           ("numpy.dtype size changed", r"numpy\.dtype size changed, may indicate binary incompatibility"),
           # the TF Serving container's python_service answering a failed import of the inference.py as a JSON error:
           # a library's API the code uses that the installed version lacks (a traceback's AttributeError is the
           # model_fn's or the handler's own error, derived from its frames)
           ('"error": "module', r'"error": "module \'(?P<module>[\w.]+)\' has no attribute \'(?P<name>\w+)\'', "weak")),
    _cause("cuda-driver-mismatch",
           # (Triton's pinned-memory pool says it too when it starts without a GPU, and goes on: a guess there)
           ("CUDA driver version is insufficient", r"^(?!.*failed to allocate pinned system memory).*CUDA driver version "
                                                   r"is insufficient for CUDA runtime version"),
           ("failed to allocate pinned system memory", r"failed to allocate pinned system memory: CUDA driver version is "
                                                       r"insufficient", "weak"),
           # the NGC images' entrypoint banner (Triton, PyTorch, TensorFlow from nvcr.io) on an older host driver
           ("This container was built for NVIDIA Driver Release",
            r"This container was built for NVIDIA Driver Release (?P<required>[\d.]+) or later"),
           ("NVIDIA driver on your system is too old",
            _NOT_A_WARNING + r".*The NVIDIA driver on your system is too old(?: \(found version (?P<driver>\d+)\))?"),
           ("forward compatibility was attempted", r"forward compatibility was attempted on non supported HW"),
           ("unsupported display driver", r"unsupported display driver / cuda driver combination"),
           ("Torch not compiled with CUDA enabled", r"Torch not compiled with CUDA enabled"),
           ("CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", r"CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"),
           ("PTX was compiled with an unsupported toolchain", r"PTX was compiled with an unsupported toolchain"),
           ("unsatisfied condition: cuda", r"requirement error: unsatisfied condition: cuda(?P<requirement>[<>=.\d]+)")),
    _cause("gpu-architecture-mismatch",
           ("Runtime compute cap", r"Runtime compute cap (?P<runtime>\d+) is not compatible with compile time "
                                   r"compute cap (?P<compiled>\d+)"),
           ("Bfloat16 is only supported on GPUs", r"Bfloat16 is only supported on GPUs with compute capability"),
           ("no kernel image is available", r"no kernel image is available for execution on the device"),
           ("is not compatible with the current PyTorch installation",
            r"with CUDA capability (?P<capability>sm_\d+) is not compatible with the current PyTorch installation"),
           ("FlashAttention only supports", r"FlashAttention only supports (?:Ampere|Turing)"),
           ("Minimum capability: ", r"Minimum capability: (?P<minimum>\d+)\. Current capability: (?P<current>\d+)"),
           ("GPU with CUDA capability", r"GPU with CUDA capability (?P<capability>\d+ \d+) is not supported",
            "likely"),
           # the Triton (language) compiler that vLLM's and others' kernels are built with: Volta and later only
           ("too old to be supported by the triton GPU compiler",
            r"too old to be supported by the triton GPU compiler|Triton only supports devices of CUDA Capability")),
    *LOAD_SIGNATURES,
    *STATE_SIGNATURES,
)
# the servers', engines' and libraries' own start-up messages join the signature of their cause
_SOURCE_RULES = merged_rules(SERVER_RULES, ENGINE_RULES, LIBRARY_RULES, APP_RULES, PLATFORM_RULES)
SIGNATURES = tuple(replace(s, rules=s.rules + _rules(*_SOURCE_RULES[s.code])) if s.code in _SOURCE_RULES else s
                   for s in SIGNATURES)
assert not set(_SOURCE_RULES) - {s.code for s in SIGNATURES}, "a source rule names a cause with no signature"

_BY_CODE: dict[str, Signature] = {s.code: s for s in SIGNATURES}

#: Codes derived from tracebacks (or from the mix of hits) besides the line signatures above.
DERIVED: dict[str, tuple[Kind, str]] = {
    "metrics-collector-error": ("noise", "the model server's metrics collector failed; serving is unaffected"),
    "request-served": ("healthy", "the server answered /ping or /invocations with 200"),
    "unexplained-error": ("symptom", "an error line that no signature explains (the log is not healthy, and its "
                                     "cause is not one the catalogue knows)"),
}

#: Lines a traceback is followed from: its header, and a frame (for excerpts that start mid-traceback).
TRACEBACK_ANCHORS: tuple[str, ...] = ("Traceback (most recent call last)", 'File "')

#: Every anchor once, longest first (so an alternation reports the most specific one).
ANCHORS: tuple[str, ...] = tuple(sorted({a for s in SIGNATURES for r in s.rules for a in r.anchors}
                                        | set(TRACEBACK_ANCHORS), key=lambda a: (-len(a), a)))

#: Symptoms that mean the workers crash and restart.
CRASH_MARKERS: tuple[str, ...] = ("worker-died", "load-model-failed", "auto-recovery-failed", "worker-retry")


def by_code(code: str) -> Signature | None:
    return _BY_CODE.get(code)


def description(code: str) -> tuple[Kind, str]:
    sig = _BY_CODE.get(code)
    if sig is not None:
        return sig.kind, sig.description
    if code in CAUSES:
        return "cause", CAUSES[code].description
    return DERIVED[code]
