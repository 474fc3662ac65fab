# Cutting a big uncompressed input into pieces that replay in parallel.
#
# Strategy: one forward scan of the stored bytes (bounded memory, C-speed searches), reading
# the envelope with the project's X12 syntax code: each interchange's delimiters come from its
# ISA (edi_cgt.x12.delimiters), and a regex built from them finds the segments that matter
# here: ST, SE, GS, GE, IEA, and an ISA where none may be. A piece ends where a transaction
# starts right after the previous one's SE (or an interchange right after an IEA), at the
# first such place past the piece size, so every transaction is whole in one piece. A piece
# that starts inside an interchange gets that interchange's ISA and its group's GS carried in
# front; one that ends inside gets the group's GE and the interchange's IEA carried behind
# (the real ones, found further on). The pipeline therefore reads each piece as a complete
# 837 whose transactions are byte for byte those of the file.
#
# The scan also counts segments and transactions before each cut, so that numbers read in a
# piece can be turned back into the file's (segment numbers in rejection rows, transaction
# indexes in the 277CA). Anything unusual (an ISA inside an interchange, text after an IEA,
# an ISA that does not parse) stops the cutting: what is left is one piece, read as a whole
# file would be. Compressed inputs are never cut (gzip has no random access).
from __future__ import annotations

import re
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import store
from ..io import is_gzip, read_range
from ..x12.delimiters import ISA_LENGTH, Delimiters, detect_delimiters
from ..x12.errors import X12Error
from .inputs import SNIFF_BYTES, sniff

__all__ = ["Piece", "cut", "piece_chunks"]

_BLOCK = 8 << 20
_KEEP = 64 << 10  # bytes kept before the scan position (the segment before an ST)
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes [start, end) of `path`, with envelope segments carried in front (`head`) and
    behind (`tail`). A number read in the piece plus the offset is the file's number."""

    path: str
    index: int
    count: int
    start: int
    end: int
    head: bytes = b""
    tail: bytes = b""
    segment_offset: int = 0
    transaction_offset: int = 0
    interchange_offset: int = 0  # interchanges of the file before the piece's first one
    group_offset: int = 0  # groups of that interchange before the piece's first group
    run: str = ""  # the run whose OUT/parts/<run>/ holds the piece's 277CA calls
    secret: bytes = field(default=b"", repr=False)  # signs those calls (see work.py)

    @property
    def size(self) -> int:
        return self.end - self.start


