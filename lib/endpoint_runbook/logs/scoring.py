"""Scoring the classifier on a corpus of real published excerpts (tests/data/logs-corpus, tests/data/logs-heldout).

An excerpt is a text file: ``# key: value`` header lines (``source``, ``container``, ``expected-cause``,
``expected-detail``, ``noise``, ``family``, optionally ``relabelled``), a line ``---``, then the log text as it
was published. :func:`score_corpus` classifies every excerpt with :func:`evidence_from_text` and reports how
many got their expected cause, the precision of each confidence level, and every miss.

``endpoint-runbook explain-logs --score DIR [DIR ...]`` prints it (one section per directory).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .verdict import evidence_from_text

__all__ = ["CorpusScore", "Excerpt", "ExcerptResult", "excerpt_body", "read_excerpt", "score_corpus",
           "source_rule_lines"]

_CONFIDENCES = ("high", "medium", "low")


@dataclass(frozen=True)
class Excerpt:
    path: Path
    meta: dict[str, str]
    body: str

    @property
    def expected(self) -> str:
        return self.meta["expected-cause"]


def read_excerpt(path: Path) -> Excerpt:
    """One corpus file; a ValueError that names the file when its header is not the corpus's shape."""
    head, sep, body = path.read_text(encoding="utf-8").partition("\n---\n")
    if not sep:
        raise ValueError(f"{path.name}: no '---' line between the header and the log text")
    meta: dict[str, str] = {}
    for line in head.splitlines():
        key, _, value = line.lstrip("# ").partition(":")
        meta[key.strip()] = value.strip()
    if not meta.get("expected-cause"):
        raise ValueError(f"{path.name}: the header has no 'expected-cause:' line")
    return Excerpt(path, meta, body)


def excerpt_body(text: str) -> tuple[str, bool]:
    """The log text of ``text`` without a corpus excerpt's header (``# source: …`` lines, then ``---``), and
    whether there was one: the header describes the log and must never be read as a line of it."""
    head, sep, body = text.partition("\n---\n")
    lines = head.splitlines()
    if sep and lines and all(x.startswith("#") or not x.strip() for x in lines) and any(
            x.lstrip("# ").startswith(("source:", "expected-cause:")) for x in lines):
        return body, True
    return text, False


def _number(path: Path) -> tuple[int, str]:
    m = re.match(r"\d+", path.name)
    return (int(m.group()) if m else 1 << 30, path.name)


def corpus_files(directory: Path) -> list[Path]:
    """The excerpts of a corpus directory (``<number>-*.txt``), in number order."""
    return sorted((p for p in directory.glob("*.txt") if re.match(r"\d+-", p.name)), key=_number)


def source_rule_lines(path: Path) -> list[tuple[str, str]]:
    """(cause code or ``none``, line) of a file shaped like tests/data/source-rules.tsv (``#`` lines are comments)."""
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return [(code, text) for code, text in rows]


@dataclass(frozen=True)
class ExcerptResult:
    file: str
    expected: str
    got: str
    confidence: str
    family: str = ""

    @property
    def right(self) -> bool:
        return self.got == self.expected

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "expected": self.expected, "got": self.got, "confidence": self.confidence,
                "family": self.family, "right": self.right}


@dataclass
class CorpusScore:
    directory: str
    results: list[ExcerptResult] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def right(self) -> int:
        return sum(r.right for r in self.results)

    @property
    def ratio(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def misses(self) -> list[ExcerptResult]:
        return [r for r in self.results if not r.right]

    def by_confidence(self) -> dict[str, tuple[int, int]]:
        """confidence level → (verdicts right, verdicts given) at that level."""
        out = {c: (0, 0) for c in _CONFIDENCES}
        for r in self.results:
            right, n = out.get(r.confidence, (0, 0))
            out[r.confidence] = (right + r.right, n + 1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "right": self.right, "total": self.total,
                "ratio": round(self.ratio, 4),
                "by_confidence": {c: {"right": r, "total": n} for c, (r, n) in self.by_confidence().items()},
                "misses": [m.to_dict() for m in self.misses], "results": [r.to_dict() for r in self.results]}

    def lines(self) -> list[str]:
        """The score as text: the total, each confidence level's precision, every miss."""
        out = [f"{self.directory}: {self.right}/{self.total} right ({100 * self.ratio:.1f} %)"]
        for c, (r, n) in self.by_confidence().items():
            out.append(f"  {c:<6} confidence: {r}/{n} right" + (f" ({100 * r / n:.1f} %)" if n else ""))
        if self.misses:
            out.append(f"  misses ({len(self.misses)}): file | expected | got | confidence")
            out += [f"    {m.file} | {m.expected} | {m.got} | {m.confidence}" for m in self.misses]
        return out


def score_corpus(directory: Path | str, *, files: Iterable[Path] | None = None) -> CorpusScore:
    """Classify every excerpt of ``directory`` (or just ``files``) and compare with its header."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no corpus directory {directory}")
    score = CorpusScore(str(directory))
    for path in (list(files) if files is not None else corpus_files(directory)):
        ex = read_excerpt(path)
        cause = evidence_from_text(ex.body).cause
        score.results.append(ExcerptResult(path.name, ex.expected, cause.code, cause.confidence,
                                           ex.meta.get("family", "")))
    return score
