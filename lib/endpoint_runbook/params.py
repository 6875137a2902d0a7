"""The params file: one schema for the whole runbook, checked before any AWS call.

    aws:            {region, profile, endpoint_url, max_attempts}
    endpoint_name:  the crash-looping endpoint
    run_dir:        optional; default runs/<run-id>
    diagnose:       {...}   rebuild_archive: {...}   deploy: {...}   verify: {...}   cleanup: {...}

Unknown keys and wrong types are errors that name the key (with the closest known key), never warnings.
Each notebook's ``parameters`` cell holds exactly :func:`notebook_parameters` of its step.

A SageMaker notebook job (Studio's scheduler, or a pipeline's notebook-job step) passes every parameter as a
string: :func:`notebook_values` converts them by this schema (``"true"``, ``"60"``, ``"[a, b]"``, ``"null"``) in
each notebook's first cell, and names the key when a string does not convert.

``00_scan`` (the fleet scan) is no step of the chain: its parameters are :data:`SCAN_KEYS` with the AWS keys of
:data:`COMMON` that apply to many regions and accounts.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .records import STEPS, find_secrets

__all__ = ["Param", "COMMON", "STEP_KEYS", "SCAN_KEYS", "load_params", "validate", "notebook_parameters",
           "notebook_values", "convert", "NOTEBOOKS", "SCAN", "notebooks_dir"]


@dataclass(frozen=True)
class Param:
    types: tuple[type, ...]
    default: Any = None
    doc: str = ""
    required: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None:
            return not self.required
        if bool in self.types and isinstance(value, bool):
            return True
        if isinstance(value, bool):  # bool is an int: only where asked for
            return False
        if float in self.types and isinstance(value, int):
            return True
        return isinstance(value, self.types)

    def type_name(self) -> str:
        return " or ".join(t.__name__ for t in self.types) + ("" if self.required else " or null")


S, I, F, B, L, D = (str,), (int,), (float,), (bool,), (list,), (dict,)

#: What every notebook gets (from the aws section, the run dir).
COMMON: dict[str, Param] = {
    "region": Param(S, None, "AWS region (null: the profile's / AWS_DEFAULT_REGION)"),
    "profile": Param(S, None, "AWS profile (null: the default chain: env, role, ...)"),
    "endpoint_url": Param(S, None, "send every AWS call here (the local stack); null for real AWS"),
    "max_attempts": Param(I, 8, "botocore standard-mode retry attempts per call"),
    "role_arn": Param(S, None, "another account: the role to assume there (null: your own credentials' account)"),
    "external_id": Param(S, None, "the external id role_arn's trust policy asks for (null: none)"),
    "run_dir": Param(S, None, "run dir or run id; null: step 1 starts a run, later steps continue the newest "
                              "run of endpoint_name"),
    "endpoint_name": Param(S, None, "the crash-looping endpoint (the run's subject)"),
}

STEP_KEYS: dict[str, dict[str, Param]] = {
    "diagnose": {
        "endpoint_name": Param(S, None, "the crash-looping endpoint", required=True),
        "log_window_minutes": Param(F, 60, "how far back to read its CloudWatch logs"),
        "max_log_events": Param(I, 20000, "bound on log events read"),
        "source_roots": Param(L, [], "local folders that may hold the missing packages (repo checkouts)"),
        "load_check": Param(B, True, "import the entry script and call model_fn in a clean serving env"),
        "expected_paths": Param(L, None, "what the archive should hold, for the ✅/❌ table (folder: trailing /); "
                                         "null: code/<entry script>, code/requirements.txt"),
        "weights": Param(D, None, "weights model_fn downloads at start-up that the endpoint cannot reach: {URL or "
                                  "hub id: local path or s3:// URI of a copy}; step 2 puts them in the archive where "
                                  "torch.hub / the Hugging Face libraries look first"),
    },
    "rebuild_archive": {
        "source_uri": Param(S, None, "archive (or model prefix/) to fix; null: the diagnosed endpoint's model data"),
        "additions": Param(L, None, "[{source: folder, target: code/pkg/}]; null: the diagnosis's fix"),
        "target_uri": Param(S, None, "where the fixed archive goes; null: <source prefix>-fixed/model.tar.gz"),
        "overwrite": Param(B, False, "replace an existing target object"),
        "full_check": Param(B, False, "also serve the rebuilt archive on TorchServe before upload"),
        "image_uri": Param(S, None, "serving image the checks stand in for; null: the diagnosed endpoint's image"),
        "upload": Param(S, "auto", "server-side (copy the unchanged bytes inside S3, upload the tail), full, or "
                                   "auto (server-side from 256 MiB)"),
        "require_load_check": Param(B, False, "fail when the load check cannot run here; false: go on when the "
                                              "static analysis passes, and record why no load was tried"),
    },
    "deploy": {
        "mode": Param(S, None, "in-place (UpdateEndpoint, same name) or new-endpoint; null: in-place when the "
                               "broken endpoint exists"),
        "rollback": Param(B, False, "instead of deploying: put the endpoint back on its recorded previous config"),
        "fixed_endpoint_name": Param(S, None, "new-endpoint: the new endpoint; null: <prefix>-fixed-<timestamp>"),
        "model_data_url": Param(S, None, "s3:// fixed model.tar.gz; null: step 2's target"),
        "copy_from_config": Param(S, None, "endpoint config to copy image, role, environment, instances and "
                                           "async config from; null: step 1's endpoint"),
        "image_uri": Param(S, None, "serving image; null: the broken endpoint's own image"),
        "execution_role_arn": Param(S, None, "SageMaker execution role ARN; null: the broken endpoint's model's"),
        "environment": Param(D, None, "container environment; null: the broken endpoint's model's"),
        "output_path": Param(S, None, "s3:// async S3OutputPath; null: the copied async config's"),
        "failure_path": Param(S, None, "s3:// async S3FailurePath; null: the copied async config's"),
        "success_topic": Param(S, None, "SNS topic ARN for successes; null: the copied async config's"),
        "error_topic": Param(S, None, "SNS topic ARN for errors; null: the copied async config's"),
        "instance_type": Param(S, None, "null: as the broken endpoint"),
        "instance_count": Param(I, None, "null: as the broken endpoint"),
        "smoke_input": Param(S, None, "s3:// input the model accepts, for the smoke request; null: the first "
                                      "of verify.inputs"),
        "smoke_accept": Param(S, None, "real-time/serverless: the smoke request's Accept; null: verify.accept"),
        "remedies": Param(D, None, "step 1's remedies: {field: off} turns one off, {field: value} sets its value "
                                   "(a variant field such as ContainerStartupHealthCheckTimeoutInSeconds, or a "
                                   "container environment variable); null: as step 1 proposes"),
        "wait_timeout": Param(I, 900, "seconds to wait for InService"),
        "smoke_timeout": Param(I, 300, "seconds to wait for the smoke result"),
    },
    "verify": {
        "fixed_endpoint_name": Param(S, None, "endpoint to verify; null: the one step 3 deployed"),
        "inputs": Param(L, None, "s3:// inputs the model accepts; null: the deploy step's smoke input"),
        "count": Param(I, None, "warm requests after the cold first one (inputs cycled); null: max(3, inputs - 1)"),
        "deadline_seconds": Param(I, 300, "bound on the wait for all results"),
        "health_patterns": Param(L, None, "lines a healthy start-up logs: regexes, or {label: regex}; null: "
                                          "a worker loaded the model (TorchServe's WorkerLoadTime metric)"),
        "replay_failed": Param(B, False, "send again to the fixed endpoint the requests that failed on the broken "
                                          "one (endpoint_name, the diagnosed endpoint) in the window"),
        "replay_window_minutes": Param(F, 180, "how far back failed requests are collected"),
        "replay_concurrency": Param(I, 4, "replayed requests in flight at once"),
        "accept": Param(S, None, "real-time/serverless: each request's Accept header; null: the model's default"),
        "outage_window_minutes": Param(F, None, "real-time/serverless: how far back the request errors are read "
                                                "from CloudWatch metrics; null: replay_window_minutes"),
    },
    "cleanup": {
        "endpoint_name": Param(S, None, "endpoint to remove; null: the diagnosed (broken) one"),
        "confirm": Param(S, "", "type the endpoint name to delete; anything else is a dry run"),
        "dry_run": Param(B, True, "plan only"),
        "force": Param(B, False, "override the guards (recent traffic, the verified endpoint, no fix serving yet)"),
        "include_outputs": Param(B, False, "also delete its async output/failure objects"),
        "recent_minutes": Param(F, 60, "an endpoint that served successfully this recently is kept"),
        "release_rollback": Param(B, False, "after an in-place fix: delete the superseded config and model "
                                            "(no rollback after that)"),
    },
}

#: The fleet scan's notebook (00): not a step of the chain, so not in the params file.
SCAN = "scan"
SCAN_KEYS: dict[str, Param] = {
    "regions": Param(L, None, "regions to scan, e.g. [us-east-1, eu-west-1]; null: the profile's region"),
    "role_arns": Param(L, [], "one role per other account to assume there (arn:aws:iam::<account>:role/<name>); "
                              "[]: the account of your own credentials"),
    "external_id": Param(S, None, "the external id the roles' trust policies ask for (null: none)"),
    "name_contains": Param(S, None, "only endpoints whose name contains this (null: every endpoint)"),
    "log_window_minutes": Param(F, 60, "how far back each endpoint's CloudWatch logs are read"),
    "max_log_bytes": Param(I, 262144, "bound on log bytes read per endpoint"),
    "max_log_events": Param(I, 2000, "bound on log events read per endpoint"),
    "concurrency": Param(I, 8, "endpoints read at once per account and region"),
    "max_attempts": Param(I, 8, "botocore adaptive-mode retry attempts per call"),
    "report_dir": Param(S, None, "where scan.json and scan.csv go; null: <runs>/scan-<time>"),
}

NOTEBOOKS = {SCAN: "00_scan.ipynb", **{step: f"{i + 1:02d}_{step}.ipynb" for i, step in enumerate(STEPS)}}
SCHEMA_TOP = {"aws", "endpoint_name", "run_dir", *STEPS}


def notebooks_dir() -> Path:
    """The checkout's notebooks/ folder (the runner executes them; a scheduled scan ships them)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if not here.is_dir():
        raise InputError("the notebooks/ folder is not next to this installation.", code="no-notebooks",
                         hint="Install the project from a checkout: pip install -e .")
    return here


