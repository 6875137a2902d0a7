"""What the benchmarks share: a scratch folder, and ratio rows of two latency samples measured in the same run.

Kept free of heavy imports: bench_rebuild measures its children's peak RSS, which starts from this process's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence

__all__ = ["scratch_dir", "percentile_ratios"]


@contextlib.contextmanager
def scratch_dir(keep: str | None, *, prefix: str) -> Iterator[str]:
    """``keep`` (created if need be, left in place for the next run), else a temporary folder removed after."""
    if keep:
        os.makedirs(keep, exist_ok=True)
        yield keep
        return
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def percentile_ratios(label: str, ours_name: str, ours: Sequence[float], base_name: str, base: Sequence[float],
                      quantiles: Sequence[int] = (50, 95)) -> list[str]:
    """One line per quantile: both sides in ms and their ratio (ours / baseline)."""
    from endpoint_runbook.steps.verify import percentile

    rows = []
    for q in quantiles:
        a, b = percentile(list(ours), q), percentile(list(base), q)
        rows.append(f"{label} p{q} (n={len(ours)})  {ours_name} {a * 1000:7.1f} ms   {base_name} "
                    f"{b * 1000:7.1f} ms   ratio {a / b:6.2f}")
    return rows
