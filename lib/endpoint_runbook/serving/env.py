"""The serving environment: a cached Python environment that stands in for the endpoint's SageMaker image.

Model code (the local stack's containers, diagnose's load check) runs here and only here. One environment is
built per image profile (``image_profiles``: what that image ships, with this machine's Python and CPU torch),
and, per model, a *layer* holds ``code/requirements.txt`` as the container installs it at start-up. The
runbook's own environment is never on its import path.

The base can never be damaged by a model's requirements:

- a layer is its own virtual environment whose site-packages reaches the base's through a ``.pth`` file:
  pip installs into the layer and never uninstalls anything outside it ("outside environment");
- the layer's resolution keeps the base's torch family (``layer-constraints.txt``), so a requirement that
  would swap torch fails at once instead of pulling a multi-GB CUDA build;
- the base is made read-only after its build, and a manifest of its files (path, size, mtime) written at
  build time is checked before each use: a changed base is rebuilt, with a message saying what changed.

``ENDPOINT_RUNBOOK_SERVING_ENV`` (or ``prebuilt=``) points at a pre-built environment for machines that
cannot build one (no package index).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import venv
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import RunbookError
from .image_profiles import TORCH_FAMILY, ImageProfile, profile_for_image

__all__ = ["ServingEnv", "ServingEnvError", "ensure_serving_env", "cache_root", "check_java", "isolated_env",
           "ModelServer", "start_model_server", "free_port", "layers_dir", "PREBUILT_VAR"]

_JAVA_MAJOR = 17
_LAYOUT = "2"  # bump when the build's layout changes: a new cache key
PREBUILT_VAR = "ENDPOINT_RUNBOOK_SERVING_ENV"
MANIFEST = "manifest.json"
BUILD_INFO = "build-info.json"
CONSTRAINTS = "layer-constraints.txt"
_NETWORK = re.compile(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
                      r"Name or service not known|ProxyError|Max retries exceeded|Could not fetch URL|"
                      r"No connection adapters|ConnectTimeout|ReadTimeoutError")


class ServingEnvError(RunbookError):
    code = "serving-env"


def cache_root() -> Path:
    """Where built environments live: ``$ENDPOINT_RUNBOOK_CACHE`` or ``~/.cache/endpoint-runbook``."""
    root = os.environ.get("ENDPOINT_RUNBOOK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "endpoint-runbook"
    )
    return Path(root)


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
    profile: ImageProfile | None = field(default=None, compare=False)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def constraints(self) -> Path | None:
        p = self.root / CONSTRAINTS
        return p if p.is_file() else None

    def build_info(self) -> dict:
        p = self.root / BUILD_INFO
        return json.loads(p.read_text()) if p.is_file() else {}

    def deviations(self) -> list[str]:
        """How this environment differs from the image it stands in for (said in words)."""
        info = self.build_info()
        if not info:
            return ["a pre-built serving environment: its packages were not checked against an image profile."]
        return list(info.get("deviations", []))

    def image_modules(self) -> set[str]:
        """Top-level module names importable here, read from the installed distributions (cached at build)."""
        cache = self.root / "image-modules.json"
        if cache.exists():
            return set(json.loads(cache.read_text()))
        return set(json.loads(_run_py(self.python, _MODULES_CODE)))

    def verify(self) -> list[str]:
        """The differences between the base's files and the manifest written at its build ([] = intact)."""
        man = self.root / MANIFEST
        if not man.is_file():
            return []
        return _diff(json.loads(man.read_text())["files"], _scan(self.root))

    def layer(self, requirements: str, *, log: Callable[[str], None] | None = None) -> Path | None:
        """The site-packages dir of a layer holding ``requirements`` (installed once, cached by content)."""
        from .container_entry import install_layer  # the same code the container runs

        if not requirements.strip():
            return None
        return install_layer(str(self.python), requirements, layers_dir(self), log=log,
                             constraints=self.constraints)


_MODULES_CODE = ("import importlib.metadata as m, json; "
                 "print(json.dumps(sorted(set(m.packages_distributions()))))")


def _run_py(python: Path, code: str) -> str:
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, check=True,
                          env=isolated_env()).stdout


def _scan(root: Path) -> dict[str, list[int]]:
    """path → [size, mtime_ns] of every file of the base but bytecode caches and the manifest itself."""
    out: dict[str, list[int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root)
            if rel == MANIFEST:
                continue
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def _diff(old: dict[str, list[int]], new: dict[str, list[int]]) -> list[str]:
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    return [f"removed {p}" for p in removed] + [f"added {p}" for p in added] + [f"changed {p}" for p in changed]


def _summary(diffs: list[str]) -> str:
    pkgs = sorted({d.split(" ", 1)[1].split("site-packages/")[-1].split("/")[0] for d in diffs})
    return f"{len(diffs)} file(s) in {', '.join(pkgs[:8])}{' …' if len(pkgs) > 8 else ''} (e.g. {diffs[0]})"


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


def _force_rmtree(path: Path) -> None:
    def onerror(func, p, _exc):  # a read-only base: give write back, then retry
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
        except OSError:
            pass
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=onerror)


def _set_read_only(root: Path, read_only: bool = True) -> None:
    strip = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) or name == "__pycache__":
                continue
            mode = os.lstat(p).st_mode
            os.chmod(p, (mode & ~strip) if read_only else (mode | stat.S_IWUSR))
    mode = os.stat(root).st_mode
    os.chmod(root, (mode & ~strip) if read_only else (mode | stat.S_IWUSR))


