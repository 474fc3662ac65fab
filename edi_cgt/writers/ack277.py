# The 277CA (005010X214) writer: claim acknowledgments, streamed.
#
# Strategy: the 277CA puts totals (2000B, 2000C) before the claims they count, but claims arrive
# one at a time and a transaction may hold any number of them. So each claim worth reporting is
# rendered to bytes as soon as it arrives (its HL number is already known: HL numbers only grow)
# and appended to a per-transaction spool file; each billing-provider group is rendered when it
# ends and appended to a second spool. When the input transaction ends, the header and the 2000B
# totals are written, then the two spools are read back in lockstep. Memory holds one claim and a
# few counters, never the list of claims.
#
# Envelopes mirror the input: one output interchange per input interchange (parties swapped), one
# GS per input group, one ST..SE per input transaction that has something to report, all opened
# lazily so that an input with nothing to report yields zero bytes. The caller says where each
# transaction begins and ends (begin_transaction/end_transaction, with the interchange and group
# ordinals in its TransactionInfo); nothing is inferred from the claims. A 2000C loop covers a run of
# consecutive claims with the same billing provider (in an 837 that is one 2000A loop).
#
# Two classes: AckWriter keeps the state (transactions, spools, envelopes, control numbers) and
# _Segments renders loops to bytes. Every value taken from a claim goes through
# `_Segments.clean`: delimiter characters and anything outside the X12 5010 extended character
# set become spaces, whitespace is collapsed, and the value is cut to its element's maximum
# length, so no input can break the segment structure.
from __future__ import annotations

import datetime as _dt
import re
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import IO, BinaryIO

from ..claims.model import Claim, DateRange, Person, Provider, ServiceLine, TransactionInfo
from ..policy.findings import AckCode, Decision, Finding
from ..x12.delimiters import Delimiters

__all__ = [
    "AckWriter",
    "DEFAULT_ACK",
    "REDACTED",
    "VERSION",
]

VERSION = "005010X214"
# A rejecting finding whose policy data names no 277CA code: 21 "Missing or invalid information"
# needs a companion code, so 732 "Information submitted inconsistent with billing guidelines"
# goes in STC10 and the rule's own text in STC12. Both are in pyx12's code list (<= 771).
DEFAULT_ACK = AckCode(category="A7", status="21", extra_status="732")
# Placeholder for the patient's name and member id when PHI is left out (NM109 needs >= 2 chars).
REDACTED = "REDACTED"
UNKNOWN = "UNKNOWN"

SPOOL_MAX_BYTES = 4 * 1024 * 1024
_MAX_CONTROL = 999_999_999

# Element maximum lengths (pyx12 dataele.xml) for the values copied from the input.
_LEN_NAME = 60  # NM103
_LEN_FIRST = 35  # NM104
_LEN_ID = 80  # NM109
_LEN_REF = 50  # REF02, TRN02, BHT03
_LEN_TEXT = 264  # STC12
_LEN_PRODUCT = 48  # SVC01-2, SVC04
_LEN_CODE = 3  # STC01-1/-3 and friends
_LEN_STATUS = 30  # STC01-2
_LEN_APP = 15  # GS02/GS03, ISA06/ISA08

# The X12 5010 extended character set (what pyx12 accepts in AN/ID elements); each writer
# removes its own delimiters from it.
_EXTENDED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    "!\"&'()*+,-./:;?= %~@[]_{}\\|<>^`#$"
)
_SPACES = re.compile(r"\s+")
# Characters the writer itself emits inside element values (amounts, RD8 ranges, ISA padding):
# a delimiter equal to one of them would corrupt the output.
_RESERVED = frozenset(b"0123456789.- ") | frozenset(range(ord("A"), ord("Z") + 1)) | frozenset(
    range(ord("a"), ord("z") + 1)
)
_REPETITION_CANDIDATES = (b"^", b"!", b"{", b"}", b"|", b"`")
_SVC_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "NU", "WK"})

_CLAIM_HEADER = struct.Struct(">II")  # segments, bytes
_RUN_HEADER = struct.Struct(">III")  # segments, claims in the run, bytes


# -- values ----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Tally:
    """Accepted/rejected counts and amounts for a transaction or a provider run."""

    accepted: int = 0
    rejected: int = 0
    accepted_amount: Decimal = Decimal(0)
    rejected_amount: Decimal = Decimal(0)

    def add_accepted(self, claims: int, amount: Decimal) -> None:
        self.accepted += claims
        self.accepted_amount += amount

    def add(self, amount: Decimal, rejected: bool) -> None:
        if rejected:
            self.rejected += 1
            self.rejected_amount += amount
        else:
            self.add_accepted(1, amount)

    @property
    def total(self) -> Decimal:
        return self.accepted_amount + self.rejected_amount


