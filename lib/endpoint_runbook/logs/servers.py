"""Rules read from the model servers' own sources — the messages TorchServe's and MMS's frontends (their
``model-server.jar`` classes) and MMS's Python services log when a start-up goes wrong; NVIDIA Triton (server, core,
its backends, its SageMaker ``serve`` script), TensorFlow Serving and the SageMaker TF Serving container, ONNX
Runtime / TensorRT / LibTorch / TensorFlow load errors as those servers log them, the AWS Neuron runtime, and the
SageMaker inference toolkits — added to the catalogue's signature of the same cause (:mod:`.catalogue` merges them;
kept apart for their size). The LLM engines' are in :mod:`.engines`.

Each rule as in :func:`.causes._sig`: anchors, pattern, and a strength when the line is not *sure*.
"""

from __future__ import annotations

from .causes import RuleTable, merged_rules

_TORCHSERVE_MMS: dict[str, tuple[tuple, ...]] = {
    "invocation-error": (
        # TorchServe's frontend answering a request whose handler raised (its InternalServerException body; MMS
        # said the same): the model loaded, predictions fail
        ('"Prediction failed"', r'"message": "Prediction failed"', "likely"),
    ),
    "server-config-invalid": (
        # TorchServe / MMS ModelServer: the inference or management port is taken (a second server, a sidecar)
        ("Failed to bind to address", r"Failed to bind to address: (?P<address>\S+)", "likely"),
        # the torchserve launcher: --model-store names no directory
        ("--model-store directory not found", r"--model-store directory not found: (?P<path>\S+)"),
        # TorchServe 0.11 turned token authorization on by default (0.12 says "Authentication"): /ping and
        # /invocations answer 400 without the key, which SageMaker never sends (--disable-token-auth, or
        # TS_DISABLE_TOKEN_AUTHORIZATION=true)
        (("Token Authorization failed", "Token Authentication failed"),
         r"Token Authori[sz]ation failed|Token Authentication failed", "likely"),
    ),
    "import-error": (
        # TorchServe's frontend on a Java older than it was built for (it needs JDK 11 or later)
        (("NoSuchMethodError: java.", "UnsupportedClassVersionError"),
         r"NoSuchMethodError: java\.(?P<method>[\w.$]+)|UnsupportedClassVersionError", "likely"),
    ),
    "model-file-not-found": (
        # ModelServer: the model store folder does not exist, so the server starts with no model at all
        ("Model store path is not found", r"Model store path is not found: (?P<path>\S+)", "likely"),
        # MMS's MXNet services read signature.json beside the model files
        ("Signature file is not found", r"Signature file is not found"),
    ),
    "requirements-install-failed": (
        # TorchServe ModelManager: the model's own virtual environment (useVenv) could not be made
        ("Virtual environment creation", r"Virtual environment creation (?:failed for model|for model \S+ at \S+ "
                                         r"failed)", "likely"),
    ),
    "model-config-invalid": (
        # the model's model-config.yaml (torch-model-archiver --config-file) is not valid YAML for TorchServe
        ("Failed to parse model config yaml file", r"Failed to parse model config yaml file"),
        # a .mar / MMS archive built without its manifest, or with one that names no model or service
        (("Missing Model entry in manifest file", "Missing manifest file in model archive", "Missing Service entry"),
         r"Missing Model entry in manifest file|Missing manifest file in model archive|Missing Service entry in "
         r"MANIFEST\.json", "likely"),
    ),
}

