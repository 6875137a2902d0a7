"""What the serving code needs when the container starts it, statically (issue 22 points 3, 5, 11): the handlers'
signatures against the toolkit's calls, the downloads the running code makes, and reads the code guards with
an existence check or a FileNotFoundError handler (no missing artifact). Quick: nothing is executed."""

from __future__ import annotations

import ast

import pytest
from endpoint_runbook.imports import resolve_imports
from endpoint_runbook.imports.downloads import smp_pinned_before_hub
from endpoint_runbook.imports.handlers import signature_problem


def report(code: str, extra: dict | None = None, requirements: str = ""):
    files = {"code/inference.py": code.encode(), "code/requirements.txt": requirements.encode(), **(extra or {})}
    return resolve_imports(files, image_modules=frozenset({"torch", "numpy", "requests", "torchvision"}))


def by_code(rep, code: str):
    return [f for f in rep.findings if f.code == code]


# ------------------------------------------------------------------------------------------------ downloads


DOWNLOADS = """\
import open_clip
import segmentation_models_pytorch as smp
import timm
import torch
import urllib.request
from huggingface_hub import hf_hub_download
from transformers import AutoModel
from torchvision.models import resnet50

LOCAL = "/opt/ml/model/bert"


def model_fn(model_dir):
    a = open_clip.create_model_and_transforms("ViT-B-32", pretrained="openai")
    b = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    c = smp.Unet("resnet18", encoder_weights=None)
    d = smp.Unet(encoder_name="efficientnet-b0")
    e = timm.create_model("resnet50", pretrained=True)
    f = timm.create_model("resnet50")
    g = AutoModel.from_pretrained("bert-base-uncased")
    h = AutoModel.from_pretrained(LOCAL)
    i = hf_hub_download("org/repo", "weights.bin")
    j = torch.hub.load("org/hubrepo", "model")
    k = torch.hub.load(model_dir + "/hub", "model", source="local")
    m = urllib.request.urlopen("https://weights.example.com/w.bin")
    n = resnet50(weights="IMAGENET1K_V2")
    o = resnet50()
    return a, b, c, d, e, f, g, h, i, j, k, m, n, o


def unused():
    return timm.create_model("vit", pretrained=True)
"""


def test_downloads_reachable_from_model_fn_are_named_with_call_line_and_host():
    rep = report(DOWNLOADS)
    got = {(d.line, d.call.rsplit(".", 1)[-1], d.host) for d in rep.downloads}
    assert got == {
        (14, "create_model_and_transforms", "huggingface.co"),
        (17, "Unet", "huggingface.co"),  # encoder_weights defaults to 'imagenet'
        (18, "create_model", "huggingface.co"),
        (20, "from_pretrained", "huggingface.co"),
        (22, "hf_hub_download", "huggingface.co"),
        (23, "load", "github.com"),
        (25, "urlopen", "weights.example.com"),
        (26, "resnet50", "download.pytorch.org"),
    }, got
    findings = by_code(rep, "startup-download")
    assert len(findings) == 8 and all(f.severity == "warning" for f in findings)
    unet = next(f for f in findings if f.data["line"] == 17)
    assert "code/inference.py:17" in unet.message and "efficientnet-b0" in unet.message
    assert "smp-hub/efficientnet-b0.imagenet" in unet.message and "encoder_weights=None" in unet.message
    assert not by_code(rep, "request-download")  # unused() is reached by nothing


def test_a_value_known_only_at_run_time_is_a_possible_download():
    rep = report("import open_clip\n\ndef model_fn(model_dir, cfg={}):\n"
                 "    return open_clip.create_model(cfg['name'], pretrained=cfg['tag'])\n")
    (f,) = by_code(rep, "startup-download")
    assert "may download" in f.message and "known only at run time" in f.message and f.data["certain"] is False


def test_speechbrain_from_hparams_with_a_hub_source_is_a_download_and_a_folder_is_not():
    """SpeechBrain's pretrained interfaces fetch ``source`` from the Hugging Face Hub unless it is a folder; the
    source often comes in as a parameter (speech-conversion projects' speaker embedder)."""
    rep = report("from speechbrain.inference import EncoderClassifier\n\n"
                 "def embedder(model_id='speechbrain/spkrec-xvect-voxceleb'):\n"
                 "    return EncoderClassifier.from_hparams(source=model_id, savedir='/tmp/x')\n\n"
                 "def model_fn(model_dir):\n"
                 "    a = EncoderClassifier.from_hparams(source='speechbrain/spkrec-ecapa-voxceleb')\n"
                 "    b = EncoderClassifier.from_hparams(source=model_dir + '/spkrec')\n"
                 "    return a, b, embedder()\n", requirements="speechbrain\n")
    found = {(f.data["line"], f.data["certain"]): f.message for f in by_code(rep, "startup-download")}
    assert set(found) == {(4, False), (7, True)}, found
    assert "the model speechbrain/spkrec-ecapa-voxceleb from huggingface.co" in found[(7, True)]
    assert "source=model_id" in found[(4, False)]


def test_a_request_time_download_is_named_as_such():
    rep = report("import tiktoken\n\ndef model_fn(model_dir):\n    return 1\n\n"
                 "def predict_fn(data, model):\n    return tiktoken.get_encoding('gpt2').encode(data)\n")
    (f,) = by_code(rep, "request-download")
    assert f.data["host"] == "openaipublic.blob.core.windows.net" and "first request" in f.message
    assert not by_code(rep, "startup-download")


