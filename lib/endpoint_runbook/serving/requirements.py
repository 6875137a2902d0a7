"""What a model's ``code/requirements.txt`` asks of the image, read before and after pip: the distributions its
lines name, its torch-family pins, and the ones that would replace the image's torch (which the container's pip
then downloads and swaps in at every start).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..findings import Finding
from .image_profiles import TORCH_FAMILY

if TYPE_CHECKING:
    from .env import ServingEnv

__all__ = ["direct_torch_requirements", "layer_replacements", "replace_torch_finding", "replaces_image_torch",
           "requirement_names", "requirements_replace_torch"]

_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*)")


def _requirement_lines(requirements: str) -> Iterator[re.Match[str]]:
    """A match per line that names a distribution (options and comments skipped): name, extras, specifier."""
    for line in requirements.splitlines():
        m = _REQ_LINE.match(line)
        if m and not line.lstrip().startswith(("-", "#")):
            yield m


def requirement_names(requirements: str) -> list[str]:
    """The distribution names the lines of a requirements.txt name (options and comments skipped)."""
    return [m.group(1) for m in _requirement_lines(requirements)]


def direct_torch_requirements(requirements: str) -> dict[str, str]:
    """The torch-family lines of a requirements.txt: name → version specifier ('' when unpinned)."""
    out: dict[str, str] = {}
    for m in _requirement_lines(requirements):
        name = m.group(1).lower().replace("_", "-")
        if name in TORCH_FAMILY:
            out[name] = m.group(3).strip()
    return out


def replaces_image_torch(requirements: str, image: dict[str, Any]) -> dict[str, str]:
    """The torch-family packages a requirements.txt pins to a version the image does not ship: name → spec.
    (A pin the image satisfies installs nothing in the container; a package the image lacks is added there.)"""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    out: dict[str, str] = {}
    for name, spec in direct_torch_requirements(requirements).items():
        have = image.get(name)
        if not spec or not have:
            continue
        try:
            if not SpecifierSet(spec).contains(have, prereleases=True):
                out[name] = spec
        except InvalidSpecifier:
            continue
    return out


def requirements_replace_torch(requirements: bytes, image: dict[str, Any]) -> list[Finding]:
    """Statically, before any install: the torch-family pins of code/requirements.txt that the image (its
    profile's versions) does not satisfy, as ``requirements-replace-torch`` warnings."""
    text = requirements.decode("utf-8", "replace")
    return [replace_torch_finding(n, spec, image.get(n), [f"code/requirements.txt: {n}{spec}"])
            for n, spec in replaces_image_torch(text, image).items()]


def replace_torch_finding(pkg: str, want: str, have: str | None, evidence: list[str]) -> Finding:
    return Finding("requirements-replace-torch", "warning",
                   f"code/requirements.txt asks for {pkg}{want} where the image ships {pkg} {have}: in the container pip "
                   f"downloads and swaps in another {pkg} at every start (GBs, minutes: the start-up health check can "
                   "time out), and the image's TorchServe and toolkit were not built with it. Drop the torch-family "
                   "pin from requirements.txt, or pick the image whose torch you need.", evidence,
                   {"package": pkg, "requested": want, "image": have})


def layer_replacements(site: Path, env: ServingEnv) -> list[Finding]:
    """A layer that holds a torch-family package replaces the image's in the container: say so (the check goes on
    with the layer's, as the container would)."""
    from .container_entry import layer_distributions

    image = env.profile.image if env.profile else {}
    base = env.build_info().get("versions") or {}
    out = []
    for name, version in layer_distributions(site).items():
        if name in TORCH_FAMILY:
            out.append(replace_torch_finding(name, f"=={version}", image.get(name) or base.get(name),
                                             [f"{name} {version} installed from code/requirements.txt"]))
    return out
