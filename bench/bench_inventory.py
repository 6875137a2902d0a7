"""Inventory benchmark (issue 4): endpoint_runbook.archive.inventory vs `tar -tzf` on the same file.

Reuses bench_rebuild's archive (mostly incompressible float32 embeddings, gzip level 6). Each side runs in
its own subprocess, best of --repeat runs; printed as a ratio (>1 means ours is faster).

    .venv/bin/python bench/bench_inventory.py --size-mib 1024
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchkit import scratch_dir

HERE = os.path.dirname(os.path.abspath(__file__))

OURS = r"""
import sys
from endpoint_runbook.archive import inventory, lint
with open(sys.argv[1], "rb") as f:
    inv = inventory(f)
assert inv.complete, inv.findings
print(len(inv.members), inv.sha256, [f.code for f in lint(inv)], file=sys.stderr)
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with scratch_dir(args.workdir, prefix="bench-inventory-") as work:
        src = os.path.join(work, f"model-{args.size_mib}m.tar.gz")
        if not os.path.exists(src):
            subprocess.run([sys.executable, os.path.join(HERE, "bench_rebuild.py"), "--size-mib", str(args.size_mib),
                            "--level", str(args.level), "--build-only", src], check=True)
        sides = {
            "tar -tzf": ["tar", "-tzf", src],
            "tar -tvzf": ["tar", "-tvzf", src],
            "inventory": [sys.executable, "-c", OURS, src],
        }
        best = {name: min(timed(cmd) for _ in range(args.repeat)) for name, cmd in sides.items()}
        mib = os.path.getsize(src) / 2**20
        print(f"archive: {args.size_mib} MiB tar, {mib:.0f} MiB gzip; best of {args.repeat}")
        for name, s in best.items():
            print(f"  {name:10s} {s:7.2f} s  {mib / s:7.0f} MiB/s compressed")
        print(f"inventory vs tar -tzf: {best['tar -tzf'] / best['inventory']:.2f}x the throughput "
              f"(inventory also hashes the stream with sha256 and checks every member)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
