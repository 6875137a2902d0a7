"""Large models: the server-side splice and the local stack's S3 link (UploadPartCopy ranges, bandwidth).

Small sizes only: archives a few MiB over S3's 5 MiB part minimum. The S3 here is moto behind the stack's own
link layer (``local/s3_link.py``), served in-process on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import free_port
from endpoint_runbook.archive import rebuild
from endpoint_runbook.archive.remote import plan_splice, verify_splice, write_splice
from endpoint_runbook.errors import CheckFailed
from endpoint_runbook.s3 import MIN_PART, RangedReader, compose_object
from tinymodel import FIRST_BYTE, IMAGE, INFERENCE, TINYPKG, World, prefix_model, tar_gz

MiB = 1 << 20


def _serve(rate: float | None):
    from endpoint_runbook.local.s3_link import S3Link
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), None, threaded=True, request_handler=MotoRequestHandler)
    server.app = S3Link(DomainDispatcherApplication(create_backend_app), rate)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def link():
    server = _serve(None)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _s3(url: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


@pytest.fixture()
def bucket(link):
    s3 = _s3(link)
    name = f"large-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def _model(weights: int, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A model archive missing its package: code/inference.py, config.json, incompressible weights."""
    members = {"config.json": b'{"dim": 4}', "code/inference.py": INFERENCE,
               "weights.bin": os.urandom(weights), **(extra or {})}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture()
def tinypkg(tmp_path):
    pkg = tmp_path / "src" / "tinypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_bytes(TINYPKG)
    return pkg


# --------------------------------------------------------------------------------------------------------
# the local stack's S3 link
# --------------------------------------------------------------------------------------------------------
def test_upload_part_copy_honours_ranges_and_returns_part_checksums(bucket):
    s3, b = bucket
    data = os.urandom(7 * MiB)
    s3.put_object(Bucket=b, Key="src", Body=data)
    up = s3.create_multipart_upload(Bucket=b, Key="dst", ChecksumAlgorithm="SHA256")["UploadId"]
    r = s3.upload_part_copy(Bucket=b, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": b, "Key": "src"},
                            CopySourceRange=f"bytes=100-{100 + 6 * MiB - 1}")["CopyPartResult"]
    assert r["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data[100:100 + 6 * MiB]).digest()).decode()
    # As S3: a range past the end or malformed is InvalidArgument (moto clipped it / copied everything).
    for bad in (f"bytes=0-{7 * MiB}", "bytes=5-", "bytes=9-3", "0-10"):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=b, Key="dst", UploadId=up, PartNumber=2, CopySource={"Bucket": b, "Key": "src"},
                                CopySourceRange=bad)
        assert e.value.response["Error"]["Code"] == "InvalidArgument", bad
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=b, Key="dst", UploadId=up, PartNumber=2, CopySource={"Bucket": b, "Key": "nope"},
                            CopySourceRange="bytes=0-10")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:  # pinned to an ETag the source no longer has
        s3.upload_part_copy(Bucket=b, Key="dst", UploadId=up, PartNumber=2, CopySource={"Bucket": b, "Key": "src"},
                            CopySourceRange="bytes=0-10", CopySourceIfMatch='"0000"')
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.upload_part(Bucket=b, Key="dst", UploadId=up, PartNumber=2, Body=b"tail")
    parts = s3.list_parts(Bucket=b, Key="dst", UploadId=up)["Parts"]
    s3.complete_multipart_upload(Bucket=b, Key="dst", UploadId=up,
                                 MultipartUpload={"Parts": [{"ETag": p["ETag"], "PartNumber": p["PartNumber"]}
                                                            for p in parts]})
    got = s3.get_object(Bucket=b, Key="dst")["Body"].read()
    assert got == data[100:100 + 6 * MiB] + b"tail"



def _moto_checksum(algorithm: str, kind: str | None, parts: list[bytes]) -> tuple[str, str, int]:
    """What moto's own MultipartChecksumBuilder answers for these parts (the oracle of the streaming complete)."""
    from moto.s3.models import MultipartChecksumBuilder

    builder = MultipartChecksumBuilder(algorithm, kind)
    for p in parts:
        builder.addPart(p)
    return builder.build()


@pytest.mark.parametrize("algorithm,kind", [(None, None), ("SHA256", None), ("SHA1", None), ("CRC32", None),
                                            ("CRC32", "FULL_OBJECT"), ("CRC32C", None)])
