# The claims of one held 837 transaction, read on demand.
#
# Strategy: the pipeline holds a transaction's bytes (edi_cgt.x12.held) and its claim index
# (edi_cgt.claims.index); this module answers what the pipeline asks of its claims without
# reading more than that: the header, which claims to read (those with a trigger code or a
# CLM02 that is not a number, or all), one claim with the HL levels above it (only the path of
# levels last read is kept, whatever the size of the transaction), and for the claims not read,
# how many there are in a row under one billing provider and what they charge. Segment numbers
# for messages are counted as offsets are asked, in order. Every read goes through the one
# ClaimReader (edi_cgt.claims.walker) and its grammar checks.
from __future__ import annotations

import bisect
from collections.abc import Iterator
from decimal import Decimal

from ..x12.delimiters import Delimiters
from ..x12.errors import TransactionError
from ..x12.held import HeldTransaction
from ..x12.reader import split_segments
from ..x12.values import sum_amounts
from .index import ClaimIndex, Patterns
from .model import Claim, Provider, TransactionInfo
from .walker import ClaimReader, EnvelopeContext, Level

__all__ = ["HeldClaims"]


class HeldClaims:
    """What a held transaction's claims say, read through `reader` (see the module comment)."""

    def __init__(self, held: HeldTransaction, index: ClaimIndex, patterns: Patterns, reader: ClaimReader, *,
                 st_number: int, delimiters: Delimiters) -> None:
        self.held, self.index, self.patterns, self.reader = held, index, patterns, reader
        self._st_number = st_number
        self._d = delimiters
        self._number_at = (0, st_number)  # (offset, number of the segment starting there)
        self._path: dict[int, tuple[int, Level | TransactionError]] = {}  # by level: the HL last read
        self._provider: tuple[int | None, Provider | None] = (None, None)  # the billing provider last asked

    # -- what to read -------------------------------------------------------------------------
    def header(self) -> TransactionInfo:
        """The transaction's header (ST up to the first HL or CLM); TransactionError if unreadable."""
        return self.reader.read_header(self._texts(0, self._header_end()), self._st_number)

    def wanted(self, read_all: bool) -> bytearray | None:
        """Which claims to read, one byte per claim (1: read it): every claim, or those with a
        trigger code or a CLM02 that is not a number; None when there is none. Where the CLM and
        HL segments are is found when there are any."""
        index = self.index
        if not index.claims or (not read_all and not index.hits and index.charges_ok):
            return None
        if not index.located:  # (pieces not located as they came are all still in memory)
            for offset, chunk in self.held.parts():
                index.locate(chunk, offset, self.patterns)
            index.located = True
        if read_all:
            return bytearray(b"\x01") * index.claims
        want = bytearray(index.claims)
        for k in map(index.claim_of, index.hits):
            if k is not None:
                want[k] = 1
        if not index.charges_ok:
            for k in self._odd_charges():
                want[k] = 1
        return want if 1 in want else None

    def tree_problem(self) -> tuple[int, str] | None:
        """(segment number, why) when an HL level cannot carry claims (no claim by claim then)."""
        if self.index.problem is None:
            return None
        offset = self.index.problem[0]
        text = self.index.problem_text(self.held.read(offset, self.held.find(self._d.segment, offset)))
        return self.number(offset), text

    # -- reading ------------------------------------------------------------------------------
    def read(self, k: int, claim_index: int) -> Claim:
        """Claim k with the HL levels above it; TransactionError when it cannot be read."""
        index = self.index
        misplaced = index.claim_problem(k)
        if misplaced is not None:  # (this claim alone: the others hang where they should)
            raise TransactionError(misplaced[1], segment_number=self.number(misplaced[0]))
        level = self._level(index.claim_hl(k))
        start = index.clm[k]
        return self.reader.read_claim(self._texts(start, index.claim_end(k)), self.number(start), level,
                                      claim_index=claim_index, st_number=self._st_number)

    def _level(self, i: int) -> Level:
        """The Level of HL i, reading it (and the HLs above it) unless it is the last one read
        of its level."""
        index, path = self.index, self._path
        lv = index.level[i]
        got = path.get(lv)
        if got is None or got[0] != i:
            p = index.parent[i]
            try:
                parent = self._level(p) if p >= 0 else None
                start = index.hl[i]
                level: Level | TransactionError = self.reader.read_level(
                    self._texts(start, index.block_end(i)), self.number(start), parent)
            except TransactionError as exc:
                level = exc
            got = path[lv] = (i, level)
            for deeper in range(lv + 1, 3):
                path.pop(deeper, None)
        if isinstance(got[1], TransactionError):
            raise got[1]
        return got[1]

    def claim_id(self, k: int) -> str:
        """CLM01 of claim k (from at most its first 200 bytes: a valid one has 38 characters)."""
        start = self.index.clm[k]
        data = self.held.read(start, min(self.held.find(self._d.segment, start), start + 200))
        parts = data.split(self._d.element)
        return parts[1].decode("latin-1") if len(parts) > 1 else ""

    def number(self, offset: int) -> int:
        """The number of the segment that starts at `offset` (cheapest when asked in order)."""
        at, number = self._number_at
        if offset < at:
            at, number = 0, self._st_number
        number += self.held.count(self._d.segment, at, offset)
        self._number_at = (offset, number)
        return number

    # -- the claims not read ------------------------------------------------------------------
    def unread(self, a: int, b: int) -> Iterator[tuple[int, int, Decimal, Provider | None]]:
        """(first, end, charges, billing provider) of claims a..b-1, none of them read, split
        where the billing provider (the level-20 HL above them) changes."""
        if a >= b:
            return
        for a2, b2, top in self._by_billing_provider(a, b):
            if self._provider[0] != top:
                self._provider = (top, self._billing_provider(top))
            yield a2, b2, self.charges(a2, b2), self._provider[1]

    def charges(self, a: int, b: int) -> Decimal:
        """The sum of CLM02 of claims a..b-1 (all numbers: odd ones are read)."""
        index = self.index
        values = index.clm02[a:b] if index.clm02 is not None else None
        if values is None:  # a transaction too big to keep them: read them again
            values = self.patterns.clm02_values(self.held.read(index.clm[a], index.claim_end(b - 1)))
        return sum_amounts(values) or Decimal(0)

    def _by_billing_provider(self, a: int, b: int) -> Iterator[tuple[int, int, int]]:
        """Claims a..b-1 split where the level-20 HL above them changes: (first, end, its index)."""
        index = self.index
        clm, hl, tops = index.clm, index.hl, index.tops
        t = bisect.bisect_right(tops, index.claim_hl(a)) - 1
        start = a
        for t2 in range(t + 1, len(tops)):
            split = bisect.bisect_left(clm, hl[tops[t2]], start, b)
            if split >= b:
                break
            if split > start:
                yield start, split, tops[t] if t >= 0 else -1
                start = split
            t = t2
        yield start, b, tops[t] if t >= 0 else -1

    def _billing_provider(self, i: int) -> Provider | None:
        """The 2010AA billing provider of level-20 HL i (None when there is none, or it cannot be
        read: its claims are only counted)."""
        if i < 0:
            return None
        got = self._path.get(0)
        if got is not None and got[0] == i and isinstance(got[1], Level):
            return got[1].billing_provider
        reader = ClaimReader(self._d, EnvelopeContext(self.reader.envelope.isa, None), kind="P", version="",
                             transaction_index=0)  # (its own notices are not reported twice)
        try:
            start = self.index.hl[i]
            return reader.read_level(self._texts(start, self.index.block_end(i)), 0, None).billing_provider
        except TransactionError:
            return None

    def _odd_charges(self) -> list[int]:
        """Claims whose CLM02 is not a number (one number rule: x12.values)."""
        index, p = self.index, self.patterns
        values = index.clm02
        if values is None:  # a transaction too big to keep them: read them again
            values = []
            for start in index.clm:  # (one CLM segment at a time)
                values += p.clm02_values(self.held.read(start, self.held.find(self._d.segment, start) + 1)) or [b""]
        return [k for k, value in enumerate(values) if sum_amounts([value]) is None]

    # -- bytes to segment texts ---------------------------------------------------------------
    def _header_end(self) -> int:
        """Where the header (ST up to the first HL or CLM) ends."""
        index, p = self.index, self.patterns
        if index.located:
            return min(index.hl[0] if len(index.hl) else index.se, index.clm[0] if len(index.clm) else index.se)
        for offset, chunk in self.held.parts():  # in memory: pieces of whole segments
            starts = []
            for first, pattern in ((p.hl_first, p.hl), (p.clm_first, p.clm)):
                m = first.match(chunk) if offset else None
                if m is not None:
                    starts.append(offset)
                elif (m := pattern.search(chunk)) is not None:
                    starts.append(offset + m.start(1))
            if starts:
                return min(starts)
        return index.se

    def _texts(self, start: int, end: int) -> list[str]:
        """The texts of the whole segments from `start` to `end`."""
        return [part.decode("latin-1") for part in split_segments(self.held.read(start, end), self._d)]
