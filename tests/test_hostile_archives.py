"""Hostile archives (issue 8, item 1), generated here: each one through inventory, safe_extract, rebuild
and check_archive gives a named finding or a named error, writes nothing outside the work dir, and stops
within the limits (time bounded by pytest-timeout, memory by the limits in code)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from endpoint_runbook import archive as A
from endpoint_runbook.cli import check_archive_main
from endpoint_runbook.errors import InputError
from reliability import record_case
from test_archive import INCIDENT_FILES, _rb, make_targz, stygig_tree, zero_bomb

pytestmark = pytest.mark.timeout(120)


def _ti(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti


def _with(tmp: Path, extra: list[tarfile.TarInfo], files: dict[str, bytes] | None = None, **kw) -> Path:
    return make_targz(tmp / f"hostile-{uuid.uuid4().hex[:8]}.tar.gz", {**INCIDENT_FILES, **(files or {})}, dirs=("code",), extra=extra,
                      **kw)


def _many_members(tmp: Path, n: int = 100_000) -> Path:
    """n empty files, written as raw headers (fast), gzip level 1."""
    p = tmp / "many.tar.gz"
    with open(p, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(_ti("code/inference.py").tobuf())
        for i in range(n):
            gz.write(_ti(f"d/{i:06d}").tobuf())
        gz.write(bytes(1024))
    return p


def _raw_tar(tmp: Path) -> Path:
    p = tmp / "plain.tar"
    with tarfile.open(p, "w") as tf:
        ti = _ti("code/inference.py")
        tf.addfile(ti, io.BytesIO(b""))
    return p


def _truncated(tmp: Path) -> Path:
    good = make_targz(tmp / "good.tar.gz", INCIDENT_FILES)
    p = tmp / "truncated.tar.gz"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return p


def _outside_name() -> str:
    return f"hostile-{uuid.uuid4().hex}.txt"


# name → (builder, code expected from inventory/check, refused by safe_extract and rebuild?)
def _cases(tmp: Path, outside: str) -> dict[str, tuple[Callable[[], Path], str, bool]]:
    return {
        "traversal": (lambda: _with(tmp, [], {f"../{outside}": b"x", f"code/../../{outside}": b"x"}), "unsafe-path", True),
        "absolute": (lambda: _with(tmp, [], {f"/tmp/{outside}": b"x"}), "unsafe-path", True),
        "symlink-outside": (lambda: _with(tmp, [_ti("code/escape", tarfile.SYMTYPE, "../.."),
                                        _ti(f"code/escape/{outside}")]), "link-outside", True),
        "symlink-absolute": (lambda: _with(tmp, [_ti("code/pw", tarfile.SYMTYPE, "/etc/passwd")]), "link-outside", True),
        "hardlink-outside": (lambda: _with(tmp, [_ti("code/hl", tarfile.LNKTYPE, f"../{outside}")]), "link-outside", True),
        "device": (lambda: _with(tmp, [_ti("code/null", tarfile.CHRTYPE)]), "special-member", True),
        "fifo": (lambda: _with(tmp, [_ti("code/pipe", tarfile.FIFOTYPE)]), "special-member", True),
        "truncated": (lambda: _truncated(tmp), "truncated", True),
        "not-gzip-tar": (lambda: _raw_tar(tmp), "not-gzip", True),
        "not-gzip-zip": (lambda: _write(tmp / "z.tar.gz", b"PK\x03\x04" + os.urandom(2000)), "not-gzip", True),
        "gzip-not-tar": (lambda: _write(tmp / "t.tar.gz", gzip.compress(b"hello world\n" * 1000)), "not-tar", True),
        "corrupt-gzip": (lambda: _write(tmp / "c.tar.gz", _flip(make_targz(tmp / "g2.tar.gz", INCIDENT_FILES))),
                         "corrupt-gzip", True),
        "gzip-bomb": (lambda: zero_bomb(tmp / "bomb.tar.gz", 4), "gzip-bomb", True),
        "many-members": (lambda: _many_members(tmp), "too-many-members", True),
        "non-utf8": (lambda: _with(tmp, [], {b"code/caf\xe9.py".decode("utf-8", "surrogateescape"): b"x"},
                           fmt=tarfile.GNU_FORMAT), "non-utf8-name", False),
        "duplicates": (lambda: _with(tmp, [_ti("code/inference.py")]), "duplicate-member", False),
        "nested-top": (lambda: make_targz(tmp / "n.tar.gz", {f"model/{k}": v for k, v in INCIDENT_FILES.items()}),
                       "nested-top-folder", False),
        "missing-code": (lambda: make_targz(tmp / "mc.tar.gz", {"embeddings.npz": b"x", "inference.py": b""}),
                         "missing-code-dir", False),
    }


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _flip(p: Path) -> bytes:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


CASES = ["traversal", "absolute", "symlink-outside", "symlink-absolute", "hardlink-outside", "device", "fifo",
         "truncated", "not-gzip-tar", "not-gzip-zip", "gzip-not-tar", "corrupt-gzip", "gzip-bomb",
         "many-members", "non-utf8", "duplicates", "nested-top", "missing-code"]


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_hostile_archive(tmp_path, case):
    # layout: tmp_path/ {inputs/, work/}; the parent of work/ must not change, nor /tmp.
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    outside = _outside_name()
    build, code, refused = _cases(inputs, outside)[case]
    path = build()
    work = tmp_path / "work"
    work.mkdir()
    before = _snapshot(tmp_path) - {s for s in _snapshot(tmp_path) if s.startswith("work")}

    # inventory: never raises for bad content; a named finding
    inv = A.inventory(_rb(path))
    found = {f.code for f in inv.findings} | ({f.code for f in A.lint(inv)} if inv.complete else set())
    assert code in found
    assert len(inv.members) <= A.Limits().max_members

    # check_archive: same finding, exit code 1 when it is an error
    findings = A.check_archive(path)
    assert code in {f.code for f in findings}
    assert (check_archive_main([str(path)]) == 1) == any(f.severity == "error" for f in findings)
    if A.FINDING_CODES[code] == "error":
        assert check_archive_main([str(path)]) == 1

    # safe_extract: refused with the finding's code, or extracted inside work/
    dest = work / "extract"
    # many-members: extraction creates files until the limit trips; a lower limit keeps this test quick
    lim = A.Limits(max_members=5_000) if case == "many-members" else None
    if refused:
        with pytest.raises(InputError) as e:
            A.safe_extract(_rb(path), dest, lim)
        assert e.value.code == code
    else:
        A.safe_extract(_rb(path), dest)
    for p in dest.rglob("*"):
        assert os.path.realpath(p).startswith(str(work)) or p.is_symlink() and os.path.realpath(p).startswith(
            str(dest))

    # rebuild (both methods): refused with the code, or the members survive unchanged
    tree = stygig_tree(work / "repo")
    for method in ("splice", "reencode"):
        out = work / f"out-{method}.tar.gz"
        if refused:
            with pytest.raises(InputError) as e:
                A.rebuild(_rb(path), out, [(tree / "src/stygig", "code/stygig")], method=method)
            assert e.value.code == code
            assert not out.exists()
        else:
            r = A.rebuild(_rb(path), out, [(tree / "src/stygig", "code/stygig")], method=method)
            assert r.counts["added"] >= 1
            inv2 = A.inventory(_rb(out))
            assert inv2.complete and len(inv2.members) == len(inv.members) + r.counts["added"]

    # nothing written outside work/
    after = _snapshot(tmp_path) - {s for s in _snapshot(tmp_path) if s.startswith("work")}
    assert after == before
    assert not (Path("/tmp") / outside).exists() and not (tmp_path / outside).exists()
    record_case("hostile-archive", completed=not refused, stopped_cleanly=refused, name=case)


def test_limits_are_parameters(tmp_path):
    p = _many_members(tmp_path, 2_000)
    assert "too-many-members" in {f.code for f in A.inventory(_rb(p), limits=A.Limits(max_members=100)).findings}
    inv = A.inventory(_rb(p), limits=A.Limits(max_members=10_000))
    assert inv.complete and len(inv.members) == 2_001
    big = make_targz(tmp_path / "b.tar.gz", {"code/inference.py": os.urandom(200_000)})
    inv = A.inventory(_rb(big), limits=A.Limits(max_total_bytes=100_000))
    assert {f.code for f in inv.findings} == {"too-large"} and not inv.complete
    with pytest.raises(InputError) as e:
        A.rebuild(_rb(big), tmp_path / "o.tar.gz", [], limits=A.Limits(max_total_bytes=100_000))
    assert e.value.code == "too-large"


def test_huge_pax_header_is_bounded(tmp_path):
    ti = tarfile.TarInfo("code/inference.py")
    ti.pax_headers = {"comment": "x" * (2 << 20)}
    p = tmp_path / "pax.tar.gz"
    with tarfile.open(p, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(ti, io.BytesIO(b""))
    inv = A.inventory(_rb(p))
    assert {f.code for f in inv.findings} == {"bad-header"}


def test_bomb_generator_is_a_valid_gzip(tmp_path):
    """The bomb fixture itself is honest: a valid gzip whose first MiB inflates to zeros."""
    p = zero_bomb(tmp_path / "b.tar.gz", 1)
    d = zlib.decompressobj(31)
    out = d.decompress(p.read_bytes()[:100_000], 2 << 20)
    assert out[512:(1 << 20)] == bytes((1 << 20) - 512) and p.stat().st_size < 2 << 20


def test_the_sdk_repacks_root_member_is_the_root_not_an_unsafe_path(tmp_path):
    """The SageMaker SDK's repack writes a directory member named "/" (tar.add(model_dir, arcname=os.sep)): every
    PyTorchModel(source_dir=...) archive has it, and tar extracts it as the destination itself. An absolute FILE
    path stays refused."""
    import io
    import tarfile

    from endpoint_runbook.archive import inventory, safe_extract

    def archive(extra: tarfile.TarInfo) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
            info = tarfile.TarInfo("code/inference.py")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"pass"))
        return buf.getvalue()

    root = tarfile.TarInfo("/")
    root.type = tarfile.DIRTYPE
    inv = inventory(io.BytesIO(archive(root)))
    assert "unsafe-path" not in [f.code for f in inv.findings]
    safe_extract(io.BytesIO(archive(root)), tmp_path / "ok")
    assert (tmp_path / "ok" / "code" / "inference.py").read_text() == "pass"
    evil = tarfile.TarInfo("/etc/evil")
    evil.size = 1
    assert "unsafe-path" in [f.code for f in inventory(io.BytesIO(archive(evil))).findings]
    with pytest.raises(Exception, match="unsafe-path|resolves outside|absolute"):
        safe_extract(io.BytesIO(archive(evil)), tmp_path / "bad")
