"""Large models benchmark (issue 17): fixing a large model.tar.gz in S3 over a limited link.

On the embedded local stack started with ``s3_bandwidth`` (bytes/s per connection for S3 bodies), the source
archive (incompressible float32 embeddings + code, as bench_rebuild builds it) is fixed three ways, each in its
own subprocess, side by side in one run:

  seed         the seed's method: download (boto3 download_file: parallel ranged GETs), extract, add the
               package, re-tar (tar -czf), upload (boto3 upload_file: parallel multipart)
  today        the runbook before this issue: one streaming GET through the splice rebuild into a local file,
               then upload_stream (sequential multipart) of the whole archive
  server-side  archive.remote: one read as parallel ranged GETs (no local copy); each part of the unchanged
               prefix copied inside S3 (UploadPartCopy, several at once) as soon as the read has passed it;
               only the tail uploaded; the result verified

Reported: wall time, bytes uploaded, bytes copied server-side, peak RSS (the method's process), local disk
used at its peak, and the ratio of each to server-side. The load check is not part of any method (it is the
same for all three). Default 1 GiB (a few minutes); ``--size-gib 4`` is opt-in (the 4 GiB target: server-side
>= 5x faster than today's full upload). At 4 GiB it takes about 9 minutes on the 2-core machine (plus 2.5 to
build the archive once). The stack's peak RSS is printed too: its CompleteMultipartUpload joins parts in place
(moto's own held two or three whole copies of the object in memory; a 4 GiB run needed ~16 GiB).

    .venv/bin/python bench/bench_large_models.py [--size-gib 1] [--rate-mib 32] [--readers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
PKG_INIT = b"from .core import color_logic  # noqa\n"
INTERNAL_KEY = "local-stack"  # the stack's own key: not limited (seeding is not part of any method)


def _client(url: str, key: str = "testing"):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 3},
                                                                      max_pool_connections=32))


def _package(root: str) -> str:
    pkg = os.path.join(root, "stygig")
    os.makedirs(os.path.join(pkg, "core"), exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "wb") as f:
        f.write(PKG_INIT)
    with open(os.path.join(pkg, "core", "__init__.py"), "wb") as f:
        f.write(b"")
    with open(os.path.join(pkg, "core", "color_logic.py"), "wb") as f:
        f.write(b"class ColorProcessor:\n    pass\n" * 50)
    return pkg


def _disk(path: str) -> int:
    total = 0
    for dp, _dn, fns in os.walk(path):
        for fn in fns:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_blocks * 512
            except OSError:
                pass
    return total


def _peak_rss_mib(pid: int) -> float | None:
    """A process's peak resident set (VmHWM), or None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _rss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- the three methods (each runs in its own process: python bench_large_models.py --method NAME ...) ------
def method_seed(url: str, src: str, dst: str, work: str, pkg: str, readers: int) -> dict:
    from boto3.s3.transfer import TransferConfig

    s3 = _client(url)
    cfg = TransferConfig(max_concurrency=readers, multipart_chunksize=16 * MiB)
    b, k = src[5:].split("/", 1)
    db, dk = dst[5:].split("/", 1)
    peak = 0
    local = os.path.join(work, "model.tar.gz")
    s3.download_file(b, k, local, Config=cfg)
    peak = max(peak, _disk(work))
    ex = os.path.join(work, "x")
    os.makedirs(ex)
    subprocess.run(["tar", "-xzf", local, "-C", ex], check=True)
    shutil.copytree(pkg, os.path.join(ex, "code", "stygig"))
    peak = max(peak, _disk(work))
    out = os.path.join(work, "new.tar.gz")
    subprocess.run(["tar", "-czf", out, "-C", ex, "."], check=True)
    peak = max(peak, _disk(work))
    size = os.path.getsize(out)
    s3.upload_file(out, db, dk, Config=cfg)
    return {"uploaded": size, "copied": 0, "read": os.path.getsize(local), "disk": peak}


def method_today(url: str, src: str, dst: str, work: str, pkg: str, readers: int) -> dict:
    from endpoint_runbook.archive import rebuild
    from endpoint_runbook.s3 import upload_stream

    s3 = _client(url)
    b, k = src[5:].split("/", 1)
    out = os.path.join(work, "model.tar.gz")
    body = s3.get_object(Bucket=b, Key=k)["Body"]
    r = rebuild(body, out, [(pkg, "code/stygig")])
    disk = _disk(work)
    with open(out, "rb") as fh:
        up = upload_stream(s3, fh, dst, source_uri=src)
    return {"uploaded": up["bytes"], "copied": 0, "read": r.source_bytes, "disk": disk}


def method_server_side(url: str, src: str, dst: str, work: str, pkg: str, readers: int) -> dict:
    from endpoint_runbook.archive.remote import plan_splice, verify_splice, write_splice

    s3 = _client(url)
    b, k = src[5:].split("/", 1)
    head = s3.head_object(Bucket=b, Key=k)
    plan = plan_splice(s3, src, [(pkg, "code/stygig")], check_dir=os.path.join(work, "check"),
                       size=head["ContentLength"], etag=head["ETag"], readers=readers, target_uri=dst)
    disk = _disk(work)
    written = write_splice(s3, plan, dst)
    report = verify_splice(s3, plan, written)
    assert report["ok"], report
    return {"uploaded": written["bytes_uploaded"], "copied": written["bytes_copied"], "read": plan.bytes_read,
            "disk": disk, "method": written["method"]}


