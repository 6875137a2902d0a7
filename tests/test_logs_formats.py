"""Purpose-built lines for the containers and forms the real-log corpus lacks, written in each software's own
format (read from its sources or its documented output):

- TorchServe 0.3-era ``org.pytorch.serve.wlm.WorkerLifeCycle -`` worker lines (the corpus has 0.12 and MMS);
- TensorFlow Serving's glog lines from ``tensorflow_model_server`` (the corpus has only its loader error);
- Triton's glog lines, DJL/LMI's ``PyProcess W-…:`` lines, Hugging Face TGI's launcher lines (none in the corpus);
- gunicorn's SIGKILL / signal 9 lines, the kernel's ``Killed``, CUDA OOM, TF OOM (the corpus has JVM OOM only);
- CUDA/driver mismatches, and the CUDA *warnings* healthy CPU containers print (never a cause);
- pip failures in their other forms (egg_info old and new, wheels, truncated CalledProcessError, resolver
  notice that is not a failure), entry-script problems (module ``None``, SAGEMAKER_PROGRAM named in the log);
- the CloudWatch JSON export and a blockquoted paste.

Every rule of the catalogue is exercised by at least one example here or in the corpus (checked below).
"""

from __future__ import annotations

import json

import pytest
from endpoint_runbook.logs import SIGNATURES, LogEvent, evidence_from_events, evidence_from_text, match_text
from endpoint_runbook.logs.lines import _split
from endpoint_runbook.logs.scoring import source_rule_lines

TS3 = "2021-03-02 10:11:12,345 [INFO ] W-9000-model_1.0-stdout org.pytorch.serve.wlm.WorkerLifeCycle - "
TS12 = "2026-11-28T14:37:14,873 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - "
MMS = "2019-11-11 16:31:06,305 [INFO ] W-9000-model-stdout com.amazonaws.ml.mms.wlm.WorkerLifeCycle - "
DJL = "2024-05-01T10:00:00.123Z INFO  PyProcess W-218-model-stdout: "
GLOG = "2023-06-01 10:00:00.000123: "
TRITON = "I0601 10:00:00.123456 1 "
GUNI = "[2024-03-01 10:00:00 +0000] [42] "

