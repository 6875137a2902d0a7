"""The serving environment: a cached Python environment that stands in for the endpoint's SageMaker image.

Model code (the local stack's containers, diagnose's load check) runs here and only here. One environment is
built per image profile and mode (``image_profiles``: ``exact`` holds the image's own torch family, TorchServe
and toolkit; ``stand-in`` this machine's CPU torch), and, per model, a *layer* holds ``code/requirements.txt``
as the container installs it at start-up. The runbook's own environment is never on its import path.

Which mode: ``ENDPOINT_RUNBOOK_SERVING_MODE`` (or ``mode=``) — ``exact``, ``stand-in`` or ``auto`` (the
default): exact, unless it cannot be had here (no package index, too little disk, a failed build), then the
stand-in, and the reason is the first of its deviations, in every load check's result.

pip decides in a layer as it does in the image, and the base can never be damaged by it:

- a layer is its own virtual environment whose site-packages reaches the base's through a ``.pth`` file: pip
  sees exactly the base's installed distributions (a requirement the image satisfies installs nothing), and
  what it upgrades or replaces goes into the layer, never the base ("outside environment");
- in the stand-in only, the layer's resolution keeps the base's torch family (``layer-constraints.txt``): the
  stand-in cannot reproduce another torch, so such a requirement fails at once (the check is then skipped);
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
import time
import venv
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InputError, RunbookError
from .image_profiles import SERVING_MODES, TORCH_FAMILY, ImageProfile, profile_for_image
from .pip_output import NETWORK_ERROR

__all__ = ["ServingEnv", "ServingEnvError", "ensure_serving_env", "cache_root", "check_java", "isolated_env",
           "layers_dir", "serving_mode", "wheelhouse", "PREBUILT_VAR", "MODE_VAR"]

_JAVA_MAJOR = 17
_LAYOUT = "4"  # bump when the build's layout changes: a new cache key
PREBUILT_VAR = "ENDPOINT_RUNBOOK_SERVING_ENV"
MODE_VAR = "ENDPOINT_RUNBOOK_SERVING_MODE"
#: Free disk an exact environment needs to be tried (the index's torch builds carry GBs of CUDA libraries).
EXACT_MIN_FREE_GIB = 8.0
#: After a failed exact build, ``auto`` uses the stand-in without retrying for this long (a marker says why).
_RETRY_EXACT_AFTER_S = 3600
LAST_USED = ".last-used"
MANIFEST = "manifest.json"
BUILD_INFO = "build-info.json"
CONSTRAINTS = "layer-constraints.txt"
# pip's network errors, and requests' for an index URL it cannot use
_NETWORK = re.compile(NETWORK_ERROR.pattern + r"|No connection adapters")


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
        notes = list(self.profile.notes) if self.profile else []  # how it was picked this time (a fallback, ...)
        return notes + [d for d in info.get("deviations", []) if d not in notes]

    @property
    def mode(self) -> str:
        """``exact`` or ``stand-in`` (as built; a pre-built environment: as its profile says)."""
        return self.build_info().get("mode") or (self.profile.mode if self.profile else "exact")

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

    def layer(self, requirements: str, *, log: Callable[[str], None] | None = None,
              req_dir: Path | None = None) -> Path | None:
        """The site-packages dir of a layer holding ``requirements`` (installed once, cached by content);
        ``req_dir``: the folder of the requirements file (its relative ``--find-links`` folders)."""
        from .container_entry import install_layer  # the same code the container runs

        if not requirements.strip():
            return None
        return install_layer(str(self.python), requirements, layers_dir(self), log=log,
                             constraints=self.constraints, req_dir=req_dir)


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


def wheelhouse() -> Path:
    """The wheels every profile's build takes its packages from (downloaded once, shared by all profiles)."""
    path = cache_root() / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def serving_mode(mode: str | None = None) -> str:
    """The serving mode asked for: ``mode``, else ``$ENDPOINT_RUNBOOK_SERVING_MODE``, else ``auto``."""
    want = (mode or os.environ.get(MODE_VAR) or "auto").strip().lower().replace("_", "-")
    if want not in (*SERVING_MODES, "auto"):
        raise InputError(f"serving mode {want!r} is not one of exact, stand-in, auto.", code="bad-input",
                         hint=f"Set {MODE_VAR} (or the step's serving_env parameter) to exact, stand-in or auto.")
    return want


