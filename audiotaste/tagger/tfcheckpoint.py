"""A reader of TensorFlow's checkpoint format (``tf.train.Saver`` V2 "tensor bundles"), without TensorFlow.

A checkpoint with prefix ``P`` is two files:

``P.index``
    A LevelDB-style sorted string table. Its values are protocol buffers: the empty key holds a
    ``BundleHeaderProto`` (number of shards, endianness), every other key is a variable name whose value
    is a ``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC-32C of the bytes).
``P.data-00000-of-00001``
    The raw little-endian tensor bytes, concatenated.

Both are decoded here by hand (a few varints and length-delimited fields), so reading the musicnn weights
needs neither TensorFlow nor protobuf. Every inconsistency (bad magic, short file, checksum mismatch,
unsupported dtype) raises :class:`audiotaste.errors.ModelError` naming the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiotaste.errors import ModelError

__all__ = ["TensorEntry", "list_variables", "read_checkpoint", "crc32c"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two BlockHandles padded to 40 bytes + 8-byte magic
_BLOCK_TRAILER_LEN = 5  # compression type (1 byte) + masked CRC-32C (4 bytes)

# TensorFlow DataType enum -> numpy little-endian dtype (types.proto). Strings, resources and variants
# are not flat byte runs in a bundle, so they are refused rather than misread.
_DTYPES: dict[int, str] = {
    1: "<f4",  # DT_FLOAT
    2: "<f8",  # DT_DOUBLE
    3: "<i4",  # DT_INT32
    4: "u1",  # DT_UINT8
    5: "<i2",  # DT_INT16
    6: "i1",  # DT_INT8
    8: "<c8",  # DT_COMPLEX64
    9: "<i8",  # DT_INT64
    10: "?",  # DT_BOOL
    17: "<u2",  # DT_UINT16
    18: "<c16",  # DT_COMPLEX128
    19: "<f2",  # DT_HALF
    22: "<u4",  # DT_UINT32
    23: "<u8",  # DT_UINT64
}


# --- CRC-32C (Castagnoli), as used by LevelDB and TensorFlow ----------------------------------------
def _crc_tables() -> list[list[int]]:
    poly = 0x82F63B78
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _crc_tables()


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data`` (slice-by-8 in pure Python: about 20 MB/s here, enough for a model fetch)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    crc ^= 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n8 = len(mv) // 8 * 8
    for (word,) in struct.iter_unpack("<Q", mv[:n8]):
        x = crc ^ (word & 0xFFFFFFFF)
        hi = word >> 32
        crc = (
            t7[x & 0xFF]
            ^ t6[(x >> 8) & 0xFF]
            ^ t5[(x >> 16) & 0xFF]
            ^ t4[x >> 24]
            ^ t3[hi & 0xFF]
            ^ t2[(hi >> 8) & 0xFF]
            ^ t1[(hi >> 16) & 0xFF]
            ^ t0[hi >> 24]
        )
    for b in mv[n8:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --- protobuf wire format ---------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, path: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ModelError(path, "corrupt checkpoint index (truncated varint)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, path: str) -> list[tuple[int, Any]]:
    """(field number, value) pairs of one message; varints as int, fixed32/64 as int, others as bytes."""
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos, path)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos, path)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos, path)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ModelError(path, f"corrupt checkpoint index (protobuf wire type {wire})")
        if pos > len(buf):
            raise ModelError(path, "corrupt checkpoint index (truncated protobuf field)")
        out.append((field, value))
    return out


# --- the sorted string table --------------------------------------------------------------------------
def _block(data: bytes, handle: bytes | memoryview, path: str) -> bytes:
    """Contents of the block a (offset, size) handle points to, after checking its trailer."""
    offset, pos = _varint(bytes(handle), 0, path)
    size, _ = _varint(bytes(handle), pos, path)
    end = offset + size
    if end + _BLOCK_TRAILER_LEN > len(data):
        raise ModelError(path, "truncated checkpoint index (a block runs past the end of the file)")
    block = data[offset:end]
    ctype = data[end]
    (masked,) = struct.unpack_from("<I", data, end + 1)
    if crc32c(data[offset : end + 1]) != _unmask(masked):
        raise ModelError(path, "corrupt checkpoint index (block checksum mismatch)")
    if ctype != 0:
        raise ModelError(path, f"unsupported checkpoint index compression (type {ctype})")
    return block


def _block_entries(block: bytes, path: str) -> list[tuple[bytes, bytes]]:
    """Prefix-compressed (key, value) records of one block, in order."""
    if len(block) < 4:
        raise ModelError(path, "corrupt checkpoint index (block too short)")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise ModelError(path, "corrupt checkpoint index (bad restart array)")
    out: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = _varint(block, pos, path)
        unshared, pos = _varint(block, pos, path)
        vlen, pos = _varint(block, pos, path)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise ModelError(path, "corrupt checkpoint index (bad record lengths)")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + vlen]))
        pos += vlen
    return out


def _read_table(index_path: Path) -> list[tuple[bytes, bytes]]:
    path = str(index_path)
    try:
        data = index_path.read_bytes()
    except FileNotFoundError:
        raise ModelError(path, "checkpoint index file is missing") from None
    except OSError as e:
        raise ModelError(path, f"cannot read checkpoint index ({e.strerror})") from None
    if len(data) < _FOOTER_LEN:
        raise ModelError(path, "truncated checkpoint index (shorter than its footer)")
    footer = data[-_FOOTER_LEN:]
    if int.from_bytes(footer[40:], "little") != _TABLE_MAGIC:
        raise ModelError(path, "not a TensorFlow checkpoint index (bad table magic)")
    _, pos = _varint(footer, 0, path)  # metaindex handle: unused (no filters in bundles)
    _, pos = _varint(footer, pos, path)
    index_block = _block(data, footer[pos:40], path)
    entries: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(index_block, path):
        entries.extend(_block_entries(_block(data, handle, path), path))
    return entries


# --- the bundle -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives in a checkpoint.

    Attributes
    ----------
    name : str
        Variable name, e.g. ``"conv2d/kernel"``.
    dtype : str
        numpy dtype string (little-endian).
    shape : tuple of int
        Tensor shape (TensorFlow order).
    shard : int
        Data shard number.
    offset, size : int
        Byte range in the shard (bytes).
    crc32c : int
        Unmasked CRC-32C of those bytes.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _parse_entry(name: str, value: bytes, path: str) -> TensorEntry:
    dtype_code, shard, offset, size, crc = 0, 0, 0, 0, 0
    shape: list[int] = []
    for field, v in _fields(value, path):
        if field == 1:
            dtype_code = int(v)
        elif field == 2:
            for f2, dim in _fields(v, path):
                if f2 == 2:  # TensorShapeProto.dim
                    size_fields = [d for f3, d in _fields(dim, path) if f3 == 1]
                    shape.append(int(size_fields[0]) if size_fields else 0)
                elif f2 == 3 and v:
                    raise ModelError(path, f"variable {name!r} has unknown rank")
        elif field == 3:
            shard = int(v)
        elif field == 4:
            offset = int(v)
        elif field == 5:
            size = int(v)
        elif field == 6:
            crc = _unmask(int(v))
        elif field == 7:
            raise ModelError(path, f"variable {name!r} is partitioned (sliced); not supported")
    if dtype_code not in _DTYPES:
        raise ModelError(path, f"variable {name!r} has unsupported TensorFlow dtype {dtype_code}")
    dtype = _DTYPES[dtype_code]
    if size != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
        raise ModelError(path, f"variable {name!r}: {size} bytes do not fit shape {tuple(shape)}")
    return TensorEntry(name, dtype, tuple(shape), shard, offset, size, crc)


def _index_path(prefix: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(prefix) + ".index")


def _read_index(prefix: str | os.PathLike[str]) -> tuple[int, dict[str, TensorEntry]]:
    index_path = _index_path(prefix)
    path = str(index_path)
    num_shards = 1
    entries: dict[str, TensorEntry] = {}
    for key, value in _read_table(index_path):
        if key == b"":  # BundleHeaderProto
            for field, v in _fields(value, path):
                if field == 1:
                    num_shards = int(v)
                elif field == 2 and v != 0:
                    raise ModelError(path, "big-endian checkpoints are not supported")
            continue
        name = key.decode("utf-8", errors="replace")
        entries[name] = _parse_entry(name, value, path)
    if not entries:
        raise ModelError(path, "checkpoint index lists no variables")
    return num_shards, entries


def list_variables(prefix: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """Variables of a checkpoint, by name, without reading their values.

    Parameters
    ----------
    prefix : path-like
        Checkpoint prefix: the ``.index`` and ``.data-*`` files are ``prefix + suffix`` (for a prefix that
        is a directory ending in ``/``, the files are ``.index`` inside it).

    Returns
    -------
    dict of str to TensorEntry
    """
    return _read_index(prefix)[1]


def read_checkpoint(
    prefix: str | os.PathLike[str], *, names: list[str] | None = None, verify: bool = True
) -> dict[str, np.ndarray]:
    """Read variables of a TensorFlow V2 checkpoint into numpy arrays.

    Parameters
    ----------
    prefix : path-like
        Checkpoint prefix (see :func:`list_variables`).
    names : list of str, optional
        Variables to read (default: all).
    verify : bool
        Check each tensor's CRC-32C (pure Python, about 0.5 s per 10 MB).

    Returns
    -------
    dict of str to numpy.ndarray
        Native-endian arrays in TensorFlow's shape order.

    Raises
    ------
    ModelError
        Missing file, truncated or corrupt index or data, unknown variable, unsupported dtype.
    """
    num_shards, entries = _read_index(prefix)
    wanted = list(entries) if names is None else names
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise ModelError(str(_index_path(prefix)), f"checkpoint has no variable(s) {missing}")
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        e = entries[name]
        shard_path = Path(f"{os.fspath(prefix)}.data-{e.shard:05d}-of-{num_shards:05d}")
        if e.shard not in shards:
            try:
                shards[e.shard] = shard_path.read_bytes()
            except FileNotFoundError:
                raise ModelError(str(shard_path), "checkpoint data file is missing") from None
            except OSError as err:
                raise ModelError(
                    str(shard_path), f"cannot read checkpoint data ({err.strerror})"
                ) from None
        data = shards[e.shard]
        if e.offset + e.size > len(data):
            raise ModelError(
                str(shard_path), f"truncated checkpoint data (variable {name!r} runs past the end)"
            )
        raw = data[e.offset : e.offset + e.size]
        if verify and crc32c(raw) != e.crc32c:
            raise ModelError(
                str(shard_path), f"corrupt checkpoint data (checksum mismatch in {name!r})"
            )
        arr = np.frombuffer(raw, dtype=e.dtype).reshape(e.shape)
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return out
