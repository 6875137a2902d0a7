"""Serving environment benchmark (issue 21): the image's own environment (exact) against the CPU-torch stand-in.

Per image profile, in one run, each in a fresh cache root under a temp dir (so both pay their downloads; pip's
own HTTP cache does not keep the index's files on this machine, the runbook's wheelhouse is what profiles share):

  cold build         ensure_serving_env(image, mode="exact")       vs  the same profile's stand-in (mode="stand-in")
  size on disk       the exact environment                        vs  the stand-in
  rebuild            exact again from the filled wheelhouse       vs  the cold exact build (what sharing saves)
  warm reuse         ensure_serving_env again (manifest check)    vs  `python -c "import torch"` in the env
  warm load check    load_check_dir on a small torch model        vs  `python -c "import torch"` in the env
  layer install      a real requirements.txt (open_clip_torch)    vs  `pip install --dry-run` of it (resolution only)

Every figure is printed with its ratio to the baseline measured in the same run.

    .venv/bin/python bench/bench_serving_env.py [--image URI ...] [--skip-standin]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES = ["763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310",
          "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310"]
LAYER_REQUIREMENTS = "open_clip_torch\n"
MODEL = """import os, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
def model_fn(model_dir):
    net = Net()
    net.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return net
"""


def _du(path: Path) -> int:
    seen, total = set(), 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _median(fn, n: int) -> float:
    xs = sorted(_timed(fn)[0] for _ in range(n))
    return xs[len(xs) // 2]


def bench_profile(image: str, tmp: Path, repeat: int, skip_standin: bool) -> list[tuple]:
    from endpoint_runbook.serving import env as env_mod
    from endpoint_runbook.serving.env import ensure_serving_env, isolated_env
    from endpoint_runbook.serving.loadcheck import load_check_dir

    rows = []
    os.environ["ENDPOINT_RUNBOOK_CACHE"] = str(tmp / "cache-exact")
    t_exact, env = _timed(lambda: ensure_serving_env(image, mode="exact"))
    size_exact = _du(env.root)
    print(f"  cold exact build: {t_exact:.1f} s, {size_exact / 2**20:.0f} MiB", flush=True)
    # The same profile again from the filled wheelhouse (what another profile's build or a rebuild pays).
    env_mod._force_rmtree(env.root)
    t_rebuild, env = _timed(lambda: ensure_serving_env(image, mode="exact"))
    print(f"  rebuild from the wheelhouse: {t_rebuild:.1f} s", flush=True)
    if not skip_standin:
        os.environ["ENDPOINT_RUNBOOK_CACHE"] = str(tmp / "cache-standin")
        t_standin, standin = _timed(lambda: ensure_serving_env(image, mode="stand-in"))
        size_standin = _du(standin.root)
        print(f"  cold stand-in build: {t_standin:.1f} s, {size_standin / 2**20:.0f} MiB", flush=True)
        rows += [("cold build", f"{t_exact:.1f} s", f"{t_standin:.1f} s", t_exact / t_standin, "the stand-in's"),
                 ("size on disk", f"{size_exact / 2**20:.0f} MiB", f"{size_standin / 2**20:.0f} MiB",
                  size_exact / size_standin, "the stand-in's")]
        shutil.rmtree(tmp / "cache-standin", ignore_errors=True)
    os.environ["ENDPOINT_RUNBOOK_CACHE"] = str(tmp / "cache-exact")
    rows.append(("rebuild", f"{t_rebuild:.1f} s", f"{t_exact:.1f} s", t_rebuild / t_exact, "the cold exact build"))

    py = str(env.python)
    t_import = _median(lambda: subprocess.run([py, "-I", "-c", "import torch"], check=True, env=isolated_env()), repeat)
    t_warm = _median(lambda: ensure_serving_env(image, mode="exact"), repeat)
    model = tmp / "ml" / "model"
    (model / "code").mkdir(parents=True, exist_ok=True)
    (model / "code" / "inference.py").write_text(MODEL)
    subprocess.run([py, "-I", "-c", "import sys, torch; sys.path.insert(0, sys.argv[2]); from inference import Net; "
                    "torch.save(Net().state_dict(), sys.argv[1])", str(model / "model.pth"), str(model / "code")],
                   check=True, env=isolated_env())
    lc = load_check_dir(model, env=env)
    assert lc.ok, lc.to_dict()
    t_lc = _median(lambda: load_check_dir(model, env=env), repeat)
    rows += [("warm reuse", f"{t_warm:.3f} s", f"{t_import:.3f} s", t_warm / t_import, "python -c 'import torch'"),
             ("warm load check", f"{t_lc:.2f} s", f"{t_import:.2f} s", t_lc / t_import, "python -c 'import torch'")]

    req = tmp / "requirements.txt"
    req.write_text(LAYER_REQUIREMENTS)
    t_resolve, _ = _timed(lambda: subprocess.run([py, "-m", "pip", "install", "-q", "--dry-run", "-r", str(req)],
                                                 check=True, capture_output=True, env=isolated_env()))
    t_layer, site = _timed(lambda: env.layer(LAYER_REQUIREMENTS))
    from endpoint_runbook.serving.container_entry import layer_distributions

    held = layer_distributions(site)
    assert "torch" not in held and "torchvision" not in held, held  # the image's torch family is used
    rows.append(("layer install", f"{t_layer:.1f} s", f"{t_resolve:.1f} s", t_layer / t_resolve,
                 f"pip --dry-run of {LAYER_REQUIREMENTS.strip()} (layer holds {len(held)} dists)"))
    shutil.rmtree(tmp / "cache-exact", ignore_errors=True)
    shutil.rmtree(tmp / "ml", ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", action="append", help="image URI (repeatable; default: the 2.1 and 2.0 images)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each warm measurement (median)")
    ap.add_argument("--skip-standin", action="store_true", help="do not build the stand-in (no size/build ratio)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        for image in args.image or IMAGES:
            print(f"{image}", flush=True)
            results[image] = bench_profile(image, Path(tmp), args.repeat, args.skip_standin)
    for image, rows in results.items():
        print(f"\n{image}\n{'measure':16s} {'exact':>10s} {'baseline':>10s} {'ratio':>7s}  baseline")
        for name, ours, base, ratio, what in rows:
            print(f"{name:16s} {ours:>10s} {base:>10s} {ratio:7.2f}  {what}")


if __name__ == "__main__":
    main()
