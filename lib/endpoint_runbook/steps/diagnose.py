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
import difflib
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import archive, backlog, imports, logs
from .aws import AccessDenied, Aws, is_error, named_aws_errors
from .endpoint_kind import kind_of, serverless_config_of, serverless_findings
from .errors import InputError, NotFoundError, RunbookError
from .findings import Finding
from .imports import MODEL_DIR
from .network_reach import endpoint_reach, network_needs
from .records import iso_time, write_record
from .s3 import parse_s3_uri
from .serving.loadcheck import NETWORK_ERROR, LoadCheck, load_check_dir, vouch_imports_only
from .startup_failure import StartupFailure, classify_startup_failure

__all__ = ["EndpointFacts", "Verdict", "Diagnosis", "Diagnosing", "endpoint_facts", "run", "describe", "read_logs",
           "read_archive", "resolve_imports", "check_load", "conclude"]



@dataclass
class EndpointFacts:
    name: str
    arn: str
    status: str
    failure_reason: str | None
    config_name: str
    created: str | None
    last_modified: str | None
    variants: list[dict[str, Any]]
    async_config: dict[str, Any] | None
    model_name: str
    image: str | None
    model_data_url: str | None
    environment: dict[str, str]
    execution_role_arn: str | None
    instance_type: str | None
    instance_count: int | None
    kind: str = "real-time"  # async | real-time | serverless (endpoint_kind)
    serverless_config: dict[str, Any] | None = None  # the variant's ServerlessConfig (memory, max concurrency)
    model_data_source: dict[str, Any] | None = None  # PrimaryContainer.ModelDataSource.S3DataSource, if any
    network_isolation: bool = False  # the model's EnableNetworkIsolation: its container reaches no host
    vpc_config: dict[str, Any] | None = None  # the model's VpcConfig: the internet only through a NAT gateway

    @property
    def program(self) -> str:
        return self.environment.get("SAGEMAKER_PROGRAM") or "inference.py"

    @property
    def model_data_prefix(self) -> str | None:
        """The S3 prefix of uncompressed model data (``S3Prefix``, ``CompressionType: None``), else None."""
        ds = self.model_data_source or {}
        if ds.get("S3DataType") == "S3Prefix" and ds.get("CompressionType", "None") == "None" and ds.get("S3Uri"):
            return str(ds["S3Uri"])
        return None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"program": self.program}


@dataclass
class Verdict:
    cause: str  # missing-module, missing-entry-script, ..., or unknown / inconclusive
    confidence: str  # high, medium, low
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: dict[str, Any] = field(default_factory=dict)  # additions: [{package, source, target}], extras, notes
    seen: list[str] = field(default_factory=list)  # what each view said, in one line each
    sub_cause: str | None = None  # model_fn failures: network-at-startup, missing-artifact, version-mismatch, ...
    # Every real cause, in the order the container meets them (install → import → model_fn → request); the
    # primary (``cause``) is marked. ``set_aside``: causes seen only where the environment is not the image's.
    causes: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    after_fix: dict[str, Any] | None = None  # the load check with the proposed fix laid in: what comes next

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Diagnosis:
    endpoint: EndpointFacts
    logs: dict[str, Any]
    archive: dict[str, Any]
    imports: dict[str, Any] | None
    load_check: LoadCheck | None
    verdict: Verdict
    findings: list[Finding]
    started: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": "diagnose", "started": self.started, "seconds": self.seconds,
            "endpoint": self.endpoint.to_dict(), "logs": self.logs, "archive": self.archive,
            "imports": self.imports, "load_check": self.load_check.to_dict() if self.load_check else None,
            "findings": [f.to_dict() for f in self.findings], "verdict": self.verdict.to_dict(),
            # step 2 reads these
            "model_data_url": self.endpoint.model_data_url, "fix": self.verdict.fix,
            "model_data_source": self.endpoint.model_data_source,
        }


