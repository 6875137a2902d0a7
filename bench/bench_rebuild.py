"""Rebuild benchmark (issue 5): adding a source package to a ~1 GiB model.tar.gz.

Builds an archive of mostly incompressible float32 embeddings plus a small code dir (gzip level 6), then
runs each method in its own subprocess and reports wall time and peak RSS (from wait4's rusage):

  seed        tarfile extractall + copytree + tarfile 'w:gz' re-tar (the seed's quick fix; tarfile's level 9)
  tar         tar -xzf + cp -r + tar -czf (GNU tar + gzip -6)
  floor-zlib  one plain inflate pass over the source with zlib (the archive must be read once)
  floor-isal  the same with isal (if installed)
  ours        endpoint_runbook.archive.rebuild, method=auto (splice: the unchanged deflate stream is copied,
              only the last block re-encoded)
  ours-reencode  rebuild(method="reencode"): inflate + copy members + recompress with isal/zlib level 1

    .venv/bin/python bench/bench_rebuild.py --size-mib 1024
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import subprocess
import sys
import tarfile
import time

from benchkit import scratch_dir

HERE = os.path.dirname(os.path.abspath(__file__))


class _RandomFloats:
    """A file-like producing ``size`` bytes of random float32 (normal), chunk by chunk."""

    def __init__(self, size: int, seed: int = 0):
        import numpy as np  # only in the build subprocess: the parent stays small (children inherit its RSS)

        self.left = size
        self.rng = np.random.default_rng(seed)

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        n4 = -(-n // 4)
        b = self.rng.standard_normal(n4, dtype='float32').tobytes()[:n]
        self.left -= len(b)
        return b


def build_archive(path: str, size_mib: int, level: int = 6) -> None:
    """model.tar.gz: embeddings.npy (~90 %), faiss_index.index (~10 %), metadata/config, code/."""
    total = size_mib << 20
    parts = {"embeddings.npy": int(total * 0.9), "faiss_index.index": total - int(total * 0.9)}
    small = {"config.json": b'{"top_k": 5}\n', "metadata.pkl": os.urandom(50_000),
             "code/inference.py": b"from stygig.core.color_logic import ColorProcessor\n",
             "code/requirements.txt": b"faiss-cpu\n"}
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tf:
        ti = tarfile.TarInfo("code")
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        tf.addfile(ti)
        for i, (name, size) in enumerate(parts.items()):
            ti = tarfile.TarInfo(name)
            ti.size = size
            tf.addfile(ti, _RandomFloats(size, i))
        for name, data in small.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def make_package(root: str) -> str:
    pkg = os.path.join(root, "stygig")
    os.makedirs(os.path.join(pkg, "core"), exist_ok=True)
    for rel, text in {"__init__.py": "", "core/__init__.py": "", "core/color_logic.py": "class ColorProcessor: ...\n",
                      "core/gender_logic.py": "class GenderClassifier: ...\n"}.items():
        with open(os.path.join(pkg, rel), "w") as f:
            f.write(text)
    return pkg


SEED = r"""
import os, shutil, sys, tarfile
src, out, pkg, work = sys.argv[1:5]
x = os.path.join(work, "x")
with tarfile.open(src, "r:gz") as tf:
    tf.extractall(x, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # 3.11.4+
shutil.copytree(pkg, os.path.join(x, "code", "stygig"), dirs_exist_ok=True)
with tarfile.open(out, "w:gz") as tf:
    for name in sorted(os.listdir(x)):
        tf.add(os.path.join(x, name), arcname=name)
shutil.rmtree(x)
"""

FLOOR = r"""
import sys
mod = sys.argv[2]
if mod == "isal":
    from isal import isal_zlib as z
else:
    import zlib as z
d = z.decompressobj(31)
n = 0
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        n += len(d.decompress(b))
assert d.eof, "not at the end of the gzip stream"
"""

OURS = r"""
import sys
from endpoint_runbook.archive import rebuild
r = rebuild(open(sys.argv[1], "rb"), sys.argv[2], [(sys.argv[3], "code/stygig")], method=sys.argv[4])
print(r.method, r.copied_compressed_bytes, r.reencoded_source_bytes, file=sys.stderr)
"""


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cmd`` and its waited-for children.

    Dirty pages of the previous method's output are flushed first (os.sync), so that writeback of ~2 GiB
    from the seed's and tar's runs does not land on the next method's clock."""
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed with {p.returncode}")
    return wall, ru.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--level", type=int, default=6, help="gzip level of the source archive")
    ap.add_argument("--workdir", default=None, help="where to build (default: a temp dir, removed after)")
    ap.add_argument("--skip", default="", help="comma-separated methods to skip, e.g. seed,tar")
    ap.add_argument("--build-only", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.build_only:
        build_archive(args.build_only, args.size_mib, args.level)
        return 0
    skip = set(filter(None, args.skip.split(",")))
    py = sys.executable
    with scratch_dir(args.workdir, prefix="bench-rebuild-") as work:
        src = os.path.join(work, f"model-{args.size_mib}m.tar.gz")
        if not os.path.exists(src):
            t = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--size-mib", str(args.size_mib), "--level", str(args.level),
                            "--build-only", src], check=True)
            print(f"built {src}: {os.path.getsize(src) / 2**20:.0f} MiB compressed in {time.perf_counter() - t:.0f} s",
                  flush=True)
        pkg = make_package(os.path.join(work, "repo"))
        results: dict[str, tuple[float, float]] = {}
        methods = {
            "seed": [py, "-c", SEED, src, os.path.join(work, "seed.tar.gz"), pkg, work],
            "tar": ["sh", "-c", (f'set -e; rm -rf "{work}/t"; mkdir "{work}/t"; tar -xzf "{src}" -C "{work}/t"; '
                                 f'cp -r "{pkg}" "{work}/t/code/stygig"; tar -czf "{work}/tar.tar.gz" -C "{work}/t" .; '
                                 f'rm -rf "{work}/t"')],
            "floor-zlib": [py, "-c", FLOOR, src, "zlib"],
            "floor-isal": [py, "-c", FLOOR, src, "isal"],
            "ours": [py, "-c", OURS, src, os.path.join(work, "ours.tar.gz"), pkg, "auto"],
            "ours-reencode": [py, "-c", OURS, src, os.path.join(work, "ours-re.tar.gz"), pkg, "reencode"],
        }
        try:
            import isal  # noqa: F401
        except ImportError:
            skip.add("floor-isal")
        for name, cmd in methods.items():
            if name in skip:
                continue
            results[name] = run(cmd)
            print(f"  {name:14s} {results[name][0]:8.2f} s  {results[name][1]:8.1f} MiB", flush=True)
        print(f"\nsource: {args.size_mib} MiB of tar, {os.path.getsize(src) / 2**20:.0f} MiB gzip (level {args.level})")
        print(f"{'method':14s} {'seconds':>8s} {'peak RSS MiB':>13s} {'seed/x':>8s} {'x/floor-isal':>13s} "
              f"{'x/floor-zlib':>13s}")
        for name, (wall, rss) in results.items():
            seed = results.get("seed", (float("nan"),))[0] / wall
            fi = wall / results["floor-isal"][0] if "floor-isal" in results else float("nan")
            fz = wall / results["floor-zlib"][0] if "floor-zlib" in results else float("nan")
            print(f"{name:14s} {wall:8.2f} {rss:13.1f} {seed:8.1f} {fi:13.2f} {fz:13.2f}")
        if "ours" in results and "seed" in results:
            print(f"\nours is {results['seed'][0] / results['ours'][0]:.1f}x faster than the seed's method "
                  f"(target >= 6x); peak RSS {results['ours'][1]:.0f} MiB (target < 256 MiB)")
        if "ours" in results and "floor-isal" in results:
            print(f"ours / one isal inflate pass = {results['ours'][0] / results['floor-isal'][0]:.2f} "
                  f"(stretch <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
