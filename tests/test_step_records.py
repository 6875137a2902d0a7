"""The typed views a step reads of an earlier step's record."""

from __future__ import annotations

from endpoint_runbook.records import write_record
from endpoint_runbook.step_records import DeployRecord, DiagnoseRecord, RebuildRecord


def test_diagnose_record_reads_what_later_steps_use(tmp_path):
    write_record(tmp_path, "diagnose", {
        "step": "diagnose", "run_id": "r1", "model_data_url": "s3://b/m/model.tar.gz", "model_data_source": None,
        "endpoint": {"name": "ep", "config_name": "cfg", "model_name": "m", "image": "img:2.1",
                     "environment": {"SAGEMAKER_PROGRAM": "serve.py"}, "instance_type": "ml.m5.large",
                     "instance_count": 2, "status": "InService", "arn": "arn:…"},
        "verdict": {"cause": "missing-module"},
        "fix": {"additions": [{"source": "/src/pkg", "target": "code/pkg/"}],
                "extras": [{"source": "/src/config", "target": "config/"}]},
    })
    d = DiagnoseRecord.read(tmp_path)
    assert d is not None and d.run_id == "r1" and d.cause == "missing-module"
    assert d.endpoint.name == "ep" and d.endpoint.image == "img:2.1" and d.endpoint.instance_count == 2
    assert d.endpoint.program == "serve.py"
    assert [a["target"] for a in d.additions] == ["code/pkg/", "config/"]
    assert d.model_data_prefix is None
    assert DiagnoseRecord.from_dict(d.to_dict() | {"endpoint": d.endpoint.to_dict(), "fix": {
        "additions": d.additions}}).endpoint == d.endpoint


def test_a_prefix_model_and_missing_records(tmp_path):
    d = DiagnoseRecord.from_dict({"model_data_source": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p/",
                                                        "CompressionType": "None"}})
    assert d.model_data_prefix == "s3://b/p/" and d.endpoint.program == "inference.py"
    assert DiagnoseRecord.read(tmp_path) is None and RebuildRecord.read(tmp_path) is None
    assert DeployRecord.read(tmp_path) is None


def test_rebuild_and_deploy_records(tmp_path):
    write_record(tmp_path, "rebuild_archive", {"target_uri": "s3://b/fixed.tar.gz", "result_sha256": "ab",
                                               "status": "passed", "load_check": {"ok": True}})
    assert RebuildRecord.read(tmp_path) == RebuildRecord("s3://b/fixed.tar.gz", "ab", None, "passed")
    write_record(tmp_path, "deploy", {"endpoint_name": "ep", "mode": "in-place", "run_id": "r1",
                                      "previous_endpoint_config_name": "old", "smoke": {"input": "s3://b/in.png"}})
    dep = DeployRecord.read(tmp_path)
    assert dep == DeployRecord("ep", "r1", "in-place", "old", "s3://b/in.png")
    assert DeployRecord.from_dict({"plan": {"smoke_input": "s3://b/x"}}).smoke_input == "s3://b/x"


def test_the_endpoint_facts_are_one_type_with_one_prefix_rule():
    """The record's endpoint is the facts type diagnose reads (no twin), and the record's model-data prefix follows
    the same rule as the facts': an S3Prefix source counts only when uncompressed (CompressionType None)."""
    from endpoint_runbook.step_records import EndpointFacts

    gz = {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p/", "CompressionType": "Gzip"}
    plain = {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p/"}  # CompressionType defaults to None
    assert DiagnoseRecord.from_dict({"model_data_source": gz}).model_data_prefix is None
    assert DiagnoseRecord.from_dict({"model_data_source": plain}).model_data_prefix == "s3://b/p/"
    assert DiagnoseRecord.from_dict({"model_data_source": plain, "model_data_url": "s3://b/m.tar.gz"}
                                    ).model_data_prefix is None
    facts = EndpointFacts(name="ep", environment={"SAGEMAKER_PROGRAM": "serve.py"}, model_data_source=gz)
    assert facts.model_data_prefix is None and facts.program == "serve.py"
    rec = DiagnoseRecord.from_dict({"endpoint": facts.to_dict()})
    assert type(rec.endpoint) is EndpointFacts and rec.endpoint == facts
