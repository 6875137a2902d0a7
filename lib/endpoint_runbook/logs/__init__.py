"""CloudWatch log evidence: read an endpoint's log group (or a pasted/exported log), match the signatures of
SageMaker's model containers, name one cause with its evidence lines.

- :mod:`.reading`: the endpoint's log group → :class:`LogRead` of :class:`LogEvent` (never raises for the
  expected failures);
- :mod:`.forms`: pasted or exported text (console copy, CSV export, docker-compose prefixes, markdown,
  CloudWatch JSON) → events or plain lines;
- :mod:`.catalogue`: the signatures (causes, symptoms, noise, healthy start-up lines) with their anchors;
- :mod:`.matching`: a one-pass prefilter over the whole log, then signatures and tracebacks per line;
- :mod:`.verdict`: hits → per-code summaries → one :class:`Cause`;
- :mod:`.scoring`: the classifier scored on a corpus of published excerpts (``explain-logs --score``).

``diagnose`` calls :func:`analyze` on what it read; ``endpoint-runbook explain-logs`` calls
:func:`evidence_from_text`; both go through :func:`match_signatures`' scanner and :func:`summarize`.
"""

from __future__ import annotations

from .catalogue import ANCHORS, CRASH_MARKERS, SIGNATURES
from .causes import BROADER, CAUSE_PRECEDENCE, CAUSES, CauseInfo, Rule, Signature
from .forms import TextForm, detect_form, events_from_lines, events_from_text, normalize_text, timestamp_of
from .matching import SignatureHit, match_signatures, match_text
from .reading import LogEvent, LogRead, LogStream, list_log_streams, log_group_name, read_endpoint_logs, to_ms
from .scoring import CorpusScore, score_corpus
from .verdict import (
    NOT_A_FAILURE,
    Cause,
    CodeSummary,
    LogEvidence,
    Sample,
    analyze,
    evidence_from_events,
    evidence_from_text,
    summarize,
)

__all__ = [
    "ANCHORS",
    "BROADER",
    "CAUSES",
    "CAUSE_PRECEDENCE",
    "CRASH_MARKERS",
    "NOT_A_FAILURE",
    "SIGNATURES",
    "Cause",
    "CauseInfo",
    "CodeSummary",
    "CorpusScore",
    "LogEvent",
    "LogEvidence",
    "LogRead",
    "LogStream",
    "Rule",
    "Sample",
    "Signature",
    "SignatureHit",
    "TextForm",
    "analyze",
    "detect_form",
    "events_from_lines",
    "events_from_text",
    "evidence_from_events",
    "evidence_from_text",
    "list_log_streams",
    "log_group_name",
    "match_signatures",
    "match_text",
    "normalize_text",
    "read_endpoint_logs",
    "score_corpus",
    "summarize",
    "timestamp_of",
    "to_ms",
]
