# The clean 837 writer: the input minus the rejected claims, with its envelope made right.
#
# Strategy: bytes are copied, never re-serialised. Each segment is written from the exact bytes
# it was read from; only the segments whose numbers must change (HL01/HL02 after a dropped HL,
# SE01, GE01, IEA01 after something was dropped) are rebuilt, element by element, keeping their
# terminator and line break. So when nothing is rejected the output is the input, byte for byte.
#
# Everything above a claim is held back until it is known to be needed: the ISA until a group
# in it is written, the GS until a transaction is written, the ST header and each HL block (the
# HL with its 2010 name loops) until a claim beneath it is kept. A block whose claims were all
# rejected is never written; one that held no claims at all is written as it came. Memory is
# bounded by one HL path plus one claim's segments, never by the transaction.
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ..x12.reader import Segment

__all__ = ["CleanWriter", "TransactionResult"]

_PARENT_LEVEL = {"20": None, "22": "20", "23": "22"}


@dataclass(slots=True)
class _Block:
    """An HL segment and the non-claim segments that follow it (its 2010 loops)."""

    hl: Segment
    level: str
    parent: "_Block | None"
    body: list[bytes] = field(default_factory=list)  # raw bytes of the segments after the HL
    body_count: int = 0  # how many segments `body` holds
    written: bool = False
    new_id: str = ""
    claims: int = 0  # claims in this block's subtree
    kept: int = 0  # of which kept


@dataclass(frozen=True, slots=True)
class TransactionResult:
    written: bool  # False when every claim was rejected and the transaction was dropped
    claims: int
    kept: int
    segments_written: int


