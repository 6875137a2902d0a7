"""The log corpus scores a test session computed, for the terminal summary (tests/conftest_logscores.py)."""

from __future__ import annotations

from typing import Any

_SCORES: dict[str, Any] = {}


def record(label: str, score: Any) -> None:
    """A :class:`endpoint_runbook.logs.scoring.CorpusScore` under ``label``."""
    _SCORES[label] = score.lines()


def record_first(first: dict[str, Any], key: str = "first") -> None:
    """A first held-out score as kept in tests/data/logs-scores/heldout*-first.json."""
    by = first["by_confidence"]
    what = "held-out FIRST score" if key == "first" else f"{first['directory']} FIRST score"
    lines = [f"{what} (commit {first['commit'][:10]}, rules final, held-out unread): "
             f"{first['right']}/{first['total']} right ({100 * first['ratio']:.1f} %)"]
    for c in ("high", "medium", "low"):
        r, n = by[c]["right"], by[c]["total"]
        lines.append(f"  {c:<6} confidence: {r}/{n} right" + (f" ({100 * r / n:.1f} %)" if n else ""))
    lines.append(f"  misses ({len(first['misses'])}): file | expected | got | confidence")
    lines += [f"    {m['file']} | {m['expected']} | {m['got']} | {m['confidence']}" for m in first["misses"]]
    _SCORES[key] = lines


def record_lines(key: str, lines: list[str]) -> None:
    """Lines printed as they are (a key starting with "first" sorts among the first scores)."""
    _SCORES[key] = lines


def summary() -> list[str]:
    out: list[str] = []
    firsts = ["seen", *sorted(k for k in _SCORES if k.startswith("first"))]
    for key in firsts:
        if key in _SCORES:
            out += (["seen (the rules were written from these):"] if key == "seen" else []) + _SCORES[key]
    for key, lines in _SCORES.items():
        if key not in firsts:
            out += [f"{key}:"] + lines
    return out
