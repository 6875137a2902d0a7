"""Step 5 — clean up: delete the broken endpoint and what only it uses, and nothing else.

``plan`` looks before anything changes: for the named endpoint(s) it lists, in dependency order, the
application-autoscaling scaling policies and scalable targets of their variants, the endpoint, its endpoint
config, the config's model(s) and (opt-in) the async output/failure objects under the config's S3 paths.
Each item says ``delete``, ``keep`` (with the reason: another endpoint or config still uses it, or the caller
asked to keep it), ``refuse`` (a guard tripped: the endpoint served successful requests in the last N minutes,
it is the endpoint steps 3/4 deployed and verified, it is Creating/Updating, requests are queued, or it is the
endpoint step 1 diagnosed and no fix of the run serves in its place: deleting it would leave nothing serving)
or ``absent`` (already gone).
Sharing is found by scanning every endpoint and endpoint config of the account/region.

``execute`` deletes the plan's ``delete`` items (and, with ``force``, its ``refuse`` items) in order, only
when ``confirm`` equals the endpoint name(s); guards and sharing are checked again right before each delete,
each delete is waited on until the resource is gone. ``run`` is the notebook's entry point: dry-run by default,
records ``<run-dir>/05-cleanup.json``, and remembers what the named endpoints reached so a rerun after a partial
failure (the endpoint already gone, its config not) finishes the job.
"""

from __future__ import annotations

from . import model
from .execute import execute
from .guards import endpoint_guards, verified_endpoints
from .model import *  # noqa: F403 (the data types and names, re-exported; see model.__all__)
from .plan import plan
from .scan import AccountScan, scan

__all__ = [*model.__all__, "AccountScan", "plan", "execute", "scan", "endpoint_guards",
           "verified_endpoints"]
