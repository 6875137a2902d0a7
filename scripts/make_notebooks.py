"""Write notebooks/*.ipynb from the definitions below (stable cell ids, no outputs, the parameters cell built
from the params schema), so notebooks are reviewed as this text and never drift from the schema.

    .venv/bin/python scripts/make_notebooks.py          # write
    .venv/bin/python scripts/make_notebooks.py --check  # exit 1 if a notebook differs from its definition
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from endpoint_runbook.params import NOTEBOOKS, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]

CONVERT = ("# A SageMaker notebook job passes every parameter as a string: the schema converts them (or names the key).\n"
           "globals().update(notebook_values({step!r}, globals()))")


def setup(step: str) -> str:
    return f"""from endpoint_runbook import render as rb   # not `display`: IPython's display() stays yours
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.params import notebook_values
from endpoint_runbook.records import resolve_run

{CONVERT.format(step=step)}
run = resolve_run(run_dir, step={step!r}, endpoint_name=endpoint_name)  # run_dir unset: {
    "step 1 starts a run" if step == "diagnose" else "the newest run of endpoint_name"}
run_dir = run.run_dir
aws = Aws(AwsParams(region=region, profile=profile, endpoint_url=endpoint_url, max_attempts=max_attempts,
                    role_arn=role_arn, external_id=external_id))
rb.setup(run, aws.identity())"""


SCAN_SETUP = f"""from endpoint_runbook import render as rb   # not `display`: IPython's display() stays yours
from endpoint_runbook import fleet
from endpoint_runbook.aws import AwsParams
from endpoint_runbook.params import notebook_values

{CONVERT.format(step="scan")}"""


NB: dict[str, list[tuple[str, str]]] = {
    "scan": [
        ("md", """# 0 · Scan the fleet: which endpoints are broken right now, and why

An endpoint can say **InService** for hours while every model worker dies: nobody knows until users complain.
This notebook reads every endpoint of the regions and accounts you name (real-time, async, serverless): its
status and `FailureReason`, the crash evidence in its CloudWatch logs over the last `log_window_minutes` (the
same catalogue of causes diagnose uses), an async backlog with no instance to serve it, and requests that failed
in the window. Broken endpoints come worst first: **InService but crash-looping** before the ones that say
`Failed`. Each row names its cause in one line and the parameters that start `01_diagnose` on it.