# (line, code it must produce). One line each unless a list.
EXAMPLES: list[tuple[str | list[str], str]] = [
    # the platform, scikit-learn / XGBoost / NumPy versions, pip, pickle, runc: the software's own words
    ("Failed. Reason: Unable to locate at least 2 availability zone(s) with the requested instance type "
     "ml.p4d.24xlarge that overlap with SageMaker subnets.", "insufficient-capacity"),
    ("standard_init_linux.go:228: exec user process caused: exec format error", "wrong-architecture"),
    # TorchServe's and MMS's frontends (model-server.jar) and MMS's services: their own start-up messages
    ("java.io.IOException: Failed to bind to address: http://0.0.0.0:8080", "server-config-invalid"),
    ('  "message": "Token Authorization failed. Token either incorrect, expired, or not provided correctly"',
     "server-config-invalid"),
    ('{"code": 400, "type": "InvalidKeyException", "message": "Token Authentication failed. Token either incorrect, '
     'expired, or not provided correctly"}', "server-config-invalid"),
    ("2024-03-01T10:00:00,000 [WARN ] main org.pytorch.serve.ModelServer - Model store path is not found: "
     "/opt/ml/model/model-store", "model-file-not-found"),
    ("RuntimeError: Signature file is not found. Please put signature.json into the model file directory.",
     "model-file-not-found"),
    ("2024-03-01T10:00:00,000 [ERROR] main org.pytorch.serve.wlm.ModelManager - Virtual environment creation for "
     "model resnet at /home/model-server/tmp/models/abc/venv failed:", "requirements-install-failed"),
    ("org.pytorch.serve.archive.model.ModelException: Virtual environment creation failed for model resnet",
     "requirements-install-failed"),
    ("org.pytorch.serve.archive.model.InvalidModelException: Failed to parse model config yaml file.",
     "model-config-invalid"),
    ("org.pytorch.serve.archive.model.InvalidModelException: Missing Model entry in manifest file.",
     "model-config-invalid"),
    ("com.amazonaws.ml.mms.archive.InvalidModelException: Missing manifest file in model archive.",
     "model-config-invalid"),
    ("com.amazonaws.ml.mms.archive.InvalidModelException: Missing Service entry in MANIFEST.json",
     "model-config-invalid"),
    # Rust's io::Error (TGI, TEI) as Display and as Debug
    ('Error: Io(Os { code: 30, kind: ReadOnlyFilesystem, message: "Read-only file system" })', "permission-denied"),
    ("Error: failed to create /opt/ml/model/model.safetensors: Read-only file system (os error 30)",
     "permission-denied"),
    ('{"error": "module \'tensorflow\' has no attribute \'Session\'"}', "import-error"),
    ("ValueError: model_type: falcon is not currently supported by DeepSpeed", "unsupported-model-architecture"),
    ('Error parsing text-format tensorflow.SavedModel: 12:3: Message type "tensorflow.FunctionDef" has no field named '
     '"arg_attr".', "framework-version-mismatch"),
    ("[E 220101 10:00:00 __main__:37] fail to load model m from dir /mnt/models. exception type <class "
     "'RuntimeError'>, exception msg: Missing Model File.", "model-file-not-found"),
    ("  message: 'Usage of EmptyDir volume \"models-dir\" exceeds the limit \"1536Mi\". '", "disk-full"),
    ("Warning  Evicted  pod/m-predictor  The node was low on resource: ephemeral-storage. Container kserve-container "
     "was using 12Gi, which exceeds its request of 0.", "disk-full"),
    ("Loading servable: {name: m version: 1} failed: Not found: Op type not registered 'PyFunc' in binary running on "
     "host.", "unsupported-model-architecture"),
    ("--model-store directory not found: model_store", "server-config-invalid"),
    ("java.lang.NoSuchMethodError: java.nio.file.Files.readString(Ljava/nio/file/Path;)Ljava/lang/String;",
     "import-error"),
    ("Exception in thread \"main\" java.lang.UnsupportedClassVersionError: org/pytorch/serve/ModelServer has been "
     "compiled by a more recent version of the Java Runtime (class file version 55.0)", "import-error"),
    ("Caused by:\n    Could not start backend: cannot find tensor encoder.layer.0.mlp.gated_layers.weight",
     "unsupported-model-architecture"),
    ("Error: Failed to parse `config.json`", "unsupported-model-architecture"),
    ("E0327 01:23:03.176953 1 model_repository_manager.cc:1682] unexpected platform type caffe2_netdef for m",
     "unsupported-model-architecture"),
    ("ERROR text_embeddings_backend: backends/src/lib.rs:481: Could not start Candle backend: Could not start backend: "
     "Gemma3 is only supported in fp32 precision", "model-config-invalid"),
    ("E0327 01:23:03.175862 1 pinned_memory_manager.cc:202] failed to allocate pinned system memory: CUDA driver "
     "version is insufficient for CUDA runtime version", "cuda-driver-mismatch"),
    ("RuntimeError: Found Tesla P40 which is too old to be supported by the triton GPU compiler, which is used as the "
     "backend. Triton only supports devices of CUDA Capability >= 7.0, but your device is of CUDA capability 6.1",
     "gpu-architecture-mismatch"),
    ("2024-Dec-07 03:32:36.0995    12:1350  ERROR  NEFF:neff_parse                              NEFF version: 2.0, "
     "features: 0x100 are not supported.  Currently supporting: 0x800000000000001f", "engine-version-mismatch"),
    ("2024-Dec-07 03:32:36.0995    12:1350  ERROR   NRT:nrt_allocate_neuron_cores               NeuronCore(s) not "
     "available - Requested:nc0-nc0 Available:0", "model-config-invalid"),
    ("RuntimeError: Unknown builtin op: neuron::forward_1.", "model-fn-error"),
    ("ResolvePackageNotFound:\n  - python=3.5.2", "requirements-install-failed"),
    ('time="2022-12-05T15:46:04Z" level=error msg="Failed to handle load model iris:1" Name=Client error="lstat '
     '/mnt/agent/rclone/1495806312: no such file or directory"', "model-file-not-found"),
    ("Memory limit of 2048M exceeded with 2126M used. Consider increasing the memory limit, see "
     "https://cloud.google.com/run/docs/configuring/memory-limits", "out-of-memory"),
    ("Ran out of memory (used over 512MB) while running your code.", "out-of-memory"),
    ("trtserver: engine.cpp:1104: Assertion `size >= bsize && \"Mismatch between allocated memory size and expected "
     "size of serialized engine.\"' failed.", "engine-version-mismatch"),
    ("failed to load 'model_onnx' version 1: Unsupported: Unsupported ONNX Type 'ONNX_TYPE_SEQUENCE' for I/O "
     "'output_probability', expected 'ONNX_TYPE_TENSOR'", "unsupported-model-architecture"),
    ("[TensorRT-LLM][ERROR] Assertion failed: mpiSize == tp * pp (/app/tensorrt_llm/cpp/tensorrt_llm/runtime/"
     "worldConfig.cpp:80)", "model-config-invalid"),
    ("UNAVAILABLE: Not found: unable to load shared library: /opt/tritonserver/backends/tensorrtllm/"
     "libtriton_tensorrtllm.so: undefined symbol: _ZNK12tensorrt_llm8executor8Response11getErrorMsgB5cxx11Ev",
     "import-error"),
    ("ValueError: Tokenizer class BaichuanTokenizer does not exist or is not currently imported.",
     "unsupported-model-architecture"),
    # ... but a model_fn's own AttributeError on a module stays the model_fn's error (the JSON form above is the TF
    # Serving container's failed import)
    ([TS12 + "Traceback (most recent call last):",
      TS12 + '  File "/opt/conda/lib/python3.10/site-packages/sagemaker_inference/transformer.py", line 184, in '
             "validate_and_initialize",
      TS12 + "    self._model = self._run_handler_function(self._model_fn, *(model_dir,))",
      TS12 + '  File "/opt/ml/model/code/inference.py", line 12, in model_fn',
      TS12 + "    model = torch.frobnicate(model_dir)",
      TS12 + "AttributeError: module 'torch' has no attribute 'frobnicate'"], "model-fn-error"),
    # Hugging Face tokenizers reading a tokenizer.json from a newer release; transformers finding no weight file
    ("Exception: data did not match any variant of untagged enum ModelWrapper at line 250373 column 3",
     "framework-version-mismatch"),
    (TS12 + "OSError: Error no file named pytorch_model.bin, tf_model.h5, model.ckpt.index or flax_model.msgpack found "
            "in directory /opt/ml/model.", "model-file-not-found"),
    # a module inside the image's own serving stack (its package is there): the stack's parts do not fit; a model's
    # own dotted import stays a missing module
    ("ModuleNotFoundError: No module named 'vllm.entrypoints.openai.protocol'", "toolkit-bug"),
    (TS12 + "ModuleNotFoundError: No module named 'mypkg.layers'", "missing-module"),
    # crun's (podman's) exec of a binary built for another architecture
    ('{"msg":"exec container process `/usr/local/bin/serve`: Exec format error","level":"error"}', "wrong-architecture"),
    # Triton's S3 client that cannot even be created (no route to S3) is no download timing out
    ("error: creating server: Internal - Unable to create S3 filesystem client. Check account credentials. "
     "Exception: '' Message: 'curlCode: 28, Timeout was reached'", "network-unreachable"),
    ("E0101 00:00:00.000000 1 model_repository_manager.cc:1](model) failed to load 'bert' version 1: Internal: "
     "Failed to get object at s3://bucket/repo/bert/1/model.onnx due to exception: , error message: curlCode: 28, "
     "Timeout was reached.", "model-download-timeout"),
    # `python -m` of the image's own entrypoint module that is not there (a volume over the package's folder)
    ("/usr/bin/python3: Error while finding module specification for 'acme_server.api' (ModuleNotFoundError: No "
     "module named 'acme_server')", "missing-entry-script"),
    # an engine's own serving code importing what its image lacks: the image's defect, not a package to add
    (["Traceback (most recent call last):",
      '  File "/opt/conda/lib/python3.11/site-packages/text_generation_server/layers/attention/__init__.py", line 9, in '
      "<module>",
      "    from .flashinfer import attention",
      '  File "/opt/conda/lib/python3.11/site-packages/text_generation_server/layers/attention/flashinfer.py", line 5, '
      "in <module>",
      "    import flashinfer",
      "ModuleNotFoundError: No module named 'flashinfer'"], "toolkit-bug"),
    ("bentoml.exceptions.NotFound: no Models with name 'ranker' exist in BentoML store <osfs '/home/bentoml/bento/"
     "models'>", "model-file-not-found"),
    ("error: unexpected argument '--max-batch-prefill-tokens 4096' found", "server-config-invalid"),
    ('details = "Received message larger than max (9437184 vs. 4194304)"', "bad-request"),
    ("E0213 08:38:03.190242 56095 model_repository_manager.cc:834] failed to load 'det' version 1: Invalid argument: "
     "unexpected configuration maximum batch size 32 for 'det_0_gpu0', model maximum is 1 as model does not contain "
     "an implicit batch dimension", "model-config-invalid"),
    ('  "message": "Prediction failed"', "invocation-error"),
    # a weak cause's words in the exception line stand beside what the frames say, never instead of it: the
    # model_fn failed (the Hub's 404 names no certain cause: a private repository, a wrong id, no token)
    ([TS12 + "Traceback (most recent call last):",
      TS12 + '  File "/opt/conda/lib/python3.10/site-packages/sagemaker_inference/transformer.py", line 184, in '
             "validate_and_initialize",
      TS12 + "    self._model = self._run_handler_function(self._model_fn, *(model_dir,))",
      TS12 + '  File "/opt/ml/model/code/inference.py", line 9, in model_fn',
      TS12 + "    tok = AutoTokenizer.from_pretrained(MODEL_ID)",
      TS12 + "requests.exceptions.HTTPError: 404 Client Error: Repository Not Found for url: "
             "https://huggingface.co/api/models/acme/ranker"], "model-fn-error"),
    # optimum-neuron, SageMaker's asynchronous inference, MMS 0.x
    ("RuntimeError: Pretrained model is compiled with neuronx-cc(2.14.213.0+013d129b) newer than current compiler "
     "(2.13.66.0+6dfecc895), which may cause runtime incompatibilities.", "engine-version-mismatch"),
    ("2024-11-16T23:22:06.943:[sagemaker logs] [a1b2c3] The response from container primary did not specify the "
     "required Content-Length header", "toolkit-bug"),
    ("[ERROR 2018-05-11 03:19:46,356 PID:12 /usr/local/lib/python3.6/dist-packages/mms/mxnet_model_server.py:"
     "_arg_process:177] Failed to process arguments: Incorrect or missing service file: /models/m/service.py",
     "missing-entry-script"),
    ("xgboost.core.XGBoostError: [10:01:02] ../src/learner.cc:859: Check failed: header == serialisation_header_: "
     "If you are loading a serialized model (like pickle in Python, RDS in R) generated by older XGBoost, please "
     "export the model by calling `Booster.save_model` from that version first", "framework-version-mismatch"),
    ("ValueError: node array from the pickle has an incompatible dtype:", "framework-version-mismatch"),
    ("UserWarning: Trying to unpickle estimator DecisionTreeClassifier from version 0.23.2 when using version "
     "1.2.1. This might lead to breaking code or invalid results. Use at your own risk.", "framework-version-mismatch"),
    ("AttributeError: module 'numpy' has no attribute 'float'.", "framework-version-mismatch"),
    ("ValueError: X has 10 features, but RandomForestClassifier is expecting 12 features as input.",
     "invocation-error"),
    ("ValueError: X has 3 features per sample; expecting 4", "invocation-error"),
    ("  ERROR: Failed building wheel for sentencepiece", "requirements-install-failed"),
    ("ERROR: Failed to build installable wheels for some pyproject.toml based projects (tokenizers)",
     "requirements-install-failed"),
    ("OSError: [Errno 30] Read-only file system: '/opt/ml/model/tokenizer_config.json'", "permission-denied"),
    ("botocore.exceptions.NoCredentialsError: Unable to locate credentials", "permission-denied"),
    ("_pickle.UnpicklingError: invalid load key, 'v'.", "corrupt-model-archive"),
    ("safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge", "corrupt-model-archive"),
    ("ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8080): address already in use",
     "server-config-invalid"),
    ("A module that was compiled using NumPy 1.x cannot be run in", "import-error"),
    ("ValueError: numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88 "
     "from PyObject", "import-error"),
    ("AttributeError: Can't get attribute 'new_block' on <module 'pandas.core.internals.blocks' from "
     "'/usr/local/lib/python3.8/site-packages/pandas/core/internals/blocks.py'>", "framework-version-mismatch"),
    ("ModuleNotFoundError: No module named 'numpy._core'", "framework-version-mismatch"),
    ("E0326 10:10:41.293702 1 model_lifecycle.cc:654] failed to load 'model_name' version 1: Invalid argument: "
     "unable to find backend library for backend 'tensorflow', try specifying runtime on the model configuration.",
     "model-config-invalid"),
    ("ValueError: Quantization method specified in the model config (gptq) does not match the quantization method "
     "specified in the `quantization` argument (awq).", "model-config-invalid"),
    ("OSError: Error no file named pytorch_model.bin, tf_model.h5, model.ckpt.index or flax_model.msgpack found in "
     "directory /opt/ml/model.", "model-file-not-found"),
    ("/usr/local/bin/dockerd-entrypoint.py: line 1:    7 Killed                  python -m serve", "out-of-memory"),
    ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", "cuda-out-of-memory"),
    ("TypeError: Object of type ndarray is not JSON serializable", "invocation-error"),
    ("/usr/bin/env: 'python3\\r': No such file or directory", "missing-entry-script"),
    ("/usr/bin/env: ‘python\\r’: No such file or directory", "missing-entry-script"),
    ('docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: '
     'unable to start container process: exec: "serve": permission denied: unknown.', "missing-entry-script"),
    ("/bin/sh: 1: serve: not found", "missing-entry-script"),
    # disk
    ("OSError: [Errno 28] No space left on device", "disk-full"),
    (MMS + "OSError: [Errno 28] while copying", "disk-full"),
    ("npm ERR! code ENOSPC", "disk-full"),
    ("OSError: [Errno 122] Disk quota exceeded: '/tmp/x'", "disk-full"),
    ('ERROR - Failed to save the model-archive to model-path "/.sagemaker/ts/models". Check the file permissions',
     "disk-full"),
    # pip
    ("2024-03-01 10:00:00,000 ERROR - failed to install required packages, exiting", "requirements-install-failed"),
    ("ERROR: No matching distribution found for faiss-gpu==1.7.9", "requirements-install-failed"),
    ("ERROR: Could not find a version that satisfies the requirement torch==9.9 (from versions: 2.1.0)",
     "requirements-install-failed"),
    ("ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied",
     "requirements-install-failed"),
    ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io", "requirements-install-failed"),
    ("ERROR: Cannot install a==1 and b==2 because these package versions have conflicting dependencies.",
     "requirements-install-failed"),
    ("ERROR: Could not build wheels for pycocotools, which is required to install pyproject.toml-based projects",
     "requirements-install-failed"),
    ("ERROR: Invalid requirement: 'numpy=1.26'", "requirements-install-failed"),
    ("ERROR: Could not open requirements file: [Errno 2] No such file or directory: 'requirements.txt'",
     "requirements-install-failed"),
    (['Collecting pycocotools==2.0.0', 'Command "python setup.py egg_info" failed with error code 1 in '
      '/tmp/pip-build-3hjs0f/pycocotools/'], "requirements-install-failed"),
    (["Collecting detectron2", "  × python setup.py egg_info did not run successfully."],
     "requirements-install-failed"),
    ("error: metadata-generation-failed", "requirements-install-failed"),
    ("sagemaker_containers._errors.InstallModuleError: InstallModuleError:", "requirements-install-failed"),
    ("sagemaker_training.errors.InstallRequirementsError: InstallRequirementsError:", "requirements-install-failed"),
    ("2024-03-01T10:00:00,000 [ERROR] main org.pytorch.serve.wlm.ModelManager - Custom pip package installation "
     "failed for model", "requirements-install-failed"),
    ("subprocess.CalledProcessError: Command '['/opt/conda/bin/python3.10', '-m', 'pip', 'install', '-r', "
     "'/opt/ml/model/code/requirem", "requirements-install-failed"),
    # import time
    ([TS3 + "  File \"/opt/ml/model/code/inference.py\", line 4", TS3 + "    def model_fn(model_dir)",
      TS3 + "SyntaxError: invalid syntax"], "syntax-error"),
    (TS3 + "IndentationError: unexpected indent", "syntax-error"),
    (TS3 + "TabError: inconsistent use of tabs", "syntax-error"),
    (DJL + "ModuleNotFoundError: No module named 'peft'", "missing-module"),
    (TS3 + "ImportError: libGL.so.1: cannot open shared object file: No such file or directory", "import-error"),
    ("OSError: /opt/conda/lib/libtorch_cuda.so: undefined symbol: cudaGraphDebugDotPrint", "import-error"),
    (TS12 + "OSError: libcudart.so.12: cannot open shared object file: No such file or directory", "import-error"),
    # CUDA
    (TS12 + "RuntimeError: CUDA driver version is insufficient for CUDA runtime version", "cuda-driver-mismatch"),
    (TS12 + "RuntimeError: The NVIDIA driver on your system is too old (found version 11040).",
     "cuda-driver-mismatch"),
    ("RuntimeError: CUDA error: forward compatibility was attempted on non supported HW", "cuda-driver-mismatch"),
    ("RuntimeError: CUDA error: no kernel image is available for execution on the device", "gpu-architecture-mismatch"),
    ("RuntimeError: Found no NVIDIA driver on your system.", "gpu-image-on-cpu-host"),
    ("AssertionError: Torch not compiled with CUDA enabled", "cuda-driver-mismatch"),
    ("CUDA error: system has unsupported display driver / cuda driver combination", "cuda-driver-mismatch"),
    ("cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "cuda-driver-mismatch"),
    # entry script
    (TS12 + "ModuleNotFoundError: No module named 'None'", "missing-entry-script"),
    (["SAGEMAKER_PROGRAM=predictor_v2.py", TS12 + "ModuleNotFoundError: No module named 'predictor_v2'"],
     "missing-entry-script"),
    (TS12 + "ModuleNotFoundError: No module named 'inference'", "missing-entry-script"),
    ("ValueError: Task couldn't be inferenced from BertModel. Inference Toolkit can only inference tasks from "
     "architectures ending with ['TapasForQuestionAnswering']. Use env 'HF_TASK' to define your task. You need to "
     "define one of the following ['text-classification'] as env 'HF_TASK'.", "default-handler-used"),
    ('docker: Error response from daemon: exec: "serve": executable file not found in $PATH', "missing-entry-script"),
    ("python: can't open file '/opt/ml/code/serve.py': [Errno 2] No such file or directory",
     "missing-entry-script"),
    ("FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/model/code/inference.py'",
     "missing-entry-script"),
    (TS12 + "FileNotFoundError: Failed to load model with default model_fn: missing file model.pt.",
     "model-file-not-found"),
    (TS12 + "NotImplementedError: Please provide a model_fn implementation.", "default-handler-used"),
    (TS12 + "ValueError: Exactly one .pth or .pt file is required for PyTorch models: []", "default-handler-used"),
    # model load
    (TS12 + "TypeError: model_fn() missing 1 required positional argument: 'context'", "model-fn-error"),
    (TS12 + "TypeError: model_fn takes 3 arguments but 1 were given.", "model-fn-error"),
    ("2026-11-28T14:37:14,873 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Failed to load model model, exception "
     "unexpected key in state_dict", "model-fn-error"),
    (GLOG + "E tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc:365] FileSystemStoragePath"
     "Source encountered a filesystem access error: No versions of servable model found under base path "
     "/opt/ml/model/1", "model-file-not-found"),
    (GLOG + "E tensorflow_serving/util/retrier.cc:37] Loading servable: {name: model version: 1} failed: "
            "Not found: Could not find SavedModel .pb or .pbtxt at supplied export directory path",
     "model-file-not-found"),
    ("E0601 10:00:00.123456 1 model_lifecycle.cc:621] failed to load 'resnet' version 1: Invalid argument: "
     "model 'resnet', tensor 'input': the model expects 4 dimensions", "model-fn-error"),
    ("ai.djl.engine.EngineException: Failed to initialize model: CUDA error", "model-fn-error"),
    ("ai.djl.repository.zoo.ModelNotFoundException: No matching model with specified Input/Output type found.",
     "model-fn-error"),
    # memory
    (GUNI + "[ERROR] Worker (pid:51) was sent SIGKILL! Perhaps out of memory?", "out-of-memory"),
    (GUNI + "[WARNING] Worker with pid 51 was terminated due to signal 9", "out-of-memory"),
    ("Killed", "out-of-memory"),
    ("[12345.678] Out of memory: Killed process 4242 (python) total-vm:32000000kB", "out-of-memory"),
    ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "cuda-out-of-memory"),
    ("RuntimeError: CUDA error: out of memory", "cuda-out-of-memory"),
    ("2026-11-28T14:37:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Out of memory error "
     "when creating workers", "out-of-memory"),
    ("numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.28 TiB for an array", "out-of-memory"),
    (TS12 + "Load model model cuda OOM, exception CUDA out of memory", "cuda-out-of-memory"),
    ("tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor with shape",
     "out-of-memory"),
    (TS12 + "System out of memory", "out-of-memory"),
    ("The container exited with code 137", "out-of-memory"),
    ("Process exited: exit status 137", "out-of-memory"),
    ("Process finished: signal: killed", "out-of-memory"),
    ("OSError: [Errno 12] Cannot allocate memory", "out-of-memory"),
    ("terminate called after throwing an instance of 'std::bad_alloc'", "out-of-memory"),
    ("Last State: Terminated Reason: OOMKilled", "out-of-memory"),
    # timeouts
    ("2021-03-02 10:11:12,345 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerLifeCycle - Backend worker "
     "startup time out.", "startup-health-check-timeout"),
    (TS12 + "Backend worker did not receive connection in: 120", "startup-health-check-timeout"),
    ("2021-03-02 10:11:12,345 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Worker failed to "
     "initialize within 2 mins", "startup-health-check-timeout"),
    ('Received server error (0) from primary with message "Your invocation timed out while waiting for a response '
     'from container primary."', "worker-timeout"),
    # serving
    ("TypeError: input_fn() takes 2 positional arguments but 3 were given", "invocation-error"),
    # TorchServe's reply deadline: at start-up a slow load, beside its inference accounting a slow request
    ("2026-11-28T14:40:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Backend worker error "
     "org.pytorch.serve.wlm.WorkerInitializationException: Backend worker did not respond in given time",
     "startup-health-check-timeout"),
    (["2026-11-28T14:40:14,873 [ERROR] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Number or consecutive "
      "unsuccessful inference 1",
      "org.pytorch.serve.wlm.WorkerInitializationException: Backend worker did not respond in given time"],
     "worker-timeout"),
    # --- the causes issue 23 added, in each software's own words (sources in the catalogue's docstring)
    # the platform: capacity, quotas, archives, images
    ("InsufficientInstanceCapacity: We currently do not have sufficient ml.p4d.24xlarge capacity in the "
     "Availability Zone you requested (us-east-1a).", "insufficient-capacity"),
    ("CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance "
     "type.", "insufficient-capacity"),
    ("botocore.exceptions.ClientError: An error occurred (ResourceLimitExceeded) when calling the CreateEndpoint "
     "operation: The account-level service limit 'ml.g5.12xlarge for endpoint usage' is 0 Instances, with current "
     "utilization of 0 Instances and a request delta of 1 Instances.", "insufficient-capacity"),
    ("gzip: stdin: not in gzip format", "corrupt-model-archive"),
    ("tarfile.ReadError: not a gzip file", "corrupt-model-archive"),
    ("main.py: error: unrecognized arguments: serve", "image-not-sagemaker-compatible"),
    ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
     "gpu-image-on-cpu-host"),
    (TS12 + "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory",
     "gpu-image-on-cpu-host"),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
     "NVIDIA driver is installed and running.", "gpu-image-on-cpu-host"),
    # network, credentials, downloads
    ('botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: '
     '"https://s3.us-east-1.amazonaws.com/bucket/model.tar.gz"', "network-unreachable"),
    ("socket.gaierror: [Errno -3] Temporary failure in name resolution", "network-unreachable"),
    ("OSError: [Errno 101] Network is unreachable", "network-unreachable"),
    ("OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the cached "
     "files and it looks like bert-base-uncased is not the path to a directory containing a file named config.json.",
     "network-unreachable"),
    ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded "
     "with url: /api/models/gpt2 (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at "
     "0x7f2>: Failed to establish a new connection: [Errno 110] Connection timed out'))", "network-unreachable"),
    ("urllib3.exceptions.ConnectTimeoutError: (<urllib3.connection.HTTPSConnection object at 0x7f2>, 'Connection to "
     "huggingface.co timed out. (connect timeout=10)')", "network-unreachable"),
    ("huggingface_hub.utils._errors.LocalEntryNotFoundError: Connection error, and we cannot find the requested "
     "files in the disk cache. Please try again or make sure your Internet connection is on.", "network-unreachable"),
    (["Caused by:", "    HTTP status client error (401 Unauthorized) for url (https://huggingface.co/meta-llama/"
                    "Llama-2-7b-hf/resolve/main/config.json)"], "permission-denied"),
    ("requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: https://huggingface.co/api/models/x/y",
     "permission-denied"),
    ("PermissionError: [Errno 13] Permission denied: '/opt/ml/model/.cache'", "permission-denied"),
    # coreutils on a mounted volume the container's user cannot read (a server's own "not found" beside it)
    (["    Message:  --ts-config file not found: /mnt/models/config/config.properties",
      "ls: cannot access '/mnt/models/config': Permission denied"], "permission-denied"),
    ("mkdir: cannot create directory '/data/models': Permission denied", "permission-denied"),
    ("botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the GetObject operation: "
     "Access Denied", "permission-denied"),
    ("User: arn:aws:sts::123456789012:assumed-role/SageMakerRole/SageMaker is not authorized to perform: "
     "s3:GetObject on resource: arn:aws:s3:::bucket/model.tar.gz", "permission-denied"),
    ("huggingface_hub.utils._errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-65f) Repository "
     "Not Found for url: https://huggingface.co/api/models/org/no-such-model.", "permission-denied"),
    ("requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='cdn-lfs.huggingface.co', port=443): Read timed "
     "out. (read timeout=10)", "model-download-timeout"),
    # a message naming the variant's timeout in a sentence about the download (wording written here: SageMaker's
    # own is not published); a config dump that names the field is no failure (test below)
    ("Downloading the model data took longer than ModelDataDownloadTimeoutInSeconds allows.", "model-download-timeout"),
    # shared memory, server configuration
    ("ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).",
     "shared-memory-too-small"),
    ("algo-1:123:456 [0] include/shm.h:48 NCCL WARN Error while creating shared memory segment "
     "/dev/shm/nccl-AbCdEf (size 9637888)", "shared-memory-too-small"),
    ("algo-1:123:456 [0] include/shm.h:28 NCCL WARN Call to posix_fallocate failed : No space left on device",
     "shared-memory-too-small"),
    ("Failed to increase the shared memory pool size for key 'triton_python_backend_shm_region_1' to 67108864 "
     "bytes", "shared-memory-too-small"),
    ("OSError: [Errno 28] No space left on device: '/dev/shm/psm_1a2b'", "shared-memory-too-small"),
    ("RuntimeError: DataLoader worker (pid 123) is killed by signal: Bus error. It is possible that dataloader's "
     "workers are out of shared memory.", "shared-memory-too-small"),
    ("Bus error (core dumped)", "shared-memory-too-small"),
    ("2024/01/01 00:00:00 [emerg] 1#1: bind() to 0.0.0.0:8080 failed (98: Address already in use)",
     "server-config-invalid"),
    (GUNI + "[ERROR] Connection in use: ('0.0.0.0', 8080)", "server-config-invalid"),
    ("OSError: [Errno 98] Address already in use", "server-config-invalid"),
    ("error: invalid value 'abc' for '--max-total-tokens <MAX_TOTAL_TOKENS>': invalid digit found in string",
     "server-config-invalid"),
    # entry points, imports, GPUs, engines
    (GUNI + "[ERROR] Failed to find attribute 'app' in 'main'.", "missing-entry-script"),
    ('ERROR:    Error loading ASGI app. Could not import module "main".', "missing-entry-script"),
    ("/usr/bin/tritonserver: error while loading shared libraries: libdcgm.so.2: cannot open shared object file: "
     "No such file or directory", "import-error"),
    ("nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.2, please update your driver to a "
     "newer version, or use an earlier cuda container: unknown", "cuda-driver-mismatch"),
    ("UserWarning: NVIDIA A100-SXM4-40GB with CUDA capability sm_80 is not compatible with the current PyTorch "
     "installation.", "gpu-architecture-mismatch"),
    ("RuntimeError: FlashAttention only supports Ampere GPUs or newer.", "gpu-architecture-mismatch"),
    ("ValueError: The quantization method awq is not supported for the current GPU. Minimum capability: 75. "
     "Current capability: 70.", "gpu-architecture-mismatch"),
    (TRITON + "logging.cc:43] The engine plan file is generated on an incompatible device, expecting compute 8.6 "
              "got compute 7.5, please rebuild.", "engine-version-mismatch"),
    ("[TRT] [E] 1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: Serialization (Serialization "
     "assertion magicTagRead == kMAGIC_TAG failed.Magic Tag does not match)", "engine-version-mismatch"),
    ("WARNING: If you are loading a serialized model (like pickle in Python, RDS in R) generated by older XGBoost, "
     "please export the model by calling `Booster.save_model` from that version first, then load it back in current "
     "version.", "framework-version-mismatch"),
    ("ValueError: Could not load model facebook/opt-x with any of the following classes: (<class "
     "'transformers.models.auto.modeling_auto.AutoModelForCausalLM'>,).", "unsupported-model-architecture"),
    ("ValueError: Unrecognized configuration class <class 'transformers.models.x.XConfig'> for this kind of "
     "AutoModel: AutoModelForCausalLM.", "unsupported-model-architecture"),
    ("ValueError: User-specified max_model_len (32768) is greater than the derived max_model_len "
     "(max_position_embeddings=8192 in model's config.json).", "model-config-invalid"),
    (GUNI + "[ERROR] connection to ('127.0.0.1', 8000) failed: [Errno 92] Protocol not available",
     "toolkit-bug"),
    # default handlers, model files
    (TS12 + "sagemaker_pytorch_serving_container.default_pytorch_inference_handler.ModelLoadError: Failed to load "
            "/opt/ml/model/model.pt. Please ensure model is saved using torchscript.", "default-handler-used"),
    ("OSError: The task for this model is not set: Please set one: https://huggingface.co/docs#how-is-a-models-"
     "type-of-inference-api-and-widget-determined", "default-handler-used"),
    (MMS + "ValueError: Unsupported model type: LinearRegression. Did you forget to implement `transform_fn` or "
           "`model_fn` in your entry-point?", "default-handler-used"),
    ("FileNotFoundError: [Errno 2] No such file or directory: 'checkpoints/model_best.pth'", "model-file-not-found"),
    ("OSError: SavedModel file does not exist at: /opt/ml/model/1/{saved_model.pbtxt|saved_model.pb}",
     "model-file-not-found"),
    ("2024-03-01T10:00:00,000 [WARN ] main org.pytorch.serve.ModelServer - Failed to load model: resnet.mar "
     "org.pytorch.serve.archive.model.ModelNotFoundException: Model not found in model store: resnet.mar",
     "model-file-not-found"),
    ("E0601 10:00:00.123456 1 model_lifecycle.cc:621] failed to load 'resnet' version 1: Internal: failed to stat "
     "file /models/resnet/1/model.onnx", "model-file-not-found"),
    ("Error: tokenizer.json not found. text-embeddings-inference only supports fast tokenizers",
     "model-file-not-found"),
    ("OSError: You seem to have cloned a repository without having git-lfs installed. Please install git-lfs and "
     "run `git lfs install` followed by `git lfs pull` in the folder you cloned.", "model-file-not-found"),
    ("huggingface_hub.utils._errors.LocalEntryNotFoundError: Cannot find the requested files in the disk cache and "
     "outgoing traffic has been disabled. To enable hf.co look-ups and downloads online, set 'local_files_only' to "
     "False.", "model-file-not-found"),
    ('ERROR "sync s3://bucket/models/llama/*": no object found', "model-file-not-found"),
    ('Failed to download model data for container "container_1" from URL: "s3://bucket/model.tar.gz". Please '
     'ensure that there is an object located at the URL and that the role passed to CreateModel has permissions to '
     'download the object.', "model-file-not-found"),
    ("OSError: /opt/ml/model does not appear to have a file named config.json. Checkout "
     "'https://huggingface.co//opt/ml/model/None' for available files.", "model-file-not-found"),
    ("ValueError: Unable to locate the file /opt/ml/model/pytorch_model.bin which is necessary to load this "
     "pretrained model. Make sure you have saved the model properly.", "model-file-not-found"),
    ("Unable to load model: invalid load key, '\\x00'.", "model-fn-error"),
    (TS12 + "RuntimeError: Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. "
            "If you are running on a CPU-only machine, please use torch.load with map_location=torch.device('cpu')",
     "model-fn-error"),
    (TS12 + "AttributeError: Can't get attribute 'MyModel' on <module '__main__' from "
            "'/opt/conda/lib/python3.10/site-packages/ts/model_service_worker.py'>", "model-fn-error"),
    (TS12 + "RuntimeError: Error(s) in loading state_dict for ResNet:", "model-fn-error"),
    # memory
    (GLOG + "E external/org_tensorflow/tensorflow/stream_executor/cuda/cuda_driver.cc:764] failed to allocate "
            "2.00G (2147483648 bytes) from device: CUDA_ERROR_OUT_OF_MEMORY: out of memory", "cuda-out-of-memory"),
    ("RuntimeError: cudaErrorMemoryAllocation: out of memory", "cuda-out-of-memory"),
    ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
     "initializing the engine.", "cuda-out-of-memory"),
    ("ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in "
     "KV cache (20016). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the "
     "engine.", "cuda-out-of-memory"),
    ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
     "cuda-out-of-memory"),
    ('ModelError: An error occurred (ModelError) when calling the InvokeEndpoint operation: Received server error '
     '(507) from primary with message "Out of resources"', "cuda-out-of-memory"),
    ("RuntimeError: [enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you "
     "tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)", "out-of-memory"),
    ("[1234.567] Memory cgroup out of memory: Killed process 4242 (python) total-vm:32000000kB", "out-of-memory"),
    ("[1234.560] python invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0",
     "out-of-memory"),
    (GUNI + "[ERROR] Worker (pid:51) was sent SIGKILL! Perhaps out of memory?", "out-of-memory"),
    # requests and waits
    ('botocore.exceptions.ReadTimeoutError: Read timeout on endpoint URL: "https://runtime.sagemaker.us-east-1.'
     'amazonaws.com/endpoints/x/invocations"', "worker-timeout"),
    ("sagemaker_inference.errors.UnsupportedFormatError: Content type text/plain is not supported by this "
     "framework.", "bad-request"),
    ('{ "error": "Failed to process element: 0 key: input_1 of \'instances\' list. Error: Invalid argument: JSON '
     'object: does not have named input: input_1" }', "bad-request"),
    ('2024/01/01 00:00:00 [error] 23#23: *5 client intended to send too large body: 7340032 bytes, client: '
     '10.32.0.2, server: , request: "POST /invocations HTTP/1.1", host: "model.aws.local:8080"', "bad-request"),
    ("[2019-01-03 15:50:02,376] ERROR in app: Exception on /invocations [POST]", "invocation-error"),
    ("[2019-01-03 15:50:02,376] ERROR in app: Exception on /ping [GET]", "ping-error"),
    # (rules added after the first held-out score, from its misses: the examples are purpose-built, not the excerpts)
    ("zipfile.BadZipFile: File is not a zip file", "corrupt-model-archive"),
    ("java.util.zip.ZipException: invalid LOC header (bad signature)", "corrupt-model-archive"),
    ("onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load "
     "model from /opt/ml/model/model.onnx failed:Protobuf parsing failed.", "corrupt-model-archive"),
    ("ModuleNotFoundError: No module named 'sagemaker_tensorflow_container.serving'",
     "training-image-used-for-serving"),
    ("Exception: Failed to create model environment.", "requirements-install-failed"),
    ("AssertionError: The choosen size 32001 is not compatible with sharding on 2 shards", "model-config-invalid"),
    (["Error: Could not create backend", "Caused by:", "    Could not start backend: DType bfloat16 is not supported"],
     "model-config-invalid"),
    ("| resnet50 | - | Not loaded: No model version was found |", "model-file-not-found"),
    ("tritonclient.utils.InferenceServerException: [StatusCode.NOT_FOUND] Request for unknown model: 'resnet50' is "
     "not found", "model-file-not-found"),
    ("RuntimeError: open file failed because of errno 2 on fopen: No such file or directory, file path: "
     "/models/resnet/1/model.pt", "model-file-not-found"),
    (TS12 + "NotImplementedError: Cannot copy out of meta tensor; no data!", "model-file-not-found"),
    (TRITON + "logging.cc:43] 1: [executionContext.cpp::ExecutionContext::410] Error Code 1: Cuda Runtime (out of "
              "memory)", "cuda-out-of-memory"),
    ("botocore.errorfactory.ValidationError: An error occurred (ValidationError) when calling the InvokeEndpoint "
     "operation: Request 0a1b is missing a target model header.", "invocation-error"),
    ("botocore.exceptions.WaiterError: Waiter EndpointInService failed: Max attempts exceeded",
     "deploy-wait-timeout"),
    ("Error: waiting for SageMaker Endpoint (ep-demo) to be in service: timeout while waiting for state to become "
     "'InService' (last state: 'Creating', timeout: 10m0s)", "deploy-wait-timeout"),
]

