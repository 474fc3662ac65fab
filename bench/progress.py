# A progress line for the corpus builders: bytes and claims written, on a terminal only.
#
# Strategy: the builders call `update(bytes, claims)` as often as they like (once a
# transaction); the line is drawn at the first update, redrawn at most every `interval` seconds
# and erased by `close()`, so a person sees that a long generation is moving. When stderr is not
# a terminal (a pipe, a file, a test) nothing is ever written: machine users get only the final
# summary the builders already print.
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """`Progress("corpus.837").update(12_300_000, 18_000)` draws
    `corpus.837: 12.3 MB, 18,000 claims, 9.8 MB/s` on a terminal's last line."""

    def __init__(self, label: str, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.label = label
        stream = sys.stderr if stream is None else stream
        try:
            self.stream: TextIO | None = stream if stream.isatty() else None
        except (AttributeError, ValueError, OSError):
            self.stream = None
        self.interval = interval
        self._start = time.monotonic()
        self._last = float("-inf")  # the first update draws at once
        self._drawn = False

    @property
    def active(self) -> bool:
        return self.stream is not None

    def update(self, written: int, claims: int) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = written / 1e6 / max(now - self._start, 1e-9)
        self.stream.write(f"\r\x1b[K{self.label}: {written / 1e6:.1f} MB, {claims:,} claims, {rate:.1f} MB/s")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self._drawn = False