def test_complete_multipart_upload_joins_parts_as_moto_and_s3_answer(bucket, algorithm, kind):
    """The stack's CompleteMultipartUpload keeps the parts where they are (no whole-object copy) and answers what
    moto's own would: bytes, ETag (MD5 of the part MD5s), checksum; parts left out are dropped."""
    s3, b = bucket
    data = [os.urandom(5 * MiB + 3), os.urandom(5 * MiB), b"tail-bytes"]
    s3.put_object(Bucket=b, Key="src", Body=data[1])
    kw = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    if kind:
        kw["ChecksumType"] = kind
    up = s3.create_multipart_upload(Bucket=b, Key="joined", **kw)["UploadId"]
    etags = [s3.upload_part(Bucket=b, Key="joined", UploadId=up, PartNumber=1, Body=data[0])["ETag"]]
    etags.append(s3.upload_part_copy(Bucket=b, Key="joined", UploadId=up, PartNumber=2,
                                     CopySource={"Bucket": b, "Key": "src"})["CopyPartResult"]["ETag"])
    s3.upload_part(Bucket=b, Key="joined", UploadId=up, PartNumber=3, Body=b"a part left out")
    etags.append(s3.upload_part(Bucket=b, Key="joined", UploadId=up, PartNumber=4, Body=data[2])["ETag"])
    done = s3.complete_multipart_upload(Bucket=b, Key="joined", UploadId=up, MultipartUpload={"Parts": [
        {"ETag": e, "PartNumber": n} for e, n in zip(etags, (1, 2, 4), strict=True)]})
    whole = b"".join(data)
    md5s = b"".join(hashlib.md5(p).digest() for p in data)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    got = s3.get_object(Bucket=b, Key="joined", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole and got["ContentLength"] == len(whole)
    head = s3.head_object(Bucket=b, Key="joined", ChecksumMode="ENABLED")
    if algorithm is None:  # no algorithm asked: no checksum answered (as moto's own complete)
        assert not [k for k in head if k.startswith("Checksum") and k != "ChecksumType"], head
    else:
        want_kind, want_value, _n = _moto_checksum(algorithm, kind, data)
        assert head[f"Checksum{algorithm}"].split("-")[0] == want_value.split("-")[0], (head, want_value)
        assert head.get("ChecksumType", want_kind) == want_kind
    # Ranges across part boundaries read the joined parts in place.
    edge = 5 * MiB + 3
    r = s3.get_object(Bucket=b, Key="joined", Range=f"bytes={edge - 10}-{edge + 9}")["Body"].read()
    assert r == whole[edge - 10:edge + 10]
    assert not s3.list_multipart_uploads(Bucket=b).get("Uploads")
    # The object is independent of the upload's source; copying and deleting it work as on S3.
    s3.copy_object(Bucket=b, Key="joined-copy", CopySource={"Bucket": b, "Key": "joined"})
    s3.delete_object(Bucket=b, Key="joined")
    assert s3.get_object(Bucket=b, Key="joined-copy")["Body"].read() == whole


def test_complete_multipart_upload_keeps_versions_apart(link):
    s3 = _s3(link)
    b = f"versions-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    bodies = [os.urandom(5 * MiB + 1), os.urandom(5 * MiB + 2)]
    versions = []
    for body in bodies:
        up = s3.create_multipart_upload(Bucket=b, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
        e1 = s3.upload_part(Bucket=b, Key="k", UploadId=up, PartNumber=1, Body=body[:5 * MiB])["ETag"]
        e2 = s3.upload_part(Bucket=b, Key="k", UploadId=up, PartNumber=2, Body=body[5 * MiB:])["ETag"]
        versions.append(s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload={"Parts": [
            {"ETag": e1, "PartNumber": 1}, {"ETag": e2, "PartNumber": 2}]})["VersionId"])
    for v, body in zip(versions, bodies, strict=True):
        assert s3.get_object(Bucket=b, Key="k", VersionId=v)["Body"].read() == body


def test_complete_multipart_upload_refuses_what_s3_refuses(bucket):
    s3, b = bucket
    up = s3.create_multipart_upload(Bucket=b, Key="bad")["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="bad", UploadId=up, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=b, Key="bad", UploadId=up, PartNumber=2, Body=b"also small")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=b, Key="bad", UploadId=up, MultipartUpload={"Parts": [
            {"ETag": e1, "PartNumber": 1}, {"ETag": e2, "PartNumber": 2}]})
    assert e.value.response["Error"]["Code"] == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=b, Key="bad", UploadId=up, MultipartUpload={"Parts": [
            {"ETag": '"0123"', "PartNumber": 1}]})
    assert e.value.response["Error"]["Code"] == "InvalidPart"
    # Refused completes leave the upload as it was: it still completes with the right parts.
    s3.complete_multipart_upload(Bucket=b, Key="bad", UploadId=up, MultipartUpload={"Parts": [
        {"ETag": e1, "PartNumber": 1}]})
    assert s3.get_object(Bucket=b, Key="bad")["Body"].read() == b"small"

def test_ranged_get_is_exact_and_streams(bucket):
    s3, b = bucket
    data = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=b, Key="obj", Body=data)
    for rng, want in ((f"bytes=5-{2 * MiB}", data[5:2 * MiB + 1]), ("bytes=-10", data[-10:]),
                      (f"bytes={3 * MiB}-", data[3 * MiB:])):
        r = s3.get_object(Bucket=b, Key="obj", Range=rng)
        assert r["Body"].read() == want
        assert r["ContentRange"].endswith(f"/{len(data)}")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="obj", Range=f"bytes={len(data)}-")
    assert e.value.response["Error"]["Code"] == "InvalidRange"
    head = s3.head_object(Bucket=b, Key="obj")
    with RangedReader(s3, f"s3://{b}/obj", size=len(data), etag=head["ETag"], chunk=MiB, workers=3) as r:
        out = b"".join(iter(lambda: r.read(300_000), b""))
        assert out == data and r.bytes_read == len(data)


