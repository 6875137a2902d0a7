"""Rules read from the libraries a model's code and the servers' loaders call at start-up, added to the catalogue's
signature of the same cause (:mod:`.catalogue` merges them, as the servers' and engines' own).

The Hugging Face stack — Hugging Face libraries a model's loader calls at start-up (model_fn, the Hugging Face inference
toolkit, TGI / LMI / vLLM loaders): transformers (the 4.44.2 and 5.25.0 wheels), huggingface_hub
(huggingface/huggingface_hub @ ee0a4510), safetensors (huggingface/safetensors @ 24b0b28, safetensors/src/tensor.rs Display),
tokenizers (its serde errors as issue threads show them), accelerate (huggingface/accelerate @ 16cb6eb8), peft
(huggingface/peft @ 5d602fdb), bitsandbytes (bitsandbytes-foundation/bitsandbytes @ 95f9af30; older wordings from
issue threads), sentence-transformers (UKPLab/sentence-transformers @ 85ec6455) and optimum-neuron
(huggingface/optimum-neuron @ 213224e6).

The rest of the model's stack — libraries a model's code calls at load time, and the runtime under them: PyTorch (torch 2.x
serialization.py / _weights_only_unpickler.py / nn/modules/module.py / backends/cudnn, libtorch_python), torchvision,
TensorFlow / Keras 2 (tf.keras, tf_keras) and Keras 3 (saving_api.py, serialization_lib.py), h5py / HDF5,
scikit-learn / joblib / pickle / cloudpickle, XGBoost, LightGBM, ONNX Runtime's Python API
(onnxruntime_inference_collection.py, the C++ status strings it raises), protobuf's generated-code check, NumPy's
C-API import (numpy/_core/include/numpy/__multiarray_api.h, numpy 1.x's generated header), glibc's dynamic loader
(dl-load.c / dl-version.c / dl-tls.c / dl-lookup.c) and the emulators (qemu-user, Rosetta) an image of another
architecture ends up under.

Each rule as in :func:`.causes._sig`; only messages the catalogue did not match already, or matched only by the
vocabulary's guess. Every rule's line is in tests/data/source-rules.tsv.
"""

from __future__ import annotations

from .causes import RuleTable, merged_rules

