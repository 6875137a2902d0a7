"""Weights the serving code downloads at start-up, put in the archive where the library looks before it downloads.

An endpoint that reaches no host (``EnableNetworkIsolation``, a VPC without a NAT gateway) cannot fetch weights when
model_fn runs. When the user points at the files (``diagnose.weights``: ``{what the code fetches: a local path or an
s3:// URI}``), step 1 fetches them into the run dir, step 2 puts them in the archive and step 3 sets the variable that
sends the library there, so the same code loads them with no network and no change:

- torch.hub checkpoints (``torch.hub.load_state_dict_from_url``, ``torch.utils.model_zoo.load_url``, and
  torchvision's builders, which call it): torch.hub reads ``TORCH_HOME`` at every call and downloads nothing when
  ``$TORCH_HOME/hub/checkpoints/<the URL's file name>`` exists. The file goes to ``torch-home/hub/checkpoints/`` in
  the archive, ``TORCH_HOME=/opt/ml/model/torch-home``.
- Hugging Face Hub models (``from_pretrained(<id>)``, ``SentenceTransformer(<id>)``, ``hf_hub_download``,
  ``snapshot_download``): the hub's cache layout under ``$HF_HOME/hub`` — ``models--<org>--<name>/snapshots/<rev>/``
  with ``refs/main`` naming ``<rev>`` — and ``HF_HUB_OFFLINE=1``: the library resolves ``main`` from the cache and
  never calls the hub. The files are a folder (a local one, an ``s3://`` prefix, or a hub cache's own
  ``models--<org>--<name>`` folder, whose ``main`` snapshot is taken).

A URL the code fetches in its own way (``requests.get``, ``urlopen``) cannot be redirected by a variable: it is named
with its line, for the user to load the file from /opt/ml/model instead; nothing is applied.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ..errors import InputError
from ..imports.records import MODEL_DIR
from .remedies import Remedy

__all__ = ["TORCH_HOME", "HF_HOME", "WeightsPlan", "fetcher", "needs", "plan_weights", "seen_urls"]

TORCH_HOME = "torch-home"
HF_HOME = "hf-home"
_TORCH_CALLS = ("torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url")
_CAUSE = "network-at-startup"
#: Calls that fetch a hub model by its id (when the id is not known statically, the user's pointer names it).
_HUB_BY_ID = ("transformers.pipeline", "sentence_transformers.SentenceTransformer", "huggingface_hub.hf_hub_download",
              "huggingface_hub.snapshot_download")


@dataclass(frozen=True)
class Need:
    """A download at start-up: ``kind`` ``torch-hub`` (its file name decides where torch.hub looks), ``hf-hub`` (a
    hub id) or ``code`` (the code fetches it itself); ``target``: the URL or hub id, when known statically."""

    kind: str
    target: str
    where: str
    statement: str

    @property
    def key(self) -> str:
        return self.target or self.where


#: What torch.hub writes before it downloads a checkpoint (``load_state_dict_from_url``): the URL of a builder's
#: weights (torchvision's) that the code does not name.
_TORCH_DOWNLOADING = re.compile(r'Downloading: "(https?://[^"]+)" to ')


def seen_urls(lines: list[str]) -> list[str]:
    """The checkpoint URLs torch.hub said it was downloading (the load check's output, the container's log)."""
    return list(dict.fromkeys(m.group(1) for x in lines for m in _TORCH_DOWNLOADING.finditer(x)))


def needs(downloads: list[Mapping[str, Any]], seen: list[str] | None = None) -> list[Need]:
    """The downloads of the static analysis (``imports.downloads``, as dicts), each with how it can be served from
    the archive; ``seen``: checkpoint URLs torch.hub said it downloads (:func:`seen_urls`), which name the URL of a
    builder's weights the code does not."""
    out: dict[str, Need] = {}
    for d in downloads:
        call, target, host = d.get("call", ""), d.get("target") or "", d.get("host") or ""
        where = f"{d.get('file')}:{d.get('line')}"
        if call in _TORCH_CALLS or call.startswith("torchvision.models."):
            kind = "torch-hub"
        elif host == "huggingface.co" and (target or call in _HUB_BY_ID):
            kind = "hf-hub"  # without a target (pipeline's default model, an id known at run time): the user names it
            if call == "sentence_transformers.SentenceTransformer" and target and "/" not in target:
                target = f"sentence-transformers/{target}"  # its bare names are that organisation's models
        else:
            kind = "code"
        n = Need(kind, target, where, d.get("statement") or "")
        out.setdefault(n.key, n)
    blind = [n for n in out.values() if n.kind == "torch-hub" and not n.target]
    for url in seen or []:
        if blind and url not in out:
            out[url] = Need("torch-hub", url, blind[0].where, blind[0].statement)
            out.pop(blind[0].key, None)
    return list(out.values())


