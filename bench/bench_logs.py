"""Log classification throughput: endpoint_runbook.logs (prefilter, signatures, tracebacks, summary, verdict)
against `grep -E` with the same signatures, on the same 1 M-line mixed log, measured in the same run.

The log mixes what real endpoints print: routine lines of TorchServe, MMS, gunicorn/nginx and TF Serving
(metrics, access logs, worker chatter) with, every few thousand lines, a failure excerpt from
tests/data/logs-corpus/ or the genuine TorchServe crash loop (tests/data/logs/crashloop-tinypkg.log).

Times are the best of --repeat runs, wall and CPU (the machine is shared: the CPU ratio is the steadier one).
Baselines: `grep -cE` with every rule of the catalogue translated to POSIX ERE (rules grep cannot express —
lookarounds — are given as their literal anchors), and `grep -cF` with the anchors alone. grep only counts
lines; the runbook also follows tracebacks, groups hits and names the cause.

    .venv/bin/python bench/bench_logs.py [--lines 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from endpoint_runbook.logs import ANCHORS, SIGNATURES, evidence_from_text

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

ROUTINE = [
    "{ts} [INFO ] pool-3-thread-1 TS_METRICS - CPUUtilization.Percent:{n}.0|#Level:Host|#hostname:container-1.local,timestamp:1667200375",
    "{ts} [INFO ] pool-3-thread-1 TS_METRICS - MemoryUsed.Megabytes:{n}.1|#Level:Host|#hostname:container-1.local,timestamp:1667200375",
    "{ts} [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Backend received inference at: 1667200{n}",
    "{ts} [INFO ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Backend response time: {n}",
    "{ts} [INFO ] W-9000-model_1.0 ACCESS_LOG - /169.254.178.2:{n} \"POST /invocations HTTP/1.1\" 200 {n}",
    "{ts} [INFO ] pool-2-thread-{n} ACCESS_LOG - /169.254.178.2:41234 \"GET /ping HTTP/1.1\" 200 1",
    "{ts} [INFO ] W-9001-model_1.0-stdout MODEL_LOG - embedding batch of {n} images took 0.{n} s",
    "{ts} [INFO ] W-9000-model com.amazonaws.ml.mms.wlm.WorkerThread - Backend response time: {n}",
    "169.254.255.130 - - [02/Apr/2020:18:43:{n2} +0000] \"POST /invocations HTTP/1.1\" 200 {n} \"-\" \"Go-http-client/1.1\"",
    "169.254.255.130 - - [02/Apr/2020:18:43:{n2} +0000] \"GET /ping HTTP/1.1\" 200 0 \"-\" \"AHC/2.0\"",
    "[2020-04-02 18:43:{n2} +0000] [77] [INFO] request id {n} content-type application/json",
    "2020-04-02 18:43:39.{n}: I tensorflow_serving/core/basic_manager.cc:739] Successfully reserved resources",
    "{ts} [INFO ] W-9000-model_1.0-stdout MODEL_LOG - predicted {n} items; top score 0.{n}",
]


def _incidents() -> list[list[str]]:
    out = [(DATA / "logs" / "crashloop-tinypkg.log").read_text().splitlines()]
    for p in sorted((DATA / "logs-corpus").glob("*.txt")):
        out.append(p.read_text().partition("\n---\n")[2].splitlines())
    return out


def mixed_log(n_lines: int, *, every: int = 5000, seed: int = 7, incidents: bool = True) -> list[str]:
    """Routine lines with, every ``every`` lines, an incident (none with ``incidents=False``: a healthy endpoint's
    log, where the verdict also looks for served requests and unexplained error lines over the whole text)."""
    rnd = random.Random(seed)
    excerpts = _incidents() if incidents else [[]]
    lines: list[str] = []
    while len(lines) < n_lines:
        for _ in range(every):
            n = rnd.randrange(10, 99999)
            ts = f"2026-11-28T14:{rnd.randrange(60):02d}:{rnd.randrange(60):02d},{rnd.randrange(1000):03d}"
            lines.append(rnd.choice(ROUTINE).format(ts=ts, n=n, n2=f"{n % 60:02d}"))
        lines.extend(rnd.choice(excerpts))
    return lines[:n_lines]


_ERE_SUBS = ((r"(?P<\w+>", "("), ("(?:", "("), (r"\d", "[0-9]"), (r"\s", "[[:space:]]"), (r"\S", "[^[:space:]]"),
             (r"\w", "[[:alnum:]_]"), ("*?", "*"), ("+?", "+"), ("??", "?"))


def to_ere(pattern: str) -> str | None:
    """A catalogue regex in POSIX ERE, or None when grep cannot express it (lookarounds, escapes in brackets)."""
    if re.search(r"\(\?[=!<]", pattern) or re.search(r"\[[^\]]*\\", pattern):
        return None
    out = re.sub(r"\(\?P<\w+>", "(", pattern)
    for a, b in _ERE_SUBS[1:]:
        out = out.replace(a, b)
    return out


def grep_patterns() -> tuple[list[str], int]:
    pats, translated = [], 0
    for sig in SIGNATURES:
        for rule in sig.rules:
            ere = to_ere(rule.pattern.pattern)
            if ere is None:
                pats.extend(re.escape(a) for a in rule.anchors)
            else:
                pats.append(ere)
                translated += 1
    return pats, translated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--healthy", action="store_true", help="a log of routine lines only (no incident)")
    args = ap.parse_args()
    lines = mixed_log(args.lines, incidents=not args.healthy)
    pats, translated = grep_patterns()
    rules = sum(len(s.rules) for s in SIGNATURES)
    grep = shutil.which("grep")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.log"
        path.write_text("\n".join(lines) + "\n")
        pat_file = Path(tmp) / "signatures.ere"
        pat_file.write_text("\n".join(pats) + "\n")
        anchor_file = Path(tmp) / "anchors.txt"
        anchor_file.write_text("\n".join(ANCHORS) + "\n")
        mb = path.stat().st_size / 1e6
        best: dict[str, tuple[float, float]] = {}  # name -> (wall s, cpu s), best of --repeat
        grep_count = ""

        def keep(name: str, wall: float, cpu: float) -> None:
            w, c = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(w, wall), min(c, cpu))

        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            ev = evidence_from_text(path.read_text())
            keep("ours", time.perf_counter() - t, time.process_time() - c)
            if grep:
                for name, cmd in (("grep -E", [grep, "-c", "-E", "-f", str(pat_file), str(path)]),
                                  ("grep -F", [grep, "-c", "-F", "-f", str(anchor_file), str(path)])):
                    t, c = time.perf_counter(), _children_cpu()
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    keep(name, time.perf_counter() - t, _children_cpu() - c)
                    if r.returncode > 1:
                        raise SystemExit(f"{name} failed: {r.stderr}")
                    if name == "grep -E":
                        grep_count = r.stdout.strip()
    print(f"lines: {len(lines):,} ({mb:.0f} MB{', healthy' if args.healthy else ''})  rules: {rules} "
          f"({translated} as ERE, the rest as anchors)  "
          f"anchors: {len(ANCHORS)}")
    print(f"verdict: {ev.cause.code} ({ev.cause.confidence}); codes: {', '.join(sorted(ev.codes))}")
    n = len(lines)
    for name, label in (("ours", "endpoint_runbook.logs"), ("grep -E", "grep -cE signatures"),
                        ("grep -F", "grep -cF anchors")):
        if name in best:
            w, c = best[name]
            extra = f"; {grep_count} lines match" if name == "grep -E" else ""
            print(f"{label:<22} wall {w:6.3f} s  cpu {c:6.3f} s  ({n / c:,.0f} lines/cpu-s{extra})")
    if "grep -E" in best:
        (ow, oc), (gw, gc), (fw, fc) = best["ours"], best["grep -E"], best["grep -F"]
        print(f"ratio ours/grep -E: {oc / gc:.1f}x cpu ({ow / gw:.1f}x wall)   "
              f"ours/grep -F anchors: {oc / fc:.1f}x cpu ({ow / fw:.1f}x wall)")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime

if __name__ == "__main__":
    main()