def test_bandwidth_limit_paces_get_and_put_bodies():
    server = _serve(2 * MiB)
    try:
        s3 = _s3(f"http://127.0.0.1:{server.server_address[1]}")
        s3.create_bucket(Bucket="slow")
        t0 = time.monotonic()
        s3.put_object(Bucket="slow", Key="k", Body=os.urandom(3 * MiB))
        put = time.monotonic() - t0
        t0 = time.monotonic()
        assert len(s3.get_object(Bucket="slow", Key="k")["Body"].read()) == 3 * MiB
        get = time.monotonic() - t0
    finally:
        server.shutdown()
    # 3 MiB at 2 MiB/s takes at least 1.5 s each way (a floor the link imposes, not a speed assertion).
    assert put >= 1.4 and get >= 1.4, (put, get)


# --------------------------------------------------------------------------------------------------------
# the server-side splice
# --------------------------------------------------------------------------------------------------------
def test_server_side_splice_copies_the_prefix_and_uploads_only_the_tail(bucket, tinypkg, tmp_path):
    s3, b = bucket
    src = _model(12 * MiB)
    s3.put_object(Bucket=b, Key="model/model.tar.gz", Body=src)
    head = s3.head_object(Bucket=b, Key="model/model.tar.gz")
    check = tmp_path / "check"
    plan = plan_splice(s3, f"s3://{b}/model/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=check,
                       size=len(src), etag=head["ETag"], part_size=5 * MiB, readers=3, chunk=MiB)
    assert plan.server_side and plan.bytes_read == len(src)
    assert plan.splice_offset > 10 * MiB and len(plan.tail) < 64 << 10
    assert len(plan.copy_parts) == 2 and all(b_ - a >= MIN_PART for a, b_, _ in plan.copy_parts)
    # Only the code and small files reached the disk; the weights did not.
    assert (check / "code" / "inference.py").read_bytes() == INFERENCE
    assert (check / "config.json").is_file() and not (check / "weights.bin").exists()
    assert plan.withheld == {"weights.bin": 12 * MiB} and plan.local_disk_bytes < 64 << 10
    written = write_splice(s3, plan, f"s3://{b}/model-fixed/model.tar.gz")
    assert written["method"] == "server-side-splice"
    assert written["bytes_copied"] == plan.splice_offset and written["bytes_uploaded"] == len(plan.tail)
    assert written["copy_parts_checked"] == 2
    report = verify_splice(s3, plan, written)
    assert report["ok"] and report["composite_sha256"] == "match" and report["added_members_checked"] == 2
    # The object is exactly what the local splice rebuild writes, and a valid archive with the package.
    got = s3.get_object(Bucket=b, Key="model-fixed/model.tar.gz")["Body"].read()
    local = io.BytesIO()
    rebuild(io.BytesIO(src), local, [(tinypkg, "code/tinypkg")], method="splice")
    assert got == local.getvalue()
    assert hashlib.sha256(got).hexdigest() == plan.result.result_sha256
    with tarfile.open(fileobj=io.BytesIO(got)) as tar:
        assert tar.extractfile("code/tinypkg/__init__.py").read() == TINYPKG
        assert tar.extractfile("weights.bin").read() == src_member(src, "weights.bin")
    # The source was only read.
    assert s3.get_object(Bucket=b, Key="model/model.tar.gz")["Body"].read() == src


