"""Rules read from the LLM serving engines' own sources: vLLM (vllm-project/vllm, read from the 0.34.0 wheel; older
wordings from issue threads), Hugging Face text-generation-inference (huggingface/text-generation-inference @ db931fc),
text-embeddings-inference (huggingface/text-embeddings-inference @ 0d124dc), DJL Serving / LMI
(deepjavalibrary/djl-serving @ d21927c, and 1132e3ab^ for the Neuron / transformers-neuronx code removed since),
SGLang's server, Ollama's and llama.cpp's.

Same shape as :data:`.servers.SERVER_RULES` (cause code -> rules ``(anchors, regex[, strength])``), added to the
catalogue's signature of the same cause by :mod:`.catalogue`. Only messages the catalogue did not match already.
"""

from __future__ import annotations

from .causes import RuleTable, merged_rules

_ENGINES: dict[str, tuple[tuple, ...]] = {
    "cuda-out-of-memory": (
        # TensorRT-LLM's PyTorch executor (tensorrt_llm/_torch/pyexecutor, `trtllm-serve`): a component (the KV cache,
        # the sampler, the model) found no GPU memory left on a rank; the table after it names which
        ("Executor creation failed due to insufficient GPU memory",
         r"Executor creation failed due to insufficient GPU memory"),
        # vLLM vllm/v1/core/kv_cache_utils.py (kv_cache_planning.py in 0.34) _check_enough_kv_cache_memory: at engine
        # start-up, after profiling, the KV cache left in GPU memory cannot hold one request of max_model_len
        # ("model's" / older "models's"; a console may wrap it inside "KV cache")
        (("cache is needed, which is larger than the available KV cache memory",),
         r"To serve at least one request with the models?'s max seq len \((?P<max_model_len>\d+)\)"),
        # vLLM vllm/v1/worker/gpu_worker.py (v1/worker/utils.py in 0.34) init_device / request_memory: the GPU has
        # less free memory at start-up than gpu_memory_utilization asks for (another process, a second worker)
        ("on startup is less than desired GPU memory utilization",
         r"Free memory on device (?:\S+ )?\((?P<free>[\d.]+)/(?P<total>[\d.]+) GiB\) on startup is less than desired "
         r"GPU memory utilization"),
        # TGI backends/v3/src/lib.rs V3Error::NotEnoughMemory: warm-up found the KV cache smaller than max_total_tokens
        ("Not enough memory to handle `max_total_tokens=",
         r"Not enough memory to handle `max_total_tokens=(?P<tokens>\d+)`"),
        # DJL python_sync_engine.py / python_async_engine.py: the handler raised OutOfMemoryError / MemoryError /
        # "No available memory for the cache blocks"; answered with 507 (LMI runs on GPU or NeuronCores)
        ("Memory Error encountered when invoking module",
         r"Memory Error encountered when invoking module (?P<module>\S+)", "likely"),
        # DJL engines/python PyProcess.java: the Python worker's initial load answered 507 (see above)
        ("EngineException: OOM", r"ai\.djl\.engine\.EngineException: OOM\s*$", "likely"),
    ),
    "gpu-architecture-mismatch": (
        # vLLM vllm/attention/backends/xformers.py (0.5-0.7): Turing/Volta fall back to XFormers, which cannot run
        # Gemma-2's logits soft-capping
        ("XFormers does not support attention logits soft capping",
         r"XFormers does not support attention logits soft capping", "likely"),
        # TGI server/text_generation_server/models/__init__.py (FLASH_ATT_ERROR_MESSAGE): sharded models need the
        # flash-attention kernels, which did not import (a pre-Ampere GPU such as T4/V100, or a kernel build problem)
        ("requires Flash Attention enabled models",
         r"requires Flash Attention enabled models", "weak"),
    ),
    "gpu-image-on-cpu-host": (
        # vLLM vllm/config/device.py DeviceConfig: no platform detected (no NVIDIA driver / NVML visible)
        ("Failed to infer device type", r"Failed to infer device type", "likely"),
        # vLLM vllm/platforms/__init__.py resolve_current_platform_cls_qualname: no platform plugin found a device
        # (a CUDA build whose container sees no NVIDIA driver: no nvidia runtime class, no --gpus); logged at INFO,
        # then the engine fails (a CPU build says "Automatically detected platform cpu.")
        ("No platform detected, vLLM is running on UnspecifiedPlatform",
         r"No platform detected, vLLM is running on UnspecifiedPlatform", "likely"),
        # torch's lazy CUDA init (raised in vLLM/TGI/LMI workers) when no GPU is visible to the process
        ("No CUDA GPUs are available", r"RuntimeError: No CUDA GPUs are available", "weak"),
    ),
    "model-config-invalid": (
        # DJL wlm ModelInfo.java / engines/python PyModel.java: tensor_parallel_degree larger than the instance's GPUs
        ("GPU devices are not enough to run",
         r"GPU devices are not enough to run (?P<partitions>\d+) partitions"),
        # DJL wlm ModelInfo.java: the same for NeuronCores (Inferentia / Trainium)
        ("Neuron devices are not enough to run",
         r"Neuron devices are not enough to run (?P<partitions>\d+) partitions"),
        # DJL engines/python PyModel.java: more workers asked for than devices left (tp degree x workers > GPUs)
        ("There are no devices left to create new workers",
         r"There are no devices left to create new workers", "likely"),
        # DJL djl_python/properties_manager/hf_properties.py: tensor x pipeline parallel degree vs. the GPUs
        ("doesn't match available GPUs",
         r"TP\*PP degree \((?P<degree>\d+)\) doesn't match available GPUs \((?P<gpus>\d+)\)"),
        # DJL djl_python/neuron_utils/model_loader.py (LMI Neuron, <= 0.30): a precompiled Neuron model whose
        # compile-time settings (batch size, tp degree, n_positions) differ from serving.properties
        ("Mismatch between model server and compiled model configuration",
         r"Mismatch between model server and compiled model configuration", "likely"),
        # TGI launcher/src/main.rs find_num_shards: SHARDED=true with one (or no) visible GPU
        (("NotEnoughCUDADevices", "not enough cuda devices"),
         r"NotEnoughCUDADevices\(|not enough cuda devices: `sharded` is true"),
        # TGI server/text_generation_server/utils/dist.py: NUM_SHARD larger than the GPUs the shard sees
        ("Each process is one gpu", r"AssertionError: Each process is one gpu", "likely"),
        # vLLM vllm/executor/ray_utils.py (<= 0.10): tensor_parallel_size larger than the GPUs Ray finds
        ("exceeds the total number of available GPUs in the placement group",
         r"The number of required GPUs exceeds the total number of available GPUs in the placement group", "likely"),
        # vLLM vllm/v1/executor/ray_utils.py (0.11+): the same, warned before the placement group times out
        ("Tensor parallel size (", r"Tensor parallel size \((?P<tp>\d+)\) exceeds available GPUs \((?P<gpus>\d+)\)",
         "likely"),
        # TEI router/src/lib.rs: no --pooling (POOLING) and no sentence-transformers 1_Pooling/config.json
        ("we could not find a pooling configuration",
         r"The `--pooling` arg is not set and we could not find a pooling configuration"),
    ),
    "model-file-not-found": (
        # TEI router/src/lib.rs: the model directory (or downloaded repo) has no config.json
        ("`config.json` not found", r"`config\.json` not found"),
        # TEI backends/src/lib.rs: the ORT (CPU) backend found no model.onnx in the model
        ("Model ONNX files not found in the repository", r"Model ONNX files not found in the repository"),
        # TEI backends/core BackendError::WeightsNotFound: no safetensors / .bin weights to load
        ("Weights not found: ", r"Weights not found: (?P<message>.+)", "likely"),
        # TGI server/text_generation_server/utils/hub.py weight_files: a local model directory without safetensors
        # (the .bin case of TGI <= 1.0 is in the catalogue as a toolkit bug)
        ("No local weights found in",
         r"No local weights found in (?P<path>\S+) with extension \.safetensors", "likely"),
        # TGI utils/hub.py weight_files: a weight file not in the local cache (offline, or the download step failed)
        ("Please run `text-generation-server download-weights",
         r"File (?P<file>\S+) of model (?P<model>\S+) not found in \S+\. Please run `text-generation-server "
         r"download-weights", "likely"),
        # vLLM vllm/transformers_utils/config.py get_config: neither a Hub repo id nor a directory with a config
        ("Invalid repository ID or local directory specified",
         r"Invalid repository ID or local directory specified: '(?P<model>[^']*)'", "likely"),
        # huggingface_hub validate_repo_id (under vLLM / TGI / LMI loaders): a local path that does not exist is
        # taken for a Hub repo id
        ("Repo id must be in the form",
         r"Repo id must be in the form 'repo_name' or 'namespace/repo_name': '(?P<path>[/.~][^']*)'", "likely"),
        # DJL wlm ModelInfo.java inferEngine: nothing in the model directory names an engine (an empty or wrongly
        # nested /opt/ml/model, no serving.properties / config.json / model file)
        ("Failed to detect engine of the model",
         r"Failed to detect engine of the model: (?P<path>\S+)", "likely"),
    ),
    "missing-entry-script": (
        # DJL djl_python/service_loader.py: option.entryPoint names a .py file that is not in the model directory
        ("entry-point file not found", r"entry-point file not found (?P<file>\S+?)\.?$"),
    ),
    "startup-health-check-timeout": (
        # DJL engines/python PyProcess.java: the Python worker did not finish loading within model_loading_timeout
        ("Python process startup time out", r"Python process startup time out"),
    ),
    "server-config-invalid": (
        # TGI router/src/server.rs: the router's port is taken ("Failed to bind to 0.0.0.0:8080: ... (os error 98)")
        ("Address already in use (os error 98)",
         r"Failed to bind to (?P<address>\S+): Address already in use \(os error 98\)", "likely"),
        # TEI router/src/http/server.rs: the same for TEI
        ("Could not bind TCP Listener on", r"Could not bind TCP Listener on (?P<address>\S+)", "likely"),
    ),
    "requirements-install-failed": (
        # DJL engines/python PyEnv.java: option.enable_venv could not create the model's virtual environment
        (("Failed to create venv with error code", "Create venv failed"),
         r"Failed to create venv with error code: (?P<code>-?\d+)|Create venv failed", "likely"),
    ),
    "unsupported-model-architecture": (
        # DJL djl_python/neuron_utils/model_loader.py (LMI Neuron, transformers-neuronx): model_type without a loader
        ("Supported architectures: [",
         r"Unsupported model: '?(?P<model_type>[\w-]+)'?\. Supported architectures: \["),
        # vLLM vllm/config/model.py _verify_quantization: a quantization method (asked, or the checkpoint's) that this
        # vLLM release does not have
        ("Unknown quantization method: ",
         r"Unknown quantization method: (?P<method>\S+)\. Must be one of", "likely"),
        # TGI models/__init__.py get_model: config.json has no model_type (not a transformers model)
        ("Could not determine model type for",
         r"Could not determine model type for (?P<model>\S+) revision", "likely"),
    ),
}

