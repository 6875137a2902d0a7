"""The load check: does the model load, as the container would load it, outside the container?

The archive is extracted safely into a work dir laid out as ``/opt/ml/model``; ``code/requirements.txt`` is
installed into a cached layer as the container does at start-up; then a clean subprocess of the serving
environment (``serving.env``: what the SageMaker PyTorch image ships, never this project's or the developer's
packages) puts the container's import path in place (``code/``, the model root), imports the entry script and
calls ``model_fn(model_dir)``. The outcome says which stage failed, with the traceback.

Guard against a false pass: every module the check imported must come from the extracted archive, the layer
or the serving environment; anything else is reported (``resolved-outside``) and fails the check.

The serving environment is that of the endpoint's image (``image``: its profile; ``mode``: exact, stand-in or
auto, see ``serving.env``); the mode and every way the environment differs from the image are in the result
(``mode``, ``deviations``). When no environment can be had here (no package index, a failed build), or the model
needs what only the image has and this environment lacks (the stand-in's missing torchvision, say), the check is
``skipped`` with the reason — "not checkable here", never a failure of the model — and the diagnosis goes on.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..findings import Finding
from .env import ServingEnv, ServingEnvError, ensure_serving_env
from .offline import RefusingProxy
from .pip_output import NETWORK_ERROR, failing_requirements
from .requirements import layer_replacements, replace_torch_finding, replaces_image_torch, requirement_names
from .server import container_env

__all__ = ["LoadCheck", "load_check_dir", "serve_check", "vouch_imports_only", "withheld_in_error"]

# Runs in the serving environment as `python -s -c` (see that file): the cwd is the work dir and sys.path[0] is
# dropped, so nothing of the caller's is importable. Prints one JSON line (prefixed) on stdout.
_CHILD = Path(__file__).with_name("loadcheck_child.py").read_text()


@dataclass
class LoadCheck:
    """What the load check saw. ``stage`` is where it stopped: requirements, import, model_fn or done.

    ``caller``: what called the handlers (the image's toolkit and TorchServe's Context); ``handlers``: the entry
    script's handlers (where defined, parameters, whether the toolkit appends its context); ``requests``: each
    request handler's call through the toolkit's ``transform`` (a dry run: none of its code runs); ``signature``:
    model_fn's failure came from its signature; ``network``: every host the code tried to reach (none reachable
    here: this machine's result), with the stage and the model's frame that asked."""

    ok: bool
    stage: str
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    missing_module: str | None = None
    seconds: float = 0.0
    import_seconds: float | None = None
    model_fn_seconds: float | None = None
    install_seconds: float | None = None  # pip's install of code/requirements.txt (first measured: a layer keeps it)
    peak_rss_mb: int | None = None  # the check's peak resident memory (the model loaded by one worker)
    disk_written_mb: int | None = None  # what import and model_fn wrote under the model dir, TEMP and HOME
    model_type: str | None = None  # the type of what model_fn returned
    outside: list[str] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None  # why the check could not run here (then ok is False and stage "skipped")
    profile: str | None = None  # the image profile the serving environment stands in for
    mode: str | None = None  # exact (the image's own torch family, TorchServe, toolkit) or stand-in
    deviations: list[str] = field(default_factory=list)  # how that environment differs from the image
    caller: str | None = None
    handlers: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    network: list[dict[str, Any]] = field(default_factory=list)

    @property
    def startup_network(self) -> list[dict[str, Any]]:
        """The network attempts made while the toolkit imported the script or ran model_fn (host, where)."""
        return [n for n in self.network if n.get("stage") in ("import", "model_fn")]

    @property
    def installed_in_image(self) -> bool:
        """The check installed code/requirements.txt in the image's own (exact) environment and went on past it."""
        return not self.skipped and self.mode == "exact" and self.stage in ("import", "model_fn", "done", "crash",
                                                                               "timeout")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


#: The file an OSError names (``[Errno 2] No such file or directory: '/opt/ml/model/x.bin'`` and its kin).
_NAMED_FILE = re.compile(r"""(?:No such file or directory|Is a directory|Not a directory)\S*:\s*['"]([^'"]+)['"]""")


