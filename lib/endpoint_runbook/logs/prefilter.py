"""The matcher's prefilter: every anchor of the catalogue (and the context lines the scanner reads) found in one
C-level regex pass, so the lines that hold none are never looked at again."""

from __future__ import annotations

import re

from .catalogue import ANCHORS, SIGNATURES
from .causes import Rule, Signature

# Lines that carry context rather than a signature: pip's "Collecting <req>" (names the requirement a build
# failure is about) and the entry script's name when a container prints its environment.
_COLLECTING = re.compile(r"^\s*Collecting (?P<requirement>[^\s(]+)")
_ENTRY = re.compile(r"(?i)(?:SAGEMAKER_PROGRAM|sagemaker_program|user_entry_point)[\"']?\s*[=:]\s*[\"']?"
                    r"(?P<name>[\w./-]+?)(?:\.py)?[\"'\s,}]")
# Lines that tell the verdict where it is: a multi-model endpoint (its model directories, the scikit-learn/XGBoost
# containers start MMS only in multi-model mode, the toolkit's MME switch), a TorchServe reply deadline met
# while serving (not loading), a failed import of the MXNet toolkit's user module.
_MME = ("/opt/ml/models/", "multi-model", "multi_model", "MultiModel", "MULTI_MODEL")
_INFERENCE = ("unsuccessful inference", "Inference time ns")
_CONTEXT_ANCHORS = ("Collecting ", "SAGEMAKER_PROGRAM", "sagemaker_program", "user_entry_point",
                    "import_module exception", "Retrying in 1 second") + _MME + _INFERENCE

_ALL_ANCHORS = tuple(sorted(set(ANCHORS) | set(_CONTEXT_ANCHORS), key=lambda a: (-len(a), a)))

# The prefilter. The regex engine skips, in C, every position whose character cannot start an alternative and
# tries the alternatives only at the others. So each anchor is represented by a tail of it (at least 4
# characters, or the whole anchor, spanning its last word boundary) that starts at a character from a small set of
# rare ones: the set is a greedy weighted cover (cheapest character per anchor it serves first), weighted by how
# often characters occur in published SageMaker container logs (per 100 000 characters of tests/data/logs-corpus
# and a TorchServe crash loop). A line a tail finds but that holds no whole anchor is let go in _signatures.
_CHAR_FREQ = {
    " ": 8493, "e": 5824, "o": 4427, "1": 4265, "-": 4047, "0": 3656, "t": 3568, "r": 3529, "l": 3029, "i": 2912,
    "n": 2796, ".": 2770, "s": 2684, "2": 2563, "a": 2494, "d": 2440, "m": 2325, "_": 2017, ":": 1784, "c": 1732,
    "p": 1663, "/": 1627, "O": 1391, ",": 1275, "3": 1221, "7": 1197, "^": 1130, "4": 1126, "u": 1117, "8": 1074,
    "6": 975, "9": 958, "L": 919, "W": 869, "k": 856, "g": 854, "T": 820, "v": 815, "F": 796, "y": 777, "h": 764,
    "[": 671, "]": 671, "N": 639, "I": 634, "E": 589, '"': 587, "w": 533, "f": 520, "M": 490, "b": 464, "D": 444,
    "5": 442, "G": 425, "(": 261, ")": 246, "z": 201, "S": 196, "R": 188, "C": 173, "x": 155, "A": 134, "=": 99,
    "'": 95, ">": 93, "P": 91, "<": 84, "B": 58, "|": 54, "H": 43, "q": 41, "#": 30, "K": 30, "U": 26, "j": 26,
    "X": 24, "+": 22, "*": 15, "\\": 13, "J": 6, "V": 4, "Y": 4, "$": 2, "@": 2, "~": 2,
}


def _starts(anchor: str, keep: int) -> range:
    """Where a key of this anchor may start: at least ``keep`` characters from its end, and before its last space —
    a key that spans a word boundary, because a lone last word is often a common one ("... successfully" would
    select TF Serving's every "Successfully reserved resources")."""
    if len(anchor) <= keep:
        return range(1)
    last = anchor.rfind(" ", 0, len(anchor) - 1)
    return range(max(1, min(len(anchor) - keep + 1, last if last > 0 else len(anchor))))


def _prefilter_keys(anchors: tuple[str, ...], keep: int = 4) -> tuple[str, ...]:
    starts = {a: _starts(a, keep) for a in anchors}
    chosen: set[str] = set()
    uncovered = set(anchors)
    while uncovered:
        serves: dict[str, int] = {}
        for a in uncovered:
            for c in {a[i] for i in starts[a]}:
                serves[c] = serves.get(c, 0) + 1
        best = min(sorted(serves), key=lambda c: (_CHAR_FREQ.get(c, 0) + 1) / serves[c])
        chosen.add(best)
        uncovered = {a for a in uncovered if best not in {a[i] for i in starts[a]}}
    keys = {a[min((i for i in starts[a] if a[i] in chosen), key=lambda i: (_CHAR_FREQ.get(a[i], 0), i)):]
            for a in anchors}
    return tuple(sorted(keys, key=lambda k: (-len(k), k)))


def _trie_regex(keys: tuple[str, ...]) -> str:
    """One regex for a set of literals, factored as a trie: at a position whose character starts a key, the engine
    tries one branch per distinct next character instead of every key (a flat alternation of 300 literals costs
    300 first-character checks there). A key that is a prefix of another ends the match early, which is all the
    prefilter needs (it only finds lines)."""
    trie: dict[str, dict] = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        if "" in node:
            return ""  # a whole key ends here: enough to select the line
        alts = []
        for ch in sorted(node):
            rest, child = ch, node[ch]
            while len(child) == 1 and "" not in child:  # a chain without branching: one literal
                (nxt,) = child
                rest, child = rest + nxt, child[nxt]
            alts.append(re.escape(rest) + build(child))
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return build(trie)


_KEYS = _prefilter_keys(_ALL_ANCHORS)
_ANY = re.compile(_trie_regex(_KEYS))
# Every anchor at every position (for the few lines the prefilter selects), and the anchors inside each one.
_EVERY = re.compile("(?=(" + "|".join(re.escape(a) for a in _ALL_ANCHORS) + "))")
_INSIDE: dict[str, tuple[str, ...]] = {a: tuple(b for b in _ALL_ANCHORS if b in a) for a in _ALL_ANCHORS}
# anchor → the (signature, rule) pairs it gates, in catalogue order
_GATED: dict[str, list[tuple[Signature, Rule]]] = {}
for _s in SIGNATURES:
    for _r in _s.rules:
        for _a in _r.anchors:
            _GATED.setdefault(_a, []).append((_s, _r))
_ORDER = {id(r): i for i, r in enumerate(r for s in SIGNATURES for r in s.rules)}
