"""The load check as the container runs the model (issue 22 points 3, 4, 5): the image's own toolkit calls the
handlers (HandlerService with TorchServe's Context), the model sees the container's environment (never the
caller's), and has no network (a refusing, recording proxy). In the exact 2.1 and 2.0 environments, on small
purpose-built models and on the real-shape archives (tests/realshapes.py); diagnose's verdict on them."""

from __future__ import annotations

import json
import os
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import realshapes
from endpoint_runbook.archive import safe_extract
from endpoint_runbook.records import read_record
from endpoint_runbook.serving.loadcheck import load_check_dir
from endpoint_runbook.serving.server import start_model_server
from endpoint_runbook.steps import diagnose, rebuild_archive
from test_diagnose import _deploy
from tinymodel import tar_gz

pytestmark = pytest.mark.slow

IMAGE_21 = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
IMAGE_20 = "763104351884.dkr.ecr.eu-central-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310"
KERNEL_ONLY = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "HF_HOME": "/kernel/hf",
               "LD_LIBRARY_PATH": "/kernel/lib", "ERB_KERNEL_ONLY": "1", "HTTPS_PROXY": "http://kernel-proxy:3128"}


def model(tmp_path: Path, code: str, requirements: str | None = None) -> Path:
    d = tmp_path / f"m-{uuid.uuid4().hex[:6]}" / "ml" / "model"
    (d / "code").mkdir(parents=True)
    (d / "code" / "inference.py").write_text(code)
    if requirements:
        (d / "code" / "requirements.txt").write_text(requirements)
    return d


# ------------------------------------------------------------------------- the container's environment (4)

SEES_ENV = """\
import json, os
import matplotlib.pyplot as plt

def model_fn(model_dir):
    seen = dict(os.environ, MPL=plt.get_backend())
    with open(os.environ.get("SEEN_OUT") or os.path.join(model_dir, "env.json"), "w") as f:
        json.dump(seen, f)
    return seen
"""


def test_the_kernels_variables_never_reach_the_model(env21, tmp_path, monkeypatch):
    """MPLBACKEND=module://matplotlib_inline... in the caller (a notebook kernel) broke every model that imports
    matplotlib (pytorch_lightning → torchmetrics → matplotlib): the check runs with the container's variables."""
    for k, v in KERNEL_ONLY.items():
        monkeypatch.setenv(k, v)
    d = model(tmp_path, SEES_ENV)
    lc = load_check_dir(d, env=env21, environment={"SAGEMAKER_PROGRAM": "inference.py", "MODEL_SETTING": "x"})
    assert lc.ok, lc.to_dict()
    seen = json.loads((d / "env.json").read_text())
    assert not {k for k, v in KERNEL_ONLY.items() if seen.get(k) == v}, sorted(seen)
    assert seen["MPL"].lower() == "agg" and seen["MODEL_SETTING"] == "x"  # the model's Environment, as SageMaker
    # the image's ENV (its Dockerfile), a private home with no caches, a private temp dir
    assert (seen["LANG"], seen["MKL_THREADING_LAYER"], seen["DLC_CONTAINER_TYPE"]) == ("C.UTF-8", "GNU", "inference")
    assert seen["HOME"] != os.path.expanduser("~") and seen["TEMP"] == seen["TMPDIR"]
    assert seen["HTTPS_PROXY"].startswith("http://127.0.0.1:")  # the check's own refusing proxy, not the kernel's


NEEDS_SETTING = """\
import os
import helpers

def model_fn(model_dir):
    return helpers.build(os.environ["MODEL_SETTING"])
"""


def test_step_2_checks_the_fix_in_the_models_environment_as_step_1_did(aws, tmp_path):
    """A model_fn that reads a variable of the model's Environment: step 1's check runs with it, and so must step 2's
    (without it the rebuilt archive fails its check on a KeyError no container meets, and nothing is uploaded)."""
    pkg = tmp_path / "repo" / "helpers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def build(setting):\n    return {'setting': setting}\n")
    name = _deploy(aws, tar_gz({"code/inference.py": NEEDS_SETTING.encode()}),
                   env={"SAGEMAKER_PROGRAM": "inference.py", "MODEL_SETTING": "x"})
    run_dir = str(tmp_path / "run")
    v = diagnose.run(aws, run_dir=run_dir, endpoint_name=name, source_roots=[str(tmp_path / "repo")]).verdict
    assert [a["target"] for a in v.fix["additions"]] == ["code/helpers/"] and v.after_fix["ok"], v.after_fix
    r = rebuild_archive.run(aws, run_dir=run_dir)
    assert r.status == "passed" and r.load_check.ok and r.load_check.stage == "done", r.load_check.to_dict()
    assert "environment" not in read_record(run_dir, "rebuild_archive")  # its values stay in 01-diagnose.json