def endpoint_facts(sm: Any, name: str) -> EndpointFacts:
    """Endpoint → endpoint config (its kind: AsyncInferenceConfig, ServerlessConfig or instances) → model. A missing
    endpoint is a NotFoundError that names the near misses."""
    try:
        ep = sm.describe_endpoint(EndpointName=name)
    except Exception as e:
        if is_error(e, "ValidationException", "ValidationError", "ResourceNotFound"):
            try:  # only a hint (near misses): the runbook's policy does not grant sagemaker:ListEndpoints
                pages = sm.get_paginator("list_endpoints").paginate()
                names: list[str] | None = [s["EndpointName"] for page in pages for s in page["Endpoints"]]
            except AccessDenied:
                names = None
            close = difflib.get_close_matches(name, names or [], n=3, cutoff=0.5)
            if close:
                hint = f"Did you mean: {', '.join(close)}?"
            elif names is None:
                hint = ("The endpoints here could not be listed (sagemaker:ListEndpoints is not granted): check the "
                        "name and the region in the params.")
            else:
                hint = f"Endpoints here: {', '.join(names[:10]) or 'none'}."
            raise NotFoundError(f"endpoint {name!r} does not exist in this account/region.",
                                code="endpoint-not-found", hint=hint) from e
        raise
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    variant = cfg["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    url = container.get("ModelDataUrl")
    if not url and source and source.get("S3DataType") == "S3Object" and source.get("CompressionType") == "Gzip":
        url = source.get("S3Uri")  # the same model.tar.gz, named the newer way
    return EndpointFacts(
        name=name, arn=ep["EndpointArn"], status=ep["EndpointStatus"], failure_reason=ep.get("FailureReason"),
        config_name=ep["EndpointConfigName"], created=iso_time(ep.get("CreationTime")),
        last_modified=iso_time(ep.get("LastModifiedTime")),
        variants=[{k: v for k, v in pv.items() if not isinstance(v, (dt.datetime,))}
                  for pv in ep.get("ProductionVariants", [])],
        async_config=cfg.get("AsyncInferenceConfig"), model_name=variant["ModelName"],
        image=container.get("Image"), model_data_url=url,
        environment=dict(container.get("Environment") or {}), execution_role_arn=model.get("ExecutionRoleArn"),
        instance_type=variant.get("InstanceType"), instance_count=variant.get("InitialInstanceCount"),
        kind=kind_of(cfg), serverless_config=serverless_config_of(cfg),
        model_data_source=dict(source) if source else None,
        network_isolation=bool(model.get("EnableNetworkIsolation")), vpc_config=model.get("VpcConfig") or None,
    )


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
    from .archive import prefix as model_prefix

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
    from .archive import prefix as model_prefix

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


_ROOT_CAUSES = frozenset(logs.CAUSE_PRECEDENCE)
_QUIET_LOGS = (None, "no-logs", "no-known-signature", "logs-unreadable", "healthy", "worker-crash-loop",
               "ping-failing")
#: Log causes that name a failing model_fn: the load check's sub-cause (missing artifact, memory, versions) says more.
_MODEL_FN_CODES = ("model-fn-error", "out-of-memory", "model-file-not-found", "cuda-out-of-memory")


def _log_code(log_cause: dict[str, Any]) -> str | None:
    """The log verdict's code, as diagnose weighs it: a verdict read off symptoms alone (a failing or timed-out
    /ping, an unbound socket) is as quiet as issue 14's ping-failing, so the load check still gets its say."""
    code = log_cause.get("code")
    if (log_cause.get("details") or {}).get("from_symptoms") and code != "invocation-error":
        return "ping-failing" if code in ("ping-error", "startup-health-check-timeout") else "no-known-signature"
    return code


#: Import findings that say "not a crash"; beside a verdict that names the same package they contradict it.
_SOFT_IMPORT_CODES = ("guarded-missing-module", "conditional-missing-module", "latent-missing-module", "import-fallback")


def _contradicted(imp: imports.ImportReport | None, lc: LoadCheck | None) -> set[str]:
    """Packages static analysis calls missing at start-up that the load check imported past: it got beyond the
    import of the entry script (stage model_fn or done; or imports vouched for, the weights left in S3), or
    through model_fn (done). A check that did not run (skipped) or stopped before the imports contradicts
    nothing."""
    if imp is None or lc is None or lc.skipped:
        return set()
    if lc.stage == "model_fn" or (lc.stage == "import" and lc.ok):
        phases = {"import"}
    elif lc.stage == "done" and lc.ok:  # not ok at done: modules from outside, the check cannot vouch
        phases = {"import", "model_fn"}
    else:
        return set()
    return {r.package for r in imp.imports if r.fails and r.phase in phases and not r.guarded}


def _seen(log_cause: dict[str, Any], arch: dict[str, Any], imp: imports.ImportReport | None, lc: LoadCheck | None,
          sub: StartupFailure | None) -> list[str]:
    seen = [f"logs: {log_cause.get('code')} — {log_cause.get('summary', '')}"]
    if not arch.get("readable"):
        seen.append(f"archive: unreadable ({arch.get('error') or 'see findings'})")
    else:
        errs = [f["code"] for f in arch["findings"] if f["severity"] == "error"]
        seen.append(f"archive: {arch['summary']['member_count']} members; errors: {', '.join(errs) or 'none'}")
    if imp is not None:
        seen.append(f"imports: missing {', '.join(imp.missing_packages) or 'nothing'}")
    if lc is not None:
        seen.append(f"load check: {'passes' if lc.ok else f'fails at {lc.stage}: {lc.error_type}: {lc.error}'}"
                    + (f" ({sub.sub_cause})" if sub else ""))
    return seen


def _network_needs(facts: EndpointFacts, imp: imports.ImportReport | None, lc: LoadCheck | None) -> list[Finding]:
    """Per host the serving code needs: the calls (static), this machine's load check (no network), and whether
    the endpoint reaches it (its model's EnableNetworkIsolation / VpcConfig)."""
    checked = lc is not None and not lc.skipped
    return network_needs(facts.network_isolation, facts.vpc_config,
                         [d.to_dict() for d in (imp.downloads if imp else [])],
                         lc.network if checked else [],  # type: ignore[union-attr]
                         check_stopped=checked and not lc.ok and lc.stage == "model_fn")  # type: ignore[union-attr]


def _one_per_need(findings: list[Finding], needs: list[Finding], lc: LoadCheck | None) -> list[Finding]:
    """One finding per thing: a host's ``network-need`` stands for its static and load-check download findings;
    the load check's handler-signature findings for the static analysis's of the same handler."""
    hosts = {f.data.get("host") for f in needs}
    checked = {(f.code, f.data.get("handler")) for f in (lc.findings if lc is not None else [])
               if f.code in ("model-fn-signature", "handler-signature")}
    return [f for f in findings
            if not (f.code in ("startup-download", "request-download") and f.data.get("host") in hosts)
            and not (f.data.get("source") == "static" and (f.code, f.data.get("handler")) in checked)]


def _startup_failure(lc: LoadCheck | None) -> StartupFailure | None:
    """The load check's model_fn failure, named (None when it did not fail in model_fn)."""
    if lc is None or lc.ok or lc.stage not in ("model_fn", "crash"):
        return None
    rc = None
    if lc.stage == "crash":
        m = re.search(r"exited with (-?\d+)", lc.error or "")
        rc = int(m.group(1)) if m else None
    return classify_startup_failure(lc.error_type, lc.error, lc.traceback, exit_code=rc,
                                    network=lc.startup_network, signature=lc.signature)


def _verdict(facts: EndpointFacts, log_ev: dict[str, Any], arch: dict[str, Any], imp: imports.ImportReport | None,
             lc: LoadCheck | None, source_roots: dict[str, Path] | imports.SourceIndex, *,
             complete: imports.CompleteFix | None = None, fix_check: FixCheck | None = None) -> Verdict:
    """Precedence: the archive's own facts (unreadable, no entry script); then log evidence of the failure
    (unless it was seen only where the environment is not the image's, see :func:`_install_set_aside`); then the
    load check's outcome (what fails first when the model loads); then static findings the load check did not
    contradict. Every other real cause is listed beside the primary, in the order the container meets them
    (:meth:`_Views.causes`), and fixed together with it where the runbook can."""
    log_cause = log_ev.get("cause", {})
    lc_sub = _startup_failure(lc)
    ctx = _Views(facts, log_cause, arch, imp, lc, source_roots, _seen(log_cause, arch, imp, lc, lc_sub), complete,
                 fix_check)
    aside = _install_set_aside(log_cause, imp, lc)
    v = _primary(ctx, lc_sub, aside)
    if v.cause in ("bad-archive", "missing-entry-script"):
        return v
    v.set_aside = [aside] if aside else []
    v.causes = ctx.causes(v, v.set_aside)
    ctx.merge_fix(v)
    if fix_check is not None:
        v.after_fix = fix_check.outcome()
    return v


def _primary(ctx: _Views, lc_sub: StartupFailure | None, aside: dict[str, Any] | None) -> Verdict:
    """The one cause to name first (see :func:`_verdict`)."""
    facts, log_cause, arch, imp, lc, seen = ctx.facts, ctx.log_cause, ctx.arch, ctx.imp, ctx.lc, ctx.seen
    arch_codes = {f["code"] for f in arch.get("findings", [])}
    if not arch.get("readable"):
        bad = next((f for f in arch.get("findings", []) if f["severity"] == "error"), None)
        return Verdict("bad-archive", "high", f"The model archive cannot be read: "
                       f"{bad['message'] if bad else arch.get('message')}", [arch["uri"]],
                       {"notes": ["Rebuild the archive from the model directory (see check-archive)."]}, seen)
    if "missing-entry-script" in arch_codes or (imp is not None and not imp.entry_exists):
        return Verdict("missing-entry-script", "high", f"code/{facts.program} is not in the archive.",
                       [f["message"] for f in arch["findings"] if f["code"] in ("missing-entry-script",
                                                                                "nested-top-folder")],
                       {"notes": [f"Put the entry script at code/{facts.program}."]}, seen)
    log_code = None if aside else _log_code(log_cause)
    # 1. Log evidence of the failure.
    if log_code in _ROOT_CAUSES:
        details = log_cause.get("details") or {}
        if log_code == "missing-module":
            return ctx.missing([details.get("package")] + list(details.get("packages") or []), "logs")
        if log_code in _MODEL_FN_CODES:
            memory = log_code in ("out-of-memory", "cuda-out-of-memory")
            sub = lc_sub if lc_sub is not None and lc is not None and (
                lc.error_type == details.get("exception") or memory) else \
                classify_startup_failure(details.get("exception") or ("MemoryError" if memory else None),
                                         details.get("message"), "\n".join(log_cause.get("evidence", [])))
            return ctx.startup(sub, log_cause.get("confidence", "medium"), list(log_cause.get("evidence", []))[:6])
        return Verdict(log_code, log_cause.get("confidence", "medium"), log_cause.get("summary", ""),
                       log_cause.get("evidence", []), {"notes": [f.message for f in (lc.findings if lc else [])]},
                       seen)
    # 2. The load check: what fails first when the model loads.
    if lc is not None and not lc.ok:
        if lc.missing_module and (lc_sub is None or lc_sub.sub_cause != "version-mismatch"):
            return ctx.missing([lc.missing_module.split(".")[0]], "load check")
        reach = endpoint_reach(facts.network_isolation, facts.vpc_config).reach
        if lc_sub is not None and not (lc_sub.sub_cause == "network-at-startup" and reach == "yes"):
            return ctx.startup(lc_sub, "high" if lc_sub.sub_cause != "network-at-startup" or reach == "no" else
                               "medium", [e for f in lc.findings for e in f.evidence][:4]
                               + (lc.traceback or "").splitlines()[-3:])
        if lc_sub is not None:  # the download failed here for want of network; the endpoint reaches the host
            seen.append("load check: stopped at a download this machine cannot make; the endpoint reaches that host, "
                        "so this is not the endpoint's failure")
        if lc_sub is None:
            code = lc.findings[0].code if lc.findings else "load-failed"
            return Verdict(code, "high", f"The model does not load: {lc.error_type}: {lc.error}",
                           [e for f in lc.findings for e in f.evidence] + (lc.traceback or "").splitlines()[-3:],
                           {"notes": [f.message for f in lc.findings]}, seen)
    # 3. Static findings the load check did not contradict.
    if imp is not None:
        live = [p for p in imp.missing_packages if p not in _contradicted(imp, lc)]
        if live:
            return ctx.missing(live, "imports")
        if lc is None:
            syn = next((f for f in imp.findings if f.code in ("syntax-error", "model-fn-signature")
                        and f.severity == "error"), None)
            if syn is not None:
                return Verdict(syn.code, "medium", syn.message, syn.evidence, {"notes": [syn.message]}, seen)
    # The first request: a request handler the toolkit's own call trips on (the load check's dry run).
    sig = next((f for f in (lc.findings if lc is not None and lc.ok else []) if f.code == "handler-signature"), None)
    if sig is None and lc is None and imp is not None:
        sig = next((f for f in imp.findings if f.code == "handler-signature" and f.severity == "error"), None)
    if sig is not None and log_code in _QUIET_LOGS + ("invocations-failing",):
        return Verdict("handler-signature", "high" if lc is not None else "medium", sig.message, sig.evidence,
                       {"notes": [sig.message]}, seen)
    if log_code not in _QUIET_LOGS:
        return Verdict(log_code, log_cause.get("confidence", "medium"), log_cause.get("summary", ""),
                       log_cause.get("evidence", []), {}, seen)
    if log_code == "ping-failing" and lc is not None and lc.ok:
        # The model loads here, the container's /ping fails there: the only signal is the health check, e.g. a
        # model load slower than the health check allows on that instance.
        return Verdict(log_cause.get("code", log_code), log_cause.get("confidence", "low"), log_cause.get("summary", ""),
                       log_cause.get("evidence", []), {}, seen)
    if log_code in ("no-logs", "logs-unreadable", None) or (log_code in _QUIET_LOGS and lc is None):
        return Verdict("inconclusive", "low", "Nothing explains a failure: " + "; ".join(seen),
                       log_cause.get("evidence", []), {}, seen)
    return Verdict("unknown", "low", "The archive loads and the logs show no known failure signature.",
                   [], {}, seen)


#: The stage of the container's start-up in which each cause the logs name happens.
STAGES = ("install", "import", "model_fn", "request")
_LOG_STAGE = {"disk-full": "install", "requirements-install-failed": "install", "syntax-error": "import",
              "missing-module": "import", "import-error": "import", "missing-entry-script": "import",
              "cuda-driver-mismatch": "model_fn", "model-fn-error": "model_fn", "out-of-memory": "model_fn",
              "worker-timeout": "model_fn", "invocation-error": "request", "model-fn-signature": "model_fn"}


def _install_set_aside(log_cause: dict[str, Any], imp: imports.ImportReport | None,
                       lc: LoadCheck | None) -> dict[str, Any] | None:
    """The logs' install failure, when it was seen only where the environment is not the image's: the load
    check, in the image's own environment (exact), installed the same code/requirements.txt, and the model has a
    failure of its own (which it then does not outrank). Not when pip could not reach its index there: the
    endpoint's network is the endpoint's."""
    if log_cause.get("code") != "requirements-install-failed" or lc is None or lc.skipped or lc.mode != "exact":
        return None
    if lc.stage not in ("import", "model_fn", "done", "crash", "timeout"):
        return None
    evidence = "\n".join(log_cause.get("evidence") or [])
    if NETWORK_ERROR.search(evidence) or "(from versions: none)" in evidence:
        return None  # pip there saw no release at all, where here it found one: the endpoint's index access
    own = (not lc.ok and lc.stage != "done") or bool(
        imp is not None and [p for p in imp.missing_packages if p not in _contradicted(imp, lc)])
    if not own:
        return None
    return {"code": "requirements-install-failed", "seen_by": ["logs"], "summary": log_cause.get("summary", ""),
            "why": "the load check installed the same code/requirements.txt in the image's own environment "
                   f"({lc.profile or 'the image'}, exact): the install failure in the logs happened where the "
                   "environment is not the image's, so it does not outrank the model's own failure",
            "evidence": list(log_cause.get("evidence") or [])[:3]}


@dataclass
class FixCheck:
    """The load check with the proposed fix laid into the extracted archive, round after round: each round adds
    what the previous one found missing (and a local folder provides) or drops the requirement lines that could
    not install and nothing imports. ``load_check``: the last round's result."""

    placements: list[imports.Placement] = field(default_factory=list)  # found by the rounds, beyond the static fix
    edit: imports.RequirementsEdit | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    load_check: LoadCheck | None = None

    def outcome(self) -> dict[str, Any]:
        lc = self.load_check
        if lc is None:
            return {"checked": False, "rounds": self.rounds}
        if lc.skipped:
            return {"checked": False, "why": lc.skipped, "rounds": self.rounds}
        sub = _startup_failure(lc)
        if lc.ok:
            summary = "with the fix laid in, the model loads (imports and model_fn pass)"
        elif lc.stage in ("model_fn", "crash") and not lc.missing_module:
            summary = (f"with the fix laid in, the imports pass; then model_fn fails: {lc.error_type}: {lc.error}"
                       + (f" ({sub.sub_cause})" if sub else ""))
        else:
            summary = f"with the fix laid in, the load check still fails at {lc.stage}: {lc.error_type}: {lc.error}"
        return {"checked": True, "ok": lc.ok, "stage": lc.stage, "error": f"{lc.error_type}: {lc.error}" if not lc.ok
                else None, "sub_cause": sub.sub_cause if sub else None, "advice": sub.advice if sub else None,
                "summary": summary, "rounds": self.rounds, "load_check": lc.to_dict()}


@dataclass
class _Views:
    """What the four views said, for building a verdict and its fix plan."""

    facts: EndpointFacts
    log_cause: dict[str, Any]
    arch: dict[str, Any]
    imp: imports.ImportReport | None
    lc: LoadCheck | None
    roots: dict[str, Path] | imports.SourceIndex
    seen: list[str]
    complete: imports.CompleteFix | None = None
    fix_check: FixCheck | None = None

    def placements(self, packages: list[str]) -> list[imports.Placement]:
        """The complete fix for ``packages`` and everything they need in turn: the static rounds (each folder
        once), what the load check with the fix laid in found next, then a placement for any package neither saw
        (e.g. one only the logs name)."""
        out: list[imports.Placement] = []
        if self.complete is not None:
            out += self.complete.placements + self.complete.unplaced
        if self.fix_check is not None:
            out += self.fix_check.placements
        covered = {p.package for p in out}
        out += [imports.place_package(p, self.imp, self.roots) for p in packages if p not in covered]
        return out

    def causes(self, v: Verdict, set_aside: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every real cause the views show, in the order the container meets them; the primary marked."""
        imp, lc, log = self.imp, self.lc, self.log_cause
        live = [p for p in (imp.missing_packages if imp else []) if p not in _contradicted(imp, lc)]
        phase_of: dict[str, str] = {}
        for r in (imp.imports if imp else []):
            if r.package in live and r.fails and r.runs and not r.guarded:
                phase_of.setdefault(r.package, r.phase)
        out: dict[tuple[str, str], dict[str, Any]] = {}

        def add(stage: str, code: str, summary: str, view: str, packages: list[str] | None = None) -> None:
            c = out.setdefault((stage, code), {"stage": stage, "code": code, "summary": summary, "seen_by": []})
            if view not in c["seen_by"]:
                c["seen_by"].append(view)
            if packages:
                c["packages"] = list(dict.fromkeys(c.get("packages", []) + packages))

        aside = {a["code"] for a in set_aside}
        log_code = log.get("code")
        worker_logged = log_code in _ROOT_CAUSES and _LOG_STAGE.get(log_code, "model_fn") != "install"
        if log_code in _ROOT_CAUSES and log_code not in aside:
            details = log.get("details") or {}
            if log_code == "missing-module":
                for pkg in [p for p in [details.get("package"), *(details.get("packages") or [])] if p]:
                    add(phase_of.get(pkg, "import"), "missing-module", "", "logs", [pkg])
            else:
                add(_LOG_STAGE.get(log_code, "model_fn"), log_code, log.get("summary", ""), "logs")
        if lc is not None and not lc.skipped and not lc.ok:
            if lc.stage == "requirements" and not worker_logged:  # the endpoint's own workers got past pip
                add("install", "requirements-install-failed", f"{lc.error_type}: {lc.error}", "load check")
            elif lc.missing_module:
                pkg = lc.missing_module.split(".")[0]
                add(phase_of.get(pkg, "model_fn" if lc.stage == "model_fn" else "import"), "missing-module", "",
                    "load check", [pkg])
            elif lc.stage in ("model_fn", "crash", "timeout"):
                sub = _startup_failure(lc)
                add("model_fn", "out-of-memory" if sub and sub.sub_cause == "out-of-memory" else "model-fn-error",
                    f"{lc.error_type}: {lc.error}" + (f" ({sub.sub_cause})" if sub else ""), "load check")
            elif lc.stage == "import":
                add("import", lc.findings[0].code if lc.findings else "import-error", f"{lc.error_type}: {lc.error}",
                    "load check")
        for pkg in live:
            add(phase_of.get(pkg, "import"), "missing-module", "", "imports", [pkg])
        for c in out.values():
            if c["code"] == "missing-module":
                c["summary"] = (f"{self.facts.program} needs {self.lacking(c.get('packages', []))}: "
                                + ("every request fails" if c["stage"] == "request" else "the worker dies at start-up"))
        stage = _LOG_STAGE.get(v.cause) or ("model_fn" if v.sub_cause else None)
        primary = next((c for c in out.values() if c["code"] == v.cause and (stage is None or c["stage"] == stage)),
                       None) or next((c for c in out.values() if c["code"] == v.cause), None)
        if primary is None and v.cause not in ("unknown", "inconclusive"):
            primary = out.setdefault((stage or "import", v.cause), {"stage": stage or "import", "code": v.cause,
                                                                   "summary": v.summary, "seen_by": []})
        if primary is not None:
            primary["primary"] = True
        return sorted(out.values(), key=lambda c: STAGES.index(c["stage"]) if c["stage"] in STAGES else len(STAGES))

    def merge_fix(self, v: Verdict) -> None:
        """The primary's fix plus the fixes of the other real causes, applied together: the missing packages of
        every stage (placed once each) and the requirement lines to drop."""
        fix = v.fix
        wanted = [p for c in v.causes if c["code"] == "missing-module" for p in c.get("packages", [])]
        if wanted and v.cause != "missing-module":
            plan = self._fix_plan(self.placements(wanted))
            have_s = {a["source"] for a in fix.get("additions", [])}
            have_t = {a["target"] for a in fix.get("additions", [])}
            fix["additions"] = list(fix.get("additions", [])) + [
                a for a in plan["additions"] if a["source"] not in have_s and a["target"] not in have_t]
            fix["extras"] = list(fix.get("extras", [])) + [e for e in plan["extras"] if e not in fix.get("extras", [])]
            fix["notes"] = list(fix.get("notes", [])) + [n for n in plan["notes"] if n not in fix.get("notes", [])]
            fix["packages"] = list(dict.fromkeys(list(fix.get("packages") or []) + wanted))
        edit = self.fix_check.edit if self.fix_check is not None else None
        if edit is not None:
            fix["requirements"] = edit.to_dict()
            fix.setdefault("notes", []).append(
                f"drop {', '.join(map(repr, edit.lines))} from code/requirements.txt: {edit.why} (the diff is in "
                "fix.requirements.diff; step 2 applies it)")
        if self.complete is not None:
            fix["search"] = self.complete.search
        runner = [{"package": p.package, "chosen": p.source, "runner_up": p.runner_up}
                  for p in self.placements([]) if p.runner_up]
        if runner:
            fix["runner_up"] = runner

    def lacking(self, packages: list[str]) -> str:
        """What the archive lacks of ``packages``: the package, or, when the archive has it, its missing module."""
        subs = {p.package: p.submodule for p in self.placements([]) if p.submodule}
        whole = [p for p in packages if p not in subs]
        parts = [f"{', '.join(map(repr, whole))}, which the archive lacks"] if whole else []
        parts += [f"{subs[p]!r} ({p} is in the archive, that module is not)" for p in packages if p in subs]
        return "; ".join(parts)

    def missing(self, packages: list[str | None], first: str) -> Verdict:
        imp, lc, log_cause = self.imp, self.lc, self.log_cause
        live = [p for p in (imp.missing_packages if imp else []) if p not in _contradicted(imp, lc)]
        missing = list(dict.fromkeys([p for p in packages if p] + live))
        log_pkgs = set((log_cause.get("details") or {}).get("packages") or []) | \
            {(log_cause.get("details") or {}).get("package")} if log_cause.get("code") == "missing-module" else set()
        lc_pkg = lc.missing_module.split(".")[0] if lc is not None and lc.missing_module else None
        static = set(imp.missing_packages) if imp is not None else set()
        votes = sum([bool(log_pkgs & set(missing)), lc_pkg in missing, bool(static & set(missing))])
        confidence = "high" if votes >= 2 else "medium"
        evidence: list[str] = []
        if log_pkgs:
            evidence += log_cause.get("evidence", [])[:4]
        if imp is not None:
            evidence += [r.evidence for r in imp.imports if r.package in missing and r.fails and r.runs][:3]
        if lc_pkg in missing:
            evidence.append(f"load check: ModuleNotFoundError: No module named '{lc.missing_module}'")  # type: ignore[union-attr]
        placements = self.placements(missing)
        fix = self._fix_plan(placements)
        then = [p.package for p in placements if p.package not in missing and not p.guarded]
        fix["packages"] = list(dict.fromkeys(missing + [p.package for p in placements]))
        phases = {r.phase for r in (imp.imports if imp else []) if r.package in missing and r.fails and r.runs}
        when = ("every worker dies at start-up" if (log_pkgs or lc_pkg or phases & {"import", "model_fn"} or not phases)
                else "every request fails")
        where = ", ".join(f"{a['source']} → {a['target']}" for a in fix["additions"]) or "(no local source found)"
        more = (f", and {', '.join(map(repr, dict.fromkeys(then)))} that {'those import' if len(missing) > 1 else 'it imports'}"
                " in turn" if then else "")
        subs = {p.package: p.submodule for p in placements if p.submodule}
        whole = [m for m in missing if m not in subs]
        what = (f"The archive lacks the source package{'s' if len(whole) > 1 else ''} "
                f"{', '.join(repr(m) for m in whole)} that {self.facts.program} imports{more}" if whole else "")
        what = "; ".join([what] * bool(what) + [f"{p} is in the archive but {subs[p]} is not"
                                                  for p in missing if p in subs])
        return Verdict("missing-module", confidence, f"{what}; {when}. Fix: add {where}.", evidence, fix, self.seen)

    def startup(self, sub: StartupFailure, confidence: str, evidence: list[str]) -> Verdict:
        # Static failures the load check did not reach (model_fn stopped before them) come next: fix them too.
        later = [p for p in (self.imp.startup_missing_packages if self.imp else [])
                 if p not in _contradicted(self.imp, self.lc)]
        wanted = [sub.data["archive_path"]] if sub.sub_cause == "missing-artifact" and sub.data.get("archive_path") \
            else []
        fix = self._fix_plan(self.placements(later) if later else [], wanted=wanted)
        fix["notes"] = [sub.advice] + fix["notes"] + (
            [f"after that, the code imports {', '.join(map(repr, later))}, which the archive also lacks"] if later else [])
        if later:
            fix["packages"] = later
        where = next((e for e in evidence if "code/" in e), None)
        ev = list(dict.fromkeys(sub.evidence + evidence + ([where] if where else [])))
        if self.lc is not None and not self.lc.ok:
            inner = next((e for f in self.lc.findings for e in f.evidence if "code/" in e), None)
            if inner:
                ev.append(inner)
        summary = f"The model does not load: {sub.summary}. {sub.advice}"
        if sub.sub_cause == "model-fn-signature":
            named = self._named("model-fn-signature")
            if named is not None:
                summary = f"The model does not load: {named.message}"
                fix["notes"] = [named.message] + fix["notes"][1:]
                ev = list(dict.fromkeys(named.evidence + ev))
        elif sub.sub_cause == "network-at-startup":
            needs = [f for f in _network_needs(self.facts, self.imp, self.lc) if f.severity != "info"] or \
                _network_needs(self.facts, self.imp, self.lc)
            reach = endpoint_reach(self.facts.network_isolation, self.facts.vpc_config)
            if needs:
                summary = f"The model does not load: {sub.summary}. " + " ".join(f.message for f in needs[:2])
                fix["notes"] = [f.message for f in needs] + fix["notes"][1:]
            fix["endpoint_reach"] = reach.to_dict()
        cause = sub.sub_cause if sub.sub_cause in ("out-of-memory", "model-fn-signature") else "model-fn-error"
        return Verdict(cause, confidence, summary, ev, fix, self.seen, sub_cause=sub.sub_cause)

    def _named(self, code: str) -> Finding | None:
        """The load check's finding of ``code`` (its evidence is the container's), else the static analysis's."""
        for f in [*(self.lc.findings if self.lc is not None else []), *(self.imp.findings if self.imp else [])]:
            if f.code == code:
                return f
        return None

    def _fix_plan(self, placements: list[imports.Placement], wanted: list[str] | None = None) -> dict[str, Any]:
        """Each folder placed once: packages where the script imports them from, data where the code reads it."""
        present = {m["path"] for m in self.arch.get("members", [])}
        # Optional reads too (the code falls back without them): a source root that has the file offers it.
        reads = [r for r in ((self.imp.reads + self.imp.optional_reads if self.imp else []) + list(wanted or []))
                 if not _present(r, present)]
        read_tops = {r.split("/", 1)[0] for r in reads if "/" in r}
        additions: list[dict[str, str]] = []
        notes: list[str] = []
        extras: list[dict[str, str]] = []
        sources: set[str] = set()
        targets: set[str] = set()

        def place(bucket: list[dict[str, str]], source: str, target: str, why: str, package: str | None) -> None:
            if source in sources or target in targets or any(source.startswith(s + "/") for s in sources):
                return
            sources.add(source)
            targets.add(target)
            bucket.append({**({"package": package} if package else {}), "source": source, "target": target,
                           "why": why})

        for p in placements:
            if p.action == "copy" and p.source and p.target:
                target = p.target
                if p.package in read_tops and not p.target.endswith(".py"):  # also read as data from the root
                    target = f"{p.package}/"
                    why = f"{p.reason}; the code also reads {MODEL_DIR}/{p.package}/, which is on the import path"
                else:
                    why = p.reason
                if p.guarded:
                    why += ("; the code imports it under a handler that carries on without it (a degraded path): "
                            "added so that path is not taken")
                place(additions, p.source, target, why, p.package)
            elif p.action == "requirement":
                notes.append(f"add {p.requirement} to code/requirements.txt ({p.reason})")
            elif p.action == "move":
                notes.append(f"move {p.source} to {p.target} inside the archive ({p.reason})")
            else:
                notes.append(f"{p.package}: {p.reason}")
        for r in reads:
            top, _, rest = r.partition("/")
            roots = self.roots.roots if isinstance(self.roots, imports.SourceIndex) else self.roots
            for root in roots.values():
                if rest and (root / top).is_dir() and (root / r).exists():
                    place(extras, str(root / top), f"{top}/", f"the code reads {MODEL_DIR}/{r}, which the archive "
                          f"lacks; {root / top} has it", None)
                    break
                if not rest and (root / r).is_file():
                    place(extras, str(root / r), r, f"the code reads {MODEL_DIR}/{r}, which the archive lacks", None)
                    break
        return {"additions": additions, "extras": extras, "notes": notes}


def _present(path: str, present: set[str]) -> bool:
    return path in present or any(p.startswith(path + "/") for p in present)


def _reconcile(findings: list[Finding], verdict: Verdict, imp: imports.ImportReport | None,
               lc: LoadCheck | None) -> list[Finding]:
    """No contradictions beside the verdict: "degraded/latent" notes about the package the verdict names are
    dropped; static errors the load check imported past become notes."""
    named = set(verdict.fix.get("packages") or [])
    gone = _contradicted(imp, lc) - named
    out = []
    for f in findings:
        pkg = f.data.get("package") if isinstance(f.data, dict) else None
        if pkg in named and f.code in _SOFT_IMPORT_CODES:
            continue
        if pkg in gone and f.code in ("missing-module", "source-outside-import-path") and f.severity == "error":
            f = Finding(f.code, "info", f"The load check imported past this, so it is not the failure: {f.message}",
                        f.evidence, {**f.data, "contradicted_by": "load check"})
        out.append(f)
    return out


def _kind_limits(facts: EndpointFacts, arch: dict[str, Any]) -> list[Finding]:
    """A serverless endpoint held against the serverless limits (memory, concurrency, GPU, the model data's unpacked
    size against its storage and memory); nothing for the other kinds."""
    if facts.kind != "serverless":
        return []
    summary = arch.get("summary") or {}
    size = summary.get("total_size") if arch.get("readable") else None
    return serverless_findings(facts.serverless_config, image=facts.image, model_bytes=size,
                               variants=len(facts.variants) or 1)


def run(aws: Aws, *, run_dir: str, endpoint_name: str, log_window_minutes: float = 60.0,
        max_log_events: int = 20000, source_roots: list[str] | None = None, load_check: bool = True,
        expected_paths: list[str] | None = None, progress: Callable[[str], None] | None = None) -> Diagnosis:
    """Diagnose ``endpoint_name`` and write ``01-diagnose.json``. Raises only for bad input (unknown endpoint);
    an inconclusive diagnosis is a verdict, not an error. The sub-steps (:func:`describe`, :func:`read_logs`,
    :func:`read_archive`, :func:`resolve_imports`, :func:`check_load`, :func:`conclude`) in one call."""
    d = describe(aws, run_dir=run_dir, endpoint_name=endpoint_name, source_roots=source_roots,
                 load_check=load_check, progress=progress)
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
             load_check: bool = True, progress: Callable[[str], None] | None = None) -> Diagnosing:
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
    return Diagnosing(run_dir=run_dir, started=started, facts=facts, roots=roots, load_check=load_check,
                      arch={"uri": facts.model_data_url, "readable": False, "findings": [], "presence": []})


