# The fast path: recognise "no policy rejection possible here" with byte searches.
#
# Strategy: the policy guarantees (edi_cgt.policy.trigger_codes) that a claim none of whose
# service lines carries a trigger code gets no finding. So for one transaction held in memory
# we search its bytes for the component separator followed by a trigger code (bytes.find on a
# few short prefixes, then a regex check at each hit). With no hit, the transaction is copied
# through untouched; claims are only counted (and their charges summed) by a regex over the CLM
# segments. With hits, only the claims that contain them are read, each with the header and
# the HL blocks it hangs under, by the ordinary walker, so they are decided exactly as on the
# slow path. If any of them is rejected (or anything looks unusual), the caller runs the slow
# path on the whole transaction, which then writes it; so outputs are identical with and
# without this module, and it only ever decides "copy this transaction as it is".
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from .claims.model import Claim, Provider
from .claims.screen import hl_tree_is_plain
from .claims.walker import EnvelopeContext, TransactionWalker
from .x12.delimiters import Delimiters
from .x12.reader import Segment, held_segments, is_tight

__all__ = ["TriggerScanner", "TransactionScan", "read_hit_claims", "provider_runs", "plan_units", "layout", "Layout"]

_BLANK = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class TransactionScan:
    """What a scan of one transaction found."""

    claims: int  # CLM segments
    charges: Decimal  # sum of CLM02
    clm_offsets: tuple[int, ...]  # where each CLM segment starts
    hits: tuple[int, ...]  # offsets of trigger codes
    clm_charges: tuple[Decimal, ...] = ()  # each claim's CLM02, when clm_offsets are known


class TriggerScanner:
    """Byte-level search for trigger codes, for one set of delimiters at a time."""

    def __init__(self, codes: frozenset[str]) -> None:
        self.codes = frozenset(c.upper() for c in codes)
        self._cache: dict[tuple[bytes, bytes, bytes], tuple] = {}

    def _compiled(self, d: Delimiters) -> tuple:
        key = (d.element, d.component, d.segment)
        got = self._cache.get(key)
        if got is None:
            comp, elem, term = re.escape(d.component), re.escape(d.element), re.escape(d.segment)
            alternatives = b"|".join(re.escape(c.encode()) for c in sorted(self.codes, key=len, reverse=True))
            verify = re.compile(comp + b"(?:" + alternatives + b")(?=" + comp + b"|" + elem + b"|" + term + b"|$)", re.I)
            heads: set[bytes] = set()
            for code in self.codes:
                heads.add(re.escape(code[:3].encode()))
                heads.add(re.escape(code[:3].lower().encode()))
            # A cheap first pass (a literal separator, then a 3-byte alternation) finds
            # candidates at regex-engine speed; `verify` confirms each one.
            prefix = re.compile(comp + b"(?:" + b"|".join(sorted(heads)) + b")")
            clm = re.compile(b"CLM" + elem + b"([^" + elem + term + b"]*)" + elem + b"([^" + elem + term + b"]*)")
            field = b"([^" + elem + term + b"]*)"
            hl = re.compile(term + b"[ \t\r\n]*HL" + elem + field + elem + field + elem + field)
            first_clm = re.compile(term + b"[ \t\r\n]*CLM" + elem)
            # Without line breaks after terminators (the usual file), segments start right after
            # a terminator: patterns that begin with terminator + id run at literal-search speed.
            tight_clm = re.compile(term + b"CLM" + elem + field + elem + field)
            tight_hl = re.compile(term + b"HL" + elem + field + elem + field + elem + field)
            got = self._cache[key] = (verify, prefix, clm, hl, first_clm, tight_clm, tight_hl)
        return got

    def scan(self, data: bytes, d: Delimiters) -> TransactionScan | None:
        """Scan one transaction's bytes. None when the slow path must read it: a CLM charge
        that is not a number, or HL numbering the walker would report."""
        verify, prefix, clm, hl, first_clm, tight_clm, tight_hl = self._compiled(d)
        if is_tight(data, d):
            return self._scan_tight(data, d, verify, prefix, tight_clm, tight_hl)
        if not hl_tree_is_plain(hl.findall(data)):
            return None  # the walker has something to report about the HLs: slow path
        c, h = first_clm.search(data), hl.search(data)
        if c is not None and (h is None or c.start() < h.start()):
            return None  # a claim before any HL: the walker refuses it, slow path
        hits = [m.start() for m in prefix.finditer(data) if verify.match(data, m.start())]
        term = d.segment
        total = Decimal(0)
        offsets: list[int] = []
        charges_each: list[Decimal] = []
        if not hits and data.count(b"CLM" + d.element) == data.count(term + b"CLM" + d.element):
            # Every "CLM*" directly follows a terminator, so each is a segment: sum the charges
            # without positions (the common case for files without line breaks).
            try:
                total = _sum_charges(clm.findall(data), d)
            except InvalidOperation:
                return None
            count = data.count(term + b"CLM" + d.element)
            return TransactionScan(count, total, (), ())
        t = term[0]
        for m in clm.finditer(data):
            start = m.start()
            j = start - 1
            while j >= 0 and data[j] in _BLANK and data[j] != t:
                j -= 1
            if j >= 0 and data[j] != t:
                continue  # "CLM*" inside another segment's text
            offsets.append(start)
            try:
                charge = Decimal(m.group(2).decode("latin-1") or "0")
            except InvalidOperation:
                return None
            total += charge
            charges_each.append(charge)
        return TransactionScan(len(offsets), total, tuple(offsets), tuple(hits), tuple(charges_each))

    @staticmethod
    def _scan_tight(data: bytes, d: Delimiters, verify, prefix, clm, hl) -> TransactionScan | None:
        """scan() for a transaction without line breaks after its terminators."""
        if not hl_tree_is_plain(hl.findall(data)):
            return None
        c, h = data.find(d.segment + b"CLM" + d.element), data.find(d.segment + b"HL" + d.element)
        if c >= 0 and (h < 0 or c < h):
            return None  # a claim before any HL: the walker refuses it, slow path
        hits = [m.start() for m in prefix.finditer(data) if verify.match(data, m.start())]
        try:
            if not hits:
                charges = clm.findall(data)
                return TransactionScan(len(charges), _sum_charges(charges, d), (), ())
            offsets: list[int] = []
            each: list[Decimal] = []
            for m in clm.finditer(data):
                offsets.append(m.start() + 1)
                each.append(Decimal(m.group(2).decode("latin-1") or "0"))
        except InvalidOperation:
            return None
        return TransactionScan(len(offsets), sum(each, Decimal(0)), tuple(offsets), tuple(hits), tuple(each))


