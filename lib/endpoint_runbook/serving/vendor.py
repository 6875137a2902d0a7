"""Wheels for an endpoint whose container cannot reach a package index (``EnableNetworkIsolation``, a VPC without
a NAT gateway, a private index it has no route to): what pip installs for ``code/requirements.txt`` in the image's
own environment, as wheel files to put in the archive beside it.

The wheels are for the **image's** Python, which need not be this machine's (the PyTorch 2.x images run 3.10; the
serving environment here stands in with its own): each distribution is first downloaded as a wheel for the image's
interpreter and platform (``pip download --only-binary :all: --python-version … --platform manylinux…``), so a
compiled package comes as the image can install it. One with no such wheel (an sdist only) is built here
(``pip wheel``); that wheel serves the image only when it is pure Python, and otherwise the vendoring stops and says
to build it in the image.

The distributions are the ones the load check's layer holds (:func:`.container_entry.install_layer`): exactly what
pip added to the image's packages for these requirements, dependencies included, nothing the image ships. Each is
fetched as a wheel by the serving environment's own pip (``pip wheel --no-deps``: the index's wheel when there is
one, else built from its sdist), so its tags are the environment's; the container then installs them with
``--no-index --find-links`` (:func:`endpoint_runbook.imports.install_offline`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RunbookError
from .container_entry import layer_distributions, run_pip
from .env import ServingEnv
from .pip_output import canonical

__all__ = ["VendorError", "image_python", "vendor_wheels"]

#: The platforms a wheel for the images may carry: x86-64 Linux up to the images' glibc (Ubuntu 20.04: 2.31).
_PLATFORMS = tuple(f"manylinux_2_{n}_x86_64" for n in (31, 28, 27, 24, 17)) + (
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")


def image_python(env: ServingEnv) -> str | None:
    """The image's Python major.minor (its profile's), when it is not the serving environment's own; else None."""
    version = str((env.profile.image if env.profile else {}).get("python") or "")
    short = ".".join(version.split(".")[:2])
    return short if short and short != f"{sys.version_info[0]}.{sys.version_info[1]}" else None


def _target_args(target: str) -> list[str]:
    abi = "cp" + target.replace(".", "")
    return ["--python-version", target, "--implementation", "cp", "--abi", abi,
            *(a for p in _PLATFORMS for a in ("--platform", p))]


def _canonical(wheel: str) -> str:
    return canonical(wheel.split("-")[0])


def _pure(wheel: str) -> bool:
    """A wheel any CPython 3 installs: its tags are ``py3``/``py2.py3``, ``none``, ``any``."""
    parts = wheel[:-len(".whl")].split("-")
    return len(parts) >= 5 and parts[-2] == "none" and parts[-1] == "any" and parts[-3].startswith("py")


class VendorError(RunbookError):
    """The wheels could not be fetched here (pip's words in ``output``)."""


def vendor_wheels(env: ServingEnv, requirements: str, req_dir: Path | None, dest: Path, *,
                  log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The wheels of every distribution pip installs for ``requirements`` over the image's environment ``env``,
    written to ``dest``: ``[{name, version, file, bytes}]``, in name order. An empty list when the image has all
    of them. ``req_dir``: the folder of the requirements file (its relative ``--find-links``), None when it is not
    at hand. Raises VendorError when pip cannot fetch or build one here."""
    site = env.layer(requirements, log=log, req_dir=req_dir)
    dists = {canonical(n): v for n, v in sorted(layer_distributions(site).items())} if site else {}
    if not dists:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    before = {f.name for f in dest.iterdir()}
    target = image_python(env)
    built: set[str] = set()  # distributions built here (no wheel for the image's Python)
    for n, v in dists.items():
        if target and run_pip(str(env.python), "download", "--no-deps", "--only-binary", ":all:", "-d", str(dest),
                              *_target_args(target), f"{n}=={v}").returncode == 0:
            continue
        proc = run_pip(str(env.python), "wheel", "--no-deps", "-w", str(dest), f"{n}=={v}")
        if proc.returncode != 0:
            raise VendorError(f"pip could not fetch the wheel of {n}=={v} here", code="vendor-failed",
                              hint="Check this machine reaches the package index (pip's words: "
                                   + " | ".join(proc.stdout.strip().splitlines()[-3:]) + ").")
        built.add(n)
    native = [f.name for f in dest.iterdir() if f.suffix == ".whl" and f.name not in before
              and _canonical(f.name) in built and not _pure(f.name)]
    if target and native:
        raise VendorError(f"{', '.join(sorted(native))} had no wheel for the image's Python {target} and was built "
                          "here, for this machine's Python: the image cannot install it", code="vendor-not-for-image",
                          hint="Build the wheel inside the image (docker run <image> pip wheel <package> -w wheels) and "
                               "put it in code/wheels/, or pin a release that publishes wheels for the image's Python.")
    out = []
    for f in sorted(dest.iterdir()):
        if f.suffix != ".whl":
            continue
        name = _canonical(f.name)
        if name in dists or f.name not in before:
            out.append({"name": name, "version": dists.get(name, f.name.split("-")[1]), "file": f.name,
                        "bytes": f.stat().st_size})
    return out
