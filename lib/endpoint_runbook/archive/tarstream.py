"""Streaming tar and gzip primitives for :mod:`endpoint_runbook.archive`: no seeking, bounded memory.

- :class:`TarScanner` is a push parser: feed it the uncompressed tar stream in chunks of any size and it
  calls back for each member (with the member's raw header bytes), for member content, and at the
  end-of-archive marker. It understands ustar, GNU long names/links and pax headers (their size bounded).
- :class:`GzipReader` turns a binary file-like (a file, an S3 StreamingBody) into uncompressed chunks,
  hashing the compressed bytes, with multi-member gzip, truncation and gzip-bomb detection. It uses
  ``isal`` when installed (about 1.4x faster inflate) and ``zlib`` otherwise.
- :func:`iter_entries` yields deterministic members (fixed mtime, owner 0) in the caller's order.

Errors are :class:`StreamError` with a stable ``code`` (the finding code the caller reports).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

try:  # optional accelerator
    from isal import isal_zlib as _fastzlib  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised where isal is absent
    _fastzlib = None

__all__ = [
    "ADDED_MTIME",
    "BLOCK",
    "RECORD",
    "Entry",
    "GzipReader",
    "Member",
    "StreamError",
    "TarScanner",
    "compressor",
    "end_of_archive",
    "has_isal",
    "header",
    "iter_entries",
]

BLOCK = 512
RECORD = 20 * BLOCK
ZERO_BLOCK = bytes(BLOCK)
#: mtime given to every member we add or package: 1980-01-01T00:00:00Z (as reproducible builds use).
ADDED_MTIME = 315532800
READ_CHUNK = 1 << 20

_TYPES = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.GNUTYPE_SPARSE: "file",
    tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "device", tarfile.BLKTYPE: "device", tarfile.FIFOTYPE: "fifo",
}
_DATA_TYPES = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE}
_EXT_TYPES = {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
              tarfile.SOLARIS_XHDTYPE}


def has_isal() -> bool:
    return _fastzlib is not None


class StreamError(Exception):
    """The stream is not what it should be (or hit a limit). ``code`` is the finding code."""

    def __init__(self, code: str, message: str, *, offset: int | None = None):
        super().__init__(message)
        self.code = code
        self.offset = offset


@dataclass
class Member:
    """One tar member as read from the stream (names decoded UTF-8 with surrogateescape)."""

    name: str
    type: str  # file | dir | symlink | hardlink | device | fifo | other
    size: int
    mode: int
    mtime: int
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    offset: int = 0  # uncompressed offset of its first header block (extension headers included)
    data_offset: int = 0  # uncompressed offset of its content
    sha256: str | None = None  # only when asked for (inventory(..., digests=True))

    @property
    def path(self) -> str:
        """The name as extraction sees it: no leading ``./``, no trailing ``/``."""
        p = self.name
        while p.startswith("./"):
            p = p[2:]
        return p.rstrip("/") if p not in ("/", "") else p

    @property
    def utf8(self) -> bool:
        return not any("\udc80" <= c <= "\udcff" for c in self.name + self.linkname)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["name"] = self.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        d["linkname"] = self.linkname.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return d


def _parse_pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    n = len(data)
    while pos < n:
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError as e:
            raise StreamError("bad-header", "malformed pax extended header", offset=pos) from e
        if length <= 0 or pos + length > n:
            raise StreamError("bad-header", "malformed pax extended header", offset=pos)
        rec = data[sp + 1: pos + length - 1]
        key, _, value = rec.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


class TarScanner:
    """Push parser over an uncompressed tar stream.

    on_member(member, raw_header) — raw_header: the member's header block(s), extension headers included.
    on_data(member, memoryview)  — member content (only if given; the view is valid during the call only).
    on_pad(memoryview)           — padding after member content (only if given).
    After the end-of-archive marker (first all-zero header block) ``end_offset`` is set and nothing more
    is reported.
    """

    def __init__(self, on_member: Callable[[Member, bytes], None],
                 on_data: Callable[[Member, memoryview], None] | None = None,
                 on_pad: Callable[[memoryview], None] | None = None, *, max_ext_bytes: int = 1 << 20):
        self.on_member = on_member
        self.on_data = on_data
        self.on_pad = on_pad
        self.max_ext_bytes = max_ext_bytes
        self.pos = 0
        self.end_offset: int | None = None
        self.members = 0
        self._state = 0  # 0 header, 1 content, 2 padding, 3 extension content, 4 after end marker
        self._left = 0
        self._pad = 0
        self._hbuf = bytearray()
        self._hstart = 0
        self._ext_raw = bytearray()
        self._ext_data = bytearray()
        self._ext_type = b""
        self._ext_start: int | None = None
        self._pending: dict[str, str] = {}
        self._global: dict[str, str] = {}
        self._member: Member | None = None

    # -- state queries used by the splice rebuild -------------------------------------------------------
    def known_min_end(self) -> int:
        """A lower bound of the end-marker offset from what has been parsed (exact once it is found)."""
        if self.end_offset is not None:
            return self.end_offset
        if self._state == 0:
            return self._ext_start if self._ext_start is not None else self._hstart
        if self._state == 3:
            return self._ext_start if self._ext_start is not None else self._hstart
        return self.pos + self._left + (self._pad if self._state == 1 else 0)

    @property
    def at_member_boundary(self) -> bool:
        """True between members (clean end of stream is allowed here)."""
        return self._state == 0 and not self._hbuf and self._ext_start is None

    @property
    def done(self) -> bool:
        return self._state == 4

    # -- feeding -----------------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        mv = data if isinstance(data, memoryview) else memoryview(data)
        n = len(mv)
        i = 0
        while i < n:
            st = self._state
            if st == 1:
                take = min(self._left, n - i)
                if self.on_data is not None:
                    self.on_data(self._member, mv[i:i + take])  # type: ignore[arg-type]
                self._left -= take
                i += take
                if not self._left:
                    self._state = 2 if self._pad else 0
                    self._hstart = self.pos + i + self._pad
            elif st == 2:
                take = min(self._pad, n - i)
                if self.on_pad is not None:
                    self.on_pad(mv[i:i + take])
                self._pad -= take
                i += take
                if not self._pad:
                    self._state = 0
                    self._hstart = self.pos + i
            elif st == 0:
                need = BLOCK - len(self._hbuf)
                if not self._hbuf and n - i >= BLOCK:
                    buf = bytes(mv[i:i + BLOCK])
                else:
                    take = min(need, n - i)
                    self._hbuf += mv[i:i + take]
                    i += take
                    if len(self._hbuf) < BLOCK:
                        continue
                    buf = bytes(self._hbuf)
                    self._hbuf.clear()
                    i -= BLOCK  # uniform accounting below
                start = self.pos + i
                i += BLOCK
                self._hstart = start
                self._header(buf, start, self.pos + i)
                if self._state == 0:
                    self._hstart = self.pos + i
            elif st == 3:
                take = min(self._left, n - i)
                self._ext_raw += mv[i:i + take]
                i += take
                self._left -= take
                if not self._left:
                    self._finish_ext()
                    self._state = 0
                    self._hstart = self.pos + i
            else:  # after the end marker: count only
                i = n
        self.pos += n

    def _header(self, buf: bytes, start: int, after: int) -> None:
        if buf == ZERO_BLOCK:
            if self._ext_start is not None:
                raise StreamError("bad-header", "extension header followed by the end-of-archive marker",
                                  offset=start)
            self.end_offset = start
            self._state = 4
            return
        try:
            ti = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
        except tarfile.HeaderError as e:
            code = "not-tar" if start == 0 else "bad-header"
            raise StreamError(code, f"invalid tar header at offset {start}: {e}", offset=start) from e
        if ti.type in _EXT_TYPES:
            if ti.size > self.max_ext_bytes or len(self._ext_raw) + ti.size > 4 * self.max_ext_bytes:
                raise StreamError("bad-header", f"extension header of {ti.size} bytes at offset {start} is "
                                  f"larger than the limit ({self.max_ext_bytes})", offset=start)
            if self._ext_start is None:
                self._ext_start = start
            self._ext_raw += buf
            self._ext_type = ti.type
            self._ext_mark = len(self._ext_raw)
            self._left = -(-ti.size // BLOCK) * BLOCK
            self._ext_size = ti.size
            if self._left:
                self._state = 3
            else:
                self._finish_ext()
            return
        values = dict(self._global)
        values.update(self._pending)
        name = values.get("path", ti.name)
        linkname = values.get("linkpath", ti.linkname)
        size = int(values["size"]) if "size" in values else ti.size
        try:
            mtime = int(float(values["mtime"])) if "mtime" in values else int(ti.mtime)
        except ValueError:
            mtime = int(ti.mtime)
        kind = _TYPES.get(ti.type, "other")
        offset = self._ext_start if self._ext_start is not None else start
        m = Member(name=name, type=kind, size=size if kind == "file" or ti.type not in _TYPES else 0,
                   mode=ti.mode, mtime=mtime, linkname=linkname,
                   uid=int(values.get("uid", ti.uid) or 0), gid=int(values.get("gid", ti.gid) or 0),
                   uname=values.get("uname", ti.uname), gname=values.get("gname", ti.gname),
                   offset=offset, data_offset=after)
        raw = bytes(self._ext_raw) + buf if self._ext_raw else buf
        self._ext_raw.clear()
        self._pending = {}
        self._ext_start = None
        self._member = m
        self.members += 1
        self.on_member(m, raw)
        has_data = ti.type in _DATA_TYPES or ti.type not in _TYPES
        if has_data and size:
            self._left = size
            self._pad = -size % BLOCK
            self._state = 1
        else:
            self._state = 0

    def _finish_ext(self) -> None:
        data = bytes(self._ext_raw[self._ext_mark:self._ext_mark + self._ext_size])
        t = self._ext_type
        if t == tarfile.GNUTYPE_LONGNAME:
            self._pending["path"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif t == tarfile.GNUTYPE_LONGLINK:
            self._pending["linkpath"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif t == tarfile.XGLTYPE:
            self._global.update(_parse_pax(data))
        else:
            self._pending.update(_parse_pax(data))


class GzipReader:
    """Iterate the uncompressed bytes of a gzip stream read from ``stream`` (never seeks).

    Attributes after (or during) iteration: ``compressed_bytes``, ``uncompressed_bytes``, ``gzip_members``,
    ``complete`` (the last member ended with a valid trailer), ``trailing_garbage`` (bytes after the
    last member that are neither a gzip member nor zero padding), ``sha256()`` of the compressed bytes.
    Raises :class:`StreamError` codes ``not-gzip``, ``corrupt-gzip``, ``truncated``, ``gzip-bomb``,
    ``too-large``. ``drain()`` reads (and hashes) the rest without inflating it.
    """

    def __init__(self, stream: BinaryIO, *, max_ratio: float = 200.0, ratio_min_bytes: int = 64 << 20,
                 max_bytes: int = 50 << 30, chunk: int = READ_CHUNK, out_chunk: int = 1 << 20,
                 use_isal: bool = True):
        self.stream = stream
        self.max_ratio = max_ratio
        self.ratio_min_bytes = ratio_min_bytes
        self.max_bytes = max_bytes
        self.chunk = chunk
        self.out_chunk = out_chunk
        self._z = _fastzlib if (use_isal and _fastzlib is not None) else zlib
        self._hash = hashlib.sha256()
        self.compressed_bytes = 0
        self.uncompressed_bytes = 0
        self.gzip_members = 0
        self.complete = False
        self.trailing_garbage = 0
        self._eof = False

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _read(self) -> bytes:
        data = self.stream.read(self.chunk)
        if data:
            self._hash.update(data)
            self.compressed_bytes += len(data)
        else:
            self._eof = True
        return data

    def drain(self) -> None:
        while not self._eof:
            self._read()

    def _check(self, n_out: int, consumed: int) -> None:
        self.uncompressed_bytes += n_out
        u = self.uncompressed_bytes
        if u > self.max_bytes:
            raise StreamError("too-large", f"the archive expands to more than {self.max_bytes} bytes")
        if u > self.ratio_min_bytes and u > self.max_ratio * max(consumed, 1):
            raise StreamError("gzip-bomb", f"{u} bytes expanded from {consumed} compressed bytes "
                              f"(ratio above {self.max_ratio:g})")

    def __iter__(self) -> Iterator[bytes]:
        data = self._read()
        if data[:2] != b"\x1f\x8b":
            raise StreamError("not-gzip", "the stream does not start with the gzip magic bytes (1f 8b)")
        z = self._z
        base = 0  # compressed bytes before `data`
        while True:  # one gzip member per iteration
            self.gzip_members += 1
            d = z.decompressobj(31)
            while True:
                try:
                    out = d.decompress(data, self.out_chunk)
                    while True:
                        if out:
                            self._check(len(out), base + len(data) - len(d.unconsumed_tail))
                            yield out
                        if d.eof or not d.unconsumed_tail:
                            break
                        out = d.decompress(d.unconsumed_tail, self.out_chunk)
                except (zlib.error, getattr(z, "error", zlib.error)) as e:
                    raise StreamError("corrupt-gzip", f"the gzip data is corrupt: {e}") from e
                if d.eof:
                    break
                base += len(data)
                data = self._read()
                if not data:
                    raise StreamError("truncated", "the gzip stream ends before its end (truncated download "
                                      "or upload?)")
            rest = d.unused_data
            base = self.compressed_bytes - len(rest)
            while len(rest) < 2 and not self._eof:
                more = self._read()
                rest += more
            if rest[:2] == b"\x1f\x8b":
                data = rest
                continue
            self.complete = True
            # Trailing bytes: zero padding is normal (tape blocking); anything else is noted.
            while True:
                self.trailing_garbage += len(rest) - rest.count(0)
                if self._eof:
                    return
                rest = self._read()


def header(name: str, kind: str, size: int = 0, mode: int = 0o644, mtime: int = ADDED_MTIME) -> bytes:
    """A deterministic header block (pax format when needed): owner 0, no user/group names."""
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE if kind == "dir" else tarfile.REGTYPE
    ti.size = size
    ti.mode = mode
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@dataclass
class Entry:
    """A member to add: a directory, or a file from ``source`` (a path) or ``data`` (bytes)."""

    path: str
    kind: str  # "dir" | "file"
    source: str | None = None
    data: bytes | None = None
    size: int = 0
    sha256: str | None = None  # filled in while writing


def iter_entries(entries: list[Entry], offset: int, *, mtime: int = ADDED_MTIME,
                 end: bool = True) -> Iterator[bytes]:
    """Yield the tar bytes of ``entries`` (in the given order) starting at tar ``offset``, then (if ``end``)
    the end-of-archive marker. File content is streamed in 1 MiB pieces and hashed into ``entry.sha256``."""
    for e in entries:
        if e.kind == "dir":
            b = header(e.path, "dir", 0, 0o755, mtime)
            offset += len(b)
            yield b
            continue
        h = hashlib.sha256()
        if e.data is not None:
            e.size = len(e.data)
            b = header(e.path, "file", e.size, 0o644, mtime)
            yield b
            yield e.data
            h.update(e.data)
            offset += len(b) + e.size
        else:
            assert e.source is not None
            with open(e.source, "rb") as f:
                e.size = os.fstat(f.fileno()).st_size
                b = header(e.path, "file", e.size, 0o644, mtime)
                yield b
                offset += len(b)
                left = e.size
                while left:
                    piece = f.read(min(left, READ_CHUNK))
                    if not piece:
                        raise OSError(f"{e.source} shrank while it was being archived")
                    h.update(piece)
                    left -= len(piece)
                    offset += len(piece)
                    yield piece
        e.sha256 = h.hexdigest()
        if e.size % BLOCK:
            pad = bytes(BLOCK - e.size % BLOCK)
            offset += len(pad)
            yield pad
    if end:
        yield end_of_archive(offset)


def end_of_archive(offset: int) -> bytes:
    """The two zero blocks plus padding to a multiple of the 10 KiB record, for a tar of ``offset`` bytes."""
    total = offset + 2 * BLOCK
    return bytes(2 * BLOCK + (-total % RECORD))


def compressor(level: int = 6, *, gzip: bool = True, fast: bool = False) -> Any:
    """A compressobj writing a gzip member (header mtime 0, no name: deterministic) or raw deflate.

    ``fast=True`` uses isal (level 0..3) when present, else zlib level 1.
    """
    wbits = 31 if gzip else -15
    if fast:
        if _fastzlib is not None:
            return _fastzlib.compressobj(min(level, 3), zlib.DEFLATED, wbits)
        return zlib.compressobj(1, zlib.DEFLATED, wbits)
    return zlib.compressobj(level, zlib.DEFLATED, wbits)
