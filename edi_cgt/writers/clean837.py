# The clean 837 writer: the input minus the rejected claims, with its envelope made right.
#
# Strategy: bytes are copied, never re-serialised. A transaction is written from the bytes it
# was held in (edi_cgt.x12.held): whole when nothing in it is rejected, otherwise by byte ranges
# from its claim index (edi_cgt.claims.index), leaving out each rejected claim (its CLM up to the
# next CLM, HL or SE) and each HL block all of whose claims were rejected. Only the segments
# whose numbers must change are rebuilt, element by element, keeping their terminator and line
# break: HL01/HL02 of the HLs after the first dropped one (renumbered in order), HL04 of an HL
# that lost all its children, SE01, and GE01/IEA01 after a transaction or group was left out
# whole. So when nothing is rejected the output is the input, byte for byte.
#
# The envelope is held back until it is known to be needed: the ISA until a group in it is
# written, the GS until a transaction is written. An HL block that held no claims at all is
# written as it came, and so is every block above it.
from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..claims.index import ClaimIndex
from ..x12.delimiters import Delimiters
from ..x12.held import HeldTransaction
from ..x12.reader import Segment

__all__ = ["CleanWriter"]


class CleanWriter:
    """Write ISA/GS/ST envelopes and transactions, dropping what the caller rejects."""

    def __init__(self, out: BinaryIO | None) -> None:
        self._out = out
        self._isa: Segment | None = None  # held back until something in it is written
        self._gs: Segment | None = None
        self._isa_written = False
        self._gs_written = False
        self._groups_dropped = 0  # groups of the current interchange left out whole
        self._tx_dropped = 0  # transactions of the current group left out whole

    # -- envelope ---------------------------------------------------------------------------
    def envelope(self, seg: Segment) -> None:
        """ISA, GS, GE, IEA, and anything else that stands outside a transaction."""
        sid = seg.id if seg.data else ""
        if sid == "ISA":
            self._settle_group()
            self._settle_interchange()
            self._isa, self._isa_written = seg, False
            self._groups_dropped = 0
        elif sid == "GS":
            self._settle_group()
            self._gs, self._gs_written = seg, False
            self._tx_dropped = 0
        elif sid == "GE":
            if self._gs is not None and not self._gs_written and self._tx_dropped:
                self._drop_group()  # every transaction of the group was dropped
                return
            self._flush_envelope()
            self._write(self._recount(seg, self._tx_dropped))
            self._gs = None
            self._tx_dropped = 0
        elif sid == "IEA":
            self._settle_group()
            if self._isa is not None and not self._isa_written and self._groups_dropped:
                self._isa = None  # nothing left in the interchange
                self._groups_dropped = 0
                return
            self._flush_envelope()
            self._write(self._recount(seg, self._groups_dropped))
            self._isa = None
            self._groups_dropped = 0
        else:
            raw = seg.raw
            if raw:
                self._flush_envelope()
                self._write(raw)

    def finish(self) -> None:
        """At end of input: decide the ISA/GS still held back (the input ended inside them):
        written as they came unless something in them was dropped."""
        self._settle_group()
        self._settle_interchange()

    def _settle_group(self) -> None:
        """A group that ends without its GE (another GS or ISA, or the end of input)."""
        if self._gs is not None and not self._gs_written:
            if self._tx_dropped:
                self._drop_group()
            else:
                self._flush_envelope()
        self._gs = None
        self._tx_dropped = 0

    def _settle_interchange(self) -> None:
        """An interchange that ends without its IEA."""
        if self._isa is not None and not self._isa_written and not self._groups_dropped:
            self._flush_envelope()
        self._isa = None
        self._groups_dropped = 0

    def _drop_group(self) -> None:
        self._gs = None
        self._tx_dropped = 0
        self._groups_dropped += 1

    # -- transactions -----------------------------------------------------------------------
    def drop_transaction(self) -> None:
        """Account for a transaction left out whole."""
        self._tx_dropped += 1

    def copy_transaction(self, chunks: Iterable[bytes]) -> None:
        """Write a whole transaction (ST..SE bytes) unchanged."""
        self._flush_envelope()
        for chunk in chunks:
            self._write(chunk)

    def cut_transaction(self, held: HeldTransaction, index: ClaimIndex, keep: bytearray, se: Segment) -> None:
        """Write one 837 transaction keeping claim k (in CLM order) when keep[k] is set. `index`
        has its structure built and carries claims; `se` is the transaction's SE segment."""
        gone = _left_out(index, keep)
        hl, clm = index.hl, index.clm
        if len(hl) and gone.count(1) == len(hl) and bisect.bisect_left(clm, hl[0]) == 0:
            self._tx_dropped += 1  # nothing is left (no claim before the first HL either): dropped whole
            return
        self._flush_envelope()
        pieces = _cut(held, index, keep, gone, se)
        if not held.spilled:  # in memory: one write
            self._write(b"".join(pieces))
            return
        for piece in pieces:
            self._write(piece)

    # -- internals --------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._out is not None:
            self._out.write(data)

    def _flush_envelope(self) -> None:
        if self._isa is not None and not self._isa_written:
            self._write(self._isa.raw)
            self._isa_written = True
        if self._gs is not None and not self._gs_written:
            self._write(self._gs.raw)
            self._gs_written = True

    @staticmethod
    def _recount(seg: Segment, dropped: int) -> bytes:
        """GE01/IEA01 less what was dropped. Nothing dropped: the trailer exactly as it came
        (a count that was wrong in the input stays the input's business)."""
        if not dropped:
            return seg.raw
        elements = list(seg.elements)
        if len(elements) < 2 or not elements[1].isdigit():
            return seg.raw
        elements[1] = str(max(int(elements[1]) - dropped, 0))
        return seg.with_elements(elements).raw


