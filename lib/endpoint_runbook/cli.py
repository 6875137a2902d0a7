"""`endpoint-runbook`: the command line. The one place (with the notebooks) that prints."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import RunbookError

__all__ = ["main"]


def _say(msg: str) -> None:
    print(msg, flush=True)


def _local(args: argparse.Namespace) -> int:
    from .local import stack

    state_dir = Path(args.state_dir) if args.state_dir else None
    if args.local_cmd == "up":
        from .local.startup_scenarios import STARTUP_FAILURES

        # a scenario that needs a slow link from S3 to its instance gets it, unless one is given
        links = [STARTUP_FAILURES[n].download_bandwidth for n in args.scenario or () if n in STARTUP_FAILURES]
        link = args.model_download_bandwidth or min((b for b in links if b), default=None)
        info = stack.up(port=args.port, state_dir=state_dir, startup_timeout=args.startup_timeout, progress=_say,
                        s3_bandwidth=args.s3_bandwidth, images=args.image or (),
                        invocation_timeout=args.invocation_timeout, serverless_idle=args.serverless_idle,
                        model_download_bandwidth=link)
        _say(f"local stack up at {info.url} (pid {info.pid}); log: {info.log_file}")
        for scenario in args.scenario or ():
            from .local import scenarios

            _say(f"seeding scenario {scenario} ...")
            try:
                result = scenarios.seed(scenario, info.url, progress=_say)
            except BaseException:
                if not args.keep_on_failure:
                    stack.down(state_dir)
                raise
            for k, v in result.items():
                _say(f"  {k}: {v}")
        _say(f"point clients at it: export AWS_ENDPOINT_URL={info.url} AWS_ACCESS_KEY_ID=testing "
             "AWS_SECRET_ACCESS_KEY=testing")
        return 0
    if args.local_cmd == "status":
        info = stack.status(state_dir)
        if info is None:
            _say("local stack: not running")
            return 1
        _say(f"local stack: running at {info.url} (pid {info.pid})")
        for c in info.containers:
            _say(f"  {c['endpoint']:<45} {c['state']:<9} {c['variant']}/{c['instance_id']} pid={c['pid']} "
                 f"port={c['port']}")
        return 0
    if args.local_cmd == "down":
        result = stack.down(state_dir)
        if not result["stopped"]:
            _say("local stack: not running")
        else:
            _say(f"local stack stopped (pid {result['pid']}, {result['containers']} container(s))")
        return 0
    if args.local_cmd == "env":
        info = stack.status(state_dir)
        if info is None:
            raise RunbookError("the local stack is not running.", code="not-running",
                               hint="Start it: endpoint-runbook local up")
        _say(f"export AWS_ENDPOINT_URL={info.url}\nexport AWS_ACCESS_KEY_ID=testing\n"
             "export AWS_SECRET_ACCESS_KEY=testing")
        return 0
    raise AssertionError(args.local_cmd)


def _check_archive(args: argparse.Namespace) -> int:
    """One line per finding (``SEVERITY code: message``); exit 1 on an error (or a warning with --strict)."""
    from .archive import Limits, check_archive
    from .imports import exit_code
    from .serving.image_profiles import profile_for_image
    from .serving.requirements import requirements_replace_torch

    profile = profile_for_image(args.image)
    if args.image:
        _say(f"INFO image-profile: imports resolved against the profile of {profile.name} (for {args.image})")
    else:
        _say(f"INFO image-profile: imports resolved against the newest PyTorch inference image's profile "
             f"({profile.name}); pass --image URI for the endpoint's own")
    for note in profile.notes if args.image else ():
        _say(f"WARNING image-profile: {note.removeprefix('WARNING: ')}" if note.startswith("WARNING")
             else f"INFO image-profile: {note}")

    s3 = None
    try:
        if args.archive.startswith("s3://"):
            from .aws import Aws, AwsParams

            s3 = Aws(AwsParams()).client("s3")
        read: dict[str, bytes] = {}
        findings = check_archive(args.archive, args.program, s3_client=s3, limits=Limits(max_members=args.max_members),
                                 image_modules=profile.modules, sources=read)
        findings += requirements_replace_torch(read.get("code/requirements.txt") or b"", profile.image)
    except RunbookError as e:
        _say(f"ERROR {e.code}: {e}")
        return 1
    for f in findings:
        _say(f"{f.severity.upper()} {f.code}: {f.message}")
    if not findings:
        _say(f"OK: {args.archive} passes the checks")
    return exit_code(findings, strict=args.strict)


def _explain_logs(args: argparse.Namespace) -> int:
    """Classify a pasted or exported log offline, with the same matcher and verdict as ``diagnose``.
    Exit 0 when the log shows no failure (healthy, nothing known), 1 when it names a cause, 2 on bad input."""
    import json

    from .logs import NOT_A_FAILURE, evidence_from_text
    from .logs.scoring import excerpt_body

    if args.score:
        return _score_logs(args)
    if args.file is None:
        raise RunbookError("explain-logs needs a log file (or - for standard input)", code="bad-input",
                           hint="Give the pasted or exported log's path, or --score DIR to score a corpus.")
    if args.file == "-":
        text = sys.stdin.read()
    else:
        path = Path(args.file)
        if not path.is_file():
            raise RunbookError(f"no such log file: {args.file}", code="bad-input",
                               hint="Give a file with the pasted or exported log, or - to read standard input.")
        text = path.read_text(encoding="utf-8", errors="replace")
    text, had_header = excerpt_body(text)
    ev = evidence_from_text(text, samples=args.samples)
    if args.json:
        _say(json.dumps(ev.to_dict(), indent=2, default=str))
    else:
        c = ev.cause
        if had_header:
            _say("(an excerpt's header: only the log text after its '---' line is read)")
        _say(f"cause: {c.code} ({c.confidence} confidence)")
        _say(f"  {c.summary}")
        shown = {k: v for k, v in c.details.items() if k not in ("count", "first_seen", "last_seen")
                 and v not in (None, "", [], {})}
        for k, v in shown.items():
            _say(f"  {k}: {v}")
        if c.evidence:
            _say("evidence:")
            for line in c.evidence[: args.samples * 3]:
                _say(f"  {line}")
        if c.also_seen:
            _say(f"also seen: {', '.join(c.also_seen)}")
        noise = ev.noise
        if noise:
            _say(f"noise (not a cause): {', '.join(f'{k} ×{n}' for k, n in noise.items())}")
    return 0 if ev.cause.code in NOT_A_FAILURE else 1


def _score_logs(args: argparse.Namespace) -> int:
    """Score the classifier on corpus directories of published excerpts (each file's header names its expected
    cause): the share right, each confidence level's precision, every miss. Exit 0 (a score is not a failure)."""
    import json

    from .logs.scoring import score_corpus

    dirs = ([args.file] if args.file else []) + list(args.score)
    scores = []
    for d in dirs:
        path = Path(d)
        if not path.is_dir():
            raise RunbookError(f"no corpus directory {d}", code="bad-input",
                               hint="Give directories of excerpts (tests/data/logs-corpus, tests/data/logs-heldout).")
        try:
            scores.append(score_corpus(path))
        except ValueError as e:
            raise RunbookError(str(e), code="bad-input",
                               hint="Each excerpt needs '# expected-cause: <code>' in its header and a '---' line "
                               "before the log text.") from e
    if args.json:
        _say(json.dumps([s.to_dict() for s in scores], indent=2))
    else:
        for s in scores:
            for line in s.lines():
                _say(line)
    return 0


