"""A recurring fleet scan as a SageMaker pipeline: one notebook-job step that runs ``00_scan.ipynb`` with its
parameters (a notebook job passes each as a string; the notebook converts them by the params schema), an
initialization script that installs the runbook from a wheel uploaded beside the notebook and registers the
``endpoint-runbook`` kernel the step asks for, and an EventBridge Scheduler schedule.

Built with the SageMaker SDK (the ``sdk`` extra): ``sagemaker.workflow`` in 2.x, ``sagemaker.mlops.workflow``
in 3.x. Writing the definition uploads the step's inputs (the notebook, the script, the wheel) under ``s3_root``,
as the SDK does; ``create`` also upserts the pipeline and puts its schedule.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..aws import Aws, AwsParams
from ..errors import InputError, RunbookError
from ..params import NOTEBOOKS, SCAN, SCAN_KEYS
from ..s3 import parse_s3_prefix

__all__ = ["KERNEL", "REPORT_DIR", "ScheduledScan", "notebook_job_parameters", "build_pipeline", "write_pipeline",
           "sdk"]

KERNEL = "endpoint-runbook"  # what the init script registers, and what every notebook's kernelspec names
#: Inside the job (a training job): what is written here is uploaded to the step's output location.
REPORT_DIR = "/opt/ml/output/data/scan"
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@dataclass
class ScheduledScan:
    pipeline_name: str
    role: str  # the execution role the notebook job runs as
    s3_root: str
    schedule: str = "rate(1 day)"
    image_uri: str | None = None
    instance_type: str = "ml.m5.large"
    regions: list[str] = field(default_factory=list)
    role_arns: list[str] = field(default_factory=list)
    external_id: str | None = None
    window_minutes: float = 60.0
    region: str | None = None  # where the pipeline runs
    wheel: str | None = None

    def check(self) -> None:
        if not self.role.startswith("arn:"):
            raise InputError(f"--role must be an IAM role ARN, not {self.role!r}.", code="bad-input",
                             hint="Pass the notebook job's execution role: arn:aws:iam::<account>:role/<name>.")
        parse_s3_prefix(self.s3_root if self.s3_root.endswith("/") else self.s3_root + "/")
        if not self.schedule.startswith(("rate(", "cron(", "at(")):
            raise InputError(f"--schedule {self.schedule!r} is not an EventBridge Scheduler expression.",
                             code="bad-input", hint="Use rate(1 day), cron(0 6 * * ? *) or at(2030-01-01T06:00:00).")
        from .scan import account_of

        for r in self.role_arns:
            account_of(r)
        _schedule_kwargs(self.schedule)


def notebook_job_parameters(job: ScheduledScan) -> dict[str, str]:
    """The notebook's parameters as a notebook job passes them: every value a string (lists as ``[a, b]``, unset
    as ``null``). 00_scan converts them back by the params schema."""
    def text(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, list):
            return "[" + ", ".join(str(x) for x in v) + "]"
        return str(v).lower() if isinstance(v, bool) else str(v)

    values = {"regions": job.regions or None, "role_arns": job.role_arns, "external_id": job.external_id,
              "log_window_minutes": job.window_minutes, "report_dir": REPORT_DIR}
    unknown = set(values) - set(SCAN_KEYS)
    assert not unknown, unknown  # the schema is the one place parameters are named
    return {k: text(v) for k, v in values.items()}


def sdk() -> dict[str, Any]:
    """The SageMaker SDK's pipeline classes, from 2.x (``sagemaker.workflow``) or 3.x (``sagemaker.mlops``)."""
    try:
        from sagemaker.workflow.notebook_job_step import NotebookJobStep
        from sagemaker.workflow.pipeline import Pipeline
        from sagemaker.workflow.pipeline_context import PipelineSession
        from sagemaker.workflow.triggers import PipelineSchedule
    except ImportError:
        try:
            from sagemaker.core.workflow.pipeline_context import PipelineSession  # type: ignore[no-redef]
            from sagemaker.mlops.workflow.notebook_job_step import NotebookJobStep  # type: ignore[no-redef]
            from sagemaker.mlops.workflow.pipeline import Pipeline  # type: ignore[no-redef]
            from sagemaker.mlops.workflow.triggers import PipelineSchedule  # type: ignore[no-redef]
        except ImportError:
            raise RunbookError("the SageMaker SDK is not installed.", code="missing-extra",
                               hint="Install it: pip install -e '.[sdk]' (2.x or 3.x).") from None
    return {"NotebookJobStep": NotebookJobStep, "Pipeline": Pipeline, "PipelineSession": PipelineSession,
            "PipelineSchedule": PipelineSchedule}


def _project_root() -> Path:
    from ..params import notebooks_dir

    return notebooks_dir().parent