def src_member(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.extractfile(name).read()


def test_small_source_falls_back_to_a_full_upload_and_says_so(bucket, tinypkg, tmp_path):
    s3, b = bucket
    src = _model(MiB)
    s3.put_object(Bucket=b, Key="small/model.tar.gz", Body=src)
    plan = plan_splice(s3, f"s3://{b}/small/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=tmp_path / "c",
                       size=len(src), etag=None, part_size=5 * MiB)
    assert not plan.server_side
    written = write_splice(s3, plan, f"s3://{b}/small-fixed/model.tar.gz")
    assert written["method"] == "full-upload" and "5 MiB" in written["note"]
    assert written["bytes_uploaded"] == plan.result.result_bytes
    got = s3.get_object(Bucket=b, Key="small-fixed/model.tar.gz")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == plan.result.result_sha256


def test_verification_catches_a_tampered_result(bucket, tinypkg, tmp_path):
    s3, b = bucket
    src = _model(6 * MiB)
    s3.put_object(Bucket=b, Key="t/model.tar.gz", Body=src)
    plan = plan_splice(s3, f"s3://{b}/t/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=tmp_path / "c",
                       size=len(src), etag=None, part_size=5 * MiB)
    written = write_splice(s3, plan, f"s3://{b}/t-fixed/model.tar.gz")
    # Someone replaces the object between write and use: same size, different tail.
    bad = bytearray(s3.get_object(Bucket=b, Key="t-fixed/model.tar.gz")["Body"].read())
    bad[-20] ^= 0xFF
    s3.put_object(Bucket=b, Key="t-fixed/model.tar.gz", Body=bytes(bad))
    with pytest.raises(CheckFailed) as e:
        verify_splice(s3, plan, written)
    assert e.value.code == "result-mismatch" and "ETag" in str(e.value)
    # A tail that lost its package (same ETag faked by reusing the record): the member check names it.
    forged = dict(written, etag=s3.head_object(Bucket=b, Key="t-fixed/model.tar.gz")["ETag"])
    plan.result.diff.append({"path": "code/tinypkg/extra.py", "status": "added", "type": "file", "size": 1})
    with pytest.raises(CheckFailed) as e:
        verify_splice(s3, plan, forged)
    assert e.value.code == "result-mismatch" and "code/tinypkg/extra.py" in str(e.value)
    # Replaced by something shorter than the planned tail's start: a mismatch, not an unsatisfiable range.
    s3.put_object(Bucket=b, Key="t-fixed/model.tar.gz", Body=b"short")
    with pytest.raises(CheckFailed) as e:
        verify_splice(s3, plan, dict(written, etag=None))
    assert e.value.code == "result-mismatch" and "size 5 !=" in str(e.value)



def _calls(s3, *names: str) -> list[str]:
    """Record the order of these S3 operations on this client (botocore's before-call events)."""
    seen: list[str] = []
    for n in names:
        s3.meta.events.register(f"before-call.s3.{n}", lambda model, **_kw: seen.append(model.name))
    return seen


def test_server_side_copy_starts_while_the_source_is_still_being_read(bucket, tinypkg, tmp_path):
    s3, b = bucket
    src = _model(30 * MiB)
    s3.put_object(Bucket=b, Key="p/model.tar.gz", Body=src)
    head = s3.head_object(Bucket=b, Key="p/model.tar.gz")
    seen = _calls(s3, "GetObject", "UploadPartCopy")
    target = f"s3://{b}/p-fixed/model.tar.gz"
    plan = plan_splice(s3, f"s3://{b}/p/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=tmp_path / "c",
                       size=len(src), etag=head["ETag"], part_size=5 * MiB, readers=2, chunk=MiB, target_uri=target)
    # Copies were asked for before the read's last range request: S3 copied while this machine read.
    last_get = max(i for i, name in enumerate(seen) if name == "GetObject")
    assert "UploadPartCopy" in seen[:last_get], seen
    assert len(plan.copy_parts) == 6
    # Nothing is visible at the target until the plan is written.
    assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="p-fixed/")
    assert len(s3.list_multipart_uploads(Bucket=b, Prefix="p-fixed/")["Uploads"]) == 1
    with pytest.raises(Exception) as e:
        write_splice(s3, plan, f"s3://{b}/elsewhere/model.tar.gz")
    assert getattr(e.value, "code", None) == "bad-input"
    written = write_splice(s3, plan, target)
    assert written["method"] == "server-side-splice" and written["copy_parts_checked"] == 6
    assert seen.count("UploadPartCopy") == 6  # each part once: those begun during the read were not redone
    assert written["bytes_uploaded"] == len(plan.tail) and written["bytes_copied"] == plan.splice_offset
    assert verify_splice(s3, plan, written)["ok"]
    local = io.BytesIO()
    rebuild(io.BytesIO(src), local, [(tinypkg, "code/tinypkg")], method="splice")
    assert s3.get_object(Bucket=b, Key="p-fixed/model.tar.gz")["Body"].read() == local.getvalue()
    meta = s3.head_object(Bucket=b, Key="p-fixed/model.tar.gz")["Metadata"]
    assert meta == {"source-uri": f"s3://{b}/p/model.tar.gz", "source-etag": head["ETag"].strip('"')}
    assert not s3.list_multipart_uploads(Bucket=b, Prefix="p-fixed/").get("Uploads")


def test_a_copy_begun_during_the_read_is_dropped_by_abort_and_refused_on_an_existing_target(bucket, tinypkg,
                                                                                             tmp_path):
    from endpoint_runbook.archive.remote import abort_splice

    s3, b = bucket
    src = _model(12 * MiB)
    s3.put_object(Bucket=b, Key="a/model.tar.gz", Body=src)
    kw = {"size": len(src), "etag": None, "part_size": 5 * MiB, "readers": 2, "chunk": MiB}
    plan = plan_splice(s3, f"s3://{b}/a/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=tmp_path / "c",
                       target_uri=f"s3://{b}/a-fixed/model.tar.gz", **kw)
    assert s3.list_multipart_uploads(Bucket=b, Prefix="a-fixed/").get("Uploads")
    abort_splice(plan)
    assert not s3.list_multipart_uploads(Bucket=b, Prefix="a-fixed/").get("Uploads")
    assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="a-fixed/")
    s3.put_object(Bucket=b, Key="a-fixed/model.tar.gz", Body=b"someone's")
    seen = _calls(s3, "GetObject")
    with pytest.raises(Exception) as e:
        plan_splice(s3, f"s3://{b}/a/model.tar.gz", [(tinypkg, "code/tinypkg")], check_dir=tmp_path / "d",
                    target_uri=f"s3://{b}/a-fixed/model.tar.gz", **kw)
    assert getattr(e.value, "code", None) == "target-exists" and not seen  # refused before reading anything
    assert s3.get_object(Bucket=b, Key="a-fixed/model.tar.gz")["Body"].read() == b"someone's"
    assert not s3.list_multipart_uploads(Bucket=b, Prefix="a-fixed/").get("Uploads")

