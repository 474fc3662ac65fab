# One transaction's bytes, held while it is decided: in memory, or in a temporary file past a limit.
#
# Strategy: the pipeline decides a whole transaction before it writes a byte of it (so a
# transaction found unreadable half-way still goes out untouched), which means holding it. Up to
# `memory_limit` bytes the pieces the reader hands over (the ST segment, then runs of whole
# segments) are kept as they came and joined into one bytes object the first time a range is
# asked for (one copy; after that every access is a slice or a C-level search); past the limit
# they go to an anonymous temporary file and are read back by range. Offsets count from the
# first byte of the ST segment's lead.
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

__all__ = ["HeldTransaction"]

_COPY_CHUNK = 1 << 20


class HeldTransaction:
    """The raw bytes of one ST..SE (or as much of it as came), by offset."""

    def __init__(self, *, memory_limit: int) -> None:
        self._parts: list[bytes] = []
        self._data: bytes | None = None  # the parts joined, once asked for
        self._file: IO[bytes] | None = None
        self._limit = memory_limit
        self.size = 0

    def append(self, data: bytes) -> int:
        """Add the next piece; returns its offset."""
        offset = self.size
        if not data:
            return offset
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return offset
        if self._data is not None:
            self._parts, self._data = [self._data], None
        self._parts.append(data)
        if self.size > self._limit:
            self._file = tempfile.TemporaryFile(prefix="edi-cgt-")
            for part in self._parts:
                self._file.write(part)
            self._parts = []
        return offset

    @property
    def spilled(self) -> bool:
        return self._file is not None

    @property
    def data(self) -> bytes:
        """All the bytes (only while in memory)."""
        if self._data is None:
            if self._file is not None:
                raise RuntimeError("the transaction was spilled to disk: read it by range")
            self._data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts = []
        return self._data

    def parts(self) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of the pieces as they came (in memory only: for a scan piece by piece)."""
        if self._data is not None:
            yield 0, self._data
            return
        offset = 0
        for part in self._parts:
            yield offset, part
            offset += len(part)

    def read(self, start: int, end: int) -> bytes:
        """The bytes from `start` to `end`."""
        if self._file is None:
            return self.data[start:end]
        if end <= start:
            return b""
        self._file.seek(start)
        return self._file.read(end - start)

    def count(self, byte: bytes, start: int, end: int) -> int:
        """How often `byte` (one byte) occurs from `start` to `end`."""
        if self._file is None:
            return self.data.count(byte, start, end)
        return sum(chunk.count(byte) for chunk in self.chunks(start, end))

    def find(self, byte: bytes, start: int) -> int:
        """The offset of the first `byte` (one byte) at or after `start`, or -1."""
        if self._file is None:
            return self.data.find(byte, start)
        pos = start
        for chunk in self.chunks(start):
            k = chunk.find(byte)
            if k >= 0:
                return pos + k
            pos += len(chunk)
        return -1

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` to `end`, in pieces of bounded size."""
        end = self.size if end is None else end
        if self._file is None:
            if start == 0 and end == self.size and self._data is None:
                yield from self._parts  # the whole, as it came: no copy
            elif start < end:
                yield self.data if (start == 0 and end == self.size) else self.data[start:end]
            return
        pos = start
        while pos < end:
            chunk = self.read(pos, min(end, pos + _COPY_CHUNK))
            if not chunk:
                break
            yield chunk
            pos += len(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._parts, self._data = [], None
