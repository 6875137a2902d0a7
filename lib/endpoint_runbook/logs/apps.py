"""Rules read from what bring-your-own and Kubernetes model containers run in front of (or instead of) a model
server: the web servers and their launchers — gunicorn (benoitc/gunicorn @ 65ac1a3), uvicorn (encode/uvicorn @
e6c7ce7) and click (the option parser of uvicorn's and Flask's CLIs), Flask / Werkzeug (the flask 3.1.3 / werkzeug
3.1.9 wheels), FastAPI (the 0.165.0 wheel), nginx's error log, argparse-based launchers (gunicorn, torchserve,
torch-model-archiver, SGLang's launch_server.py); and the Python model servers such containers run — KServe
(kserve/kserve: its model server, storage initializer, sklearn / xgboost / lightgbm / huggingface servers), Seldon's
MLServer and its runtimes, Ray Serve (and the runtime_env it sets up), BentoML (service loader, model store) and
MLflow's model serving (`mlflow models serve`, the pyfunc loader, env creation, the SageMaker pyfunc container).
Wrapper lines that only say "a load failed" (the reason is on the lines after them) are *weak*, so the reason's own
rule decides.

Same shape as :data:`.servers.SERVER_RULES` (cause code -> rules ``(anchors, regex[, strength])``), added to the
catalogue's signature of the same cause by :mod:`.catalogue`. Only messages the catalogue did not match already
(uvicorn's "Error loading ASGI app", a taken address, gunicorn's WORKER TIMEOUT and SIGKILL are there); nginx's
failed upstream, gunicorn's "Worker failed to boot" and a failed warm-up are consequences, named by what is beside
them.
"""

from __future__ import annotations

from .causes import RuleTable, merged_rules

# the launchers whose argparse errors have a rule of their own below
_ARGPARSE_LAUNCHERS = r"gunicorn|torchserve|torch-model-archiver|launch_server\.py"

