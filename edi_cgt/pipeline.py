# One input stream through the layers: read, walk, decide, write the clean 837 and the 277CA.
#
# Strategy: two passes per transaction, one claim in memory. Pass 1 walks the transaction's
# segments into claims, asks `decide` about each and remembers one keep/reject flag per claim,
# while the transaction's raw bytes go to a spooled temporary file (memory up to a few MB, then
# disk). Pass 2 writes the transaction: a straight byte copy when every claim was kept (or the
# transaction is not an 837, or could not be read as claims), otherwise the spooled bytes are
# re-read and the CleanWriter drops the rejected claims. Because the decision for a whole
# transaction is known before a byte of it is written, a transaction that turns out to be
# malformed half-way is still passed through untouched, and the 277CA never reports a claim
# that the clean 837 also carries. Every claim is counted exactly once: kept, rejected, or
# passed through unevaluated.
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO, Protocol

from .claims.model import Claim
from .claims.walker import EnvelopeContext, TransactionWalker
from .claims.screen import quiet
from .fastpath import TriggerScanner, layout, plan_units, provider_runs, read_hit_claims
from .policy.findings import Decision
from .writers.clean837 import CleanWriter
from .x12.envelope import Envelope, EnvelopeIssue
from .x12.errors import TransactionError
from .x12.reader import Segment, held_segments, iter_segments

__all__ = ["FilterStats", "ClaimSink", "run_filter", "SPOOL_MEMORY"]

SPOOL_MEMORY = 4 << 20  # bytes of one transaction kept in memory before spilling to disk
FAST_LIMIT = 4 << 20  # transactions up to this size are scanned whole by the fast path
_ENVELOPE_IDS = frozenset({"ISA", "GS", "GE", "IEA"})
_ENVELOPE_FIRST = frozenset({b"I", b"G", b"S", b"T"})  # first bytes of ISA/IEA, GS/GE, ST/SE, TA1


class ClaimSink(Protocol):
    """Receives every decided claim (the 277CA writer, replay summaries)."""

    def add(self, claim: Claim, decision: Decision) -> None: ...

    def discard_transaction(self) -> None:
        """Forget the claims added since the current transaction began (it is passed through)."""

    # Optional: add_unread(transaction, transaction_index, billing_provider, claims, charges)
    # accounts for accepted claims in a row that the fast path did not read one by one
    # (billing_provider None: a whole transaction in which nothing is rejected). A sink without
    # it keeps the fast path from cutting rejected claims out of a transaction unread.
    # Optional: add_findings(claim, decision) receives the read claims with findings (warnings
    # only) of a transaction copied whole, which add_unread has already counted.


@dataclass
class FilterStats:
    """Counts for one input: every claim is in exactly one of accepted, rejected, unevaluated
    (passed through unread) and syntax_rejected."""

    source: str = ""
    bytes_in: int = 0
    transactions: int = 0
    transactions_passed_through: int = 0
    claims_in: int = 0
    accepted: int = 0
    rejected: int = 0
    unevaluated: int = 0
    syntax_rejected: int = 0  # claims of transactions that failed --validate (in the 999)
    charges_in: Decimal = Decimal(0)
    charges_rejected: Decimal = Decimal(0)
    warnings: int = 0
    envelope_issues: int = 0
    fast_transactions: int = 0  # copied through by the fast path
    seconds: float = 0.0
    by_rule: dict[str, int] = field(default_factory=dict)  # rejected claims per error rule

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "claims_in": self.claims_in,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unevaluated": self.unevaluated,
            "syntax_rejected": self.syntax_rejected,
            "transactions": self.transactions,
            "transactions_passed_through": self.transactions_passed_through,
            "charges_in": str(self.charges_in),
            "charges_rejected": str(self.charges_rejected),
            "envelope_issues": self.envelope_issues,
            "bytes_in": self.bytes_in,
            "seconds": round(self.seconds, 4),
        }


