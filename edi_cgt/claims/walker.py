# The 837 claim reader: the segments of a header, an HL level or a claim in, model values out.
#
# Strategy: the pipeline holds a transaction as bytes and finds its claims and HL levels with
# edi_cgt.claims.index; this module reads the ranges it is given, each once: the header (ST to
# the first HL) into a TransactionInfo, an HL block (HL to the next HL or CLM) into a _Level that
# inherits the context of the level above it (billing provider, subscriber, payer, patient), and
# a claim (CLM to the next CLM, HL or SE) into a frozen Claim. Each range arrives as the text of
# its segments; every segment read is checked against the grammar tables (edi_cgt.claims.grammar)
# and a problem that would make a claim read wrongly raises TransactionError naming the segment.
# Problems that leave the claim readable (HL numbering, a CLM01 used twice) are noted instead.
# (Repeats are looked for among the first REMEMBERED_IDS ids of a transaction.)
# NM1*PR means the payer (2010BB) only in the subscriber level; inside a claim, after an SBR, it
# is another payer (2330B) and never replaces the claim's payer.
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ..x12.delimiters import Delimiters
from ..x12.envelope import EnvelopeIssue
from ..x12.errors import TransactionError, safe_id
from ..x12.reader import Segment
from ..x12.values import decimal_value
from .grammar import CLAIM_ONLY, HL_PARENT_LEVEL, NAME_LOOP_END, NAME_LOOP_RANK, REQUIRED_ELEMENTS, SEGMENT_IDS, VALID_ID
from .model import Claim, ClaimLocation, DateRange, Diagnosis, Payer, Person, Provider, ServiceLine, TransactionInfo

__all__ = ["ClaimReader", "EnvelopeContext", "Level", "REMEMBERED_IDS", "parse_date", "parse_dates"]

# HL01 and CLM01 values remembered per transaction to notice one used twice: the first this many
# of each (the TR3 suggests at most 5,000 claims per transaction; the bound keeps a transaction
# of a million claims in the memory of a small one).
REMEMBERED_IDS = 20_000


@dataclass(frozen=True, slots=True)
class EnvelopeContext:
    """The ISA and GS segments a transaction sits in, and their ordinals in the input."""

    isa: Segment
    gs: Segment | None
    interchange_index: int = 1
    group_index: int = 1


# -- small parsers ----------------------------------------------------------------------------
def parse_date(value: str, sid: str, number: int) -> dt.date:
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        # A DMG date is a birth date (PHI): say which element is wrong, not what it holds.
        shown = "" if sid == "DMG" else f" {value!r}"
        raise TransactionError(f"{sid}: invalid date{shown} (CCYYMMDD expected)", segment_number=number) from None


def parse_dates(qualifier: str, value: str, sid: str, number: int) -> DateRange:
    """D8 / RD8 / DT values into a DateRange."""
    if qualifier == "RD8":
        start, sep, end = value.partition("-")
        if not sep:  # a single date sent as RD8 (seen in TR3 examples): a one-day range
            end = start
        a, b = parse_date(start, sid, number), parse_date(end, sid, number)
        if b < a:
            raise TransactionError(f"{sid}: date range {value!r} ends before it starts", segment_number=number)
        return DateRange(a, b)
    d = parse_date(value[:8] if qualifier == "DT" else value, sid, number)
    return DateRange(d, d)


def _number(value: str, what: str, sid: str, number: int) -> Decimal:
    try:
        return decimal_value(value)
    except ValueError:
        raise TransactionError(f"{sid}: {what} {value!r} is not a number", segment_number=number) from None


def _get(els: list[str], i: int) -> str:
    return els[i] if i < len(els) else ""


def _provider(els: list[str]) -> Provider:
    name, first = _get(els, 3), _get(els, 4)
    if first:
        name = f"{name}, {first}"
    npi = _get(els, 9) if _get(els, 8) == "XX" else None
    return Provider(entity=_get(els, 1), name=name, npi=npi or None)


def _person(els: list[str]) -> Person:
    return Person(last_name=_get(els, 3), first_name=_get(els, 4), member_id=_get(els, 9) or None, birth_date=None)


# -- values built while a range is read -------------------------------------------------------
@dataclass(slots=True)
class Level:
    """One HL level's contribution to the claims below it."""

    hl_id: str
    level: str  # 20 / 22 / 23
    billing_provider: Provider | None = None
    subscriber: Person | None = None
    patient: Person | None = None
    payer: Payer | None = None
    filing_indicator: str | None = None
    responsibility: str | None = None