_WEB: dict[str, tuple[tuple, ...]] = {
    "server-config-invalid": (
        # gunicorn gunicorn/util.py import_app: the app was given as a file name ("app.py") instead of a module path
        # ("app:app"); raised as ImportError in the worker, printed once more on its own by arbiter.py spawn_worker
        ("Failed to find application, did you mean",
         r"Failed to find application, did you mean '(?P<suggestion>[^']+)'\?"),
        # gunicorn gunicorn/util.py import_app (AppImportError, worker exits with APP_LOAD_ERROR): the part after ':'
        # of the app argument is neither a name nor a call ("app:create_app(" cut by a shell, quotes left in)
        ("as an attribute name or function call",
         r"Failed to parse (?P<app>'[^']*'|\"[^\"]*\") as an attribute name or function call"),
        # gunicorn gunicorn/config.py validate_chdir (ConfigError at start-up, printed as "Error: ..."): --chdir names
        # no directory
        ("can't chdir to", r"Error: can't chdir to (?P<path>'[^']*'|\"[^\"]*\")"),
        # gunicorn gunicorn/app/base.py get_config_from_filename: -c / --config names a file that is not there
        ("' doesn't exist", r"Error: '(?P<path>[^']+)' doesn't exist", "weak"),
        # gunicorn gunicorn/app/base.py get_config_from_filename: the gunicorn.conf.py raised when executed (its
        # traceback follows)
        ("Failed to read config file: ", r"Failed to read config file: (?P<path>\S+)", "likely"),
        # argparse in the launchers (gunicorn's Config parser, the torchserve / torch-model-archiver CLIs, SGLang's
        # launch_server.py): an option it does not know or a value of the wrong type; 'serve' (SageMaker's own
        # argument) is the catalogue's image rule
        (("gunicorn: error: ", "torchserve: error: ", "torch-model-archiver: error: ", "launch_server.py: error: "),
         rf"(?P<program>{_ARGPARSE_LAUNCHERS}): error: (?:unrecognized arguments: "
         r"(?!serve\b)|argument (?P<option>\S+?): |the following arguments are required: )"),
        # argparse's own wording in any other launcher (vLLM's api_server.py and `vllm serve`, TGI-style Python
        # servers, Triton's and OVMS's Python wrappers): an option this release does not have, a value not among its
        # choices (a parser added after the installed release), a required argument left out (likely: the program is
        # not always the server; TorchServe's worker is a handler's own argparse reading the worker's argv, the
        # loading rules' case; the launchers above have their own rule, and a second hit on their lines costs the
        # matcher a tenth of its time on bench_logs)
        (("error: unrecognized arguments: ", "error: argument -", "error: the following arguments are required"),
         rf"^(?:\S+ )?(?!(?:model_service_worker\.py|{_ARGPARSE_LAUNCHERS}): )"
         r"(?P<program>[\w.-]+): error: (?:unrecognized arguments: "
         r"(?!serve\b)(?P<arguments>.+)|argument "
         r"(?P<option>-{1,2}[\w-]+)(?:/-{1,2}[\w-]+)?: (?:invalid choice|invalid \w+ value|expected )|the following "
         r"arguments are required: )", "likely"),
        # click, the option parser of uvicorn's and flask's CLIs (click/exceptions.py NoSuchOption / BadParameter):
        # a launcher flag that does not exist, or a value of the wrong type (UVICORN_PORT=abc)
        (("Error: No such option", "Error: Invalid value for "),
         r"Error: (?:No such option:? ['\"]?(?P<option>-{1,2}[\w-]+)|Invalid value for ['\"](?P<param>-{1,2}[\w-]+)"
         r"['\"])", "likely"),
        # uvicorn uvicorn/main.py run: uvicorn.run(app, workers=N or reload=True) with an app object instead of an
        # import string; logged as a warning, then the process exits 1
        ("You must pass the application as an import string",
         r"You must pass the application as an import string to enable 'reload' or 'workers'"),
        # werkzeug serving.py BaseWSGIServer.__init__ (flask run / app.run): the port is taken (printed after the
        # strerror, without a traceback)
        ("is in use by another program", r"Port (?P<port>\d+) is in use by another program\. Either identify and stop",
         "likely"),
    ),
    "image-not-sagemaker-compatible": (
        # click (uvicorn's / flask's CLI, click/core.py parse_args): the image's ENTRYPOINT is the server command itself,
        # so SageMaker's `serve` argument lands on it as an extra argument
        ("Got unexpected extra argument", r"Got unexpected extra arguments? \(serve\b", "likely"),
    ),
    "missing-entry-script": (
        # gunicorn gunicorn/app/wsgiapp.py load_config (ConfigError, "Error: ..."): no app module on the command line
        # (an empty variable in the serve script) and no wsgi_app setting
        ("No application module specified", r"No application module specified\."),
        # flask flask/cli.py ScriptInfo.load_app: `flask run` with no --app / FLASK_APP and no wsgi.py / app.py in the
        # working directory
        ("Could not locate a Flask application", r"Could not locate a Flask application\."),
        # flask flask/cli.py locate_app: the module named by --app / FLASK_APP is not importable from the working
        # directory (an ImportError inside it is reported as "While importing ..., an ImportError was raised")
        ("Error: Could not import '", r"Error: Could not import '(?P<module>[\w.]+)'\.", "likely"),
        # flask flask/cli.py find_best_app: the module imports, but holds no Flask app nor create_app / make_app
        ("Failed to find Flask application or factory in module",
         r"Failed to find Flask application or factory in module '(?P<module>[\w.]+)'", "likely"),
    ),
    "missing-module": (
        # FastAPI fastapi/dependencies/utils.py ensure_multipart_is_installed: a route takes Form / File / UploadFile
        # and python-multipart is not installed (raised while the app module is imported)
        ('Form data requires "python-multipart" to be installed',
         r'Form data requires "python-(?P<module>multipart)" to be installed\.(?! It seems you installed "multipart")'),
    ),
    "import-error": (
        # FastAPI fastapi/dependencies/utils.py: the unrelated "multipart" package is installed instead of
        # python-multipart (both are imported as `multipart`)
        ('It seems you installed "multipart" instead',
         r'Form data requires "python-multipart" to be installed\. It seems you installed "multipart" instead'),
        # gunicorn gunicorn/util.py load_class: --worker-class / -k could not be imported (uvicorn not installed, its
        # worker moved to uvicorn-worker, a native library of gevent/meinheld); the traceback after it says which
        ("invalid or not found", r"class uri (?P<worker_class>'[^']+'|\"[^\"]+\") invalid or not found", "likely"),
    ),
    "permission-denied": (
        # gunicorn gunicorn/util.py check_is_writable (from glogging.py for --error-logfile / --access-logfile): the
        # log file's directory is not writable by the server's user (or is on a read-only file system)
        ("isn't writable [", r"Error: '(?P<path>[^']+)' isn't writable \[(?:PermissionError|OSError)\((?:13|30),"),
        # nginx (core/ngx_open_file / ngx_create_paths, at [alert], [crit] or [emerg]): nginx run as a user that cannot
        # write its log, pid or temp paths (a non-root container user, a read-only root file system)
        ("failed (13: Permission denied)",
         r"(?:open|mkdir)\(\) \"(?P<path>[^\"]+)\" failed \(13: Permission denied\)"),
    ),
    "model-fn-error": (
        # uvicorn uvicorn/lifespan/on.py startup: the app's lifespan / startup handler raised (where FastAPI and
        # Starlette apps load their model); the traceback before it says why
        ("Application startup failed. Exiting", r"Application startup failed\. Exiting", "weak"),
    ),
}