def test_the_local_stacks_model_container_gets_the_containers_environment(env21, tmp_path, monkeypatch):
    for k, v in KERNEL_ONLY.items():
        monkeypatch.setenv(k, v)
    d = model(tmp_path, SEES_ENV)
    out = tmp_path / "seen.json"
    server = start_model_server(env21, base_dir=d.parent, workdir=tmp_path / "work", environment={
        "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SEEN_OUT": str(out)},
        extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    try:
        deadline = time.monotonic() + 240
        while not out.is_file() and time.monotonic() < deadline and server.proc.poll() is None:
            time.sleep(0.5)
    finally:
        server.stop()
    log = server.proc.stdout.read() if server.proc.stdout else ""
    assert out.is_file(), log[-3000:]
    seen = json.loads(out.read_text())
    assert not set(KERNEL_ONLY) & set(seen), sorted(seen)
    assert seen["MPL"].lower() == "agg" and seen["SAGEMAKER_SERVING_MODULE"].startswith("sagemaker_pytorch")
    assert seen["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"  # what the local stack passes on purpose


# --------------------------------------------------------------------------- the toolkit's own calls (3)


@pytest.mark.parametrize("image", [IMAGE_21, IMAGE_20])
def test_model_fn_gets_the_toolkits_context_as_its_second_argument(image, tmp_path):
    """yif-AI's shape: model_fn(model_dir, file_name=None) joins file_name into a path. Through the toolkit (2.0.24
    vendored in the 2.1 image; 2.0.16 + sagemaker-inference 1.10.1 in 2.0) it gets TorchServe's Context."""
    d = model(tmp_path, "import os\n\ndef model_fn(model_dir, file_name=None):\n    return load(model_dir, file_name)\n\n\n"
                        "def load(model_dir, name):\n    return open(os.path.join(model_dir, name or 'w.txt')).read()\n")
    (d / "w.txt").write_text("w")
    lc = load_check_dir(d, image=image)
    assert not lc.ok and lc.stage == "model_fn" and lc.error_type == "TypeError" and "'Context'" in lc.error
    assert "sagemaker-pytorch-inference" in lc.caller and "TorchServe" in lc.caller
    (f,) = [f for f in lc.findings if f.code == "model-fn-signature"]
    assert f.severity == "error" and "code/inference.py:3 def model_fn(model_dir, file_name=None)" in f.message
    assert "code/inference.py:8 (in load, where name is the Context)" in f.message, f.message
    assert "model-fn-error" not in [x.code for x in lc.findings]


def test_a_context_taking_model_fn_gets_the_model_dir_in_its_context(env21, tmp_path):
    d = model(tmp_path, "def model_fn(model_dir, context):\n"
                        "    assert context.system_properties['model_dir'] == model_dir, context.system_properties\n"
                        "    return type(context).__module__ + '.' + type(context).__name__\n")
    lc = load_check_dir(d, env=env21)
    assert lc.ok and lc.model_type == "str" and lc.handlers["model_fn"]["context"], lc.to_dict()


def test_signatures_the_toolkit_refuses(env21, tmp_path):
    bad_count = model(tmp_path, "def model_fn(model_dir, a, b):\n    return 1\n")
    lc = load_check_dir(bad_count, env=env21)
    assert not lc.ok and lc.signature == {"toolkit": "model_fn takes 3 arguments but 1 were given."}
    assert [f.code for f in lc.findings] == ["model-fn-signature"]
    handlers = model(tmp_path, "def model_fn(model_dir):\n    return 1\n\n"
                               "def input_fn(body):\n    raise RuntimeError('never run by the dry run')\n\n"
                               "def predict_fn(data, model, *, strict=True):\n    return data\n\n"
                               "def output_fn(prediction, accept, context):\n    return str(prediction)\n")
    lc = load_check_dir(handlers, env=env21)
    assert lc.ok and lc.stage == "done", lc.to_dict()
    assert lc.requests["output_fn"] == {"passed": 3, "error": None}  # the toolkit appended its context
    got = {f.data["handler"]: f for f in lc.findings if f.code == "handler-signature"}
    assert set(got) == {"input_fn", "predict_fn"}, lc.requests
    assert "input_fn takes 1 arguments but 2 were given" in got["input_fn"].message
    assert "code/inference.py:7 def predict_fn(data, model, *, strict=True)" in got["predict_fn"].message


def test_without_model_fn_the_toolkits_default_loads_model_pt(env21, tmp_path):
    d = model(tmp_path, "X = 1\n")
    lc = load_check_dir(d, env=env21)
    # the 2.1 image's default_model_fn: exactly one .pt/.pth in the model dir
    assert not lc.ok and lc.stage == "model_fn" and ".pt" in (lc.error or ""), lc.to_dict()


# ------------------------------------------------------------------------------------- no network (5)

FETCHES = """\
import asyncio, json, os, socket, urllib.parse, urllib.request

def _try(fn):
    try:
        fn()
        return "ok"
    except Exception as e:
        return type(e).__name__

async def _async_client():  # an asyncio client (non-blocking connect) going through the proxy
    proxy = urllib.parse.urlparse(os.environ["HTTPS_PROXY"])
    reader, writer = await asyncio.open_connection(proxy.hostname, proxy.port)
    writer.write(b"CONNECT async.example.org:443 HTTP/1.1\\r\\nHost: async.example.org:443\\r\\n\\r\\n")
    await writer.drain()
    status = await reader.readline()
    writer.close()
    raise ConnectionError(status.decode().strip())

def model_fn(model_dir):
    import huggingface_hub, requests, torch
    return json.dumps([
        _try(lambda: urllib.request.urlopen("https://weights.example.org/w.bin", timeout=5)),
        _try(lambda: requests.get("https://files.example.com/w.bin", timeout=5)),
        _try(lambda: torch.hub.load_state_dict_from_url("https://download.pytorch.org/models/r.pth", model_dir="/tmp/x")),
        _try(lambda: huggingface_hub.hf_hub_download("smp-hub/resnet34.imagenet", "config.json")),
        _try(lambda: socket.create_connection(("direct.example.net", 443), timeout=5)),
        _try(lambda: asyncio.run(_async_client())),
    ])
"""


def test_every_http_client_goes_through_the_recording_proxy(env21, tmp_path):
    """urllib (and so torch.hub), requests and huggingface_hub's client honour HTTP(S)_PROXY: the proxy records
    each host (CONNECT) and refuses; a direct connection is refused in the process, its name noted."""
    d = model(tmp_path, FETCHES, "segmentation-models-pytorch\n")  # brings huggingface_hub
    lc = load_check_dir(d, env=env21)
    assert lc.ok, lc.to_dict()
    by_host = {n["host"]: n for n in lc.network}
    through_proxy = ("weights.example.org", "files.example.com", "download.pytorch.org", "huggingface.co",
                     "async.example.org")
    assert {h: by_host[h]["via"] for h in through_proxy} == dict.fromkeys(through_proxy, "proxy"), lc.network
    assert by_host["async.example.org"]["where"]["file"] == "code/inference.py"  # its frame, though non-blocking
    assert by_host["huggingface.co"]["method"] == "CONNECT" and by_host["huggingface.co"]["port"] == 443
    assert by_host["direct.example.net"]["via"] == "lookup"
    assert by_host["huggingface.co"]["where"]["file"] == "code/inference.py"
    assert "hf_hub_download" in by_host["huggingface.co"]["where"]["fetch"]
    found = {f.data["host"] for f in lc.findings if f.code == "startup-download"}
    assert found == set(by_host) and all("carried on" in f.message for f in lc.findings
                                         if f.code == "startup-download")


# ------------------------------------------------------------------------------------ the real shapes


@pytest.fixture(scope="module")
def fixed(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("realshapes-22a")
    return {p: realshapes.build(p, "fixed", out / p) for p in realshapes.PROJECTS}


def _extract(archive: Path, tmp_path: Path) -> Path:
    d = tmp_path / "ml" / "model"
    with open(archive, "rb") as f:
        safe_extract(f, d)
    return d


@pytest.mark.parametrize("project, file, line, call", [
    ("plasticdetection", "code/marinedebrisdetector_mod/model/model.py", 10, "smp.UnetPlusPlus"),
    ("stygig", "code/inference.py", 111, "open_clip.create_model_and_transforms"),
])
def test_the_real_shapes_startup_downloads_are_recorded_with_the_call(fixed, tmp_path, monkeypatch, project, file,
                                                                       line, call):
    """smp 0.6's default encoder weights and open_clip's 'openai' tag: both fetched from huggingface.co in model_fn
    (the 2.0 and 2.1 images), recorded by the proxy, at the model's own line; the kernel's MPLBACKEND stays out
    (plasticdetection imports pytorch_lightning → torchmetrics → matplotlib)."""
    monkeypatch.setenv("MPLBACKEND", KERNEL_ONLY["MPLBACKEND"])
    spec = realshapes.PROJECTS[project]
    lc = load_check_dir(_extract(fixed[project], tmp_path), program=spec.program, image=spec.image)
    assert lc.stage == "model_fn" and not lc.ok and not lc.missing_module, lc.to_dict()
    hosts = {(n["host"], n["where"].get("file"), n["where"].get("line")) for n in lc.startup_network}
    assert hosts == {("huggingface.co", file, line)}, lc.network
    (f,) = [f for f in lc.findings if f.code == "startup-download"]
    assert f"{file}:{line}" in f.message and call.split(".")[-1] in f.message and "this machine's" in f.message
    assert "model-fn-error" not in [x.code for x in lc.findings]  # the check's missing network is no model fault


def test_yif_ai_dies_on_its_signature_at_its_own_line(fixed, tmp_path):
    spec = realshapes.PROJECTS["yif-ai"]
    lc = load_check_dir(_extract(fixed["yif-ai"], tmp_path), program=spec.program, image=spec.image)
    (f,) = [f for f in lc.findings if f.code == "model-fn-signature"]
    inner = lc.signature["holders"][-1]
    assert inner["file"] == "code/utils/inference.py" and inner["name"] == "file_name"
    assert f"code/utils/inference.py:{inner['line']}" in f.message and "code/inference.py:10" in f.message


def test_swinir2_loads_and_its_handlers_fit_the_2_0_toolkit(fixed, tmp_path):
    spec = realshapes.PROJECTS["swinir2"]
    lc = load_check_dir(_extract(fixed["swinir2"], tmp_path), program=spec.program, image=spec.image)
    assert lc.ok and lc.network == [], lc.to_dict()
    assert "2.0.16" in lc.caller and "sagemaker-inference 1.10.1" in lc.caller and "0.8.2" in lc.caller
    assert lc.requests == {n: {"passed": 2, "error": None} for n in ("input_fn", "predict_fn", "output_fn")}


# --------------------------------------------------------------------------------------- diagnose's verdict


def _tar_bytes(path: Path) -> bytes:
    with tarfile.open(path):  # a valid archive
        return path.read_bytes()


def test_diagnose_names_yif_ais_signature(aws, fixed, tmp_path):
    name = _deploy(aws, _tar_bytes(fixed["yif-ai"]), env={"SAGEMAKER_PROGRAM": "inference.py"})
    v = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name).verdict
    assert (v.cause, v.sub_cause, v.confidence) == ("model-fn-signature", "model-fn-signature", "high"), v.summary
    assert "code/inference.py:10 def model_fn(model_dir, file_name=None)" in v.summary
    assert "code/utils/inference.py:" in v.summary and "def model_fn(model_dir)" in v.fix["notes"][0]


def test_diagnose_says_a_vpc_endpoint_reaches_the_clip_weights_only_through_a_nat(aws, fixed, tmp_path):
    name = _deploy(aws, _tar_bytes(fixed["stygig"]), vpc={"Subnets": ["subnet-0abc"], "SecurityGroupIds": ["sg-1"]})
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name)
    v = d.verdict
    assert (v.cause, v.sub_cause) == ("model-fn-error", "network-at-startup"), v.summary
    assert "huggingface.co" in v.summary and "code/inference.py:111" in v.summary and "NAT gateway" in v.summary
    (need,) = [f for f in d.findings if f.code == "network-need"]
    assert need.data["endpoint_reach"] == "vpc" and need.data["this_machine"] == "refused (no network)"


def test_diagnose_on_the_stack_says_an_isolated_endpoint_cannot_fetch_the_encoder(stack_aws, fixed, tmp_path):
    """PlasticDetectionModel with EnableNetworkIsolation, on the local stack (2.0 image): the verdict is the encoder
    download at its line, with its host, and what to change (encoder_weights=None: the checkpoint holds them)."""
    s3, sm = stack_aws.client("s3"), stack_aws.client("sagemaker")
    name = f"rs-iso-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack_aws.region})
    s3.upload_file(str(fixed["plasticdetection"]), name, "model.tar.gz")
    spec = realshapes.PROJECTS["plasticdetection"]
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/rs", EnableNetworkIsolation=True,
                    PrimaryContainer={"Image": spec.image, "ModelDataUrl": f"s3://{name}/model.tar.gz",
                                      "Environment": {"SAGEMAKER_PROGRAM": spec.program,
                                                      "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
    assert sm.describe_model(ModelName=name)["EnableNetworkIsolation"] is True
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        d = diagnose.run(stack_aws, run_dir=str(tmp_path), endpoint_name=name)
    finally:
        sm.delete_endpoint(EndpointName=name)
    v = d.verdict
    assert (v.cause, v.sub_cause, v.confidence) == ("model-fn-error", "network-at-startup", "high"), v.summary
    assert "huggingface.co" in v.summary and "cannot reach" in v.summary and "UnetPlusPlus" in v.summary
    assert "model/model.py:10" in v.summary and "encoder_weights=None" in " ".join(v.fix["notes"])
    assert d.endpoint.network_isolation is True
    (need,) = [f for f in d.findings if f.code == "network-need"]
    assert need.severity == "error" and need.data["endpoint_reach"] == "no"
