"""Rules read from the platforms model servers run on, and from the GPU runtimes under them — the messages users paste
beside a server's log: Docker (moby/moby daemon), containerd, runc, the NVIDIA container toolkit (libnvidia-container's
nvidia-container-cli, nvidia-container-toolkit / CDI), Kubernetes pod events and statuses as ``kubectl describe`` /
``kubectl get pods`` print them (kubernetes/kubernetes: the scheduler, the kubelet's eviction manager, admission and
device manager, its prober), CUDA runtime / driver error strings (cudaGetErrorString) as torch and TensorFlow raise
them, NCCL, cuDNN, TensorFlow's runtime and ONNX Runtime's CUDA provider; and (``_HOSTED``, below) the managed
hosting platforms other than SageMaker.

Same shape as :data:`.servers.SERVER_RULES` (cause code -> rules ``(anchors, regex[, strength])``), added to the
catalogue's signature of the same cause by :mod:`.catalogue`. Only messages the catalogue does not match already: its
rules for "exec format error", "could not select device driver", "unsatisfied condition: cuda", "No space left on
device", "low on resource: ephemeral-storage", EmptyDir, "OOMKilled", the CUDA driver / forward-compatibility /
display-driver / no-kernel-image strings, NCCL's "shared memory segment" and posix_fallocate, "CUDA out of memory"
and CUDA_ERROR_OUT_OF_MEMORY are left to it. Consequences (ImagePullBackOff, "Back-off restarting failed container",
"Readiness probe failed") name no cause and are left out; the kubelet's kill of a container whose probes fail is
kept, weak, for the start-up timeout it usually is in a model server.

Texts read from moby/moby (daemon/libnetwork/portallocator, daemon/internal/distribution/pull_v2.go,
daemon/containerd/image_pull.go, daemon/create.go, daemon/images/image.go, daemon/runtime_unix.go), containerd
(core/images/handlers.go, core/remotes/docker, the vendored container-device-interface cache.go), runc, NVIDIA/nccl
(src/init.cc, src/include/checks.h, cudawrap.h, alloc.h, src/os/linux.cc / misc/shmutils.cc), libnvidia-container
(src/driver.c, src/cli), and kubernetes' pkg/kubelet/eviction/helpers.go, pkg/scheduler/framework/plugins/noderesources,
pkg/kubelet/lifecycle/predicate.go, pkg/kubelet/cm/devicemanager/manager.go, pkg/kubelet/prober; the CUDA / cuDNN /
TensorFlow / ONNX Runtime texts as they are printed in the issue threads of their users.
"""

from __future__ import annotations

from .causes import RuleTable, merged_rules

# "<program>: error while loading shared libraries: lib<program's own stem>...": the image's program without its own
# library (the catalogue's import-error rule for the loader's line leaves this shape to the toolkit-bug one below)
OWN_LIBRARY_MISSING = (r"(?:^|[/\s])(?P<stem>[a-z]{3,})[\w-]*: error while loading shared libraries: "
                       r"(?P<library>lib(?P=stem)[\w.+-]*\.so[\w.]*)")

