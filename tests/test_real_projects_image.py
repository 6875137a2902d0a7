"""Issue 21's acceptance: four real projects' archives (in their repositories' shapes, tests/realshapes.py) on the
local stack in the images they deploy with. In each image's own environment, pip decides as it does in the image:
every broken archive crash-loops on its missing module (as the real image would), never on a stack-only install
failure; every fixed archive gets past its imports. The load check of each states no false "replaces torch".
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import realshapes
from endpoint_runbook.serving.loadcheck import load_check_dir
from stacks import crash_looping, log_text

pytestmark = pytest.mark.slow

#: What each project's broken archive lacks (a module its workers die on: yif-AI lacks three packages).
MISSING = {"stygig": ("stygig",), "plasticdetection": ("marinedebrisdetector_mod",),
           "yif-ai": ("future_attention", "utils", "baseline_transformer"), "swinir2": ("swinir",)}
#: What each fixed archive meets after its imports, as the real image meets it (no internet here, as in a
#: VPC without a route: the two hub downloads fail; yif-AI's model_fn gets the toolkit's context; swinir2 serves).
AFTER_IMPORTS = {"stygig": "huggingface.co", "plasticdetection": "huggingface.co",
                 "yif-ai": "not 'Context'", "swinir2": "WorkerLoadTime"}
INSTALL_FAILED = ("failed to install required packages", "LayerInstallError", "0+absent")



@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("realshapes")
    return {(p, v): realshapes.build(p, v, out / f"{p}-{v}") for p in MISSING for v in ("broken", "fixed")}


def test_real_projects_in_their_images_meet_what_the_image_meets(archives, stack_aws):
    s3, sm, logs = stack_aws.client("s3"), stack_aws.client("sagemaker"), stack_aws.client("logs")
    bucket = f"realshapes-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": stack_aws.region})
    names = {}
    for (project, variant), path in archives.items():
        key = f"{project}/{variant}/model.tar.gz"
        s3.upload_file(str(path), bucket, key)
        spec = realshapes.PROJECTS[project]
        name = f"rs-{project}-{variant}-{uuid.uuid4().hex[:4]}"
        names[(project, variant)] = name
        sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/rs", PrimaryContainer={
            "Image": spec.image, "ModelDataUrl": f"s3://{bucket}/{key}",
            "Environment": {"SAGEMAKER_PROGRAM": spec.program, "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.xlarge",
            "InitialInstanceCount": 1,
            # Eight containers start at once on a small machine: a worker's first start (torch's import) can take
            # a minute, so the stack's default 120 s would stop a broken container after its first death, before
            # the crash loop shows. Real SageMaker allows up to 3600 s here.
            "ContainerStartupHealthCheckTimeoutInSeconds": 900}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wanted = {k: ([f"No module named '{m}'" for m in MISSING[k[0]]] if k[1] == "broken" else [AFTER_IMPORTS[k[0]]])
              for k in names}
    seen: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + 1500  # first runs install each project's requirements into its layer
    try:
        while time.monotonic() < deadline and len(seen) < len(names):
            for k, name in names.items():
                if k in seen:
                    continue
                text = log_text(logs, f"/aws/sagemaker/Endpoints/{name}")
                if any(w in text for w in wanted[k]) or any(m in text for m in INSTALL_FAILED) or (
                        k[1] == "broken" and crash_looping(text)):
                    seen[k] = text
            time.sleep(3)
    finally:
        for name in names.values():
            sm.delete_endpoint(EndpointName=name)
    problems = []
    for k in names:
        text = seen.get(k) or log_text(logs, f"/aws/sagemaker/Endpoints/{names[k]}")
        if any(m in text for m in INSTALL_FAILED):
            problems.append((k, "a requirements install failed", text[-3000:]))
        elif k[1] == "broken" and not any(w in text for w in wanted[k]) and not crash_looping(text):
            problems.append((k, f"no crash loop on {MISSING[k[0]]}", text[-3000:]))
        elif k[1] == "fixed" and (not any(w in text for w in wanted[k]) or _IMPORT_DEATH.search(text)):
            problems.append((k, f"did not get past its imports to {wanted[k]}", text[-3000:]))
    assert not problems, problems


#: A worker that died on an import (a traceback line, not the repr of an ImportError some library handled).
_IMPORT_DEATH = re.compile(r"^(?:.* - )?ModuleNotFoundError: No module named", re.M)


@pytest.mark.parametrize("project", sorted(MISSING))
@pytest.mark.parametrize("variant", ["broken", "fixed"])
def test_the_load_check_of_each_archive_meets_its_module_and_states_no_false_replaces_torch(archives, project,
                                                                                            variant, tmp_path):
    from endpoint_runbook.archive import safe_extract

    model = tmp_path / "ml" / "model"
    with open(archives[(project, variant)], "rb") as fh:
        safe_extract(fh, model)
    spec = realshapes.PROJECTS[project]
    lc = load_check_dir(model, program=spec.program, image=spec.image)
    assert lc.mode == "exact", lc.to_dict()
    assert "requirements-replace-torch" not in [f.code for f in lc.findings], lc.to_dict()
    if variant == "broken":
        assert lc.missing_module and lc.missing_module.split(".")[0] in MISSING[project], lc.to_dict()
    else:
        assert lc.stage in ("model_fn", "done") and not lc.missing_module, lc.to_dict()
