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
"""

from __future__ import annotations

from dataclasses import replace

from .causes import CAUSES, Kind, Signature, _cause
from .servers import SERVER_RULES
from .states import STATE_SIGNATURES

__all__ = ["ANCHORS", "CRASH_MARKERS", "DERIVED", "SIGNATURES", "TRACEBACK_ANCHORS", "by_code", "description"]


# A warning that names a CUDA/loader problem is printed by healthy CPU containers (TensorFlow's dso_loader,
# torch's "CUDA initialization" UserWarning): lines holding these words are never a cause of that family.
_NOT_A_WARNING = r"^(?!.*(?:Warning|WARNING|dso_loader|Could not load dynamic library|^W\d{4} ))"
# Hosts inside the container: a refused connection to them is the local model server not (yet) up.
_LOCAL = r"(?:localhost|127\.0\.0\.1|0\.0\.0\.0|unix)"
# Ops that TensorFlow extension libraries register (tensorflow-text, sentencepiece, SageMaker's PipeModeDataset,
# tf.contrib / addons / io / decision forests): the stock TF Serving binary does not have them, whatever its
# version. Any other unregistered op is a core op from another TensorFlow version.
_EXTENSION_OP = (r"(?:PipeMode\w*|Regex\w+|\w*Wordpiece\w*|\w*WordPiece\w*|Sentencepiece\w*|\w*Tokenize\w*|"
                 r"CaseFold\w*|NormalizeUTF8\w*|\w*Ngrams\w*|SimpleML\w*|Addons>\w+|TFText>\w+|IO>\w+|\w+>\w+)")

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
           ("exec format error", r"exec(?: (?P<program>\S+?):| user process caused:?)? ?[“\"']?exec format error")),
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
           # model-archiver (MMS/TorchServe) says "check the file permissions" for any IOError while writing the
           # archive; in a SageMaker container (root) that is the root volume filling up with a large model.
           ("Failed to save the model-archive", r'Failed to save the model-archive to model-path "?(?P<path>[^"\s]+)')),
    _cause("requirements-install-failed",
           ("failed to install required packages", r"failed to install required packages"),
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
           ("Could not connect to the endpoint URL", r"Could not connect to the endpoint URL: \"?(?P<url>[^\"\s]+)"),
           ("Temporary failure in name resolution", r"Temporary failure in name resolution"),
           ("Network is unreachable", r"Network is unreachable"),
           ("Connection error, and we cannot find the requested files",
            r"Connection error, and we cannot find the requested files", "likely"),
           ("couldn't connect to", r"We couldn't connect to '(?P<url>[^']+)'"),
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
           # transformers' own warning (utils/hub.py) when its cache folder is not writable: a non-root container
           # whose image's cache dir (TGI's /data, a home of another user) it cannot write; downloads fail after it
           ("write in your cache folder", r"There was a problem when trying to write in your cache folder "
                                          r"\((?P<path>[^)]+)\)", "likely"),
           ("AccessDenied", r"\(AccessDenied(?:Exception)?\)|\bAccessDenied:|<Code>AccessDenied</Code>"),
           ("is not authorized to perform", r"is not authorized to perform: (?P<action>\S+)"),
           ("Repository Not Found", r"Repository Not Found for url", "weak")),
    _cause("model-download-timeout",
           ("curlCode: 28", r"curlCode: 28, Timeout was reached"),
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
           # the message of a ModelError, a console's "python: No module named x"
           ("No module named", r"(?<!Error\([\"'])(?<![\w.]Error: )\bNo module named '?"
                               r"(?!sagemaker_\w+_container\.serving')(?P<module>[\w.]+)'?", "likely"),
           # TGI imports its flash-attention model classes optionally; sharded models need them
           ("Could not import Flash Attention enabled models: No module named",
            r"Could not import Flash Attention enabled models: No module named '?(?P<module>[\w.]+)", "likely")),
    _cause("import-error",
           ("ImportError", r"(?:^|[\s.:])ImportError: (?!No module named|lib(?:cuda|nvidia-ml)\.so)(?P<message>.+)"),
           ("error while loading shared libraries",
            r"error while loading shared libraries: (?!lib(?:cuda|nvidia-ml)\.so)(?P<library>[^:\s]+)"),
           ("cannot open shared object file",
            _NOT_A_WARNING + r".*?(?<![\w.+\-])(?P<library>(?!lib(?:cuda|nvidia-ml)\.so)[\w.+\-]+\.so[\w.]*): cannot open shared "
                             r"object file"),
           ("undefined symbol", _NOT_A_WARNING + r"(?:OSError|ImportError).*undefined symbol: (?P<symbol>\S+)"),
           # a compiled package built against another NumPy ABI than the one installed (NumPy 2 over a 1.x build)
           ("compiled using NumPy 1.x cannot be run in", r"compiled using NumPy 1\.x cannot be run in"),
           ("numpy.dtype size changed", r"numpy\.dtype size changed, may indicate binary incompatibility")),
    _cause("cuda-driver-mismatch",
           ("CUDA driver version is insufficient", r"CUDA driver version is insufficient for CUDA runtime version"),
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
            "likely")),
    _cause("engine-version-mismatch",
           ("engine plan file is not compatible", r"engine plan file is not compatible with this version of TensorRT"),
           ("engine plan file is generated on an incompatible device",
            r"engine plan file is generated on an incompatible device"),
           ("Could not find a matching NEFF", r"Could not find a matching NEFF"),
           ("Unsupported model IR version", r"Unsupported model IR version: (?P<ir>\d+), max supported IR version: "
                                            r"(?P<max>\d+)"),
           ("unable to load plan file", r"unable to load plan file", "likely"),
           (("Magic tag does not match", "Magic Tag does not match", "Version tag does not match"),
            r"Magic [Tt]ag does not match|Version tag does not match", "likely"),
           # optimum-neuron: a model compiled by a newer Neuron compiler than the image's (the serving image's SDK)
           ("newer than current compiler", r"compiled with (?P<compiler>neuron\w*-cc)\((?P<compiled>[^)]+)\) newer than "
                                           r"current compiler \((?P<current>[^)]+)\)")),
    _cause("framework-version-mismatch",
           ("Op type not registered", rf"Op type not registered '(?!{_EXTENSION_OP}')(?P<op>[^']+)'", "likely"),
           # XGBoost's check of a pickled Booster's header: a model pickled by another XGBoost version (the error,
           # learner.cc); the bare sentence is also in a warning printed when the load may still work
           ("serialisation_header_", r"Check failed: header == serialisation_header_"),
           ("generated by older XGBoost", r"generated by older XGBoost", "weak"),
           # scikit-learn: a tree pickled by another version (1.3 changed the node record); the unpickle warning
           ("node array from the pickle has an incompatible dtype",
            r"node array from the pickle has an incompatible dtype"),
           ("Trying to unpickle estimator", r"Trying to unpickle estimator (?P<estimator>\w+) from version "
                                            r"(?P<pickled>\S+) when using version (?P<running>[\w.]+)", "likely"),
           # a pickle (joblib, pandas) naming a class its library's installed version does not have
           ("Can't get attribute", r"Can't get attribute '(?P<name>\w+)' on <module '(?P<module>(?:sklearn|pandas|numpy|"
                                   r"xgboost|lightgbm|scipy|catboost|statsmodels)\.[\w.]+)'", "likely"),
           # NumPy 1.24 removed the np.float / np.int / np.bool / np.object aliases that older code and packages use
           ("module 'numpy' has no attribute", r"module 'numpy' has no attribute '(?P<alias>float|int|bool|object|str|"
                                               r"complex|long|unicode)'", "likely")),
    _cause("unsupported-model-architecture",
           ("but Transformers does not", r"model type `?(?P<model_type>[\w-]+)`? but Transformers does not"),
           ("trust_remote_code=True", r"set the option `?trust_remote_code=True`? to remove this error", "likely"),
           ("Unsupported model type", r"Unsupported model type(?!: \S+\. Did you forget to implement)"),
           ("sharded is not supported for AutoModel", r"sharded is not supported for AutoModel", "likely"),
           ("Could not load model", r"Could not load model \S+ with any of the following classes", "weak"),
           ("are not supported", r"Model architectures \[(?P<architectures>[^\]]*)\] are not supported"),
           ("config is not supported", r"Could not start backend: config is not supported"),
           ("Model is not supported", r"Could not start backend: Model is not supported"),
           # TEI: a model type its backend does not have for this architecture ("`classifier` ... for Jina")
           ("model type is not supported for", r"Could not start backend: `?(?P<model_type>[\w-]+)`? model type is not "
                                               r"supported for (?P<architecture>\w+)"),
           ("Unrecognized configuration class", r"Unrecognized configuration class"),
           ("Op type not registered", rf"Op type not registered '(?P<op>{_EXTENSION_OP})'", "likely"),
           ("No .bin weights found", r"No \.bin weights found for model", "likely")),
    _cause("model-config-invalid",
           ("must be divisible by", r"must be divisible by"),
           # Triton: the model's backend is not in this image (e.g. the TensorFlow backend dropped from later releases)
           ("unable to find backend library for backend",
            r"unable to find backend library for backend '(?P<backend>[^']+)'"),
           # vLLM: the quantization asked for is not the one the checkpoint's config declares
           ("does not match the quantization method specified",
            r"Quantization method specified in the model config \((?P<checkpoint>[^)]*)\) does not match the "
            r"quantization method specified in the `quantization` argument \((?P<asked>[^)]*)\)"),
           ("is not compatible with sharding on", r"is not compatible with sharding on \d+ shards"),
           # TEI: the dtype asked for is not one the backend runs
           ("is not supported", r"Could not start backend: DType (?P<dtype>\w+) is not supported"),
           ("sharded is not supported for this model", r"sharded is not supported for this model", "likely"),
           (("unexpected inference output", "unexpected inference input"),
            r"unexpected inference (?:output|input) '(?P<tensor>[^']+)'"),
           ("unable to find 'libtriton_", r"unable to find 'libtriton_(?P<backend>\w+)\.so'"),
           ("but the model configuration specifies", r"but the model configuration specifies"),
           ("unexpected platform type", r"unexpected platform type (?P<platform>\S+)"),
           ("is greater than the derived max_model_len", r"is greater than the derived max_model_len"),
           ("Poll failed for model directory", r"Poll failed for model directory '(?P<model>[^']+)'"
                                                r"(?!.*failed to open text file for read)", "likely")),
    _cause("toolkit-bug",
           ("Bad address: 'tail'", r"Bad address: 'tail'"),
           ("ZombieProcess", r"psutil\.ZombieProcess", "likely"),
           # the image's entrypoint passes the server a flag it does not have ('serve' is the image's own
           # compatibility, above)
           ("unexpected argument '--", r"unexpected argument '(?P<argument>--[\w-]+)' found", "likely"),
           # TGI's weight loader does not find a tensor its model class expects (tied/aliased weights)
           (" does not exist", r"\bweight (?P<tensor>[\w.]+) does not exist", "weak"),
           # TGI <= 1.0 converted only .bin files of a local model directory
           ("No local weights found in", r"No local weights found in \S+ with extension \.bin", "weak"),
           # the TF Serving container's python_service forwards requests before tensorflow_model_server is up
           ("port=10001", r"host='localhost', port=10001\).*Connection refused", "weak"),
           # gunicorn's bind retries: SO_REUSEPORT, which gunicorn 19.7 set unconditionally, refused by the kernel
           ("failed: [Errno 9", r"connection to .* failed: \[Errno 9[25]\]", "likely"),
           # asynchronous inference needs a Content-Length on the container's response (LMI before 0.31 sent none)
           ("did not specify the required Content-Length header",
            r"response from container (?P<container>\S+) did not specify the required Content-Length header", "likely")),
    _cause("default-handler-used",
           ("Please provide a model_fn implementation", r"Please provide a model_fn implementation"),
           # the PyTorch toolkit's default model_fn loads model.pt with torch.jit: an eager model needs a model_fn
           ("saved using torchscript", r"Please ensure model is saved using torchscript", "likely"),
           (("as env 'HF_TASK'", "as env 'TASK'"), r"as env '(?:HF_)?TASK'"),
           # no HF_TASK (or one the toolkit does not know) and an architecture it maps to no task
           ("Task couldn't be inferenced from", r"Task couldn't be inferenced from", "likely"),
           ("The task for this model is not set", r"The task for this model is not set"),
           ("Did you forget to implement", r"Unsupported model type: (?P<model_type>\S+)\. Did you forget to implement"),
           ("Exactly one .pth or .pt file", r"Exactly one \.pth or \.pt file is required for PyTorch models", "likely"),
           ("'NoneType' object has no attribute 'transform'", r"'NoneType' object has no attribute 'transform'",
            "likely")),
    _cause("model-file-not-found",
           # Triton's model repository: a model directory without its config.pbtxt (or another file it reads)
           ("failed to open text file for read", r"failed to open text file for read (?P<file>\S+): No such file"),
           ("Failed to load model with default model_fn",
            r"Failed to load model with default model_fn: missing file (?P<file>\S+?)\.?(?:Expected|$)"),
           ("No versions of servable",
            r"No versions of servable (?P<model>\S+) found under base path (?P<path>\S+)"),
           ("Could not find SavedModel", r"Could not find SavedModel \.pb or \.pbtxt"),
           ("no SavedModel bundles found", r"no SavedModel bundles found"),
           ("Could not find base path", r"Could not find base path (?P<path>\S+) for servable (?P<model>\S+)"),
           # Triton: the model directory has no numbered version folder with a model file; a model not in the repository
           ("No model version was found", r"No model version was found"),
           ("Request for unknown model", r"Request for unknown model: '(?P<model>[^']+)' is not found", "likely"),
           # LibTorch / torch.jit opening a file that is not there
           (("Error while opening file: no such file", "open file failed because of errno 2"),
            r"Error while opening file: no such file or directory|open file failed because of errno 2"),
           # DeepSpeed/accelerate built the model on the meta device and no checkpoint filled it
           ("Cannot copy out of meta tensor", r"Cannot copy out of meta tensor; no data", "likely"),
           ("Could not find model data at", r"Could not find model data at (?P<url>\S+)"),
           # transformers' from_pretrained on a directory without weights
           ("Error no file named", r"Error no file named (?P<files>.+?) found in directory (?P<path>\S+?)\.?$"),
           ("SavedModel file does not exist at", r"SavedModel file does not exist at: ?(?P<path>\S+)"),
           ("Model not found in model store", r"Model not found in model store"),
           ("failed to stat file", r"failed to stat file (?P<path>\S+)", "likely"),
           ("tokenizer.json not found", r"tokenizer\.json not found", "likely"),
           ("git-lfs", r"cloned a repository without having git-lfs installed", "likely"),
           ("outgoing traffic has been disabled", r"outgoing traffic has been disabled", "likely"),
           ("no object found", r"sync s3://\S+.*no object found", "likely"),
           # SageMaker's FailureReason lists both a missing object and the role's permissions
           ("Failed to download model data", r"Failed to download model data for container", "weak"),
           ("does not appear to have a file named", r"does not appear to have a file named (?P<file>[\w.\-]+)"),
           ("sync s3://", r"sync (?P<url>s3://\S+?\.tar\.gz)/\*"),
           # a model file under the model directory (not the entry script, not a compiled Neuron graph)
           ("No such file or directory",
            r"No such file or directory: '(?P<path>(?:/opt/ml/models?|/\.sagemaker/(?:mms|ts)/models|"
            r"/home/model-server/tmp/models|/tmp/models)/"
            r"(?![^']*code/[^'/]*\.py')(?![^']*\.neff')[^']*)'?"),
           # any Python opening a model-like file that is not there (a relative path, another model directory)
           ("No such file or directory",
            r"No such file or directory: '(?P<path>(?![^']*code/[^'/]*\.py')[^']*\.(?:pth?|bin|pkl|pickle|joblib|h5|"
            r"keras|onnx|safetensors|ckpt|model|pb|params|npy|npz|index|faiss|json|tar\.gz|mar|plan|engine|gguf))'",
            "likely"),
           (("Can't load tokenizer for", "Can't load config for", "Can't load the model for"),
            r"Can't load (?:tokenizer|config|the model) for '(?P<path>[^']+)'", "likely"),
           (("404 Not Found", "404 Client Error", "Entry Not Found for url", "EntryNotFoundError"),
            r"(?:404 Not Found|404 Client Error|Entry Not Found for url|EntryNotFoundError).*?/resolve/\S*?/(?P<file>"
            r"[\w.\-]+)\)?(?:\s|$)", "likely"),
           ("Unable to locate the file", r"Unable to locate the file (?P<file>\S+)", "likely")),
    _cause("model-fn-error",
           (("() takes", "() missing", "() got an unexpected", "arguments but"),
            r"\bmodel_fn(?:\(\))? (?:takes \d+|missing \d+ required|got an unexpected keyword)"),
           ("Expected only one class in custom service code",
            r"Expected only one class in custom service code or a function entry point"),
           ("unrecognized arguments: --sock-type", r"error: unrecognized arguments: --sock-type"),
           ("Failed to load model", r"Failed to load model (?P<model>[^\s,]+), exception (?P<message>.*)", "likely"),
           ("Unable to load model: ", r"Unable to load model: (?P<message>.+)", "likely"),
           ("Attempting to deserialize object on a CUDA device",
            r"Attempting to deserialize object on a CUDA device", "likely"),
           ("Can't get attribute '", r"Can't get attribute '(?P<attribute>[^']+)' on", "weak"),
           # cloudpickle/marshal of code objects from another Python version, unpickled in model_fn
           ("code() takes at most", r"code\(\) takes at most \d+ arguments", "likely"),
           ("Error(s) in loading state_dict", r"Error\(s\) in loading state_dict for (?P<model>\w+)", "likely"),
           ("Loading servable: ", r"Loading servable: .* failed: (?P<message>.+)", "weak"),
           ("EngineException", r"ai\.djl\.engine\.EngineException: (?P<message>.*)", "likely"),
           ("ModelNotFoundException", r"ai\.djl\.repository\.zoo\.ModelNotFoundException: (?P<message>.*)", "likely"),
           ("failed to load '", r"failed to load '(?P<model>[^']+)'(?: version \d+)?: (?P<message>.+)", "weak")),
    _cause("cuda-out-of-memory",
           (("CUDA out of memory", "CUDA error: out of memory"), r"CUDA (?:error: )?out of memory"),
           ("torch.cuda.OutOfMemoryError", r"torch\.cuda\.OutOfMemoryError"),
           ("CUDA failure 2: out of memory", r"CUDA failure 2: out of memory"),
           ("CUDA_ERROR_OUT_OF_MEMORY", r"CUDA_ERROR_OUT_OF_MEMORY"),
           ("cudaErrorMemoryAllocation", r"cudaErrorMemoryAllocation"),
           ("CUBLAS_STATUS_ALLOC_FAILED", r"CUBLAS_STATUS_ALLOC_FAILED", "likely"),
           ("Cuda Runtime (out of memory)", r"Cuda Runtime \(out of memory\)"),
           # AWS Neuron's runtime (Inferentia/Trainium: djl-serving's neuronx backend): the NeuronCore's device memory
           ("TDRV:", r"TDRV:\w+\s+Failed to alloc(?:ate)? (?:DEVICE memory|[\d.]+\s*[MG]B)"),
           ("OOM when allocating", r"OOM when allocating tensor.*(?:GPU|gpu)"),
           ("Not enough memory to handle", r"Not enough memory to handle (?P<tokens>\d+) (?:prefill|total) tokens"),
           ("would exceed allowed memory", r"would exceed allowed memory"),
           ("No available memory for the cache blocks", r"No available memory for the cache blocks"),
           ("reserved for KV Cache is -", r"reserved for KV Cache is -\d"),
           ("maximum number of tokens that can be stored in KV cache",
            r"is larger than the maximum number of tokens that can be stored in KV cache", "likely"),
           ("cuda OOM", r"Load model \S+ cuda OOM", "likely"),
           ("CUBLAS_STATUS_ALLOC_FAILED", r"CUBLAS_STATUS_ALLOC_FAILED", "likely"),
           # TorchServe answers 507 for a worker's MemoryError and for any RuntimeError that names CUDA
           ("error (507)", r"(?:server|client) error \(507\)", "weak")),
    _cause("out-of-memory",
           ("OutOfMemoryError", r"\b(?P<error>java\.lang\.OutOfMemoryError)\b(?::\s*(?P<message>.*))?"),
           ("OutOfDirectMemoryError", r"\b(?P<error>OutOfDirectMemoryError)\b(?::\s*(?P<message>.*))?"),
           ("Out of memory error when creating workers", r"Out of memory error when creating workers"),
           ("MemoryError", r"(?:^|[\s.:])(?P<error>_?(?:Array)?MemoryError)\b(?!.*\bCUDA\b)"),
           (("cpu OOM", "OOM when allocating"), r"Load model \S+ cpu OOM|OOM when allocating tensor(?!.*GPU)"),
           (("Out of memory: Kill", "out of memory: Kill"), r"[Oo]ut of memory: Kill(?:ed)? process"),
           ("oom-kill", r"\boom-kill:|\boom_kill_process\b|invoked oom-killer"),
           ("OOMKilled", r"OOMKilled"),
           ("Cannot allocate memory", r"Cannot allocate memory"),
           ("can't allocate memory", r"DefaultCPUAllocator: can't allocate memory"),
           ("System out of memory", r"System out of memory", "likely"),
           (("Killed", "killed by SIGKILL"), r"^Killed\s*$|killed by SIGKILL", "likely"),
           # the shell's report of a job it ran that was SIGKILLed ("line 1:  7 Killed  python -m serve")
           (" Killed ", r"line \d+: +\d+ Killed +\S", "likely"),
           (("signal 9", "signal: killed"), r"\bsignal 9\b|signal: killed", "likely"),
           ("xit", r"\bexit(?:ed)?(?: with)? (?:code|status):? 137\b", "likely"),
           ("std::bad_alloc", r"std::bad_alloc", "likely"),
           # gunicorn guesses "out of memory" for every SIGKILL, its own timeout kills included
           ("SIGKILL", r"SIGKILL", "weak"),
           # transformers wraps a failed torch.load of a present checkpoint (memory, a truncated file, a newer format)
           ("Unable to load weights from pytorch checkpoint",
            r"Unable to load weights from pytorch checkpoint file", "weak")),
    _cause("startup-health-check-timeout",
           # MMS waits for the initial models with a deadline; a slow load ends with this
           ("java.util.concurrent.TimeoutException", r"java\.util\.concurrent\.TimeoutException", "likely"),
           ("Backend worker startup time out", r"Backend worker startup time out", "likely"),
           ("Backend worker did not receive connection", r"Backend worker did not receive connection in", "likely"),
           ("Worker failed to initialize within", r"Worker failed to initialize within", "likely"),
           # TorchServe's reply deadline, at start-up (reclassified as worker-timeout beside inference lines)
           ("Backend worker did not respond in given time", r"Backend worker did not respond in given time",
            "likely")),
    _cause("worker-timeout",
           ("WORKER TIMEOUT", r"WORKER TIMEOUT(?: \(pid:\s*(?P<pid>\d+)\))?", "likely"),
           # SageMaker's 60 s limit on a request: a slow model, or one whose handler never answers
           ("invocation timed out", r"invocation timed out while waiting for a response from container", "likely"),
           ("Read timeout on endpoint URL", r"Read timeout on endpoint URL", "likely"),
           ("upstream timed out", r'upstream timed out .*request: "(?!GET /ping)(?P<request>[A-Z]+ /[^\s"]+)', "weak")),
    _cause("response-too-large",
           ("Message size exceed limit", r"Message size exceed limit: (?P<size>\d+)")),
    _cause("bad-request",
           ("Unable to evaluate payload provided", r"Unable to evaluate payload provided"),
           ("JSON Parse error", r"JSON Parse error"),
           ("client intended to send too large body", r"client intended to send too large body"),
           ("HTTP content length exceeded", r"HTTP content length exceeded (?P<limit>\d+) bytes"),
           ("is not an accepted csv ContentType", r"is not an accepted csv ContentType"),
           ("Supported content-type is", r"not supported\. Supported content-type is"),
           ("is not supported by this framework", r"Content type (?P<content_type>\S+) is not supported by this "
                                                  r"framework"),
           ("Failed to process element", r"Failed to process element: \d+"),
           ("Received client error (413)", r"Received client error \(413\)", "likely"),
           ("Received client error (4", r"Received client error \((?P<status>4\d\d)\)", "weak")),
    _cause("invocation-error",
           ("Input validation error", r"Input validation error"),
           ("` must be", r"^(?:\S+: )?`\w+`(?: tokens \+ `\w+`)? must be (?:<|>|strictly|positive|at)"),
           ("Invoking custom service failed", r"Invoking custom service failed", "likely"),
           # scikit-learn's own check at predict time: the request's columns are not the model's
           ("Number of features of the model must match the input",
            r"Number of features of the model must match the input", "likely"),
           # scikit-learn ≥ 0.24 (BaseEstimator._check_n_features) and the 0.2x linear models' wording
           (("features as input", "features per sample; expecting"),
            r"X has (?P<got>\d+) features, but (?:this )?\w+ is expecting (?P<expected>\d+) features as input|"
            r"X has (?P<got_old>\d+) features per sample; expecting (?P<expected_old>\d+)", "likely"),
           ("Exception on /invocations", r"Exception on /invocations \[POST\]", "likely"),
           # output_fn (or a default one) serialising what predict returned: a numpy array, a tensor
           ("is not JSON serializable", r"Object of type '?(?P<type>\w+)'? is not JSON serializable", "likely"),
           ("PredictionException: ", r"PredictionException: (?P<message>.+?)(?: : \d{3})?$", "weak"),
           # SageMaker's runtime validates the request before any container sees it (a multi-model request
           # without TargetModel)
           ("missing a target model", r"is missing a target model", "likely"),
           # the TF Serving container's python_service, when the user's handler (or TF Serving behind it) fails
           ("exception handling request: ", r"exception handling request: (?P<message>.+)", "weak"),
           (("() takes", "() missing", "() got an unexpected", "arguments but"),
            r"\b(?P<function>input_fn|predict_fn|output_fn|transform_fn)(?:\(\))? "
            r"(?:takes \d+|missing \d+ required|got an unexpected keyword)"),
           ("Received server error (5", r"Received server error \((?P<status>5(?!07)\d\d)\)", "weak")),
    _cause("ping-error",
           ("Exception on /ping", r"Exception on /ping \[GET\]", "weak")),
    _cause("deploy-wait-timeout",
           ("Waiter EndpointInService failed", r"Waiter EndpointInService failed: Max attempts exceeded"),
           ("waiting for state to become 'InService'", r"timeout while waiting for state to become 'InService'")),
    *STATE_SIGNATURES,
)
# the servers' own start-up messages join the signature of their cause
SIGNATURES = tuple(replace(s, rules=s.rules + _cause(s.code, *SERVER_RULES[s.code]).rules) if s.code in SERVER_RULES
                   else s for s in SIGNATURES)

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