def withheld_in_error(error: str | None, traceback: str | None, error_type: str | None,
                      withheld: dict[str, int]) -> str | None:
    """The withheld object a failed ``model_fn`` was reading, if its error shows one (the failure then says
    nothing about the model: the object is in S3, only not here). An error that names a file which is not
    withheld is the model's own (a file the model data really lacks); a file-not-found error that names no
    file is taken as a withheld one."""
    text = f"{error or ''}\n{traceback or ''}"
    named = [m.group(1) for m in _NAMED_FILE.finditer(text)]
    if named:
        for name in named:
            for path in withheld:
                if name == path or name.endswith("/" + path):
                    return path
        return None
    for path in withheld:
        if path in text or posixpath.basename(path) in text:
            return path
    if withheld and error_type in ("FileNotFoundError", "IsADirectoryError", "NotADirectoryError", "OSError"):
        return next(iter(withheld))
    return None

def vouch_imports_only(lc: LoadCheck, withheld: dict[str, int]) -> LoadCheck:
    """The load check of a model whose large files were left in S3 (``withheld``: path -> bytes): a model_fn that
    failed reading one of them proves nothing about the model (the file is there, only not here), so the check
    then vouches for the imports only, and says so (``weights-not-loaded``). Any other failure stands."""
    if not lc.ok and lc.stage == "model_fn" and not lc.missing_module:
        path = withheld_in_error(lc.error, lc.traceback, lc.error_type, withheld)
        if path is not None:
            note = (f"imports pass; model_fn stopped at {path}, which stays in S3 (the check reads no weights): "
                    f"{lc.error_type}: {lc.error}")
            lc.ok, lc.stage, lc.error = True, "import", note
            lc.findings = [Finding("weights-not-loaded", "info", note + ". The deployed endpoint loads them.",
                                   [path])]
    return lc


def _present_parent(model_dir: str, module: str) -> tuple[str, str] | None:
    """For a missing ``a.b.c`` whose package ``a.b`` is in the model folder (under code/ or the root): (``a.b``,
    its archive path). None when not even the top-level package is there."""
    parts = module.split(".")
    for base in ("code", ""):
        for i in range(len(parts) - 1, 0, -1):
            rel = "/".join(([base] if base else []) + parts[:i])
            if Path(model_dir, rel).is_dir():
                return ".".join(parts[:i]), rel
    return None


def _innermost_user_frame(tb: str, model_dir: str) -> str | None:
    frames = [line.strip() for line in tb.splitlines() if line.strip().startswith("File ")]
    mine = [f for f in frames if model_dir in f]
    return mine[-1].replace(model_dir + "/", "") if mine else None


_TORCH_CONFLICT = re.compile(r"\b(torch|torchvision|torchaudio|torchtext|torchdata)\b[^\n]*(?:constraint|0\+absent)"
                             r"|\(constraint\) (torch|torchvision|torchaudio|torchtext|torchdata)\b")


def _env_fields(env: ServingEnv | None) -> dict[str, Any]:
    if env is None:
        return {}
    return {"profile": env.profile.name if env.profile else None, "mode": env.mode, "deviations": env.deviations()}


def _skipped(why: str, t0: float, findings: list[Finding], env: ServingEnv | None = None,
             profile: str | None = None) -> LoadCheck:
    fields = _env_fields(env) or {"profile": profile}
    return LoadCheck(ok=False, stage="skipped", error_type="Skipped", error=why, skipped=why,
                     seconds=round(time.monotonic() - t0, 3), findings=findings, **fields)


