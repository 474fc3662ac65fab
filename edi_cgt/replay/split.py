# Cutting a big uncompressed input into pieces that replay in parallel.
#
# Strategy: one forward pass of the X12 reader (edi_cgt.x12.reader.Reader) over the stored
# bytes, fed in blocks of a few MiB, driven as the pipeline drives it: segments outside
# transactions one by one, each transaction after its ST as raw pieces of whole segments (a
# long one in several, never held whole). The reader alone says what a segment is, which bytes
# are layout, where a transaction ends and how segments are numbered; an Envelope (the one the
# pipeline keeps) says which interchange, group and transaction a segment belongs to; the only
# thing this module adds is where to cut, from the reader's byte count (Reader.consumed).
#
# A piece ends before an ST that the reader gives out right after a transaction that ended at
# its SE, or before an ISA right after an IEA (no padding between), at the first such place
# past the piece size, so every transaction is whole in one piece. A piece that starts inside
# an interchange gets that interchange's ISA and its group's GS carried in front; one that ends
# inside gets the group's GE and the interchange's IEA carried behind (the real ones, read
# further on). The pipeline therefore reads each piece as a complete 837 whose transactions
# are byte for byte those of the file. With each cut go the segments, transactions and
# interchanges before it (and the groups of its interchange), so that numbers read in a piece
# can be turned back into the file's (segment numbers in rejection rows, transaction,
# interchange and group ordinals in the 277CA).
#
# Anything unusual (the reader refusing the bytes, an ISA inside an interchange, a GS inside a
# group, a transaction without SE, an interchange never closed) stops the cutting: the cuts
# inside that interchange are taken back and what is left is one piece, read as a whole file
# would be. Compressed inputs are never cut (gzip has no random access).
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import store
from ..io import is_gzip, read_range
from ..x12.envelope import Envelope
from ..x12.errors import X12Error
from ..x12.reader import NEED_DATA, Reader, Segment
from ..x12.reader import Piece as TransactionPiece
from .inputs import SNIFF_BYTES, sniff

__all__ = ["Piece", "cut", "piece_chunks"]

_BLOCK = 4 << 20  # bytes read at a time
_LIMIT = 4 << 20  # a transaction longer than this comes from the reader in pieces


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


@dataclass(slots=True)
class _Cut:
    offset: int
    head: bytes  # the ISA and GS carried in front; empty for a cut at an ISA
    segments_before: int
    transactions_before: int
    interchanges_before: int
    groups_before: int  # in the interchange the cut is in
    ge: bytes = b""  # the GE and IEA carried behind the piece before (a cut inside an interchange)
    iea: bytes = b""


class _Stop(Exception):
    """Something unusual: no more cuts (see the module comment)."""


class _Scan:
    """The state of one forward pass (see the module comment)."""

    def __init__(self, fh: BinaryIO, piece_bytes: int, where: str) -> None:
        self.fh = fh
        self.piece_bytes = piece_bytes
        self.reader = Reader(where=where)
        self.env = Envelope()
        self.cuts: list[_Cut] = []
        self.waiting: list[_Cut] = []  # cuts inside the open interchange: need its GE and IEA
        self.next_cut = piece_bytes

    def run(self) -> list[_Cut]:
        first = self.fh.read(_BLOCK)
        if is_gzip(first) or sniff(first[:SNIFF_BYTES]) is not None:
            return []
        self.reader.feed(first)
        try:
            self._walk()
        except (X12Error, _Stop):
            pass
        # Cuts whose interchange was never closed would have no GE and IEA to carry.
        del self.cuts[len(self.cuts) - len(self.waiting):]
        return self.cuts

    def _pull(self) -> None:
        block = self.fh.read(_BLOCK)
        if block:
            self.reader.feed(block)
        else:
            self.reader.feed_eof()

    def _walk(self) -> None:
        reader, env = self.reader, self.env
        after_se = False  # the last thing read was a transaction that ended at its SE
        while True:
            seg = reader.maybe_extract_segment()
            if seg is NEED_DATA:
                self._pull()
                continue
            if seg is None:
                return
            assert isinstance(seg, Segment)
            sid = seg.id if seg.data else ""
            if sid == "ISA":
                if env.isa is not None:
                    raise _Stop  # an ISA inside an interchange
                if not seg.lead:
                    self._cut(seg, inside=False)
            elif sid == "ST":
                if after_se and env.gs is not None:
                    self._cut(seg, inside=True)
            elif sid == "GS":
                if env.gs is not None:
                    raise _Stop  # a GS inside a group: the next GE is not this group's
            elif sid == "GE":
                for c in self.waiting:
                    c.ge = c.ge or seg.raw
            elif sid == "IEA":
                for c in self.waiting:
                    c.iea = seg.raw
                self.waiting.clear()
            env.feed(seg)
            after_se = False
            if sid == "ST":
                self._transaction()  # through its SE (else no more cuts)
                after_se = True

    def _transaction(self) -> None:
        """Read the rest of the transaction whose ST was just read, through its SE."""
        reader = self.reader
        count = 1
        while True:
            got = reader.maybe_extract_transaction(_LIMIT)
            if got is NEED_DATA:
                self._pull()
                continue
            assert isinstance(got, TransactionPiece)
            count += got.segments
            if got.end != "more":
                break
        if got.end != "SE":
            raise _Stop  # a transaction without SE
        data = got.data
        se = Segment(data[got.se:got.se_end], data[got.se_end:], reader.number - 1, reader.delimiters)  # type: ignore[arg-type]
        self.env.skip_transaction(se, count)

    def _cut(self, seg: Segment, *, inside: bool) -> None:
        """Cut before `seg` (just read; the Envelope has not seen it yet) if the piece before is
        big enough: a cut at an ST is inside the current interchange and group (their ISA and GS
        carried in front), one at an ISA starts the next interchange."""
        offset = self.reader.consumed - len(seg.data) - len(seg.tail)
        if offset < self.next_cut:
            return
        env = self.env
        head = env.isa.data + env.isa.tail + env.gs.raw if inside else b""  # type: ignore[union-attr]
        c = _Cut(offset, head, seg.number - 1, env.transaction_index, env.interchange_index - inside,
                 env.group_index - 1 if inside else 0)
        self.cuts.append(c)
        if inside:
            self.waiting.append(c)
        self.next_cut = offset + self.piece_bytes


def cut(path: str, size: int, piece_bytes: int) -> list[Piece]:
    """The pieces of `path` (stored size `size`) of about `piece_bytes` each, or [] when it is
    not cut (smaller, compressed, not an 837, or no place to cut)."""
    if piece_bytes <= 0 or size <= piece_bytes:
        return []
    with store.open_read(path) as fh:
        cuts = _Scan(fh, piece_bytes, path).run()  # type: ignore[arg-type]
    if not cuts:
        return []
    pieces: list[Piece] = []
    bounds = [0] + [c.offset for c in cuts] + [size]
    for i in range(len(bounds) - 1):
        before = cuts[i - 1] if i else None
        after = cuts[i] if i < len(cuts) else None
        head = before.head if before else b""
        tail = b"" if after is None else after.ge + after.iea
        carried = 2 if head else 0
        pieces.append(Piece(
            path=path, index=i, count=len(bounds) - 1, start=bounds[i], end=bounds[i + 1], head=head, tail=tail,
            segment_offset=(before.segments_before - carried) if before else 0,
            transaction_offset=before.transactions_before if before else 0,
            interchange_offset=before.interchanges_before if before else 0,
            group_offset=before.groups_before if before else 0,
        ))
    return pieces