def ensure_serving_env(image: str | None = None, *, profile: ImageProfile | None = None, mode: str | None = None,
                       prebuilt: str | os.PathLike[str] | None = None,
                       log: Callable[[str], None] | None = None) -> ServingEnv:
    """The serving environment for the image at ``image`` (its profile; the newest PyTorch profile when None),
    built once and verified against its manifest at every call. Concurrent callers wait for one build.

    ``mode`` (else ``$ENDPOINT_RUNBOOK_SERVING_MODE``, else ``auto``): ``exact`` builds the image's own
    environment or raises; ``stand-in`` builds the CPU-torch stand-in; ``auto`` tries exact and falls back to the
    stand-in, saying why. A ``profile`` given without a ``mode`` (and no mode set in the environment) is built in
    its own mode. ``prebuilt`` (or
    ``$ENDPOINT_RUNBOOK_SERVING_ENV``): use that environment as is. Raises ServingEnvError (with pip's reason)
    when it cannot be built."""
    prebuilt = prebuilt or os.environ.get(PREBUILT_VAR) or None
    if mode is None and profile is not None and not os.environ.get(MODE_VAR):
        want = profile.mode
    else:
        want = serving_mode(mode)
        profile = profile or profile_for_image(image)
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
    if want != "auto":
        return _ensure(profile.as_mode(want), log)
    exact = profile.as_mode("exact")
    why = _exact_unavailable(exact)
    if why is None:
        try:
            return _ensure(exact, log)
        except ServingEnvError as e:
            said = [x.strip() for x in str(e).splitlines() if x.strip()]
            why = said[0].rstrip(":") + (f": {said[-1]}" if len(said) > 1 else "")
            _failed_marker(exact).write_text(json.dumps({"reason": why, "at": time.time()}))
    note = (f"FALLBACK: the image's own environment (exact mode) could not be had here ({why}): the CPU-torch "
            f"stand-in is used. Set {MODE_VAR}=exact to insist, or stand-in to stop trying.")
    if log:
        log(note)
    return _ensure(exact.as_mode("stand-in", note), log)


def _env_root(profile: ImageProfile) -> tuple[Path, str]:
    reqs = "\n".join(profile.requirements()) + "\n"
    key = hashlib.sha256((_LAYOUT + profile.mode + reqs + sys.version).encode()).hexdigest()[:12]
    tag = "" if profile.exact else "-standin"
    return cache_root() / "serving" / f"{profile.version}{tag}-{key}", reqs


def _failed_marker(profile: ImageProfile) -> Path:
    return _env_root(profile)[0].with_name(_env_root(profile)[0].name + ".failed")


def _exact_unavailable(profile: ImageProfile) -> str | None:
    """Why an exact environment will not be tried now (None: try it)."""
    root = _env_root(profile)[0]
    if (root / MANIFEST).exists():
        return None
    marker = _failed_marker(profile)
    if marker.exists():
        try:
            said = json.loads(marker.read_text())
        except ValueError:
            said = {}
        age = time.time() - float(said.get("at", 0))
        if age < _RETRY_EXACT_AFTER_S:
            return (f"its build failed {age / 60:.0f} min ago: {said.get('reason', '?')}; delete {marker} to retry "
                    "now")
    probe = root.parent if root.parent.exists() else cache_root()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    if free < EXACT_MIN_FREE_GIB:
        return (f"too little disk: {free:.1f} GiB free under {probe}, the image's torch builds need about "
                f"{EXACT_MIN_FREE_GIB:.0f} GiB (prune old environments: endpoint-runbook cache prune)")
    return None


