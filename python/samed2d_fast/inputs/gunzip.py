"""Decompressing a gzip file no further than a header says it reaches.

A ``.nii.gz`` is inflated only as far as its header says the file reaches: vox_offset
(header and extensions, at most 64 MiB) plus the voxel bytes. More data, or anything
but NUL bytes after the last gzip member, is an error, so a gzip bomb costs no more
memory than a genuine file with its header. Concatenated members (bgzip, pigz) are
one stream, as gzip itself reads them.
"""

from __future__ import annotations

import os
import zlib
from contextlib import closing
from typing import Iterator

import numpy as np

from .files import InputError, one_line

try:  # ISA-L's inflate (python-isal): a dependency, but the stdlib's works the same, slower
    from isal import isal_zlib as _inflate_lib

    _GZIP_ERRORS: tuple = (_inflate_lib.error, zlib.error)
except ImportError:  # pragma: no cover - only where isal has no wheel
    _inflate_lib = zlib
    _GZIP_ERRORS = (zlib.error,)

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + 15      # zlib's code for one gzip member
# Compressed bytes read, and decompressed bytes made, per call: each chunk is copied into
# place while still in the cache and little input is left over to copy between calls (no
# slower than ISA-L's one-call gunzip on CT volumes, 3x faster on label maps); the memory
# beyond the volume is a few MiB.
_READ_SIZE = 64 << 10
_INFLATE_SIZE = 1 << 20


def is_gzip(path) -> bool:
    return os.fspath(path).lower().endswith(".gz")


def gunzip_head(path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of a gzip file (fewer when it holds fewer)."""
    head = bytearray()
    with closing(_gunzip_chunks(path, size)) as chunks:
        for chunk in chunks:
            head += chunk
            if len(head) >= size:
                break
    return bytes(head[:size])


def gunzip_exactly(path, offset: int, voxel_bytes: int) -> np.ndarray:
    """The whole decompressed stream of a gzip file as one uint8 buffer, which must be
    exactly ``offset + voxel_bytes`` long."""
    size = offset + voxel_bytes
    out = np.empty(size, dtype=np.uint8)
    filled = 0
    for chunk in _gunzip_chunks(path, size):
        if filled + len(chunk) > size:
            raise InputError(f"{path}: more data than the header describes: the gzip stream goes on past "
                             f"{size} bytes (vox_offset {offset} + {voxel_bytes} bytes of voxels)")
        out[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    if filled < size:
        raise truncated(path, filled, size)
    return out


def gunzip_values(path, offset: int, dtype: np.dtype, count: int) -> Iterator[np.ndarray]:
    """The ``count`` values of ``dtype`` that follow ``offset`` bytes of a gzip file's stream,
    as 1D arrays, one per inflated chunk (a value cut by a chunk's end goes with the next),
    so a caller uses each while it is in the cache and no buffer of the whole is made. The
    stream is checked as ``gunzip_exactly`` checks it."""
    size = offset + count * dtype.itemsize
    filled, carry = 0, b""
    for chunk in _gunzip_chunks(path, size):
        if filled + len(chunk) > size:
            raise InputError(f"{path}: more data than the header describes: the gzip stream goes on past "
                             f"{size} bytes (vox_offset {offset} + {count * dtype.itemsize} bytes of voxels)")
        start = max(0, offset - filled)  # the header's bytes are skipped
        filled += len(chunk)
        data = carry + chunk[start:] if carry else chunk[start:]
        whole = len(data) - len(data) % dtype.itemsize
        carry = data[whole:]
        if whole:
            yield np.frombuffer(data, dtype=dtype, count=whole // dtype.itemsize)
    if filled < size:
        raise truncated(path, filled, size)


def _gunzip_chunks(path, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file, chunk by chunk.

    Inflating stops one byte past ``limit``, so a caller tells a longer stream from
    the expected one without inflating the rest. Checked on the way: the file starts
    a gzip member, no member is cut short or corrupt (CRC and length), and only NUL
    bytes follow the last member (read, never inflated).
    """
    read_size = min(_READ_SIZE, limit + 4096)  # a header read needs a few KB at most
    total = 0
    with open(path, "rb", buffering=0) as f:
        data = f.read(read_size)
        if not data.startswith(_GZIP_MAGIC):
            raise InputError(f"{path}: not gzip-compressed, although its name ends in .gz")
        while data.startswith(_GZIP_MAGIC):  # one member per pass
            inflater = _inflate_lib.decompressobj(_GZIP_WBITS)
            full = False  # the last call filled its output: more may come without new input
            while not inflater.eof:
                if not data and not full:
                    data = f.read(read_size)
                    if not data:
                        raise truncated(path, total, limit)
                want = min(_INFLATE_SIZE, limit + 1 - total)
                try:
                    chunk = inflater.decompress(data, want)
                except _GZIP_ERRORS as exc:
                    raise InputError(f"{path}: corrupt gzip data ({one_line(exc)})") from None
                full = len(chunk) == want
                data = inflater.unconsumed_tail
                if chunk:
                    total += len(chunk)
                    yield chunk
                    if total > limit:
                        return
            data = inflater.unused_data
            if len(data) < len(_GZIP_MAGIC):
                data += f.read(read_size)
        while data:
            if data.count(0) != len(data):
                raise InputError(f"{path}: data after the end of the gzip stream (only NUL padding may follow it)")
            data = f.read(_READ_SIZE)


def truncated(path, got: int, wanted: int) -> InputError:
    return InputError(f"{path}: truncated: the decompressed data ends after {got} of {wanted} bytes")