def test_copy_mismatch_aborts_without_leaving_an_object(bucket):
    s3, b = bucket
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=b, Key="src", Body=data)
    wrong = hashlib.sha256(b"not what was read").digest()
    with pytest.raises(Exception) as e:
        compose_object(s3, f"s3://{b}/dst", f"s3://{b}/src", [(0, 6 * MiB, wrong)], b"tail")
    assert getattr(e.value, "code", None) == "copy-mismatch"
    assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="dst")
    assert not s3.list_multipart_uploads(Bucket=b).get("Uploads")


# --------------------------------------------------------------------------------------------------------
# step 2 on the server-side path
# --------------------------------------------------------------------------------------------------------
READS_WEIGHTS = INFERENCE.replace(b'return {"offset": 100}',
                                  b'return {"offset": len(open(model_dir + "/weights.bin", "rb").read(1))}')


@pytest.mark.parametrize("inference", [INFERENCE, READS_WEIGHTS], ids=["model_fn-light", "model_fn-reads-weights"])
def test_rebuild_step_server_side_records_bytes(link, bucket, tinypkg, tmp_path, inference):
    from endpoint_runbook.aws import Aws, AwsParams
    from endpoint_runbook.records import read_record
    from endpoint_runbook.steps import rebuild_archive

    s3, b = bucket
    src = _model(9 * MiB, extra={"code/inference.py": inference})
    s3.put_object(Bucket=b, Key="out/model.tar.gz", Body=src)
    aws = Aws(AwsParams(region="us-east-1", endpoint_url=link, max_attempts=2))
    run_dir = str(tmp_path / "run")
    step = rebuild_archive.run(aws, run_dir=run_dir, source_uri=f"s3://{b}/out/model.tar.gz",
                               additions=[{"source": str(tinypkg), "target": "code/tinypkg"}], upload="server-side",
                               image_uri=IMAGE)
    assert step.status == "passed" and step.load_check.ok
    rec = read_record(run_dir, "rebuild_archive")
    io_ = rec["io"]
    assert io_["mode"] == "server-side-splice" and io_["bytes_read"] == len(src)
    assert io_["bytes_copied_server_side"] > 8 * MiB and io_["bytes_uploaded"] < 64 << 10
    assert io_["local_disk_bytes"] < 64 << 10 and io_["withheld_bytes"] == 9 * MiB
    assert rec["verification"]["ok"] and rec["verification"]["composite_sha256"] == "match"
    assert step.load_check.stage == ("done" if inference == INFERENCE else "import")
    got = s3.get_object(Bucket=b, Key="out-fixed/model.tar.gz")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == rec["result_sha256"]


def test_rebuild_step_server_side_uploads_nothing_when_the_check_fails(link, bucket, tmp_path):
    from endpoint_runbook.aws import Aws, AwsParams
    from endpoint_runbook.steps import rebuild_archive

    s3, b = bucket
    s3.put_object(Bucket=b, Key="out/model.tar.gz", Body=_model(6 * MiB))
    wrong = tmp_path / "otherpkg"
    wrong.mkdir()
    (wrong / "__init__.py").write_text("X = 1\n")
    aws = Aws(AwsParams(region="us-east-1", endpoint_url=link, max_attempts=2))
    with pytest.raises(CheckFailed) as e:
        rebuild_archive.run(aws, run_dir=str(tmp_path / "run"), source_uri=f"s3://{b}/out/model.tar.gz",
                            additions=[{"source": str(wrong), "target": "code/otherpkg"}], upload="server-side",
                            image_uri=IMAGE)
    assert e.value.code == "rebuilt-archive-fails"
    assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="out-fixed/")
    assert not s3.list_multipart_uploads(Bucket=b).get("Uploads")


def test_rebuild_step_server_side_blocks_a_model_fn_that_fails_on_a_file_the_archive_lacks(link, bucket, tinypkg,
                                                                                         tmp_path):
    """Withheld weights excuse only a model_fn stopped at them: one that fails on a file the archive does not hold
    fails the check as the full rebuild's does, before anything is written."""
    from endpoint_runbook.aws import Aws, AwsParams
    from endpoint_runbook.steps import rebuild_archive

    s3, b = bucket
    s3.put_object(Bucket=b, Key="lacks/model.tar.gz",
                  Body=_model(6 * MiB, extra={"code/inference.py": _LACKS_FILE["tokenizer-first"]}))
    aws = Aws(AwsParams(region="us-east-1", endpoint_url=link, max_attempts=2))
    with pytest.raises(CheckFailed) as e:
        rebuild_archive.run(aws, run_dir=str(tmp_path / "run"), source_uri=f"s3://{b}/lacks/model.tar.gz",
                            additions=[{"source": str(tinypkg), "target": "code/tinypkg"}], upload="server-side",
                            image_uri=IMAGE)
    assert e.value.code == "rebuilt-archive-fails" and "tokenizer.json" in str(e.value)
    assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="lacks-fixed/")
    assert not s3.list_multipart_uploads(Bucket=b).get("Uploads")


