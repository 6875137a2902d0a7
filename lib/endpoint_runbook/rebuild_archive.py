"""Step 2 — rebuild the model archive: add the missing packages where the container imports them.

The source archive is streamed from S3 and rewritten member by member (``archive.rebuild``: unchanged data is
spliced, not recompressed, when the system zlib allows), the result is load-checked in a clean serving
environment, and only a passing archive is uploaded — under a new key, multipart, with a SHA-256 checksum and
metadata naming its source. The source object is only ever read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import archive
from .aws import Aws, named_aws_errors
from .errors import CheckFailed, InputError, NotFoundError
from .records import read_record, write_record
from .s3 import head_object, parse_s3_uri, upload_stream
from .serving.loadcheck import LoadCheck, load_check_dir, serve_check

__all__ = ["RebuildStep", "Rebuilding", "default_target", "run", "plan", "build", "check", "upload"]

@dataclass
class RebuildStep:
    source_uri: str
    target_uri: str
    additions: list[dict[str, str]]
    source_sha256: str = ""
    result_sha256: str = ""
    source_etag: str | None = None
    method: str | None = None
    seconds: float = 0.0
    diff: dict[str, Any] = field(default_factory=dict)
    load_check: LoadCheck | None = None
    serve_check: LoadCheck | None = None
    uploaded: dict[str, Any] | None = None
    status: str = "failed"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["load_check"] = self.load_check.to_dict() if self.load_check else None
        d["serve_check"] = self.serve_check.to_dict() if self.serve_check else None
        d["step"] = "rebuild_archive"
        return d


def default_target(source_uri: str) -> str:
    """Next to the source: ``.../output/model.tar.gz`` → ``.../output-fixed/model.tar.gz``."""
    bucket, key = parse_s3_uri(source_uri)
    folder, name = posixpath.split(key)
    return f"s3://{bucket}/{(folder or 'model') + '-fixed'}/{name}"


def _additions(raw: list[Any]) -> list[dict[str, str]]:
    out = []
    for a in raw:
        if not isinstance(a, dict) or not a.get("source") or not a.get("target"):
            raise InputError(f"an addition must be {{source: folder, target: archive path}}, not {a!r}.",
                             code="bad-addition")
        src = Path(a["source"]).expanduser()
        target = a["target"].strip("/")
        if not src.exists():
            raise InputError(f"source folder {src} does not exist.", code="source-missing",
                             hint="Point the addition at the package folder in your checkout (e.g. src/<pkg>).")
        if target.startswith("code/") and src.is_dir() and not (src / "__init__.py").is_file():
            raise InputError(f"{src} is not a Python package (no __init__.py), yet it goes under {target}/.",
                             code="not-a-package", hint="Name the package folder itself, e.g. src/<pkg>.")
        if target.startswith("/") or ".." in target.split("/"):
            raise InputError(f"target {a['target']!r} would escape the archive.", code="unsafe-path")
        out.append({"source": str(src.resolve()), "target": target, "package": a.get("package", "")})
    return out


def _head(s3: Any, uri: str) -> dict[str, Any] | None:
    with named_aws_errors(f"checking {uri}"):
        return head_object(s3, uri)


def run(aws: Aws, *, run_dir: str, source_uri: str | None = None, additions: list[Any] | None = None,
        target_uri: str | None = None, overwrite: bool = False, full_check: bool = False,
        progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Rebuild, check, upload; write ``02-rebuild_archive.json``. Nothing is uploaded unless the check passes.
    The sub-steps (:func:`plan`, :func:`build`, :func:`check`, :func:`upload`) in one call."""
    rb = plan(aws, run_dir=run_dir, source_uri=source_uri, additions=additions, target_uri=target_uri,
              overwrite=overwrite)
    build(rb, progress=progress)
    check(rb, full_check=full_check, progress=progress)
    return upload(rb, progress=progress)


@dataclass
class Rebuilding:
    """A rebuild in progress, between its sub-steps (a notebook runs each in its own cell). The rebuilt archive
    lives in a temporary folder until the upload (or a failure) removes it."""

    aws: Aws
    run_dir: str
    step: RebuildStep
    overwrite: bool
    program: str
    started: dt.datetime
    work: tempfile.TemporaryDirectory[str] | None = None
    source_sha256: str = ""

    @property
    def archive_path(self) -> Path:
        if self.work is None:
            raise InputError("there is no rebuilt archive yet.", code="not-built",
                             hint="Run the build cell (rebuild_archive.build) first.")
        return Path(self.work.name) / "model.tar.gz"


@contextlib.contextmanager
def _recording(rb: Rebuilding) -> Any:
    """Every sub-step: write the record when it ends; on failure remove the work folder and re-raise."""
    step = rb.step
    try:
        yield
    except Exception as e:
        step.status = "failed"
        step.error = step.error or f"{type(e).__name__}: {e}"
        if rb.work is not None:
            rb.work.cleanup()
            rb.work = None
        with named_aws_errors("rebuilding and uploading the archive (nothing is left at the target: a failed "
                              "upload is aborted)"):
            raise
    finally:
        step.seconds = round((dt.datetime.now(dt.timezone.utc) - rb.started).total_seconds(), 2)
        write_record(rb.run_dir, "rebuild_archive", step.to_dict())