def build_wheel(dest: Path) -> Path:
    """The runbook as a wheel (no dependencies: the job's image has them), built from this checkout."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "-w", str(dest), str(_project_root())], capture_output=True, text=True)
    wheels = sorted(dest.glob("endpoint_runbook-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RunbookError(f"could not build the runbook's wheel:\n{tail}", code="wheel-failed",
                           hint="Build one (pip wheel --no-deps .) and pass it with --wheel.")
    return wheels[-1]


def _image_uri(region: str) -> str:
    """The SageMaker Distribution image of ``region`` (what Studio's notebook jobs run on by default)."""
    try:
        from sagemaker import image_uris
    except ImportError:
        from sagemaker.core import image_uris  # type: ignore[no-redef]
    try:
        return image_uris.retrieve("sagemaker-distribution", region=region, image_scope="inference",
                                   instance_type="ml.m5.large")
    except ValueError as e:
        raise InputError(f"no SageMaker Distribution image is known for {region}: {e}", code="bad-input",
                         hint="Pass --image-uri (an image of that region with Python, ipykernel and papermill).") from None


def build_pipeline(job: ScheduledScan, aws: Aws, workdir: Path) -> tuple[Any, Any, Any]:
    """(pipeline, schedule trigger, pipeline session) for ``job``; nothing is sent until the definition is
    asked for."""
    api = sdk()
    session = aws.session
    region = aws.region
    kwargs: dict[str, Any] = {}
    if aws.params.endpoint_url:
        kwargs["sagemaker_client"] = aws.client("sagemaker")
    bucket, _ = parse_s3_prefix(job.s3_root if job.s3_root.endswith("/") else job.s3_root + "/")
    # Every value the step needs is given here, so the SDK's config files are not read; its telemetry (a request to
    # an AWS-run bucket at each definition) is off: the runbook talks to nothing but the AWS it is pointed at.
    ps = api["PipelineSession"](boto_session=session, default_bucket=bucket, sagemaker_config=SDK_CONFIG, **kwargs)
    if aws.params.endpoint_url:  # the SDK builds its S3 clients without an endpoint URL: give it ours
        ps.s3_client = aws.client("s3")
        ps.s3_resource = session.resource("s3", endpoint_url=aws.params.endpoint_url, config=aws.config)
    wheel = Path(job.wheel) if job.wheel else build_wheel(workdir)
    if not wheel.is_file():
        raise InputError(f"no wheel at {wheel}.", code="not-found", hint="Pass a built wheel, or leave --wheel unset.")
    root = _project_root()
    step = api["NotebookJobStep"](
        name="scan", notebook_job_name=f"{job.pipeline_name}-scan", display_name="endpoint fleet scan",
        description="00_scan.ipynb: every broken SageMaker endpoint across regions and accounts",
        input_notebook=str(root / "notebooks" / NOTEBOOKS[SCAN]), image_uri=job.image_uri or _image_uri(region),
        kernel_name=KERNEL, role=job.role, s3_root_uri=job.s3_root.rstrip("/"),
        parameters=notebook_job_parameters(job), initialization_script=str(root / "scripts" / "notebook-job-init.sh"),
        additional_dependencies=[str(wheel)], instance_type=job.instance_type,
        max_runtime_in_seconds=3 * 3600)
    pipeline = api["Pipeline"](name=job.pipeline_name, steps=[step], sagemaker_session=ps)
    schedule = api["PipelineSchedule"](name=f"{job.pipeline_name}-schedule", **_schedule_kwargs(job.schedule))
    return pipeline, schedule, ps


def _schedule_kwargs(expr: str) -> dict[str, Any]:
    """The SDK's PipelineSchedule arguments for an EventBridge Scheduler expression (rate: (value, unit); at: a
    datetime; cron: its six fields)."""
    kind, _, rest = expr.partition("(")
    body = rest.removesuffix(")").strip()
    if kind == "at":
        import datetime as dt

        return {"at": dt.datetime.fromisoformat(body)}
    if kind == "rate":
        value, _, unit = body.partition(" ")
        if not value.isdigit() or not unit:
            raise InputError(f"--schedule {expr!r}: a rate is rate(<number> <unit>).", code="bad-input",
                             hint="e.g. rate(1 day), rate(6 hours).")
        return {"rate": (int(value), unit)}
    return {"cron": body}


def write_pipeline(job: ScheduledScan, out: str | Path, *, endpoint_url: str | None = None, profile: str | None = None,
                   create: bool = False, progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Write the pipeline definition to ``out`` (and ``<out>.schedule.json`` beside it); with ``create``, upsert
    the pipeline and put its schedule. Returns the paths (and ARNs when created)."""
    say = progress or (lambda _m: None)
    job.check()
    aws = Aws(AwsParams(region=job.region, profile=profile, endpoint_url=endpoint_url))
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="erb-schedule-") as tmp:
        pipeline, schedule, _ps = build_pipeline(job, aws, Path(tmp))
        say(f"building the definition of {job.pipeline_name} (uploads the notebook, init script and wheel under "
            f"{job.s3_root})")
        definition = json.loads(pipeline.definition())
        result: dict[str, Any] = {}
        if create:
            say(f"creating or updating the pipeline {job.pipeline_name} and its schedule")
            result["pipeline_arn"] = pipeline.upsert(role_arn=job.role)["PipelineArn"]
            result["schedule_arn"] = pipeline.put_triggers([schedule], role_arn=job.role)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(definition, indent=1) + "\n")
    sched_path = out.with_name(out.stem + ".schedule.json")
    sched = {"pipeline": job.pipeline_name, "name": schedule.name, "expression": job.schedule,
             "role": job.role, "state": "ENABLED"}
    sched_path.write_text(json.dumps(sched, indent=1) + "\n")
    result.update(definition=str(out), schedule=str(sched_path))
    return result