_HUGGING_FACE: dict[str, tuple[tuple, ...]] = {
    "permission-denied": (
        # huggingface_hub utils/_http.py hf_raise_for_status: the Hub's own X-Error-Message appended to a 401/403 for a
        # gated model without (or with an unapproved) token ("... is restricted. You must be authenticated to access
        # it." / "... is restricted and you are not in the authorized list. Visit ... to ask for access.")
        ("is restricted", r"Access to model (?P<model>\S+) is restricted(?:\.| and you are not in the authorized list)"),
        # transformers utils/hub.py cached_file(s): GatedRepoError re-raised as OSError when from_pretrained downloads
        ("You are trying to access a gated repo", r"You are trying to access a gated repo"),
        # huggingface_hub utils/_http.py (403 branch, httpx era): a fine-grained HF_TOKEN without the permission
        ("403 Forbidden: ", r"^(?:\S+: )?403 Forbidden: (?P<message>.+)"),
        # hf-hub (the Rust client of TEI, TGI's router, candle, mistral.rs) src/api/sync.rs ApiError::RequestError
        # around ureq's Error::Status, as an unwrap or {:?} prints it (Debug) or as its Display reads: 403 is the Hub's
        # answer for a gated model without an approved token; 401 also answers for a repository that is not there
        # (only likely)
        ("RequestError(Status(403,", r"RequestError\(Status\(403, Response\[status: 403, status_text: \w+, url: "
                                     r"(?P<url>https://huggingface\.co/[^\],\s]+)"),
        ("RequestError(Status(401,", r"RequestError\(Status\(401, Response\[status: 401, status_text: \w+, url: "
                                     r"(?P<url>https://huggingface\.co/[^\],\s]+)", "likely"),
        ("request error: https://huggingface.co/",
         r"request error: (?P<url>https://huggingface\.co/\S+): status code 40[13]", "likely"),
        # the Hub's X-Error-Message for an HF_TOKEN that is not a valid token (printed after a 401)
        ("Invalid credentials in Authorization header", r"Invalid credentials in Authorization header"),
        # transformers 5 utils/hub.py cached_files: a PermissionError while downloading into the HF cache (a non-root
        # container whose HF_HOME / cache folder it cannot write)
        ("Check cache directory permissions",
         r"PermissionError at (?P<path>\S+) when downloading (?P<model>\S+)\. Check cache directory permissions"),
    ),
    "disk-full": (
        # huggingface_hub file_download.py _check_disk_space: warned before a download the target disk cannot hold (the
        # download then fails with ENOSPC, or leaves a truncated file)
        ("Not enough free disk space to download the file",
         r"Not enough free disk space to download the file\. The expected file size is: (?P<expected>[\d.]+ MB)", "likely"),
    ),
    "network-unreachable": (
        # huggingface_hub file_download.py _raise_on_head_call_error / _snapshot_download.py: the HEAD call to the Hub
        # failed (no route, DNS, proxy, Hub down) and the file is not in the local cache
        (("An error happened while trying to locate the file on the Hub",
          "An error happened while trying to locate the files on the Hub"),
         r"An error happened while trying to locate the files? on the Hub", "likely"),
        # huggingface_hub file_download.py http_get: a download cut short ("This is usually due to network issues
        # while downloading the file"); a proxy or a flaky link as often as a VPC
        ("Consistency check failed: file should be of size",
         r"Consistency check failed: file should be of size (?P<expected>\d+) but has size (?P<actual>\d+)", "weak"),
    ),
    "model-file-not-found": (
        # hf-hub (Rust) src/api/sync.rs: the Hub answered 404 for a file of the repository (a model without
        # tokenizer.json or safetensors weights, a wrong revision)
        ("RequestError(Status(404,", r"RequestError\(Status\(404, Response\[status: 404, status_text: [\w ]+, url: "
                                     r"(?P<url>https://huggingface\.co/[^\],\s]+)", "likely"),
        # huggingface_hub utils/_http.py (get_session with HF_HUB_OFFLINE=1): a Hub model id given while offline, so
        # the weights must already be in the container (or /opt/ml/model) and are not
        ("offline mode is enabled", r"Cannot reach (?P<url>\S+): offline mode is enabled", "likely"),
        # huggingface_hub utils/_validators.py validate_repo_id: a string that cannot be a Hub repo id, i.e. a local
        # path (Windows-style, relative, empty) that does not exist where the loader looks
        ("Repo id must use alphanumeric chars",
         r"Repo id must use alphanumeric chars[^:\n]*: '(?P<path>[^'\n]*)'", "likely"),
        # transformers utils/hub.py cached_file(s): RepositoryNotFoundError for a name that is a path (or None: no
        # model id at all); a plain "org/name" may also be a private/gated repo, so only path-like names match
        ("is not a local folder and is not a valid model identifier",
         r"(?P<path>(?:[/~]|\.{1,2}/|[A-Za-z]:\\)\S*|None) is not a local folder and is not a valid model identifier",
         "likely"),
        # transformers utils/hub.py: RevisionNotFoundError (HF_MODEL_REVISION / revision= names no branch, tag or commit)
        ("is not a valid git identifier (branch name, tag name or commit id)",
         r"(?P<revision>\S+) is not a valid git identifier \(branch name, tag name or commit id\)", "likely"),
        # huggingface_hub utils/_http.py hf_raise_for_status (X-Error-Code RevisionNotFound)
        ("Revision Not Found for url", r"Revision Not Found for url: (?P<url>\S+)", "likely"),
        # transformers utils/hub.py cached_file: the file is known (cached) not to exist in the repo / folder
        ("Could not locate", r"Could not locate (?P<file>[\w.\-/]+) inside (?P<path>\S+?)\.?$", "likely"),
        # peft config.py PeftConfigMixin.from_pretrained: no adapter_config.json in the adapter folder (or repo)
        ("Can't find 'adapter_config.json' at", r"Can't find 'adapter_config\.json' at '(?P<path>[^']*)'", "likely"),
        # peft utils/save_and_load.py load_peft_weights: no adapter_model.safetensors / .bin beside it
        ("or in the Hugging Face Hub. Please check that the file",
         r"Can't find weights for (?P<path>\S+) in \S+ or in the Hugging Face Hub\. Please check that the file", "likely"),
        # sentence-transformers SentenceTransformer.__init__: a path-like model name that does not exist
        ("FileNotFoundError: Path ", r"FileNotFoundError: Path (?P<path>\S+) not found", "likely"),
        # optimum-neuron modeling_traced.py NeuronTracedModel._from_pretrained: the folder has no compiled *.neuron
        # file (an uncompiled checkpoint given to a Neuron loader)
        ("Could not find any neuron model file in", r"Could not find any neuron model file in (?P<path>\S+)", "likely"),
    ),
    "unsupported-model-architecture": (
        # transformers models/auto/configuration_auto.py AutoConfig.from_pretrained: config.json without model_type (not
        # a transformers checkpoint, or one whose type this release predates)
        ("Should have a `model_type` key in its",
         r"Unrecognized model in (?P<path>\S+?)\. Should have a `model_type` key in its", "likely"),
        # transformers dynamic_module_utils.py resolve_trust_remote_code: the model ships its own modeling code and
        # trust_remote_code was not set (the y/N prompt cannot be answered in a container)
        (("contains custom code which must be executed", "to allow custom code to be run"),
         r"(?:The repository (?:for )?(?P<model>\S+) contains custom code which must be executed|Please pass the argument "
         r"`trust_remote_code=True` to allow custom code to be run)", "likely"),
        # transformers quantizers/auto.py AutoQuantizationConfig: the checkpoint's quantization_config.quant_method is
        # one this transformers release does not know (fp8, compressed-tensors, ... on an older image)
        ("Unknown quantization type, got",
         r"Unknown quantization type, got (?P<method>\S+) - supported types are"),
        # transformers modeling_utils.py (4.x infer_auto_device_map path): device_map="auto" for a model class without
        # _no_split_modules
        ("does not support `device_map='",
         r"(?P<model_class>\w+) does not support `device_map='(?P<device_map>[^']+)'`", "likely"),
        # optimum-neuron models/auto_model.py get_neuron_model_class: the architecture has no Neuron implementation
        ("is not supported for task",
         r"Model type (?P<model_type>\S+) is not supported for task (?P<task>\S+) in neuron"),
    ),
    "framework-version-mismatch": (
        # transformers models/*/configuration_*.py _rope_scaling_validation (<= 4.42): a config.json written by a newer
        # transformers (Llama 3.1's rope_type "llama3") read by an older one
        ("`rope_scaling` must be a dictionary with",
         r"`rope_scaling` must be a dictionary with (?:two|three) fields", "likely"),
        # tokenizers (Rust, serde) reading a tokenizer.json a newer tokenizers release wrote: the pre-tokenizer /
        # normalizer / decoder / post-processor section (ModelWrapper is in the catalogue already)
        ("data did not match any variant of untagged enum",
         r"data did not match any variant of untagged enum (?P<section>Py\w*(?:PreTokenizer|Normalizer|Decoder|"
         r"PostProcessor)\w*|(?:PreTokenizer|Normalizer|Decoder|PostProcessor)Wrapper)", "likely"),
        # peft (before 0.11 dropped unknown keys with a warning) building LoraConfig from an adapter_config.json saved
        # by a newer peft (use_dora, layer_replication, ...)
        ("got an unexpected keyword argument",
         r"(?:(?P<config>\w*(?:Lora|Peft|IA3|LoHa|LoKr|Prompt\w*|Prefix\w*)Config)\.)?__init__\(\) got an unexpected "
         r"keyword argument '(?P<argument>use_dora|use_rslora|layer_replication|loftq_config|megatron_config|"
         r"megatron_core|lora_bias|eva_config|corda_config|exclude_modules|use_qalora|qalora_group_size|"
         r"target_parameters|trainable_token_indices|runtime_config|layers_to_transform|layers_pattern|rank_pattern|"
         r"alpha_pattern|init_lora_weights)'", "likely"),
    ),
    "engine-version-mismatch": (
        # optimum-neuron configuration_utils.py NeuronConfig.from_dict: the compiled model's neuron_config.json was
        # written by another optimum-neuron release than the image's
        ("This neuron configuration file was generated with optimum-neuron version",
         r"This neuron configuration file was generated with optimum-neuron version (?P<compiled>\S+), but this version "
         r"is (?P<current>[\w.+-]+)"),
        # optimum-neuron configuration_utils.py: compiled by another neuronx-cc than the image's
        ("of the neuronxcc compiler, but",
         r"exported using version (?P<compiled>\S+) of the neuronxcc compiler, but (?P<current>\S+) is installed"),
    ),
    "model-config-invalid": (
        # optimum-neuron vllm/model_loader.py (and the TGI Neuron entrypoint before it): no precompiled artifact in the
        # Neuron cache for this batch size / sequence length / tp degree / dtype (export not allowed on the fly)
        ("You can start a discussion to request it on",
         r"No cached version found for (?P<model>[^,\s]+).*You can start a discussion to request it on", "likely"),
    ),
    "missing-module": (
        # transformers utils/import_utils.py requires_backends (*_IMPORT_ERROR templates, printed on their own line
        # after "ImportError:"): a library the tokenizer / model / pipeline needs is not installed (PyTorch: below)
        ("library but it was not found in your environment",
         r"\w+ requires the (?!PyTorch\b)(?:🤗 )?(?P<module>[\w.\-]+(?: [\w.\-]+)?) library but it was not found in "
         r"your environment"),
        # transformers dynamic_module_utils.py check_imports: the model's remote code imports packages the image lacks
        ("This modeling file requires the following packages that were not found in your environment",
         r"This modeling file requires the following packages that were not found in your environment: "
         r"(?P<module>[\w.\-]+)"),
        # transformers modeling_utils.py _check_and_enable_flash_attn_2: attn_implementation="flash_attention_2"
        # without the flash_attn package
        ("the package flash_attn seems to be not installed", r"the package (?P<module>flash_attn) seems to be not installed"),
        # transformers 5 integrations/accelerate.py check_and_set_device_map: device_map without accelerate
        ("requires `accelerate`. You can install it with",
         r"requires `(?P<module>accelerate)`\. You can install it with `pip install accelerate`"),
        # huggingface_hub file_download.py http_get: HF_HUB_ENABLE_HF_TRANSFER=1 without the hf_transfer package
        ("'hf_transfer' package is not available",
         r"HF_HUB_ENABLE_HF_TRANSFER=1\) but '(?P<module>hf_transfer)' package is not available"),
        # transformers tokenization_utils_fast.py: a slow (sentencepiece) tokenizer to convert and no sentencepiece
        (("Cannot instantiate this tokenizer from a slow version",
          "You need to have sentencepiece installed to convert a slow tokenizer"),
         r"(?:Cannot instantiate this tokenizer from a slow version\. If it's based on sentencepiece, make sure you have|"
         r"You need to have) (?P<module>sentencepiece) installed", "likely"),
    ),
    "import-error": (
        # transformers 5 utils/import_utils.py PYTORCH_IMPORT_ERROR: the image's torch is older than transformers needs
        # (a requirements.txt that upgraded transformers over an old DLC)
        ("but PyTorch was not found or an older version is installed",
         r"requires PyTorch >= (?P<required>[\d.]+), but PyTorch was not found or an older version is installed"),
        # transformers >= 4.50 utils/import_utils.py is_torch_available: the same, warned at import; every model class
        # then fails
        ("Disabling PyTorch because PyTorch >=",
         r"Disabling PyTorch because PyTorch >= (?P<required>[\d.]+) is required but found (?P<found>\S+)", "likely"),
        # transformers 4.x PYTORCH_IMPORT_ERROR (torch missing, or disabled as too old by the check above)
        ("requires the PyTorch library but it was not found in your environment",
         r"(?P<requester>\w+) requires the PyTorch library but it was not found in your environment", "likely"),
        # transformers utils/import_utils.py check_torch_load_is_safe (>= 4.50, CVE-2025-32434): .bin weights need
        # torch >= 2.6 (or the model in safetensors)
        ("Due to a serious vulnerability issue in `torch.load`",
         r"Due to a serious vulnerability issue in `torch\.load`", "likely"),
        # bitsandbytes cextension.py (0.42 and earlier): its CUDA library did not load although a GPU is there
        # (no binary for this CUDA, libcudart / libcusparse missing)
        ("CUDA Setup failed despite GPU being available",
         r"CUDA Setup failed despite GPU being available", "likely"),
        # bitsandbytes cextension.py ErrorHandlerMockBNBNativeLibrary (>= 0.45): no binary for torch's CUDA version
        ("VERSION MISMATCH", r"(?:CUDA|ROCm) VERSION MISMATCH", "likely"),
    ),
    "gpu-image-on-cpu-host": (
        # transformers quantizers/quantizer_bnb_4bit.py / _8bit / eetq / hqq validate_environment: a bitsandbytes
        # (load_in_4bit / 8bit) model where torch sees no GPU (a CPU instance, or no GPU runtime)
        ("No GPU found. A GPU is needed for quantization",
         r"No GPU found\. A GPU is needed for quantization", "likely"),
        # transformers quantizers/quantizer_awq.py / quantizer_gptq.py / fbgemm_fp8: the same for AWQ / GPTQ / FP8
        (("GPU is required to run", "GPU is required to quantize or run quantize model",
          "quantized models with fbgemm kernels requires a GPU"),
         r"GPU is required to (?:run (?P<method>\w+) quantized model|quantize or run quantize model)|Using FP8 quantized "
         r"models with fbgemm kernels requires a GPU", "likely"),
    ),
    "cuda-out-of-memory": (
        # transformers quantizers/quantizer_bnb_4bit.py / _8bit validate_environment: device_map="auto" put part of a
        # quantized model on CPU / disk because the GPU is too small
        ("Some modules are dispatched on the CPU or the disk",
         r"Some modules are dispatched on the CPU or the disk\. Make sure you have enough GPU RAM", "likely"),
        # transformers modeling_utils.py _load_pretrained_model (4.x): device_map="auto" offloaded weights to disk
        # (the model does not fit GPU + host memory) and no offload_folder was given
        ("had weights offloaded to the disk. Please provide an `offload_folder`",
         r"The current `device_map` had weights offloaded to the disk\. Please provide an `offload_folder`", "likely"),
        # accelerate big_modeling.py dispatch_model: the same from accelerate's side
        ("We need an `offload_dir` to dispatch this model",
         r"We need an `offload_dir` to dispatch this model according to this `device_map`", "likely"),
        # accelerate big_modeling.py dispatch_model: model.to(...) after device_map="auto" offloaded modules (GPU too
        # small for the whole model)
        ("You can't move a model that has some modules offloaded to cpu or disk",
         r"You can't move a model that has some modules offloaded to cpu or disk", "likely"),
    ),
    "corrupt-model-archive": (
        # safetensors bindings/python/src/lib.rs ("Error while deserializing header: {e}") with safetensors' Debug
        # (<= 0.5) or Display (>= 0.6) names: a truncated, empty or non-safetensors file (git-lfs pointer, cut
        # download); HeaderTooLarge / InvalidHeader* are in the catalogue already
        ("Error while deserializing header: ",
         r"Error while deserializing header: (?P<error>MetadataIncompleteBuffer|HeaderTooSmall|header too (?:large|small)|"
         r"incomplete metadata, file not fully covered|invalid (?:JSON|UTF-8) in header|invalid header length)", "likely"),
    ),
    "model-fn-error": (
        # accelerate utils/modeling.py set_module_tensor_to_device: a checkpoint tensor whose shape is not the one the
        # config builds (another variant or size, a resized vocabulary without its config, quantized weights)
        ("Trying to set a tensor of shape",
         r"Trying to set a tensor of shape (?P<got>.+?) in \"(?P<tensor>[^\"]+)\" \(which has shape (?P<expected>.+?)\), "
         r"this looks? incorrect", "likely"),
        # peft tuners/tuners_utils.py inject_adapter: the adapter's target_modules are not in the base model (an
        # adapter trained on another base model than HF_MODEL_ID / base_model_name_or_path)
        ("not found in the base model",
         r"Target modules (?P<modules>.+?) not found in the base model", "likely"),
    ),
}

