"""Image profiles: what the endpoint's SageMaker image ships, picked from its image URI.

A profile names the packages (and, where the image's build files pin them, the versions) of one AWS Deep
Learning Container ``pytorch-inference`` image, from ``profiles/pytorch-inference.json`` (facts from the images'
published build files). It gives two things: the requirements of the serving environment that stands in for
the image on this machine (``serving_env``), and the image's top-level module names for static import
resolution (``imports.resolve_imports(image_modules=...)``).

This machine is not the image: Python is this interpreter's, and torch is the CPU build this machine can
install (``LOCAL_TORCH``) unless the exact torch is asked for. Every such difference is a *deviation*, said
in words in the load check's result.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["ImageProfile", "LOCAL_TORCH", "TORCH_FAMILY", "all_profile_versions", "default_profile",
           "parse_image_uri", "profile_for_image"]

#: The torch this machine installs without pulling a multi-GB CUDA build (a CPU wheel on disk).
LOCAL_TORCH = "2.13.0"
#: Packages built against one torch: none of them may be swapped on their own.
TORCH_FAMILY = ("torch", "torchvision", "torchaudio", "torchtext", "torchdata")
_REPOSITORY = "pytorch-inference"
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:<tag>|@<digest>]
_URI = re.compile(r"^(?:(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/)?"
                  r"(?P<repo>[a-z0-9._/-]+?)(?::(?P<tag>[\w.-]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$")
_TAG = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?-(?P<device>cpu|gpu)(?:-(?P<py>py\d+))?")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("endpoint_runbook.serving").joinpath("profiles", f"{_REPOSITORY}.json").read_text()
    return json.loads(text)


def all_profile_versions() -> list[str]:
    """The image versions that have a profile, oldest first."""
    return sorted(_data()["images"], key=lambda v: tuple(int(x) for x in v.split(".")))


def parse_image_uri(uri: str) -> dict[str, str | None]:
    """The parts of an ECR image URI: account, region, repository, tag, digest (None where absent)."""
    m = _URI.match(uri.strip())
    if not m:
        return {"account": None, "region": None, "repo": None, "tag": None, "digest": None}
    return m.groupdict()


@dataclass(frozen=True)
class ImageProfile:
    """What one image ships (``version`` is its PyTorch major.minor), and how this machine stands in for it."""

    version: str
    image: dict[str, Any]
    image_uri: str | None = None
    notes: tuple[str, ...] = ()  # how the profile was picked (GPU → CPU twin, an unknown image → default)
    exact_torch: bool = False

    @property
    def name(self) -> str:
        return f"{_REPOSITORY}:{self.image['tag']}"

    @property
    def torch(self) -> str:
        """The torch the serving environment gets."""
        return self.image["torch"] if self.exact_torch else LOCAL_TORCH

    def requirements(self) -> list[str]:
        """The serving environment's requirement lines, in install order."""
        lines = [f"torch=={self.torch}"]
        if self.exact_torch:
            lines += [f"{p}=={self.image[p]}" for p in TORCH_FAMILY[1:] if self.image.get(p)]
        lines += list(_data()["runtime"]["pins"])
        lines += [spec for spec, _note in self.image["packages"].values()]
        return lines

    @property
    def modules(self) -> frozenset[str]:
        """Top-level modules the IMAGE has (not only what this machine installs): for static resolution."""
        mods = _data()["modules"]
        names = set(self.image["packages"]) | {"torch", "torchserve", "sagemaker-pytorch-inference", "ipython",
                                                "cython", "awscli", "setuptools", "pillow"}
        names |= {p for p in TORCH_FAMILY if self.image.get(p)}
        out: set[str] = set()
        for n in names:
            out.update(mods.get(n, [n.replace("-", "_")]))
        return frozenset(out)

    def static_deviations(self, python: str | None = None) -> list[str]:
        """What this machine's stand-in differs in, knowable before a build."""
        img = self.image
        py = python or "%d.%d.%d" % sys.version_info[:3]
        out = list(self.notes)
        if py.rsplit(".", 1)[0] != img["python"].rsplit(".", 1)[0]:
            out.append(f"Python {py} stands in for the image's Python {img['python']}.")
        if not self.exact_torch and img["torch"] != LOCAL_TORCH:
            out.append(f"torch {LOCAL_TORCH} (CPU) stands in for the image's torch {img['torch']}+cpu.")
            if _ver(img["torch"]) < (2, 6) <= _ver(LOCAL_TORCH):
                out.append(f"torch.load defaults to weights_only=True since torch 2.6: a model_fn that unpickles a "
                           f"whole model with torch.load fails here but loads in the image's torch {img['torch']}.")
            absent = [f"{p} {img[p]}" for p in TORCH_FAMILY[1:] if img.get(p)]
            if absent:
                out.append(f"not installed: {', '.join(absent)} (no build of them works with the CPU torch "
                           f"{LOCAL_TORCH} here; a model that needs them is not load-checked).")
        runtime = {r.split("==")[0]: r.split("==")[1] for r in _data()["runtime"]["pins"]}
        if runtime.get("torchserve") != img["torchserve"] or runtime.get("sagemaker-pytorch-inference") != img["toolkit"]:
            out.append(f"TorchServe {runtime['torchserve']} and toolkit {runtime['sagemaker-pytorch-inference']} "
                       f"stand in for the image's TorchServe {img['torchserve']} and toolkit {img['toolkit']}.")
        if "opencv-python" in img["packages"]:
            out.append("opencv-python-headless stands in for opencv-python (same cv2; this machine has no libGL).")
        out.append("not installed (no module model code imports): " + "; ".join(
            f"{k} ({v})" for k, v in _data()["omitted"].items()) + ".")
        return out