class CleanWriter:
    """Write ISA/GS/ST envelopes and transactions, dropping what the caller rejects."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._isa: Segment | None = None  # held back until something in it is written
        self._gs: Segment | None = None
        self._isa_written = False
        self._gs_written = False
        self._groups_dropped = 0  # groups of the current interchange left out whole
        self._tx_dropped = 0  # transactions of the current group left out whole
        self.bytes_written = 0

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
        """Account for a transaction left out whole (it failed syntax validation)."""
        self._tx_dropped += 1

    def copy_transaction(self, chunks: Iterable[bytes]) -> None:
        """Write a whole transaction (ST..SE bytes) unchanged."""
        self._flush_envelope()
        for chunk in chunks:
            self._write(chunk)

    def transaction(self, segments: Iterable[Segment], keep: Sequence[int]) -> TransactionResult:
        """Write one 837 transaction, keeping claim i (in CLM order) when keep[i] is true."""
        units = ((_unit_kind(seg), seg, 1) for seg in segments)
        return self.transaction_units(units, keep)

    def transaction_units(self, units: Iterable[tuple[str, "Segment | bytes", int]], keep: Sequence[int]) -> TransactionResult:
        """Like `transaction`, over units instead of single segments: ("HL", Segment, 1),
        ("SE", Segment, 1), ("CLM", bytes, n) for a claim's first n segments (or all of
        them), ("SEG", bytes, n) for n other segments. A caller that already knows where claims
        and HLs start (the fast path) can hand whole claims over as one unit."""
        state = _TransactionState(self, keep)
        for kind, payload, count in units:
            state.feed(kind, payload, count)
        return state.result

    # -- internals --------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

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


class _TransactionState:
    """HL bookkeeping for one transaction (kept apart so CleanWriter stays envelope-only)."""

    def __init__(self, writer: CleanWriter, keep: Sequence[int]) -> None:
        self.w = writer
        self.keep = keep
        self.header: list[bytes] = []
        self.header_count = 0
        self.header_written = False
        self.stack: list[_Block] = []
        self.last_of_level: dict[str, _Block] = {}
        self.claim_no = -1
        self.in_claim = False
        self.keep_claim = False
        self.claims = 0
        self.kept = 0
        self.dropped_segments = 0
        self.renumber = False  # becomes True after the first dropped HL
        self.hl_written = 0
        self.written = 0
        self.result = TransactionResult(False, 0, 0, 0)

    def feed(self, kind: str, payload: "Segment | bytes", count: int) -> None:
        if kind == "HL":
            self.in_claim = False
            self._open_block(payload)  # type: ignore[arg-type]
        elif kind == "CLM":
            self.claim_no += 1
            self.claims += 1
            self.in_claim = True
            self.keep_claim = bool(self.keep[self.claim_no]) if self.claim_no < len(self.keep) else True
            for block in self.stack:
                block.claims += 1
                if self.keep_claim:
                    block.kept += 1
            if self.keep_claim:
                self.kept += 1
                self._flush_path()
                self._emit(_raw(payload), count)
            else:
                self.dropped_segments += count
        elif kind == "SE":
            seg: Segment = payload  # type: ignore[assignment]
            self.in_claim = False
            self._close_blocks(len(self.stack))
            if self.claims and not self.kept and not self.header_written:
                self.w._tx_dropped += 1
                self.result = TransactionResult(False, self.claims, 0, 0)
                return  # nothing is left: the transaction is dropped whole
            self._flush_header()
            if self.dropped_segments:
                elements = list(seg.elements)
                elements[1] = str(self.written + 1)
                seg = seg.with_elements(elements)
            self._emit(seg.raw, 1)
            self.result = TransactionResult(True, self.claims, self.kept, self.written)
        elif self.in_claim:
            if self.keep_claim:
                self._emit(_raw(payload), count)
            else:
                self.dropped_segments += count
        elif self.stack:
            top = self.stack[-1]
            if top.written:
                # The block was flushed by a claim already: later loops follow directly.
                self._emit(_raw(payload), count)
            else:
                top.body.append(_raw(payload))
                top.body_count += count
        else:
            self.header.append(_raw(payload))
            self.header_count += count

    # -- blocks -----------------------------------------------------------------------------
    def _open_block(self, seg: Segment) -> None:
        level = seg.get(3)
        want = _PARENT_LEVEL.get(level)
        # Close the blocks this HL is not nested in (by level, as the walker reads them).
        depth = 0
        if want is not None:
            for i, block in enumerate(self.stack):
                if block.level == want:
                    depth = i + 1
        self._close_blocks(len(self.stack) - depth)
        parent = self.stack[-1] if self.stack else None
        self.stack.append(_Block(hl=seg, level=level, parent=parent))

    def _close_blocks(self, count: int) -> None:
        for _ in range(count):
            block = self.stack.pop()
            if block.written:
                continue
            if block.claims and not block.kept:
                # All claims under it were rejected: drop the HL and its name loops.
                self.dropped_segments += 1 + block.body_count
                self.renumber = True
            else:
                # No claims beneath it at all: it stays, as it came.
                self.stack.append(block)
                self._flush_path()
                self.stack.pop()

    def _flush_path(self) -> None:
        self._flush_header()
        for block in self.stack:
            if not block.written:
                self._write_block(block)

    def _write_block(self, block: _Block) -> None:
        self.hl_written += 1
        hl = block.hl
        if self.renumber:
            block.new_id = str(self.hl_written)
            elements = list(hl.elements)
            while len(elements) < 3:
                elements.append("")
            elements[1] = block.new_id
            elements[2] = block.parent.new_id if block.parent is not None else ""
            if elements[1:3] != hl.elements[1:3]:
                hl = hl.with_elements(elements)
        else:
            block.new_id = hl.get(1)
        block.written = True
        self._emit(hl.raw, 1)
        for raw in block.body:
            self.w._write(raw)
        self.written += block.body_count
        block.body.clear()

    def _flush_header(self) -> None:
        if not self.header_written:
            self.header_written = True
            self.w._flush_envelope()
            for raw in self.header:
                self.w._write(raw)
            self.written += self.header_count
            self.header.clear()

    def _emit(self, raw: bytes, count: int) -> None:
        self.w._write(raw)
        self.written += count


def _raw(payload: "Segment | bytes") -> bytes:
    return payload if isinstance(payload, bytes) else payload.raw


def _unit_kind(seg: Segment) -> str:
    data = seg.data
    if data[:2] == b"HL" or data[:2] == b"SE" or data[:3] == b"CLM":
        sid = seg.id
        if sid in ("HL", "SE", "CLM"):
            return sid
    return "SEG"