# Symptoms: what follows a failure. Alone they name a crash loop or a failing health check, never a root cause.
SYMPTOMS: list[tuple[str, str, str]] = [
    (TS12 + "Backend worker process died.", "worker-died", "worker-crash-loop"),
    (MMS + "Backend worker process die.", "worker-died", "worker-crash-loop"),
    (GUNI + "[INFO] Worker failed to boot.", "worker-died", "worker-crash-loop"),
    ("2026-11-28T14:37:14,887 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.BatchAggregator - Load model failed: "
     "model, error: Worker died.", "load-model-failed", "worker-crash-loop"),
    ("error: creating server: Internal - failed to load all models", "load-model-failed", "worker-crash-loop"),
    ("2024-05-01T10:00:00.123Z ERROR text_generation_launcher: Shard 0 failed to start", "load-model-failed",
     "worker-crash-loop"),
    ("Error: ShardCannotStart", "load-model-failed", "worker-crash-loop"),
    ("CannotStartContainerError. Please ensure the model container for variant AllTraffic starts correctly",
     "worker-died", "worker-crash-loop"),
    ("2026-11-28T14:37:17,232 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Auto recovery failed "
     "again", "auto-recovery-failed", "worker-crash-loop"),
    ("2026-11-28T14:37:17,232 [INFO ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Retry worker: 9000 in 34 "
     "seconds.", "worker-retry", "worker-crash-loop"),
    ('2026-11-28T14:42:35,374 [INFO ] pool-2-thread-9 ACCESS_LOG - /169.254.178.2:41234 "GET /ping HTTP/1.1" 500 3',
     "ping-failing", "ping-error"),
    (GUNI + "[INFO] Reason: App failed to load.", "worker-died", "worker-crash-loop"),
    ("E0601 10:00:00.123456 1 python_be.cc:1234] Failed to initialize Python stub: ModuleNotFoundError",
     "load-model-failed", "worker-crash-loop"),
    ("The primary container for production variant AllTraffic did not pass the ping health check. Please check "
     "CloudWatch logs for this endpoint.", "ping-failing", "ping-failing"),
]

