# Streaming segment reader: bytes in bounded chunks -> segments with their exact bytes.
#
# Strategy: the reader is a generator over an iterable of byte chunks, so it knows nothing of
# files, pipes or gzip (see edi_cgt.io for those). It keeps a small buffer, looks for an ISA,
# reads that interchange's delimiters from it, then cuts segments on the terminator with
# bytes.find. Every byte of the input belongs to exactly one segment:
#
#     lead  -- bytes before an ISA (UTF-8 byte-order mark, blank lines); ISA segments only
#     data  -- the segment text without its terminator
#     tail  -- the terminator plus any CR/LF/space/tab that follows it (pretty-printed files)
#
# so `lead + data + tail` over all segments reproduces the input byte for byte, and a writer
# that drops a segment drops its line break with it. After an IEA the delimiters are forgotten
# and the next interchange (concatenated files) brings its own; so does an ISA that comes
# before the IEA (a truncated file with another one appended). The reader judges only syntax:
# which bytes form a segment. Whether a segment id is known, or a count is right, is for the
# layers above; a segment that is empty or has a malformed id is still yielded, so nothing is
# lost before someone decides what to do with it.
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from .delimiters import ISA_LENGTH, Delimiters, detect_delimiters
from .errors import X12SyntaxError, safe_id