def _layer_failure(req: Path, output: str, env: ServingEnv, t0: float) -> LoadCheck:
    """Why a layer failed: this machine (no index; the stand-in's torch family) → skipped; the model → failed."""
    lines = [x for x in output.splitlines() if x.strip()]
    tail = lines[-8:]
    if NETWORK_ERROR.search(output):
        why = "code/requirements.txt could not be installed: no package index is reachable from here"
        return _skipped(why, t0, [Finding("load-check-skipped", "warning", f"The load check was skipped: {why}. "
                                          "Diagnose goes on from the logs and the static import check.", tail)],
                        env)
    m = _TORCH_CONFLICT.search(output)
    if m and env.mode == "stand-in":
        pkg = m.group(1) or m.group(2)
        image = env.profile.image if env.profile else {}
        have = (env.build_info().get("versions") or {}).get("torch", "?")
        why = (f"not checkable here: code/requirements.txt needs {pkg} (directly or through a dependency), and this "
               f"machine's stand-in (CPU torch {have}) cannot hold the image's {pkg}"
               f"{' ' + image[pkg] if image.get(pkg) else ''}; the image's own environment could not be had here")
        findings = [Finding("load-check-skipped", "warning", f"The load check was skipped: {why}. Diagnose goes on "
                            "from the logs and the static import check.", [x for x in lines if pkg in x][-4:] or tail,
                            {"package": pkg, "not_checkable": True})]
        reqs = req.read_text(errors="replace") if req.is_file() else ""
        findings += [replace_torch_finding(n, spec, image.get(n), [f"{n}{spec}"])
                     for n, spec in replaces_image_torch(reqs, image).items()]
        return _skipped(why, t0, findings, env)
    # pip's reason: its ERROR lines and the conflict it names come before the closing advice.
    reason = [x for x in lines if x.startswith("ERROR:") or "conflict is caused by" in x
              or " depends on " in x or "Cannot install" in x]
    evidence = list(dict.fromkeys([str(req)] + reason[-8:] + tail))[:16]
    failing = failing_requirements(output, requirement_names(req.read_text(errors="replace") if req.is_file() else ""))
    return LoadCheck(ok=False, stage="requirements", error_type="RequirementsInstallFailed",
                     error="pip could not install code/requirements.txt"
                     + (f": {reason[-1].removeprefix('ERROR: ')}" if reason else ""), output_tail=tail,
                     seconds=round(time.monotonic() - t0, 3), **_env_fields(env), findings=[Finding(
                         "requirements-install-failed", "error",
                         "pip cannot install code/requirements.txt"
                         + (f" ({', '.join(failing)})" if failing else "") + ": the container would exit before "
                         "TorchServe starts. Fix or pin the requirements.", evidence,
                         {"requirements": failing, "mode": env.mode})])


