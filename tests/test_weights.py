"""Weights model_fn downloads at start-up, put in the archive where the library looks first (``endpoint.weights``).

The layouts are proved with the real libraries, with no network: torch.hub (this project's torch) loads the vendored
checkpoint with ``TORCH_HOME`` set, and huggingface_hub (installed from the index into a folder of its own)
resolves a vendored model offline. Bad pointers are refused before anything is fetched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from endpoint_runbook.endpoint.weights import fetcher, needs, plan_weights
from endpoint_runbook.errors import InputError

URL = "https://download.pytorch.org/models/offset-net-5c1e2f3a.pth"
TORCH = {"call": "torch.hub.load_state_dict_from_url", "target": URL, "host": "download.pytorch.org",
         "file": "code/inference.py", "line": 9, "statement": "torch.hub.load_state_dict_from_url(URL)"}
HUB = {"call": "transformers.AutoModel.from_pretrained", "target": "acme/tiny-bert", "host": "huggingface.co",
       "file": "code/inference.py", "line": 12, "statement": "AutoModel.from_pretrained('acme/tiny-bert')"}
RAW = {"call": "requests.get", "target": "https://example.com/w.bin", "host": "example.com",
       "file": "code/inference.py", "line": 15, "statement": "requests.get('https://example.com/w.bin')"}
VISION = {"call": "torchvision.models.resnet18", "target": "", "host": "download.pytorch.org",
          "file": "code/inference.py", "line": 20, "statement": "resnet18(weights='IMAGENET1K_V1')"}


def _offline_env(**extra: str) -> dict[str, str]:
    """No route anywhere: proxies to a closed port (a download fails at once instead of waiting on DNS)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    dead = "http://127.0.0.1:9"
    return {**env, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead, **extra}


def test_each_download_says_how_the_archive_can_serve_it():
    kinds = {n.key: n.kind for n in needs([TORCH, HUB, RAW, VISION])}
    assert kinds == {URL: "torch-hub", "acme/tiny-bert": "hf-hub", "https://example.com/w.bin": "code",
                     "code/inference.py:20": "torch-hub"}


def test_without_pointers_the_notes_say_what_to_point_at_and_nothing_is_fetched(tmp_path):
    plan = plan_weights([TORCH, RAW], None, fetcher(None), tmp_path / "w", environment={})
    assert not plan.remedies and not plan.additions and not (tmp_path / "w").exists()
    assert any(URL in n and "diagnose.weights" in n for n in plan.notes)
    assert any(n.startswith("code/inference.py:15 fetches https://example.com/w.bin itself") for n in plan.notes)


@pytest.mark.parametrize("pointers, says", [
    ({"https://download.pytorch.org/models/other.pth": "/x"}, None),  # no torchvision builder: not a download made
    ({"acme/other-model": "/x"}, "does not download"),
    ({"https://example.com/w.bin": "/x"}, "fetches it itself"),
    ({URL: "/no/such/file.pth"}, "does not exist"),
    ({URL: ""}, "local path or an s3:// URI"),
])
def test_a_pointer_the_code_does_not_need_is_refused_before_anything_is_fetched(tmp_path, pointers, says):
    fetched = []
    with pytest.raises(InputError) as e:
        plan_weights([TORCH, HUB, RAW], pointers, lambda *a: fetched.append(a), tmp_path / "w", environment={})
    assert e.value.code == "bad-weights" and (says is None or says in str(e.value))
    assert not fetched and not (tmp_path / "w").exists()


def test_a_torch_hub_checkpoint_is_loaded_from_the_archive_with_no_network(tmp_path):
    import torch

    copy = tmp_path / "mine.pth"
    torch.save({"offset": torch.tensor(100)}, copy)
    dest = tmp_path / "run" / "vendor" / "weights"
    plan = plan_weights([TORCH], {URL: str(copy)}, fetcher(None), dest, environment={"TORCH_HOME": "/root/.t"})
    assert plan.additions == [{"source": str(dest / "torch-home"), "target": "torch-home", "package": "",
                               "kind": "weights"}]
    by_field = {r.field: r for r in plan.remedies}
    assert by_field["torch-home/"].after == ["torch-home/hub/checkpoints/offset-net-5c1e2f3a.pth"]
    assert (by_field["TORCH_HOME"].before, by_field["TORCH_HOME"].after) == ("/root/.t", "/opt/ml/model/torch-home")
    # the archive's folder as the container has it at /opt/ml/model/torch-home: torch.hub finds it, no download
    model_dir = tmp_path / "model"
    (model_dir / "torch-home").parent.mkdir(parents=True)
    os.symlink(dest / "torch-home", model_dir / "torch-home")
    code = f"import torch; print(int(torch.hub.load_state_dict_from_url({URL!r}, map_location='cpu')['offset']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=_offline_env(TORCH_HOME=str(model_dir / "torch-home")))
    assert out.returncode == 0 and out.stdout.strip() == "100", out.stderr[-2000:]
    # and without it the same call needs the network (the failure the remedy answers)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=_offline_env(TORCH_HOME=str(tmp_path / "empty")))
    assert out.returncode != 0 and "URLError" in out.stderr


def test_a_torchvision_builder_is_served_under_the_checkpoint_url_the_user_names(tmp_path):
    copy = tmp_path / "resnet18-f37072fd.pth"
    copy.write_bytes(b"weights")
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    plan = plan_weights([VISION], {url: str(copy)}, fetcher(None), tmp_path / "w", environment={})
    assert (tmp_path / "w" / "torch-home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").read_bytes() == b"weights"
    assert {r.field for r in plan.remedies} == {"torch-home/", "TORCH_HOME"}