@dataclass
class WeightsPlan:
    remedies: list[Remedy] = field(default_factory=list)
    additions: list[dict[str, str]] = field(default_factory=list)  # step 2's: {source, target, kind: weights}
    notes: list[str] = field(default_factory=list)


def _file_name(url: str) -> str:
    return PurePosixPath(urlparse(url).path).name


def _match(key: str, found: list[Need]) -> Need | None:
    exact = next((n for n in found if n.target in (key, f"sentence-transformers/{key}")), None)
    if exact is not None:
        return exact
    if "/" in key and "://" not in key and not key.startswith(("/", ".")):  # a hub id the code names at run time
        return next((n for n in found if n.kind == "hf-hub" and not n.target), None)
    # torchvision's builders name no URL in the code: the user names the checkpoint's URL
    if urlparse(key).scheme in ("http", "https") and _file_name(key):
        return next((n for n in found if n.kind == "torch-hub" and not n.target), None)
    return None


def _check(pointers: Mapping[str, Any], found: list[Need]) -> dict[str, tuple[Need, str]]:
    """Each pointer's download and source; an :class:`InputError` for one the code does not make, before anything
    is fetched."""
    chosen: dict[str, tuple[Need, str]] = {}
    known = ", ".join(n.key for n in found if n.kind != "code") or "none that can be served from the archive"
    for key, source in pointers.items():
        if not isinstance(source, str) or not source.strip():
            raise InputError(f"diagnose.weights[{key!r}] is {source!r}: it takes a local path or an s3:// URI.",
                             code="bad-weights", hint="Name where the files are: /path/to/file or s3://bucket/key.")
        n = _match(str(key), found)
        if n is None:
            raise InputError(f"diagnose.weights names {key!r}, which the serving code does not download at start-up.",
                             code="bad-weights", hint=f"Name what the code downloads: {known}.")
        if n.kind == "code":
            raise InputError(f"diagnose.weights names {key!r}: the code fetches it itself ({n.where}), so no "
                             "variable can send it to the archive.", code="bad-weights",
                             hint=f"Put the file in the archive and load it from {MODEL_DIR} in {n.where}.")
        if not source.startswith("s3://") and not Path(source).expanduser().exists():
            raise InputError(f"diagnose.weights[{key!r}]: {source} does not exist here.", code="bad-weights",
                             hint="Name a file (torch.hub) or folder (Hugging Face) on this machine, or an s3:// URI.")
        chosen[str(key)] = (n, source)
    return chosen


def fetcher(s3: Any) -> Callable[[str, Path, bool], None]:
    """Copies a source to ``dest``: a local file or folder, an ``s3://`` object or (``folder``) every object under
    an ``s3://`` prefix."""
    from ..s3 import parse_s3_uri

    def fetch(source: str, dest: Path, folder: bool) -> None:
        if not source.startswith("s3://"):
            src = Path(source).expanduser()
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=False, dirs_exist_ok=True)  # a hub cache's links: their files
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            return
        bucket, key = parse_s3_uri(source)
        if not folder:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3.download_file(bucket, key, str(dest))
            except Exception as e:  # botocore's ClientError (404, 403): the pointer, said so
                raise InputError(f"diagnose.weights: {source} could not be read: {e}", code="bad-weights",
                                 hint="Name an object that exists and that these credentials may read.") from e
            return
        prefix = key.rstrip("/") + "/" if key else ""
        got = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                rel = o["Key"][len(prefix):]
                if rel and not rel.endswith("/") and ".." not in PurePosixPath(rel).parts:
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, o["Key"], str(dest / rel))
                    got += 1
        if not got:
            raise InputError(f"diagnose.weights: nothing is under {source}.", code="bad-weights",
                             hint="Name the s3:// prefix that holds the model's files.")

    return fetch


def _revision(folder: Path) -> str:
    """A name for a snapshot the hub did not name: 40 hex digits from the files' names and sizes (the hub's own
    revisions are commit ids of that form)."""
    h = hashlib.sha1()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(folder).as_posix()}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def _hub_layout(got: Path, repo: str, dest: Path) -> str:
    """``got`` (a model's files, or a hub cache's ``models--org--name`` folder) laid out as the hub's cache under
    ``dest`` (``$HF_HOME/hub``); the snapshot's revision."""
    cached = got / "snapshots"
    repo_dir = dest / ("models--" + repo.replace("/", "--"))
    if cached.is_dir():
        ref = got / "refs" / "main"
        snaps = sorted(p for p in cached.iterdir() if p.is_dir())
        rev = ref.read_text().strip() if ref.is_file() else (snaps[0].name if len(snaps) == 1 else "")
        if not rev or not (cached / rev).is_dir():
            raise InputError(f"diagnose.weights[{repo!r}]: the hub cache folder has no main snapshot.",
                             code="bad-weights", hint="Name the snapshot folder itself (snapshots/<revision>).")
        src = cached / rev
    else:
        src, rev = got, _revision(got)
    shutil.copytree(src, repo_dir / "snapshots" / rev, dirs_exist_ok=True)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(rev)
    return rev


