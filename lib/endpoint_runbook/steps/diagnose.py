"""Step 1 — diagnose: the cause named, the evidence shown, the fix to apply.

Nothing here trusts EndpointStatus or ``/ping`` (both say all is well while every worker dies). Four
independent views are combined into one verdict: the endpoint's CloudWatch logs (``logs``), the archive's
inventory and layout (``archive``), the serving code's import resolution (``imports``) and a load check in a
clean serving environment (``loadcheck``). The verdict, with the fix (which source folder to add where in the
archive) is written to ``<run-dir>/01-diagnose.json`` for step 2.

Uncompressed model data (``ModelDataSource`` with ``S3Prefix``, ``CompressionType: None``) is read the same way
without a download of the weights: the inventory from a listing, import resolution on the small source files,
the load check on the code and small files (``archive.prefix``); the record's ``archive.io`` counts the bytes
read and left in S3.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import archive, imports, logs
from ..aws import AccessDenied, Aws, named_aws_errors
from ..endpoint import backlog, instances, remedies
from ..endpoint.diagnosis import (
    Diagnosis,
    FixCheck,
    _kind_limits,
    _network_needs,
    _one_per_need,
    _reconcile,
    _verdict,
)
from ..endpoint.facts import endpoint_facts
from ..errors import InputError, RunbookError
from ..findings import Finding
from ..records import write_record
from ..s3 import parse_s3_uri
from ..serving.loadcheck import LoadCheck, load_check_dir, vouch_imports_only
from ..step_records import EndpointFacts
from . import vendoring

__all__ = ["Diagnosing", "run", "describe", "read_logs", "read_archive", "resolve_imports", "check_load", "conclude"]

#: From this size, diagnose reads an archive once (parallel ranged GETs) and checks the code it wrote from that
#: read, leaving the weights in S3; smaller archives are read again and extracted whole for the load check.
WITHHOLD_FROM_BYTES = 256 << 20


def _read_archive(s3: Any, uri: str, program: str, expected: list[str] | None,
                  check_dir: Path | None = None) -> tuple[dict[str, Any], dict[str, bytes], dict[str, int] | None]:
    """One streaming pass: inventory + layout lint + the small source files (for import resolution); with
    ``check_dir``, the code and small files are also written there (the rest counted as withheld). Returns
    (the archive view, the sources, the withheld files — None when the check dir is not to be used)."""
    sources: dict[str, bytes] = {}
    files = archive.CheckFiles(check_dir, strict=False) if check_dir is not None else None
    try:
        inv = archive.inventory_s3(s3, uri, sources=sources, on_data=files, ranged_from=WITHHOLD_FROM_BYTES)
    except AccessDenied:  # a missing permission stops the step (an unreadable archive would read as a verdict)
        raise
    except RunbookError as e:
        return {"uri": uri, "readable": False, "error": e.code, "message": str(e), "findings": []}, {}, None
    finally:
        if files is not None:
            files.close()
    findings = list(inv.findings) + (archive.lint(inv, program) if inv.complete else [])
    view = {
        "uri": uri, "readable": inv.complete, "summary": inv.to_dict(members=False),
        "members": [{"path": m.path, "type": m.type, "size": m.size} for m in inv.members[:2000]],
        "members_truncated": len(inv.members) > 2000,
        "presence": archive.presence_table(inv, expected, program=program),
        "findings": [f.to_dict() for f in findings],
    }
    withheld = None
    if files is not None and inv.complete and inv.compressed_bytes >= WITHHOLD_FROM_BYTES:
        files.finish((m.path, m.type, m.size) for m in inv.members)
        withheld = dict(files.withheld)
        view["io"] = {"bytes_read": inv.compressed_bytes, "bytes_withheld": sum(withheld.values()),
                      "local_disk_bytes": files.written}
    return view, sources, withheld


def _load_check(s3: Any, uri: str, program: str, log: Callable[[str], None] | None,
                image: str | None = None, environment: dict[str, str] | None = None,
                after: Callable[[Path, LoadCheck, dict[str, int]], None] | None = None) -> LoadCheck:
    bucket, key = parse_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="diagnose-") as tmp:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            archive.safe_extract(body, Path(tmp) / "ml" / "model")
        except RunbookError as e:
            return LoadCheck(ok=False, stage="extract", error_type=e.code, error=str(e),
                             findings=[Finding(e.code, "error", str(e))])
        finally:
            body.close()
        lc = load_check_dir(Path(tmp) / "ml" / "model", program=program, log=log, image=image,
                            environment=environment)
        if after is not None:
            after(Path(tmp) / "ml" / "model", lc, {})
        return lc


def _read_prefix(s3: Any, uri: str, program: str, expected: list[str] | None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Uncompressed model data: the inventory from a listing, the layout lint, the small source files (the only
    objects read). ``io`` counts what was read and what stayed in S3."""
    from ..archive import prefix as model_prefix

    try:
        objects = model_prefix.list_prefix(s3, uri)
    except AccessDenied:
        raise
    except RunbookError as e:
        return {"uri": uri, "kind": "s3-prefix", "readable": False, "error": e.code, "message": str(e),
                "findings": [Finding(e.code, "error", str(e), [uri]).to_dict()]}, {}
    inv = model_prefix.listing_inventory(objects)
    sources, read = model_prefix.read_sources(s3, uri, objects)
    return {
        "uri": model_prefix.prefix_uri(uri), "kind": "s3-prefix", "readable": True,
        "summary": inv.to_dict(members=False),
        "members": [{"path": m.path, "type": m.type, "size": m.size} for m in inv.members[:2000]],
        "members_truncated": len(inv.members) > 2000,
        "presence": archive.presence_table(inv, expected, program=program),
        "findings": [_prefix_advice(f, uri).to_dict() for f in list(inv.findings) + archive.lint(inv, program)],
        "io": {"objects": len(objects), "bytes_total": inv.total_size, "bytes_read": read,
               "bytes_withheld": inv.total_size - read},
    }, sources