def plan(aws: Aws, *, run_dir: str, source_uri: str | None = None, additions: list[Any] | None = None,
         target_uri: str | None = None, overwrite: bool = False) -> Rebuilding:
    """Sub-step 1: what goes where (parameters, else step 1's verdict), checked before anything is read."""
    started = dt.datetime.now(dt.timezone.utc)
    diag = read_record(run_dir, "diagnose") or {}
    source_uri = source_uri or diag.get("model_data_url")
    if not source_uri:
        raise InputError("source_uri is not set and no diagnosis names the model data.", code="missing-input",
                         hint="Set source_uri, or run step 1 (diagnose) with the same run_dir first.")
    if additions is None:
        fix = diag.get("fix") or {}
        additions = list(fix.get("additions", [])) + list(fix.get("extras", []))
    if not additions:
        raise InputError("nothing to add: no additions given and the diagnosis proposes none.", code="nothing-to-add",
                         hint="Set additions: [{source: <folder>, target: code/<pkg>/}], or check step 1's verdict.")
    adds = _additions(additions)
    target_uri = target_uri or default_target(source_uri)
    parse_s3_uri(target_uri)
    if parse_s3_uri(target_uri) == parse_s3_uri(source_uri):
        raise InputError(f"the target {target_uri} is the source object.", code="target-is-source",
                         hint="The source is never written: choose a new key.")
    s3 = aws.client("s3")
    head = _head(s3, source_uri)
    if head is None:
        raise NotFoundError(f"source archive {source_uri} does not exist.", code="source-missing",
                            hint="Check the model's ModelDataUrl (step 1 records it).")
    if not overwrite and _head(s3, target_uri) is not None:
        raise InputError(f"{target_uri} already exists.", code="target-exists",
                         hint="Set overwrite: true, or choose another target_uri.")
    step = RebuildStep(source_uri=source_uri, target_uri=target_uri, additions=adds, source_etag=head.get("ETag"),
                       status="planned")
    program = ((diag.get("endpoint") or {}).get("environment") or {}).get("SAGEMAKER_PROGRAM") or "inference.py"
    return Rebuilding(aws=aws, run_dir=run_dir, step=step, overwrite=overwrite, program=program, started=started)


def build(rb: Rebuilding, *, progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Sub-step 2: stream the source and write the rebuilt archive (a local file until the upload)."""
    say = progress or (lambda _m: None)
    step, s3 = rb.step, rb.aws.client("s3")
    if rb.work is not None:
        rb.work.cleanup()
    rb.work = tempfile.TemporaryDirectory(prefix="rebuild-")
    step.load_check = step.serve_check = step.uploaded = None
    step.error = None
    with _recording(rb):
        out = rb.archive_path
        say(f"rebuilding {step.source_uri} (streaming)")
        bucket, key = parse_s3_uri(step.source_uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            result = archive.rebuild(body, out, [(a["source"], a["target"]) for a in step.additions])
        finally:
            body.close()
        step.source_sha256, step.result_sha256 = result.source_sha256, result.result_sha256
        rb.source_sha256 = result.source_sha256
        step.method = result.method
        added = [r for r in result.diff if r["status"] == "added" and r.get("type") != "dir"]
        replaced = [r for r in result.diff if r["status"] == "replaced"]
        unchanged = [r for r in result.diff if r["status"] == "unchanged"]
        step.diff = {"added": [{"path": r["path"], "size": r.get("size")} for r in added],
                     "replaced": [{"path": r["path"], "size": r.get("size")} for r in replaced],
                     "unchanged_count": len(unchanged), "unchanged_bytes": sum(r.get("size") or 0 for r in unchanged),
                     "source_bytes": result.source_bytes, "result_bytes": result.result_bytes,
                     "copied_compressed_bytes": result.copied_compressed_bytes}
        step.status = "built"
    return step


def check(rb: Rebuilding, *, full_check: bool = False, progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Sub-step 3: the load check (and, with ``full_check``, TorchServe) on the rebuilt archive."""
    say = progress or (lambda _m: None)
    step = rb.step
    out = rb.archive_path
    step.error = None
    with _recording(rb):
        say("load check of the rebuilt archive")
        program = rb.program
        model_dir = out.parent / "ml" / "model"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        with open(out, "rb") as fh:
            archive.safe_extract(fh, model_dir)
        step.load_check = load_check_dir(model_dir, program=program, log=say)
        if full_check and step.load_check.ok:
            say("full check: serving the rebuilt archive on TorchServe")
            step.serve_check = serve_check(model_dir, program=program, log=say)
            if not step.serve_check.ok:
                step.error = f"the rebuilt archive does not serve: {step.serve_check.error}"
                raise CheckFailed(step.error + " Nothing was uploaded.", code="rebuilt-archive-fails")
        if not step.load_check.ok:
            step.error = f"the rebuilt archive does not load: {step.load_check.error_type}: {step.load_check.error}"
            raise CheckFailed(step.error + " Nothing was uploaded.", code="rebuilt-archive-fails")
        step.status = "checked"
    return step


def upload(rb: Rebuilding, *, progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Sub-step 4: upload the checked archive under the new key (multipart, SHA-256); the source unchanged."""
    say = progress or (lambda _m: None)
    step, s3 = rb.step, rb.aws.client("s3")
    if step.status != "checked":
        raise InputError("the rebuilt archive has not passed its check: nothing is uploaded.", code="not-checked",
                         hint="Run the build and check cells (rebuild_archive.build, .check) first.")
    with _recording(rb):
        out = rb.archive_path
        say(f"uploading to {step.target_uri}")
        with open(out, "rb") as fh:
            step.uploaded = upload_stream(s3, fh, step.target_uri, source_uri=step.source_uri,
                                          source_sha256=rb.source_sha256, overwrite=rb.overwrite)
        if rb.work is not None:
            rb.work.cleanup()
            rb.work = None
        after = _head(s3, step.source_uri)
        if after is None or after.get("ETag") != step.source_etag:
            step.error = "the source object changed during the rebuild"
            raise CheckFailed(f"{step.source_uri} changed while it was being rebuilt; rerun the step.",
                              code="source-changed")
        step.status = "passed"
    return step
