"""The serving-environment cache: what is built, how big, when last used; pruning what is not needed.

Each image profile's environment is a few GB in exact mode (the index's torch builds carry CUDA libraries), so the
cache is listed and pruned by the user (``endpoint-runbook cache``). Pruning takes an environment's build lock
first and skips one being built; do not prune while a local stack or a load check runs on an environment.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from .env import BUILD_INFO, LAST_USED, MANIFEST, ServingEnv, _force_rmtree, cache_root, layers_dir

__all__ = ["CachedEnv", "list_cached", "prune_cached", "wheelhouse_usage", "prune_wheels"]


@dataclass
class CachedEnv:
    """One cached serving environment (and its requirement layers)."""

    path: str
    profile: str | None
    mode: str | None
    complete: bool  # built to the end (its manifest written)
    bytes: int  # the base and its layers, as on disk (a file linked twice counts once)
    layers: int
    last_used: float | None  # epoch seconds (None: never recorded)

    def to_dict(self) -> dict:
        return asdict(self)


def _du(paths: list[Path]) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                try:
                    st = os.lstat(os.path.join(dirpath, f))
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen.add(key)
                    total += st.st_blocks * 512
    return total


def list_cached(root: Path | None = None) -> list[CachedEnv]:
    """Every serving environment under the cache, most recently used first."""
    base = (root or cache_root()) / "serving"
    out: list[CachedEnv] = []
    if not base.is_dir():
        return out
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.endswith("-layers")):
        info_file = d / BUILD_INFO
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        layers = layers_dir(ServingEnv(d))
        used = Path(str(d) + LAST_USED)
        out.append(CachedEnv(
            path=str(d), profile=info.get("profile"),
            mode=info.get("mode") or (("exact" if info.get("exact_torch") else "stand-in") if info else None),
            complete=(d / MANIFEST).is_file(), bytes=_du([d, layers]),
            layers=sum(1 for p in layers.iterdir() if p.is_dir()) if layers.is_dir() else 0,
            last_used=used.stat().st_mtime if used.exists() else None))
    out.sort(key=lambda e: -(e.last_used or 0))
    return out


def prune_cached(*, older_than_days: float | None = None, keep: int | None = None, dry_run: bool = False,
                 root: Path | None = None) -> tuple[list[CachedEnv], list[CachedEnv]]:
    """Remove environments not used for ``older_than_days`` and/or all but the ``keep`` most recently used
    (an unfinished build always goes). Returns (removed, kept). One being built right now is kept."""
    if older_than_days is None and keep is None:
        raise InputError("say what to prune.", code="bad-input",
                         hint="endpoint-runbook cache prune --older-than DAYS and/or --keep N (--dry-run to see first)")
    envs = list_cached(root)
    now = time.time()
    removed, kept = [], []
    for i, e in enumerate(envs):
        stale = older_than_days is not None and (now - (e.last_used or 0)) > older_than_days * 86400
        surplus = keep is not None and i >= keep
        if not e.complete or stale or surplus:
            if (dry_run and not _busy(Path(e.path))) or (not dry_run and _remove(Path(e.path))):
                removed.append(e)
                continue
        kept.append(e)
    return removed, kept


def _busy(path: Path) -> bool:
    """Is the environment being built right now (its build lock held)?"""
    lock = path.with_name(path.name + ".lock")
    if not lock.exists():
        return False
    with open(lock) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _remove(path: Path) -> bool:
    lock = path.with_name(path.name + ".lock")
    with open(lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            _force_rmtree(layers_dir(ServingEnv(path)))
            _force_rmtree(path)
            for suffix in (LAST_USED, ".failed"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    lock.unlink(missing_ok=True)
    return True


def wheelhouse_usage(root: Path | None = None) -> tuple[int, int, int]:
    """(files, bytes, bytes no cached environment was built from) of the shared wheelhouse."""
    house = (root or cache_root()) / "wheels"
    used = _wheels_in_use(root)
    files = list(house.glob("*.whl")) if house.is_dir() else []
    total = sum(f.stat().st_size for f in files)
    unused = sum(f.stat().st_size for f in files if f.name not in used)
    return len(files), total, unused


def _wheels_in_use(root: Path | None) -> set[str]:
    base = (root or cache_root()) / "serving"
    used: set[str] = set()
    for info in base.glob(f"*/{BUILD_INFO}") if base.is_dir() else []:
        try:
            used.update(json.loads(info.read_text()).get("wheels", []))
        except ValueError:
            continue
    return used


def prune_wheels(*, dry_run: bool = False, root: Path | None = None) -> tuple[int, int]:
    """Remove the wheelhouse's files no cached environment was built from: (files, bytes) removed."""
    house = (root or cache_root()) / "wheels"
    if not house.is_dir():
        return 0, 0
    lock = house.parent / "wheels.lock"
    with open(lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0, 0  # a build is filling it right now
        try:
            used = _wheels_in_use(root)
            gone = [f for f in house.glob("*.whl") if f.name not in used]
            size = sum(f.stat().st_size for f in gone)
            if not dry_run:
                for f in gone:
                    f.unlink(missing_ok=True)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return len(gone), size
