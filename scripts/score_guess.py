"""How the guess from words (logs/vocabulary.py) does on lines no rule is let to name: every cause line of
tests/data/source-rules.tsv (the rules that name it put aside, a proxy for a message no rule knows), its healthy
lines, and the first failure line of every corpus excerpt.

    .venv/bin/python scripts/score_guess.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from endpoint_runbook.logs.scoring import corpus_files, read_excerpt, source_rule_lines
from endpoint_runbook.logs.vocabulary import failure_lines, guess

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    lines, healthy = Counter(), Counter()
    for code, text in source_rule_lines(DATA / "source-rules.tsv"):
        g = guess(text)
        if code == "none":
            healthy["guessed" if g else "silent"] += 1
        else:
            lines["silent" if g is None else "right" if g[0] == code else "wrong"] += 1
    excerpts = Counter()
    for path in (p for d in sorted(DATA.glob("logs-*")) if d.is_dir() for p in corpus_files(d)):
        ex = read_excerpt(path)
        g = next((g for _, line in failure_lines(ex.body, set()) if (g := guess(line))), None)
        excerpts["silent" if g is None else "right" if g[0] == ex.expected else "wrong"] += 1
    for what, c in (("source-rules cause lines", lines), ("source-rules healthy lines", healthy),
                    ("corpus excerpts, first failure line", excerpts)):
        print(f"{what}: {sum(c.values())}  " + "  ".join(f"{k} {v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    main()
