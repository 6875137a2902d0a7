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
        # Triton server src/command_line_parser.cc (CheckPortCollision): two of its endpoints on one port — SageMaker's
        # 8080 also the HTTP port (an image run without --allow-sagemaker=false outside SageMaker, or the reverse), the
        # metrics port on the HTTP or gRPC one — or a port outside SAGEMAKER_SAFE_PORT_RANGE
        (("The server cannot listen to ", "The server cannot provide metrics on same port"),
         r"The server cannot (?:listen to (?:SageMaker requests and (?P<protocol>\w+) requests at the same port|"
         r"(?P<endpoint>\w+) requests at port (?P<port>\d+), allowed port range is \[\d+, \d+\])|provide metrics "
         r"on same port used for \w+ requests)"),
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
        # TF Serving model_servers/server_core / main.cc (ParseProtoTextFile): --model_config_file is not a valid
        # ModelServerConfig text proto (protobuf's parser names the line:column); the SageMaker TF Serving container
        # writes that file itself, so there it is the container's (likely)
        ("Error parsing text-format tensorflow.serving.ModelServerConfig",
         r"Error parsing text-format tensorflow\.serving\.ModelServerConfig: (?P<position>\d+:\d+): (?P<message>.+)",
         "likely"),
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
        # fixed (exported without a dynamic batch axis); a console may wrap the line after the tensor's name
        ("for the model to support batching the shape should have at least 1 dimension",
         r"(?:tensor '(?P<tensor>[^']+)': )?for the model to support batching the shape should have at least 1 "
         r"dimension"),
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
        # the same, as TRTIS / Triton before 20.x worded it for a SavedModel / GraphDef ("unable to find model
        # 'model.savedmodel' for hello_world")
        ("unable to find model '", r"unable to find model '(?P<path>[^']+)' for (?P<model>\S+)"),
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
    "permission-denied": (
        # Triton core filesystem (GCS, google-cloud-cpp): the bucket's metadata cannot be read — the service account
        # lacks storage.buckets.get (objectViewer is not enough) or no credentials are set (likely: a wrong bucket
        # name or no route say the same)
        ("Could not get MetaData for bucket with name",
         r"Could not get MetaData for bucket with name (?P<bucket>[^\s:]+)(?!\S)", "likely"),
    ),
    "toolkit-bug": (
        # ... and a "bucket" with a host:port in it: a Triton before 20.10 took an S3 endpoint's address
        # (s3://host:port/bucket/path) for the bucket's name — no bucket is named so
        ("Could not get MetaData for bucket with name",
         r"Could not get MetaData for bucket with name (?P<bucket>[\w.-]+:\d+)\b", "likely"),
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
        # Triton python_backend (before its PR #81, issue triton-inference-server/server#3227): a stub shipped inside
        # a model repository on S3 loses its execute bit on download, and the backend did not set it again
        ("triton_python_backend_stub: ",
         r"triton_python_backend_stub: (?:cannot execute: )?Permission denied", "likely"),
        # TorchServe ts/model_server.py: the launcher cannot run java (the image has TorchServe but no JDK, or JAVA_HOME
        # points nowhere)
        ("java not found, please make sure JAVA_HOME is set properly",
         r"java not found, please make sure JAVA_HOME is set properly", "likely"),
        # the JVM: TorchServe's frontend jar is not on the class path (a broken or source install of TorchServe)
        ("main class org.pytorch.serve.ModelServer",
         r"Could not find or load main class org\.pytorch\.serve\.ModelServer", "likely"),
    ),
}