def _sum_charges(clm_fields: list[tuple[bytes, bytes]], d: Delimiters) -> Decimal:
    """The sum of CLM02 over (CLM01, CLM02) pairs, decoded in one go: joined on the element
    separator, which no element holds. Raises InvalidOperation for a charge that is not a number."""
    if not clm_fields:
        return Decimal(0)
    text = d.element.join(c2 or b"0" for _, c2 in clm_fields).decode("latin-1")
    return sum(map(Decimal, text.split(d.element_str)), Decimal(0))


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the HL segments of a transaction are, their levels and (by level) parents."""

    hl_starts: tuple[int, ...]
    hl_levels: tuple[str, ...]
    hl_parent: tuple[int, ...]  # index of the parent HL, -1 for none
    se_start: int


def layout(data: bytes, d: Delimiters) -> Layout | None:
    """The HL layout of one transaction; None when it has no SE segment to find."""
    try:
        return _layout(data, d)
    except _Unusual:
        return None


def _layout(data: bytes, d: Delimiters) -> Layout:
    term, elem = d.segment, d.element
    starts = _segment_starts(data, b"HL" + elem, term)
    levels: list[str] = []
    parents: list[int] = []
    last: dict[str, int] = {}
    for i, start in enumerate(starts):
        fields = data[start : data.find(term, start)].split(elem)
        level = fields[3].decode("latin-1") if len(fields) > 3 else ""
        want = {"22": "20", "23": "22"}.get(level)
        parents.append(last.get(want, -1) if want else -1)
        levels.append(level)
        last[level] = i
        if level == "20":
            last.pop("22", None)
            last.pop("23", None)
        elif level == "22":
            last.pop("23", None)
    return Layout(tuple(starts), tuple(levels), tuple(parents), _last_segment_start(data, b"SE" + elem, term))


class _Unusual(Exception):
    """The transaction does not have the simple shape the fast path reads; use the slow path."""


def read_hit_claims(
    data: bytes,
    scan: TransactionScan,
    lay: Layout,
    *,
    st_number: int,
    delimiters: Delimiters,
    envelope: EnvelopeContext,
    transaction_index: int,
    claims_before: int,
) -> dict[int, Claim] | None:
    """The claims that contain trigger hits (by index in CLM order), each read with its header
    and HL context.

    Returns None when the transaction has a shape this reader does not handle (a hit outside
    a claim, no HL, an error while walking): the caller then takes the slow path."""
    try:
        return _read_hit_claims(data, scan, lay, st_number, delimiters, envelope, transaction_index, claims_before)
    except Exception:  # noqa: BLE001 - any surprise means: let the slow path decide
        return None


def _read_hit_claims(data, scan, lay, st_number, d, envelope, transaction_index, claims_before) -> dict[int, Claim]:
    term = d.segment
    offsets = scan.clm_offsets
    hl_starts = lay.hl_starts
    if not hl_starts or not offsets:
        raise _Unusual("no HL or no CLM")
    se_start = lay.se_start
    header = data[: hl_starts[0]]
    claims: dict[int, Claim] = {}
    counted_to = counted = 0  # segments before offset counted_to (hits come in order)
    for hit in scan.hits:
        k = bisect.bisect_right(offsets, hit) - 1
        if k < 0:
            raise _Unusual("trigger code before the first claim")
        if k in claims:
            continue
        start = offsets[k]
        # the claim ends at the next CLM, HL or SE segment
        nxt = [x for x in (offsets[k + 1] if k + 1 < len(offsets) else None,
                           _next_after(hl_starts, start), se_start) if x is not None and x > start]
        end = min(nxt)
        if hit >= end:
            raise _Unusual("trigger code outside a claim")
        context = _hl_context(data, lay, offsets, start)
        body = header + b"".join(context) + data[start:end] + data[se_start:]
        walker = TransactionWalker(envelope, transaction_index=transaction_index, claim_index_start=claims_before + k)
        prefix_segments = 0
        found: Claim | None = None
        for seg in held_segments(body, d, st_number):
            if seg.data[:3] == b"CLM" and seg.id == "CLM":
                prefix_segments = seg.number - st_number  # segments before CLM in `body`
            got = walker.feed(seg)
            if got is not None:
                found = got
        if found is None or found.location is None:
            raise _Unusual("claim not read")
        counted += data.count(term, counted_to, start)  # segments before the CLM in the transaction
        counted_to = start
        before = counted
        delta = before - prefix_segments
        found = replace(
            found,
            location=replace(found.location, segment_number=st_number + before, position_in_transaction=before + 1),
            lines=tuple(replace(ln, segment_index=ln.segment_index + delta) for ln in found.lines),
        )
        claims[k] = found
    return claims


def provider_runs(
    data: bytes, scan: TransactionScan, lay: Layout, *, st_number: int, delimiters: Delimiters,
    envelope: EnvelopeContext,
) -> list[tuple[int, int, Provider | None]] | None:
    """The claims of a transaction by billing provider: (first claim index, end index, the
    provider the walker gives their 2010AA), in order. None for a shape this does not read."""
    try:
        return _provider_runs(data, scan, lay, st_number, delimiters, envelope)
    except Exception:  # noqa: BLE001 - any surprise means: let the slow path decide
        return None


def _provider_runs(data, scan, lay, st_number, d, envelope) -> list[tuple[int, int, Provider | None]]:
    starts, offsets = lay.hl_starts, scan.clm_offsets
    if not starts or not offsets or offsets[0] < starts[0]:
        raise _Unusual("claims before the first HL")
    header = data[: starts[0]]
    runs: list[tuple[int, int, Provider | None]] = []
    known: dict[bytes, Provider | None] = {}  # by the bytes of the 2010AA loops after the HL
    for i, level in enumerate(lay.hl_levels):
        if level != "20":
            continue
        end = starts[i + 1] if i + 1 < len(starts) else lay.se_start
        loops = data[data.index(d.segment, starts[i]) + 1 : end]
        if loops not in known:
            walker = TransactionWalker(envelope)
            block = header + data[starts[i] : end]
            for seg in held_segments(block, d, st_number):
                walker.feed(seg)
            known[loops] = walker.billing_provider
        first = bisect.bisect_left(offsets, starts[i])
        if runs:
            runs[-1] = (runs[-1][0], first, runs[-1][2])
        runs.append((first, len(offsets), known[loops]))
    if not runs or runs[0][0] != 0:
        raise _Unusual("claims before the first billing provider")
    return runs


def _hl_context(data: bytes, lay: Layout, clm_starts: tuple[int, ...], claim_start: int) -> list[bytes]:
    """The HL blocks (HL segment through the segment before the next HL or CLM) that the claim
    at `claim_start` hangs under: its own level and, by level and order, its ancestors."""
    starts = lay.hl_starts
    i = bisect.bisect_right(starts, claim_start) - 1
    if i < 0:
        raise _Unusual("claim before any HL")
    if lay.hl_levels[i] not in ("22", "23"):
        raise _Unusual("claim under an HL that is not a subscriber or patient")
    blocks: list[bytes] = []
    while i >= 0:
        start = starts[i]
        block_end = claim_start
        if i + 1 < len(starts):
            block_end = min(block_end, starts[i + 1])
        nxt = _next_after(clm_starts, start)
        if nxt is not None:
            block_end = min(block_end, nxt)
        blocks.append(data[start:block_end])
        if lay.hl_levels[i] == "20":
            break
        i = lay.hl_parent[i]
    else:
        raise _Unusual("HL parent level not found")
    blocks.reverse()
    return blocks


def _segment_starts(data: bytes, start: bytes, term: bytes) -> list[int]:
    out = []
    t = term[0]
    i = data.find(start)
    while i >= 0:
        j = i - 1
        while j >= 0 and data[j] in _BLANK and data[j] != t:
            j -= 1
        if j < 0 or data[j] == t:
            out.append(i)
        i = data.find(start, i + 1)
    return out


def _last_segment_start(data: bytes, start: bytes, term: bytes) -> int:
    starts = _segment_starts(data, start, term)
    if not starts:
        raise _Unusual("no SE")
    return starts[-1]


def _next_after(sorted_offsets, pos: int) -> int | None:
    i = bisect.bisect_right(sorted_offsets, pos)
    return sorted_offsets[i] if i < len(sorted_offsets) else None


# ---------------------------------------------------------------------------------------------
# Dropping rejected claims by byte ranges: units for CleanWriter.transaction_units.


def plan_units(data: bytes, scan: TransactionScan, lay: Layout, d: Delimiters,
               st_number: int) -> tuple[list, int] | None:
    """Cut one transaction (ST..SE bytes) into writer units: the header, each HL segment and
    the rest of its block, each claim whole, the SE. Returns (units, number of claims), or
    None when the shape is unusual (the caller then re-reads segment by segment)."""
    try:
        return _plan_units(data, scan, lay, d, st_number)
    except _Unusual:
        return None


def _plan_units(data: bytes, scan: TransactionScan, lay: Layout, d: Delimiters, st_number: int) -> tuple[list, int]:
    term = d.segment
    hl_starts, se_start, offsets = lay.hl_starts, lay.se_start, scan.clm_offsets
    if not hl_starts or not offsets or offsets[0] < hl_starts[0]:
        raise _Unusual("claims before the first HL")
    marks = sorted([(o, "HL") for o in hl_starts] + [(o, "CLM") for o in offsets] + [(se_start, "SE")])
    header = data[: marks[0][0]]
    units: list = [("SEG", header, header.count(term))]
    for i, (start, what) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(data)
        if what == "SE":
            if stop != len(data):
                raise _Unusual("bytes after SE")
            units.append(("SE", _segment(data, start, len(data), d, st_number), 1))
            break
        chunk = data[start:stop]
        n = chunk.count(term)
        if what == "HL":
            hl = _segment(data, start, stop, d, st_number)
            units.append(("HL", hl, 1))
            seg_end = start + len(hl.data) + len(hl.tail)
            if seg_end < stop:
                units.append(("SEG", data[seg_end:stop], n - 1))
        else:
            units.append(("CLM", chunk, n))
    return units, len(offsets)


def _segment(data: bytes, start: int, stop: int, d: Delimiters, number: int) -> Segment:
    """The segment starting at `start` (its tail runs over blanks, not past `stop`)."""
    end = data.find(d.segment, start, stop)
    if end < 0:
        raise _Unusual("segment without terminator")
    tail_end = end + 1
    t = d.segment[0]
    while tail_end < stop and data[tail_end] in _BLANK and data[tail_end] != t:
        tail_end += 1
    return Segment(data[start:end], data[end:tail_end], number, d)