def run_filter(
    chunks: Iterable[bytes],
    *,
    out: BinaryIO,
    decide: Callable[[Claim], Decision],
    sinks: Sequence[ClaimSink] = (),
    where: str = "",
    on_event: Callable[..., None] | None = None,
    fast: bool = True,
    syntax_rejected: frozenset[int] = frozenset(),
) -> FilterStats:
    """Filter one input. `on_event(name, **fields)` receives log events (no PHI in fields).

    With `fast` (and a `decide` that carries `trigger_codes`, like edi_cgt.decider.Decider),
    transactions up to FAST_LIMIT bytes are first scanned as bytes (edi_cgt.fastpath); one
    that cannot lose a claim is copied through without being read claim by claim. The clean
    837, the 277CA and the counts are the same either way, and SE01/SE02 and HL numbering are
    checked either way. What the fast path does not check in a transaction that carries no
    policy code is segment grammar (unknown segments, missing elements, order): such a
    transaction is copied as it came, which is also what the slow path does with a transaction
    it cannot read, but without the `transaction_passed_through` event. `sinks` do not see the
    claims of a transaction copied whole (all of them are accepted). A sink with
    `needs_every_claim = True` turns the fast path off (277CA --ack-all, per-claim reports).

    `syntax_rejected` holds the indexes (1-based, counting ST segments in the input) of
    transactions that failed full syntax validation (edi_cgt.validation): they are left out of
    the clean 837 whole, their claims counted as `syntax_rejected` (the 999 reports them)."""
    run = _Run(out, decide, sinks, where, on_event, fast, syntax_rejected)
    return run.filter(chunks)