Other accounts are reached by assuming `role_arns` (with `external_id` if their trust policy asks for one).
Reads are bounded (a thread pool per account and region, adaptive retries, bytes and events per endpoint); an
account or region that refuses is listed under *Not scanned* and the rest is still scanned. The result is
written as `scan.json` and `scan.csv` (`report_dir`). Scheduled as a SageMaker notebook job, every parameter
arrives as a string: the first cell converts them."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## Scan"),
        ("code", """result = fleet.scan(AwsParams(profile=profile, endpoint_url=endpoint_url, max_attempts=max_attempts),
                    regions=regions, role_arns=role_arns, external_id=external_id, name_contains=name_contains,
                    bounds=fleet.ScanBounds(log_window_minutes=log_window_minutes, max_log_bytes=max_log_bytes,
                                            max_log_events=max_log_events, concurrency=concurrency),
                    progress=rb.progress)
reports = fleet.write_reports(result, report_dir)
rb.show_scan(result, reports)"""),
    ],
    "diagnose": [
        ("md", """# 1 · Diagnose the crash-looping endpoint

An endpoint — asynchronous, real-time or serverless — can say **InService** while every model worker dies at
start-up: `/ping` keeps answering `Healthy`, requests hang and time out. This notebook does not trust either. It
reads four independent views and names one cause with its evidence and the exact fix:

1. the endpoint, its kind (its async config, its instances, or its serverless memory and concurrency, checked
   against the serverless limits) and its model (image, model data, environment);
2. the CloudWatch logs, matched against known crash signatures (the `NativeIoException … Connection reset by
   peer` lines are noise: a client hung up);
3. the model archive's inventory and layout, streamed from S3;
4. the serving code's imports, resolved as the container resolves them, and a load check in a clean serving
   environment (only what the SageMaker PyTorch image ships plus `code/requirements.txt`).

Leave `run_dir` unset: this notebook starts a run (`runs/<run-id>/`) and the next steps continue it. The
verdict is written to `<run_dir>/01-diagnose.json`; step 2 reads it. Each cell below can be rerun alone."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## The endpoint, its config and model"),
        ("code", """from endpoint_runbook.steps import diagnose

d = diagnose.describe(aws, run_dir=run_dir, endpoint_name=endpoint_name, source_roots=source_roots,
                      load_check=load_check, weights=weights, progress=rb.progress)
rb.show_endpoint(d.facts)"""),
        ("md", "## The CloudWatch logs"),
        ("code", """rb.show_logs(diagnose.read_logs(aws, d, log_window_minutes=log_window_minutes,
                                max_log_events=max_log_events, progress=rb.progress))"""),
        ("md", "## The model archive"),
        ("code", "rb.show_archive(diagnose.read_archive(aws, d, expected_paths=expected_paths, progress=rb.progress))"),
        ("md", "## The serving code's imports"),
        ("code", "rb.show_imports(diagnose.resolve_imports(d, progress=rb.progress))"),
        ("md", "## The load check"),
        ("code", "rb.show_load_check(diagnose.check_load(aws, d, progress=rb.progress))"),
        ("md", "## The verdict"),
        ("code", """result = diagnose.conclude(aws, d)
rb.show_verdict(result)"""),
    ],
    "rebuild_archive": [
        ("md", """# 2 · Rebuild the model archive

The quick fix, done safely: the source `model.tar.gz` is streamed from S3 and rewritten with the missing
packages added where the container imports them (`code/<pkg>/` by default). Every existing member is copied
through unchanged (same bytes, names, modes, times); unchanged compressed data is spliced, not recompressed.
The result must pass the load check before anything is uploaded, and it goes to a **new key**, with a SHA-256
checksum and metadata naming its source. The source object is only ever read. When the load check cannot run
here (no serving environment can be built), the step goes on if the static analysis of the rebuilt code passes
and records why no load was tried; set `require_load_check: true` to stop instead.

Leave `source_uri` and `additions` unset to take them from step 1's verdict (`run_dir` unset: the newest run of
`endpoint_name`), or set them to run this step alone."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## Plan: what goes where"),
        ("code", """from endpoint_runbook.steps import rebuild_archive

rebuild = rebuild_archive.plan(aws, run_dir=run_dir, source_uri=source_uri, additions=additions,
                               target_uri=target_uri, overwrite=overwrite, upload=upload,
                               image_uri=image_uri, require_load_check=require_load_check)
rb.show_rebuild_plan(rebuild)"""),
        ("md", "## Build (streaming; the source is only read)"),
        ("code", "rb.show_rebuild(rebuild_archive.build(rebuild, full_check=full_check, progress=rb.progress))"),
        ("md", "## Check: the rebuilt archive must load before it is uploaded"),
        ("code", "rb.show_rebuild(rebuild_archive.check(rebuild, full_check=full_check, progress=rb.progress))"),
        ("md", "## Upload under a new key"),
        ("code", """result = rebuild_archive.upload(rebuild, progress=rb.progress)
rb.show_rebuild(result)"""),
    ],
    "deploy": [
        ("md", """# 3 · Deploy the fixed endpoint

A new model (the rebuilt archive, the crashing endpoint's own image and environment) and an endpoint config of the
broken endpoint's own kind: async (the same S3 output/failure paths and SNS topics), real-time (the same instances)
or serverless (the same memory and max concurrency), with its data capture and tags. In place (the default), the
broken endpoint moves to it under its own name; else a new endpoint beside it. Names of the model and config derive
from the archive's SHA-256, so a rerun reuses what exists instead of duplicating it. Everything is tagged with the
run id.

Unset values come from steps 1 and 2's records; to run this step alone, set `model_data_url` and either
`copy_from_config` (an endpoint config to copy image, role, environment, instances and async config from) or
`image_uri`, `execution_role_arn`, `instance_type`, `output_path`, `failure_path`, `success_topic`,
`error_topic`.

Step 1's remedies that are not code (a production variant's field such as the start-up health-check timeout, a
container environment variable such as `SAGEMAKER_PROGRAM`) are applied here, shown below as a diff of what is
deployed; `remedies` turns one off (`{field: off}`) or sets its value (`{field: value}`).

`InService` proves nothing here (`/ping` lies), so the step is done only when a real request has come back: an
async one through S3, or (real-time, serverless) an `InvokeEndpoint` with the input's bytes and its content type."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## Preflight (nothing is created unless everything checks)"),
        ("code", """from endpoint_runbook.steps import deploy

dep = deploy.prepare(aws, run_dir=run_dir, endpoint_name=fixed_endpoint_name, mode=mode, rollback=rollback,
                     model_data_url=model_data_url, copy_from_config=copy_from_config, image_uri=image_uri,
                     execution_role_arn=execution_role_arn, environment=environment, instance_type=instance_type,
                     instance_count=instance_count, output_path=output_path, failure_path=failure_path,
                     success_topic=success_topic, error_topic=error_topic, smoke_input=smoke_input,
                     smoke_accept=smoke_accept, remedies=remedies, rollback_timeout=wait_timeout,
                     progress=rb.progress)
rb.show_deploy(dep)"""),
        ("md", "## Create the model, the endpoint config and the endpoint"),
        ("code", "rb.show_deploy(deploy.create(dep))"),
        ("md", "## Wait for InService (bounded; in place: the blue/green update and its wait)"),
        ("code", "rb.show_deploy(deploy.wait(dep, timeout=wait_timeout, progress=rb.progress))"),
        ("md", "## The smoke request: a real request must come back"),
        ("code", """result = deploy.smoke(dep, timeout=smoke_timeout, progress=rb.progress)
rb.show_deploy(result)"""),
    ],
    "verify": [
        ("md", """# 4 · Verify the fixed endpoint really serves

Requests on real inputs, through the same path the users' clients take. Async: the input in S3, the result object
at the `OutputLocation` the call returns, the SNS notification (through an SQS queue subscribed to the topics; a
temporary one is created and removed when none exists). Real-time and serverless: `InvokeEndpoint` with the
input's bytes, the model's answer in the response. Cold and warm latency, the model's own health lines in
CloudWatch, and the results as pictures. With `replay_failed` (async), the requests that failed during the outage
on the broken endpoint (`endpoint_name`, else the one step 1 diagnosed) are sent again to the fixed one, whether
it was fixed in place or deployed beside it.

A failed real-time or serverless request cannot be sent again (its caller got the error): the outage's request
errors are read from the endpoint's CloudWatch metrics instead (`Invocation4XXErrors`, `Invocation5XXErrors`,
`ModelLatency` per minute over `outage_window_minutes`), before and after the fix began serving.

Unset values come from step 3's record; to run this step alone, set `fixed_endpoint_name` and `inputs`."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## Invoke and wait"),
        ("code", """from endpoint_runbook.steps import verify

result = verify.run(aws, run_dir=run_dir, endpoint_name=fixed_endpoint_name, inputs=inputs, count=count,
                    deadline_seconds=deadline_seconds, health_patterns=health_patterns,
                    replay_failed=replay_failed, replay_window_minutes=replay_window_minutes,
                    replay_concurrency=replay_concurrency, outage_endpoint=endpoint_name, accept=accept,
                    outage_window_minutes=outage_window_minutes, progress=rb.progress)"""),
        ("md", "## Results"),
        ("code", """from endpoint_runbook.invocation.pictures import s3_pictures

rb.show_verify(result, s3_pictures(aws))"""),
    ],
    "cleanup": [
        ("md", """# 5 · Clean up the broken endpoint

A plan first, in dependency order: autoscaling, the endpoint, its endpoint config, its model (and, if asked,
its async output objects). Anything another endpoint still uses is kept, and the plan says why. The endpoint
step 3/4 verified, any endpoint that served successfully in the last `recent_minutes`, and the diagnosed endpoint
while no fix of this run is deployed, verified and serving in its place, are refused unless `force`.

Nothing is deleted unless `confirm` equals the endpoint name: headless, set the `confirm` parameter; in Studio,
type the name in the box below the plan and press the button. To run this step alone, set `endpoint_name`."""),
        ("params", ""),
        ("code", "setup"),
        ("md", "## The plan"),
        ("code", """from endpoint_runbook.steps import cleanup

result = cleanup.run(aws, run_dir=run_dir, endpoint_name=endpoint_name, confirm=confirm, dry_run=dry_run,
                     force=force, include_outputs=include_outputs, recent_minutes=recent_minutes,
                     release_rollback=release_rollback, progress=rb.progress)
rb.show_cleanup(result)"""),
        ("md", "## Confirm in Studio (headless runs use the `confirm` parameter instead)"),
        ("code", """delete = cleanup.deleter(aws, result, run_dir=run_dir, force=force, include_outputs=include_outputs,
                         recent_minutes=recent_minutes, release_rollback=release_rollback)
confirm_box = rb.cleanup_confirm(result, delete, run_dir=run_dir)"""),
    ],
}


