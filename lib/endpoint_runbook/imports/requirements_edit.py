"""Requirement lines the fix may drop: a line that cannot install in the image, for a distribution no code in
the archive imports, goes; the edit is shown as a unified diff of ``code/requirements.txt`` and applied by the
rebuild (step 2), which checks the archive still holds the text it was computed from (``source_sha256``)."""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .records import requirement_modules

__all__ = ["RequirementsEdit", "drop_requirements", "imported_modules", "install_offline", "unimported"]

REQUIREMENTS = "code/requirements.txt"


@dataclass(frozen=True)
class RequirementsEdit:
    """``drop``: the distributions dropped (canonical names); ``lines``: the lines removed, as written;
    ``text``: the new file; ``diff``: unified diff old → new; ``source_sha256``: of the file it edits."""

    drop: list[str]
    lines: list[str]
    text: str
    diff: str
    source_sha256: str
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def imported_modules(files: Mapping[str, bytes | None]) -> set[str]:
    """Every top-level module any Python file in ``files`` imports (statements, ``importlib.import_module`` and
    ``__import__`` with a literal name), wherever it sits: code nothing runs counts too."""
    out: set[str] = set()
    for path, data in files.items():
        if not path.endswith(".py") or not data:
            continue
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name in ("import_module", "__import__"):
                    out.add(node.args[0].value.lstrip(".").split(".")[0])
    return out


def unimported(dists: Iterable[str], requirements: str, files: Mapping[str, bytes | None]) -> list[str]:
    """Those of ``dists`` (lines of ``requirements``) whose import names no Python file in ``files`` imports."""
    mods = requirement_modules(requirements.splitlines())
    used = imported_modules(files)
    return [d for d in dists if d in mods and not set(mods[d]) & used]


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _edit(raw: bytes, text: str, new: str, drop: list[str], removed: list[str], why: str) -> RequirementsEdit:
    diff = "".join(difflib.unified_diff([x.rstrip("\r\n") + "\n" for x in text.splitlines(keepends=True)],
                                        [x.rstrip("\r\n") + "\n" for x in new.splitlines(keepends=True)],
                                        fromfile=f"a/{REQUIREMENTS}", tofile=f"b/{REQUIREMENTS}"))
    return RequirementsEdit(drop, removed, new, diff, hashlib.sha256(raw).hexdigest(), why)


def install_offline(raw: bytes, folder: str | None, *, why: str = "") -> RequirementsEdit:
    """``raw`` with pip told to install from the wheels in ``code/<folder>`` and never to reach an index
    (``--no-index``, ``--find-links <folder>`` first: pip reads a relative folder beside the file); its own index options go (they name hosts it cannot reach),
    every requirement line is kept as it is. ``folder`` None: the image has every distribution, no wheels are
    needed."""
    text = raw.decode("utf-8", errors="replace")
    index_opts = ("--index-url", "-i ", "--extra-index-url", "--trusted-host", "--no-index", "--find-links", "-f ")
    kept, removed = [], []
    for line in text.splitlines(keepends=True):
        (removed if line.strip().startswith(index_opts) else kept).append(line)
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    new = "--no-index\n" + (f"--find-links {folder}\n" if folder else "") + "".join(kept)
    return _edit(raw, text, new, [], [x.rstrip("\r\n") for x in removed], why)


def drop_requirements(raw: bytes, dists: Iterable[str], *, why: str = "") -> RequirementsEdit:
    """``raw`` (code/requirements.txt as the archive holds it) without the lines naming ``dists``; line ends
    and every other line kept as they are."""
    drop = {_canonical(d) for d in dists}
    text = raw.decode("utf-8", errors="replace")
    kept, removed = [], []
    for line in text.splitlines(keepends=True):
        m = _NAME.match(line)
        body = line.strip()
        if m and not body.startswith(("#", "-")) and _canonical(m.group(1)) in drop:
            removed.append(line.rstrip("\r\n"))
        else:
            kept.append(line)
    dropped = sorted(drop & {_canonical(_NAME.match(x).group(1)) for x in removed})  # type: ignore[union-attr]
    return _edit(raw, text, "".join(kept), dropped, removed, why)