def _prefix_advice(f: Finding, uri: str) -> Finding:
    """A prefix is not re-tarred: a nested top folder means the model's S3Uri names its parent."""
    if f.code != "nested-top-folder":
        return f
    top = str(f.data.get("top") or "")
    return Finding(f.code, f.severity, f"Everything sits under '{top}/', so the files land in /opt/ml/model/{top}/. "
                   f"Point the model's S3Uri at {uri.rstrip('/')}/{top}/ instead.", f.evidence, f.data)


def _load_check_prefix(s3: Any, arch: dict[str, Any], program: str, log: Callable[[str], None] | None,
                       image: str | None = None, environment: dict[str, str] | None = None,
                       after: Callable[[Path, LoadCheck, dict[str, int]], None] | None = None) -> LoadCheck:
    """The load check on the prefix's code and small files; the weights stay in S3. A model_fn that fails
    reading a withheld object proves nothing: the check then vouches for the imports only."""
    from ..archive import prefix as model_prefix

    uri = arch["uri"]
    with tempfile.TemporaryDirectory(prefix="diagnose-") as tmp:
        model_dir = Path(tmp) / "ml" / "model"
        fetched = model_prefix.fetch_for_check(s3, uri, model_prefix.list_prefix(s3, uri), model_dir)
        io = arch.setdefault("io", {})
        io["bytes_read"] = io.get("bytes_read", 0) + fetched["bytes_read"]
        io["bytes_withheld"] = fetched["withheld_bytes"]
        lc = vouch_imports_only(load_check_dir(model_dir, program=program, log=log, image=image,
                                               environment=environment), fetched["withheld"])
        if after is not None:
            after(model_dir, lc, fetched["withheld"])
    return lc


def run(aws: Aws, *, run_dir: str, endpoint_name: str, log_window_minutes: float = 60.0,
        max_log_events: int = 20000, source_roots: list[str] | None = None, load_check: bool = True,
        expected_paths: list[str] | None = None, weights: dict[str, str] | None = None,
        progress: Callable[[str], None] | None = None) -> Diagnosis:
    """Diagnose ``endpoint_name`` and write ``01-diagnose.json``. Raises only for bad input (unknown endpoint);
    an inconclusive diagnosis is a verdict, not an error. The sub-steps (:func:`describe`, :func:`read_logs`,
    :func:`read_archive`, :func:`resolve_imports`, :func:`check_load`, :func:`conclude`) in one call."""
    d = describe(aws, run_dir=run_dir, endpoint_name=endpoint_name, source_roots=source_roots,
                 load_check=load_check, weights=weights, progress=progress)
    read_logs(aws, d, log_window_minutes=log_window_minutes, max_log_events=max_log_events, progress=progress)
    read_archive(aws, d, expected_paths=expected_paths, progress=progress)
    resolve_imports(d, progress=progress)
    check_load(aws, d, progress=progress)
    return conclude(aws, d)


