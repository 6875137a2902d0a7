"""The model container's entry point on the local stack (what `serve` is in the SageMaker PyTorch image).

Run by the serving environment's Python, never imported by it, so it uses only the standard library and the
real toolkit. It starts the REAL SageMaker PyTorch inference toolkit, which writes its TorchServe config,
pip-installs ``code/requirements.txt`` and starts the REAL TorchServe. Three things differ from the image,
so that several containers can run side by side as a non-root user:

- the toolkit's config file goes to the container's working dir instead of ``/etc/sagemaker-ts.properties``;
- ``code/requirements.txt`` is installed into a per-model layer (cached by content) instead of the image's
  site-packages, which every container here shares. The layer is a virtual environment of its own that sees
  the image's packages through a ``.pth`` file: pip decides against exactly the image's installed
  distributions, as in the container, but what it upgrades or replaces lands in the layer, never in the image
  ("Not uninstalling ...: outside environment"). Only a stand-in environment (``--constraints``) keeps its torch
  family: it cannot reproduce another one;
- the toolkit's "find the TorchServe process" looks only for this container's TorchServe.

``install_layer`` is also used by the runbook's load check, so both install requirements the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["LayerInstallError", "install_layer", "layer_distributions", "layer_install_seconds", "main", "run_pip"]


class LayerInstallError(ValueError):
    """pip could not install the requirements; ``output`` is what pip said."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


_SITE = "import sysconfig, json; print(json.dumps([sysconfig.get_paths()[k] for k in ('purelib', 'platlib')]))"


_LINKS = ("--find-links", "-f")


def local_links(requirements: str, req_dir: Path | str | None) -> tuple[str, list[Path]]:
    """``requirements`` with each relative ``--find-links``/``-f`` folder that exists beside the requirements file
    (``req_dir``) made absolute, as pip reads them from ``-r <req_dir>/requirements.txt``; and those folders."""
    if req_dir is None:
        return requirements, []
    out, dirs = [], []
    for line in requirements.splitlines():
        bare = line.strip()
        opt = next((o for o in _LINKS if bare == o or bare.startswith((o + " ", o + "="))), None)
        value = bare[len(opt):].lstrip(" =").strip() if opt else ""
        if opt and value and "://" not in value and not os.path.isabs(value):
            target = Path(req_dir, value)
            if target.is_dir():
                dirs.append(target.resolve())
                line = f"{opt} {target.resolve()}"
        out.append(line)
    return "\n".join(out) + ("\n" if requirements.endswith("\n") else ""), dirs


def _listing(dirs: list[Path]) -> str:
    return "\n".join(f"{f.name}:{f.stat().st_size}" for d in dirs for f in sorted(d.iterdir()) if f.is_file())


