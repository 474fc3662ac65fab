# The 837 loop walker: segments of one ST..SE in, Claim values out, one claim at a time.
#
# Strategy: a segment-by-segment state machine. The state is which loop we are in (header,
# 2000A/B/C and their 2010 name loops, 2300, 2310, 2320/2330 COB, 2400/2410/2420/2430) and the
# hierarchy context each HL level contributes (billing provider, subscriber and payer, patient).
# A claim is collected into a mutable draft from its CLM to the next CLM/HL/SE and then frozen,
# so memory holds one claim plus the small HL context, whatever the size of the transaction.
# NM1*PR means the payer (2010BB) only in the subscriber level; after an SBR inside a claim it
# is another payer (2330B) and never replaces the claim's payer. Problems that would make a claim
# read wrongly raise TransactionError naming the segment; everything else is tolerated.
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from ..x12.envelope import EnvelopeIssue
from ..x12.errors import TransactionError, safe_id
from ..x12.reader import Segment
from .grammar import NAME_LOOP_END, NAME_LOOP_RANK, REQUIRED_ELEMENTS, SEGMENT_IDS, VALID_ID, VERSION_FAMILY
from .model import (
    Claim,
    ClaimLocation,
    DateRange,
    Diagnosis,
    Payer,
    Person,
    Provider,
    ServiceLine,
    TransactionInfo,
)

__all__ = ["TransactionWalker", "EnvelopeContext", "parse_date", "parse_dates"]


@dataclass(frozen=True, slots=True)
class EnvelopeContext:
    """The ISA and GS segments a transaction sits in (for TransactionInfo)."""

    isa: Segment
    gs: Segment | None


# ---------------------------------------------------------------------------------------------
# small parsers


def parse_date(value: str, *, seg: Segment) -> dt.date:
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        # A DMG date is a birth date (PHI): say which element is wrong, not what it holds.
        shown = "" if seg.id == "DMG" else f" {value!r}"
        raise TransactionError(f"{seg.id}: invalid date{shown} (CCYYMMDD expected)", segment_number=seg.number) from None


def parse_dates(qualifier: str, value: str, *, seg: Segment) -> DateRange:
    """D8 / RD8 / DT values into a DateRange."""
    if qualifier == "RD8":
        start, sep, end = value.partition("-")
        if not sep:  # a single date sent as RD8 (seen in TR3 examples): a one-day range
            end = start
        a, b = parse_date(start, seg=seg), parse_date(end, seg=seg)
        if b < a:
            raise TransactionError(f"{seg.id}: date range {value!r} ends before it starts", segment_number=seg.number)
        return DateRange(a, b)
    if qualifier == "DT":
        d = parse_date(value[:8], seg=seg)
        return DateRange(d, d)
    d = parse_date(value, seg=seg)
    return DateRange(d, d)


def _decimal(value: str, *, seg: Segment, what: str) -> Decimal:
    try:
        d = Decimal(value) if value else Decimal(0)
    except InvalidOperation:
        raise TransactionError(f"{seg.id}: {what} {value!r} is not a number", segment_number=seg.number) from None
    if not d.is_finite():
        raise TransactionError(f"{seg.id}: {what} {value!r} is not a number", segment_number=seg.number)
    return d


def _provider(seg: Segment) -> Provider:
    name = seg.get(3)
    first = seg.get(4)
    if first:
        name = f"{name}, {first}"
    npi = seg.get(9) if seg.get(8) == "XX" else None
    return Provider(entity=seg.get(1), name=name, npi=npi or None)


def _person(seg: Segment) -> Person:
    return Person(last_name=seg.get(3), first_name=seg.get(4), member_id=seg.get(9) or None, birth_date=None)


# ---------------------------------------------------------------------------------------------
# drafts (mutable while a loop is open, frozen when it closes)


