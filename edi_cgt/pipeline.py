# One input stream through the layers: read, index, decide, write the clean 837, tell the sinks.
#
# Strategy: one path for every transaction. The reader (edi_cgt.x12.reader) hands over each
# transaction as raw bytes, held whole (edi_cgt.x12.held; past a limit, in a temporary file),
# and the claim index (edi_cgt.claims.index) finds its claims at C speed. Only the claims that
# carry a policy trigger code are read and decided (every claim with `read_all`); the others are
# counted and their bytes pass through unread: the policy guarantees that a claim without a
# trigger code gets no finding (edi_cgt.policy.trigger_codes). A read claim that cannot be read
# is passed through untouched and counted unevaluated, alone when the HL tree allows, else with
# its transaction. The whole transaction is decided before a byte of it is written, so the clean
# 837 and the 277CA always agree: a transaction with nothing rejected is copied as it came, one
# with rejections is cut by byte ranges (edi_cgt.writers.clean837). Every claim is counted
# exactly once: accepted (read or not), rejected, unevaluated, or syntax_rejected.
#
# Sinks (the 277CA writer, replay's collector) are told each 837 transaction that was read as
# one: begin_transaction(info), then its claims in order, add(claim, decision) for a decided
# one and add_unread(count, charges, billing provider) for a run of accepted claims not read,
# then end_transaction(). They never see a claim that is then taken back.
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, BinaryIO, Protocol

from .claims.grammar import kind_of
from .claims.index import ClaimIndex, patterns
from .claims.model import Claim, Provider, TransactionInfo
from .claims.held import HeldClaims
from .claims.walker import ClaimReader, EnvelopeContext
from .policy.findings import Decision, Finding
from .writers.clean837 import CleanWriter
from .x12.envelope import Envelope, EnvelopeIssue
from .x12.errors import TransactionError
from .x12.held import HeldTransaction
from .x12.reader import NEED_DATA, Piece, Reader, Segment

__all__ = ["FilterOptions", "FilterStats", "Sink", "Decide", "run_filter", "read_claims", "decide_claims", "HOLD_MEMORY"]

HOLD_MEMORY = 4 << 20  # bytes of one transaction held in memory before it spills to disk


class Decide(Protocol):
    """claim -> Decision, and the codes without which it finds nothing about a claim
    (edi_cgt.decider.Decider); None when there is no such set: every claim is then read."""

    trigger_codes: frozenset[str] | None

    def __call__(self, claim: Claim) -> Decision: ...


class Sink(Protocol):
    """Receives the claims of each 837 transaction, in order (see the module comment)."""

    def begin_transaction(self, info: TransactionInfo) -> None: ...

    def add(self, claim: Claim, decision: Decision) -> None: ...

    def add_unread(self, claims: int, charges: Decimal, billing_provider: Provider | None) -> None: ...

    def end_transaction(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FilterOptions:
    read_all: bool = False  # read and decide every claim, not only those with a trigger code
    strict: bool = False  # a claim or transaction that cannot be read is fatal (TransactionError)
    hold_memory: int = HOLD_MEMORY
    # Transactions (1-based ST ordinals in the input) that failed full syntax validation
    # (edi_cgt.validation): left out of the clean 837 whole, their claims syntax_rejected.
    syntax_rejected: frozenset[int] = frozenset()


@dataclass
class FilterStats:
    """Counts for one input: every claim is in exactly one of accepted, rejected, unevaluated
    and syntax_rejected."""

    source: str = ""
    bytes_in: int = 0
    transactions: int = 0
    transactions_passed_through: int = 0
    claims_in: int = 0
    claims_read: int = 0  # of claims_in, read and decided one by one
    accepted: int = 0
    rejected: int = 0
    unevaluated: int = 0
    syntax_rejected: int = 0
    charges_in: Decimal = Decimal(0)
    charges_rejected: Decimal = Decimal(0)
    warnings: int = 0  # findings that do not reject, over all claims
    claims_warned: int = 0  # claims with at least one warning
    envelope_issues: int = 0
    seconds: float = 0.0
    by_rule: dict[str, int] = field(default_factory=dict)  # rejected claims per error rule

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "claims_in": self.claims_in,
            "claims_read": self.claims_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unevaluated": self.unevaluated,
            "syntax_rejected": self.syntax_rejected,
            "warnings": self.warnings,
            "claims_warned": self.claims_warned,
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
    out: BinaryIO | None,
    decide: Decide,
    sinks: Iterable[Sink] = (),
    where: str = "",
    on_event: Callable[..., None] | None = None,
    options: FilterOptions = FilterOptions(),
) -> FilterStats:
    """Filter one input: the clean 837 to `out` (None: nothing written), each 837 transaction's
    claims to `sinks`, log events to `on_event(name, **fields)` (fields carry no PHI).

    Raises X12SyntaxError when the input cannot be cut into segments at all, and
    TransactionError (with options.strict) at the first claim that cannot be read."""
    return _Run(out, decide, tuple(sinks), where, on_event, options).filter(chunks)


