"""Step 2 — rebuild the model archive: add the missing packages where the container imports them.

The source archive is streamed from S3 and rewritten member by member (``archive.rebuild``: unchanged data is
spliced, not recompressed, when the system zlib allows), the result is load-checked in a clean serving
environment, and only a passing archive is uploaded — under a new key, multipart, with a SHA-256 checksum and
metadata naming its source. The source object is only ever read.

Large archives (``upload='auto'``: from :data:`SERVER_SIDE_MIN_BYTES`) take the server-side path
(``archive.remote``): the source is read once as parallel ranged GETs and never written to disk (only its code
files, for the check), the unchanged prefix is copied inside S3 and only the tail is uploaded, and the object
is verified before the step passes. The record's ``io`` says how many bytes were read, uploaded, copied
server-side and written to local disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import archive
from ..aws import Aws, named_aws_errors
from ..errors import CheckFailed, InputError, NotFoundError
from ..records import write_record
from ..s3 import head_object, parse_s3_uri, upload_stream
from ..serving.loadcheck import LoadCheck, load_check_dir, serve_check, vouch_imports_only
from ..step_records import DiagnoseRecord

__all__ = ["SERVER_SIDE_MIN_BYTES", "RebuildStep", "Rebuilding", "default_target", "run", "plan", "build", "check",
           "upload"]

#: From this source size, ``upload='auto'`` copies the unchanged prefix inside S3 instead of uploading it.
SERVER_SIDE_MIN_BYTES = 256 << 20

@dataclass
class RebuildStep:
    source_uri: str
    target_uri: str
    additions: list[dict[str, str]]
    image: str | None = None  # the serving image the checks stand in for (its profile's environment)
    source_sha256: str = ""
    result_sha256: str = ""
    source_etag: str | None = None
    method: str | None = None
    seconds: float = 0.0
    diff: dict[str, Any] = field(default_factory=dict)
    load_check: LoadCheck | None = None
    serve_check: LoadCheck | None = None
    uploaded: dict[str, Any] | None = None
    io: dict[str, Any] = field(default_factory=dict)  # mode, note, bytes read/uploaded/copied, local disk
    verification: dict[str, Any] | None = None
    status: str = "failed"
    error: str | None = None
    # The diagnosis' edit of code/requirements.txt (lines that cannot install in the image and nothing imports):
    # {drop, diff, text, source_sha256}
    requirements: dict[str, Any] | None = None
    require_load_check: bool = False
    unchecked: str | None = None  # why no load check ran here (it was skipped): the static analysis decided
    static_check: dict[str, Any] | None = None  # the rebuilt code's imports, resolved statically
    # The model's container Environment as step 1 read it: the load checks run in it, as the container does. Not
    # written to the record (01-diagnose.json has it; its values may be secrets the user set).
    environment: dict[str, str] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "environment"}
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
        if a.get("kind") == "wheels" and not (src.is_dir() and any(src.glob("*.whl"))):
            raise InputError(f"the wheels folder {src} holds no wheel.", code="source-missing",
                             hint="Run step 1 (diagnose) again: it fetches the wheels into the run dir.")
        if target.startswith("code/") and src.is_dir() and not (src / "__init__.py").is_file() \
                and a.get("kind") != "wheels":
            _namespace_package_or_refuse(src, target, chosen=a.get("kind") == "namespace")
        if target.startswith("/") or ".." in target.split("/"):
            raise InputError(f"target {a['target']!r} would escape the archive.", code="unsafe-path")
        out.append({"source": str(src.resolve()), "target": target, "package": a.get("package", ""),
                    **({"kind": a["kind"]} if a.get("kind") else {})})
    return out


def _namespace_package_or_refuse(src: Path, target: str, *, chosen: bool = False) -> None:
    """A folder without ``__init__.py`` goes under code/ as a namespace package (PEP 420: it imports as it is)
    when it holds Python files; a folder that holds the package of the same name (its parent was named, unless
    ``chosen``: the addition says ``kind: namespace``, as step 1 does when the code imports ``pkg.pkg``), or no
    Python at all, is refused before anything is read."""
    leaf = target.rstrip("/").rsplit("/", 1)[-1]
    inner = src / leaf
    if not chosen and inner.is_dir() and (inner / "__init__.py").is_file():
        raise InputError(f"{src} holds the package {leaf}/ itself, yet the folder {src} goes under {target}/ "
                         f"(that would make {target}/{leaf}/).", code="not-a-package",
                         hint=f"Name the package folder itself: {inner}; or, when the code imports "
                         f"{leaf}.{leaf} (a namespace package around the package), add kind: namespace to the "
                         "addition.")
    for _dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not archive.default_skip(d, True)]
        if any(f.endswith(".py") for f in filenames):
            return
    raise InputError(f"{src} holds no Python file, yet it goes under {target}/ (where the container imports code).",
                     code="not-a-package", hint="Name the package folder itself, e.g. src/<pkg>.")


def _head(s3: Any, uri: str) -> dict[str, Any] | None:
    with named_aws_errors(f"checking {uri}"):
        return head_object(s3, uri)


def run(aws: Aws, *, run_dir: str, source_uri: str | None = None, additions: list[Any] | None = None,
        target_uri: str | None = None, overwrite: bool = False, full_check: bool = False,
        upload: str = "auto", image_uri: str | None = None, require_load_check: bool = False,
        progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Rebuild, check, upload; write ``02-rebuild_archive.json``. Nothing is uploaded unless the check passes.
    The sub-steps (:func:`plan`, :func:`build`, :func:`check`, :func:`upload`) in one call.

    ``upload``: ``full`` (rebuild locally, upload the whole archive), ``server-side`` (copy the unchanged
    prefix inside S3, upload the tail), ``auto`` (server-side from :data:`SERVER_SIDE_MIN_BYTES`).
    ``image_uri``: the serving image whose environment the checks run in; None: the diagnosed endpoint's
    image (step 1 checked against the same profile), else the newest PyTorch profile.
    ``require_load_check``: when the load check cannot run here (it is skipped), fail instead of going on from
    the static analysis of the rebuilt code."""
    rb = plan(aws, run_dir=run_dir, source_uri=source_uri, additions=additions, target_uri=target_uri,
              overwrite=overwrite, upload=upload, image_uri=image_uri, require_load_check=require_load_check)
    build(rb, full_check=full_check, progress=progress)
    check(rb, full_check=full_check, progress=progress)
    return _upload(rb, progress)

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
    mode: str = "full"  # full (the four sub-steps) | server-side | prefix (build does all: read, check, write)
    diag: DiagnoseRecord = field(default_factory=DiagnoseRecord)
    size: int = 0

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
         target_uri: str | None = None, overwrite: bool = False, upload: str = "auto",
         image_uri: str | None = None, require_load_check: bool = False) -> Rebuilding:
    """Sub-step 1: what goes where (parameters, else step 1's verdict), checked before anything is read."""
    if upload not in ("auto", "full", "server-side"):
        raise InputError(f"unknown upload mode {upload!r}", code="bad-input", hint="Use auto, full or server-side.")
    started = dt.datetime.now(dt.timezone.utc)
    diag = DiagnoseRecord.read(run_dir) or DiagnoseRecord()
    prefix_model = source_uri is None and diag.model_data_prefix is not None
    source_uri = source_uri or diag.model_data_url or diag.model_data_prefix
    # The load check runs in the serving environment of the endpoint's image, as step 1's did.
    image = image_uri or diag.endpoint.image
    if not source_uri:
        raise InputError("source_uri is not set and no diagnosis names the model data.", code="missing-input",
                         hint="Set source_uri, or run step 1 (diagnose) with the same run_dir first.")
    requirements = None
    if additions is None:  # the diagnosis' fix: its additions and its edit of code/requirements.txt
        additions = list(diag.additions)
        requirements = _requirements_edit(diag.requirements)
    if not additions and not requirements and any(r.get("enabled", True) and r.get("where") in ("endpoint-config", "model")
                                                  for r in diag.remedies):
        return _unchanged(aws, run_dir, source_uri, diag, image, started)
    if not additions and not requirements:
        raise InputError("nothing to add: no additions given and the diagnosis proposes none.", code="nothing-to-add",
                         hint="Set additions: [{source: <folder>, target: code/<pkg>/}], or check step 1's verdict.")
    adds = _additions(additions)
    if source_uri.endswith("/") or prefix_model:
        step = RebuildStep(source_uri=source_uri, target_uri=target_uri or "", additions=adds, image=image,
                           environment=diag.deployed_environment, status="planned", requirements=requirements, require_load_check=require_load_check)
        return Rebuilding(aws=aws, run_dir=run_dir, step=step, overwrite=overwrite, program="", started=started,
                          mode="prefix", diag=diag)
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
    step = RebuildStep(source_uri=source_uri, target_uri=target_uri, additions=adds, image=image,
                       environment=diag.deployed_environment,
                       source_etag=head.get("ETag"), status="planned", requirements=requirements,
                       require_load_check=require_load_check)
    program = diag.endpoint.program
    size = int(head.get("ContentLength") or 0)
    mode = upload if upload != "auto" else ("server-side" if size >= SERVER_SIDE_MIN_BYTES else "full")
    if mode == "server-side" and not archive.splice_available():
        mode, step.io["note"] = "full", "the system zlib cannot splice: the archive is rebuilt and uploaded whole"
    if mode == "server-side" and requirements:
        mode, step.io["note"] = "full", ("code/requirements.txt is edited, which a splice cannot do in the middle of "
                                         "the archive: it is rebuilt and uploaded whole")
    return Rebuilding(aws=aws, run_dir=run_dir, step=step, overwrite=overwrite, program=program, started=started,
                      mode=mode, diag=diag, size=size)


