"""Snapshots of live sessions stored beside their action log, so that reopening a session
after a restart costs a load plus the actions since, not a replay of its whole history.

A snapshot is the pickled engine Session with its numpy arrays kept out of band (pickle
protocol 5) and compressed with Zstandard into one stream. Thawing decompresses each array
straight into a fresh buffer that the unpickled array then uses as it is: the state of a
migrated 2^20-page session (175 MB of arrays) is written once in memory, not three times
(zlib out, pickle copy), and all-zero arrays (a third of it) are not stored at all.

It is a cache: the action log stays the truth, a snapshot is used only if it was written
by the same engine code and this module (ENGINE_VERSION, a digest of both) and ends at the
seq the log recorded for its action, and any that cannot be read is ignored. The database
is the server's own file: pickles from it are trusted as the code itself is.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

import engine

TABLE = """CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    n          INTEGER NOT NULL,  -- the last action (steps.n) the snapshot includes
    seq        INTEGER NOT NULL,  -- the session's seq there
    engine     TEXT NOT NULL,     -- ENGINE_VERSION that wrote it
    blob       BLOB NOT NULL      -- see pack()
)"""

MAGIC = b"PVFSNAP2"
LEVEL = 3  # Zstandard's default: as fast as level 1 on these arrays, and a little smaller

Frozen = tuple[bytes, list[bytes]]  # the pickle without its arrays, and copies of them


def _engine_version() -> str:
    digest = hashlib.sha256()
    for path in [*sorted(Path(engine.__file__).parent.glob("*.py")), Path(__file__)]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


ENGINE_VERSION = _engine_version()


def freeze(session: Any) -> Frozen:
    """The session's state as bytes; call while holding its lock (a consistent copy: the
    arrays are copied here, compressed later by pack() without the lock)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(session, protocol=5, buffer_callback=buffers.append)
    return head, [buffer.raw().tobytes() for buffer in buffers]


def pack(frozen: Frozen) -> bytes:
    """MAGIC, the length of the header, the header (the pickle and each array's size, 0
    standing for an all-zero one), then one Zstandard stream of the other arrays."""
    head, buffers = frozen
    zero = [not np.frombuffer(b, np.uint8).any() for b in buffers]
    header = pickle.dumps((head, [len(b) for b in buffers], zero),
                          protocol=pickle.HIGHEST_PROTOCOL)
    stream = zstandard.ZstdCompressor(level=LEVEL).compressobj()
    parts = [MAGIC, struct.pack("<Q", len(header)), header]
    parts += [stream.compress(b) for b, z in zip(buffers, zero, strict=True) if not z]
    parts.append(stream.flush())
    return b"".join(parts)


def thaw(blob: bytes) -> Any:
    """The session packed in `blob`; ValueError (or what pickle raises) if it is not one."""
    view = memoryview(blob)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a snapshot of this format")
    start = len(MAGIC) + 8
    (length,) = struct.unpack_from("<Q", view, len(MAGIC))
    head, sizes, zero = pickle.loads(view[start:start + length])
    # Across frames: bytes after the stream are always read as another frame, so a blob
    # longer than its header says fails below, wherever the reader stopped in the first.
    reader = zstandard.ZstdDecompressor().stream_reader(view[start + length:],
                                                        read_across_frames=True)
    buffers = []
    for size, is_zero in zip(sizes, zero, strict=True):
        if is_zero:  # calloc'd: pages are only touched if the engine writes them
            buffers.append(np.zeros(size, np.uint8))
            continue
        buffer = np.empty(size, np.uint8)
        filled = 0
        while filled < size:
            got = reader.readinto(buffer[filled:])
            if not got:
                raise ValueError("snapshot truncated")
            filled += got
        buffers.append(buffer)
    if reader.read(1):
        raise ValueError("snapshot longer than its header says")
    return pickle.loads(head, buffers=buffers)