def decide_claims(
    chunks: Iterable[bytes],
    *,
    decide: Decide,
    where: str = "",
    on_event: Callable[..., None] | None = None,
    stats: FilterStats | None = None,
) -> Iterator[tuple[Claim, Decision]]:
    """Every claim of every 837 transaction with its Decision, in input order, read as the
    filter reads them with read_all (nothing is written). A claim or transaction that cannot be
    read is skipped with an event (`claim_passed_through`, `transaction_passed_through`,
    `transaction_not_supported`) and counted in `stats` as unevaluated. Raises X12SyntaxError
    when the input cannot be cut into segments at all."""
    got: list[tuple[Claim, Decision]] = []
    run = _Run(None, decide, (_Collect(got),), where, on_event, FilterOptions(read_all=True))
    if stats is not None:
        stats.source = where
        run.stats = stats
    for _ in run.steps(chunks):
        yield from got
        got.clear()
    yield from got


def read_claims(
    chunks: Iterable[bytes],
    *,
    where: str = "",
    on_event: Callable[..., None] | None = None,
    stats: FilterStats | None = None,
) -> Iterator[Claim]:
    """Every claim of every 837 transaction, in input order: decide_claims without a policy."""
    for claim, _ in decide_claims(chunks, decide=_NO_POLICY, where=where, on_event=on_event, stats=stats):
        yield claim


class _NoPolicy:
    """A Decide that finds nothing (`edi-cgt claims`)."""

    trigger_codes: frozenset[str] = frozenset()

    def __call__(self, claim: Claim) -> Decision:
        return Decision(claim.claim_id, ())


_NO_POLICY = _NoPolicy()


class _Collect:
    """A Sink that keeps the decided claims."""

    def __init__(self, into: list[tuple[Claim, Decision]]) -> None:
        self._into = into

    def begin_transaction(self, info: TransactionInfo) -> None:
        pass

    def add(self, claim: Claim, decision: Decision) -> None:
        self._into.append((claim, decision))

    def add_unread(self, claims: int, charges: Decimal, billing_provider: Provider | None) -> None:
        pass

    def end_transaction(self) -> None:
        pass