_CONTAINERS: RuleTable = {
    "toolkit-bug": (
        # the dynamic loader (ld.so): a program of the image cannot load a library of its own project (llama-server
        # without libllama-common, tritonserver without libtritonserver): the image was built or packaged without it;
        # a library of anything else stays import-error
        ("error while loading shared libraries", OWN_LIBRARY_MISSING, "likely"),
    ),
    "insufficient-capacity": (
        # kubernetes pkg/scheduler (noderesources fit.go "Insufficient %v", summed per reason by the framework's
        # FitError): the FailedScheduling event "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." — no node
        # has the GPUs / memory / CPU the pod requests (also the cluster-autoscaler's "pod didn't trigger scale-up")
        (("nodes are available: ", "didn't trigger scale-up"),
         r"(?:nodes are available: |didn't trigger scale-up)[^\n]*?\b\d+ [Ii]nsufficient (?P<resource>[\w./-]*[\w-])"),
        # kubernetes pkg/kubelet/lifecycle/predicate.go (InsufficientResourceError): the kubelet rejects a pod the
        # node cannot hold after all ("OutOfnvidia.com/gpu", "Pod was rejected: Node didn't have enough resource: ...")
        ("Node didn't have enough resource",
         r"Node didn't have enough resource: (?P<resource>[\w./-]*[\w-]), requested: (?P<requested>\d+), used: "
         r"(?P<used>\d+), capacity: (?P<capacity>\d+)", "likely"),
        # kubernetes pkg/kubelet/cm/devicemanager/manager.go: UnexpectedAdmissionError when the node's device plugin
        # has fewer free GPUs than the pod asks for
        ("requested number of devices unavailable for",
         r"requested number of devices unavailable for (?P<resource>[\w./-]*[\w-])\. Requested: (?P<requested>\d+), "
         r"Available: (?P<available>\d+)", "likely"),
    ),
    "wrong-architecture": (
        # moby daemon/internal/distribution/pull_v2.go (and daemon/containerd/image_pull.go): the image's manifest list
        # has no entry for the host's platform (an arm64-only image pulled on amd64, or the reverse)
        ("no matching manifest for", r"no matching manifest for (?P<platform>[\w/.-]+) in the manifest list entries"),
        # containerd core/images/handlers.go / image.go: the same for containerd and Kubernetes' ErrImagePull
        ("no match for platform in manifest", r"no match for (?:current )?platform (?:(?P<platform>[\w/.-]+) )?in "
                                              r"manifest"),
        # moby daemon/create.go: docker run of an image built for another platform (it may still run emulated)
        ("does not match the detected host platform",
         r"The requested image's platform \((?P<image>[\w/.-]+)\) does not match the detected host platform "
         r"\((?P<host>[\w/.-]+)\)", "likely"),
        # moby daemon/images/image.go: a local image of another platform than the one --platform asked for
        ("does not match the specified platform",
         r"was found but its platform \((?P<image>[\w/.-]+)\) does not match the specified platform "
         r"\((?P<requested>[\w/.-]+)\)", "likely"),
    ),
    "gpu-image-on-cpu-host": (
        # libnvidia-container src/driver.c (nvmlInit through the CLI's "initialization error"), the OCI hook's
        # stderr in docker / containerd / kubelet errors: no NVIDIA kernel driver on the host
        ("nvml error: driver not loaded", r"nvidia-container-cli: initialization error: nvml error: driver not loaded"),
        # libnvidia-container src/driver.c (xdlopen of libnvidia-ml.so.1): the host has no NVIDIA user-space driver
        ("nvidia-container-cli: initialization error: load library failed",
         r"nvidia-container-cli: initialization error: load library failed: (?P<library>libnvidia-ml\.so[\w.]*)",
         "likely"),
        # moby daemon/runtime_unix.go: --runtime nvidia (compose `runtime: nvidia`) on a daemon without the NVIDIA
        # container runtime configured
        ("unknown or invalid runtime name", r"unknown or invalid runtime name: (?P<runtime>nvidia\S*)", "likely"),
        # container-device-interface pkg/cdi/cache.go (containerd, podman, CRI-O, moby): --device nvidia.com/gpu=all
        # where no NVIDIA CDI spec was generated (no driver / toolkit on the host)
        ("unresolvable CDI devices", r"unresolvable CDI devices (?P<device>[\w./-]+=\S+)", "likely"),
        # CUDA cudaErrorStubLibrary (34): the CUDA toolkit's stub libcuda.so was loaded because no real driver is
        # mounted into the container (or LD_LIBRARY_PATH puts .../stubs first)
        # (torch's "CUDA initialization: ... Error 34" UserWarning, a CPU host carrying on, does not match)
        ("CUDA driver is a stub library",
         r"(?:CUDA error: |Cuda Runtime \(|CUDA failure 34: |cudaErrorStubLibrary: |CUDA_ERROR_STUB_LIBRARY: )CUDA driver "
         r"is a stub library", "likely"),
        # torch c10/cuda (the RuntimeError of torch._C._cuda_init; the same words in a UserWarning are a CPU host
        # carrying on and do not match)
        ("RuntimeError: CUDA driver initialization failed",
         r"RuntimeError: CUDA driver initialization failed, you might not have a CUDA gpu", "likely"),
        # ONNX Runtime core/session/provider_bridge_ort.cc: the CUDA / TensorRT provider library cannot load because
        # the driver's libcuda.so.1 is not there (an onnxruntime-gpu image on a CPU host)
        ("Failed to load library libonnxruntime_providers_",
         r"Failed to load library libonnxruntime_providers_(?P<provider>cuda|tensorrt)\.so with error: "
         r"libcuda\.so[\w.]*: cannot open shared object file", "likely"),
    ),
    "server-config-invalid": (
        # moby daemon/libnetwork/portallocator/portallocator.go: `docker run -p 8080:8080` while another container
        # holds the host port
        ("port is already allocated", r"Bind for (?P<address>\S+?) failed: port is already allocated", "likely"),
        # moby daemon/libnetwork/portallocator/osallocator_linux.go (Docker 28+), and older docker-proxy
        # ("Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use"): a host process
        # holds the port
        (("failed to bind host port", "Error starting userland proxy"),
         r"(?:failed to bind host port (?P<address>\S+?)|Error starting userland proxy: listen tcp[46]? "
         r"(?P<proxy_address>\S+?)): (?:bind: )?address already in use", "likely"),
    ),
    "missing-entry-script": (
        # runc libcontainer (os.PathError of the container's execve, "exec /serve: no such file or directory"; older
        # runc "exec user process caused: no such file or directory"): the entrypoint is not in the image, or its
        # shebang's interpreter is not (a Windows line ending, a binary for another libc)
        ("no such file or directory",
         r"(?:exec (?P<program>/\S+?): |exec user process caused:? ?[\"']?)no such file or directory", "likely"),
        # runc: the entrypoint exists but is not executable (a script copied without its mode bit)
        ("permission denied", r"exec (?P<program>/\S+?): permission denied|exec user process caused:? ?[\"']?"
                              r"permission denied", "likely"),
    ),
    "model-config-invalid": (
        # libnvidia-container src/cli (device selection): NVIDIA_VISIBLE_DEVICES / --gpus device=N names a GPU index
        # or UUID the host does not have
        ("unknown device", r"nvidia-container-cli: device error: (?P<device>\d+|GPU-[0-9a-fA-F-]+): unknown device",
         "weak"),
    ),
    "disk-full": (
        # kubernetes pkg/kubelet/eviction/helpers.go: a container wrote more than its ephemeral-storage limit
        # (weights downloaded into the container's filesystem) and the pod was evicted
        ("exceeded its local ephemeral storage limit",
         r"Container (?P<container>\S+) exceeded its local ephemeral storage limit \"?(?P<limit>[^\".\s]+)"),
        # kubernetes pkg/kubelet/eviction/helpers.go: the pod's total ephemeral storage over its containers' limits
        ("Pod ephemeral local storage usage exceeds the total limit of containers",
         r"Pod ephemeral local storage usage exceeds the total limit of containers (?P<limit>\S+?)\.?(?:\s|$)"),
        # kubernetes pkg/kubelet/eviction/helpers.go: evicted for the node's DiskPressure condition
        ("The node had condition: ", r"The node had condition: \[?DiskPressure\]?", "likely"),
    ),
    "out-of-memory": (
        # kubernetes pkg/kubelet/eviction/helpers.go: evicted because the node ran short of memory (the pod used
        # more than its request)
        ("The node was low on resource: memory", r"The node was low on resource: memory\b"),
        # kubernetes pkg/kubelet/eviction/helpers.go: evicted for the node's MemoryPressure condition
        ("The node had condition: ", r"The node had condition: \[?MemoryPressure\]?", "likely"),
    ),
    "shared-memory-too-small": (
        # NVIDIA/nccl src/os/linux.cc (misc/shmutils.cc in older releases): NCCL's shared-memory transport could not
        # grow its segment in /dev/shm (Docker's 64 MB default, a pod without a memory-backed /dev/shm)
        ("failed to extend /dev/shm", r"failed to extend (?P<path>/dev/shm/\S+) to (?P<bytes>\d+) bytes"),
        # NVIDIA/nccl src/init.cc ncclGetErrorString (ncclSystemError), as torch raises it: in a container most
        # often the same /dev/shm shortage (also sockets, IB: weak)
        ("unhandled system error", r"NCCL error[^\n]*?unhandled system error", "weak"),
    ),
    "cuda-out-of-memory": (
        # NVIDIA/nccl src/include/checks.h / cudawrap.h (CUDACHECK: WARN "Cuda failure '%s'" with
        # cudaGetErrorString): NCCL could not allocate its buffers on the GPU
        ("Cuda failure", r"Cuda failure (?:\d+ )?'out of memory'", "likely"),
        # NVIDIA/nccl src/include/alloc.h: ncclCudaCalloc of its device buffers failed
        ("Failed to CUDA calloc", r"NCCL WARN Failed to CUDA calloc (?P<bytes>\d+) bytes", "likely"),
        # TensorFlow common_runtime/gpu/gpu_device.cc: creating the CUDA context failed for want of memory (another
        # process holds the GPU)
        ("CUDA runtime implicit initialization on GPU",
         r"CUDA runtime implicit initialization on GPU:\d+ failed\. Status: out of memory"),
        # TensorFlow / XLA bfc_allocator.cc: the allocation that fails (logged with the op that asked for it, then
        # the ResourceExhaustedError); the "caller indicates that this is not a failure" variant does not match
        ("ran out of memory trying to allocate",
         r"Allocator \((?P<allocator>GPU_\d+_bfc)\) ran out of memory trying to allocate (?P<size>[\d.]+\s?[KMGT]?i?B) "
         r"\(rounded to \d+\)", "likely"),
        # TensorFlow cuBLAS (stream_executor): a GEMM that cannot get its workspace, mostly GPU memory held by
        # another process or session
        ("Blas GEMM launch failed", r"Blas GEMM launch failed", "weak"),
    ),
    "import-error": (
        # cuDNN 9 (cudnn's own loader of its sub-libraries, printed by torch / CTranslate2 / ONNX Runtime): a part
        # of cuDNN is not installed or not on the library path (another CUDA's cuDNN than the wheel's)
        ("Unable to load any of {libcudnn", r"Unable to load any of \{(?P<library>libcudnn\w*\.so[\w.]*)"),
        # TensorFlow stream_executor (cuda_dnn.cc): cuDNN could not be loaded or is of another version than the one
        # TensorFlow was built with ("UNIMPLEMENTED: DNN library is not found.")
        ("DNN library is not found", r"DNN library is not found", "likely"),
    ),
    "gpu-architecture-mismatch": (
        # CUDA cudaErrorInvalidDeviceFunction (98) as torch raises it: a kernel compiled for other GPU architectures
        # than this one (an extension built without this sm_XX)
        ("CUDA error: invalid device function", r"CUDA error: invalid device function", "likely"),
        # TensorFlow gpu_device.cc with CUDA cudaErrorInvalidKernelImage (200): the binary has no code for this GPU
        # generation (an old TensorFlow on Ampere or newer)
        ("device kernel image is invalid",
         r"CUDA runtime implicit initialization on GPU:\d+ failed\. Status: device kernel image is invalid", "likely"),
        # cuBLAS / cuDNN status codes: the GPU lacks a feature the call needs (bf16 / fp8 GEMMs on an older GPU)
        (("CUBLAS_STATUS_ARCH_MISMATCH", "CUDNN_STATUS_ARCH_MISMATCH"),
         r"CUBLAS_STATUS_ARCH_MISMATCH|CUDNN_STATUS_ARCH_MISMATCH", "likely"),
    ),
    "network-unreachable": (
        # moby / containerd registry client (Go net/http): the image registry cannot be reached at all when pulling
        # (no route, DNS, a proxy or VPC without egress)
        ("/v2/", r"(?:Get|Head) \"?https://(?P<registry>[\w.-]+(?::\d+)?)/v2/[^\s\"]*\"?: (?:dial tcp\b[^\n]*?"
                 r"(?:i/o timeout|no such host|connection refused|network is unreachable|server misbehaving)|"
                 r"net/http: (?:request canceled while waiting for connection|TLS handshake timeout))", "likely"),
    ),
    "permission-denied": (
        # containerd core/remotes/docker (resolver / fetcher): the registry refused the pull (no or wrong registry
        # credentials, an ECR repository the node role may not read)
        ("unexpected status from",
         r"unexpected status from (?:HEAD|GET) request to (?P<url>\S+?): (?:401 Unauthorized|403 Forbidden)",
         "likely"),
        # docker's credential flow for Amazon ECR (and other registries) without a `docker login`
        ("no basic auth credentials", r"no basic auth credentials", "likely"),
        # moby distribution errors / containerd: a private image without credentials — or a repository name that
        # does not exist (the registry says the same for both)
        (("pull access denied", "insufficient_scope: authorization failed"),
         r"pull access denied(?: for (?P<image>[^\s,]+))?, repository does not exist or may require|"
         r"insufficient_scope: authorization failed", "weak"),
    ),
    "startup-health-check-timeout": (
        # kubernetes pkg/kubelet/prober (the kubelet's Killing event "Container %s failed %s probe, will be
        # restarted"): a model server still loading when its startup / liveness probe gives up is killed and
        # restarted (a consequence: a hung or crashed server is killed the same way)
        ("probe, will be restarted",
         r"Container (?P<container>\S+) failed (?P<probe>startup|liveness) probe, will be restarted", "weak"),
    ),
}