@dataclass(slots=True)
class _Line:
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
    has_service: bool = False

    def freeze(self) -> ServiceLine:
        return ServiceLine(self.number, self.code, self.qualifier, self.modifiers, self.charge, self.unit_basis,
                           self.units, self.revenue_code, self.place_of_service, self.service_dates,
                           self.control_number, tuple(self.prior_authorizations), tuple(self.ndcs))


@dataclass(slots=True)
class _Claim:
    els: list[str]
    number: int
    fields: dict = field(default_factory=dict)
    lines: list[ServiceLine] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    prior_authorizations: list[str] = field(default_factory=list)
    referral_numbers: list[str] = field(default_factory=list)
    other_payers: list[Payer] = field(default_factory=list)
    comp: str = ":"  # the component separator
    kind: str = "P"  # 837P or 837I
    line: _Line | None = None
    loop: str = "2300"  # 2300 | 2310 | 2320 | 2330 | 2400 | 2410 | 2420 | 2430 | 2440


class _Checker:
    """The grammar check of one range of segments (its name-loop order state included)."""

    __slots__ = ("name_loop", "rank")

    def __init__(self) -> None:
        self.name_loop: str | None = None
        self.rank = -1

    def check(self, els: list[str], number: int) -> str:
        sid = els[0]
        if sid not in SEGMENT_IDS:
            _bad_id(sid, number, len(els) == 1 and not sid)
        required = REQUIRED_ELEMENTS.get(sid)
        if required:
            for pos in required:
                if pos >= len(els) or not els[pos]:
                    raise TransactionError(f"{sid}{pos:02d} is required but empty", segment_number=number)
        rank = NAME_LOOP_RANK.get(sid)
        if rank is not None:
            if rank == 0:
                self.rank = 0
                self.name_loop = _get(els, 1)
            elif self.name_loop is not None and rank < self.rank:
                before = next(k for k, v in NAME_LOOP_RANK.items() if v == self.rank)
                raise TransactionError(f"{sid} out of order in the NM1*{self.name_loop} loop: it must come before {before}",
                                       segment_number=number)
            elif rank > self.rank:
                self.rank = rank
        elif sid in NAME_LOOP_END:
            self.name_loop = None
            self.rank = -1
        return sid


def _bad_id(sid: str, number: int, empty: bool) -> None:
    if empty:
        raise TransactionError("empty segment (two terminators in a row)", segment_number=number)
    if not VALID_ID.match(sid):
        if not sid:
            raise TransactionError("segment has no identifier (it starts with an element separator)", segment_number=number)
        raise TransactionError(f"invalid segment identifier {safe_id(sid)} (2-3 upper-case letters or digits)",
                               segment_number=number)
    raise TransactionError(f"unknown segment {sid!r}: not an 837 segment", segment_number=number)


def _outside_claim(sid: str, number: int) -> None:
    """A segment that needs an open claim (or service line) where there is none."""
    if sid == "LX" or sid in ("SV1", "SV2"):
        raise TransactionError(f"service line ({sid}) outside a claim: no CLM before it", segment_number=number)
    if sid == "LIN":
        raise TransactionError("drug identification (LIN) outside a service line", segment_number=number)
    raise TransactionError(f"service segment {sid} outside a claim", segment_number=number)