def plan_weights(downloads: list[Mapping[str, Any]], pointers: Mapping[str, Any] | None,
                 fetch: Callable[[str, Path, bool], None], dest: Path, *, environment: Mapping[str, str],
                 seen: list[str] | None = None) -> WeightsPlan:
    """The archive's weights and the variables that send the libraries to them, for the downloads the endpoint cannot
    make (``downloads``: the static analysis's) and the files the user pointed at (``pointers``), fetched under
    ``dest`` (the run dir's). Without pointers: notes saying what to point at."""
    plan = WeightsPlan()
    found = needs(downloads, seen)
    if not found:
        return plan
    if not pointers:
        served = [n for n in found if n.kind != "code"]
        if served:
            keys = ", ".join(repr(n.key) for n in served)
            plan.notes.append(f"the endpoint cannot download its weights at start-up: point diagnose.weights at copies "
                              f"({{{keys.split(', ')[0]}: <local path or s3:// URI>}}; what it fetches: {keys}) and "
                              "step 2 puts them in the archive where the library looks first")
        for n in found:
            if n.kind == "code":
                plan.notes.append(f"{n.where} fetches {n.target or 'a file'} itself: put the file in the archive and "
                                  f"load it from {MODEL_DIR} (a change only you can make)")
        return plan
    chosen = _check(pointers, found)
    shutil.rmtree(dest, ignore_errors=True)
    torch_files, hub_repos = [], []
    for key, (n, source) in chosen.items():
        if n.kind == "torch-hub":
            name = _file_name(key)
            fetch(source, dest / TORCH_HOME / "hub" / "checkpoints" / name, False)
            if not (dest / TORCH_HOME / "hub" / "checkpoints" / name).is_file():
                raise InputError(f"diagnose.weights[{key!r}]: {source} is not a file.", code="bad-weights",
                                 hint="A torch.hub checkpoint is one file (.pth).")
            torch_files.append(f"{TORCH_HOME}/hub/checkpoints/{name}")
        else:
            got = dest / ".fetched" / (n.target or key).replace("/", "--")
            fetch(source, got, True)
            if not got.is_dir():
                raise InputError(f"diagnose.weights[{key!r}]: {source} is a file; a Hugging Face model is a folder.",
                                 code="bad-weights", hint="Name the folder (or s3:// prefix) that holds config.json "
                                 "and the weights, or a hub cache's models--<org>--<name> folder.")
            repo = n.target or key
            rev = _hub_layout(got, repo, dest / HF_HOME / "hub")
            shutil.rmtree(got)
            hub_repos.append(f"{HF_HOME}/hub/models--{repo.replace('/', '--')}/snapshots/{rev}")
    shutil.rmtree(dest / ".fetched", ignore_errors=True)
    if torch_files:
        plan.additions.append({"source": str(dest / TORCH_HOME), "target": TORCH_HOME, "package": "",
                               "kind": "weights"})
        plan.remedies += [
            Remedy(_CAUSE, "archive", f"{TORCH_HOME}/", None, torch_files, "the checkpoints model_fn downloads, from "
                   "the copies diagnose.weights names: torch.hub loads them from there", {}, applied_by="step 2"),
            Remedy(_CAUSE, "model", "TORCH_HOME", environment.get("TORCH_HOME"), f"{MODEL_DIR}/{TORCH_HOME}",
                   "torch.hub looks in $TORCH_HOME/hub/checkpoints before it downloads", {})]
    if hub_repos:
        plan.additions.append({"source": str(dest / HF_HOME), "target": HF_HOME, "package": "", "kind": "weights"})
        plan.remedies += [
            Remedy(_CAUSE, "archive", f"{HF_HOME}/", None, hub_repos, "the models model_fn fetches from the Hugging "
                   "Face Hub, from the copies diagnose.weights names, in the hub's cache layout", {},
                   applied_by="step 2"),
            Remedy(_CAUSE, "model", "HF_HOME", environment.get("HF_HOME"), f"{MODEL_DIR}/{HF_HOME}",
                   "the Hugging Face libraries read their cache from $HF_HOME/hub", {}),
            Remedy(_CAUSE, "model", "HF_HUB_OFFLINE", environment.get("HF_HUB_OFFLINE"), "1",
                   "offline, the hub's library resolves the model from the cache and never calls the hub", {})]
    return plan