# SGLang's server (sgl-project/sglang, read through the code index: python/sglang/srt/model_executor/model_runner.py,
# pool_configurator.py, configs/model_config.py)
_SGLANG: dict[str, tuple[tuple, ...]] = {
    "model-config-invalid": (
        # SGLang python/sglang/srt/configs/model_config.py _derive_context_length: --context-length longer than the
        # model's own maximum (raised unless SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1; only the raise names it)
        ("To allow overriding this maximum",
         r"To allow overriding this maximum, set the env var SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1"),
    ),
    "cuda-out-of-memory": (
        # SGLang model_runner.py init_memory_pool (pool_configurator.py MemoryPoolConfig in newer releases): after the
        # weights, mem_fraction_static leaves no room for a KV cache
        ("Please try to increase --mem-fraction-static",
         r"Not enough memory\. Please try to increase --mem-fraction-static"),
        # SGLang model_runner.py (hybrid Mamba / linear-attention models): no room left for the per-request state cache
        ("Not enough GPU memory for hybrid",
         r"Not enough GPU memory for hybrid \(mamba/linear-attention\) state cache"),
        # SGLang model_runner.py init_torch_distributed: with tensor parallelism, one GPU has much less free memory
        # than the others (another process holds it); raised (older releases, or with the check on), else a warning
        ("The memory capacity is unbalanced",
         r"(?:RuntimeError|ValueError): The memory capacity is unbalanced", "likely"),
    ),
    "gpu-architecture-mismatch": (
        # SGLang model_runner.py load_model: a GPU older than Turing (V100 is sm70; K80, P100)
        ("SGLang only supports sm75 and above", r"SGLang only supports sm75 and above"),
        # SGLang model_runner.py / attention registry: --attention-backend fa3 on a GPU other than Ampere / Hopper (a
        # T4, L4's Ada, Blackwell), or fa3 with an MLA model on Ampere
        ("FlashAttention v3 Backend requires SM", r"FlashAttention v3 Backend requires SM>=80 and SM<=90"),
    ),
}