def _cut(held: HeldTransaction, index: ClaimIndex, keep: bytearray, gone: bytearray, se: Segment) -> Iterator[bytes]:
    """The bytes of a transaction with claims left out, in order, as they are worked out: byte
    ranges of `held` copied, left-out ranges skipped, HL segments rebuilt where their numbers
    change. Nothing is kept per claim or per HL beyond a few bytes each, so a transaction of any
    size is cut in about the same memory.

    Work is proportional to what changes: the HLs above a left-out claim are looked at (is
    everything under them left out?), and every HL after the first one left out is renumbered
    (a thousand at a time, from the offsets the index has); everything else
    is copied as byte ranges."""
    term = se.delimiters.segment
    hls = _Renumbering(held, index, gone, se.delimiters)
    pos = 0
    dropped = 0  # segments left out
    for start, end in _drops(index, keep, gone):
        if start < pos:
            continue  # (inside a range left out already)
        yield from hls.copy(pos, start)
        dropped += held.count(term, start, end)
        pos = end
    if dropped:
        yield from hls.copy(pos, index.se)
        els = se.elements + [""] * (2 - len(se.elements))  # (an SE without SE01 gets one)
        els[1] = str(index.segments - dropped)
        yield se.with_elements(els).raw
    else:
        yield from hls.copy(pos, held.size)


