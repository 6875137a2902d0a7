"""Image profiles: what the endpoint's SageMaker image ships, picked from its image URI.

A profile names the packages (and, where the image's build files pin them, the versions) of one AWS Deep
Learning Container ``pytorch-inference`` image, from ``profiles/pytorch-inference.json`` (facts from the images'
published build files). It gives two things: the requirements of the serving environment that stands in for
the image on this machine (``serving.env``), and the image's top-level module names for static import
resolution (``imports.resolve_imports(image_modules=...)``).

Two modes (``SERVING_MODES``):

- ``exact`` (the default): the image's own torch, torchvision, torchaudio, torchtext and torchdata at the image's
  versions (the package index's builds of them run on a CPU), its TorchServe and toolkit, every other package at
  the image's version where its build files fix it (the rest: what the package index resolves today, said). pip and
  torch decide here as they do in the image.
- ``stand-in``: this machine's CPU torch (``LOCAL_TORCH``, a wheel on disk: no multi-GB download) and nothing
  else of the torch family (no build of torchvision works with it). The fallback where the exact environment
  cannot be had; every difference is said.

Python is this interpreter's in both: where an image's package has no wheel for it, the nearest that has one.
Every difference from the image is a *deviation*, said in words in the load check's result.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["ImageProfile", "LOCAL_TORCH", "SERVING_MODES", "TORCH_FAMILY", "all_profile_versions",
           "default_profile", "parse_image_uri", "profile_for_image"]

#: The torch this machine installs without pulling a multi-GB CUDA build (a CPU wheel on disk): the stand-in's.
LOCAL_TORCH = "2.13.0"
#: Packages built against one torch: none of them may be swapped on their own.
TORCH_FAMILY = ("torch", "torchvision", "torchaudio", "torchtext", "torchdata")
#: How a serving environment stands in for its image (see the module's doc).
SERVING_MODES = ("exact", "stand-in")
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
    notes: tuple[str, ...] = ()  # how the profile was picked (GPU → CPU twin, an unknown image → default, fallback)
    mode: str = "exact"

    def __post_init__(self) -> None:
        if self.mode not in SERVING_MODES:
            raise ValueError(f"serving mode {self.mode!r}: one of {', '.join(SERVING_MODES)}")

    @property
    def name(self) -> str:
        return f"{_REPOSITORY}:{self.image['tag']}"

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    def as_mode(self, mode: str, note: str | None = None) -> ImageProfile:
        """This profile in another mode (with a note saying why, for a fallback)."""
        return replace(self, mode=mode, notes=self.notes + ((note,) if note else ()))

    @property
    def torch(self) -> str:
        """The torch the serving environment gets."""
        return self.image["torch"] if self.exact else LOCAL_TORCH

    def torch_family(self) -> dict[str, str]:
        """The torch-family packages the serving environment gets, name → version."""
        if not self.exact:
            return {"torch": LOCAL_TORCH}
        gone = self.image.get("unavailable_here") or {}
        return {p: self.image[p] for p in TORCH_FAMILY if self.image.get(p) and p not in gone}

    def ships(self, dist: str) -> str | None:
        """What the image ships of the distribution ``dist`` (its spec, e.g. ``numpy>=1.26.4,<2`` or
        ``torch==2.1.0``), None when it ships none (its package set and torch family, any name spelling)."""
        from .pip_output import canonical

        key = canonical(dist)
        spec = next((v for k, v in (self.image.get("packages") or {}).items() if canonical(k) == key), None)
        if spec is not None:
            return spec[0] if isinstance(spec, list) else str(spec)
        return f"{key}=={self.image[key]}" if key in TORCH_FAMILY and self.image.get(key) else None

    def runtime(self) -> list[str]:
        """TorchServe, its archiver and the toolkit at the image's versions (and, for toolkits that do not carry
        their own ``sagemaker_inference`` yet, the separate distribution the image resolved)."""
        ts, tk = self.image["torchserve"], self.image["toolkit"]
        lines = [f"torchserve=={ts}", f"torch-model-archiver=={ts}", f"sagemaker-pytorch-inference=={tk}"]
        if _ver(tk, 3) < _ver(_data()["runtime"]["separate_sagemaker_inference_before"], 3):
            lines.append("sagemaker-inference")
        own = set(self.image["packages"])
        lines += [pin for pin in _data()["runtime"]["torchserve_common"].get(ts, []) if pin.split("==")[0] not in own]
        return lines

    def requirements(self) -> list[str]:
        """The serving environment's requirement lines, in install order. ``opencv-python`` is installed as its
        headless build (the same ``cv2``; this machine has no libGL) and registered under its own name."""
        lines = [f"{p}=={v}" for p, v in self.torch_family().items()]
        lines += self.runtime()
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

    def container_env(self) -> dict[str, str]:
        """The environment variables the image itself sets (its Dockerfile's ENV), as they are in the image."""
        spec = _data()["image_env"]
        out = dict(spec["all"])
        for since, env in spec["from"].items():
            if _ver(self.image["tag"]) >= _ver(since):
                out.update(env)
        out.update(spec["only"].get(self.version, {}))
        return out

    def absent_torch_family(self) -> dict[str, str]:
        """The image's torch-family packages the serving environment lacks, name → why."""
        if self.exact:
            return dict(self.image.get("unavailable_here") or {})
        return {p: f"the image's {p} {self.image[p]} needs its own torch; no build of {p} works with the CPU "
                   f"torch {LOCAL_TORCH} of the stand-in" for p in TORCH_FAMILY[1:] if self.image.get(p)}

    def static_deviations(self, python: str | None = None) -> list[str]:
        """What this machine's stand-in differs in, knowable before a build."""
        img = self.image
        py = python or "%d.%d.%d" % sys.version_info[:3]
        out = list(self.notes)
        if py.rsplit(".", 1)[0] != img["python"].rsplit(".", 1)[0]:
            out.append(f"Python {py} stands in for the image's Python {img['python']}.")
        if self.exact:
            out.append(f"torch {img['torch']} and its family are the package index's builds of the image's versions "
                       "(built for CUDA, running on this CPU); the image's are AWS's +cpu builds of the same versions.")
            for p, why in self.absent_torch_family().items():
                out.append(f"not installed: {p} {img[p]}: {why} (a model that needs it is not checkable here).")
        else:
            out.append(f"STAND-IN: torch {LOCAL_TORCH} (CPU) stands in for the image's torch {img['torch']}+cpu.")
            if _ver(img["torch"]) < (2, 6) <= _ver(LOCAL_TORCH):
                out.append(f"torch.load defaults to weights_only=True since torch 2.6: a model_fn that unpickles a "
                           f"whole model with torch.load fails here but loads in the image's torch {img['torch']}.")
            absent = [f"{p} {img[p]}" for p in self.absent_torch_family()]
            if absent:
                out.append(f"not installed: {', '.join(absent)} (no build of them works with the CPU torch "
                           f"{LOCAL_TORCH} here; a model that needs them is not checkable here).")
        if "opencv-python" in img["packages"]:
            out.append("opencv-python: its headless build provides cv2 (this machine has no libGL); pip sees "
                       "opencv-python installed at that version, as in the image.")
        out.append("not installed (no module model code imports): " + "; ".join(
            f"{k} ({v})" for k, v in _data()["omitted"].items()) + ".")
        return out


def _ver(v: str, n: int = 2) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:n])