METHODS = {"seed": method_seed, "today": method_today, "server-side": method_server_side}


def _child(args: argparse.Namespace) -> None:
    work = tempfile.mkdtemp(prefix="blm-", dir=args.work_root)
    try:
        t0 = time.monotonic()
        out = METHODS[args.method](args.url, args.src, args.dst, work, args.pkg, args.readers)
        out["seconds"] = time.monotonic() - t0
        out["rss_mib"] = _rss_kib() / 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("@@RESULT@@" + json.dumps(out))


def _seed_source(url: str, bucket: str, path: str) -> str:
    s3 = _client(url, INTERNAL_KEY)
    s3.create_bucket(Bucket=bucket)
    from boto3.s3.transfer import TransferConfig

    s3.upload_file(path, bucket, "training/output/model.tar.gz",
                   Config=TransferConfig(multipart_chunksize=64 * MiB, max_concurrency=4))
    return f"s3://{bucket}/training/output/model.tar.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gib", type=float, default=1.0, help="archive size (uncompressed); 4 is the target")
    ap.add_argument("--rate-mib", type=float, default=32.0, help="link limit, MiB/s per connection")
    ap.add_argument("--readers", type=int, default=8, help="parallel connections for reads (seed and server-side)")
    ap.add_argument("--methods", default="seed,today,server-side")
    ap.add_argument("--work-root", default=None, help="where methods may write (default: the system temp dir)")
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--dst", help=argparse.SUPPRESS)
    ap.add_argument("--pkg", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.method:
        return _child(args)

    sys.path.insert(0, HERE)
    from bench_rebuild import build_archive
    from endpoint_runbook.local import stack

    size_mib = int(args.size_gib * 1024)
    cache = os.path.join(tempfile.gettempdir(), f"bench-large-models-{size_mib}.tar.gz")
    if not os.path.exists(cache):
        print(f"building a {size_mib} MiB archive at {cache} (kept for the next run) ...", flush=True)
        t0 = time.monotonic()
        build_archive(cache + ".part", size_mib)
        os.replace(cache + ".part", cache)
        print(f"  built in {time.monotonic() - t0:.1f} s", flush=True)
    compressed = os.path.getsize(cache)
    state = tempfile.mkdtemp(prefix="blm-stack-")
    pkg_root = tempfile.mkdtemp(prefix="blm-pkg-")
    pkg = _package(pkg_root)
    rate = args.rate_mib * MiB
    info = stack.up(port=0, state_dir=state, s3_bandwidth=rate)
    rows = []
    stack_rss = None
    try:
        src = _seed_source(info.url, "bench-large", cache)
        print(f"archive: {compressed / MiB:.0f} MiB compressed ({size_mib} MiB uncompressed); link: "
              f"{args.rate_mib:g} MiB/s per connection; {args.readers} parallel readers\n", flush=True)
        for name in args.methods.split(","):
            dst = f"s3://bench-large/fixed-{name}/model.tar.gz"
            cmd = [sys.executable, __file__, "--method", name, "--url", info.url, "--src", src, "--dst", dst,
                   "--pkg", pkg, "--readers", str(args.readers)] + (["--work-root", args.work_root]
                                                                     if args.work_root else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            payload = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@")]
            if proc.returncode or not payload:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(payload[0][len("@@RESULT@@"):])
            r["name"] = name
            rows.append(r)
            print(f"  {name:<12} {r['seconds']:7.1f} s", flush=True)
        stack_rss = _peak_rss_mib(info.pid)
    finally:
        stack.down(state)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(pkg_root, ignore_errors=True)
    base = next((r for r in rows if r["name"] == "server-side"), None)
    print(f"\n{'method':<12} {'wall s':>8} {'x srv':>6} {'uploaded MiB':>13} {'% archive':>9} {'copied MiB':>11} "
          f"{'read MiB':>9} {'RSS MiB':>8} {'disk MiB':>9}")
    for r in rows:
        ratio = r["seconds"] / base["seconds"] if base else float("nan")
        print(f"{r['name']:<12} {r['seconds']:8.1f} {ratio:6.1f} {r['uploaded'] / MiB:13.1f} "
              f"{100 * r['uploaded'] / compressed:8.2f}% {r['copied'] / MiB:11.1f} {r['read'] / MiB:9.1f} "
              f"{r['rss_mib']:8.0f} {r['disk'] / MiB:9.1f}")
    if stack_rss is not None:
        print(f"\nlocal stack (moto + S3 link) peak RSS: {stack_rss:.0f} MiB")
    today = next((r for r in rows if r["name"] == "today"), None)
    if base and today:
        print(f"\nserver-side is {today['seconds'] / base['seconds']:.1f}x faster than today's full upload "
              f"(target at 4 GiB: >= 5x); uploads {100 * base['uploaded'] / compressed:.3f}% of the archive "
              "(acceptance: <= 2%)")


if __name__ == "__main__":
    main()
