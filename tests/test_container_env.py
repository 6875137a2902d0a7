"""What model code gets here instead of the caller's process state (issue 22 points 4, 5), quick: the container's
environment as an allow-list, the refusing proxy that stands in for "no network", and whether an endpoint reaches
a host from its model's network settings. The slow checks in the real serving environments: test_toolkit_calls.py."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from endpoint_runbook.endpoint.network_reach import endpoint_reach, network_needs
from endpoint_runbook.serving.image_profiles import profile_for_image
from endpoint_runbook.serving.offline import RefusingProxy
from endpoint_runbook.serving.server import container_env

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:{}"


def test_only_the_allow_list_reaches_model_code(tmp_path, monkeypatch):
    for k, v in {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "HF_HOME": "/k/hf", "TORCH_HOME": "/k/t",
                 "LD_LIBRARY_PATH": "/k/lib", "AWS_PROFILE": "dev", "HTTPS_PROXY": "http://corp:3128",
                 "PYTHONPATH": "/k/py", "OMP_NUM_THREADS": "1", "SAGEMAKER_INTERNAL_IMAGE_URI": "studio",
                 "PIP_INDEX_URL": "https://pypi.example/simple"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("JAVA_HOME", raising=False)  # passed on purpose when set (TorchServe's java)
    env = container_env(profile_for_image(IMAGE.format("2.1.0-cpu-py310")), home=tmp_path / "h", tmp=tmp_path / "t",
                        environment={"SAGEMAKER_PROGRAM": "serve.py", "HF_HOME": "/opt/ml/model/hf"},
                        extra={"SAGEMAKER_BIND_TO_PORT": "8080"}, path_prefix=["/serving/bin"])
    assert set(env) == {"PATH", "LANG", "MKL_THREADING_LAYER", "DLC_CONTAINER_TYPE", "SAGEMAKER_SERVING_MODULE", "TEMP",
                        "TMPDIR", "HOME", "PYTHONNOUSERSITE", "SAGEMAKER_PROGRAM", "HF_HOME",
                        "SAGEMAKER_BIND_TO_PORT"}, sorted(env)
    assert env["HF_HOME"] == "/opt/ml/model/hf"  # the model's own Environment wins, as on SageMaker
    assert env["PATH"].startswith("/serving/bin:") and env["HOME"] == str(tmp_path / "h") and (tmp_path / "h").is_dir()
    assert env["TEMP"] == env["TMPDIR"] == str(tmp_path / "t")
    with_pip = container_env(None, home=tmp_path / "h", tmp=tmp_path / "t", pip=True)
    assert with_pip["PIP_INDEX_URL"] == "https://pypi.example/simple" and with_pip["PIP_PROXY"] == "http://corp:3128"
    assert "HTTPS_PROXY" not in with_pip  # pip's proxy is pip's only


@pytest.mark.parametrize("tag, extra", [
    ("2.1.0-cpu-py310", {}),
    ("2.2.0-cpu-py310", {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "UTF-8", "LC_ALL": "C.UTF-8",
                         "PYTHONDONTWRITEBYTECODE": "1"}),
])
def test_the_images_own_variables_per_version(tag, extra):
    got = profile_for_image(IMAGE.format(tag)).container_env()
    assert got == {"LANG": "C.UTF-8", "MKL_THREADING_LAYER": "GNU", "DLC_CONTAINER_TYPE": "inference",
                   "SAGEMAKER_SERVING_MODULE": "sagemaker_pytorch_serving_container.serving:main",
                   "TEMP": "/home/model-server/tmp" if tag.startswith("2.1") else "/tmp", **extra}


def test_the_proxy_refuses_and_records_the_host():
    with RefusingProxy() as proxy:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url, "https": proxy.url}))
        with pytest.raises(urllib.error.URLError, match="403"):
            opener.open("https://weights.example.org/w.bin", timeout=5)
        with pytest.raises(urllib.error.HTTPError, match="403"):
            opener.open("http://plain.example.net:8080/x", timeout=5)
    got = [(a.method, a.host, a.port) for a in proxy.attempts]
    assert got == [("CONNECT", "weights.example.org", 443), ("GET", "plain.example.net", 8080)], got
    assert proxy.env()["HTTPS_PROXY"] == proxy.url and proxy.env()["NO_PROXY"] == ""


@pytest.mark.parametrize("isolation, vpc, reach", [
    (True, None, "no"), (False, {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, "vpc"), (False, None, "yes"),
    (True, {"Subnets": ["subnet-1"]}, "no"),
])
def test_whether_the_endpoint_reaches_a_host(isolation, vpc, reach):
    assert endpoint_reach(isolation, vpc).reach == reach


def test_a_network_need_says_this_machines_result_and_the_endpoints():
    static = [{"call": "segmentation_models_pytorch.UnetPlusPlus", "file": "code/m.py", "line": 10,
               "statement": "smp.UnetPlusPlus(classes=1)", "host": "huggingface.co", "what": "the encoder weights",
               "certain": True, "phase": "model_fn", "hint": "pass encoder_weights=None"}]
    tried = [{"host": "huggingface.co", "stage": "model_fn", "via": "proxy", "method": "CONNECT",
              "target": "huggingface.co:443", "where": {"file": "code/m.py", "line": 10}}]
    (iso,) = network_needs(True, None, static, tried, check_stopped=True)
    assert iso.severity == "error" and iso.data["this_machine"] == "refused (no network)"
    assert "This machine:" in iso.message and "The endpoint: cannot reach huggingface.co" in iso.message
    assert "encoder_weights=None" in iso.message and "code/m.py:10" in iso.message
    (vpc,) = network_needs(False, {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, static, [])
    assert vpc.severity == "warning" and "NAT gateway" in vpc.message and "the load check did not reach" in vpc.message
    (open_,) = network_needs(False, None, [], tried)
    assert open_.severity == "info" and "The endpoint: reaches huggingface.co" in open_.message