# Ollama's server (ollama/ollama, read through the code index: llm/server.go NewLlamaServer, WaitUntilRunning and the
# runner's reaper; the runner is llama.cpp, whose own messages the libraries' rules know)
_OLLAMA: dict[str, tuple[tuple, ...]] = {
    "out-of-memory": (
        # llm/server.go NewLlamaServer (Linux, Windows): the layers left on the CPU need more RAM than free + swap
        ("than is available (",
         r"model requires more system memory \((?P<required>[^)]+)\) than is available \((?P<available>[^)]+)\)"),
    ),
    "startup-health-check-timeout": (
        # llm/server.go WaitUntilRunning: the runner made no load progress for OLLAMA_LOAD_TIMEOUT (5 minutes); with
        # ": context canceled" it is the client that stopped waiting, not the server (only likely: a runner that
        # hangs for another reason ends the same way)
        ("timed out waiting for llama runner to start",
         r"timed out waiting for llama runner to start(?!: context canceled)", "likely"),
    ),
    "permission-denied": (
        # llm/server.go NewLlamaServer: the runner extracted to a temporary folder mounted noexec cannot be executed
        ("may have noexec set", r"may have noexec set\.\s+Set OLLAMA_TMPDIR"),
    ),
    "unsupported-model-architecture": (
        # llm/server.go: the runner exited saying "unknown model" (architecture): the server's words for it
        ("this model is not supported by your version of Ollama",
         r"this model is not supported by your version of Ollama"),
    ),
    "model-config-invalid": (
        # llm/server.go NewLlamaServer: a Modelfile with more than one ADAPTER
        ("ollama supports only one lora adapter", r"ollama supports only one lora adapter, but multiple were provided"),
    ),
}

# llama.cpp's server (ggml-org/llama.cpp, read through the code index: common/arg.cpp, the model loader's llama_file
# and gguf.cpp gguf_init_from_file, older and newer wordings)
_LLAMA_CPP: dict[str, tuple[tuple, ...]] = {
    "model-file-not-found": (
        # llama_file (older "error loading model: failed to open x: No such file or directory") and gguf_init_from_file
        # ("failed to open GGUF file 'x' (No such file or directory)"): -m names no file there
        ("failed to open ", r"failed to open (?:GGUF file )?'?(?P<path>[^'\s:]+)'?(?::| \() ?No such file or directory"),
    ),
    "server-config-invalid": (
        # common/arg.cpp common_params_parse: an argument this build does not know (a flag of a newer release passed to
        # an older llama-server, or a typo)
        ("error: invalid argument: ", r"^error: invalid argument: (?P<argument>\S+)", "likely"),
    ),
}

ENGINE_RULES: RuleTable = merged_rules(_ENGINES, _SGLANG, _OLLAMA, _LLAMA_CPP)
