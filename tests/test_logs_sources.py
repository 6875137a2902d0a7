"""The model servers', engines', libraries' and web servers' own start-up messages (logs/servers.py, engines.py,
libraries.py, apps.py) and the platforms under them (platforms.py), as they print
them (tests/data/source-rules.tsv): each named by the rule read from its source, alone and in the middle of
ordinary start-up chatter; the lines of healthy start-ups of the same servers that sound close (warnings,
retries) name no cause."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from endpoint_runbook.logs import evidence_from_text
from endpoint_runbook.logs.apps import APP_RULES
from endpoint_runbook.logs.catalogue import SIGNATURES
from endpoint_runbook.logs.engines import ENGINE_RULES
from endpoint_runbook.logs.libraries import LIBRARY_RULES
from endpoint_runbook.logs.matching import match_text
from endpoint_runbook.logs.platforms import PLATFORM_RULES
from endpoint_runbook.logs.scoring import source_rule_lines
from endpoint_runbook.logs.servers import SERVER_RULES

ROWS = source_rule_lines(Path(__file__).parent / "data" / "source-rules.tsv")
EXAMPLES = [(code, text) for code, text in ROWS if code != "none"]
HEALTHY_LINES = [text for code, text in ROWS if code == "none"]
CHATTER = [
    "2026-11-30T08:00:01.000Z INFO text_generation_launcher: Args { model_id: \"/opt/ml/model\", num_shard: None }",
    "INFO 11-30 08:00:02 [__init__.py:239] Automatically detected platform cuda.",
]


@pytest.mark.parametrize("code,text", EXAMPLES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(EXAMPLES)])
def test_a_servers_own_message_names_its_cause(code, text):
    assert evidence_from_text(text).cause.code == code
    ev = evidence_from_text("\n".join(CHATTER[:1] + [text] + CHATTER[1:]))
    assert ev.cause.code == code, ev.cause.to_dict()
    assert not ev.cause.details.get("guessed")


@pytest.mark.parametrize("text", HEALTHY_LINES)
def test_a_healthy_start_ups_line_names_no_cause(text):
    # (the vocabulary's guess is not a rule: a lone line with failure words may still be guessed at, weakly)
    assert not [h.code for h in match_text(text) if h.kind == "cause" and not h.details.get("guessed_from")]


def test_every_source_rule_has_an_example_and_joined_its_signature():
    by_code = {s.code: s for s in SIGNATURES}
    for rules in (SERVER_RULES, ENGINE_RULES, LIBRARY_RULES, APP_RULES, PLATFORM_RULES):
        for code, rs in rules.items():
            patterns = {r.pattern.pattern for r in by_code[code].rules}
            for rule in rs:
                assert rule[1] in patterns, (code, rule[1])
    bodies = [text for _, text in EXAMPLES]
    lacking = [(code, rule[1]) for rules in (ENGINE_RULES, LIBRARY_RULES, APP_RULES, PLATFORM_RULES) for code, rs in rules.items() for rule in rs
               if not any(re.search(rule[1], b) for b in bodies)]
    assert not lacking


def test_the_prefilter_lets_routine_lines_go_whatever_the_anchors_end_with():
    """The prefilter's keys span an anchor's last word boundary: anchors ending in common words ("... completed
    successfully", "... the request", "... is detected") must not select the routine lines that hold those words,
    or every line of a healthy log would be read rule by rule (bench_logs went from 4 s to 47 s on 1 M lines)."""
    from endpoint_runbook.logs.prefilter import _ANY

    routine = [
        "2020-04-02 18:43:39.123: I tensorflow_serving/core/basic_manager.cc:739] Successfully reserved resources",
        "2026-11-30T08:01:05,000 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - predicted 12 items; top score 0.93",
        "[2020-04-02 18:43:39 +0000] [77] [INFO] request id 1234 content-type application/json",
        "INFO 05-20 20:12:25 [loader.py:42] Model weights detected, loading 4 shards",
    ]
    assert not [line for line in routine if _ANY.search(line)]
    assert _ANY.search("2022-08-29 08:46:21,490 | root | INFO | Users's init has completed successfully")