# --------------------------------------------------------------------------------------------------------
# uncompressed model data (an S3 prefix)
# --------------------------------------------------------------------------------------------------------
def test_prefix_model_fixed_by_server_side_copy_without_reading_weights(link, bucket, tinypkg, tmp_path):
    from endpoint_runbook.aws import Aws, AwsParams
    from endpoint_runbook.records import read_record
    from endpoint_runbook.steps import rebuild_archive

    s3, b = bucket
    weights = os.urandom(6 * MiB)
    objects = {"model/code/inference.py": READS_WEIGHTS, "model/config.json": b"{}", "model/weights.bin": weights}
    for k, v in objects.items():
        s3.put_object(Bucket=b, Key=k, Body=v)
    aws = Aws(AwsParams(region="us-east-1", endpoint_url=link, max_attempts=2))
    run_dir = str(tmp_path / "run")
    step = rebuild_archive.run(aws, run_dir=run_dir, source_uri=f"s3://{b}/model/",
                               additions=[{"source": str(tinypkg), "target": "code/tinypkg"}], image_uri=IMAGE)
    assert step.status == "passed" and step.load_check.ok and step.load_check.stage == "import"
    rec = read_record(run_dir, "rebuild_archive")
    assert rec["target_uri"] == f"s3://{b}/model-fixed/" and rec["method"] == "prefix-copy"
    io_ = rec["io"]
    # No weight byte read: only the code and the small config crossed the link.
    assert io_["bytes_read"] == len(READS_WEIGHTS) + 2 and io_["withheld_bytes"] == len(weights)
    assert io_["bytes_copied_server_side"] == len(READS_WEIGHTS) + 2 + len(weights)
    assert io_["bytes_uploaded"] == len(TINYPKG)
    fixed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=b, Prefix="model-fixed/")["Contents"]}
    assert fixed == {"model-fixed/code/inference.py": len(READS_WEIGHTS), "model-fixed/config.json": 2,
                     "model-fixed/weights.bin": len(weights), "model-fixed/code/tinypkg/__init__.py": len(TINYPKG)}
    assert s3.get_object(Bucket=b, Key="model-fixed/weights.bin")["Body"].read() == weights
    # The source prefix is untouched, and a second run refuses the now-existing target.
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="model/")["Contents"]) == sorted(objects)
    with pytest.raises(Exception) as e:
        rebuild_archive.run(aws, run_dir=run_dir, source_uri=f"s3://{b}/model/",
                            additions=[{"source": str(tinypkg), "target": "code/tinypkg"}], image_uri=IMAGE)
    assert getattr(e.value, "code", None) == "target-exists"


# --------------------------------------------------------------------------------------------------------
# uncompressed model data through diagnose and deploy's plan (plain moto: no container)
# --------------------------------------------------------------------------------------------------------
def test_diagnose_reads_a_prefix_model_from_its_listing_and_code_only(aws, tinypkg, tmp_path):
    from endpoint_runbook.records import read_record
    from endpoint_runbook.steps import diagnose

    weights = bytes([7]) + os.urandom(3 * MiB)
    name, bucket = prefix_model(aws, weights=weights, with_package=False)
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name, source_roots=[str(tinypkg.parent.parent)])
    assert d.endpoint.model_data_url is None and d.endpoint.model_data_prefix == f"s3://{bucket}/model/"
    assert d.verdict.cause == "missing-module" and d.verdict.fix["packages"] == ["tinypkg"]
    assert d.verdict.fix["additions"][0]["source"] == str(tinypkg)
    assert d.load_check is not None and d.load_check.missing_module == "tinypkg"
    rec = read_record(str(tmp_path), "diagnose")
    arch = rec["archive"]
    assert arch["kind"] == "s3-prefix" and arch["readable"] and arch["summary"]["member_count"] == 3
    assert {r["path"]: r["present"] for r in arch["presence"]} == {"code/inference.py": True,
                                                                    "code/requirements.txt": False}
    # Read: inference.py for the imports, then inference.py + config.json for the load check. No weight byte.
    assert arch["io"]["bytes_read"] == 2 * len(FIRST_BYTE) + len(b'{"dim": 4}')
    assert arch["io"]["bytes_withheld"] == len(weights)
    assert rec["model_data_source"]["S3DataType"] == "S3Prefix" and rec["model_data_url"] is None


def test_diagnose_of_a_loading_prefix_model_is_not_fooled_by_the_withheld_weights(aws, tmp_path):
    from endpoint_runbook.steps import diagnose

    name, _ = prefix_model(aws, weights=bytes([7]) + os.urandom(2 * MiB), with_package=True)
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name)
    # model_fn stopped at weights.bin, which stays in S3: that is not the model's failure.
    assert d.load_check.ok and d.load_check.stage == "import"
    assert [f.code for f in d.load_check.findings] == ["weights-not-loaded"]
    assert d.verdict.cause not in ("model-fn-error", "missing-module")



def _diagnose_dirs(root: Path) -> set[str]:
    return {p.name for p in root.glob("diagnose-*")}


def _large_archive_endpoint(aws, *, with_package: bool) -> tuple[str, bytes, bytes]:
    world = World(aws)
    weights = bytes([7]) + os.urandom(6 * MiB)
    members = {"config.json": b'{"dim": 4}', "code/inference.py": FIRST_BYTE, "weights.bin": weights}
    if with_package:
        members["code/tinypkg/__init__.py"] = TINYPKG
    src = tar_gz(members)
    name = f"big-{world.tag}"
    world.deploy(name, world.put("big/model.tar.gz", src))
    return name, src, weights


