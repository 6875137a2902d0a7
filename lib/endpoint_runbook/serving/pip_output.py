"""Which lines of a requirements.txt pip could not install, read from pip's own output.

pip names the distribution it failed on in a handful of ways (no release matches, a build that fails, a
metadata step that fails after ``Collecting <req>``, a resolution conflict the user's own requirements cause).
A failing distribution that is not a line of the file is traced back, through pip's ``Collecting x (from y)``
lines, to the line that pulled it in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["NETWORK_ERROR", "canonical", "failing_requirements", "index_unreached"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_DIRECT = [
    re.compile(rf"No matching distribution found for ({_NAME})"),
    re.compile(rf"Could not find a version that satisfies the requirement ({_NAME})"),
    re.compile(rf"Failed building wheel for ({_NAME})"),
    re.compile(rf"The user requested ({_NAME})"),
]
_LISTS = [
    re.compile(r"Failed to build (?!installable)([A-Za-z0-9._ -]+?)\s*$", re.M),
    re.compile(r"Failed to build installable wheels for some pyproject\.toml based projects \(([^)]*)\)"),
    re.compile(r"Could not build wheels for ([A-Za-z0-9._, -]+?)(?:,? which|\s*$)", re.M),
    re.compile(r"Cannot install ([A-Za-z0-9._=<>!~, -]+?) because these package versions have conflicting"),
]
#: A build step that failed: the distribution is the last one pip was collecting.
_BUILD_STEP = re.compile(r"Getting requirements to build wheel did not run successfully|metadata-generation-failed|"
                         r"setup\.py egg_info did not run successfully|Preparing metadata \([^)]*\) did not run "
                         r"successfully|subprocess-exited-with-error")
_COLLECTING = re.compile(rf"^\s*Collecting ({_NAME})(?:[^\n(]*\(from ({_NAME}))?", re.M)


def canonical(name: str) -> str:
    """PEP 503's normal form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(text: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r",\s*|\s+and\s+|\s+", text.strip()):
        m = re.match(_NAME, part)
        if m:
            out.append(re.split(r"[=<>!~\[;]", m.group(0))[0])
    return out


def failing_requirements(output: str, requirements: Iterable[str]) -> list[str]:
    """The (canonical) names of the ``requirements`` lines pip's ``output`` says it could not install, in the
    order pip named them. ``requirements``: the distribution names the file lists."""
    direct = {canonical(r) for r in requirements}
    named: list[str] = []
    for rx in _DIRECT:
        named += [re.split(r"[=<>!~\[;]", m.group(1))[0] for m in rx.finditer(output)]
    for rx in _LISTS:
        for m in rx.finditer(output):
            named += _names(m.group(1))
    if _BUILD_STEP.search(output):
        before = output[:_BUILD_STEP.search(output).start()]  # type: ignore[union-attr]
        collected = _COLLECTING.findall(before)
        if collected:
            named.append(collected[-1][0])
    parent = {canonical(m.group(1)): canonical(m.group(2)) for m in _COLLECTING.finditer(output) if m.group(2)}
    out: list[str] = []
    for name in named:
        n, hops = canonical(name), 0
        while n not in direct and n in parent and hops < 20:
            n, hops = parent[n], hops + 1
        if n in direct and n not in out:
            out.append(n)
    return out


#: pip (or a download) could not reach the network: the environment's, not the model's.
NETWORK_ERROR = re.compile(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
                           r"Name or service not known|ProxyError|Max retries exceeded|Could not fetch URL|"
                           r"ConnectTimeout|ReadTimeoutError")


def index_unreached(lines: list[str]) -> tuple[list[str], list[str]]:
    """The lines of pip's output that say it reached no package index: its connection errors, and an index that
    answered no release at all ("from versions: none")."""
    return ([x for x in lines if NETWORK_ERROR.search(x)], [x for x in lines if "(from versions: none)" in x])
