"""Step 1's verdict: four independent views (the logs, the archive, the imports, the load check) reconciled into
one cause, the stage it fails in, the evidence and the fix (:class:`Verdict`, :class:`Diagnosis`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import archive, imports, logs
from ..findings import Finding
from ..imports import MODEL_DIR
from ..serving.loadcheck import LoadCheck
from ..serving.pip_output import index_unreached
from ..step_records import EndpointFacts
from .kind import serverless_findings
from .network_reach import endpoint_reach, network_needs
from .startup_failure import StartupFailure, classify_startup_failure

__all__ = ["STAGES", "Verdict", "Diagnosis", "FixCheck"]


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


_ROOT_CAUSES = frozenset(logs.CAUSE_PRECEDENCE)
_QUIET_LOGS = (None, "no-logs", "no-known-signature", "logs-unreadable", "healthy", "worker-crash-loop",
               "ping-failing")
#: Log causes that name a failing model_fn: the load check's sub-cause (missing artifact, memory, versions) says more.
_MODEL_FN_CODES = ("model-fn-error", "out-of-memory", "model-file-not-found", "cuda-out-of-memory")


def _log_code(log_cause: dict[str, Any]) -> str | None:
    """The log verdict's code, as diagnose weighs it: a verdict read off symptoms alone (a failing or timed-out
    /ping, an unbound socket) is as quiet as issue 14's ping-failing, and one guessed from an error line's words as
    quiet as no signature, so the load check still gets its say."""
    code = log_cause.get("code")
    if (log_cause.get("details") or {}).get("guessed"):
        # a guess from an error line's words (logs.vocabulary), no rule's message: weigh what the log says without it
        otherwise = log_cause["details"].get("otherwise") or {"code": "no-known-signature"}
        return _log_code({"code": otherwise["code"], "details": {"from_symptoms": otherwise.get("from_symptoms")}})
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
    if log_cause.get("code") != "requirements-install-failed" or lc is None or not lc.installed_in_image:
        return None
    if any(index_unreached([str(x) for x in log_cause.get("evidence") or []])):
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

        def place(bucket: list[dict[str, str]], source: str, target: str, why: str, package: str | None,
                  kind: str | None = None) -> None:
            if source in sources or target in targets or any(source.startswith(s + "/") for s in sources):
                return
            sources.add(source)
            targets.add(target)
            bucket.append({**({"package": package} if package else {}), "source": source, "target": target,
                           "why": why + archive.addition_note(source), **({"kind": kind} if kind else {})})

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
                place(additions, p.source, target, why, p.package, p.source_kind)
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
