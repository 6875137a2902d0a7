"""A model server started from a serving environment (:mod:`.env`): the container's process environment (only
this machine's plumbing and the model's own variables), a free port, and TorchServe launched through the image's
``serve`` entry (:func:`start_model_server`); without a network when the model has ``EnableNetworkIsolation``
(:mod:`.netns`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import netns
from .env import ServingEnv, layers_dir
from .image_profiles import ImageProfile
from .netns import Forwarder

#: This machine's plumbing a model container here needs and gets on purpose (never settings of the model's):
#: where Java is (TorchServe), and how pip reaches the package index when it installs code/requirements.txt.
_PLUMBING = ("JAVA_HOME",)

__all__ = ["ModelServer", "container_env", "free_port", "start_model_server"]


def _pip_plumbing() -> dict[str, str]:
    """pip's configuration of this machine, for the container's requirements install (its HOME is its own, so
    the user's pip.conf and cache are named explicitly; a proxy pip needs is pip's only)."""
    out = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    home = os.path.expanduser("~")
    if "PIP_CONFIG_FILE" not in out:
        config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        for cand in (os.path.join(config, "pip", "pip.conf"), os.path.join(home, ".pip", "pip.conf")):
            if os.path.isfile(cand):
                out["PIP_CONFIG_FILE"] = cand
                break
    out.setdefault("PIP_CACHE_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
                                                 "pip"))
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        out.setdefault("PIP_PROXY", proxy)
    return out


def _pip_isolated(home: Path) -> dict[str, str]:
    """pip of a container without a network: none of this machine's configuration (its pip.conf names local file
    indexes and wheel dirs a network namespace would not hide; with ``PIP_CONFIG_FILE`` set to ``os.devnull`` pip
    reads no config file at all) and an empty cache of its own (a fresh instance has none; this machine's HTTP
    cache could answer index pages offline)."""
    return {"PIP_CONFIG_FILE": os.devnull, "PIP_CACHE_DIR": str(home / ".cache" / "pip")}


def container_env(profile: ImageProfile | None, *, home: Path, tmp: Path, environment: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None, path_prefix: list[str] | None = None,
                  pip: bool = False, network: bool = True, model_dir: Path | None = None) -> dict[str, str]:
    """The environment model code runs with here, as in the container: an allow-list, nothing else inherited.

    - the image's own ENV (its Dockerfile: ``LANG``, ``MKL_THREADING_LAYER``, ``DLC_CONTAINER_TYPE``, ... per
      profile), with ``TEMP``/``TMPDIR`` a private dir and ``HOME`` a private, empty one (the container's home
      holds no caches: a model that downloads at start-up must not find the developer's hub cache here);
    - ``PATH``: the serving environment's bin first (``path_prefix``), then this machine's (java);
    - SageMaker's: the model's ``Environment`` (``environment``), then what the caller sets on purpose
      (``extra``: the toolkit's ports and base dir, the local stack's AWS endpoint);
    - with ``pip``, pip's configuration of this machine (the container installs code/requirements.txt); without
      ``network``, none of it (``_pip_isolated``);
    - ``model_dir``: where the container's ``/opt/ml/model`` is here; a value of the model's ``Environment`` under
      it (``TORCH_HOME=/opt/ml/model/torch-home``) names the same place here.

    Everything else of the caller's (a notebook kernel's ``MPLBACKEND``, ``HF_HOME``, ``LD_LIBRARY_PATH``,
    proxies, AWS profiles, ...) stays out."""
    from .image_profiles import default_profile

    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    base_path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                 if p and not p.startswith(sys.prefix)]
    env = {"PATH": os.pathsep.join([*(path_prefix or []), *base_path])}
    env.update({k: os.environ[k] for k in _PLUMBING if os.environ.get(k)})
    if pip:
        env.update(_pip_plumbing() if network else _pip_isolated(home))
    env.update((profile or default_profile()).container_env())
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "TEMP": str(tmp), "PYTHONNOUSERSITE": "1"})
    env.update({k: _in_model_dir(str(v), model_dir) for k, v in (environment or {}).items()})
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def _in_model_dir(value: str, model_dir: Path | None) -> str:
    root = "/opt/ml/model"
    if model_dir is None or not (value == root or value.startswith(root + "/")):
        return value
    return str(model_dir) + value[len(root):]


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
    bridge: Forwarder | None = None  # without a network: the stack's way to its port (:mod:`.netns`)

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
        if self.bridge:
            self.bridge.close()
        _remove_temp(self.tmpdir)


def _short_temp(on: Path | None) -> Path:
    """The container's private temp dir at a short path (``/tmp/erb-ts-XXXX``): the dir itself, or with ``on`` a
    symlink to a new dir under ``on`` (e.g. the container's volume), so that what it writes there lands on ``on``."""
    import tempfile

    link = Path(tempfile.mkdtemp(prefix="erb-ts-"))
    if on is None:
        return link
    try:
        real = Path(tempfile.mkdtemp(prefix="tmp-", dir=on))
        link.rmdir()
        link.symlink_to(real, target_is_directory=True)  # the name is ours: mkdtemp made it, only we removed it
    except BaseException:
        _remove_temp(link)
        raise
    return link


def _remove_temp(tmp: Path) -> None:
    """Remove a temp dir made by :func:`_short_temp` (a symlink: its target too)."""
    if tmp.is_symlink():
        shutil.rmtree(tmp.resolve(), ignore_errors=True)
        tmp.unlink(missing_ok=True)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def start_model_server(env: ServingEnv, *, base_dir: Path, workdir: Path, environment: dict[str, str] | None = None,
                       extra_env: dict[str, str] | None = None,
                       preexec_fn: Callable[[], None] | None = None, network: bool = True,
                       temp_on: Path | None = None) -> ModelServer:
    """Start ``container_entry.py`` (the image's ``serve``) on the model at ``base_dir/model``; output is piped
    (stdout+stderr merged, line-buffered text) for the caller to ship or read. ``preexec_fn``: run in the child
    before it execs (e.g. joining a memory cgroup: the whole tree is in it).

    Without ``network`` (the model's ``EnableNetworkIsolation``) the container runs in a network namespace of its
    own with only loopback (:mod:`.netns`), its port reached through a bridge at the same URL; pip gets none of this
    machine's configuration and requirements are installed into a layer of its own, as on a fresh instance (a
    layer cached by another container would skip pip). Raises ``netns.IsolationUnavailable`` when no namespace
    can be made here: it is never started with the network instead.

    ``temp_on`` (the container's volume): its temp dir and home, and its requirements layer (installed for it alone,
    as on a fresh instance), live there, reached through a short symlink."""
    if not network:
        netns.unshare_prefix()  # before anything is made: raises IsolationUnavailable with the reason
    # TorchServe's worker sockets live in TEMP, and AF_UNIX paths are short (108 bytes): a short path.
    tmp = _short_temp(temp_on)
    bridge = None
    try:
        if network:
            port = free_port()
        else:  # the stack's side of the bridge holds the port here; inside the namespace the same number is free
            bridge = netns.stack_bridge(0, tmp / "net.sock")
            port = bridge.listener.getsockname()[1]
        # The container's environment (``container_env``): the image's ENV, the model's Environment, and the
        # stack's own plumbing; nothing of this process's.
        run_env = container_env(env.profile, home=tmp / "home", tmp=tmp / "t", environment=environment, pip=True,
                                network=network, path_prefix=[str(env.bin_dir)], model_dir=base_dir / "model", extra={
            "SAGEMAKER_BASE_DIR": str(base_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_SAFE_PORT_RANGE": f"{port}-{port}",
            # Loopback only, and private ports/dirs so that several containers run side by side.
            "TS_INFERENCE_ADDRESS": f"http://127.0.0.1:{port}",
            "TS_MANAGEMENT_ADDRESS": f"http://127.0.0.1:{port}",
            "TS_METRICS_ADDRESS": f"http://127.0.0.1:{free_port()}",
            "TS_GRPC_INFERENCE_PORT": str(free_port()),
            "TS_GRPC_MANAGEMENT_PORT": str(free_port()),
            **(extra_env or {}),
        })
        from . import container_entry

        workdir.mkdir(parents=True, exist_ok=True)
        layers = layers_dir(env) if network and temp_on is None else tmp / "layers"
        cmd = [str(env.python), str(Path(container_entry.__file__)), "--layers-dir", str(layers)]
        if env.constraints:
            cmd += ["--constraints", str(env.constraints)]
        if not network:
            cmd = netns.isolated_command(cmd, python=str(env.python), socket_path=tmp / "net.sock", port=port)
        proc = subprocess.Popen(
            cmd,
            cwd=workdir, env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, text=True, errors="replace", bufsize=1, preexec_fn=preexec_fn,
        )
    except BaseException:
        if bridge:
            bridge.close()
        _remove_temp(tmp)
        raise
    return ModelServer(proc=proc, port=port, tmpdir=tmp, bridge=bridge)