@dataclass(slots=True)
class _Run:
    """Consecutive claims of one billing provider: one 2000C loop if any of them is reported."""

    provider: Provider | None
    tally: _Tally = field(default_factory=_Tally)
    hl: int | None = None  # assigned when the first reported claim arrives
    reported: int = 0


@dataclass(slots=True)
class _Transaction:
    """An input 837 transaction being acknowledged."""

    info: TransactionInfo
    claims: IO[bytes]
    runs: IO[bytes]
    tally: _Tally = field(default_factory=_Tally)
    run: _Run | None = None
    next_hl: int = 3  # 1 = 2000A, 2 = 2000B
    reported: int = 0
    rejected_reported: int = 0
    run_count: int = 0


# -- the writer ------------------------------------------------------------------------------
class AckWriter:
    """Write 277CA acknowledgments for the claims of input 837 transactions, in input order.

    Per transaction: `begin_transaction(info)`, then for every claim in order `add(claim,
    decision)`, or `add_unread(n, charges, provider)` for accepted claims that were not read (they
    count in the totals), then `end_transaction()`; `close()` at the end. With `ack_all` every
    claim gets a 2000D loop, otherwise only rejected claims do, and a transaction without
    rejections gets no 277 at all.
    """

    def __init__(
        self,
        out: BinaryIO,
        *,
        ack_all: bool = False,
        delimiters: Delimiters | None = None,
        now: _dt.datetime | None = None,
        control_number_start: int = 1,
        newline: bytes = b"\n",
        include_phi: bool = True,
    ) -> None:
        if not 1 <= control_number_start <= _MAX_CONTROL:
            raise ValueError(
                f"control_number_start must be between 1 and {_MAX_CONTROL}, got {control_number_start}"
            )
        self._out = out
        self._ack_all = ack_all
        self._f = _Segments(_usable_delimiters(delimiters or Delimiters()), now or _dt.datetime.now(), newline,
                            include_phi)
        self._isa_ctl = self._gs_ctl = self._st_ctl = control_number_start
        self._txn: _Transaction | None = None
        # Output envelope state: which input interchange/group the open ISA/GS mirror.
        self._open_isa: int | None = None
        self._open_isa_ctl = ""
        self._isa_groups = 0
        self._open_gs: tuple[int, int] | None = None  # (interchange, group) ordinals of the input
        self._open_gs_ctl = ""
        self._gs_sets = 0
        self._closed = False
        self.transactions_written = 0
        self.claims_reported = 0
        self.claims_rejected = 0

    # -- public API ----------------------------------------------------------------------
    def begin_transaction(self, info: TransactionInfo) -> None:
        """An input 837 transaction begins; its claims follow in order (add, add_unread)."""
        if self._closed:
            raise ValueError("AckWriter.begin_transaction() after close()")
        if self._txn is not None:
            raise ValueError("AckWriter.begin_transaction() before end_transaction()")
        self._txn = _Transaction(
            info=info,
            claims=tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES),
            runs=tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES),
        )

    def add(self, claim: Claim, decision: Decision) -> None:
        """Account for one claim of the transaction; render it if it is to be reported."""
        txn = self._current("add")
        if decision.claim_id != claim.claim_id:
            raise ValueError(f"decision for claim {decision.claim_id!r} given with claim {claim.claim_id!r}")
        run = self._run(txn, claim.billing_provider)
        rejected = decision.rejected
        txn.tally.add(claim.total_charge, rejected)
        run.tally.add(claim.total_charge, rejected)
        if not (rejected or self._ack_all):
            return
        if run.hl is None:
            run.hl = txn.next_hl
            txn.next_hl += 1
        hl = txn.next_hl
        txn.next_hl += 1
        segments = self._f.claim(claim, decision, hl, run.hl)
        payload = b"".join(segments)
        txn.claims.write(_CLAIM_HEADER.pack(len(segments), len(payload)))
        txn.claims.write(payload)
        run.reported += 1
        txn.reported += 1
        if rejected:
            txn.rejected_reported += 1

    def add_unread(self, claims: int, charges: Decimal, billing_provider: Provider | None) -> None:
        """Account for `claims` accepted claims in a row, all of one billing provider, that were
        not read one by one: they count in the totals only (never with ack_all, which reports
        every claim). `billing_provider` is None only for a transaction none of whose claims was
        read, which has nothing to report."""
        txn = self._current("add_unread")
        if self._ack_all:
            raise ValueError("with ack_all every claim is reported: add() each one")
        run = self._run(txn, billing_provider)
        txn.tally.add_accepted(claims, charges)
        run.tally.add_accepted(claims, charges)

    def end_transaction(self) -> None:
        """The transaction is complete: write its 277 if it has anything to report."""
        txn, self._txn = self._current("end_transaction"), None
        try:
            self._finish_run(txn)
            if txn.reported:
                self._write_transaction(txn)
        finally:
            txn.claims.close()
            txn.runs.close()

    def _current(self, what: str) -> "_Transaction":
        if self._txn is None:
            raise ValueError(f"AckWriter.{what}() outside begin_transaction()/end_transaction()")
        return self._txn

    def _run(self, txn: "_Transaction", provider: Provider | None) -> "_Run":
        """The billing-provider run the next claims belong to (a new one when it changes)."""
        if txn.run is None or txn.run.provider != provider:
            self._finish_run(txn)
            txn.run = _Run(provider)
        return txn.run

    def close(self) -> None:
        """Write the last transaction and the open GE/IEA. Does not close `out`."""
        if self._closed:
            return
        if self._txn is not None:
            self.end_transaction()
        self._close_interchange()
        self._closed = True

    def __enter__(self) -> "AckWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # The transaction in progress may be incomplete: drop it, but close the envelopes of
        # what was already written so that the output stays well-formed.
        # If `out` itself failed, the original exception is the one worth seeing.
        self._closed = True
        txn, self._txn = self._txn, None
        if txn is not None:
            txn.claims.close()
            txn.runs.close()
        try:
            self._close_interchange()
        except Exception:  # noqa: BLE001 - already propagating `exc`
            pass

    # -- transactions --------------------------------------------------------------------
    def _finish_run(self, txn: _Transaction) -> None:
        run = txn.run
        if run is None or run.hl is None:
            return
        segments = self._f.provider(run)
        payload = b"".join(segments)
        txn.runs.write(_RUN_HEADER.pack(len(segments), run.reported, len(payload)))
        txn.runs.write(payload)
        txn.run_count += 1

    def _write_transaction(self, txn: _Transaction) -> None:
        self._open_envelopes(txn)
        st_ctl = f"{self._st_ctl:04d}"
        self._st_ctl = _next_control(self._st_ctl)
        reference = f"277CA{self._open_isa_ctl}{st_ctl}"
        head = [self._f.seg("ST", "277", st_ctl, VERSION)]
        head += self._f.header(txn, reference)
        count = len(head)
        self._out.write(b"".join(head))
        txn.runs.seek(0)
        txn.claims.seek(0)
        for _ in range(txn.run_count):
            nseg, nclaims, size = _RUN_HEADER.unpack(_read_exact(txn.runs, _RUN_HEADER.size))
            self._out.write(_read_exact(txn.runs, size))
            count += nseg
            for _ in range(nclaims):
                nseg, size = _CLAIM_HEADER.unpack(_read_exact(txn.claims, _CLAIM_HEADER.size))
                self._out.write(_read_exact(txn.claims, size))
                count += nseg
        self._out.write(self._f.seg("SE", str(count + 1), st_ctl))
        self._gs_sets += 1
        self.transactions_written += 1
        self.claims_reported += txn.reported
        self.claims_rejected += txn.rejected_reported

    # -- envelopes -----------------------------------------------------------------------
    def _open_envelopes(self, txn: _Transaction) -> None:
        info = txn.info
        if self._open_isa != info.interchange_index:
            self._close_interchange()
            ctl = f"{self._isa_ctl:09d}"
            self._isa_ctl = _next_control(self._isa_ctl)
            self._out.write(self._f.isa(info, ctl))
            self._open_isa, self._open_isa_ctl, self._isa_groups = info.interchange_index, ctl, 0
        if self._open_gs != (info.interchange_index, info.group_index):
            self._close_group()
            ctl = str(self._gs_ctl)
            self._gs_ctl = _next_control(self._gs_ctl)
            self._out.write(
                self._f.seg(
                    "GS", "HN",
                    self._f.clean(info.gs_receiver, _LEN_APP) or UNKNOWN,
                    self._f.clean(info.gs_sender, _LEN_APP) or UNKNOWN,
                    self._f.date, self._f.time, ctl, "X", VERSION,
                )
            )
            self._open_gs, self._open_gs_ctl, self._gs_sets = (info.interchange_index, info.group_index), ctl, 0
            self._isa_groups += 1

    def _close_group(self) -> None:
        if self._open_gs is None:
            return
        self._out.write(self._f.seg("GE", str(self._gs_sets), self._open_gs_ctl))
        self._open_gs = None

    def _close_interchange(self) -> None:
        self._close_group()
        if self._open_isa is None:
            return
        self._out.write(self._f.seg("IEA", str(self._isa_groups), self._open_isa_ctl))
        self._open_isa = None