def _params_cell(step: str) -> str:
    lines = ["# Parameters (papermill injects the runner's values after this cell)."]
    params = notebook_parameters(step)
    width = max(len(f"{k} = {v.default!r}") for k, v in params.items())
    for key, p in params.items():
        assign = f"{key} = {p.default!r}"
        lines.append(f"{assign:<{width}}  # {p.doc}")
    return "\n".join(lines)


def build(step: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "endpoint-runbook", "display_name": "endpoint-runbook", "language": "python"},
                   "language_info": {"name": "python"}}
    for i, (kind, text) in enumerate(NB[step]):
        cid = f"{step.replace('_', '-')}-{i:02d}"
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(text, id=cid)
        elif kind == "params":
            cell = nbformat.v4.new_code_cell(_params_cell(step), id=cid, metadata={"tags": ["parameters"]})
        else:
            code = (SCAN_SETUP if step == "scan" else setup(step)) if text == "setup" else text
            cell = nbformat.v4.new_code_cell(code, id=cid)
        nb.cells.append(cell)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for step, name in NOTEBOOKS.items():
        path = ROOT / "notebooks" / name
        text = json.dumps(build(step), indent=1, ensure_ascii=False) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"notebooks differ from scripts/make_notebooks.py: {', '.join(stale)}; run it to regenerate")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