def _ensure(profile: ImageProfile, log: Callable[[str], None] | None) -> ServingEnv:
    root, reqs = _env_root(profile)
    env = ServingEnv(root, profile)
    ready = env.root / MANIFEST
    if ready.exists() and not env.verify():
        _touch_used(env)
        return env
    with _locked(cache_root() / "serving" / f"{env.root.name}.lock"):
        if ready.exists():
            diffs = env.verify()
            if not diffs:
                _touch_used(env)
                return env
            if log:
                log(f"the serving environment {env.root} was changed after its build ({_summary(diffs)}): "
                    "rebuilding it")
        elif env.root.exists() and log:
            log(f"an interrupted build at {env.root}: rebuilding it")
        _force_rmtree(env.root)
        _force_rmtree(layers_dir(env))  # layers were resolved against the old base
        if log:
            log(f"building the serving environment for {profile.name} ({profile.mode}) once at {env.root}"
                + (": the image's torch family, a few GB, a few minutes" if profile.exact else ""))
        _build(env, profile, reqs)
        _failed_marker(profile).unlink(missing_ok=True)
        _touch_used(env)
    return env


def _touch_used(env: ServingEnv) -> None:
    """Note the environment's last use (beside it: the base itself is read-only), for ``cache`` listing/pruning."""
    try:
        Path(str(env.root) + LAST_USED).touch()
    except OSError:
        pass