@dataclass
class Diagnosing:
    """A diagnosis in progress, between its sub-steps (a notebook runs each in its own cell)."""

    run_dir: str
    started: dt.datetime
    facts: EndpointFacts
    roots: dict[str, Path]
    load_check: bool = True
    weights: dict[str, str] | None = None  # what model_fn downloads → where the user has it (a path, s3://)
    log_ev: dict[str, Any] = field(default_factory=dict)
    arch: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, bytes] = field(default_factory=dict)
    imp: imports.ImportReport | None = None
    lc: LoadCheck | None = None
    layout_findings: list[dict[str, Any]] = field(default_factory=list)  # the lint's, before reconciliation
    # A large archive's code and small files, written from the one read for the load check (weights withheld)
    check_tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    withheld: dict[str, int] | None = None
    complete: imports.CompleteFix | None = None  # the static rounds of the fix (every package it needs, placed)
    fix_check: FixCheck | None = None  # the load check with the fix laid in
    _index: imports.SourceIndex | None = field(default=None, repr=False)

    @property
    def sources_index(self) -> imports.SourceIndex:
        """The source roots, searched (recursively, bounded) once per diagnosis."""
        if self._index is None:
            self._index = imports.SourceIndex(self.roots)
        return self._index

    def drop_check_dir(self) -> None:
        if self.check_tmp is not None:
            self.check_tmp.cleanup()
        self.check_tmp, self.withheld = None, None


def describe(aws: Aws, *, run_dir: str, endpoint_name: str, source_roots: list[str] | None = None,
             load_check: bool = True, weights: dict[str, str] | None = None,
             progress: Callable[[str], None] | None = None) -> Diagnosing:
    """Sub-step 1: endpoint → endpoint config → model (and the inputs checked before any other read)."""
    if not endpoint_name:
        raise InputError("endpoint_name is required.", code="missing-input",
                         hint="Set endpoint_name to the crash-looping endpoint.")
    say = progress or (lambda _m: None)
    started = dt.datetime.now(dt.timezone.utc)
    roots = {str(p): Path(p).expanduser().resolve() for p in (source_roots or [])}
    missing_roots = [k for k, p in roots.items() if not p.is_dir()]
    if missing_roots:
        raise InputError(f"source root(s) not found: {', '.join(missing_roots)}", code="bad-source-root",
                         hint="source_roots name local folders that may hold the missing packages.")
    sm = aws.client("sagemaker")
    say("describing the endpoint")
    with named_aws_errors("describing the endpoint"):
        facts = endpoint_facts(sm, endpoint_name)
    return Diagnosing(run_dir=run_dir, started=started, facts=facts, roots=roots, load_check=load_check, weights=weights,
                      arch={"uri": facts.model_data_url, "readable": False, "findings": [], "presence": []})


