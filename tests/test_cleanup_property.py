"""Clean-up safety as a property (issue 8, item 3).

Hypothesis draws small accounts — endpoints sharing configs, configs sharing models, some variants autoscaled,
maybe one endpoint that steps 3/4 verified — plus a random set of endpoints to clean up, a random confirm token
(right, reordered, missing a name, typo'd, empty), force, dry run and a keep list. Each account lives under its
own name prefix on the shared moto server and is removed after the example.

For every example: nothing outside the plan is deleted, no config/model is deleted while something still uses
it, the verified endpoint is never deleted without force, a wrong token or a dry run deletes nothing, what is
deleted is exactly what an independent oracle expects, and a rerun changes nothing.

``STATS`` / ``cleanup_property_stats()`` hold the counts for the reliability report (cases tried, deletions,
wrongful deletions); with ``ENDPOINT_RUNBOOK_REPORT_DIR`` set they are also written to
``<dir>/cleanup-property.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cleanup_audit
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.errors import CheckFailed, InputError
from endpoint_runbook.records import read_record, write_record
from endpoint_runbook.steps import cleanup as cleanup_step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability import record_case
from test_cleanup import Account, deleted_between

MAX_EXAMPLES = 40
STATS: dict[str, int] = {"cases": 0, "deleting_runs": 0, "deletions": 0, "wrongful_deletions": 0,
                         "blocked": 0, "confirm_rejected": 0, "dry_runs": 0, "reruns_changed": 0}


def cleanup_property_stats() -> dict[str, int]:
    """The counts for the reliability report (issue 8 item 5): must show wrongful_deletions == 0."""
    return dict(STATS)


@dataclass
class Scenario:
    configs: list[list[int]]  # config k → model indexes
    endpoints: list[int]  # endpoint k → config index
    autoscaled: set[int]
    verified: int | None
    targets: list[int]  # endpoint indexes; len(endpoints) means "a name that does not exist"
    token: str  # exact, reversed, missing, typo, empty, extra
    force: bool
    dry_run: bool
    keep: list[tuple[str, int]]  # ("model"|"config"|"endpoint", index)
    n_models: int


@st.composite
def scenarios(draw: Any) -> Scenario:
    n_models = draw(st.integers(1, 4))
    n_configs = draw(st.integers(1, 4))
    configs = [draw(st.lists(st.integers(0, n_models - 1), min_size=1, max_size=2, unique=True))
               for _ in range(n_configs)]
    n_endpoints = draw(st.integers(1, 4))
    endpoints = [draw(st.integers(0, n_configs - 1)) for _ in range(n_endpoints)]
    return Scenario(
        configs=configs, endpoints=endpoints,
        autoscaled=draw(st.sets(st.integers(0, n_endpoints - 1), max_size=2)),
        verified=draw(st.none() | st.integers(0, n_endpoints - 1)),
        targets=draw(st.lists(st.integers(0, n_endpoints), min_size=1, max_size=3, unique=True)),
        token=draw(st.sampled_from(["exact", "exact", "exact", "reversed", "missing", "typo", "empty", "extra"])),
        force=draw(st.booleans()),
        dry_run=draw(st.sampled_from([False, False, False, True])),
        keep=draw(st.lists(st.tuples(st.sampled_from(["model", "config", "endpoint"]), st.integers(0, 3)),
                           max_size=2)),
        n_models=n_models,
    )


def _token(names: list[str], kind: str) -> str:
    exact = ",".join(names)
    if kind == "exact":
        return exact
    if kind == "reversed":
        return ",".join(reversed(names)) if len(names) > 1 else exact + "-x"
    if kind == "missing":
        return ",".join(names[:-1]) if len(names) > 1 else ""
    if kind == "typo":
        return exact[:-1] + ("X" if exact[-1] != "X" else "Y")
    if kind == "extra":
        return exact + ",another-endpoint"
    return ""


def _oracle(sc: Scenario, ep: list[str], cf: list[str], md: list[str], keep: set[str],
            verified: str | None, rids: dict[int, str]) -> set[tuple[str, str]]:
    """What must be deleted, worked out from the drawn account alone."""
    targets = [t for t in sc.targets if t < len(ep)]
    going = [t for t in targets if ep[t] not in keep]
    if any(ep[t] == verified for t in going) and not sc.force:
        return set()
    survivors = [k for k in range(len(ep)) if k not in going]
    reached_cfgs = {sc.endpoints[t] for t in targets}
    del_cfgs = {c for c in reached_cfgs if cf[c] not in keep and all(sc.endpoints[s] != c for s in survivors)}
    reached_models = {m for c in reached_cfgs for m in sc.configs[c]}
    del_models = {m for m in reached_models if md[m] not in keep
                  and all(c in del_cfgs for c in range(len(cf)) if m in sc.configs[c])}
    out = {("endpoint", ep[t]) for t in going} | {("endpoint-config", cf[c]) for c in del_cfgs}
    out |= {("model", md[m]) for m in del_models}
    for t in going:
        if t in sc.autoscaled:
            out |= {("scalable-target", rids[t]), ("scaling-policy", f"{rids[t]}:invocations")}
    return out


def test_cleanup_never_deletes_wrongly(moto_url):
    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=moto_url, max_attempts=2))
    start_cases = STATS["cases"]

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(sc=scenarios())
    def check(sc: Scenario) -> None:
        acct = Account(aws, prefix=f"p{uuid.uuid4().hex[:8]}")
        try:
            md = [acct.model(f"m{k}") for k in range(sc.n_models)]
            cf = [acct.config(f"c{k}", [md[m] for m in ms]) for k, ms in enumerate(sc.configs)]
            ep = [acct.endpoint(f"e{k}", cf[c]) for k, c in enumerate(sc.endpoints)]
            variant_of = {k: ("AllTraffic" if len(sc.configs[c]) == 1 else "v0") for k, c in enumerate(sc.endpoints)}
            rids = {k: acct.autoscale(ep[k], variant=variant_of[k]) for k in sorted(sc.autoscaled)}
            names = [ep[t] if t < len(ep) else acct.n("no-such-endpoint") for t in sc.targets]
            pools = {"model": md, "config": cf, "endpoint": ep}
            keep = {pools[kind][i] for kind, i in sc.keep if i < len(pools[kind])}
            verified = ep[sc.verified] if sc.verified is not None else None
            confirm = _token(names, sc.token)
            token_ok = confirm == ",".join(names)

            with tempfile.TemporaryDirectory() as run_dir:
                if verified:
                    write_record(run_dir, "verify", {"endpoint": {"name": verified}})
                before = acct.snapshot()
                error: Exception | None = None
                try:
                    cleanup_step.run(aws, run_dir=run_dir, endpoint_name=names, confirm=confirm, dry_run=sc.dry_run,
                                force=sc.force, keep=sorted(keep), recent_minutes=60, poll_seconds=0.05,
                                progress=lambda _m: None)
                except (InputError, CheckFailed) as e:
                    error = e
                after = acct.snapshot()
                rec = read_record(run_dir, "cleanup")
                plan = rec["plan"] if rec else None
                wrong = cleanup_audit.wrongful_deletions(before, after, plan, force=sc.force,
                                                   verified=[verified] if verified else [])
                gone = deleted_between(before, after)
                STATS["cases"] += 1
                STATS["deletions"] += len(gone)
                STATS["wrongful_deletions"] += len(wrong)
                record_case("cleanup-property", completed=error is None, stopped_cleanly=error is not None,
                            wrongful_deletions=len(wrong), name=sc.token)
                assert wrong == [], wrong

                if not token_ok and (not sc.dry_run or confirm):
                    STATS["confirm_rejected"] += 1
                    assert isinstance(error, InputError) and error.code == "confirm-mismatch"
                    assert rec is None and gone == set()
                    return
                if sc.dry_run:
                    STATS["dry_runs"] += 1
                    assert error is None and rec["status"] == "dry-run" and gone == set()
                    return
                STATS["deleting_runs"] += 1
                expected = _oracle(sc, ep, cf, md, keep, verified, rids)
                assert gone == expected, (gone ^ expected)
                if rec["status"] == "blocked":
                    STATS["blocked"] += 1
                    assert isinstance(error, CheckFailed) and not sc.force and gone == set()
                    return
                assert error is None and rec["status"] in ("done", "nothing-to-do"), (error, rec["status"])

                # A second run with the same parameters changes nothing.
                again = cleanup_step.run(aws, run_dir=run_dir, endpoint_name=names, confirm=confirm, dry_run=False,
                                    force=sc.force, keep=sorted(keep), poll_seconds=0.05, progress=lambda _m: None)
                final = acct.snapshot()
                if final != after or again.changed:
                    STATS["reruns_changed"] += 1
                assert final == after and again.status == "nothing-to-do"
        finally:
            acct.teardown()

    check()
    tried = STATS["cases"] - start_cases
    assert tried >= MAX_EXAMPLES // 2  # hypothesis really ran the examples
    assert STATS["wrongful_deletions"] == 0
    assert STATS["deletions"] > 0 and STATS["confirm_rejected"] > 0  # the draws exercised both paths
    out = os.environ.get("ENDPOINT_RUNBOOK_REPORT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "cleanup-property.json").write_text(json.dumps(cleanup_property_stats(), indent=2) + "\n")