def test_lightning_load_from_checkpoint_runs_the_constructor():
    """load_from_checkpoint (an external base's classmethod) builds the class: its __init__ runs in model_fn."""
    pkg = {"code/mdl/__init__.py": b"",
           "code/mdl/net.py": b"import pytorch_lightning as pl\nimport segmentation_models_pytorch as smp\n\n"
                              b"class Net(pl.LightningModule):\n    def __init__(self, args):\n        super().__init__()\n"
                              b"        self.model = smp.UnetPlusPlus(in_channels=4, classes=1)\n"}
    rep = report("import os\nfrom mdl.net import Net\n\ndef model_fn(model_dir):\n"
                 "    return Net.load_from_checkpoint(os.path.join(model_dir, 'm.ckpt'))\n", pkg,
                 "segmentation-models-pytorch\npytorch-lightning\n")
    (d,) = rep.downloads
    assert (d.file, d.line, d.phase, d.host) == ("code/mdl/net.py", 7, "model_fn", "huggingface.co"), d
    assert d.via == ("model_fn", "Net.__init__")


def test_smp_pinned_before_the_hub_names_the_original_url():
    code = "import segmentation_models_pytorch as smp\n\ndef model_fn(model_dir):\n    return smp.Unet()\n"
    assert report(code, requirements="segmentation-models-pytorch==0.3.3\n").downloads[0].host == \
        "download.pytorch.org"
    assert report(code, requirements="segmentation-models-pytorch\n").downloads[0].host == "huggingface.co"
    assert smp_pinned_before_hub(["segmentation_models_pytorch<0.5"])
    assert not smp_pinned_before_hub(["segmentation-models-pytorch>=0.4"])


# ----------------------------------------------------------------------------- reads behind existence checks


GUARDED_READS = """\
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "src").exists():
    sys.path.insert(0, str(ROOT / "src"))


def model_fn(model_dir):
    cfg = {}
    if os.path.isfile(os.path.join(model_dir, "extra.json")):
        cfg = json.load(open(os.path.join(model_dir, "extra.json")))
    if not os.path.exists(os.path.join(model_dir, "labels.txt")):
        return cfg
    labels = open(os.path.join(model_dir, "labels.txt")).read()
    try:
        vocab = open(os.path.join(model_dir, "vocab.txt")).read()
    except FileNotFoundError:
        vocab = ""
    weights = open(os.path.join(model_dir, "weights.bin"), "rb").read()
    return cfg, labels, vocab, weights
"""


def test_reads_the_code_checks_and_falls_back_from_are_not_missing_artifacts():
    rep = report(GUARDED_READS)
    (f,) = by_code(rep, "missing-artifact")
    assert f.data["paths"] == ["weights.bin"], f  # the one unguarded read
    # kept apart: a fix plan may still offer them when a source folder has them
    assert rep.optional_reads == ["extra.json", "labels.txt", "vocab.txt"], rep.optional_reads


def test_a_read_under_a_handler_that_raises_again_is_still_a_read():
    rep = report("import os\n\ndef model_fn(model_dir):\n    try:\n"
                 "        return open(os.path.join(model_dir, 'w.bin')).read()\n"
                 "    except FileNotFoundError:\n        raise RuntimeError('no weights')\n")
    assert by_code(rep, "missing-artifact")[0].data["paths"] == ["w.bin"]


# -------------------------------------------------------------------------------------- handler signatures


def _args(src: str) -> ast.arguments:
    return ast.parse(src).body[0].args  # type: ignore[attr-defined]


@pytest.mark.parametrize("handler, src, severity", [
    ("model_fn", "def f(model_dir): pass", None),
    ("model_fn", "def f(model_dir, context): pass", None),
    ("model_fn", "def f(*args): pass", None),
    ("model_fn", "def f(model_dir, *rest): pass", None),
    ("model_fn", "def f(model_dir, file_name=None): pass", "warning"),  # yif-AI: the context lands in file_name
    ("model_fn", "def f(): pass", "error"),
    ("model_fn", "def f(model_dir, a, b): pass", "error"),
    ("model_fn", "def f(model_dir, **kwargs): pass", "error"),  # 2 parameters: the context goes in positionally
    ("model_fn", "def f(model_dir, *, strict=True): pass", "error"),
    ("input_fn", "def f(body, content_type): pass", None),
    ("input_fn", "def f(body): pass", "error"),
    ("predict_fn", "def f(data, model, context): pass", None),
    ("output_fn", "def f(prediction, accept, context, extra): pass", "error"),
    ("transform_fn", "def f(model, body, content_type, accept): pass", None),
    ("transform_fn", "def f(model, body, content_type): pass", "error"),
])
def test_signatures_against_the_toolkits_calls(handler, src, severity):
    got = signature_problem(handler, _args(src))
    assert (got[0] if got else None) == severity, got


def test_a_signature_the_toolkit_trips_on_is_named_with_the_def_line():
    rep = report("def model_fn(model_dir, file_name=None):\n    return file_name\n\n\n"
                 "def input_fn(body):\n    return body\n")
    (m,) = by_code(rep, "model-fn-signature")
    assert m.severity == "warning" and "code/inference.py:1" in m.message and "'file_name'" in m.message
    assert "def model_fn(model_dir)" in m.message
    (h,) = by_code(rep, "handler-signature")
    assert h.severity == "error" and h.data["handler"] == "input_fn" and "code/inference.py:5" in h.message
    assert "every request fails" in h.message
