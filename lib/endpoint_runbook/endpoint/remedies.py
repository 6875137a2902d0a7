"""A remedy per start-up failure: what diagnose proposes beside (or instead of) code added to the archive, shown as
a diff of what will be deployed before anything changes, and applied in place by step 3.

Each :class:`Remedy` names where it acts (``endpoint-config``: a production variant's field; ``model``: a container
environment variable; ``archive``: a file step 2 rewrites; ``code``: a change only the user can make, named and never
applied), the value before and after, and what the value was sized from (a measurement of the load check, the
archive's size). A remedy is proposed only where the evidence says the cause is real: a health-check timeout is
never raised for a model that crashes, a larger instance never proposed without a measured memory need.

Values stay within SageMaker's API ranges (``ContainerStartupHealthCheckTimeoutInSeconds`` and
``ModelDataDownloadTimeoutInSeconds`` 60–3600, ``VolumeSizeInGB`` 1–512). ``params`` (``deploy.remedies``) can turn a
remedy off (``off``) or set its value: :func:`with_params`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from ..records import parse_iso
from .hf_task import hf_task_failure, propose_task

__all__ = [
    "HEALTH_CHECK", "DOWNLOAD_TIMEOUT", "VOLUME", "WHERE", "Remedy", "entry_script_candidates", "propose",
    "slow_start", "download_timed_out", "after_the_fix", "with_params", "variant_overrides", "environment_overrides",
    "diff_lines",
]

HEALTH_CHECK = "ContainerStartupHealthCheckTimeoutInSeconds"
#: The SageMaker inference toolkit's model-server response timeout (TorchServe's ``default_response_timeout``, MMS's
#: ``default_response_timeout``): a worker whose model_fn runs longer is killed ("Backend worker did not respond in
#: given time") and restarted, while ``/ping`` answers 200 — the crash loop of a slow load on those images.
SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
_SERVER_TIMEOUT_DEFAULT = 60.0
#: Log causes a load slower than the model server allows shows as (the worker killed at start-up).
_SLOW_LOG_CAUSES = ("startup-health-check-timeout", "worker-timeout")
DOWNLOAD_TIMEOUT = "ModelDataDownloadTimeoutInSeconds"
VOLUME = "VolumeSizeInGB"
WHERE = ("endpoint-config", "model", "archive", "code")
#: SageMaker's ranges for the variant fields a remedy sets (CreateEndpointConfig's API reference).
_RANGES = {HEALTH_CHECK: (60, 3600), DOWNLOAD_TIMEOUT: (60, 3600), VOLUME: (1, 512)}
#: The health-check window a remedy gives: the start-up measured here, twice (an instance can be slower than this
#: machine, and the model server's own start comes on top), plus a minute, in whole minutes.
_HEALTH_MARGIN, _HEALTH_EXTRA = 2.0, 60.0
#: A load that takes less than this share of the window the endpoint had does not explain a failed health check.
_SLOW_SHARE = 0.5
#: The download rate a timeout is sized for (S3 to an ML instance, conservatively) and its margin.
_DOWNLOAD_BYTES_PER_S, _DOWNLOAD_MARGIN = 25e6, 3.0
#: The copies of the model's files the volume holds at once: the archive, its extraction, the model server's copy
#: of the model directory (MMS/TorchServe's model store).
_VOLUME_COPIES = 3
_HANDLERS = re.compile(rb"^def (model_fn|predict_fn|transform_fn|input_fn|output_fn)\s*\(", re.M)


@dataclass
class Remedy:
    """One change of what is deployed. ``field``: the variant field, the environment variable or the archive file;
    ``before``/``after``: its values (None: not set, SageMaker's default); ``why``: what it answers and what it was
    sized from; ``applied_by``: the step that makes the change (``you`` for code); ``set_by``: diagnose or params."""

    cause: str
    where: str
    field: str
    before: Any
    after: Any
    why: str
    sized_from: dict[str, Any] = field(default_factory=dict)
    applied_by: str = "step 3"
    enabled: bool = True
    set_by: str = "diagnose"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Remedy:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def line(self) -> str:
        """``where field: before → after`` as a diff line reads."""
        before = "not set (SageMaker's default)" if self.before is None else self.before
        return f"{self.where} {self.field}: {before} → {self.after}"

    @property
    def note(self) -> str:
        """The verdict's note for it: ``where field: before → after (why)``."""
        return f"{self.where} {self.field}: {'not set' if self.before is None else self.before} → {self.after} ({self.why})"


def _clamp(name: str, value: float) -> int:
    lo, hi = _RANGES[name]
    return int(min(hi, max(lo, value)))


def _startup_seconds(lc: Any, *, install: bool = False) -> float | None:
    """The model's start-up as the load check measured it: its import and model_fn, and with ``install`` pip's
    install of code/requirements.txt before them (the toolkit installs before it starts the model server: /ping waits
    for it, a worker's timeout does not); None when it did not finish."""
    if lc is None or not getattr(lc, "ok", False):
        return None
    parts = [getattr(lc, "import_seconds", None), getattr(lc, "model_fn_seconds", None)]
    parts += [getattr(lc, "install_seconds", None)] if install else []
    known = [float(p) for p in parts if p is not None]
    return sum(known) if known else None


def _health_window(facts: Any, default: float) -> tuple[float | None, float]:
    """The variant's health-check timeout (None: not set) and the window the endpoint really had."""
    set_to = (getattr(facts, "variant_config", None) or {}).get(HEALTH_CHECK)
    return (float(set_to) if set_to else None), float(set_to or default)


def _server_timeout(facts: Any) -> tuple[str | None, float]:
    raw = (getattr(facts, "environment", None) or {}).get(SERVER_TIMEOUT)
    try:
        return raw, float(raw) if raw else _SERVER_TIMEOUT_DEFAULT
    except ValueError:
        return raw, _SERVER_TIMEOUT_DEFAULT


def slow_start(facts: Any, lc: Any, *, log_cause: str | None = None,
               default_window: float = 600.0) -> dict[str, Any] | None:
    """The model loads slower than a start-up window allows, and that window stopped it: the model loads here (the
    load check passed) and its start-up took at least half of either

    - the model server's response timeout (``SAGEMAKER_MODEL_SERVER_TIMEOUT``, 60 s by default), when the logs show a
      worker killed at start-up (``log_cause``: the worker did not answer in time), or
    - the start-up health check's window, when the endpoint's FailureReason is the ping health check.

    Returns the evidence (``window``: which one; seconds measured, the window's) or None."""
    took = _startup_seconds(lc)
    if took is None:
        return None
    reason = getattr(facts, "failure_reason", None) or ""
    raw, server = _server_timeout(facts)
    if log_cause in _SLOW_LOG_CAUSES and took >= _SLOW_SHARE * server:
        return {"window": "model-server", "startup_seconds": round(took, 1), "window_seconds": server,
                "window_set": raw is not None, "evidence": f"the logs show the model server killing a worker that "
                f"was still loading the model ({log_cause})"}
    if "health check" in reason:
        set_to, window = _health_window(facts, default_window)
        took = _startup_seconds(lc, install=True) or took
        if took >= _SLOW_SHARE * window:
            return {"window": "health-check", "startup_seconds": round(took, 1), "window_seconds": window,
                    "install_seconds": getattr(lc, "install_seconds", None),
                    "window_set": set_to is not None, "evidence": reason}
    return None


def memory_short(facts: Any, lc: Any, table: Any) -> dict[str, Any] | None:
    """The model does not fit the instance: the load check's peak memory (one worker) times the workers the model
    server starts (``SAGEMAKER_MODEL_SERVER_WORKERS``; at least one) is more than the instance type's memory
    (``table``: :mod:`endpoint_runbook.endpoint.instances`). The kernel then kills a worker at every start, and the
    model server's log says only that it died. None when it fits or is not known."""
    peak = getattr(lc, "peak_rss_mb", None) if lc is not None and getattr(lc, "ok", False) else None
    itype = getattr(facts, "instance_type", None)
    have = table.memory_gib(itype) if table is not None and itype else None
    if not peak or not have:
        return None
    workers = _workers(getattr(facts, "environment", None)) or 1
    need = peak * workers / 1024
    if need <= have:
        return None
    return {"peak_rss_mb": peak, "workers": workers, "need_gib": round(need, 2), "instance_type": itype,
            "instance_gib": have}


def after_the_fix(facts: Any, lc: Any, table: Any) -> list[dict[str, Any]]:
    """What the endpoint meets next once the verdict's own fix is in, from the load check with that fix laid in (it
    passed, and measured the model): a model that does not fit the instance (:func:`memory_short`), or one that
    loads slower than the model server's response timeout (the whole timeout: a prediction, where the logs of a
    worker killed at start-up need only half, see :func:`slow_start`). Each as ``{"cause", "log_cause", "summary"}``:
    ``log_cause`` is what that endpoint's logs would then show, for :func:`propose`."""
    out: list[dict[str, Any]] = []
    short = memory_short(facts, lc, table)
    if short is not None:
        out.append({"cause": "out-of-memory", "log_cause": None, "summary": (
            f"one worker peaks at {short['peak_rss_mb']} MB; {short['workers']} worker(s) need {short['need_gib']:g} "
            f"GiB and {short['instance_type']} has {short['instance_gib']:g} GiB")})
    took = _startup_seconds(lc)
    _, server = _server_timeout(facts)
    if took is not None and took >= server:
        out.append({"cause": "startup-health-check-timeout", "log_cause": "worker-timeout", "summary": (
            f"the model loads in {took:.1f} s and the model server kills a worker that has not answered in "
            f"{server:g} s")})
    return out


def index_unreachable(facts: Any, log_cause: Mapping[str, Any] | None, lc: Any) -> dict[str, Any] | None:
    """The endpoint's pip could not reach a package index, where here it installs the same requirements: the logs
    name the install failure with pip's connection errors or an index that answered no release at all ("from
    versions: none"), and the load check installed ``code/requirements.txt`` in the image's own environment. None
    otherwise (a pin that does not exist fails here too; a skipped check says nothing). ``reach``: what the model's
    network settings say (:func:`endpoint_runbook.endpoint.network_reach.endpoint_reach`)."""
    from ..serving.pip_output import index_unreached
    from .network_reach import endpoint_reach

    cause = log_cause or {}
    if cause.get("code") != "requirements-install-failed" or lc is None or not lc.installed_in_image:
        return None
    evidence = [str(x) for x in cause.get("evidence") or []]
    network, none = index_unreached(evidence)
    if not network and not none:
        return None
    reach = endpoint_reach(getattr(facts, "network_isolation", None), getattr(facts, "vpc_config", None))
    return {"reach": reach.to_dict(), "network_lines": network[:3], "no_release_lines": none[:3],
            "evidence": (network[:2] + none[:2]) or evidence[:3]}


def download_timed_out(facts: Any, *, log_cause: str | None, archive_bytes: int | None) -> dict[str, Any] | None:
    """The model data's download and extraction ran past the variant's ``ModelDataDownloadTimeoutInSeconds``, told
    from facts rather than from a FailureReason's words (SageMaker's wording for this failure is not published): the
    endpoint is ``Failed``, no container ever logged (the platform failed before one started), the variant sets the
    timeout, and the endpoint failed no sooner than that timeout after it was created. None otherwise (an endpoint
    that failed sooner failed for something else; without the field there is no window to hold it against)."""
    if log_cause not in (None, "no-logs", "model-download-timeout") or getattr(facts, "status", None) != "Failed":
        return None
    timeout = (getattr(facts, "variant_config", None) or {}).get(DOWNLOAD_TIMEOUT)
    created, failed = parse_iso(getattr(facts, "created", None)), parse_iso(getattr(facts, "last_modified", None))
    elapsed = (failed - created).total_seconds() if created and failed else None
    if not timeout or elapsed is None or elapsed < float(timeout):
        return None
    size = f"{archive_bytes / 1e6:.1f} MB" if archive_bytes else "of unknown size"
    return {"timeout_seconds": float(timeout), "elapsed_seconds": round(elapsed, 1), "archive_bytes": archive_bytes,
            "evidence": f"the endpoint failed {elapsed:.0f} s after it was created and no container ever logged; its "
                        f"variant gives the model data ({size}) {float(timeout):g} s to download and extract "
                        f"({DOWNLOAD_TIMEOUT})"}


def entry_script_candidates(sources: Mapping[str, bytes], program: str) -> list[str]:
    """Scripts directly in ``code/`` that define the toolkit's handlers (model_fn & co.), other than ``program``."""
    out = []
    for path, data in sorted(sources.items()):
        if not (path.startswith("code/") and path.endswith(".py") and path.count("/") == 1):
            continue
        name = path[len("code/"):]
        if name != program and data is not None and _HANDLERS.search(data):
            out.append(name)
    return out


def _workers(environment: Mapping[str, str] | None) -> int | None:
    raw = (environment or {}).get("SAGEMAKER_MODEL_SERVER_WORKERS")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def propose(facts: Any, cause: str, *, lc: Any = None, sources: Mapping[str, bytes] | None = None,
            archive_bytes: int | None = None, unpacked_bytes: int | None = None, log_cause: str | None = None,
            instance_memory: Any = None, default_window: float = 600.0,
            log_lines: list[str] | None = None) -> tuple[list[Remedy], list[str]]:
    """The remedies for ``cause`` (the verdict's) on the endpoint of ``facts``; and notes where none can be sized
    (why not). ``instance_memory``: the instance table (:mod:`endpoint_runbook.endpoint.instances`: ``memory_gib``,
    ``smallest_with``); without it no instance type is proposed."""
    notes: list[str] = []
    out: list[Remedy] = []
    variant = getattr(facts, "variant_config", None) or {}
    env = getattr(facts, "environment", None) or {}
    if cause == "startup-health-check-timeout":
        slow = slow_start(facts, lc, log_cause=log_cause, default_window=default_window)
        if slow is None:
            notes.append("no start-up timeout is proposed: the load check did not measure a start-up slow enough to "
                         "explain it (a model that crashes or loads fast fails its health check for another reason)")
        else:
            wanted = math.ceil((slow["startup_seconds"] * _HEALTH_MARGIN + _HEALTH_EXTRA) / 60) * 60
            measured = {"startup_seconds": slow["startup_seconds"], "window_seconds": slow["window_seconds"]}
            sized = (f"{_HEALTH_MARGIN:g}× the load plus {_HEALTH_EXTRA:g} s, in whole minutes")
            if slow["window"] == "model-server":
                out.append(Remedy(cause, "model", SERVER_TIMEOUT, env.get(SERVER_TIMEOUT), str(int(wanted)),
                                  f"the model took {slow['startup_seconds']} s to load here (the load check) and the "
                                  f"model server kills a worker that has not answered in {slow['window_seconds']:g} s "
                                  f"(the toolkit's SAGEMAKER_MODEL_SERVER_TIMEOUT); {sized}", measured))
            after = _clamp(HEALTH_CHECK, wanted)
            # The health check's window only where it stopped the container (its /ping answered otherwise).
            if slow["window"] == "health-check" and after <= slow["window_seconds"]:
                notes.append(f"the start-up measured here ({slow['startup_seconds']} s) fits SageMaker's largest "
                             "health-check window only as it is: a larger instance or a faster load is the remedy")
            elif slow["window"] == "health-check":
                parts = ("pip's install of code/requirements.txt, import and model_fn" if slow.get("install_seconds")
                         else "import and model_fn")
                out.append(Remedy(cause, "endpoint-config", HEALTH_CHECK, variant.get(HEALTH_CHECK), after,
                                  f"the model took {slow['startup_seconds']} s to start here ({parts}, the load "
                                  f"check) and the endpoint's health check gave it {slow['window_seconds']:g} s; "
                                  f"{sized}", {**measured, **({"install_seconds": slow["install_seconds"]} if
                                                    slow.get("install_seconds") else {})}))
    elif cause == "missing-entry-script":
        program = getattr(facts, "program", "inference.py")
        found = entry_script_candidates(sources or {}, program)
        if len(found) == 1:
            out.append(Remedy(cause, "model", "SAGEMAKER_PROGRAM", env.get("SAGEMAKER_PROGRAM"), found[0],
                              f"the archive has no code/{program}; code/{found[0]} is its one script that defines "
                              "the toolkit's handlers", {"candidates": found}))
            if env.get("SAGEMAKER_SUBMIT_DIRECTORY") and env["SAGEMAKER_SUBMIT_DIRECTORY"] not in (
                    "/opt/ml/model/code", "/opt/ml/model/code/"):
                out.append(Remedy(cause, "model", "SAGEMAKER_SUBMIT_DIRECTORY", env["SAGEMAKER_SUBMIT_DIRECTORY"],
                                  "/opt/ml/model/code", "the entry script is in the archive's code/, where the toolkit "
                                  "looks when SAGEMAKER_SUBMIT_DIRECTORY names it", {}))
        elif found:
            notes.append(f"no entry script is chosen for you: code/ holds {len(found)} scripts with handlers "
                         f"({', '.join(found)}); set SAGEMAKER_PROGRAM in deploy.remedies to the one to run")
        else:
            notes.append(f"no script in code/ defines model_fn: put the entry script at code/{program}")
    elif cause in ("default-handler-used", "model-config-invalid") and hf_task_failure(log_lines):
        out += _hf_task(cause, sources or {}, env, log_lines, notes)
    elif cause == "out-of-memory" and lc is not None:
        out += _memory(cause, facts, env, getattr(lc, "peak_rss_mb", None), instance_memory, notes)
    elif cause == "model-download-timeout" and archive_bytes:
        out += _download(cause, variant, archive_bytes, notes)
    elif cause in ("disk-full", "model-archive-too-large"):
        out += _volume(cause, facts, variant, max(unpacked_bytes or 0, archive_bytes or 0),
                       getattr(lc, "disk_written_mb", None), instance_memory, notes)
    return out, notes


def _hf_task(cause: str, sources: Mapping[str, bytes], env: Mapping[str, str], lines: list[str] | None,
             notes: list[str]) -> list[Remedy]:
    """``HF_TASK`` for the Hugging Face toolkit's default handler (:mod:`.hf_task`); none when the archive has handlers
    of the user's the toolkit did not find (where the script goes is the remedy then)."""
    scripts = sorted(p for p, data in sources.items() if p.endswith(".py") and data and _HANDLERS.search(data))
    if scripts:
        where = "" if "code/inference.py" in scripts else ": the toolkit runs code/inference.py"
        notes.append(f"no HF_TASK is proposed: the archive defines handlers ({', '.join(scripts)}) the toolkit did not "
                     f"use{where} — the default handler ran instead of them")
        return []
    found, why_not = propose_task(sources, env, lines)
    if found is None:
        notes.append(why_not)
        return []
    return [Remedy(cause, "model", "HF_TASK", env.get("HF_TASK"), found["task"], found["why"], found["sized_from"])]


def _download(cause: str, variant: Mapping[str, Any], archive_bytes: int, notes: list[str]) -> list[Remedy]:
    """``ModelDataDownloadTimeoutInSeconds`` for model data that did not arrive in time: its time at a conservative
    in-region rate, or — when the variant had a timeout the download ran past — at the rate that failure bounds (the
    instance got the data no faster than its size over that timeout), with a margin, in whole minutes. None when the
    variant already has SageMaker's largest timeout: the model data must shrink instead."""
    before = variant.get(DOWNLOAD_TIMEOUT)
    rate = _DOWNLOAD_BYTES_PER_S if not before else min(_DOWNLOAD_BYTES_PER_S, archive_bytes / float(before))
    after = _clamp(DOWNLOAD_TIMEOUT, math.ceil(round(archive_bytes / rate * _DOWNLOAD_MARGIN, 3) / 60) * 60)
    if before and after <= float(before):
        notes.append(f"{DOWNLOAD_TIMEOUT} is already {float(before):g} s, SageMaker's largest: make the model data "
                     "smaller, or uncompressed (ModelDataSource S3Prefix, CompressionType None: nothing to extract)")
        return []
    bound = (f"it did not arrive within {float(before):g} s, so at no more than {rate / 1e6:.2f} MB/s" if before and
             rate < _DOWNLOAD_BYTES_PER_S else f"at {rate / 1e6:g} MB/s")
    return [Remedy(cause, "endpoint-config", DOWNLOAD_TIMEOUT, before, after,
                   f"the model data is {archive_bytes / 1e6:.1f} MB; {bound}, with a {_DOWNLOAD_MARGIN:g}× margin",
                   {"archive_bytes": archive_bytes, "rate_bytes_per_s": round(rate)})]


#: What the volume holds beyond the model's files: the system's and the model server's own (GiB).
_VOLUME_SYSTEM_GIB = 4


def _volume(cause: str, facts: Any, variant: Mapping[str, Any], size: int, written_mb: int | None,
            table: Any, notes: list[str]) -> list[Remedy]:
    """The ML storage volume for a disk that filled: the model's files ``size`` (unpacked) as many times as the
    volume holds them, what import and model_fn wrote (the load check's ``written_mb``), and the system's share, in
    whole GiB. None for an instance type with NVMe storage (SageMaker takes no VolumeSizeInGB there), nor when the
    volume it has already holds what was measured (the disk filled with something not seen here)."""
    written = (written_mb or 0) * 2**20
    if not size and not written:
        notes.append("no volume size is proposed: neither the model data's size nor what model_fn writes is known")
        return []
    itype = getattr(facts, "instance_type", None) or ""
    if table is not None and itype and table.has_nvme(itype):
        notes.append(f"{itype} has NVMe instance storage, where SageMaker takes no VolumeSizeInGB: a type with more "
                     "instance storage, or model data that does not need unpacking (uncompressed S3 model data)")
        return []
    need = size * _VOLUME_COPIES + written
    after = _clamp(VOLUME, math.ceil(need / 2**30) + _VOLUME_SYSTEM_GIB)
    before = variant.get(VOLUME)
    if before is not None and after <= int(before):
        notes.append(f"no larger volume is proposed: the model's {need / 2**30:.2f} GiB (measured here) fits the "
                     f"{before} GiB volume; the disk filled with something the load check does not see")
        return []
    why = (f"the model unpacks to {size / 2**30:.2f} GiB and the volume holds it {_VOLUME_COPIES} times (the archive, "
           "its extraction, the model server's copy)" if size else "")
    if written:
        why += ("; " if why else "") + f"its import and model_fn wrote {written / 2**30:.2f} GiB here (the load check)"
    return [Remedy(cause, "endpoint-config", VOLUME, before, after, f"{why}; plus {_VOLUME_SYSTEM_GIB} GiB for the "
                   "system, in whole GiB", {"unpacked_bytes": size, "written_mb": written_mb})]


#: Memory of the instance a model's workers must fit in: their peaks, and this share of the instance for the model
#: server, the toolkit and the system.
_MEMORY_HEADROOM = 0.25


def _memory(cause: str, facts: Any, env: Mapping[str, str], peak: int | None, instance_memory: Any,
            notes: list[str]) -> list[Remedy]:
    """Host memory: one worker when several each load the model and one fits the instance; else the smallest larger
    instance type of the family that holds the workers (``instance_memory(type) → GiB | None`` and
    ``instance_memory(need_gib, like) → type | None``, :mod:`endpoint_runbook.endpoint.instances`)."""
    if not peak:
        notes.append("no memory remedy is sized: the load check measured no peak memory (it did not finish)")
        return []
    workers, itype = _workers(env), getattr(facts, "instance_type", None)
    have = instance_memory.memory_gib(itype) if instance_memory is not None and itype else None
    usable = have * (1 - _MEMORY_HEADROOM) if have else None
    per = peak / 1024
    if workers and workers > 1 and (usable is None or per <= usable):
        return [Remedy(cause, "model", "SAGEMAKER_MODEL_SERVER_WORKERS", str(workers), "1",
                       f"each of the {workers} workers loads its own copy of the model ({peak} MB each, the load "
                       f"check's peak): {workers * per:.1f} GiB" + (f" of {itype}'s {have:g} GiB" if have else "")
                       + "; one fits", {"peak_rss_mb": peak, "workers": workers, "instance_gib": have})]
    need = per * max(1, workers or 1) / (1 - _MEMORY_HEADROOM)
    bigger = instance_memory.smallest_with(need, family_like=itype) if instance_memory is not None and itype else None
    if bigger is None or bigger == itype:
        notes.append(f"no instance type is proposed: the model needs {peak} MB per worker and no larger type of "
                     f"{itype}'s kind is known")
        return []
    return [Remedy(cause, "endpoint-config", "InstanceType", itype, bigger,
                   f"{max(1, workers or 1)} worker(s) of {peak} MB (the load check's peak) need {need:.1f} GiB with "
                   f"{_MEMORY_HEADROOM:.0%} left for the server; {bigger} has {instance_memory.memory_gib(bigger):g} GiB",
                   {"peak_rss_mb": peak, "need_gib": round(need, 1), "instance_gib": have})]


def with_params(remedies: list[Remedy], settings: Mapping[str, Any] | None) -> list[Remedy]:
    """``deploy.remedies``: ``{field: off}`` turns a remedy off, ``{field: value}`` sets its value (a field diagnose
    did not propose is added, where its name says: a variant field or an environment variable)."""
    out = [Remedy.from_dict(r.to_dict()) for r in remedies]
    for name, value in (settings or {}).items():
        r = next((x for x in out if x.field == name), None)
        if isinstance(value, str) and value.strip().lower() == "off" or value is False:
            if r is not None:
                r.enabled, r.set_by = False, "params"
            continue
        if r is None:
            where = "endpoint-config" if name[:1].isupper() and not name.isupper() else "model"
            r = Remedy("params", where, name, None, value, "set in params (deploy.remedies)", set_by="params")
            out.append(r)
        else:
            r.after, r.set_by = value, "params"
        if name in _RANGES:
            lo, hi = _RANGES[name]
            if not isinstance(value, int) or not lo <= value <= hi:
                from ..errors import InputError

                raise InputError(f"deploy.remedies.{name} is {value!r}: SageMaker takes a whole number from {lo} to "
                                 f"{hi}.", code="bad-remedy", hint=f"Set {name} to a number in {lo}–{hi}, or to off.")
    return out


def variant_overrides(remedies: list[Remedy]) -> dict[str, Any]:
    """The production-variant fields the enabled remedies set."""
    return {r.field: r.after for r in remedies if r.enabled and r.where == "endpoint-config"}


def environment_overrides(remedies: list[Remedy]) -> dict[str, str]:
    """The container environment variables the enabled remedies set."""
    return {r.field: str(r.after) for r in remedies if r.enabled and r.where == "model"}


def diff_lines(remedies: list[Remedy]) -> list[str]:
    """The remedies as a diff of what will be deployed: ``-``/``+`` per field (off ones as comments)."""
    out = []
    for r in remedies:
        if r.where in ("archive", "code"):
            continue
        place = "ProductionVariants[0]." if r.where == "endpoint-config" else "PrimaryContainer.Environment."
        if not r.enabled:
            out.append(f"# {place}{r.field}: {r.after} (turned off in params)")
            continue
        if r.before is not None:
            out.append(f"- {place}{r.field}: {r.before}")
        out.append(f"+ {place}{r.field}: {r.after}")
    return out
