# Segment reader: an explicit buffer. Bytes go in with feed(); segments, or the rest of a
# transaction as raw bytes, come out.
#
# Strategy: in the spirit of h11's ReceiveBuffer, the Reader knows nothing of files, pipes or
# gzip (edi_cgt.io does those): the caller feeds bytes and asks for the next thing; when the
# buffer does not hold enough yet the answer is NEED_DATA, and the caller feeds more (or
# feed_eof()). Between interchanges it looks for an ISA and reads that interchange's delimiters
# from it; inside one it cuts segments on the terminator with bytes.find. Every byte of the input
# belongs to exactly one segment:
#
#     lead  -- bytes before an ISA (UTF-8 byte-order mark, blank lines); ISA segments only
#     data  -- the segment text without its terminator
#     tail  -- the terminator plus any CR/LF/space/tab that follows it (pretty-printed files)
#
# so `lead + data + tail` over all segments reproduces the input byte for byte. After an IEA the
# delimiters are forgotten and the next interchange (concatenated files) brings its own; so does
# an ISA that comes before the IEA (a truncated file with another one appended). Trailing
# whitespace or NUL padding after the last interchange (a common transfer artefact) becomes one
# data-less segment, kept.
#
# maybe_extract_transaction() is the fast way through a transaction: called right after an ST,
# it finds the SE with one regular-expression search (stopping at any ST, GS, GE, IEA or ISA
# that comes first) and hands the bytes over whole, with their segment count, without making a
# Segment per segment. A transaction longer than the caller's limit comes in pieces of whole
# segments. The reader judges only syntax: which bytes form a segment. Whether a segment id is
# known, or a count is right, is for the layers above.
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .delimiters import ISA_LENGTH, Delimiters, detect_delimiters
from .errors import X12SyntaxError, safe_id

__all__ = ["Segment", "Reader", "Piece", "NEED_DATA", "iter_segments", "split_segments", "blank_bytes", "blank_class",
           "skip_blank"]

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_PADDING = _WHITESPACE + b"\x00"  # what may stand between or after interchanges
_SEGMENT_START = re.compile(rb"([A-Z][A-Z0-9]{1,2})[^A-Za-z0-9 ]")
_MAX_SEGMENT = 64 << 20  # a "segment" longer than this means the terminator is wrong


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()  # the buffer does not hold enough yet: feed() more, or feed_eof()


class Segment:
    """One X12 segment and the exact bytes it was read from."""

    __slots__ = ("data", "tail", "lead", "number", "delimiters", "_elements")

    def __init__(self, data: bytes, tail: bytes, number: int, delimiters: Delimiters, lead: bytes = b"") -> None:
        self.data = data
        self.tail = tail
        self.lead = lead
        self.number = number  # 1-based ordinal over the whole input
        self.delimiters = delimiters
        self._elements: list[str] | None = None

    @property
    def raw(self) -> bytes:
        return self.lead + self.data + self.tail

    @property
    def elements(self) -> list[str]:
        """Element strings; [0] is the segment id. Decoded as latin-1 (round-trips any byte)."""
        if self._elements is None:
            self._elements = self.data.decode("latin-1").split(self.delimiters.element_str)
        return self._elements

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, position: int, default: str = "") -> str:
        """Element at `position` (1-based like X12: seg.get(1) is XX01), or `default`."""
        el = self.elements
        return (el[position] or default) if position < len(el) else default

    def with_elements(self, elements: list[str]) -> "Segment":
        """A copy with new element values, keeping delimiters, lead and tail."""
        data = self.delimiters.element_str.join(elements).encode("latin-1")
        return Segment(data, self.tail, self.number, self.delimiters, self.lead)

    def __repr__(self) -> str:
        return f"<Segment #{self.number} {self.data[:60]!r}>"


@dataclass(frozen=True, slots=True)
class Piece:
    """Raw bytes of whole segments inside a transaction (after its ST).

    `end` says how the transaction goes on: "SE" (the piece ends with the SE segment), "more"
    (the transaction was longer than the limit: more pieces follow), "cut" (an ST, GS, GE, IEA or
    ISA comes before any SE: the transaction has no SE; what comes next is read as segments) or
    "eof" (the input ends without an SE)."""

    data: bytes
    segments: int  # whole segments in `data` (terminators: an empty segment counts too)
    end: str
    se: int = -1  # end "SE": where the SE segment starts in `data`
    se_end: int = -1  # ... and where its terminator stands
    stop: str = ""  # end "cut": the id of the segment that comes before any SE