# The managed model-hosting platforms other than SageMaker, whose messages users paste beside a server's log when a
# deployment's container does not start: Google Vertex AI endpoints (google-cloud-aiplatform and the deploy
# operation's errors, Compute Engine's stockout), Azure Machine Learning online endpoints (the deployment operation's
# error codes as MicrosoftDocs' troubleshooting pages list them, and the scoring server azureml-inference-server-http,
# with its older /var/azureml-server form), Hugging Face Inference Endpoints (huggingface_hub's InferenceEndpoint.wait,
# the scheduler's "Scheduling failure"), Baseten Truss (truss/templates/server/model_wrapper.py) and Replicate Cog
# (python/cog/server/worker.py / http.py, the Rust coglet, `cog predict`). Consequences that name no cause are left
# out (Azure's "User container has crashed or terminated", Vertex's "Model server exited unexpectedly", Hugging Face's
# "Exit code: 1. Reason:"); Azure's bare OutOfQuota covers memory and disk as well as cores: its sentences are rules.
_HOSTED: dict[str, tuple[tuple, ...]] = {
    "insufficient-capacity": (
        # Google Cloud quota (Vertex AI deploy / custom job operations, code 8 RESOURCE_EXHAUSTED / HTTP 429): the
        # project's regional quota for the machine's CPUs or GPUs (custom_model_serving_nvidia_l4_gpus, ...) is used up
        ("The following quota metrics exceed quota limits",
         r"The following quota metrics exceed quota limits: (?P<metric>[\w./-]+)"),
        # Vertex AI deploy (google.api_core.exceptions.ServiceUnavailable 503, code 14): no capacity for the machine
        # type / accelerator in the region right now
        ("Machine type temporarily unavailable", r"Machine type temporarily unavailable"),
        # Vertex AI custom jobs / deployments: the region has no capacity for the requested hardware
        ("Resources are insufficient in region", r"Resources are insufficient in region(?:: (?P<region>[\w-]+))?"),
        # Google Compute Engine ZONE_RESOURCE_POOL_EXHAUSTED (under Vertex AI, GKE and App Engine flex): stockout
        ("does not have enough resources available to fulfill the request",
         r"does not have enough resources available to fulfill the request"),
        # Azure ML managed online deployment (ERROR: OutOfQuota, VmSize validation): the subscription's core quota for
        # the SKU is smaller than the deployment needs
        ("Not enough quota available for",
         r"Not enough quota available for (?P<sku>Standard_\w+) in Subscription(?:Id)?\b"),
        # Azure ML managed online deployment (ERROR: OutOfQuota): the subscription's CPU quota for online endpoints
        ("Not enough subscription CPU quota", r"Not enough subscription CPU quota"),
        # Azure ML studio's deployment wizard: no quota left for the VM sizes the model needs
        ("You do not have enough quota for the following VM sizes",
         r"You do not have enough quota for the following VM sizes"),
        # Azure ML compute (clusters / instances behind batch and Kubernetes deployments): the VM family's quota is 0
        ("is less than the requested compute",
         r"The specified subscription has a (?:[\w ]+ )?vCPU quota of \d+ and is less than the requested compute"),
        # Azure ML managed online endpoints (troubleshooting page, first form): ERR_1100 quota, ERR_1101 region capacity
        (("ERR_1100: Not enough quota", "ERR_1101: Out of capacity"),
         r"ERR_1100: Not enough quota|ERR_1101: Out of capacity"),
        # Azure ML Kubernetes online endpoint (ERROR: OutOfQuota): the attached cluster cannot schedule the pod
        # (too many pods, no node with the requested CPU / memory / GPU)
        ("OutOfQuota: Kubernetes unschedulable", r"OutOfQuota: Kubernetes unschedulable", "likely"),
        # Azure ML endpoint creation (InferencingClientCallFailed): the subscription's endpoint count limit is reached
        ("Endpoint Quota reached for subscription",
         r"Endpoint Quota reached for subscription\b[^\n]*?Current usage/limit: (?P<usage>\d+/\d+)", "likely"),
        # Hugging Face Spaces / Inference Endpoints scheduler: no free machine of the requested GPU flavour
        ("Scheduling failure: not enough hardware capacity", r"Scheduling failure: not enough hardware capacity"),
    ),
    "out-of-memory": (
        # Azure ML managed online deployment (ERROR: OutOfQuota, "Memory quota"): the container used more memory than
        # the instance type has, and was terminated
        ("Container terminated due to insufficient memory", r"Container terminated due to insufficient memory"),
        # Replicate Cog python/cog/server/worker.py (FatalWorkerException, cog <= 0.16): the predictor's child process
        # died without a result during setup() or a prediction; exit code -9 is the SIGKILL of the OOM killer
        ("It might have run out of memory? (exitcode -9)",
         r"(?:Predictor setup|Prediction) failed for an unknown reason\. It might have run out of memory\? "
         r"\(exitcode -9\)", "likely"),
    ),
    "disk-full": (
        # Azure ML managed online endpoints (troubleshooting page, ERR_1350; later OutOfQuota "Disk quota"): the model
        # is larger than the instance's disk
        ("Unable to download user model, not enough space on the disk",
         r"Unable to download user model, not enough space on the disk"),
    ),
    "permission-denied": (
        # Azure ML online deployment (ERROR: BadArgument): the endpoint's managed identity may not read the workspace
        # storage (Storage Blob Data Reader) or pull from its registry (AcrPull)
        (("Startup task failed due to authorization error", "Startup task failed due to incorrect role assignments"),
         r"Startup task failed due to (?:authorization error|incorrect role assignments on (?:resource|storage "
         r"account))"),
        # Azure ML environment image build (ERROR: ImageBuildFailure): the workspace's registry refused the build's
        # credentials (keys out of sync, a registry behind a virtual network)
        ("container registry authorization failure", r"container registry authorization failure", "likely"),
    ),
    "server-config-invalid": (
        # azureml-inference-server-http server/config.py (log_config_errors): a server setting (AML_* environment
        # variable or config.json key) fails validation; the server exits 3
        ("Configuration Error", r"^=+Configuration Error=+$", "likely"),
        # azureml-inference-server-http server/config.py: the --config_file JSON could not be read
        ("Invalid config file!", r"Invalid config file!", "likely"),
        # azureml-inference-server-http amlserver_win.py (OSError) and Cog python/cog/server/http.py: the server's port
        # is taken by another process
        ("is already in use", r"Specified port '(?P<port>\d+)' is already in use\.|\bPort (?P<cog_port>\d+) is already "
                              r"in use\b", "likely"),
    ),
    "missing-entry-script": (
        # azureml-inference-server-http server/aml_blueprint.py (also the older /var/azureml-server): no entry script
        # was given and no main.py is on the path
        ("No score script found", r"No score script found\. Expected score script main\.py"),
        # azureml-inference-server-http server/aml_blueprint.py: AML_APP_ROOT (the code directory) is not there
        ("not an accessible directory in the container",
         r"The directory (?P<path>\S+) not an accessible directory in the container", "likely"),
        # azureml-inference-server-http server/user_script.py (UserScriptError): the scoring script lacks init() or
        # run() (another file named as the entry script); Kubernetes deployments report UserScriptFunctionNotFound
        (("function defined.", "UserScriptFunctionNotFound"),
         r"User script at (?P<path>\S+) does not have a (?P<function>init|run)\(\) function defined|"
         r"\bUserScriptFunctionNotFound\b", "likely"),
        # azureml-inference-server-http amlserver.py: started with neither --entry_script nor --config_file
        ("Either provide an entry_script using --entry_script",
         r"Either provide an entry_script using --entry_script or provide a path to the configuration file"),
        # Truss truss/templates/server/model_wrapper.py: the truss has no model/model.py (model_class_filename) and no
        # extension that supplies a model
        ("No module class file found", r"No module class file found"),
        # Truss model_wrapper.py (an ImportError, which the catalogue reads as import-error: sure here so that the
        # earlier cause wins): the model file path is not a loadable Python file
        ("Check path.", r"Could not import `(?P<path>[^`]+)`\. Check path\."),
        # Cog python/cog/server/http.py: cog.yaml names no predictor for the mode the server runs
        ("Please add '", r"Please add '(?P<mode>predict|train)' to your cog\.yaml file"),
        # Cog python/cog/_inspector.py / pkg/schema: the class or function cog.yaml's predict names is not in the file
        ("predictor not found: ", r"predictor not found: (?P<predictor>\S+)", "likely"),
    ),
    "toolkit-bug": (
        # azureml-inference-server-http < 0.7 / azureml-defaults < 1.44 (/var/azureml-server/aml_blueprint.py) under
        # Flask 2: the scoring server's own blueprint registration fails at start-up
        ("register() takes 3 positional arguments but 4 were given",
         r"register\(\) takes 3 positional arguments but 4 were given", "likely"),
    ),
    "model-file-not-found": (
        # Azure ML managed online endpoints (troubleshooting page, ERR_1300 / BadArgument "Unable to download user
        # model"): the model or code artifacts are not in the workspace storage — or the identity may not read them
        ("Unable to download user model", r"Unable to download user model(?!, not enough space)", "weak"),
    ),
    "model-fn-error": (
        # azureml-inference-server-http server/aml_blueprint.py (and the older /var/azureml-server): the scoring
        # script's init() raised; the traceback that follows names the exception
        ("User's init function failed", r"User's init function failed", "likely"),
        # the same server's next line: "Encountered Exception Traceback (most recent call last): ... in init"
        # (the matcher reads a traceback's header apart: the words before it are what this rule sees)
        ("Encountered Exception", r"Encountered Exception(?: Traceback \(most recent call last\)|\s*$)", "likely"),
        # Azure ML SDK v1 ACI / AKS deployment (AciDeploymentFailed, CrashLoopBackOff): the platform's guess when the
        # scoring container exits
        ("errors in your scoring file's init() function",
         r"This may be caused by errors in your scoring file's init\(\) function", "weak"),
        # Azure ML Kubernetes online deployment error code: score.py's init() raised
        ("UserScriptInitFailed", r"\bUserScriptInitFailed\b", "likely"),
        # Truss truss/templates/server/model_wrapper.py (ModelWrapper.load): the model's __init__ or load() raised (after
        # the retries logged as "Failed to load model. Retrying..."); the model is FAILED
        ("Exception while loading model", r"Exception while loading model", "likely"),
        # Replicate Cog python/cog/server/worker.py (FatalWorkerException): the predictor's setup() raised
        ("Predictor errored during setup", r"Predictor errored during setup: (?P<message>.*)", "likely"),
        # Replicate coglet crates/coglet/src/worker.rs (SetupError::Setup in the worker's "Setup failed: ..."): setup()
        # raised
        (("Setup failed: setup failed: ", "error=setup failed: "),
         r"(?:Setup failed: |Setup failed error=)setup failed: (?P<message>.+)", "likely"),
        # coglet worker.rs (SetupError::Load): predict.py could not be imported or its class instantiated (the
        # message is the Python error, which other rules name when it is an import)
        ("failed to load predictor: ", r"failed to load predictor: (?P<message>.+)", "weak"),
        # Cog pkg/predict/predictor.go (`cog predict` / `cog run`): the container's health check says SETUP_FAILED
        ("Model setup failed", r"\bModel setup failed\b", "weak"),
    ),
    "startup-health-check-timeout": (
        # Modal (the runner's own message; modal-examples#1154): a function's container still initializing (weights,
        # compile, warm-up) when its start-up time limit (300 s unless the function raises it) ran out
        ("Runner has been initializing for too long",
         r"Runner has been initializing for too long: (?P<seconds>\d+) seconds"),
        # Vertex AI deploy (FailedPrecondition 400): the container's health route never answered 200 before the deploy
        # deadline — a slow model load, or a server on another port / health route
        ("Model server never became ready", r"Model server never became ready", "weak"),
        # google-cloud-aiplatform prediction/local_endpoint.py (DockerError): LocalEndpoint's health checks did not
        # succeed within container_ready_timeout
        ("The health check never succeeded.", r"The health check never succeeded\.", "weak"),
    ),
    "deploy-wait-timeout": (
        # huggingface_hub _inference_endpoints.py (InferenceEndpointTimeoutError): InferenceEndpoint.wait(timeout=...)
        # gave up; the endpoint itself may still be initializing
        ("Timeout while waiting for Inference Endpoint to be deployed",
         r"Timeout while waiting for Inference Endpoint to be deployed"),
    ),
}

PLATFORM_RULES: RuleTable = merged_rules(_CONTAINERS, _HOSTED)