def default_profile(*, mode: str = "exact", notes: tuple[str, ...] = ()) -> ImageProfile:
    """The newest PyTorch inference image's profile."""
    v = _data()["newest"]
    return ImageProfile(v, _data()["images"][v], None, notes, mode)


def profile_for_image(uri: str | None, *, mode: str = "exact") -> ImageProfile:
    """The profile of the image at ``uri`` (any region or account). A GPU image maps to its CPU twin, with a
    note; an image without a profile of its own gets the nearest release's (a note names the gap); one that is not
    a versioned PyTorch inference image, the newest's."""
    newest = _data()["newest"]
    if not uri:
        return default_profile(mode=mode, notes=(
            f"no image given: the newest PyTorch inference profile ({newest}) is used.",))
    parts = parse_image_uri(uri)
    repo = (parts["repo"] or "").rsplit("/", 1)[-1]
    tag = parts["tag"] or ""
    m = _TAG.match(tag)
    if repo != _REPOSITORY or not m:
        why = (f"the image {uri!r} is not a SageMaker {_REPOSITORY} image with a version tag"
               if repo != _REPOSITORY else f"the tag {tag or parts['digest'] or '(none)'!r} names no version")
        return default_profile(mode=mode, notes=(
            f"WARNING: no profile for {uri}: {why}; the newest PyTorch inference profile ({newest}) stands in, "
            "so packages that image has and this one lacks (or the reverse) are not seen.",))
    version = f"{m['major']}.{m['minor']}"
    images = _data()["images"]
    if version not in images:  # the nearest release stands in: its Python and packages are the closest
        def distance(v: str) -> tuple[int, int]:
            (a, b), (c, d) = (int(x) for x in v.split(".")), (int(m["major"]), int(m["minor"]))
            return (abs(a - c), abs(b - d))

        near = min(images, key=lambda v: (distance(v), v != newest))
        return ImageProfile(near, images[near], uri, (
            f"WARNING: no profile for {_REPOSITORY} {version} (profiles: {', '.join(all_profile_versions())}); "
            f"the nearest ({near}) stands in for {uri}.",), mode)
    notes: list[str] = []
    if m["device"] == "gpu":
        notes.append(f"{uri} is a GPU image: its CPU twin {_REPOSITORY}:{images[version]['tag']} is served here "
                     "(no GPU; CUDA-only packages such as triton are absent).")
    return ImageProfile(version, images[version], uri, tuple(notes), mode)