# Lines from healthy start-ups (and harmless noise) that must never produce a failure cause.
HEALTHY = [
    "2026-11-29T19:29:27,668 [INFO ] W-9000-model_1.0 TS_METRICS - WorkerLoadTime.Milliseconds:1643.0|"
    "#WorkerName:W-9000-model_1.0,Level:Host|#hostname:vm,timestamp:1795980567",
    GLOG + "I tensorflow_serving/model_servers/server.cc:89] Building single TensorFlow model file config",
    GLOG + "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library "
           "'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory",
    GLOG + "E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: CUDA_ERROR_NO_DEVICE",
    GLOG + "I tensorflow_serving/core/loader_harness.cc:87] Successfully loaded servable version {name: model "
           "version: 1}",
    GLOG + "I tensorflow_serving/model_servers/server.cc:367] Running gRPC ModelServer at 0.0.0.0:9000 ...",
    "[warn] getaddrinfo: address family for nodename not supported",
    GLOG + "I tensorflow_serving/model_servers/server.cc:387] Exporting HTTP/REST API at:localhost:8501 ...",
    "[evhttp_server.cc : 238] NET_LOG: Entering the event loop ...",
    TS12 + "/opt/conda/lib/python3.10/site-packages/torch/cuda/__init__.py:107: UserWarning: CUDA initialization: "
           "The NVIDIA driver on your system is too old (found version 11040).",
    TS12 + "UserWarning: CUDA initialization: Found no NVIDIA driver on your system.",
    TS12 + "Torch TensorRT not enabled",
    "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed.",
    "WARNING: Running pip as the 'root' user can result in broken permissions",
    "[notice] A new release of pip is available: 23.0 -> 24.0",
    TRITON + "grpc_server.cc:2451] Started GRPCInferenceService at 0.0.0.0:8001",
    TRITON + "http_server.cc:3558] Started HTTPService at 0.0.0.0:8000",
    TRITON + "model_lifecycle.cc:693] successfully loaded 'resnet' version 1",
    GUNI + "[INFO] Starting gunicorn 20.1.0",
    GUNI + "[INFO] Listening at: unix:/tmp/gunicorn.sock (42)",
    GUNI + "[INFO] Booting worker with pid: 51",
    DJL + "Model [model] initialized.",
    '2024-01-01T00:00:00.000000Z  INFO embed{total_time="12ms" tokenization_time="1ms" queue_time="1ms" '
    'inference_time="9ms"}: text_embeddings_router::http::server: router/src/http/server.rs:706: Success',
    "2024-05-01T10:00:00.123Z INFO  ModelServer BOTH API bind to: http://0.0.0.0:8080",
    "2024-05-01T10:00:00.123Z INFO  WorkerPool Worker: 0 started.",
    ("2026-11-28T14:37:35,397 [ERROR] epollEventLoopGroup-3-2 org.pytorch.serve.http.HttpRequestHandler - "
     "io.netty.channel.unix.Errors$NativeIoException: readAddress(..) failed: Connection reset by peer"),
    "java.io.IOException: Broken pipe",
    # faiss-cpu on a CPU without its optional builds: caught, printed as a value, and fallen back from
    "2026-11-29T18:51:02,104 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Could not load library with AVX512 support due to:",
    "2026-11-29T18:51:02,104 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - "
    "ModuleNotFoundError(\"No module named 'faiss.swigfaiss_avx512'\")",
]