def load_check_dir(model_dir: str | os.PathLike[str], *, program: str = "inference.py",
                   env: ServingEnv | None = None, timeout: float = 600.0,
                   log: Callable[[str], None] | None = None, image: str | None = None,
                   mode: str | None = None, environment: dict[str, str] | None = None) -> LoadCheck:
    """Run the load check on an extracted archive at ``model_dir`` (laid out as /opt/ml/model), in the serving
    environment of ``image`` (the endpoint's image URI; the newest PyTorch profile when None) built in ``mode``
    (exact, stand-in or auto; None: ``$ENDPOINT_RUNBOOK_SERVING_MODE``, else auto). ``environment``: the model's
    ``Environment`` (SageMaker passes it to the container); the check's process gets that and the image's own
    variables, nothing of the caller's (``serving.env.container_env``), and no network (``serving.offline``)."""
    from .container_entry import LayerInstallError, layer_install_seconds

    model_dir = str(Path(model_dir).resolve())
    t0 = time.monotonic()
    if env is None:
        try:
            env = ensure_serving_env(image, mode=mode, log=log)
        except ServingEnvError as e:
            why = f"no serving environment could be built here: {str(e).splitlines()[0]}"
            return _skipped(why, t0, [Finding("load-check-skipped", "warning",
                                              f"The load check was skipped: {why}. Diagnose goes on from the logs "
                                              f"and the static import check; {e.hint or ''}".rstrip("; "),
                                              str(e).splitlines()[-6:])])
    allowed, extra, install_seconds = [model_dir, str(env.root)], [], None
    layer_findings: list[Finding] = []
    req = Path(model_dir, "code", "requirements.txt")
    if req.is_file():
        try:
            site = env.layer(req.read_text(errors="replace"), log=log, req_dir=req.parent)
        except LayerInstallError as e:
            return _layer_failure(req, e.output, env, t0)
        except ValueError:
            return _layer_failure(req, "", env, t0)
        if site:
            install_seconds = layer_install_seconds(site)
            extra.append(str(site))
            allowed.append(str(Path(site).resolve()))
            layer_findings = layer_replacements(Path(site), env)
    with tempfile.TemporaryDirectory(prefix="loadcheck-") as cwd, RefusingProxy() as proxy:
        # A private temp dir and home: modules the image's packages generate at run time (torch.distributed writes
        # one and imports it) come from there, and count as inside; no hub cache of the developer's is found.
        child_tmp, child_home = Path(cwd, "tmp"), Path(cwd, "home")
        allowed += [str(child_tmp.resolve()), str(child_home.resolve())]
        run_env = container_env(env.profile, home=child_home, tmp=child_tmp, environment=environment,
                                path_prefix=[str(env.bin_dir)], model_dir=Path(model_dir),
                                extra={"SAGEMAKER_PROGRAM": program, **proxy.env()})
        try:
            proc = subprocess.run([str(env.python), "-s", "-c", _CHILD, model_dir, program, str(proxy.port), *extra],
                                  cwd=cwd, env=run_env, capture_output=True, text=True, timeout=timeout,
                                  errors="replace")
            out_text, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            text = (e.stdout or "") if isinstance(e.stdout, str) else ""
            return LoadCheck(ok=False, stage="timeout", error_type="Timeout", **_env_fields(env),
                             error=f"model loading did not finish within {timeout:.0f} s",
                             seconds=round(time.monotonic() - t0, 3), output_tail=text.splitlines()[-20:],
                             findings=[Finding("load-timeout", "error",
                                               f"Loading the model took longer than {timeout:.0f} s; the container's "
                                               "worker would time out too. Make model_fn faster or raise the "
                                               "model server timeout.")])
    head, _, payload = out_text.partition("\n@@LOADCHECK@@")
    if not payload:
        return LoadCheck(ok=False, stage="crash", error_type="Crash", error=f"the check process exited with {rc}",
                         **_env_fields(env),
                         seconds=round(time.monotonic() - t0, 3), output_tail=out_text.splitlines()[-20:],
                         findings=[Finding("load-crash", "error", "Loading the model killed the Python process "
                                           f"(exit {rc}); see the output.", out_text.splitlines()[-5:])])
    data = json.loads(payload.splitlines()[0])
    network = _joined_network(data.get("network", []), proxy.attempts,
                              "import" if data.get("stage") == "import" else "model_fn")
    stdlib = [p + os.sep for p in data.get("stdlib", [])]

    def inside(path: str) -> bool:
        if any(path.startswith(str(Path(a).resolve()) + os.sep) for a in allowed):
            return True
        return any(path.startswith(s) and "site-packages" not in path[len(s):] for s in stdlib)

    # A module counts as inside when its path, or the link it was imported through, is: a distribution's own
    # symlinks into /etc (Debian's sitecustomize) are part of the interpreter, not the developer's packages.
    linked = data.get("linked", {})
    outside = sorted(f"{name}: {path}" for name, path in data.get("origins", {}).items()
                     if not inside(path) and not (name in linked and inside(linked[name])))
    result = LoadCheck(ok=bool(data["ok"]) and not outside, stage=data["stage"], error_type=data.get("error_type"),
                       error=data.get("error"), traceback=data.get("traceback"),
                       missing_module=data.get("missing_module"), seconds=round(time.monotonic() - t0, 3),
                       import_seconds=data.get("import_seconds"), model_fn_seconds=data.get("model_fn_seconds"),
                       peak_rss_mb=data.get("peak_rss_mb"), disk_written_mb=data.get("disk_written_mb"),
                       install_seconds=install_seconds, outside=outside, **_env_fields(env),  # stdout, then stderr:
                       output_tail=(head.strip().splitlines() + payload.splitlines()[1:])[-20:],
                       caller=data.get("caller"), handlers=data.get("handlers") or {}, model_type=data.get("model_type"),
                       requests=data.get("requests") or {}, signature=data.get("signature"), network=network)
    result.findings.extend(layer_findings)
    absent = env.profile.absent_torch_family() if env.profile else {}
    missing_top = (data.get("missing_module") or "").split(".")[0]
    if not data["ok"] and missing_top in absent:
        why = (f"not checkable here: the model imports {missing_top}, which the image ships "
               f"({missing_top} {env.profile.image.get(missing_top)}) and this serving environment lacks ({absent[missing_top]})")
        return _skipped(why, t0, layer_findings + [Finding(
            "load-check-skipped", "warning", f"The load check was skipped: {why}. Diagnose goes on from the logs and "
            "the static import check.", [f"{data.get('error_type')}: {data.get('error')}"],
            {"package": missing_top, "not_checkable": True})], env)
    if not data["ok"] and "weights_only" in f"{data.get('error')}{data.get('traceback')}" and any(
            "weights_only" in d for d in result.deviations):
        result.findings.append(Finding(
            "torch-load-weights-only", "warning", "torch.load refused to unpickle with weights_only=True, the "
            "default since torch 2.6: the serving environment here has a newer torch than the image, whose "
            "torch.load may load this file. Pass weights_only=False explicitly for trusted files (or save a "
            "state_dict) so the model loads under both.", [f"{data.get('error_type')}: {data.get('error')}"]))
    if not data["ok"]:
        where = _innermost_user_frame(data.get("traceback") or "", model_dir)
        evidence = [f"{data.get('error_type')}: {data.get('error')}"] + ([where] if where else [])
        if data.get("missing_module"):
            found = _present_parent(model_dir, data["missing_module"])
            advice = (f"{found[0]} is in the archive ({found[1]}) but {data['missing_module']} is not: add that "
                      "module's file there." if found else
                      "Add the package to the archive where the container imports it.")
            result.findings.append(Finding("missing-module", "error",
                                           f"Importing {program} fails: no module named '{data['missing_module']}'. "
                                           + advice, evidence, {"module": data["missing_module"], "stage": data["stage"]}))
        elif data.get("error_type") == "SyntaxError":
            result.findings.append(Finding("syntax-error", "error", f"{program} or a module it imports does not "
                                           "parse; fix the syntax error.", evidence))
        elif data["stage"] == "model_fn" and data.get("signature"):
            result.findings.append(_signature_finding(result, evidence, where))
        elif data["stage"] == "model_fn" and _stopped_by_network(result):
            pass  # this machine refused the network: startup-download says where and what (below)
        elif data["stage"] == "model_fn":
            result.findings.append(Finding("model-fn-error", "error", "model_fn raised while loading the model; "
                                           "see the innermost frame and fix the model code or the artifacts.",
                                           evidence, {"where": where}))
        else:
            result.findings.append(Finding("import-error", "error", f"Importing {program} fails.", evidence))
    result.findings += _request_findings(result) + _network_findings(result)
    if outside:
        result.findings.append(Finding("resolved-outside", "error", "Some modules were imported from outside the "
                                        "archive and the serving environment: the check cannot vouch for them.",
                                        outside[:10]))
    return result


