"""Log evidence throughput: endpoint_runbook.logs (match + summarize) against `grep -E` with the same line
patterns, on the same file: the genuine TorchServe crash-loop log repeated to ~N lines. Prints the ratio.

    .venv/bin/python bench/bench_logs.py [--lines 200000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from endpoint_runbook.logs import SIGNATURES, events_from_lines, match_signatures, summarize

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "logs" / "crashloop-tinypkg.log"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = FIXTURE.read_text().splitlines()
    lines = (base * (args.lines // len(base) + 1))[: args.lines]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.log"
        path.write_text("\n".join(lines) + "\n")
        # grep -E has no lookahead / named groups: the baseline uses the simple literal cores of the patterns.
        pats = ["No module named", "Backend worker process died", "Load model failed", "Auto recovery failed again",
                "Retry worker", "NativeIoException", "OutOfMemoryError", "failed to install required packages",
                "SyntaxError", "Please provide a model_fn", "did not respond in given time", "GET /ping"]
        grep = shutil.which("grep")
        best_ours = best_grep = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            text = path.read_text().splitlines()
            ev = summarize(match_signatures(events_from_lines(text)), events_read=len(text))
            best_ours = min(best_ours, time.perf_counter() - t)
            if grep:
                t = time.perf_counter()
                subprocess.run([grep, "-c", "-E", "|".join(pats), str(path)], check=False, capture_output=True)
                best_grep = min(best_grep, time.perf_counter() - t)
    print(f"lines: {len(lines)}  signatures: {len(SIGNATURES)}  cause: {ev.cause.code}")
    print(f"endpoint_runbook.logs: {best_ours:.3f} s  ({len(lines) / best_ours:,.0f} lines/s)")
    if grep:
        print(f"grep -cE (baseline):   {best_grep:.3f} s  ({len(lines) / best_grep:,.0f} lines/s)")
        print(f"ratio ours/grep: {best_ours / best_grep:.1f}x slower")


if __name__ == "__main__":
    main()