def _csv_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _scan(args: argparse.Namespace) -> int:
    """Scan the fleet; print the broken endpoints, worst first, and the accounts/regions that failed. Exit 0:
    nothing broken and every account and region read; 1: broken endpoints, or a part could not be scanned."""
    from .aws import AwsParams
    from .fleet import ScanBounds, scan, write_reports

    params = AwsParams(profile=args.profile, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                       max_attempts=args.max_attempts)
    bounds = ScanBounds(log_window_minutes=args.window_minutes, max_log_bytes=args.max_log_bytes,
                        max_log_events=args.max_log_events, concurrency=args.concurrency)
    result = scan(params, regions=_csv_list(args.regions) or None, role_arns=args.role_arn or [],
                  external_id=args.external_id, name_contains=args.name_contains, bounds=bounds,
                  progress=None if args.quiet else _say)
    paths = write_reports(result, args.report_dir)
    if args.json:
        import json

        _say(json.dumps(result.to_dict(), indent=1, default=str))
        return 1 if result.broken or result.failures else 0
    _say(f"scanned {len(result.endpoints)} endpoint(s) in {len(result.regions)} region(s) × "
         f"{len(result.accounts)} account(s) in {result.seconds:.1f} s ({sum(result.api_calls.values())} API calls): "
         f"{len(result.broken)} broken")
    for i, e in enumerate(result.broken, 1):
        _say(f"{i:3d}. {e.severity.upper():<8} {e.code:<24} {e.account}/{e.region}/{e.name} ({e.kind}, {e.status})")
        _say(f"     {e.cause}")
        for note in e.notes:
            _say(f"     · {note}")
        _say(f"     diagnose: {e.command}")
    for f in result.failures:
        where = f"{f.account}/{f.region}" if f.region else f"account {f.account}"
        _say(f"NOT SCANNED {where}: {f.code} while {f.what}: {f.message}")
    _say(f"report: {paths['json']}  {paths['csv']}")
    return 1 if result.broken or result.failures else 0


