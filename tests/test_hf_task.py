"""HF_TASK for the Hugging Face toolkit's default handler (endpoint.hf_task through remedies.propose), on the shapes
of real failures: the toolkit's own messages as the corpus holds them (tests/data/logs-heldout 167, 168, 366), and
archives laid out as hub snapshots (config.json, the model card's front matter)."""

from __future__ import annotations

import json
from pathlib import Path

from endpoint_runbook.endpoint import remedies
from endpoint_runbook.endpoint.hf_task import hf_task_failure
from endpoint_runbook.logs.scoring import read_excerpt
from endpoint_runbook.step_records import EndpointFacts

HELDOUT = Path(__file__).parent / "data" / "logs-heldout"


def _lines(prefix: str) -> list[str]:
    [path] = HELDOUT.glob(f"{prefix}-*.txt")
    return read_excerpt(path).body.splitlines()


def _facts(**env: str) -> EndpointFacts:
    return EndpointFacts(name="hf", status="InService", environment=dict(env),
                         image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:"
                               "1.13.1-transformers4.26.0-gpu-py39-cu117-ubuntu20.04")


def _propose(sources: dict[str, bytes], lines: list[str], **env: str):
    return remedies.propose(_facts(**env), "default-handler-used", sources=sources, log_lines=lines)


def _config(**c) -> bytes:
    return json.dumps(c).encode()


def test_the_toolkits_own_messages_are_told_apart_from_other_default_handler_failures():
    assert hf_task_failure(_lines("366")) and hf_task_failure(_lines("167")) and hf_task_failure(_lines("168"))
    assert not hf_task_failure(["Please provide a model_fn implementation."])


def test_a_custom_architecture_gets_the_task_of_the_auto_class_it_registers():
    """366: ReplitLM (trust_remote_code) ends in no suffix the toolkit maps; its config's auto_map says causal LM."""
    cfg = _config(architectures=["ReplitLM"], auto_map={"AutoConfig": "configuration_replit_lm.ReplitLMConfig",
                                                        "AutoModelForCausalLM": "replit_lm.ReplitLM"})
    [r], notes = _propose({"config.json": cfg}, _lines("366"))
    assert (r.where, r.field, r.before, r.after) == ("model", "HF_TASK", None, "text-generation") and notes == []
    assert r.sized_from == {"auto_map": "AutoModelForCausalLM", "architecture": "ReplitLM"}


def test_a_bare_encoder_whose_set_task_failed_gets_feature_extraction_not_the_same_task_again():
    """167: HF_TASK=sentence-similarity (not a task of that toolkit's transformers) on an XLMRobertaModel."""
    card = b"---\nlanguage: multilingual\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\n---\n# x"
    [r], _ = _propose({"config.json": _config(architectures=["XLMRobertaModel"]), "README.md": card}, _lines("167"),
                      HF_TASK="sentence-similarity")
    assert (r.before, r.after) == ("sentence-similarity", "feature-extraction")


def test_the_model_cards_pipeline_tag_comes_first_and_only_if_the_toolkit_lists_it():
    card = b"---\nlicense: apache-2.0\npipeline_tag: zero-shot-classification\n---\n"
    cfg = _config(architectures=["BartModel"])
    [r], _ = _propose({"config.json": cfg, "README.md": card}, _lines("168"))
    assert r.after == "zero-shot-classification" and r.sized_from["pipeline_tag"] == "zero-shot-classification"
    # a tag the toolkit's message does not list is passed over for the next evidence
    card = b"---\npipeline_tag: sentence-similarity\n---\n"
    [r], _ = _propose({"config.json": cfg, "README.md": card}, _lines("168"))
    assert r.after == "feature-extraction"


def test_handlers_the_toolkit_did_not_find_are_the_remedy_not_a_task():
    """168's shape: the user's inference.py is in the archive but not where the toolkit runs it."""
    script = b"import json\n\ndef model_fn(model_dir):\n    return None\n"
    found, notes = _propose({"inference.py": script, "config.json": _config(architectures=["BertModel"])},
                            _lines("168"))
    assert found == [] and "inference.py" in notes[0] and "code/inference.py" in notes[0]


def test_nothing_said_of_the_task_means_no_guess():
    found, notes = _propose({"config.json": _config(architectures=["LlamaForCausalLM"])}, _lines("366"))
    assert found == [] and "set it in deploy.remedies" in notes[0]
    found, _ = remedies.propose(_facts(), "default-handler-used", sources={"config.json": _config(
        architectures=["ReplitLM"], auto_map={"AutoModelForCausalLM": "x.Y"})},
        log_lines=["Please provide a model_fn implementation."])
    assert found == []  # not the HF toolkit's failure: no task proposed