@dataclass(slots=True)
class _LineDraft:
    number: int
    code: str = ""
    qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    charge: Decimal = Decimal(0)
    unit_basis: str = "UN"
    units: Decimal = Decimal(0)
    revenue_code: str | None = None
    place_of_service: str | None = None
    service_dates: DateRange | None = None
    control_number: str | None = None
    prior_authorizations: list[str] = field(default_factory=list)
    ndcs: list[str] = field(default_factory=list)
    segment_index: int = 0
    has_service: bool = False

    def freeze(self) -> ServiceLine:
        return ServiceLine(
            number=self.number,
            code=self.code,
            qualifier=self.qualifier,
            modifiers=self.modifiers,
            charge=self.charge,
            unit_basis=self.unit_basis,
            units=self.units,
            revenue_code=self.revenue_code,
            place_of_service=self.place_of_service,
            service_dates=self.service_dates,
            control_number=self.control_number,
            prior_authorizations=tuple(self.prior_authorizations),
            ndcs=tuple(self.ndcs),
            segment_index=self.segment_index,
        )


@dataclass(slots=True)
class _ClaimDraft:
    seg: Segment
    position: int
    fields: dict = field(default_factory=dict)
    lines: list[ServiceLine] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    prior_authorizations: list[str] = field(default_factory=list)
    referral_numbers: list[str] = field(default_factory=list)
    other_payers: list[Payer] = field(default_factory=list)
    line: _LineDraft | None = None
    loop: str = "2300"  # 2300 | 2310 | 2320 | 2330 | 2400 | 2410 | 2420 | 2430 | 2440


@dataclass(slots=True)
class _Level:
    """One HL level's contribution to the claims below it."""

    hl_id: str
    level: str  # 20 / 22 / 23
    parent: str | None
    billing_provider: Provider | None = None
    subscriber: Person | None = None
    patient: Person | None = None
    payer: Payer | None = None
    filing_indicator: str | None = None
    responsibility: str | None = None


# ---------------------------------------------------------------------------------------------