# -- the reader -------------------------------------------------------------------------------
class ClaimReader:
    """Reads the header, HL levels and claims of one 837 transaction (see the module comment).

    `kind` is "P" or "I" (from the version, edi_cgt.claims.grammar.kind_of). Every method takes
    the segments' texts (data without terminators, latin-1) and the number of the first one.
    `notices` collects tolerated problems for the caller to log."""

    def __init__(self, delimiters: Delimiters, envelope: EnvelopeContext, *, kind: str, version: str,
                 transaction_index: int) -> None:
        self._elem = delimiters.element_str
        self._comp = delimiters.component_str
        self.envelope = envelope
        self._kind = kind
        self._version = version
        self._transaction_index = transaction_index
        self.info: TransactionInfo | None = None
        self.notices: list[EnvelopeIssue] = []
        self._hl_ids: set[str] = set()
        self._claim_ids: dict[str, int] = {}  # CLM01 -> segment number of the first claim read with it

    # -- header -------------------------------------------------------------------------------
    def read_header(self, texts: list[str], first: int) -> TransactionInfo:
        """ST up to the first HL: the submitter (1000A) and receiver (1000B)."""
        checker = _Checker()
        split = self._elem
        st = bht = None
        submitter = receiver = None
        for i, text in enumerate(texts):
            n = first + i
            els = text.split(split)
            sid = checker.check(els, n)
            if sid == "ST":
                if i:
                    raise TransactionError("ST inside a transaction", segment_number=n)
                st = els
            elif sid == "BHT":
                bht = els
            elif sid == "NM1":
                entity = els[1]
                if entity == "41":
                    submitter = Provider(entity="41", name=_get(els, 3), npi=_get(els, 9) or None)
                elif entity == "40":
                    receiver = Provider(entity="40", name=_get(els, 3), npi=_get(els, 9) or None)
            elif sid in CLAIM_ONLY:
                _outside_claim(sid, n)
        assert st is not None
        isa, gs = self.envelope.isa, self.envelope.gs
        created = None
        if bht is not None and _get(bht, 4):
            try:
                created = parse_date(_get(bht, 4), "BHT", first)
            except TransactionError:
                created = None
        self.info = TransactionInfo(
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
            transaction_control=_get(st, 2),
            reference=_get(bht, 3) if bht else "",
            created=created,
            submitter=submitter or Provider(entity="41", name="", npi=None),
            receiver=receiver or Provider(entity="40", name="", npi=None),
            interchange_index=self.envelope.interchange_index,
            group_index=self.envelope.group_index,
        )
        return self.info

    # -- HL levels ----------------------------------------------------------------------------
    def read_level(self, texts: list[str], first: int, parent: Level | None) -> Level:
        """One HL block (HL and its name loops, up to the next HL or CLM) under `parent`."""
        checker = _Checker()
        split = self._elem
        hl = texts[0].split(split)
        checker.check(hl, first)
        hl_id, parent_id, code = _get(hl, 1), _get(hl, 2) or None, _get(hl, 3)
        want = HL_PARENT_LEVEL.get(code, "?")
        if want == "?":
            raise TransactionError(f"HL {hl_id!r} has level code {code!r}; an 837 uses 20, 22 and 23", segment_number=first)
        if hl_id in self._hl_ids:
            self._notice(first, f"HL01 {hl_id!r} is used twice in this transaction")
        elif len(self._hl_ids) < REMEMBERED_IDS:
            self._hl_ids.add(hl_id)
        if parent is not None and parent_id != parent.hl_id:
            self._notice(first, f"HL {hl_id!r} names parent {parent_id!r} but sits under HL {parent.hl_id!r} (level {want})")
        elif parent is None and parent_id:
            self._notice(first, f"HL {hl_id!r} (level 20) names a parent {parent_id!r}; level 20 has none")
        lvl = Level(hl_id, code)
        if parent is not None:
            lvl.billing_provider = parent.billing_provider
            lvl.subscriber = parent.subscriber
            lvl.payer = parent.payer
            lvl.filing_indicator = parent.filing_indicator
            lvl.responsibility = parent.responsibility
        entity = None  # which NM1 of the level we are in (85, IL, PR, QC ...)
        for i in range(1, len(texts)):
            n = first + i
            els = texts[i].split(split)
            sid = checker.check(els, n)
            if sid == "NM1":
                entity = els[1]
                if code == "20" and entity == "85":
                    lvl.billing_provider = _provider(els)
                elif code == "22" and entity == "IL":
                    lvl.subscriber = _person(els)
                elif code == "22" and entity == "PR":
                    lvl.payer = Payer(name=_get(els, 3), payer_id=_get(els, 9) or None, id_qualifier=_get(els, 8) or None)
                elif code == "23" and entity == "QC":
                    lvl.patient = _person(els)
            elif sid == "DMG":
                if _get(els, 1) == "D8":
                    target = "subscriber" if entity == "IL" else "patient" if entity == "QC" else None
                    person = getattr(lvl, target) if target else None
                    if person is not None:
                        setattr(lvl, target, replace(person, birth_date=parse_date(_get(els, 2), "DMG", n),
                                                     gender=_get(els, 3) or None))
            elif sid == "SBR":
                lvl.responsibility = _get(els, 1) or None
                lvl.filing_indicator = _get(els, 9) or None
            elif sid == "REF":
                if code == "20" and entity == "85" and els[1] in ("EI", "SY") and lvl.billing_provider is not None:
                    lvl.billing_provider = replace(lvl.billing_provider, tax_id=els[2])
            elif sid in CLAIM_ONLY:
                _outside_claim(sid, n)
        return lvl

    # -- claims -------------------------------------------------------------------------------
    def read_claim(self, texts: list[str], first: int, level: Level, *, claim_index: int, st_number: int) -> Claim:
        """One claim (CLM up to the next CLM, HL or SE) of `level` (a 22 or 23)."""
        checker = _Checker()
        split = self._elem
        els = texts[0].split(split)
        checker.check(els, first)
        claim_id = els[1]
        seen = self._claim_ids.get(claim_id, first)
        if seen == first and len(self._claim_ids) < REMEMBERED_IDS:
            self._claim_ids[claim_id] = first
        elif seen != first:
            # Both claims are read and decided; a 277CA names claims by CLM01, so say it.
            self._notice(first, f"CLM01 {claim_id!r} is used again (first at segment {seen}); each claim is evaluated")
        draft = _Claim(els, first, comp=self._comp, kind=self._kind)
        for i in range(1, len(texts)):
            n = first + i
            els = texts[i].split(split)
            sid = checker.check(els, n)
            handler = _CLAIM_HANDLERS.get(sid)
            if handler is not None:
                handler(draft, els, n)
        return self._close(draft, level, claim_index, st_number)

    # -- helpers ------------------------------------------------------------------------------
    def _notice(self, number: int, problem: str) -> None:
        self.notices.append(EnvelopeIssue(number, problem))

    def _close(self, c: _Claim, level: Level, claim_index: int, st_number: int) -> Claim:
        _close_line(c)
        els, n = c.els, c.number
        if not c.lines:
            raise TransactionError(f"claim {els[1]!r} has no service lines (LX/SV1/SV2)", segment_number=n)
        clm05 = _get(els, 5).split(self._comp)
        return Claim(
            claim_id=els[1],
            total_charge=_number(_get(els, 2), "CLM02 total charge", "CLM", n),
            kind=self._kind,
            facility_code=clm05[0],
            facility_qualifier=clm05[1] if len(clm05) > 1 else "",
            frequency=clm05[2] if len(clm05) > 2 else "",
            lines=tuple(c.lines),
            diagnoses=tuple(c.diagnoses),
            prior_authorizations=tuple(c.prior_authorizations),
            referral_numbers=tuple(c.referral_numbers),
            other_payers=tuple(c.other_payers),
            billing_provider=level.billing_provider,
            payer=level.payer,
            claim_filing_indicator=level.filing_indicator,
            payer_responsibility=level.responsibility,
            subscriber=level.subscriber,
            patient=level.patient if level.level == "23" else None,
            transaction=self.info,
            location=ClaimLocation(
                transaction_index=self._transaction_index,
                segment_number=n,
                position_in_transaction=n - st_number + 1,
                claim_index=claim_index,
            ),
            **c.fields,
        )