__all__ = ["Segment", "iter_segments", "split_segments", "held_segments", "is_tight", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 16
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_SEGMENT_START = re.compile(rb"([A-Z][A-Z0-9]{1,2})[^A-Za-z0-9 ]")
_MAX_SEGMENT = 64 << 20  # a "segment" longer than this means the terminator is wrong


class Segment:
    """One X12 segment and the exact bytes it was read from."""

    __slots__ = ("data", "tail", "lead", "number", "delimiters", "_elements", "_id")

    def __init__(
        self,
        data: bytes,
        tail: bytes,
        number: int,
        delimiters: Delimiters,
        lead: bytes = b"",
    ) -> None:
        self.data = data
        self.tail = tail
        self.lead = lead
        self.number = number  # 1-based ordinal over the whole input
        self.delimiters = delimiters
        self._elements: list[str] | None = None
        self._id: str | None = None

    # -- views ---------------------------------------------------------------------------
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
        sid = self._id
        if sid is None:
            data = self.data
            k = data.find(self.delimiters.element)
            sid = self._id = (data if k < 0 else data[:k]).decode("latin-1")
        return sid

    def get(self, position: int, default: str = "") -> str:
        """Element at `position` (1-based like X12: seg.get(1) is XX01), or `default`."""
        el = self._elements
        if el is None:
            el = self._elements = self.data.decode("latin-1").split(self.delimiters.element_str)
        return (el[position] or default) if position < len(el) else default

    def components(self, position: int) -> list[str]:
        """The components of a composite element (split on the component separator)."""
        value = self.get(position)
        return value.split(self.delimiters.component_str) if value else []

    def with_elements(self, elements: list[str]) -> "Segment":
        """A copy with new element values, keeping delimiters, lead and tail."""
        data = self.delimiters.element_str.join(elements).encode("latin-1")
        return Segment(data, self.tail, self.number, self.delimiters, self.lead)

    def __repr__(self) -> str:
        return f"<Segment #{self.number} {self.data[:60]!r}>"


def split_segments(data: bytes, delimiters: Delimiters, first_number: int = 1) -> Iterator[Segment] | None:
    """The segments of `data`, whole segments each ended by the terminator with nothing after
    it (one transaction held in memory, written without line breaks), by one split instead of
    the streaming reader: the same segments iter_segments gives. None for any other layout.
    The Segment objects are made as they are asked for (the split itself holds about twice
    the bytes of `data`)."""
    term = delimiters.segment
    if not data.endswith(term) or not is_tight(data, delimiters):
        return None
    parts = data.split(term)
    parts.pop()
    return (Segment(part, term, n, delimiters) for n, part in enumerate(parts, first_number))


def held_segments(data: bytes, delimiters: Delimiters, first_number: int = 1, where: str = "") -> Iterator[Segment]:
    """The segments of whole segments held in memory: split_segments when it applies, else the
    streaming reader."""
    return split_segments(data, delimiters, first_number) or iter_segments(
        [data], where=where, delimiters=delimiters, first_number=first_number)


def is_tight(data: bytes, delimiters: Delimiters) -> bool:
    """True when no blank (CR, LF, tab, space) follows any segment terminator in `data`, so
    that every segment starts right after a terminator."""
    return not any(b in data for b in _tails(delimiters))


@functools.lru_cache(maxsize=64)
def _tails(delimiters: Delimiters) -> tuple[bytes, ...]:
    """Byte strings whose absence shows that no blank follows a terminator: CR, LF and tab
    anywhere (one memchr each), a space right after the terminator (names hold spaces)."""
    return tuple(bytes([b]) if b != 32 else delimiters.segment + b" " for b in _blank_bytes(delimiters))


def iter_segments(
    chunks: Iterable[bytes],
    *,
    where: str = "",
    delimiters: Delimiters | None = None,
    first_number: int = 1,
) -> Iterator[Segment]:
    """Yield the segments of a stream of byte chunks.

    `delimiters` starts the reader inside an interchange (used to re-read a spooled
    transaction); otherwise the input must begin (after a byte-order mark or whitespace) with
    an ISA. Raises X12SyntaxError when the bytes cannot be cut into segments.
    """
    it = iter(chunks)
    buf = b""
    pos = 0
    eof = False
    number = first_number
    delims = delimiters
    last_delims = delimiters or Delimiters()
    seen_interchange = delimiters is not None
    at_start = True

    def more() -> bool:
        # Append the next non-empty chunk, dropping consumed bytes so that `pos` becomes 0.
        nonlocal buf, pos, eof
        if eof:
            return False
        for chunk in it:
            if chunk:
                buf = buf[pos:] + chunk
                pos = 0
                return True
        eof = True
        return False

    while True:
        if delims is None:
            # ---- between interchanges: skip BOM / whitespace, then expect an ISA ---------
            # Every retry restarts from `pos`, so a refill (which re-bases offsets) is safe.
            while True:
                scan = pos
                if at_start and buf.startswith(_BOM, scan):
                    scan += 3
                while scan < len(buf) and buf[scan] in _WHITESPACE:
                    scan += 1
                have = len(buf) - scan
                need_more = (at_start and len(buf) - pos < 3) or have < ISA_LENGTH + 1
                if need_more and more():
                    continue
                break
            lead = buf[pos:scan]
            if scan >= len(buf):
                if not seen_interchange:
                    what = "input is empty" if not lead else "input holds only whitespace"
                    raise X12SyntaxError(f"{what}: no ISA segment found", segment_number=number, where=where)
                if lead:
                    # Trailing whitespace after the last IEA: kept as a data-less segment.
                    yield Segment(b"", b"", number, last_delims, lead)
                return
            if not buf.startswith(b"ISA", scan):
                raise X12SyntaxError(
                    _explain_non_isa(buf[scan : scan + 40], seen_interchange), segment_number=number, where=where
                )
            found = detect_delimiters(buf[scan : scan + ISA_LENGTH], segment_number=number, where=where)
            data_end = scan + ISA_LENGTH - 1
            tail_end = _skip_blank(buf, data_end + 1, found)
            if tail_end == len(buf) and more():
                continue  # the line break after the ISA may go on in the next chunk
            delims = last_delims = found
            seen_interchange = True
            at_start = False
            yield Segment(buf[scan:data_end], buf[data_end:tail_end], number, delims, lead)
            number += 1
            pos = tail_end
            continue

        # ---- inside an interchange: cut on the terminator --------------------------------
        term = delims.segment
        element = delims.element
        blank = _blank_bytes(delims)
        while True:
            if buf.startswith(b"ISA", pos):
                # An ISA before the IEA: the previous interchange lost its trailer (truncated
                # files concatenated). Read the new ISA as an ISA, with its own delimiters;
                # one that is not a fixed-width ISA is an error, not a segment named "ISA".
                if len(buf) - pos < 4 and not eof and more():
                    continue
                if not buf[pos + 3 : pos + 4].isalnum():
                    delims = None
                    break
            end = buf.find(term, pos)
            if end >= 0:
                tail_end = end + 1
                if tail_end < len(buf):
                    if buf[tail_end] in blank:
                        tail_end = _skip_blank(buf, tail_end, blank)
                        if tail_end == len(buf) and not eof and more():
                            continue  # the blank run may go on in the next chunk
                elif not eof and more():
                    continue  # a line break may follow in the next chunk
            else:
                if len(buf) - pos > _MAX_SEGMENT:
                    raise X12SyntaxError(
                        f"no segment terminator {delims.segment_str!r} within {_MAX_SEGMENT >> 20} MiB",
                        segment_number=number,
                        where=where,
                    )
                if more():
                    continue
                rest = buf[pos:]
                body = rest.rstrip(_WHITESPACE)
                if body[:3] == b"IEA" and body[3:4] == element:
                    # A last IEA without its terminator (seen in real files): keep it as is.
                    yield Segment(body, rest[len(body) :], number, delims)
                    return
                if body:
                    sid = body.split(element, 1)[0].lstrip(_WHITESPACE).decode("latin-1")
                    raise X12SyntaxError(
                        f"input ends inside a segment (segment {safe_id(sid)} has no terminator "
                        f"{delims.segment_str!r}): the file is truncated",
                        segment_number=number,
                        where=where,
                    )
                if rest:
                    yield Segment(b"", b"", number, delims, rest)
                return
            data = buf[pos:end]
            seg = Segment(data, buf[end:tail_end], number, delims)
            number += 1
            pos = tail_end
            request = yield seg
            while request is not None:
                # The consumer asked, by send(("through_se", limit)), for the raw bytes of the
                # rest of the transaction it is in: give them (and how many segments they hold)
                # without cutting segments, or None if no SE comes within `limit` bytes.
                _, limit = request
                while True:
                    found = _find_transaction_end(buf, pos, delims, eof)
                    if found is None and len(buf) - pos <= limit and not eof and more():
                        continue
                    break
                taken = None
                if found is not None and found > 0:
                    body = buf[pos:found]
                    skipped = body.count(term)
                    number += skipped
                    pos = found
                    taken = (body, skipped)
                request = yield taken
            if data[:3] == b"IEA" and (len(data) == 3 or data[3:4] == element):
                delims = None
                break


def _find_transaction_end(buf: bytes, pos: int, delims: Delimiters, eof: bool) -> int | None:
    """End offset (after the SE segment's terminator and line break) of the transaction whose
    body starts at `pos`; None when the buffer does not hold it yet; -1 when another ST or an
    envelope segment comes before any SE (the transaction has no SE of its own: the caller
    then reads segment by segment, and the envelope sees that segment where it is).

    Checking for an ST is enough for this interchange: the SE of any later transaction comes
    after that one's ST, and a transaction cut short at the end of the input has no SE to find
    at all. An ISA is checked too: it starts a new interchange, possibly with other delimiters,
    whose bytes must not be taken as this transaction's (an "SE" there is not this SE). A GS,
    GE or IEA inside closes or opens a group or interchange for what follows."""
    term, element = delims.segment, delims.element
    blank = _blank_bytes(delims)
    first = _skip_blank(buf, pos, blank)
    if buf.startswith((b"ST" + element, b"GS" + element, b"GE" + element, b"IEA" + element, b"ISA"), first):
        return -1
    if buf.startswith(b"SE" + element, first):
        se = first
    else:
        # the first SE, ST or envelope segment after a terminator (and blanks), in one search
        found = _boundary(delims).search(buf, pos)
        if found is None:
            return None
        if found.group(1) != b"SE":
            return -1
        se = found.start(1)
    end = buf.find(term, se)
    if end < 0:
        return None
    end += 1
    if end < len(buf) and buf[end] in blank:
        end = _skip_blank(buf, end, blank)
    if end == len(buf) and not eof:
        return None  # cannot know yet whether a line break follows
    return end


@functools.lru_cache(maxsize=64)
def _boundary(delims: Delimiters) -> "re.Pattern[bytes]":
    """A terminator, blanks, then an SE, ST, GS, GE or IEA segment (id and element separator)
    or an ISA."""
    blank = re.escape(bytes(sorted(_blank_bytes(delims))))
    return re.compile(re.escape(delims.segment) + b"[" + blank + b"]*+(SE|ST|GS|GE|IEA)" + re.escape(delims.element)
                      + b"|" + re.escape(delims.segment) + b"[" + blank + b"]*+(ISA)")


@functools.lru_cache(maxsize=64)
def _blank_bytes(delims: Delimiters) -> frozenset:
    return frozenset(b for b in _WHITESPACE if bytes([b]) not in (delims.segment, delims.element))


def _skip_blank(buf: bytes, i: int, blank: "frozenset[int] | Delimiters") -> int:
    """Index of the first byte at or after `i` that is not layout whitespace (nor a delimiter)."""
    if isinstance(blank, Delimiters):
        blank = _blank_bytes(blank)
    n = len(buf)
    while i < n and buf[i] in blank:
        i += 1
    return i


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