def _schedule(args: argparse.Namespace) -> int:
    from .fleet.schedule import ScheduledScan, write_pipeline

    job = ScheduledScan(
        pipeline_name=args.pipeline_name, role=args.role, s3_root=args.s3_root, schedule=args.schedule,
        image_uri=args.image_uri, instance_type=args.instance_type, regions=_csv_list(args.regions),
        role_arns=args.role_arn or [], external_id=args.external_id, window_minutes=args.window_minutes,
        region=args.region, wheel=args.wheel)
    out = write_pipeline(job, args.out, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), profile=args.profile,
                         create=args.create, progress=_say)
    _say(f"pipeline definition: {out['definition']}")
    _say(f"schedule: {out['schedule']} ({job.schedule})")
    if out.get("pipeline_arn"):
        _say(f"created {out['pipeline_arn']}; schedule {out['schedule_arn']}")
    else:
        _say("create it with --create (the pipeline and its EventBridge schedule), or from the definition file")
    return 0


def _cache(args: argparse.Namespace) -> int:
    import time

    from .serving.cache import list_cached, prune_cached, prune_wheels, wheelhouse_usage
    from .serving.env import cache_root

    def row(e) -> str:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)) if e.last_used else "never"
        state = "" if e.complete else "  (unfinished build)"
        return (f"  {e.bytes / 2**30:7.2f} GiB  {used:<16}  {e.profile or '?':<34} {e.mode or '?':<8} "
                f"layers={e.layers:<3} {e.path}{state}")

    if args.cache_cmd == "prune":
        removed, kept = prune_cached(older_than_days=args.older_than, keep=args.keep, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        _say(f"{verb} {len(removed)} serving environment(s), {sum(e.bytes for e in removed) / 2**30:.2f} GiB; "
             f"kept {len(kept)}")
        for e in removed:
            _say(row(e))
        n, size = prune_wheels(dry_run=args.dry_run)
        _say(f"{verb} {n} wheel(s) no kept environment was built from, {size / 2**30:.2f} GiB")
        return 0
    envs = list_cached()
    _say(f"serving environments under {cache_root() / 'serving'}: {len(envs)}, "
         f"{sum(e.bytes for e in envs) / 2**30:.2f} GiB (most recently used first)")
    for e in envs:
        _say(row(e))
    n, size, unused = wheelhouse_usage()
    _say(f"wheelhouse {cache_root() / 'wheels'}: {n} wheel(s), {size / 2**30:.2f} GiB "
         f"({unused / 2**30:.2f} GiB no environment was built from)")
    return 0


def check_archive_main(argv: list[str] | None = None) -> int:
    """``endpoint-runbook check-archive ...`` as a function (for training jobs and tests)."""
    return main(["check-archive", *(argv or [])])


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="endpoint-runbook", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    local = sub.add_parser("local", help="the embedded local AWS stack (moto + real model containers)")
    lsub = local.add_subparsers(dest="local_cmd", required=True)
    for name, helptext in (("up", "start it in the background"), ("down", "stop it and every container"),
                           ("status", "where it listens and what it runs"), ("env", "shell exports to use it")):
        p = lsub.add_parser(name, help=helptext)
        p.add_argument("--state-dir", help="where its state file lives (default ~/.cache/endpoint-runbook/local)")
        if name == "up":
            from .local.stack import DEFAULT_PORT

            p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT}; 0 = any)")
            p.add_argument("--scenario", action="append",
                           help="set up a named scenario in the stack (repeatable: stygig-incident, stygig-realtime, "
                           "stygig-serverless, fleet; see `local/scenarios.py`)")
            p.add_argument("--startup-timeout", type=float, default=600.0,
                           help="seconds a model container may take to answer /ping (default 600)")
            p.add_argument("--keep-on-failure", action="store_true", help="keep the stack up if seeding fails")
            p.add_argument("--image", action="append", metavar="URI",
                           help="build this serving image's environment now (repeatable; default: each is built "
                           "when the first endpoint on it starts; a scenario builds its own while seeding)")
            p.add_argument("--s3-bandwidth", type=float, default=None,
                           help="limit S3 bodies to this many bytes/s per connection (a slow link; default: none)")
            p.add_argument("--model-download-bandwidth", type=float, default=None,
                           help="bytes/s at which an instance downloads its model data from S3 (default: none; a "
                           "scenario that needs a slow link, download-timeout, sets its own)")
            p.add_argument("--invocation-timeout", type=float, default=None,
                           help="seconds the model has to answer an InvokeEndpoint (default SageMaker's 60)")
            p.add_argument("--serverless-idle", type=float, default=None,
                           help="seconds a serverless endpoint's container stays warm after a request (default 300)")
    local.set_defaults(func=_local)

    check = sub.add_parser("check-archive", help="check a model.tar.gz (path or s3://...) before it is saved or "
                           "uploaded: layout and the serving code's imports; exit 1 on an error")
    check.add_argument("archive", help="a local path or s3://bucket/key")
    check.add_argument("--program", default=os.environ.get("SAGEMAKER_PROGRAM") or "inference.py",
                       help="the entry script under code/ (default: $SAGEMAKER_PROGRAM or inference.py)")
    check.add_argument("--max-members", type=int, default=50_000, help="stop reading past this many members")
    check.add_argument("--strict", action="store_true", help="warnings fail too")
    check.add_argument("--image", help="the serving image URI (e.g. 763104351884.dkr.ecr.<region>.amazonaws.com/"
                       "pytorch-inference:2.1.0-cpu-py310): imports resolve against what it ships "
                       "(default: the newest PyTorch inference image)")
    check.set_defaults(func=_check_archive)

    explain = sub.add_parser("explain-logs", help="classify a pasted or exported model-container log offline "
                             "(CloudWatch console copy or CSV export, docker output, CloudWatch JSON); "
                             "exit 1 when it names a failure cause")
    explain.add_argument("file", nargs="?", help="the log file, or - for standard input")
    explain.add_argument("--score", nargs="+", metavar="DIR", default=[],
                         help="score the classifier on corpus directories of published excerpts instead "
                         "(tests/data/logs-corpus tests/data/logs-heldout): right / total, precision per "
                         "confidence level, every miss")
    explain.add_argument("--json", action="store_true", help="the full evidence as JSON (for automation)")
    explain.add_argument("--samples", type=int, default=5, help="distinct evidence lines kept per code (default 5)")
    explain.set_defaults(func=_explain_logs)

    run = sub.add_parser("run", help="run the runbook notebooks headless with papermill")
    run.add_argument("params", help="params/<env>.yaml")
    run.add_argument("--steps", help="comma-separated step names or numbers (default: all)")
    run.add_argument("--run-dir", help="where executed notebooks and records go (default runs/<run-id>)")
    run.add_argument("--kernel", help="Jupyter kernel name (default: this environment's)")
    run.set_defaults(func=lambda a: __import__("endpoint_runbook.runner", fromlist=["x"]).run_main(a))

    sc = sub.add_parser("scan", help="find every broken endpoint across regions and accounts, worst first "
                        "(InService but crash-looping first); writes scan.json and scan.csv; exit 1 when any is found")
    _scan_args(sc)
    sc.add_argument("--profile", help="AWS profile (default: the usual chain)")
    sc.add_argument("--name-contains", help="only endpoints whose name contains this")
    sc.add_argument("--max-log-bytes", type=int, default=256 << 10, help="log bytes read per endpoint (default 256 KiB)")
    sc.add_argument("--max-log-events", type=int, default=2000, help="log events read per endpoint (default 2000)")
    sc.add_argument("--concurrency", type=int, default=8, help="endpoints read at once per account and region (default 8)")
    sc.add_argument("--max-attempts", type=int, default=8, help="adaptive-mode retry attempts per call (default 8)")
    sc.add_argument("--report-dir", help="where scan.json and scan.csv go (default runs/scan-<time>)")
    sc.add_argument("--json", action="store_true", help="print the whole result as JSON")
    sc.add_argument("--quiet", action="store_true", help="no progress lines")
    sc.set_defaults(func=_scan)

    sched = sub.add_parser("schedule", help="a recurring run as a SageMaker pipeline with a notebook-job step")
    ssub = sched.add_subparsers(dest="schedule_cmd", required=True)
    ss = ssub.add_parser("scan", help="write the pipeline definition of a recurring 00_scan notebook job "
                         "(needs the SageMaker SDK: pip install -e '.[sdk]')")
    _scan_args(ss)
    ss.add_argument("--pipeline-name", default="endpoint-runbook-scan", help="(default endpoint-runbook-scan)")
    ss.add_argument("--role", required=True, help="the execution role ARN the notebook job (and the pipeline) runs as")
    ss.add_argument("--s3-root", required=True, help="s3://bucket/prefix for the job's inputs and outputs")
    ss.add_argument("--schedule", default="rate(1 day)",
                    help="EventBridge Scheduler expression: rate(...), cron(...) or at(...) (default rate(1 day))")
    ss.add_argument("--image-uri", help="the job's image (default: the SageMaker Distribution image of the region)")
    ss.add_argument("--instance-type", default="ml.m5.large", help="(default ml.m5.large)")
    ss.add_argument("--region", help="where the pipeline runs (default: the profile's)")
    ss.add_argument("--profile", help="AWS profile")
    ss.add_argument("--wheel", help="a built endpoint-runbook wheel to install in the job (default: built now)")
    ss.add_argument("--out", default="scan-pipeline.json", help="the definition file (default scan-pipeline.json)")
    ss.add_argument("--create", action="store_true", help="also create/update the pipeline and its schedule")
    sched.set_defaults(func=_schedule)

    pol = sub.add_parser("policy", help="print the IAM policy each step needs (and their union), scoped to the "
                         "resources the params and the earlier records name")
    pol.add_argument("params", help="params/<env>.yaml")
    pol.add_argument("--steps", help="comma-separated step names or numbers (default: all)")
    pol.add_argument("--run-dir", help="a run whose 01-diagnose.json names the endpoint's config, model and "
                     "archive (default: read them from AWS with the params' credentials, as step 1 does)")
    pol.add_argument("--out", help="also write policy-<step>.json and policy-all.json into this folder")
    pol.set_defaults(func=lambda a: __import__("endpoint_runbook.policy", fromlist=["x"]).policy_main(a, _say))

    cache = sub.add_parser("cache", help="the serving environments built for image profiles: list (size, last "
                           "use) or prune")
    csub = cache.add_subparsers(dest="cache_cmd")
    csub.add_parser("list", help="each environment with its size and last use (the default)")
    prune = csub.add_parser("prune", help="remove environments not used lately, or all but the newest few")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="remove those not used for DAYS days")
    prune.add_argument("--keep", type=int, metavar="N", help="keep only the N most recently used")
    prune.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    cache.set_defaults(func=_cache, cache_cmd="list")

    rb = sub.add_parser("rollback", help="put an endpoint fixed in place back on its previous endpoint config")
    rb.add_argument("endpoint", help="the endpoint's name")
    rb.add_argument("--run-dir", help="the run dir of the in-place deploy (else the config's previous-config tag)")
    rb.add_argument("--to-config", help="the endpoint config to return to (default: the recorded previous one)")
    rb.add_argument("--wait-timeout", type=float, default=900.0, help="seconds to wait for the update (default 900)")
    rb.add_argument("--region", help="AWS region (default: the profile's / AWS_DEFAULT_REGION)")
    rb.add_argument("--profile", help="AWS profile")
    rb.set_defaults(func=_rollback)
    return ap


def _scan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--regions", help="comma-separated regions (default: the profile's)")
    p.add_argument("--role-arn", action="append", metavar="ARN",
                   help="a role to assume in another account (repeatable; default: your own account)")
    p.add_argument("--external-id", help="the external id the roles' trust policies ask for")
    p.add_argument("--window-minutes", type=float, default=60.0, help="how far back logs and errors are read (default 60)")


def _rollback(args: argparse.Namespace) -> int:
    from .aws import Aws, AwsParams
    from .endpoint.inplace import rollback

    aws = Aws(AwsParams(region=args.region, profile=args.profile, endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    r = rollback(aws, args.endpoint, run_dir=args.run_dir, to_config=args.to_config, wait_timeout=args.wait_timeout,
                 progress=_say)
    _say(f"{r.endpoint_name}: {r.from_config} → {r.to_config} ({r.previous_from}); {r.endpoint_status} "
         f"in {r.seconds:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RunbookError as e:
        print(f"endpoint-runbook: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as the shell's tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