def run_pip(python: str, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pip <command> <args>`` without prompts or its version check, and without this process's
    PYTHONPATH / VIRTUAL_ENV (pip decides for ``python``'s environment); its output merged, as text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    return subprocess.run([python, "-m", "pip", command, "--disable-pip-version-check", "--no-input", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def install_layer(python: str, requirements: str, layers_dir: Path, *, log=None,
                  constraints: Path | str | None = None, req_dir: Path | str | None = None) -> Path:
    """Install ``requirements`` into a layer venv over the environment of ``python`` (keyed by the hash of the
    requirements, the constraints and the files of the local folders they name); return the layer's
    site-packages. Packages the base has are not installed again (pip sees them); a different version goes into
    the layer, which comes first on the import path. ``req_dir``: where the requirements file lives (its relative
    ``--find-links`` folders are read from there, as pip does)."""
    import json

    requirements, dirs = local_links(requirements, req_dir)
    cons = Path(constraints).read_text() if constraints else ""
    key = hashlib.sha256((requirements + "\0" + cons + "\0" + _listing(dirs)).encode()).hexdigest()[:16]
    prefix = Path(layers_dir) / key
    ver = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    site = prefix / "lib" / f"python{ver}" / "site-packages"
    ready = prefix / ".ready"
    if ready.exists():
        return site
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(str(prefix) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return site
        shutil.rmtree(prefix, ignore_errors=True)  # an interrupted install
        base_sites = json.loads(subprocess.run([python, "-I", "-c", _SITE], capture_output=True, text=True,
                                               check=True).stdout)
        subprocess.run([python, "-I", "-m", "venv", "--without-pip", str(prefix)], check=True,
                       capture_output=True)
        site.mkdir(parents=True, exist_ok=True)
        # After the layer's own site-packages: the layer's versions win, the base's fill in.
        (site / "_serving_base.pth").write_text("\n".join(dict.fromkeys(base_sites)) + "\n")
        req = Path(str(prefix) + ".requirements.txt")
        req.write_text(requirements)
        t0 = time.monotonic()
        proc = run_pip(str(prefix / "bin" / "python"), "install", "-r", str(req),
                       *(["-c", str(constraints)] if constraints else []))
        for line in proc.stdout.splitlines():
            if log and line.strip() and not line.startswith("WARNING: Location"):
                log(line)
        if proc.returncode != 0:
            shutil.rmtree(prefix, ignore_errors=True)
            req.unlink(missing_ok=True)
            raise LayerInstallError("failed to install required packages", proc.stdout)
        (prefix / _INSTALL_SECONDS).write_text(f"{time.monotonic() - t0:.1f}\n")
        ready.write_text(requirements)
    return site


_INSTALL_SECONDS = ".install-seconds"


def layer_install_seconds(site: Path | str) -> float | None:
    """How long pip took to install the layer of ``site`` (install_layer's site-packages), measured when it was
    installed; None for a layer from before it was measured."""
    try:
        return float((Path(site).parents[2] / _INSTALL_SECONDS).read_text())
    except (OSError, ValueError, IndexError):
        return None


def layer_distributions(site: Path) -> dict[str, str]:
    """The distributions a layer itself holds (not the image's it sees): normalized name → version."""
    out: dict[str, str] = {}
    for info in Path(site).glob("*.dist-info"):
        meta = info / "METADATA"
        if not meta.is_file():
            continue
        fields = dict(line.split(": ", 1) for line in meta.read_text(errors="replace").splitlines()[:20]
                      if ": " in line)
        if fields.get("Name"):
            out[fields["Name"].lower().replace("_", "-")] = fields.get("Version", "")
    return out


def _say(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers-dir", required=True, help="where per-model requirement layers are cached")
    ap.add_argument("--constraints", help="pip constraints that keep the image's torch family")
    args = ap.parse_args(argv)

    # Imported here: this file is also imported (for install_layer) by code that has no toolkit.
    import logging

    from sagemaker_inference import model_server
    from sagemaker_pytorch_serving_container import serving, torchserve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s - %(message)s",
                        stream=sys.stdout)
    torchserve.TS_CONFIG_FILE = os.path.join(os.getcwd(), "sagemaker-ts.properties")

    def install_requirements() -> None:
        _say("installing packages from requirements.txt...")
        try:
            req = Path(model_server.REQUIREMENTS_PATH)
            site = install_layer(sys.executable, req.read_text(), Path(args.layers_dir), log=_say,
                                 constraints=args.constraints, req_dir=req.parent)
        except ValueError:
            if args.constraints:
                _say("(this machine's stand-in for the image keeps its CPU torch: requirements that need another "
                     "torch, or torchvision, torchaudio, cannot be installed here)")
            _say("failed to install required packages, exiting")
            raise
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(site)) if p)

    def retrieve_ts_server_process():
        import psutil

        deadline = time.monotonic() + 10
        while True:
            mine = []
            for proc in psutil.process_iter():
                try:
                    cmdline = proc.cmdline()
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if torchserve.TS_NAMESPACE in cmdline and torchserve.MODEL_STORE in cmdline:
                    mine.append(proc)
            if len(mine) == 1:
                return mine[0]
            if time.monotonic() > deadline:
                raise Exception("Torchserve model server was unsuccessfully started")
            time.sleep(0.2)

    model_server._install_requirements = install_requirements
    torchserve._retrieve_ts_server_process = retrieve_ts_server_process
    serving.main()


if __name__ == "__main__":
    main()