def _lines(x: str | list[str]) -> list[str]:
    return [x] if isinstance(x, str) else x


@pytest.mark.parametrize("lines,code", EXAMPLES, ids=[f"{c}-{i}" for i, (_, c) in enumerate(EXAMPLES)])
def test_purpose_built_line_names_its_cause(lines, code):
    text = "\n".join(HEALTHY[:8] + _lines(lines) + HEALTHY[8:])  # in the middle of ordinary start-up chatter
    ev = evidence_from_text(text)
    assert ev.cause.code == code, ev.cause.to_dict()
    assert ev.cause.evidence


@pytest.mark.parametrize("line,code,cause", SYMPTOMS, ids=[c for _, c, _ in SYMPTOMS])
def test_symptoms_alone_are_no_root_cause(line, code, cause):
    ev = evidence_from_text("\n".join(HEALTHY[:3] + [line]))
    assert ev.codes[code].kind == "symptom"
    assert ev.cause.code == cause and ev.cause.confidence == "low"


def test_every_rule_is_exercised_by_an_example_or_the_corpus():
    from pathlib import Path

    data = Path(__file__).parent / "data"  # the held-out excerpts too, once scored: rules written after their score
    corpus = "\n".join(p.read_text().partition("\n---\n")[2]
                       for d in data.glob("logs-*") if d.name != "logs-scores" for p in d.glob("*.txt"))
    bodies = [_split(line)[1].strip() for x, _ in EXAMPLES for line in _lines(x)]
    bodies += [_split(line)[1].strip() for line in HEALTHY + [x for x, _, _ in SYMPTOMS] + corpus.splitlines()]
    # the servers' and engines' own messages (test_logs_sources.py)
    bodies += [text for _, text in source_rule_lines(data / "source-rules.tsv")]
    unexercised = [(s.code, r.pattern.pattern) for s in SIGNATURES for r in s.rules
                   if not any(r.pattern.search(b) for b in bodies)]
    assert not unexercised