def _build(env: ServingEnv, profile: ImageProfile, reqs: str) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(env.root)
    req_file = env.root / "requirements.txt"
    req_file.write_text(reqs)
    pip = [str(env.python), "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    house = wheelhouse()
    local = [*pip, "install", "--no-index", "--find-links", str(house), "-r", str(req_file)]
    # From the shared wheelhouse alone when it holds everything (a rebuild, another profile's wheels; offline too),
    # else fetch what is missing into it first. --prefer-binary: an older wheel over a newer sdist.
    proc = subprocess.run(local, capture_output=True, text=True, env=isolated_env())
    if proc.returncode != 0:
        with _locked(house.parent / "wheels.lock"):
            proc = subprocess.run([*pip, "wheel", "--prefer-binary", "-w", str(house), "-r", str(req_file)],
                                  capture_output=True, text=True, env=isolated_env())
            if proc.returncode == 0:
                proc = subprocess.run(local, capture_output=True, text=True, env=isolated_env())
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        tail = "\n".join(out.splitlines()[-12:])
        offline = bool(_NETWORK.search(out))
        nospace = "No space left on device" in out
        raise ServingEnvError(
            f"building the serving environment for {profile.name} ({profile.mode}) failed"
            f"{' (no package index reachable)' if offline else ' (no space left on device)' if nospace else ''}:"
            f"\n{tail}",
            hint="Check that a package index is reachable (pip config), or point "
            f"{PREBUILT_VAR} at a pre-built serving environment.",
        )
    versions = _installed_versions(env.python)
    _register_opencv(env, profile, versions)
    # Bytecode now, so that imports never need to write into the (read-only) base.
    subprocess.run([str(env.python), "-m", "compileall", "-q", "-j", "0", str(env.root / "lib")],
                   capture_output=True, env=isolated_env())
    versions = _installed_versions(env.python)
    (env.root / "image-modules.json").write_text(_run_py(env.python, _MODULES_CODE))
    if not profile.exact:
        pins = [f"{p}=={versions[p]}" for p in TORCH_FAMILY if p in versions]
        # A torch-family package the stand-in lacks cannot come into a layer: none works with its torch.
        pins += [f"{p}==0+absent" for p in TORCH_FAMILY if p not in versions]
        (env.root / CONSTRAINTS).write_text(
            "# The stand-in's torch family: a layer may not replace it (see serving/env.py)\n" + "\n".join(pins) + "\n")
    (env.root / BUILD_INFO).write_text(json.dumps({
        "profile": profile.name, "image": profile.image_uri, "version": profile.version, "mode": profile.mode,
        "python": "%d.%d.%d" % sys.version_info[:3], "versions": versions, "wheels": _wheels_of(house, versions),
        "deviations": _deviations(profile, versions)}, indent=1))
    (env.root / MANIFEST).write_text(json.dumps({"files": _scan(env.root)}))
    _set_read_only(env.root)


def _wheels_of(house: Path, versions: dict[str, str]) -> list[str]:
    """The wheelhouse files the build installed (so that pruning keeps what a kept environment was built from)."""
    want = {(re.sub(r"[-_.]+", "_", n).lower(), v) for n, v in versions.items()}
    out = []
    for f in house.glob("*.whl"):
        name, _, rest = f.name.partition("-")
        if (name.lower(), rest.split("-", 1)[0]) in want:
            out.append(f.name)
    return sorted(out)


def _installed_versions(python: Path) -> dict[str, str]:
    return json.loads(_run_py(python, "import importlib.metadata as m, json; print(json.dumps("
                                      "{d.metadata['Name'].lower().replace('_', '-'): d.version "
                                      "for d in m.distributions()}))"))


def _deviations(profile: ImageProfile, versions: dict[str, str]) -> list[str]:
    """Every way the built environment differs from the image, in words."""
    out = replace(profile, notes=()).static_deviations()  # the notes of each use are added when read
    wanted = {**profile.torch_family(), **{r.split("==")[0]: r.split("==")[1] for r in profile.runtime() if "==" in r}}
    wanted.update({name: spec.split("==", 1)[1] for name, (spec, _n) in profile.image["packages"].items()
                   if "==" in spec and "," not in spec})
    for name, want in wanted.items():
        have = versions.get(name)
        if have and have.split("+")[0] != want.split("+")[0]:
            out.append(f"{name} {have} stands in for the image's {want}.")
    inferred = [f"{n} {versions.get(spec_name(spec), '?')}" for n, (spec, note) in profile.image["packages"].items()
                if "unpinned" in note]
    if inferred:
        out.append("unpinned in the image (its exact versions are not in its build files); here: "
                   + ", ".join(inferred) + ".")
    extra = sorted(n for n in versions if n.startswith("nvidia-") or n == "triton")
    if extra:
        out.append(f"installed with the index's torch build, absent from the CPU image: {len(extra)} CUDA "
                   f"libraries ({', '.join(extra[:3])}{', …' if len(extra) > 3 else ''}).")
    return out


def _register_opencv(env: ServingEnv, profile: ImageProfile, versions: dict[str, str]) -> None:
    """pip in the image sees ``opencv-python`` installed; here its headless build provides the same ``cv2``
    (this machine has no libGL). Register the image's distribution name at the headless build's version, with no
    files of its own, so pip decides about ``opencv-python`` as it does in the image."""
    headless = versions.get("opencv-python-headless")
    if "opencv-python" not in profile.image["packages"] or not headless or "opencv-python" in versions:
        return
    site = Path(_run_py(env.python, "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    src = next(site.glob("opencv_python_headless-*.dist-info"))
    requires = [line for line in (src / "METADATA").read_text().splitlines() if line.startswith("Requires-")]
    info = site / f"opencv_python-{headless}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("\n".join([
        "Metadata-Version: 2.1", "Name: opencv-python", f"Version: {headless}",
        f"Summary: registered by endpoint-runbook: cv2 comes from opencv-python-headless {headless} "
        "(no libGL here); the image ships opencv-python", *requires]) + "\n")
    (info / "INSTALLER").write_text("endpoint-runbook\n")
    rel = info.name
    (info / "RECORD").write_text(f"{rel}/METADATA,,\n{rel}/INSTALLER,,\n{rel}/RECORD,,\n")


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