def notebook_parameters(step: str) -> dict[str, Param]:
    if step == SCAN:
        return {k: COMMON[k] for k in ("profile", "endpoint_url")} | SCAN_KEYS
    return {**COMMON, **STEP_KEYS[step]}


_NULLS = ("null", "none", "~")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def convert(p: Param, value: Any, key: str) -> Any:
    """``value`` as ``p`` types it. Strings are converted (a notebook job passes every parameter as one):
    ``"null"``/``"None"`` → unset (the default), ``"true"``/``"false"`` → bool, ``"60"`` → int or float,
    ``"[a, b]"`` → list (YAML/JSON flow; ``"a, b"`` too), ``"{k: v}"`` → dict. Anything else is checked as it is.
    An :class:`InputError` names ``key`` when the value does not fit."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULLS or (text == "" and str not in p.types):
            value = p.default
        elif str in p.types:
            pass
        elif bool in p.types:
            if text.lower() not in _TRUE + _FALSE:
                raise InputError(f"{key} must be true or false, not {value!r}.", code="bad-type",
                                 hint=f"Pass {key} as true or false (a notebook job passes it as a string).")
            value = text.lower() in _TRUE
        elif int in p.types or float in p.types:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text) if float in p.types else None
                except ValueError:
                    value = None
                if value is None:
                    raise InputError(f"{key} must be {p.type_name()}, not {text!r}.", code="bad-type",
                                     hint=f"Pass {key} as a number, e.g. {p.default!r}.") from None
        elif list in p.types or dict in p.types:
            value = _structured(p, text, key)
    if not p.accepts(value):
        raise InputError(f"{key} must be {p.type_name()}, not {type(value).__name__} ({value!r}).",
                         code="missing-value" if value is None else "bad-type",
                         hint=f"Set {key} in the parameters (a notebook job passes every value as a string).")
    return value


def _structured(p: Param, text: str, key: str) -> Any:
    want = "a list, e.g. [a, b]" if list in p.types else "a mapping, e.g. {key: value}"
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{key} must be {want}; {text!r} does not parse: {str(e).splitlines()[0]}",
                         code="bad-type", hint=f"Pass {key} as YAML or JSON flow text.") from None
    if list in p.types and not isinstance(parsed, list) and not text.startswith(("[", "{")):
        parsed = [part.strip() for part in text.split(",") if part.strip()]  # "a, b": a list without brackets
    if not p.accepts(parsed):
        raise InputError(f"{key} must be {want}, not {text!r}.", code="bad-type",
                         hint=f"Pass {key} as YAML or JSON flow text.")
    return parsed


def notebook_values(step: str, values: dict[str, Any]) -> dict[str, Any]:
    """A notebook's parameters from ``values`` (its globals after papermill's injection), each converted and
    checked by the schema: a notebook job passes every value as a string. Raises :class:`InputError` naming
    the first key that does not convert, before anything runs."""
    return {key: convert(p, values.get(key, p.default), key) for key, p in notebook_parameters(step).items()}


def _unknown(key: str, known: set[str], where: str) -> InputError:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return InputError(f"unknown key '{where}{key}' in the params file.", code="unknown-key",
                      hint=(f"Did you mean {close[0]!r}? " if close else "") + f"Known: {', '.join(sorted(known))}.")


def validate(raw: Any) -> dict[str, dict[str, Any]]:
    """Check ``raw`` (the parsed YAML) against the schema; return each step's full notebook parameters."""
    if not isinstance(raw, dict):
        raise InputError("the params file must be a mapping of sections.", code="bad-params")
    for key in raw:
        if key not in SCHEMA_TOP:
            raise _unknown(key, SCHEMA_TOP, "")
    secrets = find_secrets(yaml.safe_dump(raw))
    if secrets:
        raise InputError("the params file holds AWS key material; parameters never carry secrets.",
                         code="secret-in-params", hint="Use a profile or a role instead.")
    if not raw.get("endpoint_name"):
        raise InputError("endpoint_name is required (the crash-looping endpoint).", code="missing-value",
                         hint="Add `endpoint_name: <name>` at the top of the params file.")
    aws = raw.get("aws") or {}
    if not isinstance(aws, dict):
        raise InputError("aws: must be a mapping.", code="bad-type")
    aws_keys = {k for k in COMMON if k not in ("run_dir", "endpoint_name")}
    for key, value in aws.items():
        if key not in aws_keys:
            raise _unknown(key, aws_keys, "aws.")
        _check(COMMON[key], value, f"aws.{key}")
    common = {k: p.default for k, p in COMMON.items()} | dict(aws) | {"endpoint_name": raw["endpoint_name"]}
    if raw.get("run_dir") is not None:
        _check(COMMON["run_dir"], raw["run_dir"], "run_dir")
        common["run_dir"] = raw["run_dir"]
    out: dict[str, dict[str, Any]] = {}
    for step in STEPS:
        section = raw.get(step) or {}
        if not isinstance(section, dict):
            raise InputError(f"{step}: must be a mapping.", code="bad-type")
        keys = STEP_KEYS[step]
        values = {k: p.default for k, p in keys.items()}
        if "endpoint_name" in keys and step == "diagnose":
            values["endpoint_name"] = raw.get("endpoint_name")
        for key, value in section.items():
            if key not in keys or (key == "endpoint_name" and step == "diagnose"):
                raise _unknown(key, set(keys) - ({"endpoint_name"} if step == "diagnose" else set()), f"{step}.")
            values[key] = value
        for key, p in keys.items():
            _check(p, values[key], f"{step}.{key}" if key in section else key)
        out[step] = {**common, **values}
    # The smoke request needs an input the model accepts: the first verify input stands in when unset.
    if out["deploy"]["smoke_input"] is None and out["verify"]["inputs"]:
        out["deploy"]["smoke_input"] = out["verify"]["inputs"][0]
    if out["deploy"]["smoke_accept"] is None:
        out["deploy"]["smoke_accept"] = out["verify"]["accept"]
    return out


def _check(p: Param, value: Any, where: str) -> None:
    if not p.accepts(value):
        raise InputError(f"{where} must be {p.type_name()}, not {type(value).__name__} ({value!r}).",
                         code="missing-value" if value is None else "bad-type")


def load_params(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"params file {path} does not exist.", code="not-found",
                         hint="Pass one of params/*.yaml, e.g. params/local.yaml.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise InputError(f"{path} is not valid YAML: {e}", code="bad-params") from e
    steps = validate(raw)
    base = path.resolve().parent.parent  # params/ sits at the project root: relative folders resolve there
    roots = steps["diagnose"]["source_roots"]
    steps["diagnose"]["source_roots"] = [str((base / r).resolve()) if not Path(r).is_absolute() else r
                                         for r in roots]
    return steps