class TransactionWalker:
    """Reads the segments of one 837 transaction (ST first, SE last) and yields its claims.

    `feed(seg)` returns the claims completed by that segment (zero or one; a claim completes at
    the next CLM, HL or SE). Raises TransactionError when the transaction cannot be read as
    837 claims; the caller decides whether that is fatal or a pass-through.
    """

    def __init__(self, envelope: EnvelopeContext, *, transaction_index: int = 1, claim_index_start: int = 0,
                 screened: bool = False) -> None:
        self._env = envelope
        # screened: the caller has shown (edi_cgt.claims.screen.quiet) that the per-segment
        # checks would find nothing, so they are skipped; the claims read are the same.
        self._screened = screened
        self._transaction_index = transaction_index
        self.claims_seen = claim_index_start  # CLM segments seen in the whole input so far
        self._position = 0  # segment ordinal inside ST..SE
        self._st: Segment | None = None
        self._bht: Segment | None = None
        self._submitter: Provider | None = None
        self._receiver: Provider | None = None
        self._info: TransactionInfo | None = None
        self._kind = "P"
        # HL01 values seen, for the duplicate check, without holding every HL of a huge
        # transaction: ids numbered 1, 2, 3... in order are remembered by a counter, only the
        # others in a set.
        self._next_hl = 1
        self._odd_hl_ids: set[str] = set()
        self._last_level: dict[str, _Level] = {}
        self.notices: list[EnvelopeIssue] = []  # tolerated problems, for the caller to log
        self._current: _Level | None = None
        self._claim: _ClaimDraft | None = None
        self._name_loop: str | None = None  # NM101 of the open name loop, if any
        self._name_rank = -1
        self._level_entity: str | None = None  # which NM1 of the HL level we are in (85, IL, PR, QC ...)
        self._done = False
        self._claim_ids: dict[str, int] = {}  # CLM01 -> segment number of its first CLM

    # -- public -------------------------------------------------------------------------
    @property
    def info(self) -> TransactionInfo | None:
        return self._info

    @property
    def billing_provider(self) -> Provider | None:
        """The billing provider (2010AA) of the HL level read last."""
        return self._current.billing_provider if self._current is not None else None

    @property
    def st_control(self) -> str:
        return self._st.get(2) if self._st is not None else ""

    def feed(self, seg: Segment) -> Claim | None:
        if self._done:
            raise TransactionError("segment after SE", segment_number=seg.number)
        self._position += 1
        sid = seg.id if self._screened else self._check(seg)
        finished: Claim | None = None
        if sid in ("CLM", "HL", "SE") and self._claim is not None:
            finished = self._close_claim(seg)
        handler = _HANDLERS.get(sid)
        if handler is not None:
            handler(self, seg)
        else:
            self._on_other(seg, sid)
        return finished

    def walk(self, segments: Iterable[Segment]) -> Iterator[Claim]:
        for seg in segments:
            claim = self.feed(seg)
            if claim is not None:
                yield claim

    # -- checks ---------------------------------------------------------------------------
    def _check(self, seg: Segment) -> str:
        if not seg.data:
            raise TransactionError("empty segment (two terminators in a row)", segment_number=seg.number)
        sid = seg.id
        if sid not in SEGMENT_IDS:
            self._bad_id(seg, sid)
        required = REQUIRED_ELEMENTS.get(sid)
        if required:
            elements = seg.elements
            for pos in required:
                if pos >= len(elements) or not elements[pos]:
                    raise TransactionError(f"{sid}{pos:02d} is required but empty", segment_number=seg.number)
        rank = NAME_LOOP_RANK.get(sid)
        if rank is not None:
            if rank == 0:
                self._name_rank = 0
            elif self._name_loop is not None and rank < self._name_rank:
                before = next(k for k, v in NAME_LOOP_RANK.items() if v == self._name_rank)
                raise TransactionError(
                    f"{sid} out of order in the NM1*{self._name_loop} loop: it must come before {before}",
                    segment_number=seg.number,
                )
            elif rank > self._name_rank:
                self._name_rank = rank
        elif sid in NAME_LOOP_END:
            self._name_loop = None
            self._name_rank = -1
        return sid

    @staticmethod
    def _bad_id(seg: Segment, sid: str) -> None:
        if not VALID_ID.match(sid):
            if not sid:
                raise TransactionError("segment has no identifier (it starts with an element separator)", segment_number=seg.number)
            raise TransactionError(f"invalid segment identifier {safe_id(sid)} (2-3 upper-case letters or digits)",
                                   segment_number=seg.number)
        raise TransactionError(f"unknown segment {sid!r}: not an 837 segment", segment_number=seg.number)

    # -- header -------------------------------------------------------------------------
    def _on_ST(self, seg: Segment) -> None:
        if self._position != 1:
            raise TransactionError("ST inside a transaction", segment_number=seg.number)
        self._st = seg
        version = seg.get(3) or (self._env.gs.get(8) if self._env.gs else "")
        kind = VERSION_FAMILY.get(version)
        if kind is None and self._env.gs is not None:
            kind = VERSION_FAMILY.get(self._env.gs.get(8))
        self._kind = kind or "P"
        self._version = version

    def _on_BHT(self, seg: Segment) -> None:
        self._bht = seg

    def _on_SE(self, seg: Segment) -> None:
        self._done = True

    def _on_HL(self, seg: Segment) -> None:
        # The parent is found by level and order (a 22 hangs under the last 20, a 23 under the
        # last 22), which is what the TR3 nesting means; HL01/HL02 that disagree with it are
        # reported, not trusted, since real files number HLs wrongly and their claims are fine.
        hl_id, parent_id, level = seg.get(1), seg.get(2) or None, seg.get(3)
        want = {"20": None, "22": "20", "23": "22"}.get(level, "?")
        if want == "?":
            raise TransactionError(f"HL {hl_id!r} has level code {level!r}; an 837 uses 20, 22 and 23", segment_number=seg.number)
        parent = self._last_level.get(want) if want else None
        if want and parent is None:
            raise TransactionError(f"HL {hl_id!r} (level {level}) has no level-{want} HL above it", segment_number=seg.number)
        if self._hl_seen(hl_id):
            self._notice(seg, f"HL01 {hl_id!r} is used twice in this transaction")
        if parent is not None and parent_id != parent.hl_id:
            self._notice(seg, f"HL {hl_id!r} names parent {parent_id!r} but sits under HL {parent.hl_id!r} (level {want})")
        elif parent is None and parent_id:
            self._notice(seg, f"HL {hl_id!r} (level 20) names a parent {parent_id!r}; level 20 has none")
        base = parent
        lvl = _Level(hl_id, level, parent.hl_id if parent else None)
        if base is not None:  # inherit the context of the levels above
            lvl.billing_provider = base.billing_provider
            lvl.subscriber = base.subscriber
            lvl.payer = base.payer
            lvl.filing_indicator = base.filing_indicator
            lvl.responsibility = base.responsibility
        self._last_level[level] = lvl
        if level == "20":
            self._last_level.pop("22", None)
            self._last_level.pop("23", None)
        elif level == "22":
            self._last_level.pop("23", None)
        self._current = lvl
        self._level_entity = None
        if self._info is None:
            self._info = self._make_info(seg)

    # -- name loops ---------------------------------------------------------------------
    def _on_NM1(self, seg: Segment) -> None:
        entity = seg.get(1)
        self._name_loop = entity
        claim = self._claim
        if claim is None:
            self._level_entity = entity
            lvl = self._current
            if lvl is None:  # 1000A / 1000B
                if entity == "41":
                    self._submitter = Provider(entity="41", name=seg.get(3), npi=seg.get(9) or None)
                elif entity == "40":
                    self._receiver = Provider(entity="40", name=seg.get(3), npi=seg.get(9) or None)
                return
            if lvl.level == "20" and entity == "85":
                lvl.billing_provider = _provider(seg)
            elif lvl.level == "22" and entity == "IL":
                lvl.subscriber = _person(seg)
            elif lvl.level == "22" and entity == "PR":
                lvl.payer = Payer(name=seg.get(3), payer_id=seg.get(9) or None, id_qualifier=seg.get(8) or None)
            elif lvl.level == "23" and entity == "QC":
                lvl.patient = _person(seg)
            return
        # inside a claim
        if claim.loop in ("2300", "2310"):
            claim.loop = "2310"
            slot = {"77": "service_facility", "71": "attending", "82": "rendering", "DN": "referring", "P3": "referring"}.get(entity)
            if slot:
                claim.fields[slot] = _provider(seg)
        elif claim.loop in ("2320", "2330"):
            claim.loop = "2330"
            if entity == "PR":
                claim.other_payers.append(Payer(name=seg.get(3), payer_id=seg.get(9) or None, id_qualifier=seg.get(8) or None))
        elif claim.loop in ("2400", "2410", "2420"):
            claim.loop = "2420"

    def _on_DMG(self, seg: Segment) -> None:
        if self._claim is not None or self._current is None or seg.get(1) != "D8":
            return
        lvl = self._current
        target = "subscriber" if self._level_entity == "IL" else "patient" if self._level_entity == "QC" else None
        person = getattr(lvl, target) if target else None
        if person is not None:
            setattr(lvl, target, replace(person, birth_date=parse_date(seg.get(2), seg=seg), gender=seg.get(3) or None))

    def _on_SBR(self, seg: Segment) -> None:
        if self._claim is not None:
            self._claim.loop = "2320"
            return
        if self._current is not None:
            self._current.responsibility = seg.get(1) or None
            self._current.filing_indicator = seg.get(9) or None

    def _on_REF(self, seg: Segment) -> None:
        qual, value = seg.get(1), seg.get(2)
        claim = self._claim
        if claim is None:
            lvl = self._current
            if lvl is not None and lvl.level == "20" and self._level_entity == "85" and qual in ("EI", "SY"):
                if lvl.billing_provider is not None:
                    lvl.billing_provider = replace(lvl.billing_provider, tax_id=value)
            return
        if claim.loop == "2300":
            if qual == "G1":
                claim.prior_authorizations.append(value)
            elif qual == "9F":
                claim.referral_numbers.append(value)
            elif qual == "P4":
                claim.fields["demonstration_project"] = value
            elif qual == "D9":
                claim.fields["clearinghouse_trace"] = value
            elif qual == "F8":
                claim.fields["payer_claim_number"] = value
        elif claim.loop == "2400" and claim.line is not None:
            if qual == "6R":
                claim.line.control_number = value
            elif qual == "G1" and self._kind == "P":  # 005010X223 has no prior-auth REF in 2400
                claim.line.prior_authorizations.append(value)

    # -- claim ----------------------------------------------------------------------------
    def _on_CLM(self, seg: Segment) -> None:
        lvl = self._current
        if lvl is None or lvl.level not in ("22", "23"):
            raise TransactionError("CLM outside a subscriber (HL*22) or patient (HL*23) level", segment_number=seg.number)
        self.claims_seen += 1
        claim_id = seg.get(1)
        first = self._claim_ids.setdefault(claim_id, seg.number)
        if first != seg.number:
            # Both claims are read and decided; a 277CA names claims by CLM01, so say it.
            self._notice(seg, f"CLM01 {claim_id!r} is used again (first at segment {first}); each claim is evaluated")
        self._claim = _ClaimDraft(seg=seg, position=self._position)

    def _on_DTP(self, seg: Segment) -> None:
        claim = self._claim
        if claim is None:
            return
        qual = seg.get(1)
        if claim.loop == "2300":
            if qual == "434":
                claim.fields["statement_dates"] = parse_dates(seg.get(2), seg.get(3), seg=seg)
            elif qual == "435":
                claim.fields["admission_date"] = parse_date(seg.get(3)[:8], seg=seg)
        elif claim.loop == "2400" and claim.line is not None and qual == "472":
            claim.line.service_dates = parse_dates(seg.get(2), seg.get(3), seg=seg)

    def _on_HI(self, seg: Segment) -> None:
        claim = self._claim
        if claim is None or claim.loop != "2300":
            return
        comp = seg.delimiters.component_str
        for value in seg.elements[1:]:
            if not value:
                continue
            parts = value.split(comp)
            qualifier = parts[0]
            code = parts[1] if len(parts) > 1 else ""
            if code:
                claim.diagnoses.append(Diagnosis(qualifier=qualifier, code=code.replace(".", "").upper()))

    def _on_LX(self, seg: Segment) -> None:
        claim = self._claim
        if claim is None:
            raise TransactionError("service line (LX) outside a claim: no CLM before it", segment_number=seg.number)
        self._close_line(claim)
        try:
            number = int(seg.get(1))
        except ValueError:
            raise TransactionError(f"LX01 {seg.get(1)!r} is not a line number", segment_number=seg.number) from None
        claim.line = _LineDraft(number=number)
        claim.loop = "2400"

    def _on_SV1(self, seg: Segment) -> None:
        line = self._service(seg, procedure=1, charge=2)
        line.place_of_service = seg.get(5) or None

    def _on_SV2(self, seg: Segment) -> None:
        line = self._service(seg, procedure=2, charge=3)
        line.revenue_code = seg.get(1) or None

    def _service(self, seg: Segment, *, procedure: int, charge: int) -> _LineDraft:
        """SV1/SV2: the procedure composite at `procedure`, then charge, unit basis, units."""
        line = self._line_for(seg)
        comps = seg.components(procedure)
        line.qualifier = comps[0] if comps else ""
        line.code = (comps[1] if len(comps) > 1 else "").upper()
        line.modifiers = tuple(m.upper() for m in comps[2:6] if m)
        line.charge = _decimal(seg.get(charge), seg=seg, what=f"{seg.id}{charge:02d} charge")
        line.unit_basis = seg.get(charge + 1) or "UN"
        line.units = _decimal(seg.get(charge + 2), seg=seg, what=f"{seg.id}{charge + 2:02d} units")
        line.segment_index = self._position
        line.has_service = True
        return line

    def _on_LIN(self, seg: Segment) -> None:
        claim = self._claim
        if claim is None or claim.line is None:
            raise TransactionError("drug identification (LIN) outside a service line", segment_number=seg.number)
        claim.loop = "2410"
        if seg.get(2) == "N4" and seg.get(3):
            claim.line.ndcs.append(seg.get(3))

    def _on_SVD(self, seg: Segment) -> None:
        if self._claim is not None:
            self._claim.loop = "2430"

    def _on_other(self, seg: Segment, sid: str) -> None:
        if sid in ("SV3", "SV4", "SV5", "SV6", "SV7") and self._claim is None:
            raise TransactionError(f"service segment {sid} outside a claim", segment_number=seg.number)
        if sid in ("LQ", "FRM") and self._claim is not None:
            self._claim.loop = "2440"

    # -- helpers --------------------------------------------------------------------------
    def _hl_seen(self, hl_id: str) -> bool:
        """Record an HL01; True if it was seen before in this transaction."""
        if hl_id == str(self._next_hl) and hl_id not in self._odd_hl_ids:
            self._next_hl += 1
            return False
        if hl_id in self._odd_hl_ids:
            return True
        # A plain number below the counter was seen. Compared by length first: int() of a
        # huge string is refused, and of a non-ASCII digit (latin-1 '\xb2') fails.
        if (hl_id.isascii() and hl_id.isdigit() and hl_id[0] != "0"
                and len(hl_id) <= len(str(self._next_hl)) and int(hl_id) < self._next_hl):
            return True
        self._odd_hl_ids.add(hl_id)
        return False

    def _notice(self, seg: Segment, problem: str) -> None:
        self.notices.append(EnvelopeIssue(seg.number, problem))

    def _line_for(self, seg: Segment) -> _LineDraft:
        claim = self._claim
        if claim is None:
            raise TransactionError(f"service line ({seg.id}) outside a claim: no CLM before it", segment_number=seg.number)
        if claim.line is None or claim.loop != "2400":
            raise TransactionError(f"{seg.id} without the LX that starts its service line", segment_number=seg.number)
        if claim.line.has_service:
            raise TransactionError(f"second {seg.id} in service line {claim.line.number}", segment_number=seg.number)
        return claim.line

    def _close_line(self, claim: _ClaimDraft) -> None:
        if claim.line is not None:
            if not claim.line.has_service:
                raise TransactionError(f"service line {claim.line.number} has no SV1/SV2", segment_number=claim.seg.number)
            claim.lines.append(claim.line.freeze())
            claim.line = None

    def _close_claim(self, at: Segment) -> Claim:
        draft = self._claim
        assert draft is not None
        self._claim = None
        self._close_line(draft)
        seg = draft.seg
        if not draft.lines:
            raise TransactionError(f"claim {seg.get(1)!r} has no service lines (LX/SV1/SV2)", segment_number=seg.number)
        clm05 = seg.components(5)
        lvl = self._current
        assert lvl is not None
        facility = clm05[0] if clm05 else ""
        qualifier = clm05[1] if len(clm05) > 1 else ""
        kind = self._kind
        if self._version not in VERSION_FAMILY and qualifier in ("A", "B"):
            kind = "I" if qualifier == "A" else "P"
        info = self._info
        return Claim(
            claim_id=seg.get(1),
            total_charge=_decimal(seg.get(2), seg=seg, what="CLM02 total charge"),
            kind=kind,
            facility_code=facility,
            facility_qualifier=qualifier,
            frequency=clm05[2] if len(clm05) > 2 else "",
            lines=tuple(draft.lines),
            diagnoses=tuple(draft.diagnoses),
            prior_authorizations=tuple(draft.prior_authorizations),
            referral_numbers=tuple(draft.referral_numbers),
            other_payers=tuple(draft.other_payers),
            billing_provider=lvl.billing_provider,
            payer=lvl.payer,
            claim_filing_indicator=lvl.filing_indicator,
            payer_responsibility=lvl.responsibility,
            subscriber=lvl.subscriber,
            patient=lvl.patient if lvl.level == "23" else None,
            transaction=info,
            location=ClaimLocation(
                transaction_index=self._transaction_index,
                segment_number=seg.number,
                position_in_transaction=draft.position,
                claim_index=self.claims_seen,
            ),
            **draft.fields,
        )

    def _make_info(self, at: Segment) -> TransactionInfo:
        isa, gs, st, bht = self._env.isa, self._env.gs, self._st, self._bht
        if st is None:
            raise TransactionError("HL before ST", segment_number=at.number)
        created = None
        if bht is not None and bht.get(4):
            try:
                created = parse_date(bht.get(4), seg=bht)
            except TransactionError:
                created = None
        return TransactionInfo(
            sender_qualifier=isa.get(5),
            sender_id=isa.get(6).strip(),
            receiver_qualifier=isa.get(7),
            receiver_id=isa.get(8).strip(),
            interchange_control=isa.get(13),
            usage=isa.get(15) or "P",
            gs_sender=gs.get(2) if gs else "",
            gs_receiver=gs.get(3) if gs else "",
            group_control=gs.get(6) if gs else "",
            version=self._version,
            transaction_control=st.get(2),
            reference=bht.get(3) if bht else "",
            created=created,
            submitter=self._submitter or Provider(entity="41", name="", npi=None),
            receiver=self._receiver or Provider(entity="40", name="", npi=None),
        )


_HANDLERS = {name[4:]: func for name, func in vars(TransactionWalker).items() if name.startswith("_on_") and name != "_on_other"}
