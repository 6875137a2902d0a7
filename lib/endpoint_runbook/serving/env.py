"""The serving environment: a cached Python environment that stands in for the SageMaker PyTorch image.

Model code (the local stack's containers, diagnose's load check) runs here and only here: it holds what the
image ships (``serving-image.txt``) plus, per model, a layer where ``code/requirements.txt`` is installed, as
the container does at start-up. The runbook's own environment is never on its import path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

from ..errors import RunbookError

__all__ = ["ServingEnv", "ensure_serving_env", "cache_root", "check_java", "isolated_env", "SPEC_NAME",
           "ModelServer", "start_model_server", "free_port"]

SPEC_NAME = "serving-image.txt"
_JAVA_MAJOR = 17


class ServingEnvError(RunbookError):
    code = "serving-env"


def cache_root() -> Path:
    """Where built environments live: ``$ENDPOINT_RUNBOOK_CACHE`` or ``~/.cache/endpoint-runbook``."""
    root = os.environ.get("ENDPOINT_RUNBOOK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "endpoint-runbook"
    )
    return Path(root)


def _spec_text() -> str:
    return resources.files("endpoint_runbook.serving").joinpath(SPEC_NAME).read_text()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class ServingEnv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def image_modules(self) -> set[str]:
        """Top-level module names importable in the image (what model code may import without a
        requirements.txt), read once from the environment's installed distributions."""
        cache = self.root / "image-modules.json"
        if not cache.exists():
            out = subprocess.run(
                [str(self.python), "-I", "-c",
                 "import importlib.metadata as m, json, sys; "
                 "print(json.dumps(sorted(set(m.packages_distributions()))))"],
                capture_output=True, text=True, check=True,
            ).stdout
            cache.write_text(out)
        return set(json.loads(cache.read_text()))

    def layer(self, requirements: str, *, log: "callable | None" = None) -> Path | None:
        """The site-packages dir of a layer holding ``requirements`` (installed once, cached by content)."""
        from .container_entry import install_layer  # the same code the container runs

        if not requirements.strip():
            return None
        return install_layer(str(self.python), requirements, layers_dir(self), log=log)


def layers_dir(env: ServingEnv) -> Path:
    return env.root.parent / f"{env.root.name}-layers"


def check_java() -> str:
    """The java on PATH, or a one-line error saying how to get Java 17 (TorchServe needs it)."""
    java = shutil.which("java")
    if not java:
        raise ServingEnvError(
            "Java is not on PATH; TorchServe needs Java 17.",
            hint="Install it: `apt-get install openjdk-17-jre-headless`, or `conda install -c conda-forge "
            "openjdk=17` in Studio.",
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < _JAVA_MAJOR:
        raise ServingEnvError(
            f"TorchServe needs Java {_JAVA_MAJOR} or newer; {java} is {out.splitlines()[0] if out else '?'}.",
            hint="Put a Java 17 first on PATH (openjdk-17-jre-headless, or conda-forge openjdk=17).",
        )
    return java


def ensure_serving_env(*, log: "callable | None" = None) -> ServingEnv:
    """Build (once) and return the serving environment. Concurrent callers wait for one build."""
    spec = _spec_text()
    key = hashlib.sha256(spec.encode() + sys.version.encode()).hexdigest()[:12]
    env = ServingEnv(cache_root() / "serving" / key)
    ready = env.root / ".ready"
    if ready.exists():
        return env
    with _locked(cache_root() / "serving" / f"{key}.lock"):
        if ready.exists():
            return env
        if env.root.exists():
            shutil.rmtree(env.root)  # an interrupted build
        if log:
            log(f"building the serving environment (once) at {env.root}")
        venv.EnvBuilder(with_pip=True, clear=True).create(env.root)
        spec_file = env.root / SPEC_NAME
        spec_file.write_text(spec)
        proc = subprocess.run(
            [str(env.python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(spec_file)],
            capture_output=True, text=True, env=isolated_env(),
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ServingEnvError(
                f"building the serving environment failed:\n{tail}",
                hint="Check that PyPI is reachable and that torch==2.13.0 (CPU) is installable here.",
            )
        ready.write_text(spec)
    return env


def isolated_env(extra: dict[str, str] | None = None, *, path_prefix: list[str] | None = None) -> dict[str, str]:
    """An environment for a serving-env subprocess: none of the caller's Python paths leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX", "JUPYTER", "PIP_REQUIRE"))}
    env["PYTHONNOUSERSITE"] = "1"
    base_path = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                 if p and not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join([*(path_prefix or []), *base_path])
    env.update(extra or {})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ModelServer:
    """A model container process: the real toolkit + TorchServe on a loopback port (its own process group)."""

    proc: subprocess.Popen
    port: int
    tmpdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        import signal

        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)  # TorchServe's JVM and workers share the process group
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_model_server(env: ServingEnv, *, base_dir: Path, workdir: Path, environment: dict[str, str] | None = None,
                       extra_env: dict[str, str] | None = None) -> ModelServer:
    """Start ``container_entry.py`` (the image's ``serve``) on the model at ``base_dir/model``; output is piped
    (stdout+stderr merged, line-buffered text) for the caller to ship or read."""
    import tempfile

    port = free_port()
    # TorchServe's worker sockets live in TEMP, and AF_UNIX paths are short (108 bytes): a short dir.
    tmp = Path(tempfile.mkdtemp(prefix="erb-ts-"))
    run_env = isolated_env({
        **{k: str(v) for k, v in (environment or {}).items()},
        "SAGEMAKER_BASE_DIR": str(base_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_SAFE_PORT_RANGE": f"{port}-{port}",
        # Loopback only, and private ports/dirs so that several containers run side by side.
        "TS_INFERENCE_ADDRESS": f"http://127.0.0.1:{port}",
        "TS_MANAGEMENT_ADDRESS": f"http://127.0.0.1:{port}",
        "TS_METRICS_ADDRESS": f"http://127.0.0.1:{free_port()}",
        "TS_GRPC_INFERENCE_PORT": str(free_port()),
        "TS_GRPC_MANAGEMENT_PORT": str(free_port()),
        "TEMP": str(tmp),
        "TMPDIR": str(tmp),
        **(extra_env or {}),
    }, path_prefix=[str(env.bin_dir)])
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        if k not in (extra_env or {}):
            run_env.pop(k, None)
    entry = Path(__file__).with_name("container_entry.py")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(env.python), str(entry), "--layers-dir", str(layers_dir(env))],
        cwd=workdir, env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, text=True, errors="replace", bufsize=1,
    )
    return ModelServer(proc=proc, port=port, tmpdir=tmp)
