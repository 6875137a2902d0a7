"""Wheels for an endpoint whose container cannot reach a package index (``EnableNetworkIsolation``, a VPC without
a NAT gateway, a private index it has no route to): what pip installs for ``code/requirements.txt`` in the image's
own environment, as wheel files to put in the archive beside it.

The distributions are the ones the load check's layer holds (:func:`.container_entry.install_layer`): exactly what
pip added to the image's packages for these requirements, dependencies included, nothing the image ships. Each is
fetched as a wheel by the serving environment's own pip (``pip wheel --no-deps``: the index's wheel when there is
one, else built from its sdist), so its tags are the environment's; the container then installs them with
``--no-index --find-links`` (:func:`endpoint_runbook.imports.install_offline`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RunbookError
from .container_entry import layer_distributions, run_pip
from .env import ServingEnv

__all__ = ["VendorError", "vendor_wheels"]


class VendorError(RunbookError):
    """The wheels could not be fetched here (pip's words in ``output``)."""


def vendor_wheels(env: ServingEnv, requirements: str, req_dir: Path | None, dest: Path, *,
                  log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The wheels of every distribution pip installs for ``requirements`` over the image's environment ``env``,
    written to ``dest``: ``[{name, version, file, bytes}]``, in name order. An empty list when the image has all
    of them. ``req_dir``: the folder of the requirements file (its relative ``--find-links``), None when it is not
    at hand. Raises VendorError when pip cannot fetch or build one here."""
    site = env.layer(requirements, log=log, req_dir=req_dir)
    dists = dict(sorted(layer_distributions(site).items())) if site else {}
    if not dists:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    before = {f.name for f in dest.iterdir()}
    proc = run_pip(str(env.python), "wheel", "--no-deps", "-w", str(dest), *(f"{n}=={v}" for n, v in dists.items()))
    if proc.returncode != 0:
        raise VendorError(f"pip could not fetch the wheels of {', '.join(f'{n}=={v}' for n, v in dists.items())} "
                          "here", code="vendor-failed",
                          hint="Check this machine reaches the package index (pip's words: "
                               + " | ".join(proc.stdout.strip().splitlines()[-3:]) + ").")
    out = []
    for f in sorted(dest.iterdir()):
        if f.suffix != ".whl":
            continue
        name = f.name.split("-")[0].lower().replace("_", "-")
        if name in dists or f.name not in before:
            out.append({"name": name, "version": dists.get(name, f.name.split("-")[1]), "file": f.name,
                        "bytes": f.stat().st_size})
    return out