# -- the segments of a claim, one function each (the draft carries what they need) ----------
def _on_DTP(c: _Claim, els: list[str], n: int) -> None:
    qual = els[1]
    if c.loop == "2300":
        if qual == "434":
            c.fields["statement_dates"] = parse_dates(els[2], els[3], "DTP", n)
        elif qual == "435":
            c.fields["admission_date"] = parse_date(els[3][:8], "DTP", n)
    elif c.loop == "2400" and c.line is not None and qual == "472":
        c.line.service_dates = parse_dates(els[2], els[3], "DTP", n)

def _on_HI(c: _Claim, els: list[str], n: int) -> None:
    if c.loop != "2300":
        return
    comp = c.comp
    for value in els[1:]:
        if value:
            parts = value.split(comp)
            code = parts[1] if len(parts) > 1 else ""
            if code:
                c.diagnoses.append(Diagnosis(qualifier=parts[0], code=code.replace(".", "").upper()))

def _on_LX(c: _Claim, els: list[str], n: int) -> None:
    _close_line(c)
    try:
        number = int(els[1])
    except ValueError:
        raise TransactionError(f"LX01 {els[1]!r} is not a line number", segment_number=n) from None
    c.line = _Line(number=number)
    c.loop = "2400"

def _on_SV1(c: _Claim, els: list[str], n: int) -> None:
    line = _service(c, els, n, procedure=1, charge=2)
    line.place_of_service = _get(els, 5) or None

