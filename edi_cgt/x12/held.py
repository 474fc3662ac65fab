# One transaction's bytes, held while it is decided: in memory, or in a temporary file past a limit.
#
# Strategy: the pipeline decides a whole transaction before it writes a byte of it (so a
# transaction found unreadable half-way still goes out untouched), which means holding it. The
# pieces the reader hands over (the ST segment, then runs of whole segments) are kept as they
# are, with their offsets, up to `memory_limit` bytes; past that they go to an anonymous
# temporary file and are read back by range. Offsets count from the first byte of the ST
# segment's lead.
from __future__ import annotations

import bisect
import tempfile
from collections.abc import Iterator
from typing import IO

__all__ = ["HeldTransaction"]

_COPY_CHUNK = 1 << 20


class HeldTransaction:
    """The raw bytes of one ST..SE (or as much of it as came), by offset."""

    def __init__(self, *, memory_limit: int) -> None:
        self._parts: list[bytes] = []
        self._starts: list[int] = []
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
        self._parts.append(data)
        self._starts.append(offset)
        if self.size > self._limit:
            self._file = tempfile.TemporaryFile(prefix="edi-cgt-")
            for part in self._parts:
                self._file.write(part)
            self._parts, self._starts = [], []
        return offset

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def read(self, start: int, end: int) -> bytes:
        """The bytes from `start` to `end`."""
        if end <= start:
            return b""
        if self._file is not None:
            self._file.seek(start)
            return self._file.read(end - start)
        i = bisect.bisect_right(self._starts, start) - 1
        out: list[bytes] = []
        pos = start
        while pos < end and i < len(self._parts):
            part, base = self._parts[i], self._starts[i]
            out.append(part[pos - base:end - base])
            pos = base + len(part)
            i += 1
        return out[0] if len(out) == 1 else b"".join(out)

    def count(self, byte: bytes, start: int, end: int) -> int:
        """How often `byte` (one byte) occurs from `start` to `end`."""
        return sum(chunk.count(byte) for chunk in self.chunks(start, end))

    def find(self, byte: bytes, start: int) -> int:
        """The offset of the first `byte` (one byte) at or after `start`, or -1."""
        pos = start
        for chunk in self.chunks(start):
            k = chunk.find(byte)
            if k >= 0:
                return pos + k
            pos += len(chunk)
        return -1

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` to `end`, in pieces (the held pieces themselves when whole)."""
        end = self.size if end is None else end
        if self._file is None:
            for part, base in zip(self._parts, self._starts):
                stop = base + len(part)
                if stop <= start:
                    continue
                if base >= end:
                    break
                yield part if (base >= start and stop <= end) else part[max(start, base) - base:min(end, stop) - base]
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
        self._parts, self._starts = [], []