_CLASSIC: dict[str, tuple[tuple, ...]] = {
    "bad-request": (
        # gRPC's own check of a message against the server's max_receive_message_length (4 MB by default: KServe's
        # v2, MLServer, Triton, TF Serving over gRPC): the request is larger than the server takes
        ("Received message larger than max",
         r"Received message larger than max \((?P<size>\d+) vs\. (?P<limit>\d+)\)", "likely"),
    ),
    "image-not-sagemaker-compatible": (
        # Triton (server src/command_line_parser.cc: "Unexpected argument: ") and TF Serving
        # (tensorflow_serving/model_servers/main.cc: "unknown argument: "): the plain NGC / tensorflow/serving image
        # deployed as is, its entrypoint hands SageMaker's `serve` argument to the server binary
        (("Unexpected argument: serve", "unknown argument: serve"),
         r"(?:Unexpected|unknown) argument: serve\b", "likely"),
    ),
    "gpu-image-on-cpu-host": (
        # Triton core src/model_config_utils.cc (model load): a KIND_GPU instance group while the server sees no
        # usable GPU (a CPU instance, or the container started without the GPU runtime)
        ("has kind KIND_GPU but no GPUs are available",
         r"instance group (?P<group>\S+) of model (?P<model>\S+) has kind KIND_GPU but no GPUs are available",
         "likely"),
        # AWS Neuron runtime (NRT:nrt_init, logged by torch-neuron / neuronx on start-up): a Neuron image or model on
        # an instance without Inferentia/Trainium devices
        ("This instance has no neuron devices", r"This instance has no neuron devices", "likely"),
    ),
    "requirements-install-failed": (
        # sagemaker-inference-toolkit model_server.py (_install_requirements with CA_REPOSITORY_ARN): pip could not be
        # pointed at the CodeArtifact repository, so requirements.txt is not installed and the container exits
        (("failed to configure pip to use codeartifact", "invalid CodeArtifact repository arn"),
         r"failed to configure pip to use codeartifact|invalid CodeArtifact repository arn (?P<arn>\S+)"),
    ),
    "server-config-invalid": (
        # clap, the argument parser of TGI's and TEI's launchers (Rust): an argument it does not know (a flag and its
        # value passed as one item, a flag of another version); 'serve' is SageMaker's own, named above
        ("unexpected argument '", r"error: unexpected argument '(?!serve')(?P<argument>[^']+)' found", "likely"),
        # Triton server src/http_server.cc / src/grpc/grpc_server.cc, logged by main.cc as "failed to start HTTP
        # service: Unavailable - Socket '0.0.0.0:8000' already in use" (another server or sidecar holds the port)
        ("' already in use", r"Socket '(?P<address>[^']+)' already in use", "likely"),
        # Triton server src/command_line_parser.cc: an argument tritonserver does not take (SAGEMAKER_TRITON_
        # ADDITIONAL_ARGS, a hand-written entrypoint); `serve` is the image-compatibility rule above
        ("Unexpected argument: ", r"Unexpected argument: (?!serve\b)(?P<argument>\S+)", "likely"),
        # Triton server src/command_line_parser.cc: --load-model without explicit model control
        ("requires setting '--model-control-mode=explicit'",
         r"Use of '--load-model' requires setting '--model-control-mode=explicit'"),
        # Triton server src/main.cc prints its usage before any option parse error (also for --help: weak)
        ("Usage: tritonserver [options]", r"^Usage: tritonserver \[options\]", "weak"),
        # Triton docker/sagemaker/serve: SAGEMAKER_TRITON_INFERENCE_TYPE is not infer / generate / generate_stream
        ("Invalid SAGEMAKER_TRITON_INFERENCE_TYPE", r"Invalid SAGEMAKER_TRITON_INFERENCE_TYPE '(?P<value>[^']*)'"),
        # Triton docker/sagemaker/serve: several model folders and no SAGEMAKER_TRITON_DEFAULT_MODEL_NAME naming one
        ("More than 1 model directory found in model repository",
         r"More than 1 model directory found in model repository"),
        # TF Serving model_servers/server.cc: the gRPC port could not be bound (port taken, bad address)
        ("Failed to BuildAndStart gRPC server", r"Failed to BuildAndStart gRPC server", "likely"),
        # TF Serving model_servers/server.cc: the REST port could not be bound
        ("Failed to start HTTP Server at", r"Failed to start HTTP Server at (?P<address>\S+)", "likely"),
        # TF Serving model_servers/server.cc: --rest_api_port equal to --port
        ("http_port cannot be same as grpc_port", r"http_port cannot be same as grpc_port"),
        # TF Serving util/proto_util.h: --model_config_file (or batching / monitoring config) is not a valid text proto
        ("Invalid protobuf file: '", r"Invalid protobuf file: '(?P<file>[^']+)'"),
        # TF Serving model_servers/server_core.cc: a model_config_list entry without model_platform
        ("Illegal setting neither ModelServerConfig::model_type",
         r"Illegal setting neither ModelServerConfig::model_type \(deprecated\) nor ModelServerConfig::model_platform"),
        # TF Serving model_servers/server_core.cc: a model_config_list base_path that is relative
        ("to have an absolute path", r"Expected model (?P<model>\S+) (?:with updated base_path = [^\n]*? )?to have an "
                                     r"absolute path"),
        # TF Serving model_servers/main.cc: a flag tensorflow_model_server does not know (`serve`: rule above)
        ("unknown argument: ", r"^unknown argument: (?!serve\b)(?P<argument>\S+)", "likely"),
        # SageMaker TF Serving container sagemaker/serve.py: boolean settings that are not 'true' / 'false'
        (("SAGEMAKER_MULTI_MODEL must be", "SAGEMAKER_TFS_ENABLE_BATCHING must be"),
         r"(?P<variable>SAGEMAKER_MULTI_MODEL|SAGEMAKER_TFS_ENABLE_BATCHING) must be 'true' or 'false'"),
        # SageMaker TF Serving container sagemaker/serve.py: SAGEMAKER_TFS_INSTANCE_COUNT needs more ports than
        # SAGEMAKER_SAFE_PORT_RANGE has
        ("not enough ports available in SAGEMAKER_SAFE_PORT_RANGE",
         r"not enough ports available in SAGEMAKER_SAFE_PORT_RANGE"),
        # sagemaker-huggingface-inference-toolkit optimum_utils.py: an uncompiled model on Inferentia2 needs its
        # static shapes from the environment
        ("HF_OPTIMUM_SEQUENCE_LENGTH", r"HF_OPTIMUM_SEQUENCE_LENGTH (?:environment variable is not set|must be set to "
                                       r"a positive integer)"),
    ),
    "engine-version-mismatch": (
        # ONNX Runtime graph resolution (as Triton's onnxruntime backend logs it: "onnx runtime error 1: Load model
        # from ... failed:This is an invalid model. ... No Op registered for X with domain_version of N"): an opset
        # newer than the runtime in the image (or a contrib op the build lacks)
        ("No Op registered for", r"No Op registered for (?P<op>\w+) with domain_version of (?P<opset>\d+)", "likely"),
        # ONNX Runtime core/graph/model_load_utils.h: the model's opset is newer than the runtime's released ones
        ("is under development and support for this is limited",
         r"Opset (?P<opset>\d+) is under development and support for this is limited", "likely"),
        # TensorRT-LLM runtime (tensorrtllm_backend on start-up): the engine was built by another TensorRT-LLM /
        # TensorRT version than the image's
        ("Failed to deserialize cuda engine", r"Failed to deserialize cuda engine", "likely"),
    ),
    "framework-version-mismatch": (
        # TensorFlow (Serving, Triton's TF backend) creating a kernel for a SavedModel written by a newer TensorFlow:
        # "(Check whether your GraphDef-interpreting binary is up to date with your GraphDef-generating binary.)"
        ("NodeDef mentions attr", r"NodeDef mentions attr '(?P<attr>\w+)' not in Op<name=(?P<op>\w+)"),
        # LibTorch (Triton's pytorch backend, torch.jit.load): a TorchScript / torch.save file of a newer PyTorch
        ("but the maximum supported version for reading is",
         r"Attempted to read a PyTorch file with version (?P<file_version>\d+), but the maximum supported version for "
         r"reading is (?P<max>\d+)"),
        # TorchScript: an aten operator the image's LibTorch does not have yet (scripted by a newer PyTorch)
        ("Unknown builtin op: aten::", r"Unknown builtin op: (?P<op>aten::\w+)", "likely"),
    ),
    "unsupported-model-architecture": (
        # ONNX Runtime (older releases' graph.cc): an op in no domain the runtime knows (not an ONNX op at all, or a
        # custom op without its library)
        ("is not a registered function/op", r"Fatal error: (?P<op>\S+) is not a registered function/op", "likely"),
        # TensorFlow: the op exists but has no kernel for this device / dtype in the serving binary (a GPU-only op
        # such as CudnnRNN served on CPU, a custom op)
        ("No OpKernel was registered to support Op", r"No OpKernel was registered to support Op '(?P<op>\w+)'",
         "likely"),
        # Triton pytorch backend src/pt/model_state.cc ("failed to load model '...': ") around LibTorch: model.pt is
        # a torch.save pickle, not TorchScript
        ("PytorchStreamReader failed locating file constants.pkl",
         r"failed to load model '(?P<model>[^']+)': PytorchStreamReader failed locating file constants\.pkl",
         "likely"),
        # sagemaker-huggingface-inference-toolkit optimum_utils.py: HF_TASK not among optimum-neuron's tasks
        ("is not supported by optimum neuron", r"Task (?P<task>\S+) is not supported by optimum neuron"),
    ),
    "model-config-invalid": (
        # Triton core (backend model config check): max_batch_size larger than the model allows (an engine or
        # ONNX model built with a fixed batch dimension of 1)
        ("unexpected configuration maximum batch size",
         r"unexpected configuration maximum batch size (?P<configured>\d+) for '(?P<instance>[^']+)', model maximum "
         r"is (?P<model_max>\d+)"),
        # Triton core src/filesystem/api.cc (repository poll): config.pbtxt is not a valid text proto
        ("failed to read text proto from", r"failed to read text proto from (?P<file>\S+)"),
        # protobuf's text parser, printed just before it, names the line:column
        ("Error parsing text-format inference.ModelConfig",
         r"Error parsing text-format inference\.ModelConfig: (?P<position>\d+:\d+): (?P<message>.+)"),
        # Triton onnxruntime backend src/onnxruntime_utils.cc: max_batch_size > 0 but the model's first dimension is
        # fixed (exported without a dynamic batch axis)
        ("for the model to support batching the shape should have at least 1 dimension",
         r"tensor '(?P<tensor>[^']+)': for the model to support batching the shape should have at least 1 dimension"),
        # Triton onnxruntime backend src/onnxruntime.cc (auto-complete): max_batch_size set for a model without batching
        ("model does not support batching while non-zero max_batch_size",
         r"model does not support batching while non-zero max_batch_size"),
        # Triton onnxruntime backend src/onnxruntime.cc: config.pbtxt's inputs / datatypes are not the model's
        ("', configuration expects ",
         r"unable to load model '(?P<model>[^']+)', configuration expects (?:\d+ inputs, model provides \d+|"
         r"datatype \S+ for (?:input|output) '(?P<tensor>[^']+)', model provides \S+)"),
        # Triton core src/model_config_utils.cc: a KIND_GPU instance group on a CPU-only Triton build
        ("has kind KIND_GPU but server does not support GPUs",
         r"has kind KIND_GPU but server does not support GPUs"),
    ),
    "default-handler-used": (
        # SageMaker TF Serving container sagemaker/python_service.py: code/inference.py has neither handler nor
        # input_handler + output_handler
        ("Handlers are not implemented correctly in user script",
         r"Handlers are not implemented correctly in user script", "likely"),
    ),
    "model-file-not-found": (
        # Triton docker/sagemaker/serve: config.pbtxt at the top of /opt/ml/model (the archive was made from inside
        # the model folder instead of holding <model-name>/config.pbtxt)
        (("ERROR: Incorrect directory structure.", "Model directory needs to contain the top level folder"),
         r"ERROR: Incorrect directory structure\.|Model directory needs to contain the top level folder"),
        # Triton docker/sagemaker/serve: SAGEMAKER_TRITON_DEFAULT_MODEL_NAME names no folder of the archive
        ("Directory with provided SAGEMAKER_TRITON_DEFAULT_MODEL_NAME",
         r"Directory with provided SAGEMAKER_TRITON_DEFAULT_MODEL_NAME (?P<model>\S+) does not exist"),
        # Triton docker/sagemaker/serve: the model archive has no model folder at all
        ("No model found in model repository", r"ERROR: No model found in model repository"),
        # Triton python_backend src/pb_stub.cc: no model.py in the version folder
        ("Python model file not found in", r"Python model file not found in '(?P<path>[^']+)'"),
        # Triton pytorch / onnxruntime / tensorrt backends: the version folder lacks model.pt / model.onnx /
        # model.plan (or default_model_filename names another file)
        ("' for model instance '", r"unable to find '(?P<path>[^']+)' for model instance '(?P<instance>[^']+)'"),
    ),
    "model-fn-error": (
        # TensorFlow's SavedModel loader (TF Serving, Triton's TF backend): saved_model.pb holds no graph tagged
        # `serve` (a frozen graph renamed, a training export)
        ("Could not find meta graph def matching supplied tags",
         r"Could not find meta graph def matching supplied tags: (?P<tags>\{[^}]*\})", "likely"),
        # sagemaker-xgboost-container algorithm_mode/serve_utils.py: neither pickle nor Booster.load_model could read
        # the model file (its lines after this say why)
        ("cannot be loaded:", r"Model (?P<path>/opt/ml/model/\S+) cannot be loaded:", "likely"),
    ),
    "cuda-out-of-memory": (
        # ONNX Runtime core/framework/bfc_arena.cc (Triton onnxruntime backend, during session creation or a run):
        # the arena could not grow; absurd sizes (16+ digits) are an overflow bug, not memory, and do not match
        ("Failed to allocate memory for requested buffer of size",
         r"Failed to allocate memory for requested buffer of size (?P<bytes>\d{1,13})(?!\d)", "likely"),
    ),
}

