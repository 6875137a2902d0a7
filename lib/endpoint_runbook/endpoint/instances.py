"""SageMaker ML instance types: memory, accelerator and local NVMe storage per type, and the smallest type that
has at least a given memory.

Memory (GiB) is the EC2 instance type's published figure (Amazon EC2 instance types, "Instance specifications":
general purpose t2/t3/m4/m5/m6i, compute optimized c4/c5/c6i, memory optimized r5/r6i, accelerated computing
g4dn/g5/g6/p2/p3/p4d/inf1/inf2); an ``ml.`` type is its EC2 type with SageMaker's prefix. Families whose types carry
local NVMe instance storage (SageMaker Developer Guide, "Managing storage paths for different types of instance local
storage", names ml.p4d, ml.g4dn and ml.g5 as families with NVMe instance storage; the ``d`` variants m5d/c5d/r5d
and g6/p3dn have NVMe SSD instance store in their EC2 specification) are in :data:`NVME_FAMILIES`.

Used by the runbook (a remedy names "the smallest instance type with ≥ N GiB") and by the local stack (an instance
container's memory limit is its type's memory).
"""

from __future__ import annotations

import re

__all__ = ["GPU_FAMILIES", "INSTANCE_MEMORY_GIB", "NVME_FAMILIES", "family", "has_accelerator", "has_nvme",
           "memory_gib", "smallest_with"]

_SIZES = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "6xlarge", "8xlarge", "9xlarge", "10xlarge", "12xlarge",
          "16xlarge", "18xlarge", "24xlarge", "32xlarge", "48xlarge")


def _family(name: str, sizes: dict[str, float]) -> dict[str, float]:
    return {f"ml.{name}.{size}": gib for size, gib in sizes.items()}


#: Memory in GiB of SageMaker ML instance types (EC2's published figures; see the module's docstring).
INSTANCE_MEMORY_GIB: dict[str, float] = {
    **_family("t2", {"medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}),
    **_family("t3", {"medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}),
    **_family("m4", {"xlarge": 16, "2xlarge": 32, "4xlarge": 64, "10xlarge": 160, "16xlarge": 256}),
    **{f"ml.{f}.{s}": g for f in ("m5", "m5d", "m6i")
       for s, g in {"large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64, "12xlarge": 192, "24xlarge": 384}.items()},
    **_family("c4", {"large": 3.75, "xlarge": 7.5, "2xlarge": 15, "4xlarge": 30, "8xlarge": 60}),
    **{f"ml.{f}.{s}": g for f in ("c5", "c5d")
       for s, g in {"large": 4, "xlarge": 8, "2xlarge": 16, "4xlarge": 32, "9xlarge": 72, "18xlarge": 144}.items()},
    **_family("c6i", {"large": 4, "xlarge": 8, "2xlarge": 16, "4xlarge": 32, "8xlarge": 64, "12xlarge": 96,
                      "16xlarge": 128, "24xlarge": 192, "32xlarge": 256}),
    **{f"ml.{f}.{s}": g for f in ("r5", "r5d", "r6i")
       for s, g in {"large": 16, "xlarge": 32, "2xlarge": 64, "4xlarge": 128, "8xlarge": 256, "12xlarge": 384,
                    "16xlarge": 512, "24xlarge": 768}.items()},
    **_family("g4dn", {"xlarge": 16, "2xlarge": 32, "4xlarge": 64, "8xlarge": 128, "12xlarge": 192, "16xlarge": 256}),
    **_family("g5", {"xlarge": 16, "2xlarge": 32, "4xlarge": 64, "8xlarge": 128, "12xlarge": 192, "16xlarge": 256,
                     "24xlarge": 384, "48xlarge": 768}),
    **_family("g6", {"xlarge": 16, "2xlarge": 32, "4xlarge": 64, "8xlarge": 128, "12xlarge": 192, "16xlarge": 256,
                     "24xlarge": 384, "48xlarge": 768}),
    **_family("p2", {"xlarge": 61, "8xlarge": 488, "16xlarge": 732}),
    **_family("p3", {"2xlarge": 61, "8xlarge": 244, "16xlarge": 488}),
    "ml.p3dn.24xlarge": 768, "ml.p4d.24xlarge": 1152,
    **_family("inf1", {"xlarge": 8, "2xlarge": 16, "6xlarge": 48, "24xlarge": 192}),
    **_family("inf2", {"xlarge": 16, "8xlarge": 128, "24xlarge": 384, "48xlarge": 768}),
}

#: Families with a GPU or another accelerator (Inferentia): never proposed for a CPU model, nor a CPU type for them.
GPU_FAMILIES = frozenset({"g4dn", "g5", "g6", "p2", "p3", "p3dn", "p4d", "inf1", "inf2"})
#: Families whose types have local NVMe instance storage (no EBS ML storage volume: VolumeSizeInGB does not apply).
NVME_FAMILIES = frozenset({"m5d", "c5d", "r5d", "g4dn", "g5", "g6", "p3dn", "p4d"})
#: Where a larger CPU type is looked for once the type's own family has none: general purpose, compute, memory.
_CPU_FALLBACK = ("m5", "c5", "r5", "m6i", "c6i", "r6i")  # current generations; older ones only as their own family
_GPU_FALLBACK = ("g5", "g6", "g4dn", "p3", "p4d")
_TYPE = re.compile(r"^ml\.([a-z0-9]+)\.([a-z0-9]+)$")


def family(instance_type: str) -> str | None:
    """``ml.m5.xlarge`` → ``m5``; None for what is not an ``ml.<family>.<size>`` name."""
    m = _TYPE.match(instance_type or "")
    return m.group(1) if m else None


def memory_gib(instance_type: str) -> float | None:
    """The memory of ``instance_type`` in GiB; None when the table does not know the type."""
    return INSTANCE_MEMORY_GIB.get(instance_type)


def has_accelerator(instance_type: str) -> bool:
    return family(instance_type) in GPU_FAMILIES


def has_nvme(instance_type: str) -> bool:
    """Whether ``instance_type`` has local NVMe instance storage (SageMaker then takes no VolumeSizeInGB)."""
    return family(instance_type) in NVME_FAMILIES


def smallest_with(min_gib: float, family_like: str | None = None) -> str | None:
    """The smallest instance type with at least ``min_gib`` GiB of memory: in ``family_like``'s family first (e.g.
    ``ml.m5.large`` → ``ml.m5.2xlarge``), then the smallest in the other families of its kind (ties: general purpose
    first, m5, c5, r5 …) for a CPU type and GPU families for a GPU type (never a GPU type for a CPU one, nor the reverse). Without
    ``family_like``: CPU types. None when no known type is large enough."""
    fam = family(family_like) if family_like else None
    others = [f for f in (_GPU_FALLBACK if fam in GPU_FAMILIES else _CPU_FALLBACK) if f != fam]
    for families in ([fam] if fam else [], others):
        fits = [(g, families.index(f), _size_rank(t), t) for t, g in INSTANCE_MEMORY_GIB.items()
                if (f := family(t)) in families and g >= min_gib]
        if fits:
            return min(fits)[3]
    return None


def _size_rank(instance_type: str) -> int:
    size = instance_type.rsplit(".", 1)[1]
    return _SIZES.index(size) if size in _SIZES else len(_SIZES)