# -- one run ----------------------------------------------------------------------------------
class _Run:
    """The state of one filter run: reader, envelope, writer, counters."""

    def __init__(self, out: BinaryIO | None, decide: Decide, sinks: tuple[Sink, ...], where: str,
                 on_event: Callable[..., None] | None, options: FilterOptions) -> None:
        self.decide = decide
        codes = decide.trigger_codes
        if codes is None:
            options = replace(options, read_all=True)
        self.codes = frozenset(codes or ())
        self.sinks = sinks
        self.where = where
        self.emit = on_event or (lambda *a, **k: None)
        self.options = options
        self.stats = FilterStats(source=where)
        self.env = Envelope()
        self.writer = CleanWriter(out)
        self.reader = Reader(where=where)
        self.claims_before = 0  # CLM segments of 837 transactions before the current one

    def filter(self, chunks: Iterable[bytes]) -> FilterStats:
        for _ in self.steps(chunks):
            pass
        return self.stats

    def steps(self, chunks: Iterable[bytes]) -> Iterator[None]:
        """Run, pausing after each transaction (so read_claims can hand claims out as it goes)."""
        t0 = time.perf_counter()
        self._chunks = iter(chunks)
        reader = self.reader
        while True:
            seg = reader.maybe_extract_segment()
            if seg is NEED_DATA:
                self._pull()
                continue
            if seg is None:
                break
            self._note(self.env.feed(seg))  # type: ignore[arg-type]
            if seg.data and seg.id == "ST":  # type: ignore[union-attr]
                self._transaction(seg)  # type: ignore[arg-type]
                self.stats.seconds = time.perf_counter() - t0
                yield
            else:
                self.writer.envelope(seg)  # type: ignore[arg-type]
        self._note(self.env.finish())
        self.writer.finish()
        self.stats.seconds = time.perf_counter() - t0

    def _pull(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self.reader.feed_eof()
        else:
            self.stats.bytes_in += len(chunk)
            self.reader.feed(chunk)

    def _note(self, issues: list[EnvelopeIssue]) -> None:
        for issue in issues:
            self.stats.envelope_issues += 1
            self.emit("envelope_issue", file=self.where, segment=issue.segment_number, problem=issue.problem)

    # -- a transaction ------------------------------------------------------------------------
    def _transaction(self, st: Segment) -> None:
        env, stats = self.env, self.stats
        is_837 = st.get(1) == "837"
        version, kind = kind_of(st.get(3), env.gs.get(8) if env.gs is not None else "")
        t = _Transaction(self, st)
        t.receive()
        stats.transactions += 1
        if env.transaction_index in self.options.syntax_rejected:
            stats.claims_in += t.index.claims if is_837 else 0
            stats.syntax_rejected += t.index.claims if is_837 else 0
            self.claims_before += t.index.claims if is_837 else 0
            self.writer.drop_transaction()
            self.emit("transaction_rejected_syntax", file=self.where, transaction=st.get(2), segment=st.number,
                      claims=t.index.claims if is_837 else 0)
            t.held.close()
            return
        if not is_837:
            if t.problem is not None:
                self._pass_through(t, t.problem, claims=0)
            else:
                self.emit("transaction_not_837", file=self.where, transaction=st.get(2), set_id=st.get(1))
                self._copy(t)
            return
        self.claims_before += t.index.claims
        stats.claims_in += t.index.claims
        if kind is None:
            stats.transactions_passed_through += 1
            stats.unevaluated += t.index.claims
            self.emit("transaction_not_supported", file=self.where, transaction=st.get(2), segment=st.number,
                      version=version, claims=t.index.claims,
                      problem=f"an 837 of version {version or '(none)'} is not read (005010X222/X223 only)")
            self._fail_if_strict(f"837 transaction {st.get(2)!r} is version {version or '(none)'}, "
                                 "not 005010X222/X223", st.number)
            self._copy(t)
            return
        if t.problem is not None:
            self._pass_through(t, t.problem, claims=t.index.claims)
            return
        t.decide_claims(kind, version)

    def _copy(self, t: "_Transaction") -> None:
        self.writer.copy_transaction(t.held.chunks())
        t.held.close()

    def _pass_through(self, t: "_Transaction", problem: tuple[int, str], *, claims: int, unread: int = 0) -> None:
        """The transaction goes out untouched; `claims` of it unevaluated, `unread` accepted unread."""
        stats = self.stats
        stats.transactions_passed_through += 1
        stats.unevaluated += claims
        stats.accepted += unread
        number, text = problem
        self.emit("transaction_passed_through", file=self.where, transaction=t.st.get(2), segment=number,
                  problem=text, claims=claims)
        self._fail_if_strict(text, number)
        self._copy(t)

    def _fail_if_strict(self, problem: str, number: int) -> None:
        if self.options.strict:
            raise TransactionError(problem, segment_number=number, where=self.where)


class _Transaction:
    """One held transaction: its bytes, its index, and what was decided of its claims."""

    def __init__(self, run: _Run, st: Segment) -> None:
        self.run = run
        self.st = st
        self.d = st.delimiters
        self.held = HeldTransaction(memory_limit=run.options.hold_memory)
        self.index = ClaimIndex(self.d)
        self.patterns = patterns(self.d, run.codes)
        self.se: Segment | None = None
        self.problem: tuple[int, str] | None = None  # why the transaction cannot be read (no SE)

    # -- receiving ----------------------------------------------------------------------------
    def receive(self) -> None:
        """Take the transaction's bytes from the reader (through the SE, or as far as it goes),
        counting its claims and finding trigger codes piece by piece."""
        run, held, index, p = self.run, self.held, self.index, self.patterns
        reader = run.reader
        held.append(self.st.raw)
        index.segments = 1
        eager = False  # locate pieces as they come (they may not stay in memory)
        while True:
            piece = reader.maybe_extract_transaction(run.options.hold_memory)
            if piece is NEED_DATA:
                run._pull()
                continue
            assert isinstance(piece, Piece)
            base = held.append(piece.data)
            index.segments += piece.segments
            if piece.data:
                index.census(piece.data, p, keep_values=not (held.spilled or piece.end == "more"))
                index.find_triggers(piece.data, base, p)
                eager = eager or held.spilled or piece.end == "more"
                if eager:
                    index.locate(piece.data, base, p)
            if piece.end != "more":
                break
        if eager:
            index.locate(self.st.raw, 0, p)  # (finds nothing: an ST holds no HL or CLM)
            index.located = True
        env = run.env
        if piece.end == "SE":
            data = piece.data
            self.se = Segment(data[piece.se:piece.se_end], data[piece.se_end:], reader.number - 1, self.d)
            index.se = base + piece.se
            run._note(env.skip_transaction(self.se, index.segments))
        else:
            env.count_segments(index.segments - 1, reader.number - 1)
            if piece.end == "cut":
                what, number = f"no SE before this {piece.stop}", reader.number
            else:
                what, number = "no SE: the input ends inside it (the file is truncated)", reader.number - 1
            self.problem = (number, f"transaction {self.st.get(2)!r} has {what}")
            index.se = held.size

    # -- deciding -----------------------------------------------------------------------------
    def decide_claims(self, kind: str, version: str) -> None:
        run, index, stats = self.run, self.index, self.run.stats
        env = run.env
        context = EnvelopeContext(env.isa, env.gs, env.interchange_index, env.group_index)  # type: ignore[arg-type]
        claims = HeldClaims(self.held, index, self.patterns,
                            ClaimReader(self.d, context, kind=kind, version=version,
                                        transaction_index=env.transaction_index),
                            st_number=self.st.number, delimiters=self.d)
        try:
            try:
                info = claims.header()
            except TransactionError as exc:
                run._pass_through(self, (exc.segment_number or self.st.number, exc.problem), claims=index.claims)
                return
            want = claims.wanted(run.options.read_all)
            if want is None:
                self._accept_unread(info)
                return
            problem = claims.tree_problem()
            if problem is not None:  # an HL level no claim can hang in: no claim by claim
                stats.charges_in += sum((charges for _, _, charges, _ in _unread_runs(claims, want)), Decimal(0))
                read = want.count(1)
                run._pass_through(self, problem, claims=read, unread=index.claims - read)
                return
            keep = bytearray(b"\x01") * index.claims
            tally = self._decide(claims, info, want, keep)
        finally:
            run._note(claims.reader.notices)
        tally.commit(stats)
        if tally.rejected == 0:
            run._copy(self)
        else:
            assert self.se is not None
            run.writer.cut_transaction(self.held, index, keep, self.se)
            self.held.close()

    def _decide(self, claims: HeldClaims, info: TransactionInfo, want: bytearray, keep: bytearray) -> "_Tally":
        """Read and decide the wanted claims one at a time, in order, telling the sinks each (and
        each run of claims not read between them) as it comes: nothing of a claim is kept once it
        is told, only its byte in `keep` (0: rejected). A claim that cannot be read is passed
        through unevaluated."""
        run, index = self.run, self.index
        decide, emit, where, sinks = run.decide, run.emit, run.where, run.sinks
        first_claim = run.claims_before - index.claims  # CLMs of the input before this transaction
        transaction = self.st.get(2)
        tally = _Tally()
        for sink in sinks:
            sink.begin_transaction(info)
        for k, unread in _walk(want):
            if unread:
                for a, b, charges, provider in claims.unread(k, k + unread):
                    tally.unread += b - a
                    tally.charges += charges
                    for sink in sinks:
                        sink.add_unread(b - a, charges, provider)
                continue
            try:
                claim = claims.read(k, first_claim + k + 1)
            except TransactionError as exc:
                number = exc.segment_number or claims.number(index.clm[k])
                emit("claim_passed_through", file=where, transaction=transaction, segment=number,
                     claim_id=_short(claims.claim_id(k)), problem=exc.problem)
                run._fail_if_strict(exc.problem, number)
                tally.unevaluated += 1
                continue
            decision = decide(claim)
            tally.decided(claim, decision)
            if decision.rejected:
                keep[k] = 0
                self._tell("claim_rejected", claim, decision.errors)
            if decision.warnings:
                self._tell("claim_warning", claim, decision.warnings)
            for sink in sinks:
                sink.add(claim, decision)
        for sink in sinks:
            sink.end_transaction()
        return tally

    def _tell(self, event: str, claim: Claim, findings: "Sequence[Finding]") -> None:
        run = self.run
        run.emit(event, file=run.where, claim_id=_short(claim.claim_id), rules=[f.rule_id for f in findings],
                 reasons=[f.message for f in findings], transaction=self.st.get(2),
                 segment=claim.location.segment_number if claim.location else None,
                 charge=str(claim.total_charge))

    def _accept_unread(self, info: TransactionInfo) -> None:
        """A transaction none of whose claims is read: accepted, copied as it came."""
        run, index = self.run, self.index
        run.stats.accepted += index.claims
        run.stats.charges_in += index.charges
        for sink in run.sinks:
            sink.begin_transaction(info)
            if index.claims:
                sink.add_unread(index.claims, index.charges, None)
            sink.end_transaction()
        run._copy(self)


def _walk(want: bytearray) -> Iterator[tuple[int, int]]:
    """(k, 0) for each claim k to read and (k, n) for each run of n claims from k not to read,
    in order (found at C speed: bytearray.find)."""
    k, end = 0, len(want)
    while k < end:
        if want[k]:
            yield k, 0
            k += 1
            continue
        j = want.find(1, k)
        if j < 0:
            j = end
        yield k, j - k
        k = j


def _unread_runs(claims: HeldClaims, want: bytearray) -> Iterator[tuple[int, int, Decimal, Provider | None]]:
    for k, unread in _walk(want):
        if unread:
            yield from claims.unread(k, k + unread)


class _Tally:
    """One transaction's claims as they are decided, merged into the run's counts once it is settled."""

    def __init__(self) -> None:
        self.unevaluated = self.unread = 0
        self.accepted = self.rejected = self.warnings = self.warned = 0
        self.charges = Decimal(0)
        self.charges_rejected = Decimal(0)
        self.by_rule: dict[str, int] = {}

    def decided(self, claim: Claim, decision: Decision) -> None:
        self.charges += claim.total_charge
        warnings = decision.warnings
        if warnings:
            self.warnings += len(warnings)
            self.warned += 1
        if decision.rejected:
            self.rejected += 1
            self.charges_rejected += claim.total_charge
            for rule in {f.rule_id for f in decision.errors}:
                self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        else:
            self.accepted += 1

    def commit(self, stats: FilterStats) -> None:
        stats.accepted += self.accepted + self.unread
        stats.rejected += self.rejected
        stats.unevaluated += self.unevaluated
        stats.claims_read += self.accepted + self.rejected
        stats.warnings += self.warnings
        stats.claims_warned += self.warned
        stats.charges_in += self.charges
        stats.charges_rejected += self.charges_rejected
        for rule, n in self.by_rule.items():
            stats.by_rule[rule] = stats.by_rule.get(rule, 0) + n


def _short(value: str, limit: int = 80) -> str:
    """A value cut for a log line (CLM01 is at most 38 characters in a valid 837)."""
    return value if len(value) <= limit else value[:limit] + "..."