# TorchServe's launcher (ts/model_server.py), frontend (ModelServer, ConfigManager, ModelArchive, ArchiveUtils,
# SnapshotManager, ModelManager) and default handler, and torch-model-archiver (pytorch/serve @ 62c4d6a)
_TORCHSERVE_LAUNCH: dict[str, tuple[tuple, ...]] = {
    "server-config-invalid": (
        # TorchServe ts/model_server.py (the torchserve launcher, before the JVM starts): a file or folder named on the
        # command line (or TS_CONFIG_FILE) that is not there
        (("--ts-config file not found", "--log-config file not found", "--workflow-store directory not found",
          "--cpp-log-config file not found"),
         r"--(?P<option>ts-config|log-config|cpp-log-config) file not found: (?P<path>\S+)|--workflow-store directory "
         r"not found: (?P<store>\S+)", "likely"),
        # TorchServe ts/model_server.py: started without --model-store (and no model_store in config.properties)
        ("Missing mandatory parameter --model-store", r"Missing mandatory parameter --model-store"),
        # TorchServe ts/model_server.py: TEMP names no directory
        ("please check TEMP environment variable",
         r"Invalid temp directory: (?P<path>\S+), please check TEMP environment variable"),
        # TorchServe frontend ModelServer.java main: an IllegalArgumentException from ConfigManager while reading
        # config.properties ("Invalid binding address: ...", "Invalid Environment Variable X", "Model server home not
        # exist: ...")
        ("Invalid configuration: ", r"Invalid configuration: (?P<message>.+)", "likely"),
        # TorchServe frontend ConfigManager.java resolveEnvVarVals: config.properties uses ${VAR} for a variable the
        # container does not set
        ("Invalid Environment Variable ", r"Invalid Environment Variable (?P<variable>\w+)"),
        # TorchServe frontend archive ModelArchive.java downloadModel: no model store configured for the models to load
        ("Model store has not been configured", r"Model store has not been configured\."),
        # TorchServe frontend archive ArchiveUtils.java validateURL: a model URL outside allowed_urls (config.properties)
        ("does not match any allowed URL(s)", r"Given URL (?P<url>\S+) does not match any allowed URL\(s\)"),
    ),
    "model-file-not-found": (
        # TorchServe frontend archive ModelArchive.java downloadModel (ModelNotFoundException): a model named in
        # --models / load_models is neither a .mar nor a folder in the model store, nor a URL
        ("Model not found at: ", r"Model not found at: (?P<url>\S+)"),
        # TorchServe ts/torch_handler/base_handler.py _load_pickled_model: the archive names a model file (eager mode)
        # that is not in it
        ("Missing the model.py file", r"Missing the model\.py file"),
        # TorchServe frontend SnapshotManager.java validate: a config snapshot (restored at start-up) names a .mar that
        # is no longer in the model store
        ("not found in model store",
         r"Model archive file for model :?(?P<model>\S+?),? version :?(?P<version>\S+?) not found in model store",
         "likely"),
        # torch-model-archiver model_packaging_utils.py copy_artifacts: --extra-files names a file that is not there
        # (an archive built at container start-up from /opt/ml/model)
        ("FileNotFoundError: File does not exist: ", r"FileNotFoundError: File does not exist: (?P<path>\S+)",
         "likely"),
    ),
    "model-config-invalid": (
        # TorchServe frontend archive ModelArchive.java validate: a MANIFEST.json without the model's name, version or
        # runtime (a hand-made or foreign archive)
        (("Model name is not defined.", "Model version is not defined.", "Runtime is not defined or invalid."),
         r"Model name is not defined\.|Model version is not defined\.|Runtime is not defined or invalid\.", "likely"),
        # TorchServe frontend archive ModelArchive.java getModelConfig: the archive's model-config.yaml could not be
        # read or parsed
        ("Failed to parse model config file", r"Failed to parse model config file (?P<file>\S+)"),
        # TorchServe frontend ModelManager.java: parallelLevel (torchrun / tensor parallel) larger than the GPUs the
        # instance has
        (("No enough gpu devices for model", "there are no enough gpu devices to support this parallel"),
         r"No enough gpu devices for model:? ?(?P<model>\S+) parallelLevel:? ?(?P<level>\d+)|there are no enough gpu "
         r"devices to support this parallelLever: (?P<level_log>\d+)"),
    ),
    "model-fn-error": (
        # TorchServe ts/torch_handler/base_handler.py _load_pickled_model: the model file (--model-file) defines more
        # than one class, so the default handler cannot tell which to build
        ("Expected only one class as model definition", r"Expected only one class as model definition"),
    ),
    "toolkit-bug": (
        # TorchServe ts/model_server.py: the launcher cannot run java (the image has TorchServe but no JDK, or JAVA_HOME
        # points nowhere)
        ("java not found, please make sure JAVA_HOME is set properly",
         r"java not found, please make sure JAVA_HOME is set properly", "likely"),
        # the JVM: TorchServe's frontend jar is not on the class path (a broken or source install of TorchServe)
        ("main class org.pytorch.serve.ModelServer",
         r"Could not find or load main class org\.pytorch\.serve\.ModelServer", "likely"),
    ),
}

SERVER_RULES: RuleTable = merged_rules(_TORCHSERVE_MMS, _TORCHSERVE_LAUNCH, _CLASSIC)