def _unchanged(aws: Aws, run_dir: str, source_uri: str, diag: DiagnoseRecord, image: str | None,
               started: dt.datetime) -> Rebuilding:
    """The archive needs no change (step 1's remedies are the endpoint config's or the model's, applied by step 3): the
    source is deployed as it is, and the record says so (nothing is read, written or uploaded)."""
    if _head(aws.client("s3"), source_uri) is None and not source_uri.endswith("/"):
        raise NotFoundError(f"source archive {source_uri} does not exist.", code="source-missing",
                            hint="Check the model's ModelDataUrl (step 1 records it).")
    step = RebuildStep(source_uri=source_uri, target_uri=source_uri, additions=[], image=image, status="unchanged",
                       method="unchanged", result_sha256=diag.archive_sha256 or "", source_sha256=diag.archive_sha256 or "")
    step.io["note"] = ("the archive is deployed as it is: step 1's remedies change the endpoint config or the model "
                       "(step 3 applies them), not the archive")
    rb = Rebuilding(aws=aws, run_dir=run_dir, step=step, overwrite=False, program=diag.endpoint.program,
                    started=started, mode="unchanged", diag=diag)
    write_record(run_dir, "rebuild_archive", step.to_dict())
    return rb


def build(rb: Rebuilding, *, full_check: bool = False, progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Sub-step 2: stream the source and write the rebuilt archive (a local file until the upload). A large
    archive (server-side splice) or a prefix model is read, checked and written here in one go: check and
    upload then have nothing left to do."""
    say = progress or (lambda _m: None)
    step, s3 = rb.step, rb.aws.client("s3")
    if rb.mode == "unchanged":
        return step
    if rb.mode == "prefix":
        rb.step = _prefix_model(rb.aws, rb.run_dir, step.source_uri, step.additions, step.target_uri or None,
                                rb.overwrite, rb.diag, say, rb.started, step.image, step.requirements,
                                step.require_load_check)
        return rb.step
    if rb.mode == "server-side":
        with _recording(rb):
            _server_side(s3, step, rb.diag, rb.size, rb.overwrite, full_check, say)
            _source_unchanged(s3, step)
            step.status = "passed"
        return step
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
        pairs: list[tuple[str, str]] = [(a["source"], a["target"]) for a in step.additions]
        replace: frozenset[str] = frozenset()
        seen = hashlib.sha256()
        on_data = None
        if step.requirements:
            edited = out.parent / "edit" / "requirements.txt"
            edited.parent.mkdir()
            edited.write_bytes(step.requirements["text"].encode("utf-8"))
            pairs.append((str(edited), REQUIREMENTS))
            replace = frozenset({REQUIREMENTS})

            def on_data(m: Any, mv: memoryview) -> None:
                if m.path == REQUIREMENTS:
                    seen.update(mv)
        try:
            result = archive.rebuild(body, out, pairs, replace=replace, on_data=on_data)
        finally:
            body.close()
        if step.requirements and seen.hexdigest() != step.requirements.get("source_sha256"):
            step.error = f"the archive's {REQUIREMENTS} is not the one step 1 read and proposed to edit"
            raise CheckFailed(step.error + "; nothing was uploaded.", code="requirements-changed",
                              hint="Run step 1 (diagnose) again on this archive, or give the additions explicitly.")
        step.source_sha256, step.result_sha256 = result.source_sha256, result.result_sha256
        rb.source_sha256 = result.source_sha256
        step.method = result.method
        step.io.update(mode="full", bytes_read=result.source_bytes,
                       local_disk_bytes=result.result_bytes + sum(r.get("size") or 0 for r in result.diff))
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
    if rb.mode != "full":  # build checked it already
        return step
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
        step.load_check = load_check_dir(model_dir, program=program, log=say, image=step.image,
                                         environment=step.environment)
        if full_check and step.load_check.ok:
            say("full check: serving the rebuilt archive on TorchServe")
            step.serve_check = serve_check(model_dir, program=program, log=say, image=step.image)
            if not step.serve_check.ok:
                step.error = f"the rebuilt archive does not serve: {step.serve_check.error}"
                raise CheckFailed(step.error + " Nothing was uploaded.", code="rebuilt-archive-fails")
        _gate(step, step.load_check, model_dir, program, "the rebuilt archive", "Nothing was uploaded.")
        step.status = "checked"
    return step


def upload(rb: Rebuilding, *, progress: Callable[[str], None] | None = None) -> RebuildStep:
    """Sub-step 4: upload the checked archive under the new key (multipart, SHA-256); the source unchanged."""
    return _upload(rb, progress)


def _upload(rb: Rebuilding, progress: Callable[[str], None] | None) -> RebuildStep:
    say = progress or (lambda _m: None)
    step, s3 = rb.step, rb.aws.client("s3")
    if rb.mode != "full":  # build wrote it already
        return step
    if step.status != "checked":
        raise InputError("the rebuilt archive has not passed its check: nothing is uploaded.", code="not-checked",
                         hint="Run the build and check cells (rebuild_archive.build, .check) first.")
    with _recording(rb):
        out = rb.archive_path
        say(f"uploading to {step.target_uri}")
        with open(out, "rb") as fh:
            step.uploaded = upload_stream(s3, fh, step.target_uri, source_uri=step.source_uri,
                                          source_sha256=rb.source_sha256, overwrite=rb.overwrite)
        step.io.update(bytes_uploaded=step.uploaded["bytes"], bytes_copied_server_side=0)
        if rb.work is not None:
            rb.work.cleanup()
            rb.work = None
        _source_unchanged(s3, step)
        step.status = "passed"
    return step


def _source_unchanged(s3: Any, step: RebuildStep) -> None:
    after = _head(s3, step.source_uri)
    if after is None or after.get("ETag") != step.source_etag:
        step.error = "the source object changed during the rebuild"
        raise CheckFailed(f"{step.source_uri} changed while it was being rebuilt; rerun the step.",
                          code="source-changed")


def _server_side(s3: Any, step: RebuildStep, diag: DiagnoseRecord, size: int, overwrite: bool, full_check: bool,
                 say: Callable[[str], None]) -> None:
    """Read once (code files to a check dir, weights nowhere), check, copy the prefix in S3 + upload the tail,
    verify. The load check runs on the code with the added packages; a model_fn that stops at a withheld file
    vouches for the imports only (deploy's smoke invocation then loads the model), any other failure blocks."""
    from ..archive.remote import abort_splice, plan_splice, verify_or_remove, write_splice

    program = diag.endpoint.program
    with tempfile.TemporaryDirectory(prefix="rebuild-") as tmp:
        model_dir = Path(tmp) / "ml" / "model"
        say(f"reading {step.source_uri} once (parallel ranged GETs; the weights are not written to disk), "
            f"copying its unchanged prefix to {step.target_uri} inside S3 as the read goes")
        plan = plan_splice(s3, step.source_uri, [(a["source"], a["target"]) for a in step.additions],
                           check_dir=model_dir, size=size, etag=step.source_etag, target_uri=step.target_uri,
                           overwrite=overwrite)
        try:
            _check_spliced(step, plan, model_dir, program, full_check, say)
        except BaseException:
            abort_splice(plan)  # the copied parts are dropped with the upload: nothing is written
            raise
        local_disk = plan.local_disk_bytes
    result, withheld = plan.result, sum(plan.withheld.values())
    say(f"writing {step.target_uri} (the prefix's copy finishing inside S3, tail uploaded)")
    written = write_splice(s3, plan, step.target_uri, overwrite=overwrite)
    step.uploaded = {k: written.get(k) for k in ("uri", "etag", "version_id", "sha256", "bytes", "parts",
                                                  "checksum_sha256")}
    step.uploaded["sha256"] = result.result_sha256
    step.io = {"mode": written["method"], "note": written.get("note"), "bytes_read": plan.bytes_read,
               "bytes_uploaded": written["bytes_uploaded"], "bytes_copied_server_side": written["bytes_copied"],
               "local_disk_bytes": local_disk, "withheld_bytes": withheld, "splice_offset": plan.splice_offset}
    say("verifying the written object")
    step.verification = verify_or_remove(s3, plan, written)  # a wrong object is deleted: never left for deploy


def _check_spliced(step: RebuildStep, plan: Any, model_dir: Path, program: str | None, full_check: bool,
                   say: Callable[[str], None]) -> None:
    """Record what the read produced and load-check the code with the added packages (raises CheckFailed)."""
    result = plan.result
    step.source_sha256, step.result_sha256, step.method = result.source_sha256, result.result_sha256, result.method
    rows = result.diff
    step.diff = {"added": [{"path": r["path"], "size": r.get("size")} for r in rows
                           if r["status"] == "added" and r.get("type") != "dir"],
                 "replaced": [], "unchanged_count": sum(r["status"] == "unchanged" for r in rows),
                 "unchanged_bytes": sum(r.get("size") or 0 for r in rows if r["status"] == "unchanged"),
                 "source_bytes": result.source_bytes, "result_bytes": result.result_bytes,
                 "copied_compressed_bytes": result.copied_compressed_bytes}
    _place_additions(step.additions, model_dir)
    say("load check of the rebuilt archive's code")
    lc = vouch_imports_only(load_check_dir(model_dir, program=program, log=say, image=step.image,
                                           environment=step.environment), plan.withheld)
    step.load_check = lc
    if full_check and lc.ok and not plan.withheld:
        step.serve_check = serve_check(model_dir, program=program, log=say, image=step.image)
        if not step.serve_check.ok:
            step.error = f"the rebuilt archive does not serve: {step.serve_check.error}"
            raise CheckFailed(step.error + " Nothing was uploaded.", code="rebuilt-archive-fails")
    _gate(step, lc, model_dir, program, "the rebuilt archive", "Nothing was uploaded.")


REQUIREMENTS = "code/requirements.txt"


def _requirements_edit(edit: dict[str, Any] | None) -> dict[str, Any] | None:
    """The diagnosis' edit of code/requirements.txt, checked: the new text and the sha256 of the text it edits."""
    if not edit:
        return None
    if not isinstance(edit.get("text"), str) or not edit.get("source_sha256"):
        raise InputError("the diagnosis' edit of code/requirements.txt is incomplete (no text or no source_sha256).",
                         code="bad-requirements-edit", hint="Run step 1 (diagnose) again.")
    return {k: edit.get(k) for k in ("drop", "diff", "text", "source_sha256")}


def _requirements_of(step: RebuildStep, model_dir: Path) -> None:
    """A prefix model: check its code/requirements.txt is the one the diagnosis edited, then lay the edit in."""
    req = model_dir / REQUIREMENTS
    have = hashlib.sha256(req.read_bytes()).hexdigest() if req.is_file() else hashlib.sha256().hexdigest()
    if step.requirements and have != step.requirements.get("source_sha256"):
        step.error = f"the model's {REQUIREMENTS} is not the one step 1 read and proposed to edit"
        raise CheckFailed(step.error + "; nothing was written.", code="requirements-changed",
                          hint="Run step 1 (diagnose) again on this model, or give the additions explicitly.")
    req.parent.mkdir(parents=True, exist_ok=True)
    req.write_bytes((step.requirements["text"] if step.requirements else "").encode("utf-8"))


def _static_check(model_dir: Path, program: str, image: str | None) -> dict[str, Any]:
    """The rebuilt code's imports, resolved statically against the image's profile (what decides when the load
    check cannot run here)."""
    from .. import imports
    from ..serving.image_profiles import profile_for_image

    imp = imports.resolve_imports(model_dir, program=program, image_modules=profile_for_image(image).modules)
    errors = [f for f in imp.findings if f.severity == "error"]
    return {"ok": not errors and imp.entry_exists, "missing_packages": imp.missing_packages,
            "errors": [f"{f.code}: {f.message}" for f in errors][:10],
            "summary": "; ".join(f.message for f in errors[:3]) or ("the imports resolve" if imp.entry_exists
                                                                    else f"code/{program} is not in the archive")}


def _gate(step: RebuildStep, lc: LoadCheck, model_dir: Path, program: str, what: str, nothing: str) -> None:
    """The load check decides. When it could not run here (skipped), the static analysis of the rebuilt code
    decides instead and the record says why no load was tried, unless ``require_load_check``."""
    step.load_check = lc
    step.static_check = _static_check(model_dir, program, step.image)
    if lc.skipped:
        step.unchecked = lc.skipped
        if step.require_load_check:
            step.error = f"the load check could not run here ({lc.skipped}) and require_load_check is set"
            raise CheckFailed(f"{step.error}. {nothing}", code="load-check-required",
                              hint="Run this step where the serving environment can be built, or set "
                                   "require_load_check: false to go on when the static analysis passes.")
        if not step.static_check["ok"]:
            step.error = (f"{what}'s imports fail (static analysis; the load check could not run here: "
                          f"{lc.skipped}): {step.static_check['summary']}")
            raise CheckFailed(f"{step.error} {nothing}", code="rebuilt-archive-fails")
        return
    if not lc.ok:
        step.error = f"{what} does not load: {lc.error_type}: {lc.error}"
        raise CheckFailed(f"{step.error} {nothing}", code="rebuilt-archive-fails")


def _place_additions(additions: list[dict[str, str]], model_dir: Path) -> None:
    """Lay the additions into an extracted model folder (for the checks), as the rebuilt archive holds them."""
    archive.place_additions([(a["source"], a["target"]) for a in additions], model_dir)


def _prefix_model(aws: Aws, run_dir: str, source_uri: str, adds: list[dict[str, str]], target_uri: str | None,
                  overwrite: bool, diag: DiagnoseRecord, say: Callable[[str], None], started: Any,
                  image: str | None, req_edit: dict[str, Any] | None = None,
                  require_load_check: bool = False) -> RebuildStep:
    """Uncompressed model data (an S3 prefix): check the code with the additions, then build a new prefix by
    copying every object inside S3 and uploading the added files. No weight byte is downloaded."""
    from ..archive import prefix as model_prefix

    src = model_prefix.prefix_uri(source_uri)
    target = model_prefix.prefix_uri(target_uri or src.rstrip("/") + "-fixed/")
    step = RebuildStep(source_uri=src, target_uri=target, additions=adds, image=image, method="prefix-copy",
                       environment=diag.deployed_environment, requirements=req_edit, require_load_check=require_load_check)
    s3 = aws.client("s3")
    program = diag.endpoint.program
    edit_dir = tempfile.TemporaryDirectory(prefix="rebuild-edit-")
    try:
        with named_aws_errors(f"listing {src}"):
            objects = model_prefix.list_prefix(s3, src)
        with tempfile.TemporaryDirectory(prefix="rebuild-") as tmp:
            model_dir = Path(tmp) / "ml" / "model"
            say(f"reading the code files of {src} (the weights stay in S3)")
            fetched = model_prefix.fetch_for_check(s3, src, objects, model_dir)
            _place_additions(step.additions, model_dir)
            if step.requirements:
                _requirements_of(step, model_dir)
            lc = vouch_imports_only(load_check_dir(model_dir, program=program, log=say, image=image,
                                                   environment=step.environment),
                                    fetched["withheld"])
            _gate(step, lc, model_dir, program, "the fixed model", "Nothing was written.")
        say(f"building {target}: {len(objects)} objects copied inside S3, the additions uploaded")
        with named_aws_errors(f"copying {src} to {target}"):
            pairs = [(a["source"], a["target"]) for a in adds]
            if step.requirements:
                pairs.append((str(Path(edit_dir.name) / "requirements.txt"), REQUIREMENTS))
                Path(edit_dir.name, "requirements.txt").write_bytes(step.requirements["text"].encode("utf-8"))
            done = model_prefix.copy_prefix(s3, src, target, objects, pairs, overwrite=overwrite,
                                            replace={REQUIREMENTS} if step.requirements else ())
        step.diff = {"added": done.files_uploaded, "replaced": [], "unchanged_count": len(objects),
                     "unchanged_bytes": sum(o.size for o in objects)}
        step.uploaded = {"uri": target, "objects": len(objects) + len(done.files_uploaded)}
        step.io = {"mode": "prefix-copy", "note": None, "bytes_read": fetched["bytes_read"],
                   "bytes_uploaded": done.bytes_uploaded, "bytes_copied_server_side": done.bytes_copied_server_side,
                   "local_disk_bytes": fetched["bytes_read"], "withheld_bytes": fetched["withheld_bytes"]}
        step.status = "passed"
        return step
    except Exception as e:
        step.error = step.error or f"{type(e).__name__}: {e}"
        raise
    finally:
        edit_dir.cleanup()
        step.seconds = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2)
        write_record(run_dir, "rebuild_archive", step.to_dict())