def test_a_config_that_names_the_download_timeout_is_no_failure():
    for text in ('"ModelDataDownloadTimeoutInSeconds": 3600,', "ModelDataDownloadTimeoutInSeconds=1800 set for the "
                 "download of the model data"):
        assert evidence_from_text(text).cause.code != "model-download-timeout", text


def test_healthy_start_ups_and_noise_never_name_a_failure():
    ev = evidence_from_text("\n".join(HEALTHY))
    assert ev.cause.code == "healthy"
    assert not [c for c, s in ev.codes.items() if s.kind in ("cause", "symptom")]
    assert set(ev.noise) == {"noise", "pip-notice", "optional-module-fallback"}


def test_torchserve_0_3_worker_lifecycle_traceback():
    lines = [TS3 + "Traceback (most recent call last):",
             TS3 + '  File "/opt/conda/lib/python3.6/site-packages/ts/model_loader.py", line 84, in load',
             TS3 + "    module = importlib.import_module(module_name)",
             TS3 + '  File "/opt/ml/model/code/inference.py", line 3, in <module>',
             TS3 + "    import stygig.core",
             TS3 + "ModuleNotFoundError: No module named 'stygig'",
             "2021-03-02 10:11:12,400 [INFO ] W-9000-model_1.0-stdout org.pytorch.serve.wlm.WorkerLifeCycle - "
             "Backend worker process died."]
    c = evidence_from_text("\n".join(lines)).cause
    assert c.code == "missing-module"
    assert c.details["where"] == "code/inference.py:3 in <module>"
    assert c.details["statement"] == "import stygig.core"
    assert "worker-died" in c.also_seen