@pytest.fixture(scope="module")
def hf_hub(tmp_path_factory):
    """huggingface_hub from the index, in a folder of its own (this project does not depend on it)."""
    target = tmp_path_factory.mktemp("hf-hub-lib")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--target", str(target), "huggingface_hub>=0.20,<1"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"pip could not install huggingface_hub: {out.stdout[-1500:]}{out.stderr[-1500:]}")
    return target


def _hub_resolves(lib: Path, home: Path, repo: str, filename: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from huggingface_hub import hf_hub_download; "
            f"print(open(hf_hub_download({repo!r}, {filename!r})).read())")
    env = _offline_env(PYTHONPATH=str(lib), HF_HOME=str(home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.slow
def test_a_hub_model_folder_is_resolved_offline_from_the_archive(tmp_path, hf_hub):
    files = tmp_path / "tiny-bert"
    files.mkdir()
    (files / "config.json").write_text('{"model_type": "bert"}')
    (files / "model.safetensors").write_bytes(b"\0" * 64)
    dest = tmp_path / "w"
    plan = plan_weights([HUB], {"acme/tiny-bert": str(files)}, fetcher(None), dest, environment={})
    env = {r.field: r.after for r in plan.remedies if r.where == "model"}
    assert env == {"HF_HOME": "/opt/ml/model/hf-home", "HF_HUB_OFFLINE": "1"}
    out = _hub_resolves(hf_hub, dest / "hf-home", "acme/tiny-bert", "config.json")
    assert out.returncode == 0 and out.stdout.strip() == '{"model_type": "bert"}', out.stderr[-2000:]
    # the same call with an empty home fails offline: the layout is what made it resolve
    out = _hub_resolves(hf_hub, tmp_path / "empty", "acme/tiny-bert", "config.json")
    assert out.returncode != 0


@pytest.mark.slow
def test_a_hub_cache_folder_keeps_its_own_main_revision(tmp_path, hf_hub):
    rev = "a" * 40
    cache = tmp_path / "models--acme--tiny-bert"
    (cache / "snapshots" / rev).mkdir(parents=True)
    (cache / "snapshots" / rev / "config.json").write_text('{"v": 2}')
    (cache / "snapshots" / ("b" * 40)).mkdir()
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text(rev)
    dest = tmp_path / "w"
    plan = plan_weights([HUB], {"acme/tiny-bert": str(cache)}, fetcher(None), dest, environment={})
    [archived] = [r for r in plan.remedies if r.field == "hf-home/"]
    assert archived.after == [f"hf-home/hub/models--acme--tiny-bert/snapshots/{rev}"]
    out = _hub_resolves(hf_hub, dest / "hf-home", "acme/tiny-bert", "config.json")
    assert out.returncode == 0 and out.stdout.strip() == '{"v": 2}', out.stderr[-2000:]


def test_a_sentence_transformers_bare_name_is_that_organisations_model_and_pipeline_ids_are_named_by_the_user(tmp_path):
    st = {**HUB, "call": "sentence_transformers.SentenceTransformer", "target": "all-MiniLM-L6-v2"}
    default = {**HUB, "call": "transformers.pipeline", "target": "", "line": 30}
    assert [(n.kind, n.key) for n in needs([st, default])] == [
        ("hf-hub", "sentence-transformers/all-MiniLM-L6-v2"), ("hf-hub", "code/inference.py:30")]
    files = tmp_path / "m"
    files.mkdir()
    (files / "modules.json").write_text("[]")
    plan = plan_weights([st], {"all-MiniLM-L6-v2": str(files)}, fetcher(None), tmp_path / "w", environment={})
    [archived] = [r for r in plan.remedies if r.field == "hf-home/"]
    assert archived.after[0].startswith("hf-home/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/")
    plan = plan_weights([default], {"distilbert/distilbert-base-uncased-finetuned-sst-2-english": str(files)},
                        fetcher(None), tmp_path / "w2", environment={})
    assert (tmp_path / "w2" / "hf-home" / "hub" / "models--distilbert--distilbert-base-uncased-finetuned-sst-2-english"
            / "refs" / "main").is_file()


def test_a_torchvision_builders_checkpoint_url_is_read_from_what_torch_hub_said_it_downloads(tmp_path):
    """torchvision's builders name no URL in the code; torch.hub writes it before the download that failed."""
    said = ['Downloading: "https://download.pytorch.org/models/resnet50-0676ba61.pth" to '
            '/root/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth', "URLError: <urlopen error [Errno -3]>"]
    plan = plan_weights([VISION], None, fetcher(None), tmp_path / "w", environment={},
                        seen=["https://download.pytorch.org/models/resnet50-0676ba61.pth"])
    assert any("'https://download.pytorch.org/models/resnet50-0676ba61.pth'" in n for n in plan.notes), plan.notes
    from endpoint_runbook.endpoint.weights import seen_urls

    assert seen_urls(said) == ["https://download.pytorch.org/models/resnet50-0676ba61.pth"]


def test_a_hub_model_pointed_at_one_file_is_refused(tmp_path):
    one = tmp_path / "model.safetensors"
    one.write_bytes(b"\0" * 8)
    with pytest.raises(InputError) as e:
        plan_weights([HUB], {"acme/tiny-bert": str(one)}, fetcher(None), tmp_path / "w", environment={})
    assert e.value.code == "bad-weights" and "is a folder" in str(e.value)