# storage protocols named by KServe's storage error messages (python/storage/kserve_storage/storage_errors.py)
_KSERVE_PROTOCOL = r"(?:S3|GCS|Azure|HDFS|HuggingFace|ModelScope|HTTP|Git)"

_PYTHON_SERVERS: dict[str, tuple[tuple, ...]] = {
    "wrong-architecture": (
        # MLServer hack/activate-env.sh (the images' entrypoint) runs the model's conda-pack environment.tar.gz: a
        # tarball packed on another OS / CPU (macOS, arm64) holds a python binary the kernel cannot exec, so the shell
        # reads it as a script (SeldonIO/seldon-core#4497)
        ('Syntax error: "(" unexpected',
         r'/bin/(?P<program>python[\d.]*): \d+: Syntax error: "\(" unexpected', "likely"),
    ),
    "gpu-image-on-cpu-host": (
        # BentoML src/bentoml/_internal/resource.py (NvidiaGpuResource.validate, at serve start): the service asks for
        # GPU devices and the host shows none at all (a CPU instance, or the container started without the GPU runtime)
        ("is greater than the system available: []",
         r"GPU device index in \[(?P<devices>[^\]]*)\] is greater than the system available: \[\]", "likely"),
    ),
    "requirements-install-failed": (
        # Ray core python/ray/exceptions.py (RuntimeEnvSetupError, "setup" before Ray 2.x's rewording), raised for a
        # Serve app's or replica's runtime_env (pip / conda / working_dir): mostly its pip install failing
        # and Ray Serve python/ray/serve/_private/application_state.py: the same for the app's runtime_env at deploy
        (("Failed to set up runtime environment", "Failed to setup runtime environment", "Runtime env setup for app '"),
         r"Failed to set ?up runtime environment|Runtime env setup for app '(?P<app>[^']+)' failed", "likely"),
        # Ray python/ray/_private/runtime_env/pip.py: the pip runtime_env's virtualenv is missing after the install
        # (ray-project/ray#38312)
        ("while installing the runtime_env `pip` packages",
         r"Something may have gone wrong while installing the runtime_env `pip` packages"),
        # MLflow mlflow/models/container/__init__.py (the SageMaker pyfunc container's `serve`, and `mlflow models
        # build-docker`): pip failed inside the model's environment ("Failed to create model environment." is matched
        # by the catalogue already)
        # (and MLflow mlflow/utils/virtualenv.py, `mlflow models serve`: pyenv has no Python release matching the
        # model's python_env.yaml; env manager uv could not restore the model's uv.lock)
        (("Failed to install serving dependencies into the model environment",
          "Failed to install mlflow into the model environment", "Failed to install model dependencies.",
          "Could not find python version that matches", "Failed to restore model environment using uv sync",
          "Failed to set up uv sync environment"),
         r"Failed to install (?:serving dependencies|mlflow) into the model environment|"
         r"Failed to install model dependencies\.|Could not find python version that matches (?P<version>[\d.]+)|"
         r"Failed to restore model environment using uv sync|Failed to set up uv sync environment"),
        # MLflow mlflow/utils/virtualenv.py and utils/conda.py: `mlflow models serve` (env manager virtualenv, the
        # default, or conda) needs pyenv / conda to build the model's environment; a serving image without them
        # cannot create it
        (("Could not find the pyenv binary", "Could not find Conda executable at"),
         r"Could not find the pyenv binary|Could not find Conda executable at (?P<path>\S+)", "likely"),
    ),
    "network-unreachable": (
        # KServe python/storage/kserve_storage/storage_errors.py (storage initializer): a connection error or timeout
        # reaching the model's storage (an S3 / MinIO endpoint, GCS, the Hub) from the pod
        ("Failed to connect to ", rf"Failed to connect to (?P<protocol>{_KSERVE_PROTOCOL}) endpoint", "likely"),
    ),
    "permission-denied": (
        # KServe python/storage/kserve_storage/storage_errors.py: the storage rejected the credentials or there are none
        # (authentication failed), refused access to the bucket / object / URL, or answered InvalidAccessKeyId /
        # SignatureDoesNotMatch (invalid AWS credentials)
        (("authentication failed", "Access denied to ", "Access denied. Verify ", "HTTP access denied for '",
          "Invalid AWS credentials."),
         rf"\b(?P<protocol>{_KSERVE_PROTOCOL}) authentication failed(?:\.| for ')|"
         rf"Access denied to {_KSERVE_PROTOCOL} resource|Access denied\. Verify {_KSERVE_PROTOCOL} permissions|"
         r"HTTP access denied for '(?P<url>[^']+)'|Invalid AWS credentials\. Verify AWS_ACCESS_KEY_ID"),
        # KServe storage.py before 0.15 (_download_from_uri): an http(s) storageUri answered 401 / 403
        ("URI: ", r"URI: (?P<url>\S+) returned a 40[13] response code", "likely"),
    ),
    "server-config-invalid": (
        # KServe python/huggingfaceserver/huggingfaceserver/__main__.py: neither --model_id nor --model_dir given
        ("You must provide a model_id or model_dir", r"You must provide a model_id or model_dir"),
        # KServe huggingfaceserver __main__.py: --task names no task the server runs (a typo, or a task it lacks)
        # (and --backend vllm in an image, the CPU one, without vLLM)
        (("Currently supported tasks are", "Backend is set to 'vllm' but vLLM is not available"),
         r"Unsupported task: (?P<task>\S+)\. Currently supported tasks are|"
         r"Backend is set to 'vllm' but vLLM is not available", "likely"),
        # MLServer runtimes/huggingface/mlserver_huggingface/errors.py: model-settings.json's (or MLSERVER_MODEL_
        # HUGGINGFACE_*) task is not a transformers pipeline task the runtime knows
        # (and, "Missing HuggingFace Runtime settings.", no `extra` settings and no MLSERVER_MODEL_HUGGINGFACE_* vars)
        (("Invalid transformer task", "Missing HuggingFace Runtime settings."),
         r"Invalid transformer task(?: for Optimum model)?: (?P<task>\S+)\. Available|"
         r"Missing HuggingFace Runtime settings\."),
        # Ray Serve python/ray/serve/_private/http_util.py (proxy start): the HTTP port is taken or the host invalid
        ("Failed to bind to address '", r"Failed to bind to address '(?P<address>[^']+)'", "likely"),
        # BentoML src/_bentoml_impl/server/serving.py: an env var the service declares (bentoml.service(envs=...))
        # has no value and no default
        ("is required", r"Environment variable '(?P<variable>[^']+)' is required (?:for service '[^']+' )?but not set"),
        # MLflow mlflow/pyfunc/__init__.py (load_model, MLflow 3.x): loading PyFunc models is switched off unless
        # MLFLOW_ALLOW_MODEL_CODE_EXECUTION=true
        ("Loading PyFunc models is disallowed",
         r"Loading PyFunc models is disallowed because a PyFunc model names the Python module"),
    ),
    "missing-entry-script": (
        # BentoML src/bentoml/_internal/service/loader.py (1.x) and src/_bentoml_impl/loader.py (1.2+): the service
        # module itself is not importable (the bento's src/ lacks it, another working dir): the module it cannot find
        # is the one it was told to import (bentoml/comfy-pack#39, bentoml/BentoML#2966)
        (('Failed to import module "', 'Failed to import service "'),
         r"Failed to import (?:module|service) \"(?P<module>[\w.]+)[^\"]*\": No module named '(?P=module)'"),
        # BentoML service/loader.py: a "path/to/service.py:Svc" target outside the working directory
        # (and: the module has no such attribute or no Service instance at all; a directory given to `bentoml serve`
        # holds neither bentofile.yaml nor service.py)
        (('" not found in working directory "', '" not found in module "', "No service found in the module '",
          "does not contain a valid bentofile.yaml or service.py"),
         r'Module "(?P<module>[^"]+)" not found in working directory|Attribute "(?P<attribute>[^"]+)" not found in '
         r"module \"|No service found in the module '|does not contain a valid bentofile\.yaml or service\.py"),
        # BentoML src/bentoml/_internal/store.py: `bentoml serve <tag>` with no such Bento in the image's store
        ("' is not found in BentoML store", r"Bento '(?P<bento>[^']+)' is not found in BentoML store", "likely"),
    ),
    "import-error": (
        # BentoML service/loader.py (1.x): importing the service module raised an ImportError other than the module
        # itself missing (a name, a native library); "No module named" is the catalogue's missing-module, libcuda /
        # libnvidia-ml its gpu-image-on-cpu-host
        ('Failed to import module "',
         r'Failed to import module "(?P<module>[^"]+)": (?!No module named|lib(?:cuda|nvidia-ml)\.so)(?P<message>.+)',
         "likely"),
    ),
    "unsupported-model-architecture": (
        # KServe huggingfaceserver/task.py: the task inferred from config.json's architecture is one the server does
        # not serve (question answering, multiple choice, ...)
        ("is not supported. Currently supported tasks are",
         r"Task (?P<task>\w+) is not supported\. Currently supported tasks are"),
        # MLflow mlflow/models/container/__init__.py (SageMaker pyfunc container, `serve`): no python_function flavor
        ("This container only supports models with the PyFunc flavors",
         r"This container only supports models with the PyFunc flavors"),
        # MLflow mlflow/pyfunc/__init__.py (load_model, `mlflow models serve`): the same for the scoring server
        ('Model does not have the "python_function" flavor', r'Model does not have the "python_function" flavor',
         "likely"),
    ),
    "default-handler-used": (
        # KServe huggingfaceserver/task.py: no --task given and config.json's architecture (a bare base model such as
        # LlamaModel / BertModel) maps to none
        ("Task couldn't be inferred from",
         r"Task couldn't be inferred from (?P<architecture>\w+)\. Please manually set `task` option", "likely"),
    ),
    "model-file-not-found": (
        # KServe storage initializer (kserve_storage.py, formerly kserve/storage/storage.py): the storageUri's prefix
        # (bucket folder, PVC path, GCS prefix) lists no object
        # (and storage_errors.py: NoSuchBucket)
        (("Failed to fetch model. No model found in", "' does not exist."),
         r"Failed to fetch model\. No model found in (?P<uri>\S+?)\.?(?:$|[\s\"'])|"
         r"S3 bucket '(?P<bucket>[^']*)' does not exist\."),
        # KServe sklearn / xgboost / lightgbm / pmml servers' __main__.py: no model file under --model_dir; the server
        # then starts from an (empty) model repository and answers "Model with name X does not exist"
        # ("fail to locate" before 0.14) (kserve/kserve#3816, #2698)
        (("fail to locate model file for model", "failed to locate model file for model"),
         r"fail(?:ed)? to locate model file for model (?P<model>\S+) under dir (?P<path>[^,\s]+)", "likely"),
        # KServe storage: a local / PVC-mounted storageUri path that is not there
        # (and: a path that matches no storage scheme, for a PVC mount /mnt/pvc/... one that does not exist
        # (kserve/kserve#1298, #1939); storage_errors.py: a missing object / repo / revision; storage.py before 0.15:
        # an http(s) storageUri answering 404)
        (("Local path ", "Cannot recognize storage type for", " resource not found.", " resource '",
          "HTTP resource not found at '", "URI: "),
         r"Local path (?P<path>/\S*) does not exist\.|Cannot recognize storage type for (?P<uri>\S+)|"
         rf"{_KSERVE_PROTOCOL} resource (?:'[^']*' )?not found\.|HTTP resource not found at '(?P<url>[^']+)'|"
         r"URI: (?P<url404>\S+) returned a 404 response code", "likely"),
        # MLServer mlserver/errors.py (InvalidModelURI, raised by mlserver/utils.py get_model_uri): parameters.uri
        # resolves to no file or folder (relative to model-settings.json since 1.0) (SeldonIO/MLServer#486)
        ("Invalid URI specified for model", r"Invalid URI specified for model (?P<model>\S+) \((?P<path>[^)]+)\)"),
        # the same without a path: model-settings.json gives no parameters.uri at all
        ("Invalid URI specified for model", r"Invalid URI specified for model (?P<model>[^\s(]+)(?![^\s(]| \()", "likely"),
        # BentoML src/bentoml/_internal/store.py: the model the service loads is not in the store (models/ of the
        # containerized bento is empty, or another version) ("no Models with name" is the catalogue's)
        # (and src/_bentoml_sdk/models/base.py, bentoml.models.BentoModel: neither the store nor BentoCloud has it)
        (("' is not found in BentoML store", "not found either locally or remotely"),
         r"Model '(?P<model>[^']+)' is not found in BentoML store|"
         r"Model (?P<model2>\S+) not found either locally or remotely"),
        # BentoML models/base.py: not in the store, and fetching it failed (no cloud credentials, no network)
        ("could not be found locally and failed to fetch from remote",
         r"Model (?P<model>\S+) could not be found locally and failed to fetch from remote", "likely"),
        # Xinference xinference/model/utils.py (validating a model's or a registered custom model's model_uri at
        # launch and at start-up): a local path that does not exist
        ("Invalid model URI ", r"Invalid model URI (?P<path>/\S+)", "likely"),
        # MLflow mlflow/models/model.py (Model.load): the model URI / path has no MLmodel file (the directory above
        # or below the model, /opt/ml/model without it) (mlflow/mlflow#1738, kserve/kserve#2768)
        ('Could not find an "MLmodel" configuration file at',
         r'Could not find an "MLmodel" configuration file at "(?P<path>[^"]*)"'),
    ),
    "model-fn-error": (
        # KServe (kfserving <= 0.7) sklearn / xgboost / lightgbm __main__.py: the model's load raised; its exception
        # follows on the line (a missing file there is the catalogue's)
        ("fail to load model ",
         r"fail to load model (?P<model>\S+) from dir (?P<path>\S+)\. exception type (?P<type><class '[^']+'>)"
         r"(?!.*(?:Missing Model File|No such file or directory))", "weak"),
        # KServe huggingfaceserver __main__.py: anything raised while loading the model or starting the server
        ("Failed to start model server: ", r"Failed to start model server: (?P<message>.+)", "weak"),
        # MLServer mlserver/registry.py: the runtime's load() raised (the traceback follows); mlserver/server.py
        # then shuts the server down
        (("Couldn't load model '", "Some of the models failed to load during startup!"),
         r"Couldn't load model '(?P<model>[^']+)'\. Model will be removed from registry|"
         r"Some of the models failed to load during startup!", "weak"),
        # Ray Serve python/ray/serve/_private/deployment_state.py: a replica's constructor (the model load) raised;
        # the controller logs it with the traceback, then retries
        # (and the deployment's status message while it retries, and after the retries ran out)
        (("the replica will be stopped", "times in a row. This may be due to a problem with its constructor",
          "A replica failed to start with exception"),
         r"Exception in [Rr]eplica.{1,200}?, the replica will be stopped|"
         r"The deployment failed to start \d+ times in a row\. This may be due to a problem with its constructor|"
         r"A replica failed to start with exception\. Retrying", "weak"),
    ),
    "out-of-memory": (
        # MLServer mlserver/parallel/pool.py / dispatcher.py / errors.py (WorkerStop): an inference worker process
        # killed by SIGKILL (-9), in a container mostly the OOM killer
        ("unexpectedly with exit code -9", r"(?:stopped|died) unexpectedly with exit code -9\b", "likely"),
    ),
    "shared-memory-too-small": (
        # Ray's raylet (src/ray/object_manager/plasma/store_runner.cc): the object store asks /dev/shm for more than
        # the container has (Docker's 64 MB default, a pod without a memory-backed /dev/shm); a warning, after which
        # Ray's workers (vLLM's and Serve's) start slowly or fail
        ("exceeds memory available in /dev/shm",
         r"System memory request exceeds memory available in /dev/shm\. The request is for (?P<requested>\d+) bytes, "
         r"and the amount available is (?P<available>\d+) bytes", "likely"),
    ),
    "worker-timeout": (
        # Ray Serve deployment_state.py: the replica did not answer its health check within health_check_timeout_s
        # (a blocked event loop, a model busy past the deadline)
        ("Didn't receive health check response for replica",
         r"Didn't receive health check response for replica (?P<replica>.{1,200}?) after (?P<timeout>[\d.]+)s", "likely"),
    ),
    "ping-error": (
        # Ray Serve deployment_state.py: the deployment's check_health() raised
        ("Health check for ", r"Health check for [Rr]eplica[ (].{0,200}? failed: (?P<message>.+)", "likely"),
        # Ray Serve deployment_state.py: after the failed checks (or a crashed actor) the replica is replaced
        ("failed health check, stopping it", r"Replica (?P<replica>.{1,200}?) failed health check, stopping it", "weak"),
    ),
}

APP_RULES: RuleTable = merged_rules(_WEB, _PYTHON_SERVERS)