_ML_STACK: dict[str, tuple[tuple, ...]] = {
    "import-error": (
        # NumPy C-API import (import_array in a compiled extension, numpy/_core/include/numpy/__multiarray_api.h and
        # numpy 1.x's header): the extension was built against another NumPy ABI / C-API than the one installed
        # (NumPy 2 under a wheel built for 1.x, or an old NumPy under a newer wheel)
        (("module compiled against ABI version", "module compiled against API version"),
         r"module compiled against (?:ABI|API) version (?P<compiled>0x[0-9a-fA-F]+|\d+) but this version of numpy is "
         r"(?P<running>0x[0-9a-fA-F]+|\d+)"),
        # the same check in NumPy >= 2 (__multiarray_api.h: feature version newer than the running NumPy)
        ("module was compiled against NumPy C-API version",
         r"module was compiled against NumPy C-API version (?P<compiled>0x[0-9a-fA-F]+)"),
        # numpy 2's header: a module built for NumPy 2 imported under NumPy 1.x
        ("module compiled against NumPy 2.0 but running on NumPy 1.x",
         r"module compiled against NumPy 2\.0 but running on NumPy 1\.x"),
        # numpy 1.x's generated import_array (an extension built for NumPy 1) under NumPy 2: printed after NumPy's
        # "A module that was compiled using NumPy 1.x cannot be run in NumPy 2..." banner, often alone in a log
        ("_ARRAY_API not found", r"(?:^|[\s:])_ARRAY_API not found"),
        # torch's tensor<->numpy bridge (torch/csrc/utils/tensor_numpy.cpp): torch built against NumPy 1.x running
        # with NumPy 2 (or NumPy failed to import); torch.from_numpy / .numpy() raise it at load or first request
        ("Numpy is not available", r"RuntimeError: Numpy is not available", "likely"),
        # torch/backends/cudnn/__init__.py: the cuDNN found at run time is not the one torch was built with (an
        # LD_LIBRARY_PATH / a pip cuDNN that shadows the bundled one)
        ("cuDNN version incompatibility",
         r"cuDNN version incompatibility: PyTorch was compiled\s+against (?P<compiled>\([\d, ]+\)) but found runtime "
         r"version (?P<runtime>\([\d, ]+\))"),
        # TensorFlow stream_executor/cuda/cuda_dnn.cc: the image's cuDNN is older than the one TensorFlow was built for
        ("Loaded runtime CuDNN library",
         r"Loaded runtime CuDNN library: (?P<runtime>[\d.]+) but source was compiled with: (?P<compiled>[\d.]+)"),
        # torchvision/extension.py (_check_cuda_version): requirements.txt replaced torch (or torchvision) by a build
        # for another CUDA, the other one is still the image's
        ("compiled with different CUDA major versions",
         r"PyTorch and torchvision were compiled with different CUDA major versions"),
        # torchvision's C++ ops not registered: a torchvision built for another torch than the installed one (it
        # fails at `import torchvision`, via its meta registrations of torchvision::nms)
        ("operator torchvision::", r"operator (?P<op>torchvision::\w+) does not exist", "likely"),
        # TorchScript loading a model scripted with torchvision ops without `import torchvision` (its ops library)
        ("Unknown builtin op: torchvision::", r"Unknown builtin op: (?P<op>torchvision::\w+)", "likely"),
        # protobuf >= 4 (python/google/protobuf/descriptor.py) refusing _pb2 modules generated by an old protoc:
        # TensorFlow <= 2.9, ONNX, tensorboard, wandb ... under a protobuf that requirements.txt upgraded
        ("Descriptors cannot be created directly", r"Descriptors cannot be created directly"),
        # glibc dl-version.c: a binary or wheel built against a newer glibc / libstdc++ than the image has
        (("version `GLIBC", "version `CXXABI"),
         r"version `(?P<version>(?:GLIBC|GLIBCXX|CXXABI)_[\d.]+)' not found"),
        # glibc dl-tls.c: a library with initial-exec TLS (libgomp bundled by torch / scikit-learn, on aarch64 in
        # particular) dlopen()ed after the static TLS surplus is used up; fixed by LD_PRELOAD or import order (the
        # vocabulary would read it as memory)
        ("cannot allocate memory in static TLS block", r"cannot allocate memory in static TLS block"),
        # glibc dl-lookup.c at run time (not dlopen's OSError): a library resolved against another version of its
        # dependency
        ("symbol lookup error: ", r"symbol lookup error: (?P<library>\S+?): undefined symbol: (?P<symbol>\S+)"),
        # TensorFlow's load_library (tf.load_op_library, tensorflow-text / -io / -addons ops): the op library was
        # built for another TensorFlow than the installed one
        ("NotFoundError: ", r"NotFoundError: (?P<library>\S+\.so[\w.]*): undefined symbol: (?P<symbol>\S+)"),
        # transformers (modeling_tf_utils.py) importing TensorFlow 2.16+, whose Keras is 3: tf-keras is not installed
        ("Your currently installed version of Keras is Keras 3",
         r"Your currently installed version of Keras is Keras 3, but this is not yet supported in Transformers"),
    ),
    "framework-version-mismatch": (
        # Keras 3 saving_api.py load_model: a TF2 (Keras 2) SavedModel directory (or another file) given to Keras 3,
        # which TensorFlow >= 2.16 brings ("Keras Core" in the pre-release)
        (("Keras 3 only supports V3", "Keras Core only supports V3"),
         r"Keras (?:3|Core) only supports V3 `?\.keras`? (?:files|and)"),
        # Keras 2 (tf.keras / tf_keras engine/input_layer.py) deserialising a model saved by Keras 3, whose
        # InputLayer config says batch_shape
        ("Unrecognized keyword arguments: ['batch_shape']", r"Unrecognized keyword arguments: \['batch_shape'\]"),
        # Keras 3 (layers/layer.py) given Keras 2 config keys (batch_input_shape) or a newer Keras 3's
        # (quantization_config, added in 3.4) by a saved model or by code written for the other version
        ("Unrecognized keyword arguments passed to ",
         r"Unrecognized keyword arguments passed to (?P<layer>\w+): \{'(?P<argument>batch_input_shape|"
         r"quantization_config)'", "likely"),
        # Keras 3 serialization_lib.py: a Keras 2 .h5 whose compile config names Keras 2 metric / loss functions
        # ('mse') that Keras 3 does not resolve by that name
        ("Could not locate function '",
         r"Could not locate function '(?P<name>[^']+)'\. Make sure custom classes are decorated with .*'module': "
         r"'keras\.(?:metrics|losses)'", "likely"),
        # XGBoost src/objective/objective.cc: a model (or its params) names an objective this older XGBoost does not
        # have (reg:squarederror, added in 0.90, loaded by the SageMaker XGBoost 0.72 container)
        ("Unknown objective function",
         r"Unknown objective function:? `?(?P<objective>(?:reg|binary|multi|rank|count|survival):\w+)", "likely"),
        # scikit-learn estimators unpickled by a newer scikit-learn than the one they were fitted with: attributes the
        # new code reads that the old pickle never set (trees: monotonic_cst in 1.4; SimpleImputer, OneHotEncoder,
        # ColumnTransformer)
        ("object has no attribute '",
         r"'(?P<estimator>[A-Z]\w+)' object has no attribute '(?P<attribute>monotonic_cst|_fill_dtype|"
         r"keep_empty_features|_infrequent_enabled|_drop_idx_after_grouping|_name_to_fitted_passthrough)'", "likely"),
        # CPython pickle: a pickle written with a newer protocol (5: Python 3.8+) than this Python reads
        ("unsupported pickle protocol", r"unsupported pickle protocol: (?P<protocol>\d+)"),
        # CPython marshal (cloudpickle'd code objects, .pyc): written by another Python version
        ("bad marshal data", r"bad marshal data \(unknown type code\)", "likely"),
    ),
    "model-fn-error": (
        # torch serialization.py (torch >= 2.6 defaults torch.load to weights_only=True): a checkpoint that pickles
        # more than tensors (a whole model, numpy arrays, custom classes) is refused; the loading code must pass
        # weights_only=False or allow-list the globals
        (("Weights only load failed", "WeightsUnpickler error: Unsupported global"),
         r"Weights only load failed|WeightsUnpickler error: Unsupported global: GLOBAL (?P<global>\S+)"),
        # torch serialization.py: the checkpoint's tensors are on a GPU index the instance does not have (needs
        # map_location)
        ("but torch.cuda.device_count() is",
         r"Attempting to deserialize object on CUDA device (?P<device>\d+) but torch\.cuda\.device_count\(\) is "
         r"(?P<count>\d+)", "likely"),
        # torch nn/modules/module.py load_state_dict: the lines of "Error(s) in loading state_dict" (often printed
        # apart from it): the checkpoint is not the architecture the code builds
        ("size mismatch for ",
         r"size mismatch for (?P<param>\S+): copying a param with shape (?P<checkpoint>torch\.Size\(\[[\d, ]*\]\)) from "
         r"checkpoint", "likely"),
        (("Missing key(s) in state_dict: ", "Unexpected key(s) in state_dict: "),
         r"(?P<kind>Missing|Unexpected) key\(s\) in state_dict: ", "likely"),
        # CPython pickle: pickle.load / joblib.load of a torch.save zip or legacy file (it needs torch.load)
        ("A load persistent id instruction was encountered",
         r"A load persistent id instruction was encountered", "likely"),
        # Keras 2 (tf.keras generic_utils / serialization_lib): load_model without the custom_objects the model needs
        (("is passed to the `custom_objects` argument", "Please ensure you are using a `keras.utils.custom_object_scope`"),
         r"Unknown (?P<kind>[\w ]+): '?(?P<name>[\w>.]+)'?\. Please ensure (?:this object is passed to the "
         r"`custom_objects` argument|you are using a `keras\.utils\.custom_object_scope`)", "likely"),
        # Keras 3 serialization_lib.py: a custom class not registered (nor passed in custom_objects); a class of
        # Keras's own modules is the version rule above
        ("Could not locate class '",
         r"Could not locate class '(?P<name>[^']+)'\. Make sure custom classes are decorated with (?!.*'module': "
         r"'keras\.)", "likely"),
        # tf.keras saving/saved_model/load.py: a SavedModel with custom metrics/layers loaded without their classes
        # (or compile=False)
        ("Unable to restore custom object of type",
         r"Unable to restore custom object of type (?P<type>\w+)", "likely"),
        # onnxruntime_inference_collection.py (_create_inference_session): ORT >= 1.9 GPU builds need providers=[...]
        ("you are required to explicitly set the providers parameter",
         r"Since ORT 1\.9, you are required to explicitly set the providers parameter"),
    ),
    "corrupt-model-archive": (
        # torch serialization.py (legacy format) / libtorch_python: the checkpoint file is shorter than it says
        ("more bytes. The file might be corrupted",
         r"unexpected EOF, expected (?P<bytes>\d+) more bytes\. The file might be corrupted"),
        # torch serialization.py legacy load: the file is no torch checkpoint at all (a git-lfs pointer, HTML)
        ("Invalid magic number; corrupt file?", r"Invalid magic number; corrupt file\?", "likely"),
        # CPython _pickle.c: the pickle / joblib file ends early (a cut download or copy)
        ("pickle data was truncated", r"pickle data was truncated", "likely"),
        # HDF5 (h5py, Keras .h5): the file is shorter than its superblock says
        ("truncated file: eof = ",
         r"truncated file: eof = (?P<eof>\d+), sblock->base_addr = \d+, stored_eof = (?P<stored_eof>\d+)"),
        # HDF5 (h5py, Keras .h5): the file is no HDF5 at all (empty, a git-lfs pointer, a .keras zip given to Keras 2)
        ("(file signature not found)", r"Unable to (?:synchronously )?open file \(file signature not found\)",
         "likely"),
    ),
    "wrong-architecture": (
        # qemu-user (binfmt_misc on an arm64 host, or Docker Desktop): an amd64 image run on arm64 finds no x86-64
        # loader to hand the binary to
        ("Could not open '/lib", r"qemu-(?P<arch>[\w-]+): Could not open '(?P<loader>/lib\S*/ld-\S+?)'"),
        # Rosetta (Docker Desktop on Apple silicon) under the same mistake
        ("rosetta error: ", r"rosetta error: failed to open elf at (?P<loader>\S+)"),
        # TensorFlow platform/cpu_feature_guard.cc: an x86-64 build with AVX on a CPU (or emulator: Rosetta,
        # qemu) without it; the process aborts
        ("compiled to use ",
         r"compiled to use (?P<feature>AVX\w*|SSE[\d.]*|FMA) instructions, but these aren't available on your machine",
         "likely"),
        # glibc dl-load.c: a 32-bit library in a 64-bit process (or the reverse)
        ("wrong ELF class: ", r"wrong ELF class: (?P<elf_class>ELFCLASS\d+)", "likely"),
        # the kernel's SIGILL: code built for CPU features the host lacks (a -march=native build, an emulator)
        ("Illegal instruction", r"(?:^|\s)Illegal instruction(?: +\(core dumped\))?(?:\s|$)", "weak"),
    ),
    "gpu-image-on-cpu-host": (
        # CUDA's cudaErrorNoDevice as torch ("CUDA error: ...") and ONNX Runtime's CUDA provider ("CUDA failure
        # 100: ...") raise it; TensorFlow's "failed call to cuInit: CUDA_ERROR_NO_DEVICE" is a warning it goes on
        # after (CPU fallback) and does not match
        ("no CUDA-capable device is detected",
         r"(?:CUDA error: |CUDA failure 100: )no CUDA-capable device is detected", "likely"),
    ),
    "cuda-driver-mismatch": (
        # XGBoost src/common/common.h AssertGPUSupport: a GPU tree method / device (a model trained with gpu_hist,
        # device=cuda) on a CPU-only XGBoost build
        ("XGBoost version not compiled with GPU support", r"XGBoost version not compiled with GPU support", "likely"),
        # MXNet src/storage/storage.cc (and its other LOG(FATAL)s for a GPU context): a model bound to mx.gpu() by a
        # CPU-only MXNet build (the CPU image, or mxnet instead of mxnet-cuXX in requirements.txt)
        ("Compile with USE_CUDA=1 to enable GPU usage", r"Compile with USE_CUDA=1 to enable GPU usage", "likely"),
    ),
    "model-config-invalid": (
        # CUDA cudaErrorInvalidDevice via torch: the code or settings name a GPU index the instance does not have
        # (cuda:1 on a one-GPU instance, a CUDA_VISIBLE_DEVICES that hides it)
        ("CUDA error: invalid device ordinal", r"CUDA error: invalid device ordinal", "likely"),
    ),
    "cuda-out-of-memory": (
        # torch's cuBLAS handle creation fails this way when the GPU has no memory left for the workspace (also
        # seen for a broken CUDA setup: weak)
        ("CUBLAS_STATUS_NOT_INITIALIZED", r"CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate\(handle\)`",
         "weak"),
        # cuDNN's handle creation (torch "cuDNN error: CUDNN_STATUS_NOT_INITIALIZED", TensorFlow "Could not create
        # cudnn handle") fails the same way, mostly when memory is gone
        (("CUDNN_STATUS_NOT_INITIALIZED", "Could not create cudnn handle"),
         r"cuDNN error: CUDNN_STATUS_NOT_INITIALIZED|Could not create cudnn handle: CUDNN_STATUS_(?:INTERNAL_ERROR|"
         r"NOT_INITIALIZED|ALLOC_FAILED)", "weak"),
        # TensorFlow conv_ops: the follow-up error of the failed cuDNN handle above
        ("Failed to get convolution algorithm",
         r"Failed to get convolution algorithm\. This is probably because cuDNN failed to initialize", "weak"),
    ),
    "model-file-not-found": (
        # ONNX Runtime (InferenceSession): the .onnx path is not there
        ("NO_SUCHFILE", r"NO_SUCHFILE : Load model from (?P<path>\S+?) failed"),
        # Keras 2 (tf.keras saving/save.py load_model): neither a file nor a SavedModel directory at the path
        ("No file or directory found at",
         r"(?:OSError|IOError): No file or directory found at (?P<path>\S+)"),
        # Keras 3 saving_api.py load_model: a .keras path that does not exist
        ("Please ensure the file is an accessible",
         r"File not found: filepath=(?P<path>\S+?)\. Please ensure the file is an accessible"),
        # LightGBM (Booster(model_file=...) C++ file IO): the model file cannot be opened (missing, or a non-ASCII
        # path on Windows)
        ("LightGBMError: Could not open", r"LightGBMError: Could not open (?P<path>\S+)", "likely"),
    ),
    "unsupported-model-architecture": (
        # ONNX Runtime session init: no kernel for an op at this opset / type in the installed build and provider
        # (dynamic-quantised ConvInteger / MatMulInteger on CPU, an op newer than the runtime)
        ("NOT_IMPLEMENTED : Could not find an implementation for",
         r"NOT_IMPLEMENTED : Could not find an implementation for (?P<op>\w+)\((?P<opset>\d+)\) node", "likely"),
    ),
    "invocation-error": (
        # ONNX Runtime InferenceSession.run: the request's feed does not fit the model's inputs (name, dtype, shape)
        ("INVALID_ARGUMENT : ",
         r"INVALID_ARGUMENT : (?:Invalid Feed Input Name:\s*(?P<input>\S+)|Unexpected input data type|Got invalid "
         r"dimensions for input|Invalid rank for input)", "likely"),
    ),
}

LIBRARY_RULES: RuleTable = merged_rules(_HUGGING_FACE, _ML_STACK)