def _stopped_by_network(lc: LoadCheck) -> bool:
    """model_fn failed on the network the check refuses (not on the model's own fault)."""
    from ..endpoint.startup_failure import classify_startup_failure

    return bool(lc.startup_network) and classify_startup_failure(
        lc.error_type, lc.error, lc.traceback, network=lc.startup_network).sub_cause == "network-at-startup"


def _joined_network(seen: list[dict[str, Any]], attempts: list[Any], last_stage: str) -> list[dict[str, Any]]:
    """The child's record of each connection (stage, the model's frame) joined with the host the proxy saw on
    it (by the client's port); direct connections and name lookups the child refused as they are. A request
    the child did not see made (a native client) counts at the last stage the check reached: the dry run of the
    request handlers runs none of the model's code, so any request is the script's import or model_fn's."""
    by_port = {a.client_port: a for a in attempts}
    out = []
    for n in seen:
        entry = {k: v for k, v in n.items() if k != "client_port"}
        if n.get("via") == "proxy":
            a = by_port.pop(n.get("client_port"), None)
            if a is None:
                continue  # connected, sent nothing
            entry.update(host=a.host, port=a.port, method=a.method, target=a.target)
        out.append(entry)
    # requests the child did not see being made (a native client, a subprocess): the proxy's record alone
    out += [{"via": "proxy", "host": a.host, "port": a.port, "method": a.method, "target": a.target,
             "stage": last_stage, "where": {}} for a in by_port.values()]
    return out


