"""Step 1's fetches for the archive: what an endpoint that reaches no host needs in it, fetched into the run dir for
step 2 to add — the wheels of code/requirements.txt (pip reaches no index) and the weights model_fn would download
(the files the user points at, :mod:`endpoint_runbook.endpoint.weights`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .. import imports
from ..aws import Aws
from ..endpoint import remedies
from ..endpoint.network_reach import endpoint_reach

Diagnosing = Any  # steps.diagnose.Diagnosing (which imports this module)

__all__ = ["WHEELS", "weights", "wheels"]


def weights(aws: Aws, d: Diagnosing, verdict: Any) -> None:
    """The model fails at start-up on a download the endpoint cannot make: the weights it fetches, from where
    ``diagnose.weights`` points (fetched into the run dir), go into the archive where the library looks first, and
    the variable that sends it there into the model; without pointers, notes saying what to point at. An endpoint
    that reaches the host gets none: its failure is not the network's."""
    from ..endpoint.weights import fetcher, plan_weights, seen_urls

    if verdict.sub_cause != "network-at-startup" and verdict.cause != "network-unreachable":
        return
    if endpoint_reach(d.facts.network_isolation, d.facts.vpc_config).reach == "yes" and not d.weights:
        return
    downloads = [x.to_dict() for x in (d.imp.downloads if d.imp else [])]
    said = list(d.lc.output_tail if d.lc is not None else []) + list(verdict.evidence or [])
    plan = plan_weights(downloads, d.weights, fetcher(aws.client("s3")), Path(d.run_dir) / "vendor" / "weights",
                        environment=d.facts.environment or {}, seen=seen_urls(said))
    fix = verdict.fix
    if plan.additions:
        fix["additions"] = [*fix.get("additions", []), *plan.additions]
        fix["remedies"] = [*fix.get("remedies", []), *(r.to_dict() for r in plan.remedies)]
    fix.setdefault("notes", []).extend([r.note for r in plan.remedies if r.where != "archive"] + plan.notes)


#: Where the wheels of an endpoint without a route to an index go, under code/ (pip reads its relative
#: ``--find-links`` beside code/requirements.txt).
WHEELS = "wheels"


def wheels(d: Diagnosing, verdict: Any, found: dict[str, Any]) -> remedies.Remedy | None:
    """The endpoint's pip reaches no index (``found``: :func:`remedies.index_unreachable`): the wheels of what pip
    installs here for code/requirements.txt, fetched into the run dir for step 2 to put under code/wheels/, and
    the requirements edit that installs from them. The verdict names the cause when the install failure was it."""
    from ..serving.env import ServingEnvError, ensure_serving_env
    from ..serving.vendor import VendorError, vendor_wheels

    raw = d.sources.get("code/requirements.txt")
    if raw is None:
        return None
    dest = Path(d.run_dir) / "vendor" / WHEELS
    shutil.rmtree(dest, ignore_errors=True)
    try:
        wheels = vendor_wheels(ensure_serving_env(d.facts.image), raw.decode("utf-8", "replace"), None, dest)
    except (VendorError, ServingEnvError) as e:
        verdict.fix.setdefault("notes", []).append(f"The container's pip reaches no package index, and the wheels "
                                                   f"could not be fetched here to put in the archive: {e}")
        return None
    reach = found["reach"]
    if verdict.cause == "requirements-install-failed":
        verdict.cause = "requirements-unreachable"
        verdict.confidence = "high" if reach["reach"] == "no" or found["network_lines"] else "medium"
        verdict.summary = (f"pip in the container reaches no package index ({reach['why']}), where here, in the "
                           "image's own environment, it installs the same code/requirements.txt: the wheels go into "
                           f"the archive (code/{WHEELS}/) and pip installs from there.")
        verdict.evidence = list(dict.fromkeys([*found["evidence"], *verdict.evidence]))[:6]
    verdict.seen.append("load check: code/requirements.txt installs here, in the image's own environment")
    files = [w["file"] for w in wheels]
    names = ", ".join(f"{w['name']} {w['version']}" for w in wheels) or "none"
    why = (f"the endpoint's pip reaches no index ({reach['why']}); here pip installs {len(wheels)} distribution(s) "
           f"beyond the image's: {names}")
    verdict.fix["requirements"] = imports.install_offline(raw, WHEELS if wheels else None, why=why).to_dict()
    if wheels:
        verdict.fix["additions"] = [*verdict.fix.get("additions", []),
                                    {"source": str(dest), "target": f"code/{WHEELS}", "package": "", "kind": "wheels"}]
    return remedies.Remedy("requirements-unreachable", "archive", f"code/{WHEELS}/", None, files, why,
                           {"wheels": len(files), "bytes": sum(w["bytes"] for w in wheels),
                            "endpoint_reach": reach["reach"]}, applied_by="step 2")