def ensure_serving_env(image: str | None = None, *, profile: ImageProfile | None = None,
                       exact_torch: bool = False, prebuilt: str | os.PathLike[str] | None = None,
                       log: Callable[[str], None] | None = None) -> ServingEnv:
    """The serving environment for the image at ``image`` (its profile; the newest PyTorch profile when None),
    built once and verified against its manifest at every call. Concurrent callers wait for one build.

    ``exact_torch``: install the image's own torch family (from the index: a multi-GB CUDA build on most
    machines) instead of this machine's CPU torch. ``prebuilt`` (or ``$ENDPOINT_RUNBOOK_SERVING_ENV``): use
    that environment as is. Raises ServingEnvError (with pip's reason) when it cannot be built."""
    prebuilt = prebuilt or os.environ.get(PREBUILT_VAR) or None
    profile = profile or profile_for_image(image, exact_torch=exact_torch)
    if prebuilt:
        env = ServingEnv(Path(prebuilt).expanduser().resolve(), profile)
        if not env.python.exists():
            raise ServingEnvError(f"the pre-built serving environment {env.root} has no bin/python.",
                                  hint=f"Point {PREBUILT_VAR} at a virtual environment's root.")
        diffs = env.verify()
        if diffs:
            raise ServingEnvError(f"the pre-built serving environment {env.root} changed since its build: "
                                  f"{_summary(diffs)}.", hint="Rebuild it, or unset " + PREBUILT_VAR)
        return env
    reqs = "\n".join(profile.requirements()) + "\n"
    key = hashlib.sha256((_LAYOUT + reqs + sys.version).encode()).hexdigest()[:12]
    env = ServingEnv(cache_root() / "serving" / f"{profile.version}-{key}", profile)
    ready = env.root / MANIFEST
    if ready.exists():
        diffs = env.verify()
        if not diffs:
            return env
    with _locked(cache_root() / "serving" / f"{env.root.name}.lock"):
        if ready.exists():
            diffs = env.verify()
            if not diffs:
                return env
            if log:
                log(f"the serving environment {env.root} was changed after its build ({_summary(diffs)}): "
                    "rebuilding it")
        elif env.root.exists() and log:
            log(f"an interrupted build at {env.root}: rebuilding it")
        _force_rmtree(env.root)
        _force_rmtree(layers_dir(env))  # layers were resolved against the old base
        if log:
            log(f"building the serving environment for {profile.name} (once) at {env.root}")
        _build(env, profile, reqs)
    return env


def _build(env: ServingEnv, profile: ImageProfile, reqs: str) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(env.root)
    req_file = env.root / "requirements.txt"
    req_file.write_text(reqs)
    proc = subprocess.run(
        [str(env.python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q",
         "-r", str(req_file)], capture_output=True, text=True, env=isolated_env(),
    )
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        tail = "\n".join(out.splitlines()[-12:])
        offline = bool(_NETWORK.search(out))
        raise ServingEnvError(
            f"building the serving environment for {profile.name} failed"
            f"{' (no package index reachable)' if offline else ''}:\n{tail}",
            hint="Check that a package index is reachable (pip config), or point "
            f"{PREBUILT_VAR} at a pre-built serving environment.",
        )
    # Bytecode now, so that imports never need to write into the (read-only) base.
    subprocess.run([str(env.python), "-m", "compileall", "-q", "-j", "0", str(env.root / "lib")],
                   capture_output=True, env=isolated_env())
    versions = json.loads(_run_py(env.python, "import importlib.metadata as m, json; print(json.dumps("
                                  "{d.metadata['Name'].lower(): d.version for d in m.distributions()}))"))
    (env.root / "image-modules.json").write_text(_run_py(env.python, _MODULES_CODE))
    pins = [f"{p}=={versions[p]}" for p in TORCH_FAMILY if p in versions]
    # A torch-family package the base lacks cannot come into a layer: none works with this torch here.
    pins += [f"{p}==0+absent" for p in TORCH_FAMILY if p not in versions]
    (env.root / CONSTRAINTS).write_text(
        "# The base's torch family: a layer may not replace it (see serving/env.py)\n" + "\n".join(pins) + "\n")
    deviations = profile.static_deviations()
    exact = {name: spec.split("==", 1)[1] for name, (spec, _n) in profile.image["packages"].items()
             if "==" in spec and "," not in spec}
    for name, want in exact.items():
        have = versions.get(name)
        if have and have != want:
            deviations.append(f"{name} {have} stands in for the image's {want}.")
    inferred = [f"{n} {versions.get(spec_name(spec), '?')}" for n, (spec, note) in profile.image["packages"].items()
                if "unpinned" in note]
    if inferred:
        deviations.append("unpinned in the image (its exact versions are not in its build files); here: "
                          + ", ".join(inferred) + ".")
    (env.root / BUILD_INFO).write_text(json.dumps({
        "profile": profile.name, "image": profile.image_uri, "version": profile.version,
        "exact_torch": profile.exact_torch, "python": "%d.%d.%d" % sys.version_info[:3],
        "versions": versions, "deviations": deviations}, indent=1))
    (env.root / MANIFEST).write_text(json.dumps({"files": _scan(env.root)}))
    _set_read_only(env.root)


def spec_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip().lower()


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
    from . import container_entry

    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(env.python), str(Path(container_entry.__file__)), "--layers-dir", str(layers_dir(env))]
    if env.constraints:
        cmd += ["--constraints", str(env.constraints)]
    proc = subprocess.Popen(
        cmd,
        cwd=workdir, env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, text=True, errors="replace", bufsize=1,
    )
    return ModelServer(proc=proc, port=port, tmpdir=tmp)