def _ver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:2])


def default_profile(*, exact_torch: bool = False, notes: tuple[str, ...] = ()) -> ImageProfile:
    """The newest PyTorch inference image's profile."""
    v = _data()["newest"]
    return ImageProfile(v, _data()["images"][v], None, notes, exact_torch)


def profile_for_image(uri: str | None, *, exact_torch: bool = False) -> ImageProfile:
    """The profile of the image at ``uri`` (any region or account). A GPU image maps to its CPU twin, with a
    note; an image without a profile gets the default (newest) one, with a note naming the gap."""
    newest = _data()["newest"]
    if not uri:
        return default_profile(exact_torch=exact_torch, notes=(
            f"no image given: the newest PyTorch inference profile ({newest}) is used.",))
    parts = parse_image_uri(uri)
    repo = (parts["repo"] or "").rsplit("/", 1)[-1]
    tag = parts["tag"] or ""
    m = _TAG.match(tag)
    if repo != _REPOSITORY or not m:
        why = (f"the image {uri!r} is not a SageMaker {_REPOSITORY} image with a version tag"
               if repo != _REPOSITORY else f"the tag {tag or parts['digest'] or '(none)'!r} names no version")
        return default_profile(exact_torch=exact_torch, notes=(
            f"WARNING: no profile for {uri}: {why}; the newest PyTorch inference profile ({newest}) stands in, "
            "so packages that image has and this one lacks (or the reverse) are not seen.",))
    version = f"{m['major']}.{m['minor']}"
    images = _data()["images"]
    if version not in images:
        return default_profile(exact_torch=exact_torch, notes=(
            f"WARNING: no profile for {_REPOSITORY} {version} (profiles: {', '.join(all_profile_versions())}); "
            f"the newest ({newest}) stands in for {uri}.",))
    notes: list[str] = []
    if m["device"] == "gpu":
        notes.append(f"{uri} is a GPU image: its CPU twin {_REPOSITORY}:{images[version]['tag']} is served here "
                     "(no GPU; CUDA-only packages such as triton are absent).")
    return ImageProfile(version, images[version], uri, tuple(notes), exact_torch)

