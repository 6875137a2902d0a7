"""Serving environment benchmark (issue 12): build, reuse and size of a profile environment and of a layer.

Everything runs in a fresh cache root under a temp dir (pip's own download cache is what it is on this
machine: say whether it was warm). Each figure is printed with its ratio to a baseline measured in the same run:

  cold profile env   ensure_serving_env(image) from nothing    vs  python -m venv + pip install torch==2.13.0
                     (torch alone: the least any serving environment needs)
  size on disk       the profile env                            vs  that torch-only venv
  cold layer         a layer (numpy pinned to another version)  vs  pip install --prefix of the same (the old way,
                                                                    which could uninstall the base's numpy)
  warm reuse         ensure_serving_env again (manifest check)  vs  `python -c "import torch"` in the env
  warm load check    load_check_dir on a tiny model + its layer vs  `python -c "import torch"` in the env

    ENDPOINT_RUNBOOK_CACHE=... .venv/bin/python bench/bench_serving_env.py [--image URI]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=IMAGE)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each warm measurement (median)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        tmp_p = Path(tmp)
        os.environ["ENDPOINT_RUNBOOK_CACHE"] = str(tmp_p / "cache")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
        from endpoint_runbook.serving.env import ensure_serving_env, isolated_env
        from endpoint_runbook.serving.loadcheck import load_check_dir

        # baseline: a venv with torch only
        base = tmp_p / "torch-only"

        def torch_only() -> None:
            subprocess.run([sys.executable, "-m", "venv", str(base)], check=True)
            subprocess.run([str(base / "bin" / "python"), "-m", "pip", "install", "-q", "torch==2.13.0"],
                           check=True, capture_output=True, env=isolated_env())

        t_base, _ = _timed(torch_only)
        print(f"baseline torch-only venv: {t_base:.1f} s", flush=True)
        t_cold, env = _timed(lambda: ensure_serving_env(args.image))
        print(f"cold profile env: {t_cold:.1f} s", flush=True)

        # a layer, and the old way (pip install --prefix) of the same requirement
        have = subprocess.run([str(env.python), "-I", "-c", "import numpy; print(numpy.__version__)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        req = f"numpy=={'2.0.2' if have != '2.0.2' else '1.26.4'}\n"
        model = tmp_p / "ml" / "model"
        (model / "code").mkdir(parents=True)
        (model / "code" / "inference.py").write_text("import numpy\ndef model_fn(d):\n    return numpy.__version__\n")
        (model / "code" / "requirements.txt").write_text(req)
        t_layer, _ = _timed(lambda: env.layer(req))
        old = tmp_p / "prefix-layer"
        (tmp_p / "req.txt").write_text(req)
        t_old, _ = _timed(lambda: subprocess.run(
            [str(base / "bin" / "python"), "-m", "pip", "install", "-q", "--prefix", str(old), "-r",
             str(tmp_p / "req.txt")], check=True, capture_output=True, env=isolated_env()))

        def median(fn) -> float:
            xs = sorted(_timed(fn)[0] for _ in range(args.repeat))
            return xs[len(xs) // 2]

        t_import = median(lambda: subprocess.run([str(env.python), "-I", "-c", "import torch"], check=True,
                                                 env=isolated_env()))
        t_warm = median(lambda: ensure_serving_env(args.image))
        lc = load_check_dir(model, env=env)
        assert lc.ok, lc.to_dict()
        t_lc = median(lambda: load_check_dir(model, env=env))
        size_env, size_base = _du(env.root), _du(base)

    print(f"\nimage: {args.image}\n")
    print(f"{'measure':18s} {'ours':>10s} {'baseline':>10s} {'ours/base':>10s}  baseline")
    rows = [
        ("cold profile env", f"{t_cold:.1f} s", f"{t_base:.1f} s", t_cold / t_base, "venv + pip install torch==2.13.0"),
        ("size on disk", f"{size_env / 2**20:.0f} MiB", f"{size_base / 2**20:.0f} MiB", size_env / size_base,
         "that torch-only venv"),
        ("cold layer", f"{t_layer:.2f} s", f"{t_old:.2f} s", t_layer / t_old, f"pip install --prefix {req.strip()}"),
        ("warm reuse", f"{t_warm:.3f} s", f"{t_import:.3f} s", t_warm / t_import, "python -c 'import torch'"),
        ("warm load check", f"{t_lc:.2f} s", f"{t_import:.3f} s", t_lc / t_import, "python -c 'import torch'"),
    ]
    for name, ours, b, ratio, what in rows:
        print(f"{name:18s} {ours:>10s} {b:>10s} {ratio:10.2f}  {what}")


if __name__ == "__main__":
    main()