class Reader:
    """An input buffer that gives out segments (see the module comment).

    `delimiters` starts the reader inside an interchange (to re-read bytes of one); otherwise
    the input must begin (after a byte-order mark or whitespace) with an ISA. Errors are
    X12SyntaxError naming `where` and the segment number."""

    def __init__(self, *, where: str = "", delimiters: Delimiters | None = None, first_number: int = 1) -> None:
        self.where = where
        self.number = first_number  # number of the next segment
        self.delimiters = delimiters  # None between interchanges
        self._last = delimiters or Delimiters()
        self._buf = b""
        self._pos = 0
        self._dropped = 0  # bytes given out and dropped from _buf
        self._eof = False
        self._seen_interchange = delimiters is not None
        self._at_start = delimiters is None
        self._searched = 0  # maybe_extract_transaction: no boundary before this offset

    # -- input ---------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self._eof:
            raise RuntimeError("Reader.feed() after feed_eof()")
        if data:
            self._searched -= self._pos
            self._dropped += self._pos
            self._buf = self._buf[self._pos:] + data
            self._pos = 0

    def feed_eof(self) -> None:
        self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes fed but not given out yet."""
        return len(self._buf) - self._pos

    @property
    def consumed(self) -> int:
        """Bytes given out so far: the input offset where the next segment or piece starts."""
        return self._dropped + self._pos

    # -- output --------------------------------------------------------------------------------
    def maybe_extract_segment(self) -> "Segment | _NeedData | None":
        """The next segment, NEED_DATA, or None at the end of the input."""
        while True:
            if self.delimiters is None:
                got = self._between_interchanges()
            else:
                got = self._inside_interchange()
            if got is not _AGAIN:
                return got  # type: ignore[return-value]

    def maybe_extract_transaction(self, limit: int) -> "Piece | _NeedData":
        """The raw bytes of the rest of the transaction whose ST was the last segment given out,
        as a Piece (see there), or NEED_DATA. A transaction longer than `limit` bytes comes in
        pieces of whole segments of at least `limit` bytes; call again for the next one. Only
        valid inside an interchange."""
        d = self.delimiters
        if d is None:
            raise RuntimeError("maybe_extract_transaction() outside an interchange")
        buf, pos = self._buf, self._pos
        blank = blank_bytes(d)
        first = skip_blank(buf, pos, blank)
        if first == len(buf) and not self._eof:
            return NEED_DATA
        if buf.startswith(_stops(d), first):
            return self._take(first, "cut", stop=_stop_id(buf, first, d))
        if buf.startswith((b"SE" + d.element, b"SE" + d.segment), first):
            se: int | None = first
        else:
            found = _boundary(d).search(buf, max(pos, self._searched))
            if found is not None and found.group(1) != b"SE":
                stop = found.start(1) if found.group(1) else found.start(2)
                return self._take(stop, "cut", stop=_stop_id(buf, stop, d))
            se = None if found is None else found.start(1)
            if se is None:
                # Every boundary starts at a terminator and holds none: one that starts before the
                # last terminator would have been found whole.
                self._searched = max(pos, buf.rfind(d.segment, pos))
        if se is not None:
            term = buf.find(d.segment, se)
            if term >= 0:
                end = skip_blank(buf, term + 1, blank)
                if end < len(buf) or self._eof:
                    return self._take(end, "SE", se=se - pos, se_end=term - pos)
            elif self._eof:
                return self._take(se, "eof")  # the SE has no terminator: a truncated input
            return NEED_DATA
        if self._eof:
            return self._take(_last_segment_end(buf, pos, len(buf), d), "eof")
        if len(buf) - pos > limit:
            cut = _last_segment_end(buf, pos, len(buf), d)
            if cut < len(buf) and cut > pos:  # only a cut after which a segment starts
                return self._take(cut, "more")
            if len(buf) - pos > _MAX_SEGMENT:
                raise X12SyntaxError(f"no segment terminator {d.segment_str!r} within {_MAX_SEGMENT >> 20} MiB",
                                     segment_number=self.number, where=self.where)
        return NEED_DATA

    # -- internals -----------------------------------------------------------------------------
    def _take(self, end: int, how: str, *, se: int = -1, se_end: int = -1, stop: str = "") -> Piece:
        data = self._buf[self._pos:end]
        count = data.count(self.delimiters.segment)  # type: ignore[union-attr]
        self._pos = end
        self.number += count
        self._searched = end
        return Piece(data, count, how, se, se_end, stop)

    def _between_interchanges(self) -> "Segment | _NeedData | None | object":
        buf, pos = self._buf, self._pos
        scan = pos
        if self._at_start and buf.startswith(_BOM, scan):
            scan += 3
        # Before the first ISA only whitespace may come; after one, NUL padding too.
        padding = _PADDING if self._seen_interchange else _WHITESPACE
        n = len(buf)
        while scan < n and buf[scan] in padding:
            scan += 1
        if not self._eof and ((self._at_start and n - pos < 3) or n - scan < ISA_LENGTH + 1):
            return NEED_DATA
        lead = buf[pos:scan]
        if scan >= n:
            if not self._seen_interchange:
                what = "input is empty" if not lead else "input holds only whitespace"
                raise X12SyntaxError(f"{what}: no ISA segment found", segment_number=self.number, where=self.where)
            self._pos = scan
            if lead:
                seg = Segment(b"", b"", self.number, self._last, lead)  # trailing layout, kept
                self.number += 1
                return seg
            return None
        if not buf.startswith(b"ISA", scan):
            raise X12SyntaxError(_explain_non_isa(buf[scan:scan + 40], self._seen_interchange),
                                 segment_number=self.number, where=self.where)
        found = detect_delimiters(buf[scan:scan + ISA_LENGTH], segment_number=self.number, where=self.where)
        data_end = scan + ISA_LENGTH - 1
        tail_end = skip_blank(buf, data_end + 1, blank_bytes(found))
        if tail_end == n and not self._eof:
            return NEED_DATA  # the line break after the ISA may go on in the next chunk
        self.delimiters = self._last = found
        self._seen_interchange = True
        self._at_start = False
        seg = Segment(buf[scan:data_end], buf[data_end:tail_end], self.number, found, lead)
        self.number += 1
        self._pos = tail_end
        return seg

    def _inside_interchange(self) -> "Segment | _NeedData | None | object":
        d = self.delimiters
        assert d is not None
        buf, pos = self._buf, self._pos
        n = len(buf)
        if buf.startswith(b"ISA", pos):
            # An ISA before the IEA: the previous interchange lost its trailer (truncated files
            # concatenated). Read it as an ISA with its own delimiters; one that is not a
            # fixed-width ISA is an error, not a segment named "ISA".
            if n - pos < 4 and not self._eof:
                return NEED_DATA
            if not buf[pos + 3:pos + 4].isalnum():
                self.delimiters = None
                return _AGAIN
        end = buf.find(d.segment, pos)
        if end < 0:
            if n - pos > _MAX_SEGMENT:
                raise X12SyntaxError(f"no segment terminator {d.segment_str!r} within {_MAX_SEGMENT >> 20} MiB",
                                     segment_number=self.number, where=self.where)
            if not self._eof:
                return NEED_DATA
            rest = buf[pos:]
            body = rest.rstrip(_PADDING)
            self._pos = n
            if body[:3] == b"IEA" and body[3:4] == d.element:
                # A last IEA without its terminator (seen in real files): keep it as is.
                seg = Segment(body, rest[len(body):], self.number, d)
                self.number += 1
                self.delimiters = None
                return seg
            if body:
                sid = body.split(d.element, 1)[0].lstrip(_WHITESPACE).decode("latin-1")
                raise X12SyntaxError(
                    f"input ends inside a segment (segment {safe_id(sid)} has no terminator {d.segment_str!r}): "
                    "the file is truncated", segment_number=self.number, where=self.where)
            if rest:
                seg = Segment(b"", b"", self.number, d, rest)
                self.number += 1
                return seg
            return None
        tail_end = end + 1
        if tail_end < n:
            blank = blank_bytes(d)
            if buf[tail_end] in blank:
                tail_end = skip_blank(buf, tail_end, blank)
                if tail_end == n and not self._eof:
                    return NEED_DATA  # the blank run may go on in the next chunk
        elif not self._eof:
            return NEED_DATA  # a line break may follow in the next chunk
        data = buf[pos:end]
        seg = Segment(data, buf[end:tail_end], self.number, d)
        self.number += 1
        self._pos = tail_end
        if data[:3] == b"IEA" and (len(data) == 3 or data[3:4] == d.element):
            self.delimiters = None
        return seg


_AGAIN = object()


def iter_segments(chunks: Iterable[bytes], *, where: str = "", delimiters: Delimiters | None = None,
                  first_number: int = 1) -> Iterator[Segment]:
    """Every segment of a stream of byte chunks (a Reader driven to the end)."""
    reader = Reader(where=where, delimiters=delimiters, first_number=first_number)
    it = iter(chunks)
    while True:
        got = reader.maybe_extract_segment()
        if got is NEED_DATA:
            chunk = next(it, None)
            if chunk is None:
                reader.feed_eof()
            else:
                reader.feed(chunk)
            continue
        if got is None:
            return
        yield got  # type: ignore[misc]


def split_segments(data: bytes, delimiters: Delimiters) -> list[bytes]:
    """The data of each whole segment in `data` (bytes of whole segments inside an interchange,
    each ended by the terminator), without their terminators and the blanks after them: one
    C-level split when no blank follows a terminator, else one regular-expression split."""
    term = delimiters.segment
    if not any(b in data for b in _tails(delimiters)):
        parts = data.split(term)
    else:
        parts = _blank_split(delimiters).split(data)
    parts.pop()  # what follows the last terminator (nothing, or its blanks)
    return parts


@functools.lru_cache(maxsize=64)
def _tails(delimiters: Delimiters) -> tuple[bytes, ...]:
    """Byte strings whose absence shows that no blank follows a terminator: CR, LF and tab
    anywhere (one memchr each), a space right after the terminator (names hold spaces)."""
    return tuple(bytes([b]) if b != 32 else delimiters.segment + b" " for b in blank_bytes(delimiters))


@functools.lru_cache(maxsize=64)
def _blank_split(d: Delimiters) -> "re.Pattern[bytes]":
    return re.compile(re.escape(d.segment) + blank_class(d) + b"*")


@functools.lru_cache(maxsize=64)
def _boundary(d: Delimiters) -> "re.Pattern[bytes]":
    """A terminator, blanks, then an SE, ST, GS, GE or IEA segment (id and element separator)
    or an ISA: the end of a transaction."""
    return re.compile(re.escape(d.segment) + blank_class(d) + b"*+(?:(SE|ST|GS|GE|IEA)(?=[" + re.escape(d.element)
                      + re.escape(d.segment) + b"])|(ISA))")


@functools.lru_cache(maxsize=64)
def _stops(d: Delimiters) -> tuple[bytes, ...]:
    """How a segment that ends a transaction without an SE starts (its id, then an element
    separator or its terminator)."""
    return tuple(sid + end for sid in (b"ST", b"GS", b"GE", b"IEA") for end in (d.element, d.segment)) + (b"ISA",)


@functools.lru_cache(maxsize=64)
def blank_bytes(d: Delimiters) -> frozenset[int]:
    """Layout bytes that may follow a terminator (CR, LF, space, tab), less any delimiter."""
    return frozenset(b for b in _WHITESPACE if bytes([b]) not in (d.segment, d.element))


@functools.lru_cache(maxsize=64)
def blank_class(d: Delimiters) -> bytes:
    """blank_bytes(d) as a regular-expression character class."""
    return b"[" + re.escape(bytes(sorted(blank_bytes(d)))) + b"]"


def skip_blank(buf: bytes, i: int, blank: frozenset[int]) -> int:
    """Index of the first byte at or after `i` that is not layout whitespace."""
    n = len(buf)
    while i < n and buf[i] in blank:
        i += 1
    return i


def _stop_id(buf: bytes, at: int, d: Delimiters) -> str:
    head = buf[at:at + 3]
    return "ISA" if head == b"ISA" else "IEA" if head == b"IEA" else head[:2].decode("latin-1")


def _last_segment_end(buf: bytes, start: int, stop: int, d: Delimiters) -> int:
    """The end (after terminator and blanks) of the last whole segment in buf[start:stop], or
    `start` if there is none."""
    k = buf.rfind(d.segment, start, stop)
    if k < 0:
        return start
    return skip_blank(buf, k + 1, blank_bytes(d))


def _explain_non_isa(head: bytes, after_interchange: bool) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:2] == b"\x00" or head[:1] == b"\x00":
        return (
            "input looks like UTF-16 text (NUL bytes between characters); X12 must be single-byte "
            "text: convert it first, e.g. iconv -f UTF-16 -t ASCII"
        )
    printable = sum(32 <= b < 127 or b in _WHITESPACE for b in head)
    if head and printable < len(head) * 0.8:
        # The first four bytes name most file types (%PDF, PK.., \x1f\x8b) and carry no data.
        return f"input is not X12 text (binary data starting {head[:4]!r}); expected an ISA segment"
    where = "after the last IEA" if after_interchange else "at the start of the input"
    # Quote no more than a segment identifier: the text may be a name or a member id.
    found = _SEGMENT_START.match(head)
    if found:
        return f"expected an ISA segment {where}, found a {found.group(1).decode()} segment"
    return f"expected an ISA segment {where}, found text that is not an X12 segment"
