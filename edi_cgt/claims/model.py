# The 837 claim model: plain, frozen values.
#
# Strategy: everything a rule or a writer needs about one claim (loop 2300 with its lines, plus
# the hierarchy it hangs under) is copied out of the segments into small frozen dataclasses.
# No value here knows about bytes, files or policy. Strings are kept as they came (codes are
# upper-cased and diagnosis codes lose any dot); money and units are Decimal so that "1.50" and
# "1.5" compare equal and nothing is rounded. Fields that identify a person (names, member ids,
# birth dates) live only in `Person`, so that callers can leave them out in one place.
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "DateRange",
    "Diagnosis",
    "Provider",
    "Payer",
    "Person",
    "ServiceLine",
    "Claim",
    "TransactionInfo",
    "ClaimLocation",
]


@dataclass(frozen=True, slots=True)
class DateRange:
    """An inclusive range of dates; a single date (D8) has start == end."""

    start: _dt.date
    end: _dt.date

    def __contains__(self, day: _dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One HI composite: `qualifier` is HIxx-1 (ABK principal, ABF other, BG condition...)."""

    qualifier: str
    code: str  # upper case, no dot: "D571", "Z006"


@dataclass(frozen=True, slots=True)
class Provider:
    """An NM1 provider loop: entity code (85 billing, 77 service facility, 82, 71 ...) and NPI."""

    entity: str
    name: str
    npi: str | None
    tax_id: str | None = None  # REF*EI / REF*SY under 2010AA


@dataclass(frozen=True, slots=True)
class Payer:
    """2010BB payer (or a 2330B other payer): NM103 name and NM109 payer id."""

    name: str
    payer_id: str | None
    id_qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """Subscriber or patient. PHI: never logged unless the user opts in."""

    last_name: str
    first_name: str
    member_id: str | None
    birth_date: _dt.date | None
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One 2400 loop (SV1 on 837P, SV2 on 837I)."""

    number: int  # LX01
    code: str  # SV101-2 / SV202-2: HCPCS or CPT, upper case; "" when an 837I line has only a revenue code
    qualifier: str = "HC"  # SV101-1 / SV202-1
    modifiers: tuple[str, ...] = ()
    charge: Decimal = Decimal(0)
    unit_basis: str = "UN"  # UN units, MJ minutes, DA days
    units: Decimal = Decimal(0)
    revenue_code: str | None = None  # 837I SV201
    place_of_service: str | None = None  # 837P SV105 (overrides CLM05-1)
    service_dates: DateRange | None = None  # DTP*472
    control_number: str | None = None  # REF*6R
    prior_authorizations: tuple[str, ...] = ()  # 837P 2400 REF*G1
    ndcs: tuple[str, ...] = ()  # 2410 LIN N4


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """What the 277CA needs from the envelope and header around a claim."""

    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06 (stripped)
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08 (stripped)
    interchange_control: str  # ISA13
    usage: str  # ISA15 P/T
    gs_sender: str  # GS02
    gs_receiver: str  # GS03
    group_control: str  # GS06
    version: str  # GS08 / ST03, e.g. 005010X222A1
    transaction_control: str  # ST02
    reference: str  # BHT03
    created: _dt.date | None  # BHT04
    submitter: Provider  # 1000A NM1*41 (entity 41; npi holds NM109)
    receiver: Provider  # 1000B NM1*40
    interchange_index: int = 1  # ordinal of its interchange (ISA) in the input
    group_index: int = 1  # ordinal of its functional group (GS) in the input

    @property
    def kind(self) -> str:
        """'P' for 837P (X222...), 'I' for 837I (X223...)."""
        return "I" if "X223" in self.version else "P"


@dataclass(frozen=True, slots=True)
class ClaimLocation:
    """Where a claim sits in its input: for error messages, reports and the 277CA."""

    transaction_index: int  # 1-based count of ST segments in the input
    segment_number: int  # 1-based ordinal of the CLM segment in the whole input
    position_in_transaction: int  # ordinal of CLM within its ST..SE (ST = 1)
    claim_index: int  # 1-based count of CLM segments in the whole input


@dataclass(frozen=True, slots=True)
class Claim:
    """One 2300 loop with its lines and the hierarchy context it hangs under."""

    claim_id: str  # CLM01 (patient control number)
    total_charge: Decimal  # CLM02
    kind: str  # "P" or "I"
    facility_code: str  # CLM05-1: place of service (837P) or facility type code (837I)
    facility_qualifier: str  # CLM05-2: B (837P) or A (837I)
    frequency: str  # CLM05-3: 1 original, 7 replacement, 8 void
    lines: tuple[ServiceLine, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()  # every HI composite, condition codes included
    prior_authorizations: tuple[str, ...] = ()  # 2300 REF*G1
    referral_numbers: tuple[str, ...] = ()  # 2300 REF*9F
    demonstration_project: str | None = None  # REF*P4 (clinical trial NCT number)
    clearinghouse_trace: str | None = None  # REF*D9
    payer_claim_number: str | None = None  # REF*F8
    statement_dates: DateRange | None = None  # 837I DTP*434
    admission_date: _dt.date | None = None  # DTP*435
    billing_provider: Provider | None = None  # 2010AA
    service_facility: Provider | None = None  # 2310C (837P) / 2310E (837I), NM1*77
    attending: Provider | None = None  # 837I 2310A NM1*71
    rendering: Provider | None = None  # 2310B/2310D NM1*82
    referring: Provider | None = None  # NM1*DN / P3
    payer: Payer | None = None  # 2010BB
    other_payers: tuple[Payer, ...] = ()  # 2330B (COB)
    claim_filing_indicator: str | None = None  # SBR09
    payer_responsibility: str | None = None  # SBR01 P/S/T...
    subscriber: Person | None = None  # 2010BA (PHI)
    patient: Person | None = None  # 2010CA when the patient is not the subscriber (PHI)
    transaction: TransactionInfo | None = field(default=None, compare=False)
    location: ClaimLocation | None = field(default=None, compare=False)

    # -- derived views -------------------------------------------------------------------
    @property
    def type_of_bill(self) -> str | None:
        """837I type of bill in its 4-character form, e.g. '0131'; None on 837P."""
        if self.kind != "I":
            return None
        return "0" + self.facility_code + self.frequency

    @property
    def is_void(self) -> bool:
        return self.frequency == "8"

    @property
    def diagnosis_codes(self) -> tuple[str, ...]:
        """Diagnosis codes proper (ICD), without condition codes and procedure codes."""
        return tuple(d.code for d in self.diagnoses if d.qualifier in _DIAGNOSIS_QUALIFIERS)

    @property
    def condition_codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.diagnoses if d.qualifier == "BG")

    @property
    def service_dates(self) -> DateRange | None:
        """The claim's span of service: line dates if any, else the statement dates."""
        spans = [ln.service_dates for ln in self.lines if ln.service_dates is not None]
        if spans:
            return DateRange(min(s.start for s in spans), max(s.end for s in spans))
        return self.statement_dates

    def line_dates(self, line: ServiceLine) -> DateRange | None:
        """A line's own dates, else the claim's statement dates (837I lines may omit DTP*472)."""
        return line.service_dates or self.statement_dates

    def line_place_of_service(self, line: ServiceLine) -> str | None:
        """837P: SV105 when present, else CLM05-1. 837I: None (use type_of_bill)."""
        if self.kind != "P":
            return None
        return line.place_of_service or self.facility_code

    @property
    def service_facility_npi(self) -> str | None:
        """NM1*77 NPI when present, else the billing provider's (the site rosters are keyed so)."""
        for prov in (self.service_facility, self.billing_provider):
            if prov is not None and prov.npi:
                return prov.npi
        return None

    @property
    def member(self) -> Person | None:
        """The person the claim is for: the 2000C patient if any, else the subscriber."""
        return self.patient or self.subscriber


# ICD-10 (AB*) and ICD-9 (B*) diagnosis qualifiers: principal, other, admitting, reason for
# visit, external cause. Procedure (BBR/BBQ), condition (BG), value (BE) etc. are not diagnoses.
_DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "ABJ", "APR", "ABN", "BK", "BF", "BJ", "PR", "BN"})
