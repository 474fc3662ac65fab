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

import bisect
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, BinaryIO, Protocol

from .claims.grammar import kind_of
from .claims.index import ClaimIndex, patterns
from .claims.model import Claim, Provider, TransactionInfo
from .claims.walker import ClaimReader, EnvelopeContext, Level
from .policy.findings import Decision
from .writers.clean837 import CleanWriter
from .x12.envelope import Envelope, EnvelopeIssue
from .x12.errors import TransactionError
from .x12.held import HeldTransaction
from .x12.reader import NEED_DATA, Piece, Reader, Segment, split_segments
from .x12.values import sum_amounts

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
        self._number_at = (0, st.number)  # (offset, number of the segment starting there)

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

    def _locate(self) -> None:
        """The structure of the index (when the pieces were not located as they came, they are
        all still in memory)."""
        index = self.index
        if not index.located:
            for offset, chunk in self.held.parts():
                index.locate(chunk, offset, self.patterns)
            index.located = True

    # -- deciding -----------------------------------------------------------------------------
    def decide_claims(self, kind: str, version: str) -> None:
        run, index, held, stats = self.run, self.index, self.held, self.run.stats
        env = run.env
        first_claim = run.claims_before - index.claims  # CLMs of the input before this transaction
        context = EnvelopeContext(env.isa, env.gs, env.interchange_index, env.group_index)  # type: ignore[arg-type]
        reader = ClaimReader(self.d, context, kind=kind, version=version, transaction_index=env.transaction_index)
        header_end = self._header_end()
        try:
            info = reader.read_header(self._texts(0, header_end), self.st.number)
        except TransactionError as exc:
            self._notices(reader)
            run._pass_through(self, (exc.segment_number or self.st.number, exc.problem), claims=index.claims)
            return
        wanted = self._wanted()
        if not wanted:
            self._notices(reader)
            self._accept_unread(info)
            return
        if index.problem is not None:  # an HL level no claim can hang in: no claim by claim
            self._notices(reader)
            offset = index.problem[0]
            text = index.problem_text(self.held.read(offset, self.held.find(self.d.segment, offset)))
            unread = self._unread_runs(set(wanted))
            run.stats.charges_in += sum((self._charges(a, b) for a, b in unread), Decimal(0))
            run._pass_through(self, (self._number(offset), text), claims=len(wanted),
                              unread=index.claims - len(wanted))
            return
        decisions = self._read(reader, wanted, first_claim)
        self._notices(reader)
        keep = bytearray(b"\x01") * index.claims
        tally = _Tally()
        for k, (claim, decision) in decisions.items():
            if decision is None:
                tally.unevaluated += 1
            else:
                tally.decided(claim, decision)
                if decision.rejected:
                    keep[k] = 0
        unread = index.claims - len(decisions)
        stats.accepted += unread
        stats.claims_read += len(decisions) - tally.unevaluated
        charges_unread = self._tell_sinks(info, decisions, keep)
        tally.commit(stats, run, self.st, charges_unread)
        if all(keep):
            run._copy(self)
        else:
            assert self.se is not None
            run.writer.cut_transaction(held, index, keep, self.se)
            held.close()

    def _wanted(self) -> list[int]:
        """The claims to read, in order: every claim, or those with a trigger code or a CLM02
        that is not a number. The index's structure is built when there are any."""
        index, run = self.index, self.run
        if not index.claims or (not run.options.read_all and not index.hits and index.charges_ok):
            return []
        self._locate()
        if run.options.read_all:
            return list(range(index.claims))
        wanted = {k for k in map(index.claim_of, index.hits) if k is not None}
        if not index.charges_ok:
            wanted.update(self._odd_charges())
        return sorted(wanted)

    def _odd_charges(self) -> list[int]:
        """Claims whose CLM02 is not a number (one number rule: x12.values)."""
        index, p = self.index, self.patterns
        values = index.clm02
        if values is None:  # a transaction too big to keep them: read them again
            values = []
            for start in index.clm:
                m = p.clm02_first.match(self.held.read(start, self.held.find(self.d.segment, start) + 1))
                values.append(m.group(1) or b"" if m is not None else b"")
        return [k for k, value in enumerate(values) if sum_amounts([value]) is None]

    def _read(self, reader: ClaimReader, wanted: list[int], first_claim: int) -> "dict[int, tuple[Claim | None, Decision | None]]":
        """Read and decide the wanted claims, each with the HL blocks above it; (None, None) for
        one that cannot be read. (An HL block no claim hangs under holds nothing a claim needs:
        it is never read.)"""
        run, index = self.run, self.index
        decide, emit, where = run.decide, run.emit, run.where
        path: dict[int, tuple[int, Level | TransactionError]] = {}  # by level: the HL last read
        out: dict[int, tuple[Claim | None, Decision | None]] = {}
        for k in wanted:
            try:
                misplaced = index.claim_problem(k)
                if misplaced is not None:  # (this claim alone: the others hang where they should)
                    raise TransactionError(misplaced[1], segment_number=self._number(misplaced[0]))
                level = self._level(reader, index.claim_hl(k), path)
                start, end = index.clm[k], index.claim_end(k)
                claim = reader.read_claim(self._texts(start, end), self._number(start), level,
                                          claim_index=first_claim + k + 1, st_number=self.st.number)
            except TransactionError as exc:
                number = exc.segment_number or self._number(index.clm[k])
                emit("claim_passed_through", file=where, transaction=self.st.get(2), segment=number,
                     claim_id=_claim_id(self, k), problem=exc.problem)
                run._fail_if_strict(exc.problem, number)
                out[k] = (None, None)
                continue
            out[k] = (claim, decide(claim))
        return out

    def _level(self, reader: ClaimReader, i: int, path: "dict[int, tuple[int, Level | TransactionError]]") -> Level:
        """The Level of HL i, reading it (and the HLs above it) unless it is the last one read
        of its level. Only that path is kept, whatever the size of the transaction."""
        index = self.index
        lv = index.level[i]
        got = path.get(lv)
        if got is None or got[0] != i:
            p = index.parent[i]
            try:
                parent = self._level(reader, p, path) if p >= 0 else None
                start = index.hl[i]
                level: Level | TransactionError = reader.read_level(self._texts(start, index.block_end(i)),
                                                                   self._number(start), parent)
            except TransactionError as exc:
                level = exc
            got = path[lv] = (i, level)
            for deeper in range(lv + 1, 3):
                path.pop(deeper, None)
        if isinstance(got[1], TransactionError):
            raise got[1]
        return got[1]

    def _tell_sinks(self, info: TransactionInfo, decisions: "dict[int, tuple[Claim | None, Decision | None]]",
                    keep: bytearray) -> Decimal:
        """Tell the sinks this transaction's claims; returns the charges of the unread ones."""
        index, sinks = self.index, self.run.sinks
        unread_total = Decimal(0)
        runs = self._unread_runs(decisions)
        providers: dict[int, Provider | None] = {}
        items: list[tuple[int, Any]] = []  # (first claim, what to tell)
        for a, b in runs:
            for a2, b2, top in self._by_billing_provider(a, b):
                charges = self._charges(a2, b2)
                unread_total += charges
                if top not in providers:
                    providers[top] = self._billing_provider(top)
                items.append((a2, (b2 - a2, charges, providers[top])))
        for j, (claim, decision) in decisions.items():
            if decision is not None:
                items.append((j, (claim, decision)))
        items.sort(key=lambda item: item[0])
        for sink in sinks:
            sink.begin_transaction(info)
            for _, what in items:
                if len(what) == 2:
                    sink.add(*what)
                else:
                    sink.add_unread(*what)
            sink.end_transaction()
        return unread_total

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

    # -- helpers ------------------------------------------------------------------------------
    def _unread_runs(self, read: "Iterable[int]") -> list[tuple[int, int]]:
        """(first, end) of each run of claims not in `read`."""
        runs: list[tuple[int, int]] = []
        k = 0
        for j in sorted(read):
            if j > k:
                runs.append((k, j))
            k = j + 1
        if k < self.index.claims:
            runs.append((k, self.index.claims))
        return runs

    def _by_billing_provider(self, a: int, b: int) -> Iterator[tuple[int, int, int]]:
        """Claims a..b-1 split where their billing provider (the level-20 HL above them)
        changes: (first, end, that HL's index)."""
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
        read)."""
        index = self.index
        if i < 0:
            return None
        reader = ClaimReader(self.d, EnvelopeContext(self.run.env.isa, None), kind="P", version="",  # type: ignore[arg-type]
                             transaction_index=0)
        try:
            start = index.hl[i]
            return reader.read_level(self._texts(start, index.block_end(i)), 0, None).billing_provider
        except TransactionError:
            return None

    def _charges(self, a: int, b: int) -> Decimal:
        """The sum of CLM02 of claims a..b-1 (all numbers: odd ones are read)."""
        index = self.index
        values = index.clm02[a:b] if index.clm02 is not None else None
        if values is None:  # a transaction too big to keep them: read them again
            data = self.held.read(index.clm[a], index.claim_end(b - 1))
            values = self.patterns.clm02.findall(data)
            first = self.patterns.clm02_first.match(data)
            if first is not None:
                values.insert(0, first.group(1) or b"")
        return sum_amounts(values) or Decimal(0)

    def _header_end(self) -> int:
        """Where the header (ST up to the first HL or CLM) ends."""
        index, p = self.index, self.patterns
        if index.located:
            return min(index.hl[0] if len(index.hl) else index.se, index.clm[0] if len(index.clm) else index.se)
        for offset, chunk in self.held.parts():  # in memory: pieces of whole segments
            starts = []
            for first, pattern, group in ((p.hl_first, p.hl, 1), (p.clm_first, p.clm, 1)):
                m = first.match(chunk) if offset else None
                if m is None:
                    m = pattern.search(chunk)
                if m is not None:
                    starts.append(offset + (0 if m.re is first else m.start(group)))
            if starts:
                return min(starts)
        return index.se

    def _texts(self, start: int, end: int) -> list[str]:
        """The texts of the whole segments from `start` to `end`."""
        data = self.held.read(start, end)
        return [part.decode("latin-1") for part in split_segments(data, self.d)]

    def _number(self, offset: int) -> int:
        """The number of the segment that starts at `offset` (offsets are asked in order)."""
        at, number = self._number_at
        if offset < at:
            at, number = 0, self.st.number
        number += self.held.count(self.d.segment, at, offset)
        self._number_at = (offset, number)
        return number

    def _notices(self, reader: ClaimReader) -> None:
        self.run._note(reader.notices)
        reader.notices.clear()


def _claim_id(t: _Transaction, k: int) -> str:
    """CLM01 of claim k, cut for a log line (a valid one has at most 38 characters)."""
    start = t.index.clm[k]
    data = t.held.read(start, min(t.held.find(t.d.segment, start), start + 200))
    parts = data.split(t.d.element)
    value = parts[1].decode("latin-1") if len(parts) > 1 else ""
    return value if len(value) <= 80 else value[:80] + "..."


class _Tally:
    """One transaction's decided claims, merged into the run's counts once it is settled."""

    def __init__(self) -> None:
        self.unevaluated = 0
        self.accepted = self.rejected = self.warnings = self.warned = 0
        self.charges = Decimal(0)
        self.charges_rejected = Decimal(0)
        self.by_rule: dict[str, int] = {}
        self.events: list[tuple[str, Claim, Decision]] = []

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
            self.events.append(("claim_rejected", claim, decision))
        else:
            self.accepted += 1
        if warnings:
            self.events.append(("claim_warning", claim, decision))

    def commit(self, stats: FilterStats, run: _Run, st: Segment, charges_unread: Decimal) -> None:
        stats.accepted += self.accepted
        stats.rejected += self.rejected
        stats.unevaluated += self.unevaluated
        stats.warnings += self.warnings
        stats.claims_warned += self.warned
        stats.charges_in += self.charges + charges_unread
        stats.charges_rejected += self.charges_rejected
        for rule, n in self.by_rule.items():
            stats.by_rule[rule] = stats.by_rule.get(rule, 0) + n
        for name, claim, decision in self.events:
            findings = decision.errors if name == "claim_rejected" else decision.warnings
            run.emit(name, file=run.where, claim_id=_short(claim.claim_id), rules=[f.rule_id for f in findings],
                     reasons=[f.message for f in findings], transaction=st.get(2),
                     segment=claim.location.segment_number if claim.location else None,
                     charge=str(claim.total_charge))


def _short(value: str, limit: int = 80) -> str:
    """A value cut for a log line (CLM01 is at most 38 characters in a valid 837)."""
    return value if len(value) <= limit else value[:limit] + "..."
