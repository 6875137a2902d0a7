"""The catalogue's lines that name no cause: symptoms (consequences: crash-loop markers, failing health checks, a
wrapper line after a failure), noise (alarming, harmless) and a healthy start-up or served request — the texts the
real software writes, as in :mod:`.catalogue` (which adds these after its causes)."""

from __future__ import annotations

from .causes import Signature, _sig

STATE_SIGNATURES: tuple[Signature, ...] = (
    # ----------------------------------------------------------------------------------------- symptoms
    _sig("ping-failing", "symptom", "the container's health check (/ping) fails",
         (('/ping HTTP/1.1" 5', '/ping HTTP/1.0" 5', '/ping HTTP/1.1" 4', '/ping HTTP/1.0" 4'),
          r'"GET /ping HTTP/1\.[01]" (?P<status>[45]\d\d)'),
         (("upstream timed out", "connect() to", "upstream prematurely closed", "no live upstreams"),
          r'(?P<reason>upstream timed out|connect\(\) to \S+ failed|upstream prematurely closed'
                        r'|no live upstreams).*request: "GET /ping'),
         ("Error handling request /ping", r"Error handling request /ping"),
         ("did not pass the ping health check", r"did not pass the ping health check")),
    _sig("worker-died", "symptom", "a model server worker process died",
         (("Backend worker process di", "backend worker process died"),
          r"Backend worker process die(?:d)?\.|backend worker process died\."),
         ("Worker failed to boot", r"Worker failed to boot"),
         ("App failed to load", r"Reason: App failed to load"),
         ("Exception in worker process", r"Exception in worker process"),
         (("Webserver Crashed", "WebserverFailed"), r"Webserver Crashed|Error: WebserverFailed"),
         ("Endpoint failed to start", r"Endpoint failed to start"),
         ("CannotStartContainerError", r"CannotStartContainerError")),
    _sig("load-model-failed", "symptom", "the model server could not load the model into a worker",
         ("Load model failed", r"Load model failed: (?P<model>\S+), error: (?P<error>.+)"),
         ("failed to load all models", r"failed to load all models"),
         (("ShardCannotStart", "failed to start"), r"ShardCannotStart|Shard \d+ failed to start"),
         (("Could not create backend", "Could not start a suitable backend"),
          r"Could not create backend|Could not start a suitable backend"),
         ("Could not download model artifacts", r"Could not download model artifacts"),
         (("Download encountered an error", "DownloadError"), r"Download encountered an error|Error: DownloadError"),
         ("Error when initializing model", r"Error when initializing model"),
         ("Failed to load model: ", r"Failed to load model: (?P<model>\S+)"),
         ("Failed to initialize Python stub", r"Failed to initialize Python stub")),
    _sig("auto-recovery-failed", "symptom", "the model server's worker auto recovery keeps failing",
         ("Auto recovery failed again", r"Auto recovery failed again")),
    _sig("worker-retry", "symptom", "the model server restarts a dead worker after a back-off",
         ("Retry worker", r"Retry worker: (?P<worker>\d+) in (?P<seconds>\d+) seconds")),
    _sig("server-bind-failed", "symptom", "gunicorn could not bind its listening socket and gave up",
         ("Can't connect to ", r"Can't connect to (?P<address>.+)")),
    _sig("invocations-failing", "symptom", "requests to /invocations fail",
         (('/invocations HTTP/1.1" 5', '/invocations HTTP/1.0" 5'),
          r'"POST /invocations HTTP/1\.[01]" (?P<status>5\d\d)'),
         ("Prediction error", r"^Prediction error$"),
         (("upstream prematurely closed", "connect() failed"),
          r'(?:upstream prematurely closed|connect\(\) failed).*request: "POST /invocations')),
    # -------------------------------------------------------------------------------------------- noise
    _sig("noise", "noise", "a client closed its connection; harmless",
         (("NativeIoException", "IOException"), r"(?:NativeIoException|IOException).*(?:Connection reset by peer|Broken pipe)")),
    # faiss (and other libraries with optional builds) log the import they tried and caught, then fall back:
    #   Could not load library with AVX512 support due to:
    #   ModuleNotFoundError("No module named 'faiss.swigfaiss_avx512'")
    _sig("optional-module-fallback", "noise",
         "a library tried an optional module or build, caught the ImportError and fell back; harmless",
         ("Could not load library with", r"Could not load library with \w+ support due to"),
         (("Error(\"No module named", "Error('No module named"),
          r"(?:ModuleNotFound|Import)Error\((['\"])No module named")),
    _sig("pip-notice", "noise", "pip's upgrade or resolver notice; harmless on its own",
         ("You are using pip version", r"You are using pip version"),
         ("A new release of pip", r"A new release of pip"),
         ("pip's dependency resolver does not currently", r"pip's dependency resolver does not currently"),
         ("Running pip as the 'root' user", r"Running pip as the 'root' user")),
    # ------------------------------------------------------------------------------------------ healthy
    _sig("server-started", "healthy", "the model server started",
         ("Model server started", r"Model server started"),
         ("Listening at: ", r"Listening at: \S+"),
         ("Booting worker with pid", r"Booting worker with pid"),
         ("Entering the event loop", r"Entering the event loop"),
         ("Exporting HTTP/REST API", r"Exporting HTTP/REST API at"),
         ("Running gRPC ModelServer", r"Running gRPC ModelServer at"),
         (("Started HTTPService at", "Started GRPCInferenceService at", "Started Sagemaker HTTPService at"),
          r"Started (?:Sagemaker )?(?:HTTPService|GRPCInferenceService) at"),
         ("API bind to", r"(?:Inference|BOTH) API bind to"),
         # the configuration banner MMS / TorchServe print once they start
         (("Initial Models: ", "MMS Home: ", "TS Home: "), r"^(?:Initial Models|MMS Home|TS Home): \S"),
         # TGI's router after warm-up, TEI's router, DJL's Python engine
         ("Setting max batch total tokens to", r"Setting max batch total tokens to \d+"),
         ("Starting HTTP server: ", r"Starting HTTP server: \S+"),
         ("djl_python_engine started", r"djl_python_engine started"),
         # TEI/TGI log every served request's span, ending in Success
         ("_router::http::server", r"text_(?:embeddings|generation)_router::http::server: .*: Success\s*$"),
         ("scaling up min workers", r"scaling up min workers")),
    _sig("model-loaded", "healthy", "a worker loaded the model",
         ("WORKER_MODEL_LOADED", r"-> WORKER_MODEL_LOADED"),
         # TorchServe's INFO-level sign that a worker's model_fn returned (its load-time metric)
         ("WorkerLoadTime", r"\bWorkerLoadTime\.Milliseconds:"),
         ("Successfully loaded servable version", r"Successfully loaded servable version"),
         ("successfully loaded '", r"successfully loaded '"),
         ("Worker: ", r"Worker: \d+ started\.|Model \[\S+\] initialized"),
         ("loaded io_fd=", r"Model \S+ loaded io_fd="),
         ("Exiting with a successfully compiled graph", r"Exiting with a successfully compiled graph"),
         # Azure ML's scoring server once the user's init() returned ("Users's" is its own spelling)
         ("init has completed successfully", r"Users?'s init has completed successfully")),
)