def _show_where(w: dict[str, Any]) -> str:
    parts = [f"{w['file']}:{w['line']}" + (f" `{w['code']}`" if w.get("code") else "")] if w.get("file") else []
    parts += [f"→ {w[k]}" for k in ("library", "fetch") if w.get(k)]
    return " ".join(parts)


def _network_findings(lc: LoadCheck) -> list[Finding]:
    """``startup-download`` per host the script or model_fn tried to reach (grouped by host and the model's line
    that asked): this machine has no network for the check, so the host is the need; whether the endpoint
    reaches it is the endpoint's network (diagnose says)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for n in lc.startup_network:
        w = n.get("where") or {}
        groups.setdefault((str(n.get("host")), f"{w.get('file')}:{w.get('line')}"), []).append(n)
    out = []
    stopped = not lc.ok and lc.stage == "model_fn"
    for (host, _), ns in groups.items():
        w = ns[0].get("where") or {}
        at = _show_where(w) or "(no frame of the model's own code: a library's import or a native client)"
        targets = list(dict.fromkeys(str(n.get("target") or f"{n.get('host')}:{n.get('port')}") for n in ns))
        out.append(Finding(
            "startup-download", "warning",
            f"{'Importing the script' if ns[0].get('stage') == 'import' else 'model_fn'} reaches {host} ({at}). The "
            "load check has no network (every connection is refused and recorded; nothing leaves this machine)"
            + (", so it stopped there: that failure is this machine's" if stopped else
               " and the code carried on without it") + f". The endpoint needs {host} at every start: with network "
            "isolation, or in a VPC without a NAT gateway or endpoint, its workers die there. To do without it, put "
            "the files in the archive and load them from /opt/ml/model.",
            [f"{n.get('method') or n.get('via')} {t}" for n, t in zip(ns, targets)][:4] + ([at] if at else []),
            {"host": host, "where": w, "stage": ns[0].get("stage"), "targets": targets[:10], "source": "load-check",
             "stopped_the_check": stopped}))
    return out


def _signature_finding(lc: LoadCheck, evidence: list[str], where: str | None) -> Finding:
    """model_fn's failure came from its signature: the toolkit appended its context (or refused the count)."""
    sig = lc.signature or {}
    d = lc.handlers.get("model_fn") or {}
    at = f"{d['file']}:{d['line']}" if d.get("file") else "model_fn"
    defined = f"def model_fn{d.get('parameters', '(...)')}"
    if sig.get("toolkit"):
        what = f"the toolkit refuses its parameter count: {sig['toolkit'].rstrip('.')}"
    else:
        holders = sig.get("holders") or []
        first = holders[0]["name"] if holders else "its second parameter"
        last = holders[-1] if holders else None
        what = (f"the toolkit calls a two-parameter model_fn as model_fn(model_dir, context), so {first!r} is "
                f"TorchServe's {sig.get('context_type', 'Context')}"
                + (f"; it fails at {last['file']}:{last['line']} (in {last['function']}, where {last['name']} is the "
                   f"{sig.get('context_type', 'Context')})" if last else "")
                + f": {lc.error_type}: {lc.error}")
    return Finding("model-fn-signature", "error",
        f"{at} {defined}: {what}. Every worker dies loading the model. Make it def model_fn(model_dir) (or "
        "model_fn(model_dir, context) with a second parameter used as the context) and pass the optional value "
        "some other way.", [f"{at} {defined}"] + evidence,
        {"handler": "model_fn", "file": d.get("file"), "line": d.get("line"), "parameters": d.get("parameters"),
         "signature": sig, "where": where, "caller": lc.caller, "source": "load-check"})


