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
        plan = _plan(held, index, keep, se)
        if plan is None:
            self._tx_dropped += 1  # nothing is left: the transaction is dropped whole
            return
        self._flush_envelope()
        if not held.spilled:  # in memory: one write
            self._write(b"".join(item if isinstance(item, bytes) else held.read(*item) for item in plan))
            return
        for item in plan:
            if isinstance(item, bytes):
                self._write(item)
            else:
                for chunk in held.chunks(item[0], item[1]):
                    self._write(chunk)

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


def _plan(held: HeldTransaction, index: ClaimIndex, keep: bytearray, se: Segment) -> "list[bytes | tuple[int, int]] | None":
    """What to write for a transaction with claims left out: byte ranges of `held` to copy and
    rebuilt segments, in order; None when nothing of it is left.

    Work is proportional to what changes: the HLs above a left-out claim are looked at (is
    everything under them left out?), and every HL after the first one left out is renumbered;
    everything else is copied as byte ranges."""
    hl, parent, clm = index.hl, index.parent, index.clm
    gone = _left_out(index, keep)
    if len(gone) == len(hl) and bisect.bisect_left(clm, hl[0]) == 0:
        return None  # nothing is left (no claim before the first HL either): dropped whole
    d = se.delimiters
    term, elem = d.segment, d.element
    drops: list[tuple[int, int]] = []  # byte ranges left out, in order
    for i in sorted(gone):
        if parent[i] not in gone:  # the top of a left-out subtree: all of it goes
            drops.append((hl[i], _region_end(index, _subtree_end(index, i))))
    k = keep.find(0)
    while k >= 0:
        if index.claim_hl(k) not in gone:
            drops.append((clm[k], index.claim_end(k)))
        k = keep.find(0, k + 1)
    drops.sort()
    # Renumbering: from the first HL left out on, each HL written gets the next number, and its
    # HL02 its parent's (the HLs before it keep theirs); an HL whose every child HL was left out
    # gets HL04 0.
    rewrites: list[tuple[int, int, bytes]] = []  # (start, end of data, new data) of HL segments
    first_gone = min(gone) if gone else len(hl)
    orphans = {p for i in gone if (p := parent[i]) >= 0 and p not in gone and not _has_kept_child(index, p, gone)}
    new_ids: dict[int, bytes] = {}
    written = first_gone  # HLs written before the first one left out: all of them
    for j in sorted(orphans) if first_gone == len(hl) else sorted({*orphans, *range(first_gone, len(hl))}):
        if j in gone:
            continue
        start = hl[j]
        end = held.find(term, start)
        els = held.read(start, end).split(elem)
        new = els + [b""] * (3 - len(els))
        if j >= first_gone:
            written += 1
            new[1] = new_ids[j] = b"%d" % written
            p = parent[j]
            new[2] = b"" if p < 0 else new_ids[p] if p >= first_gone else _own_id(held, index, p, new_ids)
        if j in orphans and len(new) > 4 and new[4] == b"1":
            new[4] = b"0"
        if new != els:
            rewrites.append((start, end, elem.join(new)))
    plan: list[bytes | tuple[int, int]] = []
    pos = 0
    dropped = 0  # segments left out
    for start, end, data in _merge(drops, rewrites):
        if start > pos:
            plan.append((pos, start))
        if data is None:
            dropped += held.count(term, start, end)
        else:
            plan.append(data)
        pos = end
    if dropped:
        plan.append((pos, index.se))
        els = se.elements + [""] * (2 - len(se.elements))  # (an SE without SE01 gets one)
        els[1] = str(index.segments - dropped)
        plan.append(se.with_elements(els).raw)
    else:
        plan.append((pos, held.size))
    return plan


def _left_out(index: ClaimIndex, keep: bytearray) -> set[int]:
    """The HLs all of whose claims are left out, with no HL under them that has no claims (such
    an HL stays, as it came, and so does every HL above it): looked for only above left-out
    claims."""
    gone: set[int] = set()
    seen: set[int] = set()
    parent = index.parent
    k = keep.find(0)
    while k >= 0:
        i = index.claim_hl(k)
        while i >= 0 and i not in seen:
            seen.add(i)
            if not _all_left_out(index, keep, i):
                break
            gone.add(i)
            i = parent[i]
        k = keep.find(0, k + 1)
    return gone


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


def _has_kept_child(index: ClaimIndex, p: int, gone: set[int]) -> bool:
    parent = index.parent
    return any(parent[j] == p and j not in gone for j in range(p + 1, _subtree_end(index, p)))


def _own_id(held: HeldTransaction, index: ClaimIndex, i: int, new_ids: dict[int, bytes]) -> bytes:
    """HL i's own HL01 (it was written before any renumbering)."""
    got = new_ids.get(i)
    if got is None:
        start = index.hl[i]
        els = held.read(start, held.find(index.delimiters.segment, start)).split(index.delimiters.element)
        got = new_ids[i] = els[1] if len(els) > 1 else b""
    return got


def _merge(drops: list[tuple[int, int]], rewrites: list[tuple[int, int, bytes]]) -> Iterator[tuple[int, int, bytes | None]]:
    """Left-out ranges (data None) and rewritten segments, in order (a rewrite inside a
    left-out range is dropped with it)."""
    items = sorted([(a, b, None) for a, b in drops] + rewrites, key=lambda x: x[0])
    end = -1
    for start, stop, data in items:
        if start < end:
            continue
        end = stop
        yield start, stop, data