def test_a_user_module_that_raises_while_imported_is_an_import_error():
    lines = ["Traceback (most recent call last):",
             '  File "/opt/ml/model/code/inference.py", line 9, in <module>',
             "    CONFIG = json.load(open(os.environ['MODEL_CONFIG']))",
             "KeyError: 'MODEL_CONFIG'"]
    c = evidence_from_text("\n".join(lines)).cause
    assert (c.code, c.details["exception"], c.details["where"]) == \
        ("import-error", "KeyError", "code/inference.py:9 in <module>")


def test_an_exception_in_predict_fn_is_an_invocation_error_with_its_frame():
    lines = [MMS + "Invoking custom service failed.", MMS + "Traceback (most recent call last):",
             MMS + '  File "/opt/conda/lib/python3.6/site-packages/sagemaker_inference/transformer.py", line 126, '
                   'in transform',
             MMS + "    result = self._transform_fn(self._model, input_data, content_type, accept)",
             MMS + '  File "/opt/ml/model/code/inference.py", line 40, in predict_fn',
             MMS + "    return model(data)[0]",
             MMS + "IndexError: index 0 is out of bounds"]
    c = evidence_from_text("\n".join(lines)).cause
    assert c.code == "invocation-error"
    assert c.details["where"] == "code/inference.py:40 in predict_fn"


def test_pip_egg_info_names_the_requirement_being_collected():
    c = evidence_from_text("\n".join(["Collecting numpy==1.26.4", "Collecting pycocotools==2.0.0",
                                      "  error: subprocess-exited-with-error",
                                      "  × python setup.py egg_info did not run successfully."])).cause
    assert c.code == "requirements-install-failed"
    assert c.details["requirements"] == ["pycocotools==2.0.0"]


def test_cloudwatch_json_export_and_blockquoted_paste():
    doc = {"events": [{"timestamp": 1_700_000_000_000 + i, "message": m, "logStreamName": "AllTraffic/i-1"}
                      for i, m in enumerate([TS12 + "ModuleNotFoundError: No module named 'faiss'",
                                             TS12 + "Backend worker process died."])]}
    ev = evidence_from_text(json.dumps(doc))
    assert ev.cause.code == "missing-module" and ev.codes["missing-module"].streams == ["AllTraffic/i-1"]
    assert ev.codes["missing-module"].first_seen == 1_700_000_000_000
    quoted = "\n".join("> " + ln for ln in ["Traceback (most recent call last):",
                                             '  File "/opt/ml/code/inference.py", line 2, in <module>',
                                             "    import xgboost", "ModuleNotFoundError: No module named 'xgboost'"])
    c = evidence_from_text(quoted).cause
    assert (c.code, c.details["module"], c.details["where"]) == ("missing-module", "xgboost",
                                                                 "code/inference.py:2 in <module>")


def test_interleaved_multiline_events_from_two_streams_do_not_mix():
    tb_a = "\n".join(["Traceback (most recent call last):", '  File "/opt/ml/model/code/inference.py", line 2, '
                      "in <module>", "    import alpha_pkg", "ModuleNotFoundError: No module named 'alpha_pkg'"])
    evs = [LogEvent(1, "Traceback (most recent call last):", "AllTraffic/i-b"),
           LogEvent(2, tb_a, "AllTraffic/i-a"),
           LogEvent(3, '  File "/opt/ml/model/code/inference.py", line 7, in model_fn', "AllTraffic/i-b"),
           LogEvent(4, "    torch.load(path)", "AllTraffic/i-b"),
           LogEvent(5, "FileNotFoundError: [Errno 2] No such file or directory: 'model.pth'", "AllTraffic/i-b")]
    ev = evidence_from_events(evs)
    assert ev.cause.code == "missing-module"
    assert ev.codes["missing-module"].streams == ["AllTraffic/i-a"]
    assert ev.codes["model-file-not-found"].streams == ["AllTraffic/i-b"]
    assert ev.codes["model-file-not-found"].details[0]["where"] == "code/inference.py:7 in model_fn"


def test_timestamps_of_text_lines_are_read():
    (h,) = [h for h in match_text(GUNI + "[CRITICAL] WORKER TIMEOUT (pid:51)") if h.kind == "cause"]
    assert h.timestamp == 1_709_287_200_000


def test_a_failing_metrics_collector_is_noise_not_a_missing_module():
    mc = "2022-01-01T00:00:00,000 [ERROR] Thread-1 org.pytorch.serve.metrics.MetricCollector - "
    lines = [mc + "Traceback (most recent call last):",
             mc + '  File "/opt/conda/lib/python3.8/site-packages/ts/metrics/metric_collector.py", line 27, in <module>',
             mc + "    system_metrics.collect_all(sys.modules['ts.metrics.system_metrics'], arguments.gpu)",
             mc + '  File "/opt/conda/lib/python3.8/site-packages/ts/metrics/system_metrics.py", line 91, in collect_all',
             mc + "    import nvgpu",
             mc + "ModuleNotFoundError: No module named 'nvgpu'",
             "Model server started."]
    ev = evidence_from_text("\n".join(lines))
    assert ev.cause.code == "healthy"
    assert ev.noise == {"metrics-collector-error": 1}
    assert "missing-module" not in ev.codes



# Lines seen in the local stack's own containers (TorchServe 0.12 under the SageMaker PyTorch toolkit), each case
# with the cause it must get, the packages it must name, and the cause its first four lines alone must NOT get.
_TS = "2026-11-29T18:52:27,{:03d} [INFO ] W-9001-model_1.0"
LOCAL_STACK_CASES = {
    # faiss's loader logs the repr of the ImportError it handles (no AVX512/AVX2 build), then loads its generic
    # build: only the real traceback's line names a cause.
    "handled-import-error-repr": ([
        _TS.format(266) + "-stdout MODEL_LOG - Loading faiss with AVX512 support.",
        _TS.format(272) + "-stdout MODEL_LOG - ModuleNotFoundError(\"No module named 'faiss.swigfaiss_avx512'\")",
        _TS.format(273) + "-stdout MODEL_LOG - Loading faiss.",
        _TS.format(303) + "-stdout MODEL_LOG - Successfully loaded faiss.",
        _TS.format(356) + "-stdout MODEL_LOG - ModuleNotFoundError: No module named 'stygig'",
    ], "missing-module", ["stygig"]),
    # The toolkit logs org.pytorch.serve at INFO: the state change to WORKER_MODEL_LOADED is DEBUG and never
    # shows; the WorkerLoadTime metric is what a healthy start-up prints.
    "worker-load-time-at-info": ([
        _TS.format(20) + " org.pytorch.serve.wlm.ModelManager - Model model loaded.",
        _TS.format(477) + "-stdout MODEL_LOG - Torch worker started.",
        _TS.format(521) + "-stdout MODEL_LOG - model_name: model, batchSize: 1",
        _TS.format(667) + " org.pytorch.serve.wlm.WorkerThread - Backend response time: 176",
        _TS.format(668) + " TS_METRICS - WorkerLoadTime.Milliseconds:1643.0|#WorkerName:W-9001-model_1.0,"
        "Level:Host|#hostname:vm,timestamp:1795980567",
    ], "healthy", None),
}