def test_diagnose_reads_a_large_archive_once_and_checks_its_code_without_the_weights(aws, tinypkg, tmp_path,
                                                                                     monkeypatch):
    from endpoint_runbook.records import read_record
    from endpoint_runbook.steps import diagnose

    monkeypatch.setattr(diagnose, "WITHHOLD_FROM_BYTES", MiB)  # "large" from 1 MiB: the 6 MiB archive is
    name, src, weights = _large_archive_endpoint(aws, with_package=False)
    ranges: list[str | None] = []
    # The diagnosis' temp dirs in a dir of this test's own: other processes' diagnoses (a parallel run) stay out.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **kw: made.append(real_mkdtemp(*a, **kw)) or made[-1])
    before = _diagnose_dirs(private)
    aws.client("s3").meta.events.register("provide-client-params.s3.GetObject",
                                          lambda params, **_kw: ranges.append(params.get("Range")))
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name, source_roots=[str(tinypkg.parent.parent)])
    assert d.verdict.cause == "missing-module" and d.verdict.fix["packages"] == ["tinypkg"]
    assert d.load_check is not None and d.load_check.missing_module == "tinypkg"
    # One read, as parallel ranged GETs; the load check used the code written from it (no second download).
    assert ranges and all(r and r.startswith("bytes=") for r in ranges), ranges
    io = read_record(str(tmp_path), "diagnose")["archive"]["io"]
    assert io["bytes_read"] == len(src) and io["bytes_withheld"] == len(weights)
    assert io["local_disk_bytes"] == len(FIRST_BYTE) + len(b'{"dim": 4}')
    assert [m for m in made if Path(m).name.startswith("diagnose-") and Path(m).parent == private]  # it made one
    assert _diagnose_dirs(private) == before == set()  # and it is gone with the diagnosis


def test_diagnose_of_a_loading_large_archive_is_not_fooled_by_the_withheld_weights(aws, tmp_path, monkeypatch):
    from endpoint_runbook.steps import diagnose

    monkeypatch.setattr(diagnose, "WITHHOLD_FROM_BYTES", MiB)
    name, _src, _weights = _large_archive_endpoint(aws, with_package=True)
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name)
    # model_fn stopped at weights.bin, which stays in S3: that is not the model's failure.
    assert d.load_check.ok and d.load_check.stage == "import"
    assert [f.code for f in d.load_check.findings] == ["weights-not-loaded"]
    assert d.verdict.cause not in ("model-fn-error", "missing-module")
    # Below the size, the archive is extracted whole and model_fn runs to the end with its weights.
    monkeypatch.setattr(diagnose, "WITHHOLD_FROM_BYTES", 1 << 40)
    d = diagnose.run(aws, run_dir=str(tmp_path / "small"), endpoint_name=name)
    assert d.load_check.ok and d.load_check.stage == "done" and not d.load_check.findings


# model_fn that really lacks a file the archive never held, beside large weights that stay in S3
_LACKS_FILE = {
    "other-file": b"import os\ndef model_fn(model_dir):\n    return open(os.path.join(model_dir, 'other.bin'), 'rb').read()\n",
    "tokenizer-first": b"import os, json\ndef model_fn(model_dir):\n"
                       b"    t = json.load(open(os.path.join(model_dir, 'tokenizer.json')))\n"
                       b"    return open(os.path.join(model_dir, 'weights.bin'), 'rb').read(1)\n",
}


@pytest.mark.parametrize("case", sorted(_LACKS_FILE))
def test_a_file_the_model_really_lacks_is_not_taken_for_a_withheld_one(aws, tmp_path, monkeypatch, case):
    """With the weights left in S3, a model_fn that fails on a file the model data does not hold is still the
    model's failure (missing-artifact), as when the archive is extracted whole."""
    from endpoint_runbook.steps import diagnose

    monkeypatch.setattr(diagnose, "WITHHOLD_FROM_BYTES", MiB)
    world = World(aws)
    src = tar_gz({"code/inference.py": _LACKS_FILE[case], "weights.bin": bytes([7]) + os.urandom(3 * MiB)})
    name = f"lacks-{world.tag}"
    world.deploy(name, world.put("m/model.tar.gz", src))
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name)
    assert read_io(tmp_path)["bytes_withheld"] > 3 * MiB  # the weights really were left in S3
    assert not d.load_check.ok and d.load_check.stage == "model_fn"
    assert (d.verdict.cause, d.verdict.sub_cause) == ("model-fn-error", "missing-artifact"), d.verdict.summary


def test_withheld_in_error_reads_the_file_an_error_names():
    from endpoint_runbook.serving.loadcheck import withheld_in_error

    withheld = {"weights.bin": 10, "shards/model-1.safetensors": 20}
    err = "[Errno 2] No such file or directory: '/opt/ml/model/weights.bin'"
    assert withheld_in_error(err, None, "FileNotFoundError", withheld) == "weights.bin"
    err = "[Errno 2] No such file or directory: '/opt/ml/model/shards/model-1.safetensors'"
    assert withheld_in_error(err, None, "FileNotFoundError", withheld) == "shards/model-1.safetensors"
    err = "[Errno 2] No such file or directory: '/opt/ml/model/tokenizer.json'"
    assert withheld_in_error(err, None, "FileNotFoundError", withheld) is None  # the model's own missing file
    # No file named: a withheld one named anywhere, else (a file-not-found kind) the first withheld.
    assert withheld_in_error("no file named model-1.safetensors in dir", None, "OSError", withheld) == \
        "shards/model-1.safetensors"
    assert withheld_in_error("cannot open the weights", None, "OSError", withheld) == "weights.bin"
    assert withheld_in_error("bad value", None, "ValueError", withheld) is None