def piece_chunks(piece: Piece, on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The bytes the pipeline reads for a piece."""
    if piece.head:
        yield piece.head
    yield from read_range(piece.path, piece.start, piece.end, on_bytes=on_bytes)
    if piece.tail:
        yield piece.tail


def _blank(d: Delimiters) -> bytes:
    # Layout whitespace after a terminator, as the reader treats it: CR, LF, tab, space, less
    # any of them that is a delimiter.
    return bytes(b for b in _WHITESPACE if bytes([b]) not in (d.segment, d.element))


@functools.lru_cache(maxsize=64)
def _pattern(d: Delimiters) -> "re.Pattern[bytes]":
    blank = re.escape(_blank(d))
    blanks = b"[" + blank + b"]*+" if blank else b""
    return re.compile(re.escape(d.segment) + blanks + b"(?:(ST|SE|GS|GE|IEA)" + re.escape(d.element) + b"|(ISA))")


@dataclass(slots=True)
class _Cut:
    offset: int
    head: bytes
    segments_before: int
    transactions_before: int
    interchanges_before: int
    groups_before: int
    ge: bytes = b""
    iea: bytes = b""
    closed: bool = False  # True: the piece before it needs no tail (the cut is at an ISA)


class _Scan:
    """The state of one forward scan (see the module comment)."""

    def __init__(self, fh: BinaryIO, piece_bytes: int) -> None:
        self.fh = fh
        self.piece_bytes = piece_bytes
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self.cuts: list[_Cut] = []
        self.waiting: list[_Cut] = []  # cuts inside the open interchange: need its GE and IEA
        self.segments = 0  # segments before `counted`
        self.counted = 0  # file offset up to which terminators are counted
        self.transactions = 0
        self.interchanges = 0  # ISAs seen
        self.groups = 0  # GSs seen in the current interchange
        self.isa = b""
        self.gs = b""
        self.d: Delimiters | None = None
        self.next_cut = piece_bytes

    def more(self, keep_from: int) -> bool:
        """Read the next block, dropping bytes before `keep_from` (a file offset)."""
        if self.eof:
            return False
        block = self.fh.read(_BLOCK)
        if not block:
            self.eof = True
            return False
        if keep_from > self.counted:
            self.count_to(keep_from)  # everything before it has been scanned
        drop = max(0, min(keep_from, self.counted) - self.base)
        self.buf = self.buf[drop:] + block
        self.base += drop
        return True

    def count_to(self, offset: int) -> None:
        if offset > self.counted and self.d is not None:
            self.segments += self.buf.count(self.d.segment, self.counted - self.base, offset - self.base)
            self.counted = offset

    def segment_end(self, at: int) -> tuple[int, int] | None:
        """File offsets after the terminator of the segment starting at `at`, and after the
        blanks that follow it."""
        assert self.d is not None
        while True:
            term = self.buf.find(self.d.segment, at - self.base)
            if term >= 0:
                end = term + 1
                blank = _blank(self.d)
                while end < len(self.buf) and self.buf[end] in blank:
                    end += 1
                if end < len(self.buf) or self.eof:
                    return self.base + term + 1, self.base + end
            if not self.more(at - _KEEP):
                return None

    def interchange(self, at: int) -> int | None:
        """Start the interchange whose ISA is at file offset `at`; the offset after it."""
        while len(self.buf) - (at - self.base) < ISA_LENGTH + 1 and self.more(at - _KEEP):
            pass
        isa = self.buf[at - self.base: at - self.base + ISA_LENGTH]
        try:
            self.d = detect_delimiters(isa)
        except X12Error:
            return None
        ends = self.segment_end(at)
        if ends is None:
            return None
        # The ISA is one segment whatever its fields hold (fixed width): count it as one.
        self.segments += 1
        self.counted = at + ISA_LENGTH
        self.isa = self.buf[at - self.base: ends[1] - self.base]
        self.gs = b""
        self.interchanges += 1
        self.groups = 0
        return at + ISA_LENGTH - 1  # its terminator: the next search starts there

    def run(self) -> list[_Cut]:
        self.more(0)
        head = self.buf[:SNIFF_BYTES]
        if is_gzip(head) or sniff(head) is not None:
            return []
        at = len(self.buf) - len(self.buf[3:].lstrip(_WHITESPACE) if self.buf.startswith(b"\xef\xbb\xbf")
                                  else self.buf.lstrip(_WHITESPACE))
        pos = self.interchange(at)
        while pos is not None:
            pos = self.walk(pos)
        return self.cuts

    def walk(self, pos: int) -> int | None:
        """Scan one interchange from the terminator at `pos`; the offset of the next ISA's
        terminator, or None at the end."""
        assert self.d is not None
        pattern = _pattern(self.d)
        while True:
            m = pattern.search(self.buf, pos - self.base)
            if m is None or (m.end() + 64 > len(self.buf) and not self.eof):
                if self.more(pos - _KEEP):
                    continue
                if m is None:
                    return None
            sid = m.group(1)
            if sid is None:  # an ISA before the IEA: leave the rest whole
                return None
            at = self.base + m.start(1)
            term_before = self.base + m.start()
            ends = self.segment_end(at)
            if ends is None:
                return None
            term_end, end = ends
            raw = self.buf[at - self.base: end - self.base]
            pos = term_end - 1
            if sid == b"ST":
                if at >= self.next_cut and self.gs and self._after_se(term_before):
                    self.count_to(at)
                    self._cut(at, self.isa + self.gs, closed=False)
                self.transactions += 1
            elif sid == b"GS":
                self.gs = raw
                self.groups += 1
            elif sid == b"GE":
                for c in self.waiting:
                    c.ge = c.ge or raw
                self.gs = b""
            elif sid == b"IEA":
                for c in self.waiting:
                    c.iea = raw
                self.waiting.clear()
                self.count_to(end)
                # The next interchange, if any, must start right here.
                while len(self.buf) - (end - self.base) < 3 and self.more(end - _KEEP):
                    pass
                if self.buf[end - self.base: end - self.base + 3] != b"ISA":
                    return None
                if end >= self.next_cut:
                    self._cut(end, b"", closed=True)
                return self.interchange(end)

    def _after_se(self, term_at: int) -> bool:
        """True when the segment whose terminator is at file offset `term_at` is an SE."""
        assert self.d is not None
        term_at -= self.base
        prev = self.buf.rfind(self.d.segment, 0, term_at)
        if prev < 0:
            return False
        body = self.buf[prev + 1: term_at].lstrip(_blank(self.d))
        return body.startswith(b"SE" + self.d.element)

    def _cut(self, offset: int, head: bytes, *, closed: bool) -> None:
        # A cut at an ST is inside the current interchange and group (carried in front); one at
        # an ISA starts the next interchange.
        c = _Cut(offset, head, self.segments, self.transactions,
                 self.interchanges if closed else self.interchanges - 1, 0 if closed else self.groups - 1,
                 closed=closed)
        self.cuts.append(c)
        if not closed:
            self.waiting.append(c)
        self.next_cut = offset + self.piece_bytes


def cut(path: str, size: int, piece_bytes: int) -> list[Piece]:
    """The pieces of `path` (stored size `size`) of about `piece_bytes` each, or [] when it is
    not cut (smaller, compressed, not an 837, or no place to cut)."""
    if piece_bytes <= 0 or size <= piece_bytes:
        return []
    with store.open_read(path) as fh:
        cuts = _Scan(fh, piece_bytes).run()  # type: ignore[arg-type]
    if not cuts:
        return []
    pieces: list[Piece] = []
    bounds = [0] + [c.offset for c in cuts] + [size]
    for i in range(len(bounds) - 1):
        before = cuts[i - 1] if i else None
        after = cuts[i] if i < len(cuts) else None
        head = before.head if before else b""
        tail = b"" if after is None or after.closed else after.ge + after.iea
        carried = 2 if head else 0
        pieces.append(Piece(
            path=path, index=i, count=len(bounds) - 1, start=bounds[i], end=bounds[i + 1], head=head, tail=tail,
            segment_offset=(before.segments_before - carried) if before else 0,
            transaction_offset=before.transactions_before if before else 0,
            interchange_offset=before.interchanges_before if before else 0,
            group_offset=before.groups_before if before else 0,
        ))
    return pieces
