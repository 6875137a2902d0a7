"""Rules read from the model servers' own sources — the messages TorchServe's and MMS's frontends (their
``model-server.jar`` classes) and MMS's Python services log when a start-up goes wrong — added to the catalogue's
signature of the same cause (:mod:`.catalogue` merges them; kept apart for its size).

Each rule as in :func:`.causes._sig`: anchors, pattern, and a strength when the line is not *sure*.
"""

from __future__ import annotations

SERVER_RULES: dict[str, tuple[tuple, ...]] = {
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