# OpenVINO Model Server (openvinotoolkit/model_server @ 7e4df0c) and the OpenVINO runtime under it, TensorRT (its
# closed core library's texts as Triton, trtexec and the Python bindings print them, from NVIDIA/TensorRT's issue
# threads), DeepSpeed inference / DeepSpeed-MII (microsoft/DeepSpeed @ 38327e0, DeepSpeed-MII @ d100a85) and
# CTranslate2 / faster-whisper (OpenNMT/CTranslate2 @ 0d8bcd3); what the catalogue matched already is left out
_RUNTIMES: dict[str, tuple[tuple, ...]] = {
    "engine-version-mismatch": (
        # TensorRT runtime (libnvinfer, deserializeCudaEngine; pytorch/TensorRT#3090, TensorRT >= 8.6): a plan built on
        # another OS / CPU platform (x86_64 vs aarch64, Linux vs Windows) than the serving host's
        ("Platform specific tag mismatch detected",
         r"Platform specific tag mismatch detected\.?(?: TensorRT plan files are only supported on the target runtime "
         r"platform they were created on)?"),
        # TensorRT runtime (runtime.cpp::deserializeCudaEngine, "Error Code 4: Internal Error (Engine deserialization
        # failed.)"), logged after the reason (version / magic / platform tag, a missing plugin): weak on its own
        ("Engine deserialization failed", r"Error Code 4: Internal Error \(Engine deserialization failed\.?\)",
         "weak"),
        # TensorRT 7 runtime (NVIDIA/TensorRT#1384, #955): the same wrap-up line of a failed deserialisation
        ("Deserialize the cuda engine failed", r"INVALID_CONFIG: Deserialize the cuda engine failed", "weak"),
        # CTranslate2 src/models/model.cc check_version (Model::load): model.bin converted by a newer CTranslate2 than
        # the image's (a plausible small version; the huge ones are not CTranslate2 files at all, below)
        (("Unsupported model binary version", "Unsupported model revision"),
         r"Unsupported model (?:binary version|revision)\. This executable supports models with (?:binary version|"
         r"revision) v(?P<supported>\d+) or below, but the model has (?:binary version|revision) v(?P<model>\d{1,3})\."),
        # OpenVINO IR frontend (src/frontends/ir/src/ir_deserializer.cpp; Inference Engine's ie_ir_parser.cpp before
        # 2022), as OVMS logs it at model load: the IR was written by a newer converter with an opset the runtime
        # does not know (an old runtime's message ends after the id); 'extension' is an unloaded custom op (below)
        ("Cannot create ",
         r"Cannot create (?P<type>\w+) layer (?P<layer>\S+) id:(?P<id>\d+)(?: from unsupported opset: "
         r"(?P<opset>opset\d+)\b|\s*$)", "likely"),
    ),
    "corrupt-model-archive": (
        # CTranslate2 src/models/model.cc check_version: model.bin is not a CTranslate2 file -- v1936876918 is the
        # bytes "vers" of a git-lfs pointer (a clone without git-lfs: SYSTRAN/faster-whisper#302, collabora/
        # WhisperLive#259); other 4+ digit versions are garbage (67324752, a zip, is the rule below)
        ("Unsupported model binary version",
         r"Unsupported model binary version\. This executable supports models with binary version v\d+ or below, "
         r"but the model has binary version v(?!67324752\b)(?P<model>\d{4,})\.", "likely"),
        # CTranslate2 src/models/model.cc report_stream_error (Model::load): model.bin is shorter than its header says
        # (an interrupted download or copy)
        ("is incomplete: failed to read a",
         r"File (?P<file>\S+) is incomplete: failed to read a \w+ of size \d+ at position \d+", "likely"),
    ),
    "unsupported-model-architecture": (
        # CTranslate2 src/models/model.cc check_version: binary version v67324752 is "PK\x03\x04", a zip -- a PyTorch
        # checkpoint renamed model.bin instead of one converted with ct2-transformers-converter (dmMaze/
        # BallonsTranslator#869, SubtitleEdit#8471)
        ("Unsupported model binary version",
         r"Unsupported model binary version\. .*but the model has binary version v67324752\b", "likely"),
        # TensorRT runtime (pluginV2Runner / safeDeserializationUtils, on deserialising a plan): the engine uses a
        # plugin layer whose library the serving process has not loaded (libnvinfer_plugin, a custom .so, TensorRT-
        # LLM's plugins) -- NVIDIA/TensorRT#263, tao-toolkit-triton-apps#10
        ("getPluginCreator could not find", r"getPluginCreator could not find [Pp]lugin:? (?P<plugin>\w+)", "likely"),
        ("Cannot deserialize plugin since corresponding IPluginCreator not found",
         r"Cannot deserialize plugin since corresponding IPluginCreator not found in Plugin Registry", "likely"),
        # TensorRT ONNX parser (parsers/onnx onnxOpCheckers.cpp / builtin_op_importers.cpp importFallbackPluginImporter):
        # an ONNX op TensorRT has no importer for and no plugin of that name is registered
        ("Plugin not found, are the plugin name, version, and namespace correct?",
         r"Plugin not found, are the plugin name, version, and namespace correct\?", "likely"),
        # TensorRT ONNX parser ModelImporter.cpp (releases before 8: an error; later ones go on "Attempting to import
        # as plugin", an INFO line that does not match)
        ("No importer registered for op: ",
         r"No importer registered for op: (?P<op>\w+)(?!\. Attempting to import as plugin)(?:\s|$)", "likely"),
        # OpenVINO IR frontend (ir_deserializer.cpp): an op of an extension opset (openvino-tokenizers' ops, a custom
        # layer) whose extension library the runtime / server did not load
        ("from unsupported opset: extension",
         r"Cannot create (?P<type>\w+) layer (?P<layer>\S+) id:(?P<id>\d+) from unsupported opset: extension",
         "likely"),
        # OpenVINO CPU plugin src/plugins/intel_cpu/src/node.cpp NodesFactory::create (compile_model, as OVMS logs it
        # in "Cannot compile model into target device; error: ..."): an op the CPU plugin has no implementation for
        ("Unsupported operation of type: ",
         r"Unsupported operation of type: (?P<op>\w+) name: ?(?P<name>\S+)", "likely"),
    ),
    "gpu-architecture-mismatch": (
        # DeepSpeed op_builder/builder.py CUDAOpBuilder.compute_capability_args: every GPU's compute capability was
        # filtered out by the op (FastGen's ragged / inference-core ops need Ampere; DeepSpeed-MII#273, #263 on V100)
        ("no compute capabilities remaining after filtering",
         r"Unable to load (?P<op>\w+) op due to no compute capabilities remaining after filtering", "likely"),
        # DeepSpeed op_builder/inference_core_ops.py, ragged_ops.py, transformer_inference.py is_compatible: the
        # warning that precedes the failed JIT load on an older GPU (DeepSpeed-MII#437)
        ("NVIDIA Inference is only supported on",
         r"NVIDIA Inference is only supported on (?P<arch>Ampere|Pascal) and newer architectures", "likely"),
        # CTranslate2 src/types.cc resolve_compute_type (model load): bfloat16 needs compute capability 8.0+
        ("Requested bfloat16 compute type",
         r"Requested bfloat16 compute type, but the target device or backend do not support efficient bfloat16 "
         r"computation", "likely"),
    ),
    "model-config-invalid": (
        # CTranslate2 src/types.cc resolve_compute_type (WhisperModel / Translator / Generator construction): the
        # compute_type asked for is not one this device runs -- float16 on a CPU instance or a GPU without FP16 tensor
        # cores (faster-whisper#14, whisperX#878); the automatic-fallback warning ("The compute type inferred from the
        # saved model is ...") does not match
        ("compute type, but the target device or backend do not support efficient",
         r"Requested (?P<compute_type>float16|int8_float16|int8_bfloat16|int8_float32|int8|int16) compute type, but "
         r"the target device or backend do not support efficient", "likely"),
        # DeepSpeed deepspeed/module_inject/containers/base.py (init_inference with kernel injection): mp_size /
        # tensor_parallel does not divide the model's attention heads
        ("the attention_heads require to be divisible by the world_size",
         r"the attention_heads require to be divisible by the world_size"),
        # DeepSpeed-MII mii/config.py _allocate_devices (mii.serve): tensor_parallel × replica_num needs more GPUs than
        # the host has
        ("replicas were requested", r"Only able to place (?P<placed>\d+) replicas, but (?P<requested>\d+) replicas "
                                    r"were requested", "likely"),
        # OpenVINO src/inference/src/dev/core_impl.cpp get_plugin: target_device names a device plugin the runtime
        # does not have (a typo or lower-case name, MYRIAD / HDDL dropped since 2023, a stripped image)
        ("name is not registered in the OpenVINO Runtime",
         r"Device with \"(?P<device>[^\"]+)\" name is not registered in the OpenVINO Runtime", "likely"),
    ),
    "server-config-invalid": (
        # OVMS src/grpcservermodule.cpp / src/httpservermodule.cpp (Status FAILED_TO_START_GRPC_SERVER / _REST_SERVER
        # with its details): the port is taken or the bind address is wrong (model_server#3258)
        (("Failed to start gRPC server", "Failed to start REST server"),
         r"Failed to start (?:gRPC|REST) server - at (?P<address>\S+)(?: - port is busy)?", "likely"),
        # OVMS src/schema.cpp parseConfig and src/modelmanager.cpp loadConfig: config.json cannot be opened, is not
        # JSON, or does not follow the model_config_list schema
        ("Configuration file is not a valid JSON file", r"Configuration file is not a valid JSON file"),
        ("Configuration file is not in valid configuration format",
         r"Configuration file is not in valid configuration format"),
        ("Configuration file is invalid", r"Configuration file is invalid (?P<path>\S+\.json)\b", "likely"),
        # OVMS src/config.cpp Config::validate (start-up, before any model): contradictory or out-of-range settings
        (("port and rest_port cannot", "Model parameters in CLI are exclusive with the config file",
          "Use config_path or model_path with model_name", "Use either config_path or model_path with model_name",
          "number out of range from 0 to", "has invalid format: proper hostname or IP address expected"),
         r"port and rest_port cannot (?:have the same values|both be unset)|Model parameters in CLI are exclusive with "
         r"the config file|Use (?:either )?config_path or model_path with model_name|(?:rest_)?port number out of range "
         r"from 0 to \d+|(?:rest|grpc)_bind_address has invalid format: proper hostname or IP address expected"),
        # OVMS src/cli_parser.cpp: an argument ovms does not take (`serve`: the image rule below)
        ("error parsing options - unmatched arguments",
         r"error parsing options - unmatched arguments\s*: (?!serve\b)(?P<arguments>\S.*)", "likely"),
        # the same parser (cxxopts' own exception text, as OVMS prints it): an option this release does not have
        # (one documented on main before its release, --source_model in model_server#3405)
        ("error parsing options: Option ", r"error parsing options: Option [‘'`]?(?P<option>[\w-]+)[’'`]? does not exist"),
    ),
    "image-not-sagemaker-compatible": (
        # OVMS src/cli_parser.cpp: the plain openvino/model_server image deployed as is, its entrypoint hands
        # SageMaker's `serve` argument to ovms
        ("error parsing options - unmatched arguments",
         r"error parsing options - unmatched arguments\s*: serve\b", "likely"),
    ),
    "model-file-not-found": (
        # OVMS src/modelmanager.cpp readAvailableVersions (repeated each config poll): the model's base_path has no
        # numbered version folder (files at its top, or a folder named 0 / v1) -- model_server#630, #2968
        ("No version found for model in path", r"No version found for model in path: (?P<path>\S+)", "likely"),
        # OVMS src/modelinstance.cpp fetchModelFilepaths: the version folder holds no .xml/.bin, .onnx, saved_model.pb,
        # .tflite or .pdmodel file
        ("no valid model file found for model",
         r"Error loading model: no valid model file found for model: (?P<model>[^,]+), version: (?P<version>\d+), "
         r"path: (?P<path>\S+)"),
        # OVMS src/modelinstance.cpp fetchModelFilepaths: an IR .xml without its .bin (or a Paddle model half there)
        (("Missing .bin file for", "Missing .pdmodel or .pdiparams file for"),
         r"Error loading model\. Missing (?:\.bin|\.pdmodel or \.pdiparams) file for: (?P<path>\S+)"),
        # OVMS src/modelinstance.cpp fetchModelFilepaths: the version folder is gone
        ("Missing model directory", r"Missing model directory (?P<path>\S+)"),
        # CTranslate2 src/models/model_reader.cc get_required_file: the model directory lacks model.bin (or
        # config.json): a Hugging Face checkpoint not converted, a wrong folder
        ("Unable to open file '", r"Unable to open file '(?P<file>[^']+)' in model '(?P<model>[^']+)'"),
    ),
    "gpu-image-on-cpu-host": (
        # OpenVINO GPU plugin src/plugins/intel_gpu/src/plugin/plugin.cpp: target_device GPU where no Intel GPU is
        # visible (no /dev/dri passed to the container, no driver, or an NVIDIA-only host)
        ("as no supported devices found or an error happened during devices query",
         r"\[GPU\] Can't get (?P<property>\w+) property as no supported devices found or an error happened during "
         r"devices query", "likely"),
        # OpenVINO GPU plugin (clDNN, releases before 2022)
        ("No GPU device was found", r"\[CLDNN ERROR\]\. No GPU device was found", "likely"),
        # CTranslate2 src/cuda/utils.h CUDA_CHECK (device="cuda"): cudaErrorNoDevice
        ("CUDA failed with error no CUDA-capable device is detected",
         r"CUDA failed with error no CUDA-capable device is detected", "likely"),
        # TensorRT runtime (libnvinfer's CUDA check, "Error Code 1: Cuda Runtime (...)") and its init check with
        # cudaErrorNoDevice (100)
        ("Cuda Runtime (no CUDA-capable device is detected)",
         r"Cuda Runtime \(no CUDA-capable device is detected\)", "likely"),
        (("CUDA initialization failure with error", "Cuda initialization failure with error"),
         r"[Cc](?:UDA|uda) initialization failure with error:? 100\b", "likely"),
    ),
    "cuda-driver-mismatch": (
        # TensorRT runtime (createInferBuilder / createInferRuntime, NVIDIA/TensorRT#2879, isarsoft/yolov4-triton-
        # tensorrt#2): CUDA init fails with cudaErrorInsufficientDriver (35) or cudaErrorUnsupportedPtxVersion (222) --
        # the host driver is older than the image's CUDA
        (("CUDA initialization failure with error", "Cuda initialization failure with error"),
         r"[Cc](?:UDA|uda) initialization failure with error:? (?P<code>35|222)\b", "likely"),
        # CTranslate2 src/devices.cc str_to_device: device="cuda" with a CPU-only CTranslate2 wheel (macOS, aarch64,
        # a source build) -- open-webui#18858, CTranslate2#1908
        ("This CTranslate2 package was not compiled with CUDA support",
         r"This CTranslate2 package was not compiled with CUDA support"),
        # DeepSpeed op_builder/builder.py assert_no_cuda_mismatch (JIT build of the inference kernels): the image's
        # CUDA toolkit is not the one torch was built with (the "accepting this combination" note does not match)
        ("unable to compile cuda/cpp extensions without a matching cuda version",
         r"Installed CUDA version (?P<system>[\d.]+) does not match the version torch was compiled with "
         r"(?P<torch>[\d.]+), unable to compile cuda/cpp extensions without a matching cuda version"),
        # DeepSpeed op_builder/builder.py installed_cuda_version: no CUDA toolkit (nvcc) in the image to JIT-build
        # kernels (a -runtime base image; also a CPU host) -- DeepSpeed#2337, #2772
        ("CUDA_HOME does not exist, unable to compile CUDA op(s)",
         r"CUDA_HOME does not exist, unable to compile CUDA op\(s\)", "likely"),
    ),
    "import-error": (
        # CTranslate2 src/cuda/cublas_stub.cc (and its NCCL / MPI stubs): the CUDA library the wheel was built against
        # is not in the image (ctranslate2 4.x needs CUDA 12's cuBLAS; faster-whisper#717, GPT-SoVITS#727)
        ("is not found or cannot be loaded",
         r"Library (?P<library>(?:lib\w+\.so[\w.]*|\w+\.dll)) is not found or cannot be loaded", "likely"),
    ),
    "missing-module": (
        # DeepSpeed op_builder/builder.py OpBuilder.jit_load: kernels are JIT-built and ninja is not installed
        ("due to ninja not being installed",
         r"Unable to JIT load the (?P<op>\w+) op due to (?P<module>ninja) not being installed"),
        # torch utils/cpp_extension.py verify_ninja_availability (the same JIT build, DeepSpeed or another library)
        ("Ninja is required to load C++ extensions", r"(?P<module>Ninja) is required to load C\+\+ extensions", "likely"),
    ),
    "cuda-out-of-memory": (
        # TensorRT builder / runtime (libnvinfer; torch2trt#661, NVIDIA/TensorRT#840): device memory exhausted while
        # building or loading an engine ("Requested amount of memory" in TensorRT 7, also on Jetson's shared memory)
        ("Requested amount of GPU memory",
         r"Requested amount of GPU memory \((?P<bytes>\d+) bytes\) could not be allocated"),
        ("Requested amount of memory (",
         r"Requested amount of memory \((?P<bytes>\d+) bytes\) could not be allocated", "likely"),
        ("allocate: 2 (out of memory)", r"Cuda Error in [\w:]*allocate: 2 \(out of memory\)"),
        (("OutOfMemory Error in", "Error Code 2: OutOfMemory"),
         r"OutOfMemory Error in \w+|Error Code 2: OutOfMemory", "likely"),
        # CTranslate2 src/cuda/utils.h CUDA_CHECK: cudaErrorMemoryAllocation's text (SoniTranslate#88)
        ("CUDA failed with error out of memory", r"CUDA failed with error out of memory"),
    ),
    "model-fn-error": (
        # OVMS src/modelinstance.cpp loadOVCompiledModel: compile_model failed; the error after it says why (its own
        # rules above name the causes they know)
        ("Cannot compile model into target device",
         r"Cannot compile model into target device; error: (?P<message>.*?); model: (?P<model>[^;]+); version: "
         r"(?P<version>\d+); device: (?P<device>\S+)", "weak"),
        # OVMS src/llm/servable_initializer.cpp: an LLM graph's model (openvino_genai pipeline) did not load
        ("Error during llm node initialization for models_path",
         r"Error during llm node initialization for models_path: (?P<path>\S+?)(?: exception: (?P<message>.*))?$",
         "weak"),
    ),
}

SERVER_RULES: RuleTable = merged_rules(_TORCHSERVE_MMS, _TORCHSERVE_LAUNCH, _CLASSIC, _RUNTIMES)
