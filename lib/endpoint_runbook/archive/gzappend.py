"""Append to a gzip'd tar without recompressing it: zlib's gzappend technique, streaming, in Python.

Python's ``zlib`` module does not expose deflate block boundaries, but the system zlib does: ``inflate()``
with ``Z_BLOCK`` stops at every block boundary and reports how many bits of the last input byte belong to
the next block. We call it through ``ctypes`` (stdlib), so the whole source is inflated at C speed, once.

While inflating, a :class:`~endpoint_runbook.tarstream.TarScanner` watches the tar stream. Compressed
bytes are written through to the destination as soon as the block they belong to is known to end before
the tar end-of-archive marker. When the marker is found, the cut is the last block boundary at or before
it; the output is then:

    source bytes up to the cut (the partial last byte masked to its low bits)
    + an empty stored block (3 header bits, pad to a byte, 00 00 ff ff) — this re-aligns to a byte
    + raw deflate of: the source's uncompressed bytes from the cut to the end marker, the new members,
      a new end-of-archive marker (final block)
    + a gzip trailer: CRC-32 continued from the CRC at the cut (zlib keeps it in ``strm.adler``),
      ISIZE = bytes at the cut + bytes re-encoded (mod 2**32).

The rest of the source is still inflated (to verify its CRC) and hashed, never written. Multi-member gzip
works too: whole members before the one that holds the end marker are copied verbatim.
Only the final deflate block (typically tens of KiB) is re-encoded, whatever the archive size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import queue
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .tarstream import StreamError, TarScanner

__all__ = ["SpliceStats", "splice", "splice_available"]

Z_OK, Z_STREAM_END, Z_BUF_ERROR, Z_BLOCK = 0, 1, -5, 5
IN_CHUNK = 1 << 20
OUT_CHUNK = 1 << 18
COMMIT_EVERY = 8 << 20
MAX_PENDING = 64 << 20


class _ZStream(ctypes.Structure):
    _fields_ = [
        ("next_in", ctypes.c_void_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p), ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int), ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
    ]


@lru_cache(maxsize=1)
def _lib() -> Any | None:
    name = ctypes.util.find_library("z") or "libz.so.1"
    try:
        lib = ctypes.CDLL(name)
        lib.zlibVersion.restype = ctypes.c_char_p
        version = lib.zlibVersion()
        lib.inflateInit2_.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.inflate.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int]
        lib.inflateEnd.argtypes = [ctypes.POINTER(_ZStream)]
        lib.inflateReset.argtypes = [ctypes.POINTER(_ZStream)]
    except (OSError, AttributeError):
        return None
    parts = tuple(int(x) for x in version.decode().split(".")[:3] if x.isdigit())
    if parts < (1, 2, 5):  # data_type's block-boundary bit needs 1.2.3+; be conservative
        return None
    lib._version = version
    return lib


def splice_available() -> bool:
    """True when the system zlib can be driven with Z_BLOCK (the fast, no-recompress rebuild)."""
    return _lib() is not None


class _Sink:
    """Hash (and write) committed bytes in a second thread: hashlib and file writes release the GIL, so
    this overlaps with inflate (ctypes releases it too). Order is kept; errors surface on the next call."""

    def __init__(self, h: Any, write: Callable[[Any], Any]):
        self.h = h
        self.write = write
        self.q: queue.Queue[tuple[bytes, bool] | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.t = threading.Thread(target=self._loop, name="gzappend-sink", daemon=True)
        self.t.start()

    def _loop(self) -> None:
        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    data, do_write = item
                    self.h.update(data)
                    if do_write:
                        self.write(data)
            except BaseException as e:  # noqa: BLE001 - surfaced in the caller's thread
                self.error = e
            finally:
                self.q.task_done()

    def put(self, data: bytes, do_write: bool) -> None:
        if self.error is not None:
            raise self.error
        if data:
            self.q.put((data, do_write))

    def drain(self) -> None:
        self.q.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.q.put(None)
        self.t.join()


@dataclass
class _Boundary:
    bitpos: int  # absolute bit offset in the source where the next block (or member) starts
    uoff: int  # absolute uncompressed (tar) offset at that point
    crc: int  # CRC-32 of the current gzip member's output so far
    isize: int  # bytes output by the current gzip member so far
    kind: str  # "block" (inside a gzip member) or "member" (after a gzip member's trailer)


@dataclass
class SpliceStats:
    source_bytes: int
    source_sha256: str
    result_bytes: int
    result_sha256: str
    copied_bytes: int  # compressed bytes copied verbatim
    reencoded_source_bytes: int  # uncompressed source bytes that had to be re-encoded (the last block)
    tar_end: int  # offset of the source's end-of-archive marker
    gzip_members: int
    trailing_garbage: int
    tail_start: int = 0  # result offset where the new, self-contained compressed data begins
    tail_wbits: int = -15  # how to inflate it alone: -15 raw deflate (block cut), 31 gzip member (member cut)


def splice(read: Callable[[int], bytes], write: Callable[[Any], Any], scanner: TarScanner,
           tail: Callable[[int], Iterable[bytes]], *, level: int = 6, max_ratio: float = 200.0,
           ratio_min_bytes: int = 64 << 20, max_bytes: int = 50 << 30,
           write_prefix: Callable[[Any], Any] | None = None) -> SpliceStats:
    """Copy the gzip'd tar from ``read`` to ``write``, replacing its end marker by ``tail(end_offset)``.

    ``tail`` yields the uncompressed tar bytes to append (new members and a new end-of-archive marker).
    Raises :class:`StreamError` (``not-gzip``, ``corrupt-gzip``, ``truncated``, ``gzip-bomb``, ``too-large``,
    ``splice-unsupported``); exceptions from the scanner callbacks propagate. On any exception the bytes
    already written are not a valid archive: the caller discards them.

    ``write_prefix`` (default ``write``) receives the bytes copied verbatim from the source, in order and all
    before the first ``write`` call: they are exactly ``source[0:copied_bytes]`` (whole bytes; a partial last
    byte of the cut is rewritten and goes to ``write``), so a caller may copy that range instead of writing it.
    """
    lib = _lib()
    if lib is None:
        raise StreamError("splice-unsupported", "the system zlib cannot be driven with Z_BLOCK")
    strm = _ZStream()
    if lib.inflateInit2_(ctypes.byref(strm), 31, lib._version, ctypes.sizeof(_ZStream)) != Z_OK:
        raise StreamError("splice-unsupported", "inflateInit2 failed")
    try:
        return _run(lib, strm, read, write, write_prefix or write, scanner, tail, level, max_ratio,
                    ratio_min_bytes, max_bytes)
    finally:
        lib.inflateEnd(ctypes.byref(strm))


def _run(lib: Any, strm: _ZStream, read: Callable[[int], bytes], write: Callable[[Any], Any],
         write_prefix: Callable[[Any], Any], scanner: TarScanner, tail: Callable[[int], Iterable[bytes]], level: int, max_ratio: float,
         ratio_min_bytes: int, max_bytes: int) -> SpliceStats:
    h = hashlib.sha256()  # committed bytes, then (after the cut) the rest of the source
    sink = _Sink(h, write_prefix)
    try:
        return _loop(lib, strm, read, write, scanner, tail, level, max_ratio, ratio_min_bytes, max_bytes, h, sink)
    finally:
        sink.close()


def _loop(lib: Any, strm: _ZStream, read: Callable[[int], bytes], write: Callable[[Any], Any],
          scanner: TarScanner, tail: Callable[[int], Iterable[bytes]], level: int, max_ratio: float,
          ratio_min_bytes: int, max_bytes: int, h: Any, sink: _Sink) -> SpliceStats:
    out = (ctypes.c_ubyte * OUT_CHUNK)()
    out_addr = ctypes.addressof(out)
    outmv = memoryview(out).cast("B")
    inbuf = (ctypes.c_ubyte * IN_CHUNK)()
    in_addr = ctypes.addressof(inbuf)
    pstrm = ctypes.byref(strm)
    inflate = lib.inflate
    res: Any = None  # result hash
    tail_at = [0, -15]
    cbuf = bytearray()  # source bytes read but not yet committed
    cbase = 0
    read_abs = 0
    chunk_abs = 0
    chunk_len = 0
    ubuf = bytearray()  # uncompressed bytes since the last safe boundary
    ubase = 0
    tar_out = 0
    member_out = 0
    undecided: list[_Boundary] = []
    safe: _Boundary | None = None
    finished = False
    eof = False
    between = False  # after a member's trailer, before the next member's header is complete
    member_end_abs = 0
    gzip_members = 1
    trailing = 0
    result_bytes = 0
    copied = 0
    reencoded = 0
    tar_end = -1
    first = True
    last_full = False

    def commit(upto: int) -> None:
        nonlocal cbase, copied
        k = upto - cbase
        if k <= 0:
            return
        with memoryview(cbuf) as mv, mv[:k] as part:
            sink.put(bytes(part), True)
        del cbuf[:k]
        cbase = upto
        copied += k

    def finalize(end: int) -> None:
        nonlocal finished, res, result_bytes, cbuf, ubuf, reencoded, tar_end
        cut = safe
        assert cut is not None and cut.uoff <= end
        commit(cut.bitpos // 8)
        sink.drain()
        res = h.copy()
        result_bytes = copied

        def emit(b: bytes) -> None:
            nonlocal result_bytes
            if b:
                write(b)
                res.update(b)
                result_bytes += len(b)

        if cut.kind == "block":
            r = cut.bitpos % 8
            if r:
                lead = bytes([cbuf[0] & ((1 << r) - 1)]) + (b"\0" if r > 5 else b"")
            else:
                lead = b"\0"
            emit(lead + b"\x00\x00\xff\xff")  # empty stored block, non-final: now byte-aligned
            comp = zlib.compressobj(level, zlib.DEFLATED, -15)
            tail_at[:] = [result_bytes, -15]
        else:
            comp = zlib.compressobj(level, zlib.DEFLATED, 31)
            tail_at[:] = [result_bytes, 31]
        crc, isize = cut.crc, cut.isize
        head = bytes(ubuf[cut.uoff - ubase:end - ubase])
        reencoded = len(head)
        tar_end = end
        for piece in _chain(head, tail(end)):
            if piece:
                emit(comp.compress(piece))
                crc = zlib.crc32(piece, crc)
                isize += len(piece)
        emit(comp.flush())
        if cut.kind == "block":
            emit(struct.pack("<II", crc & 0xFFFFFFFF, isize & 0xFFFFFFFF))
        sink.put(bytes(cbuf), False)  # the source hash continues over what was not copied
        cbuf = bytearray()
        ubuf = bytearray()
        undecided.clear()
        finished = True

    while True:
        if strm.avail_in == 0 and not eof:
            data = read(IN_CHUNK)
            if first:
                first = False
                if data[:2] != b"\x1f\x8b":
                    raise StreamError("not-gzip", "the stream does not start with the gzip magic bytes (1f 8b)")
            if not data:
                eof = True
            else:
                if len(data) > IN_CHUNK:  # a read() that ignores its size argument
                    raise StreamError("splice-unsupported", "read() returned more than asked")
                if finished:
                    sink.put(data, False)
                else:
                    cbuf += data
                ctypes.memmove(in_addr, data, len(data))
                chunk_abs = read_abs
                chunk_len = len(data)
                read_abs += chunk_len
                strm.next_in = in_addr
                strm.avail_in = chunk_len
        if eof and strm.avail_in == 0 and not last_full:
            if not between:
                raise StreamError("truncated", "the gzip stream ends before its end (truncated download "
                                  "or upload?)")
            if not finished:
                if scanner.end_offset is None and scanner.at_member_boundary:
                    safe = _last_le(safe, undecided, scanner.pos)
                    finalize(scanner.pos)  # a tar without an end marker: append after the last member
                else:
                    raise StreamError("truncated", "the tar stream ends inside a member")
            break
        strm.next_out = out_addr
        strm.avail_out = OUT_CHUNK
        ret = inflate(pstrm, Z_BLOCK)
        produced = OUT_CHUNK - strm.avail_out
        last_full = strm.avail_out == 0
        consumed_abs = chunk_abs + (chunk_len - strm.avail_in)
        if ret < 0 and ret != Z_BUF_ERROR:
            if between:  # bytes after the last member that are not a gzip member: trailing data
                trailing += read_abs - member_end_abs
                strm.avail_in = 0
                while not eof:
                    data = read(IN_CHUNK)
                    if not data:
                        eof = True
                        break
                    read_abs += len(data)
                    trailing += len(data)
                    if finished:
                        sink.put(data, False)
                    else:
                        cbuf += data
                continue
            msg = strm.msg.decode(errors="replace") if strm.msg else f"zlib error {ret}"
            raise StreamError("corrupt-gzip", f"the gzip data is corrupt: {msg}")
        if produced:
            if between:
                between = False
                gzip_members += 1
            tar_out += produced
            member_out += produced
            if tar_out > max_bytes:
                raise StreamError("too-large", f"the archive expands to more than {max_bytes} bytes")
            if tar_out > ratio_min_bytes and tar_out > max_ratio * max(consumed_abs, 1):
                raise StreamError("gzip-bomb", f"{tar_out} bytes expanded from {consumed_abs} compressed "
                                  f"bytes (ratio above {max_ratio:g})")
            if not finished:
                part = outmv[:produced]
                ubuf += part
                scanner.feed(part)
        if ret == Z_STREAM_END:
            between = True
            member_end_abs = consumed_abs
            if not finished:
                undecided.append(_Boundary(consumed_abs * 8, tar_out, 0, 0, "member"))
            lib.inflateReset(pstrm)
            member_out = 0
        elif not finished:
            dt = strm.data_type
            bits = dt & 63
            if dt & 128 and bits < 8:
                if between and member_out == 0:
                    between = False  # the header of the next gzip member is complete
                    gzip_members += 1
                undecided.append(_Boundary(consumed_abs * 8 - bits, tar_out, strm.adler, member_out, "block"))
        if finished:
            continue
        known = scanner.known_min_end()
        safe = _last_le(safe, undecided, known)
        if safe is not None and safe.uoff > ubase:
            del ubuf[:safe.uoff - ubase]
            ubase = safe.uoff
        if scanner.end_offset is not None:
            finalize(scanner.end_offset)
            continue
        if len(cbuf) > COMMIT_EVERY and safe is not None:
            commit(safe.bitpos // 8)
            if len(cbuf) > MAX_PENDING or len(ubuf) > MAX_PENDING:
                raise StreamError("splice-unsupported", "a deflate block of the source is larger than "
                                  f"{MAX_PENDING >> 20} MiB; rebuild with method='reencode'")

    sink.drain()
    return SpliceStats(source_bytes=read_abs, source_sha256=h.hexdigest(), result_bytes=result_bytes,
                       result_sha256=res.hexdigest(), copied_bytes=copied, reencoded_source_bytes=reencoded,
                       tar_end=tar_end, gzip_members=gzip_members, trailing_garbage=trailing,
                       tail_start=tail_at[0], tail_wbits=tail_at[1])


def _last_le(safe: _Boundary | None, undecided: list[_Boundary], known: int) -> _Boundary | None:
    """Move boundaries at or before ``known`` out of ``undecided``; return the last of them (or ``safe``)."""
    i = 0
    while i < len(undecided) and undecided[i].uoff <= known:
        i += 1
    if i:
        safe = undecided[i - 1]
        del undecided[:i]
    return safe


def _chain(head: bytes, rest: Iterable[bytes]) -> Iterable[bytes]:
    yield head
    yield from rest