def _on_SV2(c: _Claim, els: list[str], n: int) -> None:
    line = _service(c, els, n, procedure=2, charge=3)
    line.revenue_code = els[1] or None

def _service(c: _Claim, els: list[str], n: int, *, procedure: int, charge: int) -> _Line:
    """SV1/SV2: the procedure composite at `procedure`, then charge, unit basis, units."""
    sid = els[0]
    line = c.line
    if line is None or c.loop != "2400":
        raise TransactionError(f"{sid} without the LX that starts its service line", segment_number=n)
    if line.has_service:
        raise TransactionError(f"second {sid} in service line {line.number}", segment_number=n)
    value = _get(els, procedure)
    comps = value.split(c.comp) if value else []
    line.qualifier = comps[0] if comps else ""
    line.code = (comps[1] if len(comps) > 1 else "").upper()
    line.modifiers = tuple(m.upper() for m in comps[2:6] if m)
    line.charge = _number(_get(els, charge), f"{sid}{charge:02d} charge", sid, n)
    line.unit_basis = _get(els, charge + 1) or "UN"
    line.units = _number(_get(els, charge + 2), f"{sid}{charge + 2:02d} units", sid, n)
    line.has_service = True
    return line

def _on_NM1(c: _Claim, els: list[str], n: int) -> None:
    entity = els[1]
    if c.loop in ("2300", "2310"):
        c.loop = "2310"
        slot = _NAME_SLOTS.get(entity)
        if slot:
            c.fields[slot] = _provider(els)
    elif c.loop in ("2320", "2330"):
        c.loop = "2330"
        if entity == "PR":
            c.other_payers.append(Payer(name=_get(els, 3), payer_id=_get(els, 9) or None,
                                        id_qualifier=_get(els, 8) or None))
    elif c.loop in ("2400", "2410", "2420"):
        c.loop = "2420"

def _on_SBR(c: _Claim, els: list[str], n: int) -> None:
    c.loop = "2320"

def _on_REF(c: _Claim, els: list[str], n: int) -> None:
    qual, value = els[1], els[2]
    if c.loop == "2300":
        if qual == "G1":
            c.prior_authorizations.append(value)
        elif qual == "9F":
            c.referral_numbers.append(value)
        elif qual == "P4":
            c.fields["demonstration_project"] = value
        elif qual == "D9":
            c.fields["clearinghouse_trace"] = value
        elif qual == "F8":
            c.fields["payer_claim_number"] = value
    elif c.loop == "2400" and c.line is not None:
        if qual == "6R":
            c.line.control_number = value
        elif qual == "G1" and c.kind == "P":  # 005010X223 has no prior-auth REF in 2400
            c.line.prior_authorizations.append(value)

def _on_LIN(c: _Claim, els: list[str], n: int) -> None:
    if c.line is None:
        _outside_claim("LIN", n)
    c.loop = "2410"
    if _get(els, 2) == "N4" and _get(els, 3):
        c.line.ndcs.append(els[3])  # type: ignore[union-attr]

def _on_SVD(c: _Claim, els: list[str], n: int) -> None:
    c.loop = "2430"

def _on_LQ(c: _Claim, els: list[str], n: int) -> None:
    c.loop = "2440"

def _on_inside(c: _Claim, els: list[str], n: int) -> None:
    """A segment that only a transaction's frame may hold (ST, HL, CLM, SE) inside a claim:
    the index never gives such a range, so this is a caller's mistake."""
    raise TransactionError(f"{els[0]} inside a claim", segment_number=n)

def _close_line(c: _Claim) -> None:
    if c.line is not None:
        if not c.line.has_service:
            raise TransactionError(f"service line {c.line.number} has no SV1/SV2", segment_number=c.number)
        c.lines.append(c.line.freeze())
        c.line = None


_NAME_SLOTS = {"77": "service_facility", "71": "attending", "82": "rendering", "DN": "referring", "P3": "referring"}
_CLAIM_HANDLERS = {
    "DTP": _on_DTP, "HI": _on_HI, "LX": _on_LX, "SV1": _on_SV1,
    "SV2": _on_SV2, "NM1": _on_NM1, "SBR": _on_SBR, "REF": _on_REF,
    "LIN": _on_LIN, "SVD": _on_SVD, "LQ": _on_LQ, "FRM": _on_LQ,
    "ST": _on_inside, "HL": _on_inside, "CLM": _on_inside,
    "SE": _on_inside,
}