class _Run:
    """The state of one filter run: envelope, writer, counters and the claim numbering."""

    def __init__(self, out: BinaryIO, decide: Callable[[Claim], Decision], sinks: Sequence[ClaimSink], where: str,
                 on_event: Callable[..., None] | None, fast: bool,
                 syntax_rejected: frozenset[int] = frozenset()) -> None:
        self.decide = decide
        self.syntax_rejected = syntax_rejected
        self.sinks = sinks
        self.where = where
        self.emit = on_event or (lambda *a, **k: None)
        self.stats = FilterStats(source=where)
        self.env = Envelope()
        self.writer = CleanWriter(out)
        self.claims_before = 0  # CLM segments before the current transaction
        if any(getattr(sink, "needs_every_claim", False) for sink in sinks):
            fast = False
        codes = getattr(decide, "trigger_codes", None) if fast else None
        self.scanner = TriggerScanner(codes) if codes is not None else None

    def note(self, issues: list[EnvelopeIssue]) -> None:
        for issue in issues:
            self.stats.envelope_issues += 1
            self.emit("envelope_issue", file=self.where, segment=issue.segment_number, problem=issue.problem)

    def filter(self, chunks: Iterable[bytes]) -> FilterStats:
        t0 = time.perf_counter()
        counted = _CountingChunks(chunks)
        self._loop(iter_segments(counted, where=self.where))
        self.note(self.env.finish())
        self.writer.finish()
        self.stats.bytes_in = counted.total
        self.stats.seconds = time.perf_counter() - t0
        return self.stats

    def _loop(self, segments: Iterator[Segment], pending: Segment | None = None) -> None:
        """Route every segment: envelope segments to the writer, transactions to a path."""
        while True:
            seg = pending if pending is not None else next(segments, None)
            pending = None
            if seg is None:
                return
            self.note(self.env.feed(seg))
            if seg.data and seg.id == "ST":
                if self.env.transaction_index in self.syntax_rejected:
                    pending = self.drop_transaction(seg, segments)
                    continue
                if self.scanner is not None:
                    taken = segments.send(("through_se", FAST_LIMIT))  # type: ignore[attr-defined]
                    if taken is not None:
                        self.fast_transaction(seg, taken)
                        continue
                pending = self.transaction(seg, segments)
                continue
            self.writer.envelope(seg)

    def drop_transaction(self, st: Segment, segments: Iterator[Segment]) -> Segment | None:
        """Leave out a transaction that failed syntax validation, counting its claims."""
        claims = 0
        seg: Segment | None = st
        while seg is not None and not (seg.data[:2] == b"SE" and seg.id == "SE"):
            seg = next(segments, None)
            if seg is None:
                break
            self.note(self.env.feed(seg))
            if seg.data and seg.id in _ENVELOPE_IDS:
                break
            if seg.data[:3] == b"CLM" and seg.id == "CLM":
                claims += 1
        self.stats.transactions += 1
        self.stats.claims_in += claims
        self.stats.syntax_rejected += claims
        self.claims_before += claims
        self.writer.drop_transaction()
        self.emit("transaction_rejected_syntax", file=self.where, transaction=st.get(2), segment=st.number,
                  claims=claims)
        return seg if seg is not None and seg.data and seg.id in _ENVELOPE_IDS else None

    def fast_transaction(self, st: Segment, taken: tuple[bytes, int]) -> None:
        """Copy the transaction through if it cannot lose a claim; else run the slow path on it."""
        rest, skipped = taken
        data = st.raw + rest
        se = _last_segment(rest, st, skipped)

        def slow(in_memory: "tuple[bytes, Any, Any] | None" = None) -> None:
            # Read the held bytes segment by segment; whatever follows an early end of the
            # transaction (an envelope segment where SE should be) goes through the main loop.
            segments = iter_segments([rest], where=self.where, delimiters=st.delimiters, first_number=st.number + 1)
            self._loop(segments, self.transaction(st, segments, in_memory))

        if se.get(1) != str(skipped + 1) or se.get(2) != st.get(2):
            # A wrong count or control number, or an SE that belongs to another ST: the slow
            # path reads it (and reports it) exactly as it would without the fast path.
            slow()
            return
        if st.get(1) != "837":
            self.stats.transactions += 1
            self.note(self.env.skip_transaction(se, skipped + 1))
            self.emit("transaction_not_837", file=self.where, transaction=st.get(2), set_id=st.get(1))
            self.writer.copy_transaction([data])
            return
        scan = self.scanner.scan(data, st.delimiters)
        if scan is not None and self.env.isa is not None and len(scan.hits) > max(4, scan.claims // 8):
            # Policy codes on many claims: a rejection is likely, and reading each hit claim
            # alone would only come before the whole walk. Walk it now.
            lay = layout(data, st.delimiters)
            if lay is not None and self.walk_held(st, se, skipped, data, scan, lay):
                return
            slow(in_memory=(data, scan, lay) if lay is not None else None)
            return
        if scan is not None and self.env.isa is not None:
            context = dict(st_number=st.number, delimiters=st.delimiters,
                           envelope=EnvelopeContext(self.env.isa, self.env.gs),
                           transaction_index=self.env.transaction_index, claims_before=self.claims_before)
            lay = layout(data, st.delimiters) if scan.hits else None
            hits = {} if not scan.hits else read_hit_claims(data, scan, lay, **context) if lay is not None else None
            if hits is not None:
                decisions = {k: self.decide(c) for k, c in hits.items()}
                if not any(d.rejected for d in decisions.values()):
                    self.stats.transactions += 1
                    self.stats.claims_in += scan.claims
                    self.stats.accepted += scan.claims
                    self.stats.charges_in += scan.charges
                    self.stats.warnings += sum(len(d.warnings) for d in decisions.values())
                    for k, d in decisions.items():
                        if d.warnings:
                            self.emit("claim_warning", file=self.where, **_claim_event(hits[k], d.warnings, st))
                    self.stats.fast_transactions += 1
                    self.tell_sinks_unread(st, data, scan)
                    self.tell_sinks_findings(hits, decisions)
                    self.note(self.env.skip_transaction(se, skipped + 1))
                    self.writer.copy_transaction([data])
                    self.claims_before += scan.claims
                    return
                if self.cut_transaction(st, se, skipped, data, scan, lay, hits, decisions, context):
                    return
                # The walker might have something to say about this transaction: walk it whole
                # (from memory) as the slow path does, so that an unreadable one is still passed
                # through untouched; then drop the rejected claims by byte ranges.
                slow(in_memory=(data, scan, lay))
                return
        # Something here is unusual: decide it claim by claim.
        slow()

    def decided(self, claim: Claim, keep: bytearray, tally: FilterStats, events: list[tuple[str, dict[str, Any]]],
                st: Segment) -> None:
        """Decide one claim read in full: its keep flag, its counts, the sinks."""
        decision = self.decide(claim)
        keep.append(0 if decision.rejected else 1)
        _tally(tally, events, claim, decision, st)
        for sink in self.sinks:
            sink.add(claim, decision)

    def tell_sinks_unread(self, st: Segment, data: bytes, scan: Any) -> None:
        """Tell the sinks that this transaction's claims were all accepted unread, as the slow
        path would by adding each: the 277CA writer follows the input's interchanges and groups
        by the transactions it is told about. The transaction is read up to the end of its first
        claim for that; if the walker refuses it before then, the slow path would not have
        added a claim either, and the sinks are not told."""
        if not scan.claims or not self.sinks:
            return
        walker = TransactionWalker(EnvelopeContext(self.env.isa, self.env.gs),
                                   transaction_index=self.env.transaction_index)
        try:
            for seg in iter_segments([data], where=self.where, delimiters=st.delimiters, first_number=st.number):
                if walker.feed(seg) is not None:
                    break
            else:
                return
        except TransactionError:
            return
        if walker.info is None:
            return
        for sink in self.sinks:
            add_unread = getattr(sink, "add_unread", None)
            if add_unread is not None:
                add_unread(walker.info, self.env.transaction_index, None, scan.claims, scan.charges)

    def tell_sinks_findings(self, hits: dict[int, Claim], decisions: dict[int, Decision]) -> None:
        """Show sinks that have `add_findings` the claims with findings (warnings) of a
        transaction copied whole: they were read and accepted, and add_unread counted them."""
        for k, decision in decisions.items():
            if decision.findings:
                for sink in self.sinks:
                    add_findings = getattr(sink, "add_findings", None)
                    if add_findings is not None:
                        add_findings(hits[k], decision)

    def walk_held(self, st: Segment, se: Segment, skipped: int, data: bytes, scan: Any, lay: Any) -> bool:
        """Read every claim of a held transaction that the screen calls quiet: the walker
        without its per-segment checks, no spool, rejected claims dropped by byte ranges.
        False (nothing done) when the screen is unsure."""
        if not quiet(data, st.delimiters):
            return False
        planned = plan_units(data, scan, lay, st.delimiters, st.number)
        if planned is None or planned[1] != scan.claims:
            return False
        walker = TransactionWalker(EnvelopeContext(self.env.isa, self.env.gs),
                                   transaction_index=self.env.transaction_index,
                                   claim_index_start=self.claims_before, screened=True)
        keep = bytearray()
        tally = FilterStats()
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            for seg in held_segments(data, st.delimiters, st.number, self.where):
                claim = walker.feed(seg)
                if claim is not None:
                    self.decided(claim, keep, tally, events, st)
            readable = len(keep) == scan.claims  # the byte scan and the walker agree
        except TransactionError:
            readable = False
        if not readable:  # the screen promises neither happens; if one does, walk
            if keep:
                for sink in self.sinks:
                    sink.discard_transaction()
            return False
        self.stats.transactions += 1
        self.stats.fast_transactions += 1
        _commit(self.stats, tally, events, self.emit, self.where)
        self.note(self.env.skip_transaction(se, skipped + 1))
        if all(keep):
            self.writer.copy_transaction([data])
        else:
            self.writer.transaction_units(planned[0], keep)
        self.claims_before += scan.claims
        return True

    def cut_transaction(self, st: Segment, se: Segment, skipped: int, data: bytes, scan: Any, lay: Any,
                        hits: dict[int, Claim], decisions: dict[int, Decision], context: dict[str, Any]) -> bool:
        """Drop the rejected claims among `hits` by byte ranges, without reading the others, when
        the screen (edi_cgt.claims.screen) shows the walker would read the whole transaction
        without a word: then the outcome is the slow path's. False (nothing done) otherwise."""
        if not all(hasattr(sink, "add_unread") for sink in self.sinks):
            return False
        if not quiet(data, st.delimiters) or len(scan.clm_charges) != scan.claims:
            return False
        planned = plan_units(data, scan, lay, st.delimiters, st.number)
        if planned is None or planned[1] != scan.claims:
            return False
        runs = provider_runs(data, scan, lay, st_number=st.number, delimiters=st.delimiters,
                             envelope=context["envelope"])
        if runs is None:
            return False
        keep = bytearray(b"\x01" * scan.claims)
        tally = FilterStats()
        events: list[tuple[str, dict[str, Any]]] = []
        info = next(iter(hits.values())).transaction
        index = context["transaction_index"]
        charges = scan.clm_charges
        for first, end, provider in runs:
            k = first  # claims k.. up to the next hit (or the run's end) were not read
            for h in [*sorted(x for x in hits if first <= x < end), end]:
                if h > k:
                    unread = sum(charges[k:h], Decimal(0))
                    tally.claims_in += h - k
                    tally.accepted += h - k
                    tally.charges_in += unread
                    for sink in self.sinks:
                        sink.add_unread(info, index, provider, h - k, unread)  # type: ignore[attr-defined]
                if h == end:
                    break
                claim, decision = hits[h], decisions[h]
                keep[h] = 0 if decision.rejected else 1
                _tally(tally, events, claim, decision, st)
                for sink in self.sinks:
                    sink.add(claim, decision)
                k = h + 1
        self.stats.transactions += 1
        self.stats.fast_transactions += 1
        _commit(self.stats, tally, events, self.emit, self.where)
        self.note(self.env.skip_transaction(se, skipped + 1))
        self.writer.transaction_units(planned[0], keep)
        self.claims_before += scan.claims
        return True

    def transaction(self, st: Segment, segments: Iterator[Segment],
                    in_memory: "tuple[bytes, Any, Any] | None" = None) -> Segment | None:
        """Pass 1 and pass 2 for the transaction that starts at `st`. Returns the segment that
        ended it without an SE (an envelope segment to handle next), if any.

        `in_memory` is (bytes of the whole transaction, its TransactionScan, its Layout) when the
        fast path already holds it: then pass 2 drops rejected claims by byte ranges
        (edi_cgt.fastpath.plan_units) instead of re-reading segments."""
        self.stats.transactions += 1
        is_837 = st.get(1) == "837" and self.env.isa is not None
        walker = TransactionWalker(EnvelopeContext(self.env.isa, self.env.gs),
                                   transaction_index=self.env.transaction_index,
                                   claim_index_start=self.claims_before) if is_837 else None
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
        keep = bytearray()
        tally = FilterStats()  # this transaction's counts, merged into `stats` once SE confirms it
        rejected_events: list[tuple[str, dict[str, Any]]] = []
        error: TransactionError | None = None
        clm_count = 0
        leftover: Segment | None = None
        seg: Segment | None = st
        parts: list[bytes] = []  # raw bytes, written to the spool in batches
        size = 0
        env = self.env
        while seg is not None:
            raw = seg.raw
            parts.append(raw)
            size += len(raw)
            if size >= 1 << 16:
                spool.write(b"".join(parts))
                parts.clear()
                size = 0
            data = seg.data
            if walker is not None and data[:3] == b"CLM" and seg.id == "CLM":
                clm_count += 1  # claims are counted in 837 transactions only
            if walker is not None and error is None:
                try:
                    claim = walker.feed(seg)
                    if walker.notices:
                        self.note(walker.notices)
                        walker.notices.clear()
                except TransactionError as exc:
                    error = exc
                    claim = None
                if claim is not None:
                    self.decided(claim, keep, tally, rejected_events, st)
            if data[:2] == b"SE" and seg.id == "SE":
                break
            seg = next(segments, None)
            if seg is None:
                error = error or TransactionError(
                    f"input ends inside transaction {st.get(2)!r} (no SE): the file is truncated",
                    segment_number=env.last_number,
                )
                break
            if seg.data[:1] in _ENVELOPE_FIRST or not seg.data:
                self.note(env.feed(seg))
            else:
                env.count_body(seg)  # an ordinary body segment: the envelope only counts it
            if seg.data and seg.id in _ENVELOPE_IDS:
                error = error or TransactionError(
                    f"transaction {st.get(2)!r} has no SE before this {seg.id}", segment_number=seg.number
                )
                leftover = seg
                break
        if parts:
            spool.write(b"".join(parts))
        self.claims_before += clm_count

        if walker is None or error is not None:
            # Not an 837, or not readable as claims: pass it through untouched, count its claims.
            if error is not None:
                if walker is not None and tally.claims_in:
                    for sink in self.sinks:
                        sink.discard_transaction()
                self.stats.transactions_passed_through += 1
                self.stats.unevaluated += clm_count
                self.stats.claims_in += clm_count
                self.emit("transaction_passed_through", file=self.where, transaction=st.get(2),
                          segment=error.segment_number, problem=error.problem, claims=clm_count)
            elif st.get(1) != "837":
                self.emit("transaction_not_837", file=self.where, transaction=st.get(2), set_id=st.get(1))
            self.writer.copy_transaction(_replay(spool))
            return leftover

        _commit(self.stats, tally, rejected_events, self.emit, self.where)
        if all(keep):
            self.writer.copy_transaction(_replay(spool))
            return leftover
        units = None
        if in_memory is not None and leftover is None:
            data, scan, lay = in_memory
            units = plan_units(data, scan, lay, st.delimiters, st.number)
            if units is not None and units[1] != len(keep):
                units = None  # the byte scan and the walker disagree on the claims: re-read
        if units is not None:
            spool.close()
            self.stats.fast_transactions += 1
            self.writer.transaction_units(units[0], keep)
        else:
            again = iter_segments(_replay(spool), where=self.where, delimiters=st.delimiters, first_number=st.number)
            self.writer.transaction(again, keep)
        return leftover


def _short(value: str, limit: int = 80) -> str:
    """A value cut for a log line (CLM01 is at most 38 characters in a valid 837)."""
    return value if len(value) <= limit else value[:limit] + "..."


def _replay(spool: Any) -> Iterator[bytes]:
    """The spooled transaction's bytes again (the spool is closed at the end)."""
    spool.seek(0)
    try:
        while True:
            chunk = spool.read(1 << 20)
            if not chunk:
                break
            yield chunk
    finally:
        spool.close()


def _last_segment(rest: bytes, st: Segment, skipped: int) -> Segment:
    """The SE segment at the end of a transaction's raw bytes (after ST)."""
    d = st.delimiters
    body = rest.rstrip(b" \t\r\n")
    end = len(body) - 1 if body.endswith(d.segment) else len(body)
    start = rest.rfind(d.segment, 0, end) + 1
    while start < end and rest[start] in b" \t\r\n":
        start += 1
    return Segment(rest[start:end], rest[end:], st.number + skipped, d)


def _commit(stats: FilterStats, tally: FilterStats, events: list[tuple[str, dict[str, Any]]],
            emit: Callable[..., None], where: str) -> None:
    """Merge one transaction's counts into the input's and log its rejected and warned claims."""
    for name in ("claims_in", "accepted", "rejected", "charges_in", "charges_rejected", "warnings"):
        setattr(stats, name, getattr(stats, name) + getattr(tally, name))
    for rule, n in tally.by_rule.items():
        stats.by_rule[rule] = stats.by_rule.get(rule, 0) + n
    for name, event in events:
        emit(name, file=where, **event)


def _tally(t: FilterStats, events: list[tuple[str, dict[str, Any]]], claim: Claim, decision: Decision,
           st: Segment) -> None:
    t.claims_in += 1
    t.charges_in += claim.total_charge
    t.warnings += len(decision.warnings)
    if decision.rejected:
        t.rejected += 1
        t.charges_rejected += claim.total_charge
        for rule in {f.rule_id for f in decision.errors}:
            t.by_rule[rule] = t.by_rule.get(rule, 0) + 1
        events.append(("claim_rejected", _claim_event(claim, decision.errors, st)))
    else:
        t.accepted += 1
    if decision.warnings:
        events.append(("claim_warning", _claim_event(claim, decision.warnings, st)))


def _claim_event(claim: Claim, findings: Sequence[Any], st: Segment) -> dict[str, Any]:
    """The fields of a claim_rejected / claim_warning event: `rules` and `reasons` are parallel
    (one entry per finding, in the engine's order); findings carry no PHI."""
    return {
        "claim_id": _short(claim.claim_id),
        "rules": [f.rule_id for f in findings],
        "reasons": [f.message for f in findings],
        "transaction": st.get(2),
        "segment": claim.location.segment_number if claim.location else None,
        "charge": str(claim.total_charge),
    }


class _CountingChunks:
    """Wrap a chunk iterable and count its bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self.total = 0

    def __iter__(self) -> "_CountingChunks":
        return self

    def __next__(self) -> bytes:
        chunk = next(self._it)
        self.total += len(chunk)
        return chunk