class _Segments:
    """The 277CA's segments for one set of delimiters and one run date: every value cleaned
    (see the module comment), every loop rendered to bytes."""

    def __init__(self, d: Delimiters, now: _dt.datetime, newline: bytes, include_phi: bool) -> None:
        self._include_phi = include_phi
        self._d = d
        e, c, s = d.element, d.component, d.segment
        assert d.repetition is not None
        allowed = "".join(sorted(_EXTENDED - {ch.decode("latin-1") for ch in (e, c, s, d.repetition)}))
        self._bad_chars = re.compile("[^" + re.escape(allowed) + "]")
        self._texts: dict[Finding, str] = {}  # STC12 per finding: rules repeat across claims
        self._e = e.decode("latin-1")
        self._c = c.decode("latin-1")
        # A newline that contains a delimiter would add empty segments or elements: drop it.
        self._end = s + (b"" if any(bytes([b]) in (e, c, s) for b in newline) else newline)
        self.date = now.strftime("%Y%m%d")
        self.time = now.strftime("%H%M")
        self.isa_date = now.strftime("%y%m%d")

    def isa(self, info: TransactionInfo, ctl: str) -> bytes:
        """ISA with the input's parties swapped; fixed width (106 bytes with the terminator)."""
        assert self._d.repetition is not None
        usage = info.usage if info.usage in ("P", "T") else "T"
        fields = [
            "00", " " * 10, "00", " " * 10,
            self._fixed(info.receiver_qualifier, 2), self._fixed(info.receiver_id, 15),
            self._fixed(info.sender_qualifier, 2), self._fixed(info.sender_id, 15),
            self.isa_date, self.time, self._d.repetition.decode("latin-1"), "00501", ctl, "0",
            usage, self._c,
        ]
        return ("ISA" + self._e + self._e.join(fields)).encode("latin-1") + self._end

    # -- loops ----------------------------------------------------------------------------
    def header(self, txn: _Transaction, reference: str) -> list[bytes]:
        info, tally = txn.info, txn.tally
        received = info.created.strftime("%Y%m%d") if info.created else self.date
        seg = self.seg
        out = [
            seg("BHT", "0085", "08", reference, self.date, self.time, "TH"),
            # 2000A information source: the 837's receiver (1000B).
            seg("HL", "1", "", "20", "1"),
            seg("NM1", "PR", "2", self.clean(info.receiver.name, _LEN_NAME) or UNKNOWN,
                "", "", "", "", "46",
                self._ident(info.receiver.npi, info.gs_receiver)),
            seg("TRN", "1", reference),
            seg("DTP", "050", "D8", received),
            seg("DTP", "009", "D8", self.date),
            # 2000B information receiver: the 837's submitter (1000A).
            seg("HL", "2", "1", "21", "1"),
            seg("NM1", "41", "2", self.clean(info.submitter.name, _LEN_NAME) or UNKNOWN,
                "", "", "", "", "46",
                self._ident(info.submitter.npi, info.gs_sender)),
            seg("TRN", "2", self.clean(info.reference, _LEN_REF) or "0"),
            seg("STC", self._comp("A1", "19", "PR"), self.date, "WQ", _amount(tally.total)),
        ]
        out += self._totals(tally, "90", "AA")
        return out

    def provider(self, run: _Run) -> list[bytes]:
        """2000C/2100C/2200C for one billing-provider run (rendered when the run ends)."""
        assert run.hl is not None
        prov = run.provider
        name = self.clean(prov.name, _LEN_NAME) if prov else ""
        npi = self._id(prov.npi) if prov else ""
        tax_id = self.clean(prov.tax_id, _LEN_REF) if prov else ""
        if len(npi) >= 2:
            qualifier, ident = "XX", npi
        else:
            qualifier, ident = "FI", self._ident(tax_id)
        seg = self.seg
        out = [
            seg("HL", str(run.hl), "2", "19", "1"),
            seg("NM1", "85", "2", name or UNKNOWN, "", "", "", "", qualifier, ident),
            seg("TRN", "1", "0"),
            seg("STC", self._comp("A1", "19", "PR"), "", "WQ", _amount(run.tally.total)),
        ]
        if tax_id:
            out.append(seg("REF", "TJ", tax_id))
        out += self._totals(run.tally, "QA", "QC")
        return out

    def _totals(self, tally: _Tally, accepted_qty: str, rejected_qty: str) -> list[bytes]:
        out = []
        if tally.accepted:
            out.append(self.seg("QTY", accepted_qty, str(tally.accepted)))
        if tally.rejected:
            out.append(self.seg("QTY", rejected_qty, str(tally.rejected)))
        if tally.accepted:
            out.append(self.seg("AMT", "YU", _amount(tally.accepted_amount)))
        if tally.rejected:
            out.append(self.seg("AMT", "YY", _amount(tally.rejected_amount)))
        return out

    def claim(self, claim: Claim, decision: Decision, hl: int, parent: int) -> list[bytes]:
        """2000D/2100D/2200D (+ 2220D per rejected line) for one reported claim."""
        seg = self.seg
        last, first, member_id = self._patient(claim)
        out = [
            seg("HL", str(hl), str(parent), "PT"),
            seg("NM1", "QC", "1", last, first, "", "", "", "MI", member_id),
            seg("TRN", "2", self.clean(claim.claim_id, _LEN_REF) or "0"),
        ]
        charge = _amount(claim.total_charge)
        errors = decision.errors
        if errors:
            for finding in errors:
                ack = finding.ack or DEFAULT_ACK
                extra = self._comp(ack.category, ack.extra_status) if ack.extra_status else ""
                out.append(
                    seg("STC", self._ack(ack), self.date, "U", charge,
                        "", "", "", "", "", extra, "", self._text(finding))
                )
        else:
            out.append(seg("STC", self._comp("A2", "20"), self.date, "WQ", charge))
        if claim.clearinghouse_trace:
            trace = self.clean(claim.clearinghouse_trace, _LEN_REF)
            if trace:
                out.append(seg("REF", "D9", trace))
        if claim.kind == "I":
            bill_type = self.clean(claim.facility_code + claim.frequency, _LEN_REF)
            if bill_type:
                out.append(seg("REF", "BLT", bill_type))
        dates = claim.statement_dates if claim.kind == "I" else None
        dates = dates or claim.service_dates
        out.append(self._dtp(dates) if dates else seg("DTP", "472", "D8", self._fallback_date(claim)))
        for line in claim.lines:
            line_errors = [f for f in errors if f.line_number == line.number]
            if line_errors:
                out += self._line_segments(claim, line, line_errors)
        return out

    def _line_segments(self, claim: Claim, line: ServiceLine, findings: list[Finding]) -> list[bytes]:
        seg = self.seg
        code = self.clean(line.code, _LEN_PRODUCT)
        revenue = self.clean(line.revenue_code or "", _LEN_PRODUCT)
        if code:
            qualifier = line.qualifier if line.qualifier in _SVC_QUALIFIERS else "HC"
            mods = [self.clean(m, 2) for m in line.modifiers[:4]]
            product = self._comp(qualifier, code, *mods)
            svc04 = revenue
        else:
            product = self._comp("NU", revenue or UNKNOWN)
            svc04 = ""
        units = _amount(line.units) if line.units else ""
        out = [seg("SVC", product, _amount(line.charge), "", svc04, "", "", units)]
        # pyx12 allows one STC here: up to three codes go in STC01, STC10 and STC11.
        composites: list[str] = []
        for finding in findings:
            ack = finding.ack or DEFAULT_ACK
            for comp in (self._ack(ack),
                         self._comp(ack.category, ack.extra_status) if ack.extra_status else ""):
                if comp and comp not in composites:
                    composites.append(comp)
        extra = composites[1:3] + [""] * (3 - len(composites[:3]))
        out.append(seg("STC", composites[0], self.date, "U", "", "", "", "", "", "",
                       extra[0], extra[1]))
        if line.control_number:
            ctl = self.clean(line.control_number, _LEN_REF)
            if ctl:
                out.append(seg("REF", "FJ", ctl))
        dates = claim.line_dates(line)
        if dates:
            out.append(self._dtp(dates))
        return out

    def _patient(self, claim: Claim) -> tuple[str, str, str]:
        """NM103, NM104, NM109 for the 2100D patient (placeholders without PHI)."""
        if not self._include_phi:
            return REDACTED, "", REDACTED
        person: Person | None = claim.member
        last = self.clean(person.last_name, _LEN_NAME) if person else ""
        first = self.clean(person.first_name, _LEN_FIRST) if person else ""
        # In 5010 a dependent patient has no id of their own: the subscriber's id identifies them.
        ids = [p.member_id for p in (person, claim.subscriber) if p is not None and p.member_id]
        return last or UNKNOWN, first, self._ident(*ids)

    def _fallback_date(self, claim: Claim) -> str:
        """DTP*472 is required: without any service date use the 837's date, else today."""
        info = claim.transaction
        if info is not None and info.created is not None:
            return info.created.strftime("%Y%m%d")
        return self.date

    def _dtp(self, dates: DateRange) -> bytes:
        if dates.start == dates.end:
            return self.seg("DTP", "472", "D8", dates.start.strftime("%Y%m%d"))
        return self.seg(
            "DTP", "472", "RD8", f"{dates.start:%Y%m%d}-{dates.end:%Y%m%d}"
        )

    def _ack(self, ack: AckCode) -> str:
        return self._comp(
            self.clean(ack.category, _LEN_CODE),
            self.clean(ack.status, _LEN_STATUS),
            self.clean(ack.entity or "", _LEN_CODE),
        )

    def _text(self, finding: Finding) -> str:
        """STC12: rule id, message and the policy passage, as much as fits in 264 characters."""
        text = self._texts.get(finding)
        if text is None:
            parts = [finding.rule_id, finding.message]
            if finding.passage:
                parts.append("policy " + finding.passage)
            text = self.clean("; ".join(parts), _LEN_TEXT)
            if len(self._texts) >= 4096:
                self._texts.clear()
            self._texts[finding] = text
        return text

    # -- syntax helpers ------------------------------------------------------------------
    def seg(self, tag: str, *elements: str) -> bytes:
        items = list(elements)
        while items and items[-1] == "":
            items.pop()
        return self._e.join([tag, *items]).encode("latin-1") + self._end

    def _comp(self, *parts: str | None) -> str:
        items = [p or "" for p in parts]
        while items and items[-1] == "":
            items.pop()
        return self._c.join(items)

    def clean(self, value: str | None, max_len: int) -> str:
        """An element value safe for output: no delimiters, only X12 extended characters."""
        if not value:
            return ""
        if not value.isascii():
            # Letters with accents keep their base letter; other characters become spaces.
            value = "".join(
                ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch)
            )
        text = self._bad_chars.sub(" ", value)
        return _SPACES.sub(" ", text).strip()[:max_len].rstrip()

    def _id(self, value: str | None) -> str:
        return self.clean(value, _LEN_ID)

    def _ident(self, *candidates: str | None) -> str:
        """The first candidate usable as NM109 (2 to 80 characters), else a placeholder."""
        for value in candidates:
            ident = self._id(value)
            if len(ident) >= 2:
                return ident
        return UNKNOWN

    def _fixed(self, value: str, width: int) -> str:
        return self.clean(value, width).ljust(width)


# -- module helpers ----------------------------------------------------------------------------
def _usable_delimiters(d: Delimiters) -> Delimiters:
    """Check the delimiters against what the writer emits; choose ISA11 if there is none."""
    used = [("element", d.element), ("component", d.component), ("segment", d.segment)]
    if d.repetition is not None:
        used.append(("repetition", d.repetition))
    for name, value in used:
        if value[0] in _RESERVED:
            raise ValueError(
                f"{name} delimiter {value!r} cannot be used in a 277CA: letters, digits, "
                "space, '.' and '-' appear inside element values"
            )
    if len({v for _, v in used}) != len(used):
        raise ValueError(f"delimiters must all differ, got {d!r}")
    if d.repetition is not None:
        return d
    taken = {d.element, d.component, d.segment}
    rep = next(c for c in _REPETITION_CANDIDATES if c not in taken)
    return Delimiters(element=d.element, component=d.component, segment=d.segment, repetition=rep)


def _next_control(n: int) -> int:
    return 1 if n >= _MAX_CONTROL else n + 1


def _amount(value: Decimal) -> str:
    """An X12 R value: plain notation, no exponent, no trailing zeros after the point."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise RuntimeError(f"277CA spool file truncated: wanted {n} bytes, got {len(data)}")
    return data