@pytest.mark.parametrize("case", sorted(LOCAL_STACK_CASES))
def test_lines_from_the_local_stacks_containers(case):
    lines, code, packages = LOCAL_STACK_CASES[case]
    ev = evidence_from_text("\n".join(lines))
    assert ev.cause.code == code
    if packages is not None:
        assert ev.cause.details["packages"] == packages
    assert evidence_from_text("\n".join(lines[:4])).cause.code != code


def _wrapped(lines: list[str], width: int = 80) -> str:
    """Lines as a terminal ``width`` columns wide hard-wraps them (the rest of a long line on the next)."""
    out: list[str] = []
    for line in lines:
        out += [line[i:i + width] for i in range(0, len(line), width)] or [""]
    return "\n".join(out)


_PLEX = "2021-06-01T10:00:0{}.12345{}+00:00 app[web.1]: "
_UNPICKLED = [_PLEX.format(1, 1) + "Traceback (most recent call last):",
              _PLEX.format(1, 2) + 'File "/app/.heroku/python/lib/python3.7/site-packages/gunicorn/util.py", line 350, '
                                   "in import_app",
              _PLEX.format(1, 3) + "__import__(module)",
              _PLEX.format(1, 4) + 'File "/app/server.py", line 12, in <module>',
              _PLEX.format(1, 5) + "clf = joblib.load(open('classifier.joblib','rb'))",
              _PLEX.format(1, 6) + "ModuleNotFoundError: No module named 'sklearn.ensemble._forest'",
              _PLEX.format(2, 1) + "[2021-06-01 10:00:02 +0000] [4] [INFO] Worker exiting (pid: 4)"]


def test_a_paste_hard_wrapped_by_an_80_column_terminal_is_joined_again():
    from endpoint_runbook.logs.forms import detect_form, normalize_text

    text = _wrapped(_UNPICKLED)
    assert len(text.split("\n")) > len(_UNPICKLED)  # the pieces, as the paste holds them
    assert detect_form(text).wrap == 80
    assert normalize_text(text).split("\n") == _UNPICKLED  # every piece back on its line
    # the same lines unwrapped, or wrapped at a width no terminal has, are left alone
    assert detect_form("\n".join(_UNPICKLED)).wrap == 0
    assert detect_form(_wrapped(_UNPICKLED, 77)).wrap == 0
    # lines of one length that are each a record of their own (an access log) are not a wrap
    access = [f"2021-06-01T10:00:0{i}.000000+00:00 app[web.1]: GET /ping 200 0.00{i}ms" + "x" * 14 for i in range(5)]
    assert {len(a) for a in access} == {80} and detect_form("\n".join(access)).wrap == 0


def test_a_pickled_model_naming_a_module_its_framework_version_lacks_is_a_version_mismatch():
    ev = evidence_from_text(_wrapped(_UNPICKLED))
    assert ev.cause.code == "framework-version-mismatch" and ev.cause.confidence == "medium", ev.cause
    assert ev.cause.details["module"] == "sklearn.ensemble._forest"
    assert ev.cause.details["statement"].startswith("clf = joblib.load(")  # the logplex prefix split off
    # the framework's module imported by the code itself (no unpickling on the way) stays a missing module
    imported = [ln.replace("clf = joblib.load(open('classifier.joblib','rb'))", "from sklearn.ensemble import _forest")
                for ln in _UNPICKLED]
    assert evidence_from_text("\n".join(imported)).cause.code == "missing-module"
    # a package of the user's own is missing code, whatever loads it
    own = [ln.replace("sklearn.ensemble._forest", "stygig.models") for ln in _UNPICKLED]
    assert evidence_from_text("\n".join(own)).cause.code == "missing-module"


_FIND_CLASS = ["Traceback (most recent call last):",
               '  File "/explainer/server/__main__.py", line 43, in main',
               "    explainer = dill.load(f)",
               '  File "/venv/lib/python3.9/site-packages/dill/_dill.py", line 409, in find_class',
               "    return StockUnpickler.find_class(self, module, name)",
               "ModuleNotFoundError: No module named 'alibi.explainers.anchor_image'"]


def test_a_frameworks_submodule_missing_where_a_model_loads_is_its_other_version():
    """No traceback, only a server's wrapper (KServe's sklearnserver): the framework is there (Python names the first
    part it cannot import), the model being loaded names a module of another version of it."""
    line = ("[E 220629 13:33:21 __main__:37] fail to load model m from dir /mnt/models. exception type <class "
            "'ModuleNotFoundError'>, exception msg: No module named 'sklearn.svm._classes'")
    assert evidence_from_text(line).cause.code == "framework-version-mismatch"
    # a private module of the framework, whatever the line says around it
    assert evidence_from_text("ModuleNotFoundError: No module named 'sklearn.ensemble._forest'").cause.code == \
        "framework-version-mismatch"
    # a public one with no model load in view: the code's own import, a package to look at
    assert evidence_from_text('{"error": "No module named \'sklearn.externals.joblib\'"}').cause.code == "missing-module"


def test_a_dotted_module_the_unpickler_resolves_is_the_other_version_of_any_package():
    """Python names the first part it cannot import: 'alibi.explainers.anchor_image' missing means alibi.explainers
    was imported, so the pickle names a module of another alibi (no list of frameworks needed)."""
    ev = evidence_from_text("\n".join(_FIND_CLASS))
    assert ev.cause.code == "framework-version-mismatch" and "alibi.explainers.anchor_image" in ev.cause.details[
        "reason"], ev.cause
    # the package itself missing is a package to add
    top = [ln.replace("'alibi.explainers.anchor_image'", "'alibi'") for ln in _FIND_CLASS]
    assert evidence_from_text("\n".join(top)).cause.code == "missing-module"
    # the model's own package (its frames run from a folder of that name): code missing from what was shipped
    own = [ln.replace("/explainer/server/", "/opt/ml/model/code/alibi/") for ln in _FIND_CLASS]
    assert evidence_from_text("\n".join(own)).cause.code == "missing-module"
    # no unpickler on the way: the code's own import of a submodule stays a missing module
    imported = [ln for ln in _FIND_CLASS if "find_class" not in ln]
    assert evidence_from_text("\n".join(imported)).cause.code == "missing-module"


def test_a_traceback_flattened_onto_one_line_ends_with_its_exception():
    """A paste (or a platform's error message) that puts frames and exception on one line, with or without the
    'Traceback' header: the exception after the last frame's code is read as the exception."""
    frame = 'File "/opt/ml/model/code/inference.py", line 3, in model_fn import foo'
    for text in (f"Traceback (most recent call last): {frame} ModuleNotFoundError: No module named 'foo'",
                 f"{frame} ModuleNotFoundError: No module named 'foo'"):
        ev = evidence_from_text(text)
        assert ev.cause.code == "missing-module" and ev.cause.details["module"] == "foo", ev.cause
        assert ev.cause.details["file"].endswith("code/inference.py"), ev.cause.details
    # an exception the code names ("except KeyError:") is the frame's code, not its exception
    code = ('Traceback (most recent call last): File "/opt/ml/model/code/inference.py", line 9, in predict_fn except '
            'KeyError: File "/opt/ml/model/code/inference.py", line 10, in predict_fn raise ValueError("bad input")')
    assert evidence_from_text(code + "\nValueError: bad input").cause.code == "invocation-error"


def test_a_traceback_vllm_logs_line_by_line_behind_its_prefix_is_one_traceback():
    """vLLM logs each line of a traceback behind its own prefix ("ERROR 05-26 00:17:47 [engine.py:448] "), after a
    process tag in a multi-process engine: the prefix goes, the frames join, and an AttributeError raised inside the
    engine with no model code on the way is the image's."""
    body = ["Traceback (most recent call last):",
            '  File "/usr/local/lib/python3.12/dist-packages/vllm/model_executor/layers/quantization/fp8.py", line 321, '
            "in process_weights_after_loading",
            "    input_scale=layer.input_scale,",
            '  File "/usr/local/lib/python3.12/dist-packages/torch/nn/modules/module.py", line 1928, in __getattr__',
            "    raise AttributeError(",
            "AttributeError: 'ColumnParallelLinear' object has no attribute 'input_scale'"]
    for tag in ("", "(EngineCore_DP0 pid=1094) "):
        ev = evidence_from_text("\n".join(f"{tag}ERROR 05-26 00:17:47 [engine.py:448] {b}" for b in body))
        assert ev.cause.code == "toolkit-bug", ev.cause
        assert ev.cause.details.get("exception") == "AttributeError", ev.cause.details