def _request_findings(lc: LoadCheck) -> list[Finding]:
    """``handler-signature`` per request handler the toolkit's own transform could not call."""
    out = []
    for name, r in (lc.requests or {}).items():
        if not r.get("error"):
            continue
        d = lc.handlers.get(name) or {}
        at = f"{d['file']}:{d['line']} def {name}{d.get('parameters', '')}" if d.get("file") else name
        out.append(Finding(
            "handler-signature", "error",
            f"{at}: the toolkit's call of {name} fails ({r['error'].rstrip('.')}): every request fails. Give it the parameters "
            f"the toolkit passes (see the message), plus an optional last one for the context.",
            [at, r["error"]], {"handler": name, "file": d.get("file"), "line": d.get("line"),
                               "parameters": d.get("parameters"), "error": r["error"], "caller": lc.caller,
                               "source": "load-check"}))
    return out


_CRASH_MARKERS = ("Backend worker process died", "Load model failed")


def serve_check(model_dir: str | os.PathLike[str], *, program: str = "inference.py", env: ServingEnv | None = None,
                timeout: float = 240.0, log: Callable[[str], None] | None = None,
                image: str | None = None) -> LoadCheck:
    """The full check: serve ``model_dir`` (laid out as ``<base>/model``) with the real toolkit on the real
    TorchServe, and pass only when a worker reaches READY (``/ping`` alone proves nothing)."""
    import threading
    import urllib.error
    import urllib.request

    from .server import start_model_server

    model_dir = Path(model_dir).resolve()
    if model_dir.name != "model":
        raise ValueError("serve_check needs the model at <base>/model")
    env = env or ensure_serving_env(image, log=log)
    t0 = time.monotonic()
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="servecheck-") as work:
        server = start_model_server(env, base_dir=model_dir.parent, workdir=Path(work),
                                    environment={"SAGEMAKER_PROGRAM": program, "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
        reader = threading.Thread(target=lambda: out.extend(server.proc.stdout), daemon=True)
        reader.start()
        verdict, detail = "timeout", f"no worker became READY within {timeout:.0f} s"
        try:
            while time.monotonic() - t0 < timeout:
                if server.proc.poll() is not None:
                    verdict, detail = "exited", f"the container exited with {server.proc.returncode}"
                    break
                if any(m in line for line in list(out) for m in _CRASH_MARKERS):
                    verdict, detail = "crash-loop", "a worker died while loading the model"
                    break
                try:
                    with urllib.request.urlopen(f"{server.url}/models/model", timeout=2) as r:
                        workers = json.loads(r.read())[0].get("workers", [])
                    if any(w.get("status") == "READY" for w in workers):
                        verdict, detail = "ready", "a worker loaded the model and is READY"
                        break
                except (urllib.error.URLError, OSError, ValueError, IndexError, KeyError):
                    pass
                time.sleep(0.5)
        finally:
            server.stop()
            reader.join(timeout=5)
    ok = verdict == "ready"
    errors = [line.split(" - ", 1)[-1].strip() for line in out if "Error" in line and "MODEL_LOG" in line]
    result = LoadCheck(ok=ok, stage="serve" if not ok else "done", error_type=None if ok else verdict,
                       error=None if ok else detail, seconds=round(time.monotonic() - t0, 3),
                       output_tail=[line.rstrip() for line in out[-20:]])
    if not ok:
        result.findings.append(Finding("serve-check-failed", "error", f"TorchServe could not serve the model: {detail}.",
                                       errors[-5:]))
    return result