class _Renumbering:
    """The HL segments of a cut transaction as they are written: from the first HL left out on,
    each HL written gets the next number and its HL02 its parent's (the HLs before it keep
    theirs); an HL whose every child HL was left out gets HL04 0."""

    def __init__(self, held: HeldTransaction, index: ClaimIndex, gone: bytearray, d: Delimiters) -> None:
        self.held, self.index = held, index
        first = gone.find(1)
        self.first_gone = first if first >= 0 else len(index.hl)
        self.orphans = _orphans(index, gone)
        self.written = self.first_gone  # HLs written before the first one left out: all of them
        self.ids: list[tuple[int, bytes]] = [(-1, b"")] * 3  # by level: (HL, its HL01 as written), the last one
        self.elem, self.term = d.element, d.segment

    def copy(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes from `start` to `end` (a range kept), HL segments rebuilt where needed."""
        hl, first_gone = self.index.hl, self.first_gone
        j, stop = bisect.bisect_left(hl, start), bisect.bisect_left(hl, end)
        if j < first_gone:  # before the first HL left out, only an HL that lost its children changes
            o = self.orphans.find(1, j, min(stop, first_gone))
            j = o if o >= 0 else max(j, first_gone)
        if j >= stop:
            yield from self.held.chunks(start, end)
            return
        yield from self.held.chunks(start, hl[j])
        while j < stop:
            batch = min(stop, j + _BATCH)
            yield self._rebuilt(j, batch, hl[batch] if batch < stop else end)
            j = batch

    def _rebuilt(self, j: int, batch: int, end: int) -> bytes:
        """The bytes from HL j up to `end`, holding HLs j..batch-1, with those rebuilt: from the
        first HL left out on, HL01 and HL02 are new; an HL that lost its children gets HL04 0."""
        index, elem = self.index, self.elem
        hl, parent, level = index.hl, index.parent, index.level
        ids, orphans, first_gone = self.ids, self.orphans, self.first_gone
        base = hl[j]
        data = self.held.read(base, end)
        find = data.find
        out = []
        done = 0  # data[:done] is in `out`
        for i in range(j, batch):
            a = hl[i] - base + 3  # after "HL" and its element separator
            b = find(elem, a)  # the separator before HL02
            c = find(elem, b + 1)  # the separator before HL03 (an HL cut here has one)
            if c < 0:
                raise RuntimeError(f"internal error: HL {i} has no HL03 where the index found one")
            if i >= first_gone:
                self.written += 1
                own = b"%d" % self.written
                p = parent[i]
                if p < 0:
                    number = own + elem
                else:
                    got = ids[level[p]]
                    if got[0] != p:  # (p is before the first HL left out: its own HL01 stands)
                        got = ids[level[p]] = (p, self._own_id(p))
                    number = own + elem + got[1]
                out += (data[done:a], number)
                done = c
            else:
                own = data[a:b]
            ids[level[i]] = (i, own)
            if orphans[i] == 1:  # (2: looked at, not an orphan)
                rest_end = hl[i + 1] - base if i + 1 < batch else len(data)
                out += (data[done:c], self._childless(data[c:rest_end]))
                done = rest_end
        out.append(data[done:])
        return b"".join(out)

    def _childless(self, rest: bytes) -> bytes:
        """The rest of an HL segment (from the element separator before HL03) with HL04 1 made 0."""
        elem = self.elem
        t = rest.find(self.term)
        segment, after = (rest, b"") if t < 0 else (rest[:t], rest[t:])
        els = segment.split(elem)  # ["", HL03, HL04, ...]
        if len(els) > 2 and els[2] == b"1":
            els[2] = b"0"
        return elem.join(els) + after
    def _own_id(self, i: int) -> bytes:
        """HL i's own HL01 (it was written before any renumbering)."""
        start = self.index.hl[i]
        els = self.held.read(start, self.held.find(self.term, start)).split(self.elem)
        return els[1] if len(els) > 1 else b""


_BATCH = 1024  # HL segments rebuilt in one go


def _drops(index: ClaimIndex, keep: bytearray, gone: bytearray) -> Iterator[tuple[int, int]]:
    """(start, end) of each byte range left out, in order: every HL subtree all of whose claims
    are left out (from its top), and every other left-out claim."""
    hl, clm, parent = index.hl, index.clm, index.parent
    i = gone.find(1)
    k = keep.find(0)
    while i >= 0 or k >= 0:
        if i >= 0 and (k < 0 or hl[i] < clm[k]):
            if parent[i] < 0 or not gone[parent[i]]:  # the top of a left-out subtree
                yield hl[i], _region_end(index, _subtree_end(index, i))
            i = gone.find(1, i + 1)
        else:
            if not gone[index.claim_hl(k)]:
                yield clm[k], index.claim_end(k)
            k = keep.find(0, k + 1)


def _left_out(index: ClaimIndex, keep: bytearray) -> bytearray:
    """One byte per HL, 1 for those all of whose claims are left out, with no HL under them
    that has no claims (such an HL stays, as it came, and so does every HL above it): looked
    for only above left-out claims."""
    gone = bytearray(len(index.hl))
    seen = bytearray(len(index.hl))
    parent = index.parent
    k = keep.find(0)
    while k >= 0:
        i = index.claim_hl(k)
        while i >= 0 and not seen[i]:
            seen[i] = 1
            if not _all_left_out(index, keep, i):
                break
            gone[i] = 1
            i = parent[i]
        k = keep.find(0, k + 1)
    return gone


def _orphans(index: ClaimIndex, gone: bytearray) -> bytearray:
    """One byte per HL, 1 for an HL kept whose every child HL was left out (2: looked at, not one)."""
    parent = index.parent
    orphans = bytearray(len(index.hl))
    i = gone.find(1)
    while i >= 0:
        p = parent[i]
        if p >= 0 and not gone[p] and not orphans[p]:
            orphans[p] = 2 if _has_kept_child(index, p, gone) else 1
        i = gone.find(1, i + 1)
    return orphans


def _all_left_out(index: ClaimIndex, keep: bytearray, i: int) -> bool:
    hl, clm = index.hl, index.clm
    e = _subtree_end(index, i)
    ka = bisect.bisect_left(clm, hl[i])
    kb = bisect.bisect_left(clm, _region_end(index, e))
    if ka == kb or keep.find(1, ka, kb) >= 0:
        return False  # no claim under it, or one that stays
    level = index.level
    # every HL of the subtree without a child HL must have claims of its own
    return all(bisect.bisect_left(clm, _region_end(index, j + 1)) > bisect.bisect_left(clm, hl[j])
               for j in range(i, e) if j + 1 == e or level[j + 1] <= level[j])


def _subtree_end(index: ClaimIndex, i: int) -> int:
    """The index after HL i's subtree: the next HL of its level or above (HLs come in order)."""
    level = index.level
    ends = [e for e in (level.find(up, i + 1) for up in range(level[i] + 1)) if e >= 0]
    return min(ends) if ends else len(index.hl)


def _region_end(index: ClaimIndex, e: int) -> int:
    """The offset where HL e starts (the SE's for e past the last HL)."""
    return index.hl[e] if e < len(index.hl) else index.se


def _has_kept_child(index: ClaimIndex, p: int, gone: bytearray) -> bool:
    parent = index.parent
    return any(parent[j] == p and not gone[j] for j in range(p + 1, _subtree_end(index, p)))
