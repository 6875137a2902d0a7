"""What import resolution reports: one record per import statement, ``sys.path`` additions, the report."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..findings import Finding

__all__ = [
    "DEFAULT_IMAGE_MODULES",
    "DIST_TO_MODULES",
    "MODEL_DIR",
    "MODULE_TO_DIST",
    "PHASES",
    "RUNS",
    "STDLIB",
    "ImportRecord",
    "ImportReport",
    "Phase",
    "Status",
    "SysPathEntry",
    "requirement_modules",
]

Status = Literal["archive", "stdlib", "image", "requirements", "unresolved", "circular"]
#: When an import runs. ``import``: while the toolkit imports the entry script; ``model_fn``: while the worker
#: loads the model (a failure in either kills the worker); ``request``: in input_fn/predict_fn/output_fn/
#: transform_fn; ``latent``: in code nothing the toolkit calls reaches (or a fallback whose primary works).
Phase = Literal["import", "model_fn", "request", "latent"]
PHASES: tuple[str, ...] = ("import", "model_fn", "request", "latent")
#: Phases in which the code really runs.
RUNS = frozenset({"import", "model_fn", "request"})

#: Where SageMaker extracts model.tar.gz in the container; maps to the archive root.
MODEL_DIR = "/opt/ml/model"

#: Top-level modules the SageMaker PyTorch inference image ships, as far as this project can vouch for
#: (PyTorch and its dependencies, the toolkit, TorchServe, the AWS SDK, the usual scientific stack of the
#: DLC). A conservative default: pass ``ServingEnv.image_modules()`` for the exact list of an environment.
DEFAULT_IMAGE_MODULES: frozenset[str] = frozenset({
    "torch", "torchvision", "torchaudio", "functorch", "numpy", "scipy", "pandas", "PIL", "cv2",
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "requests", "certifi", "idna",
    "charset_normalizer", "six", "yaml", "psutil", "retrying", "packaging", "setuptools", "pkg_resources",
    "typing_extensions", "filelock", "fsspec", "jinja2", "markupsafe", "sympy", "mpmath", "networkx",
    "sagemaker_inference", "sagemaker_pytorch_serving_container", "ts", "model_archiver",
})

#: Distribution name (normalised, PEP 503) → top-level import names, for the names that differ.
DIST_TO_MODULES: dict[str, tuple[str, ...]] = {
    "faiss-cpu": ("faiss",), "faiss-gpu": ("faiss",),
    "pillow": ("PIL",), "pillow-simd": ("PIL",),
    "opencv-python": ("cv2",), "opencv-python-headless": ("cv2",),
    "opencv-contrib-python": ("cv2",), "opencv-contrib-python-headless": ("cv2",),
    "scikit-learn": ("sklearn",), "scikit-image": ("skimage",),
    "pyyaml": ("yaml",), "protobuf": ("google",), "python-dateutil": ("dateutil",),
    "beautifulsoup4": ("bs4",), "open-clip-torch": ("open_clip",), "clip": ("clip",),
    "pymupdf": ("fitz",), "attrs": ("attr", "attrs"), "google-cloud-storage": ("google",),
    "msgpack-python": ("msgpack",), "python-multipart": ("multipart",), "tensorflow-cpu": ("tensorflow",),
    "huggingface-hub": ("huggingface_hub",), "pytorch-lightning": ("pytorch_lightning",),
}
#: Top-level import name → the distribution that provides it, for the names that differ.
MODULE_TO_DIST: dict[str, str] = {
    "faiss": "faiss-cpu", "PIL": "pillow", "cv2": "opencv-python-headless", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "yaml": "pyyaml", "dateutil": "python-dateutil", "bs4": "beautifulsoup4",
    "open_clip": "open-clip-torch", "fitz": "pymupdf",
}
STDLIB: frozenset[str] = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


@dataclass(frozen=True)
class ImportRecord:
    """One import the code makes.

    ``phase``: when it runs (see :data:`Phase`); ``in_function`` / ``via``: the function it sits in and the
    call chain from what the toolkit calls. ``guard``: the ``except`` clause that catches its failure and
    carries on (a degraded path, not a crash); ``reraised_by``: clauses that catch it but raise again (no
    guard). ``conditional``: it sits in a handler that runs only if other code fails. ``fallback_ok``: the
    handler that catches its failure imports an alternative that resolves."""

    file: str
    line: int
    module: str
    statement: str
    status: Status
    guard: str | None = None
    in_function: str | None = None
    kind: Literal["import", "from", "dynamic"] = "import"
    resolved: str | None = None  # archive path of the module, or where it was found
    note: str | None = None
    phase: Phase = "import"
    via: tuple[str, ...] = ()
    reraised_by: tuple[str, ...] = ()
    conditional: bool = False
    fallback_ok: bool = False
    search_path: tuple[str, ...] = ()  # archive dirs on the import path when it ran (failing imports)

    @property
    def guarded(self) -> bool:
        return self.guard is not None

    @property
    def fails(self) -> bool:
        return self.status in ("unresolved", "circular")

    @property
    def runs(self) -> bool:
        return self.phase in RUNS

    @property
    def package(self) -> str:
        return self.module.lstrip(".").split(".")[0]

    @property
    def evidence(self) -> str:
        return f"{self.file}:{self.line} {self.statement}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["via"] = list(self.via)
        d["reraised_by"] = list(self.reraised_by)
        d["search_path"] = list(self.search_path)
        d["guarded"] = self.guarded
        d["package"] = self.package
        return d


@dataclass(frozen=True)
class SysPathEntry:
    """A ``sys.path`` addition the code makes. ``value``: the container path (None if not static);
    ``archive_dir``: that path inside the archive ("" = archive root; None when outside the model dir);
    ``applied``: the code that makes it runs (it is not in a function nothing calls)."""

    file: str
    line: int
    expr: str
    value: str | None
    archive_dir: str | None
    position: Literal["front", "back"]
    in_function: str | None = None
    applied: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    program: str
    entry: str
    entry_exists: bool
    import_path: list[str] = field(default_factory=list)  # archive dirs on the path at the end, in order
    sys_path: list[SysPathEntry] = field(default_factory=list)
    imports: list[ImportRecord] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # archive files parsed, in execution order
    findings: list[Finding] = field(default_factory=list)
    requirements: dict[str, list[str]] = field(default_factory=dict)  # distribution → import names
    handlers: dict[str, str] = field(default_factory=dict)  # toolkit handler → where it is defined
    reads: list[str] = field(default_factory=list)  # archive paths the running code reads (static values)
    optional_reads: list[str] = field(default_factory=list)  # reads behind an existence check or a fallback
    off_path: list[str] = field(default_factory=list)  # package folders in the archive off the import path
    downloads: list[Any] = field(default_factory=list)  # downloads.Download: network the running code needs

    def _failing(self) -> list[ImportRecord]:
        return [r for r in self.imports if r.fails and not r.module.startswith(".")]

    @property
    def missing_packages(self) -> list[str]:
        """Top-level packages that running code imports, unguarded, and nothing provides (the crash)."""
        return _dedup(r.package for r in self._failing() if r.status == "unresolved" and r.runs
                      and not r.guarded and not r.conditional)

    @property
    def startup_missing_packages(self) -> list[str]:
        """Those of :attr:`missing_packages` whose import runs at start-up (import or model_fn): the worker dies."""
        return _dedup(r.package for r in self._failing() if r.status == "unresolved"
                      and r.phase in ("import", "model_fn") and not r.guarded and not r.conditional)

    @property
    def guarded_missing_packages(self) -> list[str]:
        hard = set(self.missing_packages)
        return _dedup(r.package for r in self._failing() if r.status == "unresolved" and r.runs
                      and (r.guarded or r.conditional) and r.package not in hard)

    @property
    def latent_missing_packages(self) -> list[str]:
        live = set(self.missing_packages) | set(self.guarded_missing_packages)
        return _dedup(r.package for r in self._failing() if r.status == "unresolved" and not r.runs
                      and r.package not in live)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program, "entry": self.entry, "entry_exists": self.entry_exists,
            "import_path": list(self.import_path), "sys_path": [s.to_dict() for s in self.sys_path],
            "imports": [r.to_dict() for r in self.imports], "modules": list(self.modules),
            "findings": [f.to_dict() for f in self.findings], "requirements": dict(self.requirements),
            "handlers": dict(self.handlers), "reads": list(self.reads),
            "optional_reads": list(self.optional_reads), "off_path": list(self.off_path),
            "downloads": [d.to_dict() for d in self.downloads],
            "missing_packages": self.missing_packages, "startup_missing_packages": self.startup_missing_packages,
            "guarded_missing_packages": self.guarded_missing_packages,
            "latent_missing_packages": self.latent_missing_packages, "ok": self.ok,
        }


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _canon(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9._-]+)")


def requirement_modules(lines: Iterable[str]) -> dict[str, list[str]]:
    """``requirements.txt`` lines → {distribution: [top-level import names]}. Options (``-r``, ``-i``...)
    and unnamed URLs are skipped; ``name @ url`` and ``...#egg=name`` count by name."""
    out: dict[str, list[str]] = {}
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        egg = _EGG.search(line)
        if egg:
            name = egg.group(1)
        elif line.startswith("-") or "://" in line.split("@", 1)[0]:
            continue
        else:
            m = _REQ_NAME.match(line)
            if not m:
                continue
            name = m.group(1)
        dist = _canon(name)
        out[dist] = list(DIST_TO_MODULES.get(dist, (dist.replace("-", "_"),)))
    return out
