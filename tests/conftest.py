"""Shared fixtures. AWS is moto's real server on loopback; model containers are real TorchServe."""

from __future__ import annotations

import os
import socket

import pytest
from stacks import running_stack

# Reliability report (issue 8 item 5): writes runs/reliability-report.json, fails the session on loss.
pytest_plugins = ["conftest_reliability", "conftest_logscores"]

# No test may ever reach real AWS, whatever the developer's environment holds.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
# Fake credentials shaped like real ones (an AKIA… key id, a 40-character secret), so that the secrets scan of
# executed notebooks and records is meaningful: a leak of the run's own credentials would be found.
os.environ["AWS_ACCESS_KEY_ID"] = "AKIAERBTESTRUNFAKE42"
os.environ["AWS_SECRET_ACCESS_KEY"] = "erbTestRunFake/SecretKey+NotReal01234567"
os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url():
    """A plain moto server (no model hosting) for tests of S3/logs/SNS logic. Session-wide; tests use
    unique bucket/queue names."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture()
def aws(moto_url):
    from endpoint_runbook.aws import Aws, AwsParams

    return Aws(AwsParams(region="ap-south-1", endpoint_url=moto_url, max_attempts=2))


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """A real local stack (moto + model hosting) on a free loopback port, for the whole session."""
    with running_stack(tmp_path_factory, "local-stack", startup_timeout=120) as info:
        yield info


@pytest.fixture()
def stack_aws(local_stack):
    from endpoint_runbook.aws import Aws, AwsParams

    return Aws(AwsParams(region="ap-south-1", endpoint_url=local_stack.url, max_attempts=3))


@pytest.fixture(scope="session")
def incident_stack(tmp_path_factory):
    """A local stack seeded with the stygig-incident scenario (its own stack: tests may change it)."""
    with running_stack(tmp_path_factory, "incident-stack", startup_timeout=180, scenario="stygig-incident") as info:
        yield info


@pytest.fixture()
def incident_aws(incident_stack):
    from endpoint_runbook.aws import Aws, AwsParams

    return Aws(AwsParams(region="ap-south-1", endpoint_url=incident_stack.url, max_attempts=3))


# The images' own serving environments (exact): one per torch family, built once per machine, shared by the session.
@pytest.fixture(scope="session")
def env21():
    from endpoint_runbook.serving.env import ensure_serving_env

    return ensure_serving_env("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310",
                              mode="exact")


@pytest.fixture(scope="session")
def env20():
    from endpoint_runbook.serving.env import ensure_serving_env

    return ensure_serving_env("763104351884.dkr.ecr.eu-central-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310",
                              mode="exact")
