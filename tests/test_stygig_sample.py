"""The StyGig sample (examples/stygig): its rules, its catalog, its packaging and its serving handlers."""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import uuid
from pathlib import Path

import pytest
from endpoint_runbook.archive import safe_extract
from PIL import Image, ImageDraw

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stygig"
sys.path.insert(0, str(EXAMPLE / "src"))

from stygig.core.color_logic import PALETTE, ColorProcessor
from stygig.core.gender_logic import GenderClassifier
from stygig.core.ranking import Query, guess_category, rank
from stygig.core.rules import CategoryRules

TSHIRT_KEY = "train/upperwear/tshirt/upperwear_tshirt100.png"
SETTINGS = json.loads((EXAMPLE / "config" / "settings.json").read_text())
PER_TYPE = 4  # 10 types, 40 images: enough for every rule, quick to train


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_train(catalog: Path, output: Path, packaging: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE / "sagemaker" / "train.py"),
            "--catalog",
            str(catalog),
            "--code-root",
            str(EXAMPLE),
            "--output",
            str(output),
            "--packaging",
            packaging,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getmembers()


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    load_module("stygig_catalog", EXAMPLE / "catalog.py").generate_catalog(root, per_type=PER_TYPE)
    return root


@pytest.fixture(scope="module")
def archives(catalog_dir, tmp_path_factory) -> dict[str, Path]:
    """fixed, fixed-again (same inputs) and buggy archives, trained side by side."""
    out = tmp_path_factory.mktemp("archives")
    runs = {
        name: (out / f"{name}.tar.gz", run_train(catalog_dir, out / f"{name}.tar.gz", name.split("-")[0],
                                                 *(["--no-check"] if name == "buggy" else [])))
        for name in ("fixed", "fixed-again", "buggy")
    }
    for name, (_, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"train.py --packaging {name} failed:\n{stdout}\n{stderr}"
    return {name: path for name, (path, _) in runs.items()}


@pytest.fixture(scope="module")
def model_dir(archives, tmp_path_factory) -> Path:
    """The fixed archive extracted as SageMaker does into /opt/ml/model."""
    root = tmp_path_factory.mktemp("opt_ml_model")
    with open(archives["fixed"], "rb") as f:
        safe_extract(f, root)
    return root


@pytest.fixture(scope="module")
def inference(model_dir):
    """The serving module, imported in-process from the extracted archive's code/ folder."""
    return load_module("stygig_inference", model_dir / "code" / "inference.py")


@pytest.fixture(scope="module")
def model(inference, model_dir):
    return inference.model_fn(str(model_dir))


# --- colour -------------------------------------------------------------------------------------------


def test_dominant_color_of_a_plain_red_image_is_red():
    name, rgb = ColorProcessor().dominant_color(Image.new("RGB", (64, 64), (210, 25, 30)))
    assert name == "red"
    assert rgb == (210, 25, 30)


def test_dominant_color_ignores_the_background():
    image = Image.new("RGB", (64, 64), (235, 235, 235))
    ImageDraw.Draw(image).rectangle([16, 12, 48, 56], fill=PALETTE["navy"])
    assert ColorProcessor().dominant_color(image)[0] == "navy"


def test_every_palette_colour_is_named_back():
    processor = ColorProcessor()
    for name, rgb in PALETTE.items():
        assert processor.color_name(rgb) == name


def test_harmony_rules_are_bounded_symmetric_and_prefer_neutrals():
    harmony = ColorProcessor.harmony
    for a, b in itertools.product(PALETTE, repeat=2):
        assert 0.0 <= harmony(a, b) <= 1.0
        assert harmony(a, b) == harmony(b, a)
    assert harmony("navy", "white") > harmony("red", "green")
    assert harmony("black", "yellow") > harmony("red", "green")  # a neutral goes with anything
    assert harmony("red", "pink") > harmony("red", "green")  # analogous beats clashing
    assert harmony("orange", "blue") > harmony("red", "green")  # complementary beats clashing


# --- gender and category rules ------------------------------------------------------------------------


def test_gender_from_type_then_metadata_then_unisex():
    genders = GenderClassifier()
    assert genders.classify("dress", "dress") == "female"
    assert genders.classify("bottomwear", "skirt") == "female"
    assert genders.classify("upperwear", "tshirt") == "unisex"
    assert genders.classify("upperwear", "tshirt", {"gender": "Male"}) == "male"
    assert genders.classify("bottomwear", "skirt", {"gender": "not-a-gender"}) == "female"


def test_gender_compatibility():
    genders = GenderClassifier(mixed_score=0.7)
    assert genders.compatibility("female", "female") == 1.0
    assert genders.compatibility("male", "female") == genders.compatibility("female", "male") == 0.0
    assert genders.compatibility("male", "unisex") == genders.compatibility("unisex", "male") == 0.7


def test_a_tshirt_calls_for_other_categories():
    rules = CategoryRules.from_settings(SETTINGS)
    assert rules.score("upperwear", "upperwear") == 0.0
    assert rules.score("upperwear", "bottomwear") > rules.score("upperwear", "footwear") > 0
    assert rules.compatible("upperwear") == ["bottomwear", "footwear", "outerwear"]
    assert rules.score("unknown", "bottomwear") == 0.0


def item(key: str, category: str, item_type: str, color: str, gender: str = "unisex") -> dict:
    return {"key": key, "category": category, "type": item_type, "color": color, "gender": gender}


NEIGHBOURS = [
    (item("t1", "upperwear", "tshirt", "red"), 1.0),
    (item("t2", "upperwear", "tshirt", "red"), 0.95),
    (item("j1", "bottomwear", "jeans", "navy"), 0.6),
    (item("j2", "bottomwear", "jeans", "green"), 0.7),
    (item("s1", "bottomwear", "skirt", "black", "female"), 0.5),
    (item("b1", "footwear", "boots", "brown"), 0.4),
    (item("d1", "dress", "dress", "red", "female"), 0.9),
]


def test_guess_category_is_a_similarity_weighted_vote():
    assert guess_category(NEIGHBOURS, votes=5) == ("upperwear", "tshirt")
    assert guess_category(NEIGHBOURS[2:], votes=3) == ("bottomwear", "jeans")


def rank_for(query: Query, top_k: int = 10) -> list[dict]:
    return rank(
        query,
        NEIGHBOURS,
        colors=ColorProcessor(),
        genders=GenderClassifier(),
        rules=CategoryRules.from_settings(SETTINGS),
        weights=SETTINGS["weights"],
        top_k=top_k,
    )


def test_rank_keeps_compatible_categories_sorted_by_score():
    ranked = rank_for(Query(color="red", category="upperwear", gender="unisex"))
    assert {r["category"] for r in ranked} == {"bottomwear", "footwear"}
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    # navy goes with red, green clashes: the navy jeans win although the green ones look closer.
    assert [r["key"] for r in ranked].index("j1") < [r["key"] for r in ranked].index("j2")
    assert len(rank_for(Query(color="red", category="upperwear", gender="unisex"), top_k=2)) == 2


def test_rank_drops_items_of_the_other_gender():
    keys = {r["key"] for r in rank_for(Query(color="red", category="upperwear", gender="male"))}
    assert "s1" not in keys and keys


# --- catalog and packaging ----------------------------------------------------------------------------


def test_catalog_is_byte_reproducible_and_has_the_incident_key(tmp_path):
    catalog = load_module("stygig_catalog", EXAMPLE / "catalog.py")
    first = catalog.generate_catalog(tmp_path / "a", per_type=2)
    second = catalog.generate_catalog(tmp_path / "b", per_type=2)
    assert len(first) == 2 * len(catalog.SHAPES)
    assert (tmp_path / "a" / TSHIRT_KEY).is_file()
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_fixed_archive_ships_the_package_where_it_imports(archives):
    infos = members(archives["fixed"])
    names = {m.name for m in infos}
    assert {
        "code/inference.py",
        "code/requirements.txt",
        "code/stygig/__init__.py",
        "code/stygig/core/color_logic.py",
        "code/stygig/core/gender_logic.py",
        "config/settings.json",
        "config.json",
        "embeddings.npz",
        "faiss_index.index",
        "metadata.pkl",
        "encoder.pt",
    } <= names
    assert not any(n.startswith(("/", "./", "src/")) or "__pycache__" in n for n in names)
    assert [m.name for m in infos] == sorted(names)
    assert {(m.uid, m.gid, m.mtime) for m in infos} == {(0, 0, infos[0].mtime)}
    assert archives["fixed"].read_bytes() == archives["fixed-again"].read_bytes()


def test_buggy_archive_reproduces_the_incident(archives):
    names = {m.name for m in members(archives["buggy"])}
    assert {"code/inference.py", "code/requirements.txt", "metadata.pkl", "faiss_index.index"} <= names
    assert not any("stygig" in n for n in names)
    assert not any(n == "config" or n.startswith("config/") for n in names)


def serving_subprocess(model_root: Path, script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Python with only the container's import path for user code: <model>/code and <model>."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(model_root / "code"), str(model_root)])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_buggy_archive_fails_to_import_stygig(archives, tmp_path):
    with open(archives["buggy"], "rb") as f:
        safe_extract(f, tmp_path / "model")
    result = serving_subprocess(tmp_path / "model", "import inference", tmp_path)
    assert result.returncode != 0
    assert "ModuleNotFoundError: No module named 'stygig'" in result.stderr


def test_fixed_archive_serves_end_to_end(model_dir, catalog_dir, tmp_path):
    script = f"""
        import json, stygig, inference
        model = inference.model_fn({str(model_dir)!r})
        body = open({str(catalog_dir / TSHIRT_KEY)!r}, "rb").read()
        data = inference.input_fn(body, "image/png")
        body, content_type = inference.output_fn(inference.predict_fn(data, model), "application/json")
        print("RESULT " + json.dumps({{"content_type": content_type, "stygig": stygig.__file__,
                                      "body": json.loads(body)}}))
    """
    result = serving_subprocess(model_dir, script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "✓ CLIP model loaded in " in result.stdout
    assert "✓ All models initialized" in result.stdout
    assert "✓ Loaded metadata for 5 categories" in result.stdout
    answer = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert answer["content_type"] == "application/json"
    assert Path(answer["stygig"]).is_relative_to(model_dir / "code" / "stygig")
    query, recommendations = answer["body"]["query"], answer["body"]["recommendations"]
    assert (query["category_guess"], query["type_guess"]) == ("upperwear", "tshirt")
    assert query["dominant_color"] in PALETTE
    assert set(query["timing_ms"]) == {"fetch_ms", "encode_ms", "search_ms", "rank_ms"}
    assert len(recommendations) == SETTINGS["top_k"]
    assert [r["rank"] for r in recommendations] == list(range(1, SETTINGS["top_k"] + 1))
    assert all(r["category"] in query["compatible_categories"] for r in recommendations)
    assert all((catalog_dir / r["key"]).is_file() for r in recommendations)
    scores = [r["score"] for r in recommendations]
    assert scores == sorted(scores, reverse=True)


# --- serving handlers in-process ----------------------------------------------------------------------


def test_model_fn_prefers_config_dir_settings(inference, model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    settings, source = inference.load_settings(model_dir, config)
    assert source.endswith("settings.json") and settings == SETTINGS
    settings, source = inference.load_settings(model_dir / "missing", config)
    assert "defaults" in source and settings == config["recommendation"]


def test_base64_request_with_gender_and_top_k(inference, model, catalog_dir):
    body = json.dumps(
        {
            "image_base64": base64.b64encode((catalog_dir / TSHIRT_KEY).read_bytes()).decode(),
            "top_k": 3,
            "gender": "male",
        }
    )
    prediction = inference.predict_fn(inference.input_fn(body, "application/json"), model)
    assert prediction["query"]["gender"] == "male"
    assert len(prediction["recommendations"]) == 3
    assert all(r["gender"] != "female" for r in prediction["recommendations"])


@pytest.fixture()
def s3_bucket(aws, moto_url, monkeypatch, inference):
    """A bucket on the moto server, with boto3 pointed there through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    inference.s3_client.cache_clear()
    bucket = f"stygig-ml-{uuid.uuid4().hex[:8]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    yield s3, bucket
    inference.s3_client.cache_clear()


def test_s3_request_reads_the_object(inference, model, catalog_dir, s3_bucket):
    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key=TSHIRT_KEY, Body=(catalog_dir / TSHIRT_KEY).read_bytes())
    uri = f"s3://{bucket}/{TSHIRT_KEY}"
    data = inference.input_fn(json.dumps({"s3_uri": uri}), "application/json")
    prediction = inference.predict_fn(data, model)
    assert prediction["query"]["source"] == uri
    assert prediction["query"]["type_guess"] == "tshirt"


@pytest.mark.parametrize("key_or_bucket", ["key", "bucket"])
def test_missing_s3_object_is_a_400_that_names_it(inference, s3_bucket, key_or_bucket):
    _, bucket = s3_bucket
    uri = f"s3://{bucket}/missing.png" if key_or_bucket == "key" else f"s3://{bucket}-gone/{TSHIRT_KEY}"
    with pytest.raises(inference.BadRequest) as raised:
        inference.input_fn(json.dumps({"s3_uri": uri}), "application/json")
    assert raised.value.status_code == 400
    assert uri in raised.value.message and "does not exist" in raised.value.message


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"not a png", "image/png", 400, "is not an image"),
        ("a,b\n1,2", "text/csv", 415, "is not supported"),
        (b"\x89PNG", None, 415, "is not supported"),
        ("{not json", "application/json", 400, "not valid JSON"),
        ('["s3://b/k"]', "application/json", 400, "must be an object"),
        ('{"url": "s3://b/k"}', "application/json", 400, '"s3_uri"'),
        ('{"s3_uri": "https://b/k"}', "application/json", 400, "s3://bucket/key"),
        ('{"image_base64": "@@@"}', "application/json", 400, "not valid base64"),
        ('{"image_base64": "aGVsbG8="}', "application/json", 400, "is not an image"),
    ],
)
def test_bad_input_is_a_client_error_with_a_clear_message(inference, body, content_type, status, words):
    with pytest.raises(inference.BadRequest) as raised:
        inference.input_fn(body, content_type)
    assert raised.value.status_code == status
    assert words in raised.value.message


@pytest.mark.parametrize(("field", "value"), [("top_k", 0), ("top_k", "5"), ("top_k", True), ("gender", "x")])
def test_bad_options_are_rejected(inference, catalog_dir, field, value):
    body = {"image_base64": base64.b64encode((catalog_dir / TSHIRT_KEY).read_bytes()).decode(), field: value}
    with pytest.raises(inference.BadRequest, match=field):
        inference.input_fn(json.dumps(body), "application/json")


def test_output_fn_answers_json_only(inference):
    assert inference.output_fn({"a": 1}, "*/*") == ('{"a": 1}', "application/json")
    with pytest.raises(inference.BadRequest) as raised:
        inference.output_fn({"a": 1}, "text/csv")
    assert raised.value.status_code == 406


def test_check_archive_stops_the_buggy_training_job(catalog_dir, tmp_path):
    """The permanent fix: with the check on (the default), the seed's bug fails the job instead of shipping."""
    out = tmp_path / "model.tar.gz"
    proc = run_train(catalog_dir, out, "buggy")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "check-archive: missing-module" in stdout + stderr and "stygig" in stdout + stderr
    assert not out.exists()