def read_io(run_dir) -> dict:
    from endpoint_runbook.records import read_record

    return read_record(str(run_dir), "diagnose")["archive"]["io"]

def test_rebuild_and_deploy_plan_follow_the_diagnosed_prefix(aws, tinypkg, tmp_path):
    from endpoint_runbook.endpoint import plan as deploy_plan
    from endpoint_runbook.endpoint import preflight
    from endpoint_runbook.steps import diagnose, rebuild_archive

    weights = bytes([7]) + os.urandom(2 * MiB)
    name, bucket = prefix_model(aws, weights=weights, with_package=False)
    run_dir = str(tmp_path)
    diagnose.run(aws, run_dir=run_dir, endpoint_name=name, source_roots=[str(tinypkg.parent.parent)],
                 load_check=False)
    step = rebuild_archive.run(aws, run_dir=run_dir)  # source and additions from the diagnosis
    assert step.method == "prefix-copy" and step.target_uri == f"s3://{bucket}/model-fixed/"
    assert step.io["bytes_uploaded"] == len(TINYPKG) and step.io["withheld_bytes"] == len(weights)
    for mode in ("new-endpoint", "in-place"):
        p, findings = deploy_plan.plan(aws, run_dir=run_dir, mode=mode)
        assert not [f for f in findings if f.severity == "error"], findings
        assert p.model_data_url == f"s3://{bucket}/model-fixed/"
        # As the source model had it (its ModelAccessConfig kept), pointing at the new prefix.
        assert p.model_data_source == {"S3Uri": f"s3://{bucket}/model-fixed/", "S3DataType": "S3Prefix",
                                       "CompressionType": "None", "ModelAccessConfig": {"AcceptEula": True}}
        assert p.archive_digest_source == "prefix listing" and p.model_name
    again, _ = deploy_plan.plan(aws, run_dir=run_dir, mode="new-endpoint")
    assert again.model_name == p.model_name  # same objects, same names
    s3 = aws.client("s3")
    s3.put_object(Bucket=bucket, Key="model-fixed/extra.txt", Body=b"x")
    changed, _ = deploy_plan.plan(aws, run_dir=run_dir, mode="new-endpoint")
    assert changed.model_name != p.model_name  # other objects, another model
    empty = preflight.preflight(aws, deploy_plan.plan(aws, run_dir=run_dir, mode="new-endpoint",
                                              model_data_url=f"s3://{bucket}/nothing-here/")[0])
    assert "model-data-not-found" in [f.code for f in empty]


def test_local_hosting_fetches_a_prefix_as_the_model_dir(aws, tmp_path):
    from endpoint_runbook.local.hosting import ModelDataError, fetch_prefix

    s3 = aws.client("s3")
    b = f"fetch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": aws.region})
    for k, v in {"m/code/inference.py": INFERENCE, "m/weights.bin": b"w" * 10, "m/sub/": b"",
                 "other/x": b"not mine"}.items():
        s3.put_object(Bucket=b, Key=k, Body=v)
    fetch_prefix(s3, f"s3://{b}/m/", tmp_path / "model")
    got = sorted(str(p.relative_to(tmp_path / "model")) for p in (tmp_path / "model").rglob("*") if p.is_file())
    assert got == ["code/inference.py", "weights.bin"]
    assert (tmp_path / "model" / "code" / "inference.py").read_bytes() == INFERENCE
    for uri, words in ((f"s3://{b}/m", "must end with '/'"), (f"s3://{b}/none/", "No model data found")):
        with pytest.raises(ModelDataError) as e:
            fetch_prefix(s3, uri, tmp_path / "x")
        assert words in str(e.value)


def test_a_prefix_one_folder_too_high_is_named_with_the_prefix_to_use(aws, tmp_path):
    from endpoint_runbook.steps import diagnose

    name, bucket = prefix_model(aws, weights=b"w", with_package=True)
    sm = aws.client("sagemaker")
    # The model points one level up: everything the model dir needs is under model/.
    sm.delete_model(ModelName=name)
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny", PrimaryContainer={
        "Image": "img", "ModelDataSource": {"S3DataSource": {
            "S3Uri": f"s3://{bucket}/", "S3DataType": "S3Prefix", "CompressionType": "None"}}})
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name, load_check=False)
    nested = next(f for f in d.findings if f.code == "nested-top-folder")
    assert f"s3://{bucket}/model/" in nested.message and "tar" not in nested.message
    assert d.verdict.cause == "missing-entry-script"


def test_one_s3_client_has_connections_for_the_read_and_the_copy_at_once():
    """The splice reads (``readers`` ranged GETs) and copies (``copiers`` UploadPartCopy) on one client: its pool
    holds both, so urllib3 does not drop connections (and warn) mid-read."""
    import inspect

    from endpoint_runbook.aws import Aws, AwsParams

    params = inspect.signature(plan_splice).parameters
    wanted = params["readers"].default + params["copiers"].default
    assert Aws(AwsParams(region="ap-south-1")).config.max_pool_connections >= wanted