def read_logs(aws: Aws, d: Diagnosing, *, log_window_minutes: float = 60.0, max_log_events: int = 20000,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sub-step 2: the endpoint's CloudWatch logs matched against the crash signatures."""
    say = progress or (lambda _m: None)
    say("reading CloudWatch logs")
    read = logs.read_endpoint_logs(aws.client("logs"), d.facts.name,
                                   start=dt.timedelta(minutes=log_window_minutes), max_events=max_log_events)
    d.log_ev = {"read": read.to_dict(), **logs.analyze(read).to_dict()}
    reason = d.facts.failure_reason
    if reason and (d.log_ev.get("cause") or {}).get("code") == "no-logs":
        # No container ever logged: the platform failed before one started (the model data, capacity, ...), and its
        # FailureReason is the evidence, read with the same signatures.
        said = logs.evidence_from_text(reason).to_dict().get("cause") or {}
        if said.get("code") and said["code"] not in logs.NOT_A_FAILURE:
            d.log_ev["cause"] = {**said, "evidence": [f"FailureReason: {reason}"], "seen_by": "FailureReason"}
    return d.log_ev


def _prefix_of(facts: EndpointFacts) -> str | None:
    """The S3 prefix of uncompressed model data (``ModelDataSource`` S3Prefix), None for an archive."""
    return facts.model_data_prefix if not facts.model_data_url else None


def read_archive(aws: Aws, d: Diagnosing, *, expected_paths: list[str] | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sub-step 3: the model archive's inventory and layout lint (one streaming pass)."""
    say = progress or (lambda _m: None)
    facts = d.facts
    d.imp, d.lc, d.complete, d.fix_check = None, None, None, None  # they describe the archive read before
    prefix = _prefix_of(facts)
    if facts.model_data_url or prefix:
        say(f"listing the model data {prefix}" if prefix else "reading the model archive (streaming)")
        s3 = aws.client("s3")
        d.drop_check_dir()
        with named_aws_errors("reading the model data"):
            if prefix:
                d.arch, d.sources = _read_prefix(s3, prefix, facts.program, expected_paths)
            else:
                d.check_tmp = tempfile.TemporaryDirectory(prefix="diagnose-")
                d.arch, d.sources, d.withheld = _read_archive(s3, facts.model_data_url, facts.program,
                                                              expected_paths, Path(d.check_tmp.name) / "ml" / "model")
                if d.withheld is None:  # a small archive: the load check extracts it whole
                    d.drop_check_dir()
        d.layout_findings = list(d.arch.get("findings", []))
    return d.arch


def resolve_imports(d: Diagnosing, *, progress: Callable[[str], None] | None = None) -> imports.ImportReport | None:
    """Sub-step 4: the serving code's imports, resolved as the container resolves them."""
    say = progress or (lambda _m: None)
    facts, sources = d.facts, d.sources
    if not ((facts.model_data_url or _prefix_of(facts)) and d.arch.get("readable")):
        return None
    say("resolving the serving code's imports")
    from ..serving.image_profiles import profile_for_image

    image_modules = profile_for_image(facts.image).modules  # what the endpoint's image ships
    req = sources.get("code/requirements.txt", b"").decode("utf-8", "replace").splitlines()
    names = {m["path"]: None for m in d.arch.get("members", []) if m["type"] == "file"}
    d.imp = imports.resolve_imports({**names, **sources}, program=facts.program, requirements=req,
                                    image_modules=image_modules)
    d.complete = None
    if d.imp.missing_packages or d.imp.guarded_missing_packages:
        say("working out the complete fix (the imports again, with each proposed addition laid in)")
        d.complete = imports.complete_fix({**names, **sources}, program=facts.program, requirements=req,
                                          image_modules=image_modules, sources=d.sources_index, first=d.imp)
    # One import path for every check: the lint's "outside the import path" follows the script's sys.path.
    d.arch["findings"] = [f.to_dict() for f in imports.reconcile_layout(
        [Finding.from_dict(f) for f in d.layout_findings], d.imp)]
    return d.imp


def check_load(aws: Aws, d: Diagnosing, *, progress: Callable[[str], None] | None = None) -> LoadCheck | None:
    """Sub-step 5: import the entry script and call model_fn in a clean serving environment."""
    say = progress or (lambda _m: None)
    facts = d.facts
    prefix = _prefix_of(facts)
    if not (d.load_check and (facts.model_data_url or prefix) and d.arch.get("readable")):
        return None
    say("load check in a clean serving environment")
    s3 = aws.client("s3")
    d.fix_check = None

    def after(model_dir: Path, lc: LoadCheck, withheld: dict[str, int]) -> None:
        d.fix_check = _check_fix(d, model_dir, lc, say, withheld)

    with named_aws_errors("reading the model data"):
        # The model's Environment goes to the check as SageMaker passes it to the container.
        if prefix:
            d.lc = _load_check_prefix(s3, d.arch, facts.program, say, facts.image, facts.environment, after=after)
        elif d.check_tmp is not None and d.withheld is not None:  # a large archive: the code from the one read
            model_dir = Path(d.check_tmp.name) / "ml" / "model"
            d.lc = vouch_imports_only(load_check_dir(model_dir, program=facts.program, log=say, image=facts.image,
                                                     environment=facts.environment), d.withheld)
            with tempfile.TemporaryDirectory(prefix="diagnose-fix-") as tmp:  # the read's files stay as read
                shutil.copytree(model_dir, Path(tmp) / "ml" / "model", symlinks=True)
                after(Path(tmp) / "ml" / "model", d.lc, d.withheld)
        else:
            d.lc = _load_check(s3, facts.model_data_url, facts.program, say, facts.image, facts.environment,
                               after=after)
    return d.lc


#: Bound on the rounds of the load check with the fix laid in.
FIX_CHECK_ROUNDS = 6


def _check_fix(d: Diagnosing, model_dir: Path, lc: LoadCheck, say: Callable[[str], None],
               withheld: dict[str, int]) -> FixCheck | None:
    """The load check again, with the proposed fix laid into the extracted archive (``model_dir``, changed in
    place: the first check is done): the static rounds' additions, and the requirement lines that could not
    install in the image and nothing imports dropped. Each round adds what the previous one found missing when a
    local folder provides it, until the check passes, stops elsewhere, or nothing provides the next module."""
    if lc.skipped or d.imp is None:
        return None
    req_path = model_dir / "code" / "requirements.txt"
    req_raw = req_path.read_bytes() if req_path.is_file() else None
    static = list(d.complete.placements) if d.complete is not None else []
    fc = FixCheck()
    edit = _droppable(d, lc, req_raw, static, None)
    if not static:  # what the check itself found missing (an import the static reading cannot see)
        first = _place_found_missing(d, model_dir, lc, set())
        fc.placements += [first] if first is not None else []
    if not static and not fc.placements and edit is None:
        return None
    laid: set[str] = set()
    for i in range(FIX_CHECK_ROUNDS):
        todo = [p for p in static + fc.placements if p.source not in laid and p.source and p.target]
        archive.place_additions([(p.source, p.target) for p in todo], model_dir)
        laid.update(p.source for p in todo if p.source)
        if edit is not None:
            req_path.write_bytes(edit.text.encode("utf-8"))
        say(f"load check with the proposed fix laid in (round {i + 1})")
        now = load_check_dir(model_dir, program=d.facts.program, log=say, image=d.facts.image,
                             environment=d.facts.environment)
        if withheld:
            now = vouch_imports_only(now, withheld)
        fc.load_check = now
        fc.rounds.append({"added": [p.target for p in todo], "dropped": list(edit.drop) if edit else [],
                          "result": "passes" if now.ok else (f"skipped: {now.skipped}" if now.skipped else
                                                             f"fails at {now.stage}: {now.error_type}: {now.error}")})
        if now.ok or now.skipped:
            break
        if now.stage == "requirements":
            more = _droppable(d, now, req_raw, static + fc.placements, edit)
            if more is None or (edit is not None and set(more.drop) == set(edit.drop)):
                break
            edit = more
            continue
        nxt = _place_found_missing(d, model_dir, now, {p.source for p in static + fc.placements})
        if nxt is None:
            break
        fc.placements.append(nxt)
    fc.edit = edit
    return fc


def _droppable(d: Diagnosing, lc: LoadCheck, req_raw: bytes | None, placements: list[imports.Placement],
               edit: imports.RequirementsEdit | None) -> imports.RequirementsEdit | None:
    """The requirements edit after a load check that could not install code/requirements.txt in the image's
    own environment: the lines pip failed on that no code in the archive (with the additions) imports are
    dropped, with those dropped before. None when there is nothing more to drop."""
    if req_raw is None or lc.stage != "requirements" or lc.mode != "exact":
        return None
    failing = next((f.data.get("requirements") or [] for f in lc.findings
                    if f.code == "requirements-install-failed"), [])
    if not failing:
        return None
    files: dict[str, bytes | None] = dict(d.sources)
    for p in placements:
        if p.source and p.target:
            imports.lay_files(files, p.source, p.target)
    text = req_raw.decode("utf-8", errors="replace")
    drop = imports.unimported(failing, text, files)
    from ..serving.image_profiles import profile_for_image

    profile = profile_for_image(d.facts.image)
    shipped = {x: spec for x in failing if x not in drop and (spec := profile.ships(x))}
    if not drop and not shipped:
        return None
    before = list(edit.drop) if edit is not None else []
    why = [edit.why] if edit is not None and edit.why else []
    if drop:
        why.append(f"pip cannot install {', '.join(drop)} in the image's own environment, and no code in the archive "
                   "imports it")
    if shipped:
        why.append("pip cannot install the line" + ("s" if len(shipped) > 1 else "") + " for "
                   + ", ".join(f"{x} (the image ships {spec})" for x, spec in shipped.items())
                   + ": without the line the image's own version serves")
    dropped = drop + list(shipped)
    return imports.drop_requirements(req_raw, before + [x for x in dropped if x not in before], why="; ".join(why))


def _place_found_missing(d: Diagnosing, model_dir: Path, lc: LoadCheck, used: set[str]) -> imports.Placement | None:
    """A module the load check with the fix found missing (one the static reading could not see, e.g. a dynamic
    import, or one unpickling needs): placed from the source roots when a local folder provides it."""
    if not lc.missing_module or lc.stage not in ("import", "model_fn"):
        return None
    from ..serving.image_profiles import profile_for_image

    top = lc.missing_module.split(".")[0]
    report = imports.resolve_imports(model_dir, program=d.facts.program,
                                     image_modules=profile_for_image(d.facts.image).modules)
    wanted = [p for p in imports.place_missing(report, d.sources_index) if p.package == top]
    if not wanted and not (model_dir / "code" / top).exists() and not (model_dir / top).exists():
        wanted = [imports.place_package(top, report, d.sources_index)]
    return next((p for p in wanted if p.action == "copy" and p.source not in used), None)


#: Verdicts a start-up slower than the health check allows can hide behind: the logs of a container stopped while it
#: loads hold no error, at most a failing /ping or a worker that did not answer in time.
_SLOW_START_HIDES = ("ping-failing", "unknown", "inconclusive", "healthy", "startup-health-check-timeout",
                     "worker-timeout", "no-known-signature")
#: Verdicts a model larger than the instance's memory hides behind: the kernel's kill is not in the container's log,
#: the model server only says its worker died.
_MEMORY_HIDES = ("worker-crash-loop", "unknown", "inconclusive", "healthy", "no-known-signature", "ping-failing")


def _remedy(d: Diagnosing, verdict: Any, lc: LoadCheck | None) -> None:
    """The verdict's remedies (``fix.remedies``, :mod:`endpoint_runbook.endpoint.remedies`): a start-up slower than
    the health check names its own cause first; the archive's changes (the requirements edit) listed beside the
    config and model changes, each with what it was sized from."""
    facts = d.facts
    log_cause = ((d.log_ev or {}).get("cause") or {}).get("code")
    slow = remedies.slow_start(facts, lc, log_cause=log_cause)
    if slow is not None and verdict.cause in _SLOW_START_HIDES:
        window = ("the model server's response timeout" if slow["window"] == "model-server" else
                  "the endpoint's start-up health check")
        verdict.seen.append(f"load check: the model loads in {slow['startup_seconds']} s here; {window} allowed "
                            f"{slow['window_seconds']:g} s")
        verdict.cause, verdict.confidence, verdict.sub_cause = "startup-health-check-timeout", "high", None
        verb = "install and load" if slow.get("install_seconds") else "load"
        verdict.summary = (f"The model takes {slow['startup_seconds']} s to {verb} (measured here) and {window} gives "
                           f"it {slow['window_seconds']:g} s: " + (
                               "the worker is killed before it has loaded the model, again and again." if
                               slow["window"] == "model-server" else "the container is stopped before it answers /ping."))
        verdict.evidence = [slow["evidence"], *verdict.evidence][:6]
    short = remedies.memory_short(facts, lc, instances)
    if short is not None and verdict.cause in _MEMORY_HIDES:
        verdict.seen.append(f"load check: one worker peaks at {short['peak_rss_mb']} MB here; {short['workers']} "
                            f"worker(s) need {short['need_gib']:g} GiB, {short['instance_type']} has "
                            f"{short['instance_gib']:g} GiB")
        verdict.cause, verdict.confidence, verdict.sub_cause = "out-of-memory", "high", None
        verdict.summary = (f"The model needs {short['need_gib']:g} GiB ({short['workers']} worker(s) of "
                           f"{short['peak_rss_mb']} MB, measured here) and {short['instance_type']} has "
                           f"{short['instance_gib']:g} GiB: the kernel kills the worker at every start (the model "
                           "server's log only says it died).")
    summary = (d.arch or {}).get("summary") or {}
    late = remedies.download_timed_out(facts, log_cause=log_cause, archive_bytes=summary.get("compressed_bytes"))
    if late is not None and verdict.cause in ("inconclusive", "model-download-timeout"):
        verdict.seen.append(f"timing: {late['evidence']}")
        verdict.confidence = "high" if verdict.cause == "model-download-timeout" else "medium"
        verdict.cause, verdict.sub_cause = "model-download-timeout", None
        verdict.summary = (f"The model data did not arrive in time: the endpoint failed {late['elapsed_seconds']:g} s "
                           f"after it was created, past the {late['timeout_seconds']:g} s its variant allows for the "
                           "download and extraction, before any container started.")
        verdict.evidence = [late["evidence"], *verdict.evidence][:6]
    offline = remedies.index_unreachable(facts, (d.log_ev or {}).get("cause"), lc)
    vendored = vendoring.wheels(d, verdict, offline) if offline is not None else None
    cause = "out-of-memory" if verdict.sub_cause == "out-of-memory" else verdict.cause
    found, notes = remedies.propose(facts, cause, lc=lc, instance_memory=instances, sources=d.sources,
                                    archive_bytes=summary.get("compressed_bytes"),
                                    unpacked_bytes=summary.get("total_size"), log_cause=log_cause,
                                    log_lines=list(((d.log_ev or {}).get("cause") or {}).get("evidence") or []))
    _next_causes(d, verdict, lc, found, notes)
    edit = verdict.fix.get("requirements")
    if vendored is not None:
        found.append(vendored)
    elif edit:
        found.append(remedies.Remedy("requirements-install-failed", "archive", "code/requirements.txt",
                                     edit.get("lines"), [], edit.get("why", ""),
                                     applied_by="step 2"))
    if found or notes:
        verdict.fix["remedies"] = [r.to_dict() for r in found]
        verdict.fix.setdefault("notes", []).extend(
            [r.note for r in found if r.where != "archive"] + notes)


def _next_causes(d: Diagnosing, verdict: Any, lc: LoadCheck | None, found: list[remedies.Remedy],
                 notes: list[str]) -> None:
    """Causes the endpoint would meet once the verdict's archive fix is in (the load check with it laid in passed and
    measured the model: too large for the instance, slower than the model server allows), listed after the primary
    and remedied with it, so one deploy fixes both."""
    nxt = d.fix_check.load_check if d.fix_check is not None else None
    if nxt is None or nxt is lc or not nxt.ok:
        return
    for c in remedies.after_the_fix(d.facts, nxt, instances):
        more, why_not = remedies.propose(d.facts, c["cause"], lc=nxt, instance_memory=instances,
                                         log_cause=c["log_cause"])
        more = [r for r in more if r.field not in {x.field for x in found}]
        if not more and not why_not:
            continue
        found += more
        notes += why_not
        verdict.seen.append(f"load check with the fix laid in: {c['summary']}")
        verdict.causes.append({"stage": "model_fn", "code": c["cause"], "summary": c["summary"],
                               "seen_by": ["load check with the fix laid in"], "next": True})


def conclude(aws: Aws, d: Diagnosing) -> Diagnosis:
    """Sub-step 6: the queued requests (backlog) and the verdict from the views read so far; writes
    ``01-diagnose.json``."""
    facts, log_ev, arch, imp, lc = d.facts, d.log_ev, d.arch, d.imp, d.lc
    findings: list[Finding] = list(imp.findings if imp else []) + list(lc.findings if lc else [])
    if facts.model_data_url or _prefix_of(facts):
        findings = [Finding.from_dict(f) for f in arch.get("findings", [])] + findings
    log_ev["backlog"], backlog_findings = backlog.report(aws.client("cloudwatch"), facts.name)  # queued requests
    findings += backlog_findings
    findings += _kind_limits(facts, arch)
    needs = _network_needs(facts, imp, lc)
    findings = _one_per_need(findings, needs, lc) + needs
    verdict = _verdict(facts, log_ev, arch, imp, lc if lc is None or not lc.skipped else None, d.sources_index,
                       complete=d.complete, fix_check=d.fix_check)
    findings = _reconcile(findings, verdict, imp, lc)
    _remedy(d, verdict, lc if lc is None or not lc.skipped else None)
    vendoring.weights(aws, d, verdict)
    started = d.started
    diagnosis = Diagnosis(endpoint=facts, logs=log_ev, archive=arch, imports=imp.to_dict() if imp else None,
                          load_check=lc, verdict=verdict, findings=findings, started=started.isoformat(),
                          seconds=round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2))
    write_record(d.run_dir, "diagnose", diagnosis.to_dict())
    d.drop_check_dir()
    return diagnosis