def read_logs(aws: Aws, d: Diagnosing, *, log_window_minutes: float = 60.0, max_log_events: int = 20000,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sub-step 2: the endpoint's CloudWatch logs matched against the crash signatures."""
    say = progress or (lambda _m: None)
    say("reading CloudWatch logs")
    read = logs.read_endpoint_logs(aws.client("logs"), d.facts.name,
                                   start=dt.timedelta(minutes=log_window_minutes), max_events=max_log_events)
    d.log_ev = {"read": read.to_dict(), **logs.analyze(read).to_dict()}
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
    from .serving.image_profiles import profile_for_image

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
    if not drop:
        return None
    before = list(edit.drop) if edit is not None else []
    return imports.drop_requirements(req_raw, before + [x for x in drop if x not in before], why=(
        "pip cannot install it in the image's own environment, and no code in the archive imports it"))


def _place_found_missing(d: Diagnosing, model_dir: Path, lc: LoadCheck, used: set[str]) -> imports.Placement | None:
    """A module the load check with the fix found missing (one the static reading could not see, e.g. a dynamic
    import, or one unpickling needs): placed from the source roots when a local folder provides it."""
    if not lc.missing_module or lc.stage not in ("import", "model_fn"):
        return None
    from .serving.image_profiles import profile_for_image

    top = lc.missing_module.split(".")[0]
    report = imports.resolve_imports(model_dir, program=d.facts.program,
                                     image_modules=profile_for_image(d.facts.image).modules)
    wanted = [p for p in imports.place_missing(report, d.sources_index) if p.package == top]
    if not wanted and not (model_dir / "code" / top).exists() and not (model_dir / top).exists():
        wanted = [imports.place_package(top, report, d.sources_index)]
    return next((p for p in wanted if p.action == "copy" and p.source not in used), None)


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
    started = d.started
    diagnosis = Diagnosis(endpoint=facts, logs=log_ev, archive=arch, imports=imp.to_dict() if imp else None,
                          load_check=lc, verdict=verdict, findings=findings, started=started.isoformat(),
                          seconds=round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2))
    write_record(d.run_dir, "diagnose", diagnosis.to_dict())
    d.drop_check_dir()
    return diagnosis
