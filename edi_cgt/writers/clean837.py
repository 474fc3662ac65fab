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

from collections.abc import Iterable
from typing import BinaryIO

from ..claims.index import ClaimIndex
from ..x12.held import HeldTransaction
from ..x12.reader import Segment, blank_bytes, skip_blank

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
    rebuilt segments, in order; None when nothing of it is left."""
    hl, parent, claim_hl, clm = index.hl, index.parent, index.claim_hl, index.clm
    count = len(hl)
    direct = [0] * count  # claims right under each HL
    kept_direct = [0] * count
    for k, i in enumerate(claim_hl):
        direct[i] += 1
        kept_direct[i] += keep[k]
    # Bottom-up (a parent comes before its children): a block stays when a claim under it
    # stays, or when it has no claims under it at all.
    under = direct[:]
    children = [0] * count
    kept_children = [0] * count
    stays = [False] * count
    for i in range(count - 1, -1, -1):
        stays[i] = kept_direct[i] > 0 or kept_children[i] > 0 or under[i] == 0
        p = parent[i]
        if p >= 0:
            under[p] += under[i]
            children[p] += 1
            kept_children[p] += stays[i]
    if not any(stays):
        return None
    d = se.delimiters
    term = d.segment
    plan: list[bytes | tuple[int, int]] = []

    def copy(start: int, end: int) -> None:
        if start >= end:
            return
        last = plan[-1] if plan else None
        if isinstance(last, tuple) and last[1] == start:
            plan[-1] = (last[0], end)
        else:
            plan.append((start, end))

    copy(0, hl[0])
    dropped = 0  # segments left out
    renumber = False  # from the first dropped HL on, HLs are numbered by their place
    written = 0
    new_ids: dict[int, str] = {}
    k = 0
    for i in range(count):
        start = hl[i]
        stop = hl[i + 1] if i + 1 < count else index.se
        first_claim = k
        while k < len(clm) and clm[k] < stop:
            k += 1
        if not stays[i]:
            dropped += held.count(term, start, stop)
            renumber = True
            continue
        written += 1
        orphaned = children[i] > kept_children[i] == 0  # every HL below it was left out
        if not renumber and not orphaned:
            copy(start, index.block_end(i))
        else:
            seg_end = held.find(term, start) + 1
            tail_end = seg_end + skip_blank(held.read(seg_end, seg_end + 64), 0, blank_bytes(d))
            els = held.read(start, seg_end - 1).decode("latin-1").split(d.element_str)
            new = els + [""] * (3 - len(els))
            if renumber:
                new[1] = str(written)
                new[2] = _written_id(held, index, parent[i], new_ids) if parent[i] >= 0 else ""
                new_ids[i] = new[1]
            if orphaned and len(new) > 4 and new[4] == "1":
                new[4] = "0"
            if new != els:
                plan.append(d.element_str.join(new).encode("latin-1") + held.read(seg_end - 1, tail_end))
                copy(tail_end, index.block_end(i))
            else:
                copy(start, index.block_end(i))
        for j in range(first_claim, k):
            end = index.claim_end(j)
            if keep[j]:
                copy(clm[j], end)
            else:
                dropped += held.count(term, clm[j], end)
    if dropped:
        els = se.elements + [""] * (2 - len(se.elements))  # (an SE without SE01 gets one)
        els[1] = str(index.segments - dropped)
        plan.append(se.with_elements(els).raw)
    else:
        copy(index.se, held.size)
    return plan


def _written_id(held: HeldTransaction, index: ClaimIndex, i: int, new_ids: dict[int, str]) -> str:
    """The HL01 that HL i was written with: its renumbered id, or its own if it came before
    any renumbering."""
    got = new_ids.get(i)
    if got is None:
        start = index.hl[i]
        els = held.read(start, held.find(index.delimiters.segment, start)).split(index.delimiters.element)
        got = els[1].decode("latin-1") if len(els) > 1 else ""
    return got
