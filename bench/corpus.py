# Synthetic 837P/837I authoring: a small builder and a streaming corpus generator.
#
# Strategy: claims are described by small frozen specs (LineSpec, ClaimSpec, ...) that say what
# a claim *is*; the builder turns them into segments and never decides content. The HL tree is
# derived, not declared: consecutive claims with the same billing provider share a 2000A, with
# the same subscriber and payer a 2000B, with the same dependent patient a 2000C, so HL numbers,
# parents and HL04 are always right. Segments are first assembled with private placeholder
# separators (\x01 element, \x02 component, \x03 terminator); one transaction at a time is
# checked for real delimiter characters in the data and then translated to the requested
# delimiters with three str.replace calls. That keeps every delimiter choice (pipes, 0x1D,
# newline as terminator, ISA11=U) on one code path and makes the generator fast.
#
# The corpus generator builds and emits one transaction at a time, so its memory does not grow
# with the number of claims. Interchange k draws from random.Random(f"edi-cgt-corpus/{seed}/{k}"):
# the bytes depend only on the seed and the options, and worker processes (jobs > 1) can make
# interchanges side by side and still produce the same file. Each generated claim comes with an
# Intent (accept / reject / warn, and why) so benchmarks can check a checker's answers.
from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gzip
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from .argtypes import delimiter, pair

if TYPE_CHECKING:
    from .progress import Progress

__all__ = [
    "Format",
    "Address",
    "PersonSpec",
    "ProviderSpec",
    "PayerSpec",
    "SubmitterSpec",
    "OtherPayerSpec",
    "LineSpec",
    "ClaimSpec",
    "TransactionSpec",
    "GroupSpec",
    "InterchangeSpec",
    "Therapy",
    "Intent",
    "CorpusStats",
    "THERAPIES",
    "SCENARIOS",
    "DEFAULT_VIOLATION_MIX",
    "FFS_PAYER",
    "MCP_PAYERS",
    "COMMERCIAL_PAYER",
    "CGT_CENTER_A",
    "CGT_CENTER_B",
    "CGT_CENTER_C",
    "COMMUNITY_HOSPITAL",
    "QUALIFIED_TREATMENT_CENTERS",
    "HEMOPHILIA_TREATMENT_CENTERS",
    "DEFAULT_CREATED",
    "make_npi",
    "npi_is_valid",
    "version_string",
    "build_file",
    "build_interchange",
    "build_837",
    "site_toml",
    "generate_claims",
    "generate_corpus",
    "write_corpus",
    "INTENT_COLUMNS",
    "main",
]

# Placeholder separators used while a transaction is assembled (see the strategy note).
_E = "\x01"
_C = "\x02"
_T = "\x03"
_PLACEHOLDERS = frozenset((_E, _C, _T))

DEFAULT_CREATED = _dt.datetime(2025, 12, 20, 10, 30)
_VERSIONS = {"P": "005010X222A1", "I": "005010X223A2"}


# =============================================================================================
# Output format (delimiters and layout)
# =============================================================================================
@dataclass(frozen=True, slots=True)
class Format:
    """Delimiters and byte layout of the output.

    `newline` is written after every segment terminator ("" none, "\\n" LF, "\\r\\n" CRLF);
    `bom` puts a UTF-8 byte-order mark before the first ISA. A `repetition` that is a letter or
    digit (ISA11 = "U", the 00401 habit) is written into ISA11 but is not a delimiter.
    """

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    newline: str = ""
    bom: bool = False

    def __post_init__(self) -> None:
        for name in ("element", "component", "repetition", "segment"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) != 1:
                raise ValueError(f"Format.{name} must be one character, got {value!r}")
            if value in _PLACEHOLDERS or value == "\x00" or ord(value) > 127:
                raise ValueError(f"Format.{name} {value!r} is not a usable X12 delimiter")
        for name in ("element", "component", "segment"):
            value = getattr(self, name)
            if value.isalnum() or value == " ":
                raise ValueError(f"Format.{name} {value!r} is a letter, digit or space")
        if self.newline not in ("", "\n", "\r\n"):
            raise ValueError(f"Format.newline must be '', '\\n' or '\\r\\n', got {self.newline!r}")
        used = [self.element, self.component, self.segment]
        if self.repetition_is_delimiter:
            used.append(self.repetition)
        if len(set(used)) != len(used):
            raise ValueError(f"delimiters must all differ: {used!r}")

    @property
    def repetition_is_delimiter(self) -> bool:
        return not (self.repetition.isalnum() or self.repetition == " ")

    @property
    def forbidden(self) -> tuple[str, ...]:
        """Characters that may not appear inside data values."""
        chars = [self.element, self.component, self.segment, "\r", "\n"]
        if self.repetition_is_delimiter:
            chars.append(self.repetition)
        return tuple(dict.fromkeys(chars))

    def describe(self) -> str:
        """A short, printable description for manifests: ele='*' sub=':' rep='^' seg='~'."""
        return (
            f"ele={self.element!r} sub={self.component!r} rep={self.repetition!r} "
            f"seg={self.segment!r}"
        )

    def layout(self) -> str:
        parts = [{"": "no-newlines", "\n": "LF", "\r\n": "CRLF"}[self.newline]]
        if self.bom:
            parts.append("BOM")
        return "+".join(parts)


# =============================================================================================
# Specs: what a claim is
# =============================================================================================
@dataclass(frozen=True, slots=True)
class Address:
    line: str = "100 TEST ST"
    city: str = "SACRAMENTO"
    state: str = "CA"
    postal_code: str = "958140001"  # 9 digits: 2010AA requires ZIP+4


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """A subscriber or patient. `member_id` is not written for a 2000C patient (5010 has none)."""

    last_name: str
    first_name: str
    member_id: str
    birth_date: _dt.date
    gender: str = "U"  # F, M or U
    address: Address = Address()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider with an NPI: an organisation, or a person when `first_name` is set."""

    name: str
    npi: str
    first_name: str | None = None
    tax_id: str | None = None  # 2010AA REF*EI (required for a billing provider)
    address: Address = Address()

    @property
    def is_person(self) -> bool:
        return self.first_name is not None


@dataclass(frozen=True, slots=True)
class PayerSpec:
    payer_id: str  # NM109 with NM108 = PI
    name: str


@dataclass(frozen=True, slots=True)
class SubmitterSpec:
    """1000A submitter and 1000B receiver of a transaction."""

    name: str = "TEST CLEARINGHOUSE"
    submitter_id: str = "TESTSUBMIT01"
    contact: str = "TEST BILLING DESK"
    phone: str = "9165550100"
    receiver_name: str = "MEDI-CAL"
    receiver_id: str = "610442"


@dataclass(frozen=True, slots=True)
class OtherPayerSpec:
    """Coordination of benefits: one 2320 loop with its 2330A subscriber and 2330B payer."""

    payer: PayerSpec
    subscriber: PersonSpec
    responsibility: str = "P"  # the other payer's SBR01
    relationship: str = "18"  # 2320 SBR02: the patient's relationship to that subscriber
    filing_indicator: str = "CI"
    group_number: str | None = "GRP0001"
    paid_amount: Decimal | None = None  # AMT*D, with a DTP*573 adjudication date
    paid_date: _dt.date | None = None


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One 2400 service line (SV1 on 837P, SV2 on 837I)."""

    code: str  # HCPCS/CPT; "" for an 837I line with only a revenue code
    charge: Decimal
    units: Decimal = Decimal(1)
    modifiers: tuple[str, ...] = ()
    unit_basis: str = "UN"  # UN units, MJ minutes (837P), DA days (837I)
    revenue_code: str | None = None  # 837I SV201 (required there)
    place_of_service: str | None = None  # 837P SV105
    service_date: _dt.date | None = None  # DTP*472 (required on 837P)
    service_end: _dt.date | None = None  # set for an RD8 range
    control_number: str | None = None  # REF*6R
    prior_authorizations: tuple[str, ...] = ()  # 837P 2400 REF*G1 (max 5)
    ndc: str | None = None  # 2410 LIN*N4 (11 digits)
    ndc_quantity: Decimal | None = None  # CTP04; defaults to `units`
    ndc_unit: str = "UN"  # CTP05-1: F2, GR, ME, ML, UN
    diagnosis_pointers: tuple[int, ...] = ()  # 837P SV107; () points at the first four

    def __post_init__(self) -> None:
        if len(self.modifiers) > 4:
            raise ValueError(f"line {self.code}: at most 4 modifiers, got {len(self.modifiers)}")
        if len(self.prior_authorizations) > 5:
            raise ValueError(f"line {self.code}: at most 5 line REF*G1")


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One 2300 loop with its lines and the parties it hangs under."""

    claim_id: str  # CLM01
    kind: str  # "P" (837P) or "I" (837I)
    facility_code: str  # CLM05-1: place of service (P) or facility type code (I)
    diagnoses: tuple[str, ...]  # ICD-10-CM without the dot; the first is the principal
    lines: tuple[LineSpec, ...]
    subscriber: PersonSpec
    billing_provider: ProviderSpec
    payer: PayerSpec
    frequency: str = "1"  # CLM05-3: 1 original, 7 replacement, 8 void
    patient: PersonSpec | None = None  # set: the claim goes under a 2000C dependent patient
    patient_relationship: str = "19"  # PAT01 (19 child, 01 spouse, ...)
    condition_codes: tuple[str, ...] = ()  # HI*BG
    prior_authorization: str | None = None  # 2300 REF*G1 (TAR/SAR)
    payer_claim_number: str | None = None  # REF*F8 (for frequency 7/8)
    demonstration_project: str | None = None  # REF*P4 (clinical-trial NCT number, 8 digits)
    clearinghouse_trace: str | None = None  # REF*D9
    statement_dates: tuple[_dt.date, _dt.date] | None = None  # 837I DTP*434 (derived if None)
    admission_date: _dt.date | None = None  # DTP*435
    admission_type: str = "3"  # 837I CL101
    admission_source: str = "1"  # 837I CL102
    patient_status: str = "01"  # 837I CL103
    service_facility: ProviderSpec | None = None  # NM1*77 (837P 2310C / 837I 2310E)
    attending: ProviderSpec | None = None  # 837I NM1*71 (required on 837I)
    rendering: ProviderSpec | None = None  # NM1*82 (837P 2310B / 837I 2310D)
    other_payer: OtherPayerSpec | None = None  # COB: 2320 + 2330A + 2330B
    payer_responsibility: str = "P"  # 2000B SBR01
    filing_indicator: str = "MC"  # 2000B SBR09
    group_number: str | None = None  # 2000B SBR03

    def __post_init__(self) -> None:
        where = f"claim {self.claim_id!r}"
        if self.kind not in ("P", "I"):
            raise ValueError(f"{where}: kind must be 'P' or 'I', got {self.kind!r}")
        if not self.diagnoses:
            raise ValueError(f"{where}: at least one diagnosis (the principal) is required")
        if not self.lines:
            raise ValueError(f"{where}: at least one service line is required")
        if self.kind == "P":
            if len(self.diagnoses) > 12:
                raise ValueError(f"{where}: 837P allows 12 diagnoses, got {len(self.diagnoses)}")
            if len(self.lines) > 50:
                raise ValueError(f"{where}: 837P allows 50 lines, got {len(self.lines)}")
            for line in self.lines:
                if line.service_date is None:
                    raise ValueError(f"{where}: 837P line {line.code} needs a service date")
        else:
            if len(self.diagnoses) > 25:
                raise ValueError(f"{where}: 837I allows 1 + 24 diagnoses here")
            if len(self.lines) > 999:
                raise ValueError(f"{where}: 837I allows 999 lines")
            if self.attending is None:
                raise ValueError(f"{where}: 837I needs an attending provider (NM1*71)")
            for line in self.lines:
                if not line.revenue_code:
                    raise ValueError(f"{where}: 837I line {line.code!r} needs a revenue code")
                if line.prior_authorizations:
                    raise ValueError(f"{where}: 837I has no line-level REF*G1")
            if self.statement_dates is None and self._line_span() is None:
                raise ValueError(f"{where}: 837I needs statement dates or dated lines")
        if len(self.condition_codes) > 12:
            raise ValueError(f"{where}: at most 12 condition codes")

    @property
    def is_dependent(self) -> bool:
        """True when the claim sits under a 2000C patient loop."""
        return self.patient is not None

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))

    def _line_span(self) -> tuple[_dt.date, _dt.date] | None:
        starts = [ln.service_date for ln in self.lines if ln.service_date is not None]
        if not starts:
            return None
        ends = [ln.service_end or ln.service_date for ln in self.lines if ln.service_date]
        return min(starts), max(e for e in ends if e is not None)

    @property
    def statement_span(self) -> tuple[_dt.date, _dt.date]:
        """837I DTP*434: the given statement dates, else the span of the line dates."""
        span = self.statement_dates or self._line_span()
        assert span is not None  # checked in __post_init__ for 837I
        return span


@dataclass(frozen=True, slots=True)
class TransactionSpec:
    """One ST..SE: its claims (grouped into the HL tree by the builder) and header values."""

    claims: tuple[ClaimSpec, ...]
    control_number: str = "0001"  # ST02 / SE02
    reference: str = "BATCH0001"  # BHT03
    submitter: SubmitterSpec = SubmitterSpec()
    purpose: str = "00"  # BHT02


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One GS..GE of 837s of one kind."""

    kind: str  # "P" or "I"
    transactions: tuple[TransactionSpec, ...]
    control_number: int = 1  # GS06 / GE02
    version: str | None = None  # GS08/ST03: None = X222A1/X223A2; "X222A2" or "005010X222A2"
    sender_code: str = "TESTSUBMIT01"  # GS02
    receiver_code: str = "610442"  # GS03

    def __post_init__(self) -> None:
        if self.kind not in ("P", "I"):
            raise ValueError(f"GroupSpec.kind must be 'P' or 'I', got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class InterchangeSpec:
    """One ISA..IEA."""

    groups: tuple[GroupSpec, ...]
    control_number: int = 1  # ISA13 / IEA02
    sender_qualifier: str = "ZZ"
    sender_id: str = "TESTSUBMIT01"
    receiver_qualifier: str = "ZZ"
    receiver_id: str = "610442"
    usage: str = "T"  # ISA15
    ack_requested: str = "0"  # ISA14
    created: _dt.datetime = DEFAULT_CREATED


def version_string(kind: str, version: str | None = None) -> str:
    """GS08/ST03 for a kind: the default (X222A1 / X223A2), or a suffix such as "X223A3"."""
    if version is None:
        return _VERSIONS[kind]
    return version if version.startswith("00") else "005010" + version


# =============================================================================================
# Identifiers
# =============================================================================================
def _npi_check_digit(first9: str) -> str:
    """Luhn check digit over "80840" + the first nine NPI digits."""
    total = 0
    for i, ch in enumerate(reversed("80840" + first9)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_npi(n: int, prefix: str = "1") -> str:
    """A well-formed (Luhn-valid) 10-digit NPI built from a small number, e.g. make_npi(7)."""
    first9 = prefix + f"{n:08d}"
    if len(first9) != 9 or not first9.isdigit():
        raise ValueError(f"cannot make a 10-digit NPI from {prefix!r} and {n}")
    return first9 + _npi_check_digit(first9)


def npi_is_valid(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and _npi_check_digit(npi[:9]) == npi[9]


# =============================================================================================
# Segment assembly (placeholder separators)
# =============================================================================================
def _seg(*elements: str) -> str:
    """One segment from its id and elements; trailing empty elements are dropped."""
    n = len(elements)
    while n > 1 and not elements[n - 1]:
        n -= 1
    return _E.join(elements[:n])


def _comp(*parts: str) -> str:
    n = len(parts)
    while n > 1 and not parts[n - 1]:
        n -= 1
    return _C.join(parts[:n])


@functools.lru_cache(maxsize=4096)
def _d8(day: _dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _date_element(start: _dt.date, end: _dt.date | None) -> tuple[str, str]:
    """(qualifier, value) for a DTP: D8 for one day, RD8 for a range."""
    if end is None or end == start:
        return "D8", _d8(start)
    return "RD8", f"{_d8(start)}-{_d8(end)}"


@functools.lru_cache(maxsize=4096)
def _num(value: Decimal) -> str:
    """An X12 R/N value: no exponent, no trailing zeros ("1500", "12.5")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _encode(text: str, fmt: Format) -> bytes:
    """Check data for delimiter characters, then swap placeholders for real delimiters."""
    for ch in fmt.forbidden:
        if ch in text:
            raise ValueError(_delimiter_clash(text, ch))
    text = text.replace(_E, fmt.element).replace(_C, fmt.component)
    text = text.replace(_T, fmt.segment + fmt.newline)
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError(f"non-ASCII character in data at offset {exc.start}") from None


def _delimiter_clash(text: str, ch: str) -> str:
    at = text.index(ch)
    start = text.rfind(_T, 0, at) + 1
    number = text.count(_T, 0, at) + 1
    seg_id = text[start : text.find(_E, start)]
    element = text.count(_E, start, at)
    # The value itself is not quoted: it may be a name or a member id.
    return (
        f"segment {seg_id} (number {number} in its transaction), element {element:02d}, "
        f"contains the delimiter {ch!r}; change the data or the delimiters"
    )


# =============================================================================================
# Builder: envelope
# =============================================================================================
def _isa(spec: InterchangeSpec, fmt: Format) -> str:
    for name in ("sender_id", "receiver_id"):
        value = getattr(spec, name)
        if not 1 <= len(value) <= 15 or any(c in value for c in fmt.forbidden):
            raise ValueError(f"ISA {name} {value!r} must be 1-15 characters without delimiters")
    if not 0 <= spec.control_number <= 999_999_999:
        raise ValueError(f"ISA13 {spec.control_number} does not fit 9 digits")
    created = spec.created
    elements = (
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        spec.sender_qualifier,
        spec.sender_id.ljust(15),
        spec.receiver_qualifier,
        spec.receiver_id.ljust(15),
        created.strftime("%y%m%d"),
        created.strftime("%H%M"),
        fmt.repetition,
        "00501",
        f"{spec.control_number:09d}",
        spec.ack_requested,
        spec.usage,
        fmt.component,
    )
    isa = fmt.element.join(elements) + fmt.segment
    assert len(isa) == 106, len(isa)
    return isa + fmt.newline


def _gs(group: GroupSpec, created: _dt.datetime) -> str:
    return _seg(
        "GS",
        "HC",
        group.sender_code,
        group.receiver_code,
        _d8(created.date()),
        created.strftime("%H%M"),
        str(group.control_number),
        "X",
        version_string(group.kind, group.version),
    ) + _T


def _ge(count: int, control_number: int) -> str:
    return _seg("GE", str(count), str(control_number)) + _T


def _iea(count: int, control_number: int) -> str:
    return _seg("IEA", str(count), f"{control_number:09d}") + _T


def _interchange_chunks(spec: InterchangeSpec, fmt: Format) -> Iterator[bytes]:
    yield _isa(spec, fmt).encode("ascii")
    for group in spec.groups:
        yield _encode(_gs(group, spec.created), fmt)
        version = version_string(group.kind, group.version)
        for tx in group.transactions:
            yield _encode(_transaction_text(tx, group.kind, version, spec.created), fmt)
        yield _encode(_ge(len(group.transactions), group.control_number), fmt)
    yield _encode(_iea(len(spec.groups), spec.control_number), fmt)


def build_file(interchanges: Sequence[InterchangeSpec], fmt: Format = Format()) -> bytes:
    """Several interchanges back to back in one file (a BOM, if asked for, comes once)."""
    out = [b"\xef\xbb\xbf"] if fmt.bom else []
    for spec in interchanges:
        out.extend(_interchange_chunks(spec, fmt))
    return b"".join(out)


def build_interchange(spec: InterchangeSpec, fmt: Format = Format()) -> bytes:
    """One ISA..IEA as bytes: pyx12-valid 837P/837I for the X222A1/X223A2 versions."""
    return build_file([spec], fmt)


def build_837(
    claims: Sequence[ClaimSpec],
    fmt: Format = Format(),
    *,
    control_number: int = 1,
    version: str | None = None,
    created: _dt.datetime = DEFAULT_CREATED,
) -> bytes:
    """Shortcut: one ISA/GS/ST holding `claims` (all of one kind)."""
    if not claims:
        raise ValueError("build_837 needs at least one claim")
    kind = claims[0].kind
    tx = TransactionSpec(tuple(claims), control_number=f"{control_number:04d}",
                         reference=f"BATCH{control_number:04d}")
    group = GroupSpec(kind, (tx,), control_number=control_number, version=version)
    return build_interchange(
        InterchangeSpec((group,), control_number=control_number, created=created), fmt
    )


# =============================================================================================
# Builder: one transaction, one function per loop
# =============================================================================================
def _transaction_text(
    tx: TransactionSpec, kind: str, version: str, created: _dt.datetime
) -> str:
    for claim in tx.claims:
        if claim.kind != kind:
            raise ValueError(
                f"claim {claim.claim_id!r} is 837{claim.kind} inside an 837{kind} group"
            )
    segs: list[str] = [_seg("ST", "837", tx.control_number, version)]
    _header(segs, tx, created)
    _detail(segs, tx.claims, kind)
    segs.append(_seg("SE", str(len(segs) + 1), tx.control_number))
    return _T.join(segs) + _T


def _header(segs: list[str], tx: TransactionSpec, created: _dt.datetime) -> None:
    sub = tx.submitter
    segs.append(_seg("BHT", "0019", tx.purpose, tx.reference, _d8(created.date()),
                     created.strftime("%H%M"), "CH"))
    segs.append(_seg("NM1", "41", "2", sub.name, "", "", "", "", "46", sub.submitter_id))
    segs.append(_seg("PER", "IC", sub.contact, "TE", sub.phone))
    segs.append(_seg("NM1", "40", "2", sub.receiver_name, "", "", "", "", "46", sub.receiver_id))


def _runs(items: Iterable[ClaimSpec], key: Callable[[ClaimSpec], object]) -> Iterator[list[ClaimSpec]]:
    for _, run in itertools.groupby(items, key=key):
        yield list(run)


def _chunks(items: list[ClaimSpec], size: int) -> Iterator[list[ClaimSpec]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _subscriber_key(c: ClaimSpec) -> tuple[object, ...]:
    return (c.subscriber, c.payer, c.payer_responsibility, c.filing_indicator, c.group_number,
            c.patient is not None)


def _patient_key(c: ClaimSpec) -> tuple[object, ...]:
    return (c.patient, c.patient_relationship)


_MAX_CLAIMS_PER_HL = 100  # loop 2300 repeats at most 100 times under one 2000B/2000C


def _detail(segs: list[str], claims: Sequence[ClaimSpec], kind: str) -> None:
    """The HL tree: 2000A per billing-provider run, 2000B per subscriber run, 2000C per patient."""
    hl = itertools.count(1)
    for by_provider in _runs(claims, lambda c: c.billing_provider):
        a = next(hl)
        _billing_provider_loop(segs, a, by_provider[0].billing_provider)
        for by_subscriber in _runs(by_provider, _subscriber_key):
            if by_subscriber[0].patient is None:
                for chunk in _chunks(by_subscriber, _MAX_CLAIMS_PER_HL):
                    _subscriber_loop(segs, next(hl), a, chunk[0], has_patients=False)
                    for claim in chunk:
                        _claim_loop(segs, claim, kind)
                continue
            b = next(hl)
            _subscriber_loop(segs, b, a, by_subscriber[0], has_patients=True)
            for by_patient in _runs(by_subscriber, _patient_key):
                for chunk in _chunks(by_patient, _MAX_CLAIMS_PER_HL):
                    _patient_loop(segs, next(hl), b, chunk[0])
                    for claim in chunk:
                        _claim_loop(segs, claim, kind)


def _name_segment(entity: str, p: ProviderSpec) -> str:
    if p.is_person:
        return _seg("NM1", entity, "1", p.name, p.first_name or "", "", "", "", "XX", p.npi)
    return _seg("NM1", entity, "2", p.name, "", "", "", "", "XX", p.npi)


def _address(segs: list[str], a: Address) -> None:
    segs.append(_seg("N3", a.line))
    segs.append(_seg("N4", a.city, a.state, a.postal_code))


def _billing_provider_loop(segs: list[str], hl: int, p: ProviderSpec) -> None:
    """2000A + 2010AA."""
    segs.append(_seg("HL", str(hl), "", "20", "1"))
    segs.append(_name_segment("85", p))
    _address(segs, p.address)
    segs.append(_seg("REF", "EI", p.tax_id or "990000001"))


def _person_name(entity: str, person: PersonSpec, with_id: bool) -> str:
    if with_id:
        return _seg("NM1", entity, "1", person.last_name, person.first_name, "", "", "", "MI",
                    person.member_id)
    return _seg("NM1", entity, "1", person.last_name, person.first_name)


def _demographics(segs: list[str], person: PersonSpec) -> None:
    _address(segs, person.address)
    segs.append(_seg("DMG", "D8", _d8(person.birth_date), person.gender))


def _subscriber_loop(segs: list[str], hl: int, parent: int, c: ClaimSpec, has_patients: bool) -> None:
    """2000B + 2010BA + 2010BB. Address and DMG only when the subscriber is the patient."""
    segs.append(_seg("HL", str(hl), str(parent), "22", "1" if has_patients else "0"))
    segs.append(_seg("SBR", c.payer_responsibility, "" if has_patients else "18",
                     c.group_number or "", "", "", "", "", "", c.filing_indicator))
    segs.append(_person_name("IL", c.subscriber, with_id=True))
    if not has_patients:
        _demographics(segs, c.subscriber)
    segs.append(_seg("NM1", "PR", "2", c.payer.name, "", "", "", "", "PI", c.payer.payer_id))


def _patient_loop(segs: list[str], hl: int, parent: int, c: ClaimSpec) -> None:
    """2000C + 2010CA (5010 sends no patient member id)."""
    assert c.patient is not None
    segs.append(_seg("HL", str(hl), str(parent), "23", "0"))
    segs.append(_seg("PAT", c.patient_relationship))
    segs.append(_person_name("QC", c.patient, with_id=False))
    _demographics(segs, c.patient)


def _claim_loop(segs: list[str], c: ClaimSpec, kind: str) -> None:
    """2300 with its provider loops, COB loop and service lines."""
    total = _num(c.total_charge)
    if kind == "P":
        segs.append(_seg("CLM", c.claim_id, total, "", "", _comp(c.facility_code, "B", c.frequency),
                         "Y", "A", "Y", "Y"))
    else:
        start, end = c.statement_span
        segs.append(_seg("CLM", c.claim_id, total, "", "", _comp(c.facility_code, "A", c.frequency),
                         "", "A", "Y", "Y"))
        segs.append(_seg("DTP", "434", "RD8", f"{_d8(start)}-{_d8(end)}"))
        if c.admission_date is not None:
            segs.append(_seg("DTP", "435", "D8", _d8(c.admission_date)))
        segs.append(_seg("CL1", c.admission_type, c.admission_source, c.patient_status))
    if kind == "P" and c.admission_date is not None:
        segs.append(_seg("DTP", "435", "D8", _d8(c.admission_date)))
    _claim_references(segs, c)
    _diagnoses(segs, c, kind)
    _claim_providers(segs, c, kind)
    if c.other_payer is not None:
        _other_payer_loop(segs, c.other_payer, kind)
    for number, line in enumerate(c.lines, 1):
        _line_loop(segs, number, line, c, kind)


def _claim_references(segs: list[str], c: ClaimSpec) -> None:
    for qualifier, value in (("G1", c.prior_authorization), ("F8", c.payer_claim_number),
                             ("D9", c.clearinghouse_trace), ("P4", c.demonstration_project)):
        if value:
            segs.append(_seg("REF", qualifier, value))


def _diagnoses(segs: list[str], c: ClaimSpec, kind: str) -> None:
    principal, others = c.diagnoses[0], c.diagnoses[1:]
    if kind == "P":
        segs.append(_seg("HI", _comp("ABK", principal), *(_comp("ABF", d) for d in others)))
    else:
        segs.append(_seg("HI", _comp("ABK", principal)))
        for i in range(0, len(others), 12):
            segs.append(_seg("HI", *(_comp("ABF", d) for d in others[i : i + 12])))
    if c.condition_codes:
        segs.append(_seg("HI", *(_comp("BG", cc) for cc in c.condition_codes)))


def _claim_providers(segs: list[str], c: ClaimSpec, kind: str) -> None:
    """837P: 2310B rendering, 2310C facility. 837I: 2310A attending, 2310D rendering, 2310E facility."""
    if kind == "I" and c.attending is not None:
        segs.append(_name_segment("71", c.attending))
    if c.rendering is not None:
        segs.append(_name_segment("82", c.rendering))
    if c.service_facility is not None:
        segs.append(_name_segment("77", c.service_facility))
        _address(segs, c.service_facility.address)


def _other_payer_loop(segs: list[str], op: OtherPayerSpec, kind: str) -> None:
    """2320 other subscriber information + 2330A other subscriber + 2330B other payer."""
    segs.append(_seg("SBR", op.responsibility, op.relationship, op.group_number or "",
                     "", "", "", "", "", op.filing_indicator))
    if op.paid_amount is not None:
        segs.append(_seg("AMT", "D", _num(op.paid_amount)))
    if kind == "P":
        segs.append(_seg("OI", "", "", "Y", "P", "", "Y"))
    else:
        segs.append(_seg("OI", "", "", "Y", "", "", "Y"))
    segs.append(_person_name("IL", op.subscriber, with_id=True))
    segs.append(_seg("NM1", "PR", "2", op.payer.name, "", "", "", "", "PI", op.payer.payer_id))
    if op.paid_amount is not None and op.paid_date is not None:
        segs.append(_seg("DTP", "573", "D8", _d8(op.paid_date)))


_LX = "LX" + _E
_REF_6R = _E.join(("REF", "6R", ""))
_REF_G1 = _E.join(("REF", "G1", ""))


@functools.lru_cache(maxsize=8192)
def _service_date_segment(start: _dt.date, end: _dt.date | None) -> str:
    return _seg("DTP", "472", *_date_element(start, end))


@functools.lru_cache(maxsize=64)
def _default_pointers(diagnosis_count: int) -> str:
    return _C.join(str(i) for i in range(1, min(diagnosis_count, 4) + 1))


def _line_loop(segs: list[str], number: int, ln: LineSpec, c: ClaimSpec, kind: str) -> None:
    """2400 (+ 2410 drug identification). The hot path of the generator, hence the constants."""
    segs.append(_LX + str(number))
    procedure = _comp("HC", ln.code, *ln.modifiers) if ln.code else ""
    if kind == "P":
        pointers = (_comp(*map(str, ln.diagnosis_pointers)) if ln.diagnosis_pointers
                    else _default_pointers(len(c.diagnoses)))
        segs.append(_seg("SV1", procedure, _num(ln.charge), ln.unit_basis, _num(ln.units),
                         ln.place_of_service or "", "", pointers))
    else:
        segs.append(_seg("SV2", ln.revenue_code or "", procedure, _num(ln.charge), ln.unit_basis,
                         _num(ln.units)))
    if ln.service_date is not None:
        segs.append(_service_date_segment(ln.service_date, ln.service_end))
    for auth in ln.prior_authorizations:
        segs.append(_REF_G1 + auth)
    if ln.control_number:
        segs.append(_REF_6R + ln.control_number)
    if ln.ndc:
        segs.append(_seg("LIN", "", "N4", ln.ndc))
        quantity = ln.ndc_quantity if ln.ndc_quantity is not None else ln.units
        segs.append(_seg("CTP", "", "", "", _num(quantity), ln.ndc_unit))


# =============================================================================================
# Synthetic parties: payers, CGT centers, clinics, people (all fake, well-formed)
# =============================================================================================
FFS_PAYER = PayerSpec("610442", "MEDI-CAL")
MCP_PAYERS = (
    PayerSpec("MCPLAN01", "TEST MEDI-CAL PLAN ONE"),
    PayerSpec("MCPLAN02", "TEST MEDI-CAL PLAN TWO"),
)
COMMERCIAL_PAYER = PayerSpec("COMM01", "TEST COMMERCIAL PPO")

_CITIES = (
    ("SACRAMENTO", "95814"), ("FRESNO", "93721"), ("OAKLAND", "94612"), ("LOS ANGELES", "90012"),
    ("SAN DIEGO", "92101"), ("SAN JOSE", "95113"), ("BAKERSFIELD", "93301"), ("STOCKTON", "95202"),
)


def _city(i: int, street: str) -> Address:
    city, zip5 = _CITIES[i % len(_CITIES)]
    return Address(street, city, "CA", zip5 + f"{1 + i % 9:04d}")


# Hospitals that run CGT programs. A is both a qualified and a hemophilia treatment center,
# B only a qualified treatment center, C only a hemophilia treatment center.
CGT_CENTER_A = ProviderSpec("TEST UNIVERSITY CGT CENTER", make_npi(100001), tax_id="990000101",
                            address=_city(0, "1 CELL THERAPY WAY"))
CGT_CENTER_B = ProviderSpec("TEST CHILDRENS HOSPITAL", make_npi(100002), tax_id="990000102",
                            address=_city(2, "2 PEDIATRIC PLAZA"))
CGT_CENTER_C = ProviderSpec("TEST HEMOPHILIA CENTER", make_npi(100003), tax_id="990000103",
                            address=_city(5, "3 FACTOR LANE"))
COMMUNITY_HOSPITAL = ProviderSpec("TEST COMMUNITY HOSPITAL", make_npi(100004), tax_id="990000104",
                                  address=_city(6, "4 MAIN ST"))
QUALIFIED_TREATMENT_CENTERS = (CGT_CENTER_A.npi, CGT_CENTER_B.npi)
HEMOPHILIA_TREATMENT_CENTERS = (CGT_CENTER_A.npi, CGT_CENTER_C.npi)

_HOSPITALS = (CGT_CENTER_A, CGT_CENTER_B, CGT_CENTER_C, COMMUNITY_HOSPITAL) + tuple(
    ProviderSpec(f"TEST GENERAL HOSPITAL {i:02d}", make_npi(100010 + i), tax_id=f"9900002{i:02d}",
                 address=_city(i, f"{10 + i} HOSPITAL DR"))
    for i in range(1, 7)
)
_CLINICS = tuple(
    ProviderSpec(f"TEST MEDICAL GROUP {i:02d}", make_npi(200000 + i), tax_id=f"9900003{i:02d}",
                 address=_city(i, f"{200 + i} CLINIC AVE"))
    for i in range(1, 11)
)
_ONCOLOGY_GROUP = ProviderSpec("TEST ONCOLOGY GROUP", make_npi(200100), tax_id="990000400",
                               address=_city(0, "5 CELL THERAPY WAY"))
_LAB = ProviderSpec("TEST REFERENCE LAB", make_npi(200200), tax_id="990000500",
                    address=_city(3, "6 SPECIMEN RD"))
_FIRST_NAMES = (
    "ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIET",
    "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO", "SIERRA", "TANGO",
    "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU",
)
_LAST_NAMES = ("TESTPATIENT", "TESTMEMBER", "TESTPERSON", "TESTSUBJECT", "TESTCASE")
_DOCTORS = tuple(
    ProviderSpec("TESTDOCTOR", make_npi(300000 + i), first_name=_FIRST_NAMES[i]) for i in range(12)
)


def site_toml() -> str:
    """The site settings matching the synthetic parties (written to fixtures/site.toml)."""
    mcp = ", ".join(f'"{p.payer_id}"' for p in MCP_PAYERS)
    qtc = ", ".join(f'"{n}"' for n in QUALIFIED_TREATMENT_CENTERS)
    htc = ", ".join(f'"{n}"' for n in HEMOPHILIA_TREATMENT_CENTERS)
    return (
        "# Site settings for the synthetic fixtures and generated corpora (bench.corpus).\n"
        f"# {CGT_CENTER_A.npi} {CGT_CENTER_A.name}: qualified and hemophilia treatment center\n"
        f"# {CGT_CENTER_B.npi} {CGT_CENTER_B.name}: qualified treatment center\n"
        f"# {CGT_CENTER_C.npi} {CGT_CENTER_C.name}: hemophilia treatment center\n"
        f"# {COMMUNITY_HOSPITAL.npi} {COMMUNITY_HOSPITAL.name}: neither\n"
        "[payers]\n"
        f'ffs = ["{FFS_PAYER.payer_id}"]\n'
        f"mcp = [{mcp}]\n"
        "\n"
        "[facilities]\n"
        f"qualified_treatment_centers = [{qtc}]\n"
        f"hemophilia_treatment_centers = [{htc}]\n"
    )


# =============================================================================================
# The policy's therapies, as the generator needs them
# =============================================================================================
@dataclass(frozen=True, slots=True)
class Therapy:
    """One CGT drug code for one indication family (J3392 appears twice: SCD and TDT)."""

    code: str
    product: str
    # car-t | sickle-cell | beta-thalassemia | hemophilia-a | hemophilia-b | dmd | sma | retinal
    # | synovial-sarcoma
    family: str
    diagnoses: tuple[str, ...]  # indicated (ICD-10-CM, no dot)
    off_label: tuple[str, ...]  # same policy section, but not this product's indication
    effective: _dt.date  # first valid date of service (reference/hcpcs-dates.md)
    charge: Decimal
    revenue_code: str  # 837I SV201
    setting: str  # outpatient | outpatient-qtc | outpatient-htc | any
    ages: tuple[int, int]  # (min, max) age in years at the date of service; (0, 1) = under 2
    units: Decimal = Decimal(1)  # a correct line
    max_units: Decimal | None = Decimal(1)  # per line and date of service; None = no clear maximum
    ndc: str | None = None  # fake but well-formed (labeler 99999)
    ndc_unit: str = "UN"
    drg_excluded: bool = False  # "separately payable ... not reimbursed under DRG"

    @property
    def is_car_t(self) -> bool:
        return self.family == "car-t"


def _t(code: str, product: str, family: str, dx: str, off: str, eff: str, charge: int, rev: str,
       setting: str, ages: tuple[int, int], **kw: object) -> Therapy:
    return Therapy(code, product, family, tuple(dx.split()), tuple(off.split()),
                   _dt.date.fromisoformat(eff), Decimal(charge), rev, setting, ages,
                   ndc=f"99999{int(code[1:]):04d}01", **kw)  # type: ignore[arg-type]


THERAPIES: tuple[Therapy, ...] = (
    _t("Q2041", "Yescarta", "car-t", "C8338 C8330 C8518 C8298", "C9000", "2018-04-01", 462000, "0891",
       "outpatient", (18, 75), drg_excluded=True),
    _t("Q2042", "Kymriah", "car-t", "C9100 C9102", "C9000", "2019-01-01", 475000, "0891",
       "outpatient", (3, 25), drg_excluded=True),
    _t("Q2053", "Tecartus", "car-t", "C8318 C8310 C9100", "C9000", "2021-04-01", 462000, "0891",
       "outpatient", (18, 80)),
    _t("Q2054", "Breyanzi", "car-t", "C8338 C8330 C9110", "C9000", "2021-10-01", 487500, "0891",
       "outpatient", (18, 80)),
    _t("Q2055", "Abecma", "car-t", "C9000 C9002", "C8338", "2022-01-01", 502000, "0891",
       "outpatient", (30, 80)),
    _t("Q2056", "Carvykti", "car-t", "C9000 C9002", "C8338", "2022-10-01", 555000, "0891",
       "outpatient", (30, 80)),
    _t("Q2058", "Aucatzyl", "car-t", "C9100 C9102", "C8338", "2025-07-01", 262500, "0891",
       "outpatient", (18, 75)),
    _t("Q2057", "Tecelra", "synovial-sarcoma", "C493 C495 C496", "", "2025-04-01", 727000,
       "0891", "outpatient", (18, 70)),
    _t("J3392", "Casgevy", "sickle-cell", "D5700 D5701 D571 D5720", "", "2025-01-01", 2200000,
       "0636", "outpatient-qtc", (12, 35)),
    _t("J3394", "Lyfgenia", "sickle-cell", "D5700 D5701 D571", "", "2024-07-01", 3100000,
       "0636", "outpatient-qtc", (12, 35)),
    _t("J3392", "Casgevy", "beta-thalassemia", "D561", "", "2025-01-01", 2200000, "0636",
       "outpatient-qtc", (12, 35)),
    _t("J3393", "Zynteglo", "beta-thalassemia", "D561", "", "2024-07-01", 2800000, "0636",
       "outpatient-qtc", (4, 40)),
    _t("J1411", "Hemgenix", "hemophilia-b", "D67", "D66", "2023-04-01", 3500000, "0636",
       "outpatient-htc", (18, 70)),
    _t("J1412", "Roctavian", "hemophilia-a", "D66", "D67", "2024-01-01", 9500, "0636",
       "outpatient-htc", (18, 70), units=Decimal(240), max_units=None, ndc_unit="ML"),
    _t("J1413", "Elevidys", "dmd", "G7101", "", "2024-01-01", 3200000, "0636", "outpatient",
       (4, 7)),
    _t("J3399", "Zolgensma", "sma", "G120 G121", "", "2020-07-01", 2125000, "0636",
       "outpatient", (0, 1), drg_excluded=True),
    _t("J3398", "Luxturna", "retinal", "H3552 H3550", "", "2019-01-01", 2840, "0636", "any",
       (4, 50), units=Decimal(150), max_units=Decimal(150)),
)

# Conditions no CGT section covers, for the diagnosis-not-indicated scenario.
_UNRELATED_DIAGNOSES = ("E119", "I10", "J189", "M1711", "K219", "N390")

CAR_T_ADMIN = "38228"  # effective 2025-01-01; 0537T-0540T before
CAR_T_ADMIN_EFFECTIVE = _dt.date(2025, 1, 1)
# Carve-out dates out of managed care for sickle cell disease (seed: Lyfgenia 2025-07-01,
# Casgevy 2025-09-01; DHCS later said 2025-10-01). Generated clean claims avoid the gap.
_CARVE_OUT_SAFE_BEFORE = _dt.date(2025, 6, 30)
_CARVE_OUT_SAFE_AFTER = _dt.date(2025, 10, 1)
_CLEAN_FROM = _dt.date(2025, 2, 1)
_CLEAN_UNTIL = _dt.date(2025, 12, 15)

# Scenarios (the violation mix) and the outcome each is meant to get. "warn" means: accepted,
# but with a finding, because the seed is soft there ("generally considered part of the bundled
# service") or the limit comes from labels rather than the seed (product-level diagnosis
# families; unit maxima of the per-mL / per-1e9-vg codes, see _CgtBuilder._apply).
SCENARIOS: dict[str, str] = {
    "clean": "accept",
    "missing-tar": "reject",
    "wrong-setting": "reject",
    "inpatient-drg": "reject",
    "units-over-max": "reject",
    "diagnosis-not-indicated": "reject",
    "diagnosis-off-label": "warn",
    "admin-without-drug": "reject",
    "bundled-same-day": "warn",
    "before-effective": "reject",
    "scd-carve-out-mcp": "reject",
    "clinical-trial": "accept",
    "void": "accept",
    "no-tar-wrong-setting": "reject",
}
DEFAULT_VIOLATION_MIX: dict[str, float] = {
    "clean": 0.40,
    "missing-tar": 0.10,
    "wrong-setting": 0.07,
    "inpatient-drg": 0.04,
    "units-over-max": 0.05,
    "diagnosis-not-indicated": 0.04,
    "diagnosis-off-label": 0.03,
    "admin-without-drug": 0.05,
    "bundled-same-day": 0.05,
    "before-effective": 0.05,
    "scd-carve-out-mcp": 0.04,
    "clinical-trial": 0.05,
    "void": 0.03,
}


@dataclass(frozen=True, slots=True)
class Intent:
    """What a generated claim is meant to test."""

    claim_id: str
    kind: str  # P or I
    scenario: str  # "non-cgt" or a SCENARIOS key
    outcome: str  # accept | reject | warn (accepted with a finding)
    therapy: str | None  # HCPCS of the CGT drug involved
    reason: str


# =============================================================================================
# Non-CGT claim templates
# =============================================================================================
_P_TEMPLATES: tuple[tuple[str, float, tuple[str, ...], tuple[tuple[str, int], ...], tuple[str, ...]], ...] = (
    # name, weight, places of service, (code, charge) pool, diagnosis pool
    ("office", 0.45, ("11",), (("99213", 110), ("99214", 165), ("99212", 75), ("36415", 15),
                             ("85025", 28), ("80053", 42), ("81002", 12), ("93000", 48),
                             ("90686", 36), ("90471", 25), ("83036", 30)),
     ("E119", "I10", "E785", "J069", "K219", "N390", "F419", "F329", "E039", "J45909", "M25561",
      "G4700", "L309", "R0789", "E1165", "J209")),
    ("imaging", 0.15, ("11", "22"), (("71046", 95), ("73721", 780), ("70450", 620),
                                     ("72148", 840), ("76700", 310), ("73030", 85)),
     ("R0789", "M25561", "M5416", "R519", "R1013", "S8391XA", "M25511")),
    ("infusion", 0.10, ("11", "22"), (("96413", 320), ("96415", 90), ("96375", 60),
                                      ("J9035", 850), ("J2405", 8), ("J1100", 4), ("96367", 75)),
     ("C3490", "C189", "C50911", "C61", "C250", "C20")),
    ("lab", 0.15, ("81",), (("80053", 42), ("85025", 28), ("83036", 30), ("80061", 55),
                            ("84443", 45), ("82306", 60), ("87086", 22)),
     ("E119", "E785", "E039", "D649", "N179", "E559", "R7309")),
    ("preventive", 0.15, ("11",), (("99395", 210), ("99396", 230), ("90471", 25), ("90686", 36),
                                   ("90715", 58), ("99173", 12)),
     ("Z0000", "Z0001", "Z23", "Z1231", "Z1211")),
)
_I_OUTPATIENT: tuple[tuple[str, float, tuple[tuple[str, str, int], ...], tuple[str, ...]], ...] = (
    # name, weight, (revenue code, HCPCS, charge) pool, diagnosis pool
    ("emergency", 0.4, (("0450", "99284", 1450), ("0450", "99283", 980), ("0300", "80053", 210),
                        ("0305", "85025", 120), ("0320", "71046", 390), ("0636", "J2405", 35),
                        ("0260", "96374", 260), ("0730", "93005", 180), ("0350", "70450", 2100)),
     ("R0789", "R1013", "J189", "N390", "R55", "S0990XA", "R1110", "J069")),
    ("clinic", 0.35, (("0510", "G0463", 310), ("0300", "80053", 210), ("0305", "85025", 120),
                      ("0636", "J1100", 20), ("0940", "97110", 140), ("0921", "93306", 1650)),
     ("E119", "I10", "I509", "J449", "N184", "M1711")),
    ("infusion", 0.25, (("0260", "96413", 980), ("0260", "96415", 260), ("0636", "J9035", 4200),
                        ("0636", "J2405", 35), ("0260", "96375", 190), ("0636", "J9271", 9800)),
     ("C3490", "C189", "C50911", "C61", "C250", "C9000")),
)
_I_INPATIENT = (
    (("0120", 2400, "DA"), ("0250", 640, "UN"), ("0300", 820, "UN"), ("0320", 390, "UN"),
     ("0730", 180, "UN"), ("0270", 310, "UN"), ("0410", 260, "UN")),
    ("J189", "A419", "I214", "N179", "K8590", "I5033", "J441", "L03115"),
)
_NDCS = {"J9035": "50242006001", "J9271": "00006302601", "J2405": "00409475503"}
_P_WEIGHTS = tuple(t[1] for t in _P_TEMPLATES)
_I_WEIGHTS = tuple(t[1] for t in _I_OUTPATIENT)


# =============================================================================================
# Generator
# =============================================================================================
class _ClaimFactory:
    """Draws members, non-CGT claims and CGT scenarios from one random.Random."""

    def __init__(self, rng: random.Random, *, cgt_share: float, violation_mix: Mapping[str, float],
                 lines_per_claim: tuple[int, int], cob_share: float, dependent_share: float,
                 id_prefix: str = "PCN", first_claim: int = 1, member_prefix: str = "MCAL") -> None:
        unknown = [k for k in violation_mix if k not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}; known: {sorted(SCENARIOS)}")
        if not 0 <= cgt_share <= 1:
            raise ValueError(f"cgt_share must be within 0..1, got {cgt_share}")
        lo, hi = lines_per_claim
        if not 1 <= lo <= hi <= 50:
            raise ValueError(f"lines_per_claim must satisfy 1 <= min <= max <= 50, got {lines_per_claim}")
        self.rng = rng
        self.scenarios = [k for k, w in violation_mix.items() if w > 0]
        self.scenario_weights = [violation_mix[k] for k in self.scenarios]
        if not self.scenarios and cgt_share > 0:
            raise ValueError("violation_mix has no positive weight")
        self.lines_per_claim = lines_per_claim
        self.cob_share = cob_share
        self.dependent_share = dependent_share
        self.id_prefix = id_prefix
        self.claim_seq = first_claim - 1
        self.member_seq = 0
        self.member_prefix = member_prefix
        # Members have 1-3 claims (mean 5/3); pick CGT members so that the claim share is right.
        m = 5 / 3
        self.cgt_member_share = cgt_share * m / (1 - cgt_share + cgt_share * m) if cgt_share < 1 else 1.0

    # -- ids and people --------------------------------------------------------------------
    def _claim_id(self) -> str:
        self.claim_seq += 1
        return f"{self.id_prefix}{self.claim_seq:09d}"

    def _person(self, birth: _dt.date, last: str | None = None) -> PersonSpec:
        self.member_seq += 1
        rng = self.rng
        return PersonSpec(
            last or rng.choice(_LAST_NAMES), rng.choice(_FIRST_NAMES),
            f"{self.member_prefix}{self.member_seq:06d}",
            birth, rng.choice("FMU") if rng.random() < 0.02 else rng.choice("FM"),
            _city(self.member_seq, f"{1 + self.member_seq % 9000} TEST LANE"),
        )

    def _birth(self, ages: tuple[int, int], on: _dt.date) -> _dt.date:
        lo, hi = ages
        if hi <= 1:  # under two: 2 to 20 months old
            return on - _dt.timedelta(days=self.rng.randint(60, 600))
        days = self.rng.randint(lo * 366 + 30, hi * 365 + 300)
        return on - _dt.timedelta(days=days)

    def _member(self, ages: tuple[int, int], on: _dt.date) -> tuple[PersonSpec, PersonSpec | None]:
        """(subscriber, dependent patient or None)."""
        patient_birth = self._birth(ages, on)
        if self.rng.random() < self.dependent_share and (on - patient_birth).days < 26 * 365:
            patient = self._person(patient_birth)
            parent_birth = patient_birth - _dt.timedelta(days=self.rng.randint(20 * 365, 40 * 365))
            parent = self._person(parent_birth, last=patient.last_name)
            return parent, patient
        return self._person(patient_birth), None

    def _other_payer(self, subscriber: PersonSpec, dependent: bool, charge: Decimal,
                     on: _dt.date) -> OtherPayerSpec | None:
        if self.rng.random() >= self.cob_share:
            return None
        paid = (charge * Decimal(self.rng.randint(20, 70)) / 100).quantize(Decimal("0.01"))
        return OtherPayerSpec(
            COMMERCIAL_PAYER,
            PersonSpec(subscriber.last_name, subscriber.first_name,
                       "COMM" + subscriber.member_id[4:], subscriber.birth_date, subscriber.gender),
            relationship="19" if dependent else "18",
            paid_amount=paid, paid_date=on + _dt.timedelta(days=self.rng.randint(14, 40)),
        )

    def _service_day(self, start: _dt.date = _CLEAN_FROM, end: _dt.date = _CLEAN_UNTIL) -> _dt.date:
        return start + _dt.timedelta(days=self.rng.randint(0, (end - start).days))

    # -- members: a run of claims for one person -------------------------------------------
    def member_claims(self, kind: str, room: int) -> list[tuple[ClaimSpec, Intent]]:
        if self.rng.random() < self.cgt_member_share:
            return [self.cgt_claim(kind)]
        count = min(room, self.rng.choice((1, 1, 1, 2, 2, 3)))
        day = self._service_day()
        subscriber, patient = self._member((1, 85), day)
        payer = FFS_PAYER if self.rng.random() < 0.6 else self.rng.choice(MCP_PAYERS)
        out = []
        for _ in range(count):
            claim = self._routine_claim(kind, subscriber, patient, payer, day)
            out.append((claim, Intent(claim.claim_id, kind, "non-cgt", "accept", None,
                                      "routine claim without CGT codes")))
            day = min(day + _dt.timedelta(days=self.rng.randint(1, 30)), _CLEAN_UNTIL)
        return out

    # -- non-CGT claims --------------------------------------------------------------------
    def _routine_claim(self, kind: str, subscriber: PersonSpec, patient: PersonSpec | None,
                       payer: PayerSpec, day: _dt.date) -> ClaimSpec:
        if kind == "P":
            return self._routine_professional(subscriber, patient, payer, day)
        if self.rng.random() < 0.2:
            return self._routine_inpatient(subscriber, patient, payer, day)
        return self._routine_outpatient(subscriber, patient, payer, day)

    def _line_count(self, pool_size: int) -> int:
        lo, hi = self.lines_per_claim
        if pool_size >= hi:
            return self.rng.randint(lo, hi)
        return self.rng.randint(min(lo, pool_size), pool_size)

    def _diagnoses(self, pool: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.rng.sample(pool, self.rng.randint(1, min(4, len(pool)))))

    def _routine_professional(self, subscriber: PersonSpec, patient: PersonSpec | None,
                              payer: PayerSpec, day: _dt.date) -> ClaimSpec:
        rng = self.rng
        _, _, places, pool, dx_pool = rng.choices(_P_TEMPLATES, _P_WEIGHTS)[0]
        claim_id = self._claim_id()
        pos = rng.choice(places)
        lines = []
        for n, (code, charge) in enumerate(rng.sample(pool, self._line_count(len(pool))), 1):
            units = Decimal(rng.randint(5, 80)) if code == "J9035" else Decimal(1)
            lines.append(LineSpec(code, Decimal(charge) * units if code == "J9035" else Decimal(charge),
                                  units, service_date=day, control_number=f"{claim_id}-{n}",
                                  ndc=_NDCS.get(code)))
        billing = _LAB if pos == "81" else rng.choice(_CLINICS)
        claim_lines = tuple(lines)
        total = sum((ln.charge for ln in claim_lines), Decimal(0))
        other = self._other_payer(subscriber, patient is not None, total, day)
        return ClaimSpec(
            claim_id, "P", pos, self._diagnoses(dx_pool), claim_lines, subscriber, billing, payer,
            patient=patient, rendering=rng.choice(_DOCTORS),
            service_facility=rng.choice(_HOSPITALS) if pos == "22" else None,
            other_payer=other, payer_responsibility="S" if other else "P",
        )

    def _routine_outpatient(self, subscriber: PersonSpec, patient: PersonSpec | None,
                            payer: PayerSpec, day: _dt.date) -> ClaimSpec:
        rng = self.rng
        _, _, pool, dx_pool = rng.choices(_I_OUTPATIENT, _I_WEIGHTS)[0]
        claim_id = self._claim_id()
        picks = sorted(rng.sample(pool, self._line_count(len(pool))))  # revenue-code order
        lines = tuple(
            LineSpec(code, Decimal(charge), revenue_code=rev, service_date=day,
                     control_number=f"{claim_id}-{n}", ndc=_NDCS.get(code))
            for n, (rev, code, charge) in enumerate(picks, 1)
        )
        total = sum((ln.charge for ln in lines), Decimal(0))
        other = self._other_payer(subscriber, patient is not None, total, day)
        return ClaimSpec(
            claim_id, "I", "13", self._diagnoses(dx_pool), lines, subscriber,
            rng.choice(_HOSPITALS), payer, patient=patient, attending=rng.choice(_DOCTORS),
            other_payer=other, payer_responsibility="S" if other else "P",
        )

    def _routine_inpatient(self, subscriber: PersonSpec, patient: PersonSpec | None,
                           payer: PayerSpec, day: _dt.date) -> ClaimSpec:
        rng = self.rng
        pool, dx_pool = _I_INPATIENT
        claim_id = self._claim_id()
        stay = rng.randint(2, 7)
        lines = []
        picks = [pool[0]] + sorted(rng.sample(pool[1:], max(0, self._line_count(len(pool)) - 1)))
        for n, (rev, charge, basis) in enumerate(picks, 1):
            units = Decimal(stay) if basis == "DA" else Decimal(rng.randint(1, 6))
            lines.append(LineSpec("", Decimal(charge) * units, units, unit_basis=basis,
                                  revenue_code=rev, control_number=f"{claim_id}-{n}"))
        return ClaimSpec(
            claim_id, "I", "11", self._diagnoses(dx_pool), tuple(lines), subscriber,
            rng.choice(_HOSPITALS), payer, patient=patient, attending=rng.choice(_DOCTORS),
            statement_dates=(day, day + _dt.timedelta(days=stay)), admission_date=day,
            admission_type="1", admission_source="7",
        )

    # -- CGT claims ------------------------------------------------------------------------
    def cgt_claim(self, kind: str) -> tuple[ClaimSpec, Intent]:
        scenario = self.rng.choices(self.scenarios, self.scenario_weights)[0]
        therapy = self.rng.choice(_therapies_for(scenario))
        return _CgtBuilder(self, kind, scenario, therapy).build()


def _therapies_for(scenario: str) -> tuple[Therapy, ...]:
    pick = {
        "wrong-setting": lambda t: t.setting != "any",
        "no-tar-wrong-setting": lambda t: t.setting != "any",
        "inpatient-drg": lambda t: t.drg_excluded,
        "units-over-max": lambda t: t.max_units is not None,
        "admin-without-drug": lambda t: t.is_car_t,
        "bundled-same-day": lambda t: t.is_car_t,
        "diagnosis-off-label": lambda t: bool(t.off_label),
        "before-effective": lambda t: t.effective > _dt.date(2019, 1, 1),
        "scd-carve-out-mcp": lambda t: t.family == "sickle-cell",
    }.get(scenario, lambda t: True)
    return tuple(t for t in THERAPIES if pick(t))


class _CgtBuilder:
    """Builds one CGT claim: a correct claim first, then the scenario's single change."""

    def __init__(self, f: _ClaimFactory, kind: str, scenario: str, therapy: Therapy) -> None:
        self.f, self.rng, self.kind, self.scenario, self.t = f, f.rng, kind, scenario, therapy
        self.claim_id = f._claim_id()
        # An 11-digit TAR control number: field office, 8-digit sequence, pricing indicator.
        rng = self.rng
        self.tar: str | None = f"{rng.randint(10, 99)}{rng.randint(0, 10**8 - 1):08d}{rng.randint(0, 9)}"
        self.day = self._clean_day()
        self.payer = self._clean_payer()
        self.facility = self._clean_facility()
        self.setting = ("13" if kind == "I" else self.rng.choice(("22", "22", "19")))
        self.diagnoses = [self.rng.choice(therapy.diagnoses)]
        self.units = therapy.units if therapy.max_units is None else min(therapy.units, therapy.max_units)
        if therapy.family == "hemophilia-a":
            self.units = Decimal(self.rng.randint(150, 330))
        self.with_drug = True
        self.extra: list[tuple[str, str, int, _dt.date]] = []  # (code, revenue, charge, day)
        self.modifiers: tuple[str, ...] = ()
        self.frequency = "1"
        self.condition_codes: tuple[str, ...] = ()
        self.trial: str | None = None
        self.payer_claim_number: str | None = None
        self.admission: _dt.date | None = None
        self.split_infusion = False
        self.line_tar = kind == "P" and self.rng.random() < 0.2  # 837P may carry G1 on the line
        self.reason = f"{therapy.code} ({therapy.product}) billed correctly"
        self.outcome = SCENARIOS[scenario]

    # -- the correct claim -----------------------------------------------------------------
    def _clean_day(self) -> _dt.date:
        t = self.t
        start = max(_CLEAN_FROM, t.effective + _dt.timedelta(days=31))
        if t.family == "sickle-cell":
            return self.f._service_day(start, _CARVE_OUT_SAFE_BEFORE) if self.rng.random() < 0.5 \
                else self.f._service_day(_CARVE_OUT_SAFE_AFTER, _CLEAN_UNTIL)
        return self.f._service_day(start, _CLEAN_UNTIL)

    def _clean_payer(self) -> PayerSpec:
        if self.t.family == "sickle-cell":
            return FFS_PAYER if self.day >= _CARVE_OUT_SAFE_AFTER else self.rng.choice(MCP_PAYERS)
        return FFS_PAYER if self.rng.random() < 0.7 else self.rng.choice(MCP_PAYERS)

    def _clean_facility(self) -> ProviderSpec:
        setting = self.t.setting
        if setting == "outpatient-htc":
            return self.rng.choice((CGT_CENTER_A, CGT_CENTER_C))
        if setting == "outpatient-qtc":
            return self.rng.choice((CGT_CENTER_A, CGT_CENTER_B))
        return self.rng.choice((CGT_CENTER_A, CGT_CENTER_B, CGT_CENTER_C))

    # -- the scenario's change -------------------------------------------------------------
    def _apply(self) -> None:
        """Make the scenario's one change (a method per scenario, named after it)."""
        getattr(self, "_scenario_" + self.scenario.replace("-", "_"))()

    def _label(self) -> str:
        return f"{self.t.code} ({self.t.product})"

    def _scenario_clean(self) -> None:
        t, rng = self.t, self.rng
        if t.is_car_t and rng.random() < 0.2:  # hydration on another day is not bundled
            self.extra.append(("96360", "0260", 310, self.day + _dt.timedelta(days=1)))
            self.reason += "; hydration 96360 on the next day, not the 38228 day"
        if t.code == "Q2058" and rng.random() < 0.5:
            self.split_infusion = True
            self.reason += "; two infusions (day 1 and day 10), one unit each"

    def _scenario_missing_tar(self) -> None:
        self.tar = None
        self.reason = f"{self._label()} without a TAR/SAR (no REF*G1)"

    def _scenario_wrong_setting(self) -> None:
        rng = self.rng
        self.facility = COMMUNITY_HOSPITAL  # 837I: the billing hospital; 837P: no NM1*77
        if self.kind == "I":
            self.setting = rng.choice(("11", "71", "83"))
            if self.setting == "11":
                self.admission = self.day - _dt.timedelta(days=rng.randint(1, 5))
            where = f"type of bill 0{self.setting}1"
        else:
            self.setting = rng.choice(("11", "12", "23"))
            where = f"place of service {self.setting}"
        self.reason = f"{self._label()} restricted to hospital outpatient, billed with {where}"

    def _scenario_no_tar_wrong_setting(self) -> None:
        """Two rules at once, for "every claim rejected" benchmark corpora: no TAR, and a
        setting the section does not allow (never an inpatient bill, which adds the DRG rule)."""
        self.tar = None
        self.facility = COMMUNITY_HOSPITAL
        self.setting = self.rng.choice(("71", "83") if self.kind == "I" else ("11", "12", "23"))
        where = f"type of bill 0{self.setting}1" if self.kind == "I" else f"place of service {self.setting}"
        self.reason = f"{self._label()} without a TAR/SAR, and billed with {where} (hospital outpatient only)"

    def _scenario_inpatient_drg(self) -> None:
        self.setting = "11" if self.kind == "I" else "21"
        self.admission = self.day - _dt.timedelta(days=self.rng.randint(1, 5))
        self.reason = f"{self._label()} on an inpatient claim: not paid under DRG, hospital outpatient only"

    def _scenario_units_over_max(self) -> None:
        limit = self.t.max_units
        assert limit is not None
        self.units = limit * 2 if limit > 1 else limit + self.rng.randint(1, 2)
        self.reason = f"{self._label()} {_num(self.units)} units, more than {_num(limit)} per date of service"
        if limit > 1:  # a label-derived maximum of a per-vg / per-mL code
            self.outcome = "warn"

    def _scenario_diagnosis_not_indicated(self) -> None:
        self.diagnoses = self.rng.sample(_UNRELATED_DIAGNOSES, 2)
        self.reason = (f"{self._label()} with diagnoses {' '.join(self.diagnoses)}, "
                       f"outside the policy's {self.t.family} section")
        if self.t.family in ("car-t", "synovial-sarcoma"):
            # The CAR-T section's cancers are an open list ("including ..."), and synovial
            # sarcoma has no code of its own: a mismatch there can only be flagged.
            self.outcome = "warn"

    def _scenario_diagnosis_off_label(self) -> None:
        self.diagnoses = [self.rng.choice(self.t.off_label)]
        self.reason = (f"{self._label()} with diagnosis {self.diagnoses[0]}: same policy section, "
                       "not this product's label")

    def _scenario_admin_without_drug(self) -> None:
        self.with_drug = False
        self.reason = "38228 CAR-T administration without a CAR-T drug code"

    def _scenario_bundled_same_day(self) -> None:
        self.extra.append(("96360", "0260", 310, self.day))
        if self.rng.random() < 0.5:
            self.extra.append(("J7050", "0258", 45, self.day))
        self.reason = f"hydration/fluids billed on the 38228 date with {self.t.code} (bundled)"

    def _scenario_before_effective(self) -> None:
        t = self.t
        self.day = t.effective - _dt.timedelta(days=self.rng.randint(10, 120))
        if t.family == "sickle-cell":  # long before the carve-out: managed care's
            self.payer = self.rng.choice(MCP_PAYERS)
        self.reason = (f"{self._label()} on {self.day.isoformat()}, before it took effect on "
                       f"{t.effective.isoformat()}")
        if t.is_car_t and self.day < CAR_T_ADMIN_EFFECTIVE:
            self.reason += "; 38228 before 2025-01-01 too"

    def _scenario_scd_carve_out_mcp(self) -> None:
        self.day = self.f._service_day(_CARVE_OUT_SAFE_AFTER, _CLEAN_UNTIL)
        self.payer = self.rng.choice(MCP_PAYERS)
        self.reason = (f"{self._label()} for sickle cell disease billed to managed care plan "
                       f"{self.payer.payer_id} after the carve-out")

    def _scenario_clinical_trial(self) -> None:
        rng = self.rng
        if rng.random() < 0.7:
            self.tar = None
        self.modifiers = ("Q0",)
        self.diagnoses.append("Z006")
        self.trial = f"{rng.randint(0, 10**8 - 1):08d}"
        self.condition_codes = ("30",) if self.kind == "I" else ()
        self.reason = f"{self._label()} in a clinical trial (Q0, Z00.6, REF*P4): policy does not apply"

    def _scenario_void(self) -> None:
        self.tar = None
        self.frequency = "8"
        self.payer_claim_number = f"{self.rng.randint(0, 10**13 - 1):013d}"
        self.reason = f"void (frequency 8) of an earlier {self.t.code} claim, no TAR: not re-checked"

    # -- lines and the claim ---------------------------------------------------------------
    def _lines(self) -> tuple[LineSpec, ...]:
        t, kind = self.t, self.kind
        days = [self.day, self.day + _dt.timedelta(days=9)] if self.split_infusion else [self.day]
        lines: list[LineSpec] = []

        def add(code: str, rev: str, charge: Decimal, units: Decimal, day: _dt.date,
                modifiers: tuple[str, ...] = (), ndc: str | None = None, ndc_unit: str = "UN",
                auths: tuple[str, ...] = ()) -> None:
            n = len(lines) + 1
            lines.append(LineSpec(
                code, charge, units, modifiers, revenue_code=rev if kind == "I" else None,
                service_date=day, control_number=f"{self.claim_id}-{n}",
                prior_authorizations=auths, ndc=ndc, ndc_unit=ndc_unit,
            ))

        line_auths = (self.tar,) if self.line_tar and self.tar else ()
        for day in days:
            if self.with_drug:
                charge = t.charge * self.units if t.family in ("hemophilia-a", "retinal") else t.charge
                add(t.code, t.revenue_code, charge, self.units, day, self.modifiers, t.ndc,
                    t.ndc_unit, line_auths)
            if t.is_car_t:
                add(CAR_T_ADMIN, "0874", Decimal(3200), Decimal(1), day)
        for code, rev, charge, day in self.extra:
            add(code, rev, Decimal(charge), Decimal(1), day)
        if self.rng.random() < 0.3:
            add("85025", "0300", Decimal(120), Decimal(1), self.day)
        return tuple(lines)

    def build(self) -> tuple[ClaimSpec, Intent]:
        self._apply()
        t, kind, rng = self.t, self.kind, self.rng
        lines = self._lines()
        subscriber, patient = self.f._member(t.ages, self.day)
        other = self.f._other_payer(subscriber, patient is not None,
                                    sum((ln.charge for ln in lines), Decimal(0)), self.day)
        common = dict(
            frequency=self.frequency, patient=patient, condition_codes=self.condition_codes,
            prior_authorization=None if self.line_tar and self.with_drug else self.tar,
            payer_claim_number=self.payer_claim_number,
            demonstration_project=self.trial, admission_date=self.admission,
            other_payer=other, payer_responsibility="S" if other else "P",
        )
        if kind == "I":
            end = max(ln.service_date for ln in lines if ln.service_date)
            claim = ClaimSpec(
                self.claim_id, "I", self.setting, tuple(self.diagnoses), lines, subscriber,
                self.facility, self.payer, attending=rng.choice(_DOCTORS),
                statement_dates=(self.admission or self.day, end),
                admission_type="3" if self.admission is None else "1", **common,  # type: ignore[arg-type]
            )
        else:
            claim = ClaimSpec(
                self.claim_id, "P", self.setting, tuple(self.diagnoses), lines, subscriber,
                _ONCOLOGY_GROUP, self.payer, rendering=rng.choice(_DOCTORS),
                service_facility=None if self.scenario == "wrong-setting" else self.facility,
                **common,  # type: ignore[arg-type]
            )
        intent = Intent(self.claim_id, kind, self.scenario, self.outcome, t.code, self.reason)
        return claim, intent


def generate_claims(
    seed: int,
    n_claims: int,
    kind: str = "P",
    *,
    cgt_share: float = 0.005,
    violation_mix: Mapping[str, float] | None = None,
    lines_per_claim: tuple[int, int] = (2, 6),
    cob_share: float = 0.1,
    dependent_share: float = 0.3,
) -> Iterator[tuple[ClaimSpec, Intent]]:
    """Claims of one kind ('P' or 'I') with their intents, deterministic from `seed`."""
    if kind not in ("P", "I"):
        raise ValueError(f"generate_claims kind must be 'P' or 'I', got {kind!r}")
    factory = _ClaimFactory(
        random.Random(seed), cgt_share=cgt_share,
        violation_mix=DEFAULT_VIOLATION_MIX if violation_mix is None else violation_mix,
        lines_per_claim=lines_per_claim, cob_share=cob_share, dependent_share=dependent_share,
    )
    made = 0
    while made < n_claims:
        for pair in factory.member_claims(kind, n_claims - made)[: n_claims - made]:
            made += 1
            yield pair


@dataclass(slots=True)
class CorpusStats:
    """Counts of what generate_corpus/write_corpus produced (filled in as it goes)."""

    interchanges: int = 0
    groups: int = 0
    transactions: int = 0
    claims: int = 0
    cgt_claims: int = 0
    expected_rejects: int = 0
    bytes: int = 0
    by_scenario: dict[str, int] = field(default_factory=dict)


def _by_billing_provider(pairs: list[tuple[ClaimSpec, Intent]]) -> list[tuple[ClaimSpec, Intent]]:
    """Stable partition by billing provider, so each provider gets one 2000A per transaction."""
    buckets: dict[ProviderSpec, list[tuple[ClaimSpec, Intent]]] = {}
    for pair in pairs:
        buckets.setdefault(pair[0].billing_provider, []).append(pair)
    return [pair for bucket in buckets.values() for pair in bucket]


@dataclass(frozen=True, slots=True)
class _CorpusOptions:
    """Everything that decides a corpus' bytes (picklable, for worker processes)."""

    seed: int
    kind: str
    cgt_share: float
    violation_mix: tuple[tuple[str, float], ...]
    claims_per_transaction: int
    transactions_per_group: int
    groups_per_interchange: int
    lines_per_claim: tuple[int, int]
    cob_share: float
    dependent_share: float
    institutional_share: float
    fmt: Format
    versions: tuple[tuple[str, str], ...] = ()

    @property
    def claims_per_interchange(self) -> int:
        return self.claims_per_transaction * self.transactions_per_group * self.groups_per_interchange


class _Piece(NamedTuple):
    """A chunk of output with the intents of its claims and the envelopes it opens."""

    data: bytes
    intents: list[Intent]
    interchanges: int = 0
    groups: int = 0
    transactions: int = 0


def _interchange_pieces(opts: _CorpusOptions, index: int, first_claim: int,
                        n_claims: int) -> Iterator[_Piece]:
    """Interchange number `index` (1-based) holding claims first_claim.. as byte pieces.

    The interchange draws from its own Random, seeded by (seed, index), so interchanges can be
    made in any order or in parallel and the corpus is still the same bytes.
    """
    rng = random.Random(f"edi-cgt-corpus/{opts.seed}/{index}")
    factory = _ClaimFactory(
        rng, cgt_share=opts.cgt_share, violation_mix=dict(opts.violation_mix),
        lines_per_claim=opts.lines_per_claim, cob_share=opts.cob_share,
        dependent_share=opts.dependent_share, first_claim=first_claim,
        member_prefix=f"MCAL{index:04d}",
    )
    fmt = opts.fmt
    spec = InterchangeSpec((), control_number=index)
    head = _isa(spec, fmt).encode("ascii")
    yield _Piece(b"\xef\xbb\xbf" + head if index == 1 and fmt.bom else head, [], interchanges=1)
    remaining, groups = n_claims, 0
    while remaining > 0:
        groups += 1
        gs_control = (index - 1) * opts.groups_per_interchange + groups
        kind = opts.kind if opts.kind != "mixed" else (
            "I" if rng.random() < opts.institutional_share else "P")
        group = GroupSpec(kind, (), control_number=gs_control, version=dict(opts.versions).get(kind))
        yield _Piece(_encode(_gs(group, spec.created), fmt), [], groups=1)
        version = version_string(kind, dict(opts.versions).get(kind))
        count = 0
        while remaining > 0 and count < opts.transactions_per_group:
            count += 1
            size = min(opts.claims_per_transaction, remaining)
            pairs: list[tuple[ClaimSpec, Intent]] = []
            while len(pairs) < size:
                pairs.extend(factory.member_claims(kind, size - len(pairs))[: size - len(pairs)])
            pairs = _by_billing_provider(pairs)
            tx = TransactionSpec(tuple(c for c, _ in pairs), control_number=f"{count:04d}",
                                 reference=f"B{gs_control:06d}{count:04d}")
            text = _transaction_text(tx, kind, version, spec.created)
            remaining -= size
            yield _Piece(_encode(text, fmt), [i for _, i in pairs], transactions=1)
        yield _Piece(_encode(_ge(count, gs_control), fmt), [])
    yield _Piece(_encode(_iea(groups, index), fmt), [])


def _interchange_job(args: tuple[_CorpusOptions, int, int, int]) -> _Piece:
    """One whole interchange as a single piece, for a worker process."""
    pieces = list(_interchange_pieces(*args))
    return _Piece(b"".join(p.data for p in pieces), [i for p in pieces for i in p.intents],
                  sum(p.interchanges for p in pieces), sum(p.groups for p in pieces),
                  sum(p.transactions for p in pieces))


def generate_corpus(
    seed: int,
    n_claims: int,
    kind: str = "mixed",
    cgt_share: float = 0.005,
    violation_mix: Mapping[str, float] | None = None,
    claims_per_transaction: int = 500,
    transactions_per_group: int = 10,
    lines_per_claim: tuple[int, int] = (2, 6),
    cob_share: float = 0.1,
    dependent_share: float = 0.3,
    *,
    groups_per_interchange: int = 1,
    institutional_share: float = 0.3,
    fmt: Format = Format(),
    versions: Mapping[str, str] | None = None,
    jobs: int = 1,
    on_claim: Callable[[Intent], None] | None = None,
    stats: CorpusStats | None = None,
) -> Iterator[bytes]:
    """Yield an 837 corpus as byte chunks, deterministic from `seed` (whatever `jobs` is).

    kind: 'P', 'I' or 'mixed' (each functional group is 837I with `institutional_share`).
    cgt_share: share of claims that are CGT claims; violation_mix: weights of SCENARIOS for them.
    lines_per_claim: (min, max) lines of a routine claim (CGT claims have their own lines).
    cob_share / dependent_share: share of claims with a 2320 COB loop / under a 2000C patient.
    versions: GS08/ST03 per kind, e.g. {"P": "X222A2"} (default X222A1 / X223A2).
    With jobs == 1 a chunk is one transaction (or an envelope segment); with jobs > 1 worker
    processes make whole interchanges, at most 2 * jobs in flight, so memory stays bounded.
    `on_claim` is called with each claim's Intent, in file order; `stats` is filled in.
    """
    if kind not in ("P", "I", "mixed"):
        raise ValueError(f"kind must be 'P', 'I' or 'mixed', got {kind!r}")
    for name, value in (("n_claims", n_claims), ("claims_per_transaction", claims_per_transaction),
                        ("transactions_per_group", transactions_per_group),
                        ("groups_per_interchange", groups_per_interchange), ("jobs", jobs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    mix = DEFAULT_VIOLATION_MIX if violation_mix is None else violation_mix
    opts = _CorpusOptions(seed, kind, cgt_share, tuple(mix.items()), claims_per_transaction,
                          transactions_per_group, groups_per_interchange, lines_per_claim,
                          cob_share, dependent_share, institutional_share, fmt,
                          tuple(sorted((versions or {}).items())))
    # Check the options once here, so that errors are raised before any output.
    _ClaimFactory(random.Random(0), cgt_share=cgt_share, violation_mix=mix,
                  lines_per_claim=lines_per_claim, cob_share=cob_share,
                  dependent_share=dependent_share)
    stats = stats if stats is not None else CorpusStats()
    per_isa = opts.claims_per_interchange
    jobs_args = [(opts, i + 1, i * per_isa + 1, min(per_isa, n_claims - i * per_isa))
                 for i in range(-(-n_claims // per_isa))]
    if jobs == 1:
        pieces: Iterable[_Piece] = (
            piece for args in jobs_args for piece in _interchange_pieces(*args))
    else:
        pieces = _parallel(jobs_args, jobs)
    for piece in pieces:
        stats.interchanges += piece.interchanges
        stats.groups += piece.groups
        stats.transactions += piece.transactions
        stats.bytes += len(piece.data)
        for intent in piece.intents:
            _tally(stats, intent)
            if on_claim is not None:
                on_claim(intent)
        yield piece.data


def _parallel(jobs_args: list[tuple[_CorpusOptions, int, int, int]],
              jobs: int) -> Iterator[_Piece]:
    """Whole interchanges from a process pool, in order, with a bounded number in flight."""
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque = deque()
        todo = iter(jobs_args)
        for args in itertools.islice(todo, 2 * jobs):
            pending.append(pool.submit(_interchange_job, args))
        while pending:
            result = pending.popleft().result()
            for args in itertools.islice(todo, 1):
                pending.append(pool.submit(_interchange_job, args))
            yield result


def _tally(stats: CorpusStats, intent: Intent) -> None:
    stats.claims += 1
    if intent.scenario != "non-cgt":
        stats.cgt_claims += 1
    if intent.outcome == "reject":
        stats.expected_rejects += 1
    stats.by_scenario[intent.scenario] = stats.by_scenario.get(intent.scenario, 0) + 1


INTENT_COLUMNS = ("claim_id", "kind", "scenario", "outcome", "therapy", "reason")


def write_corpus(stream: BinaryIO, seed: int, n_claims: int, *,
                 intents: BinaryIO | None = None, progress: "Progress | None" = None,
                 **options: object) -> CorpusStats:
    """Write generate_corpus(seed, n_claims, **options) to a binary stream; return the counts.

    `intents`, if given, receives a TSV of every claim's intended outcome (CGT claims only,
    since routine claims are all meant to be accepted). `progress` (bench.progress.Progress)
    is told the bytes and claims written after each chunk.
    """
    stats = CorpusStats()
    on_claim = None
    if intents is not None:
        intents.write(("\t".join(INTENT_COLUMNS) + "\n").encode("ascii"))

        def on_claim(intent: Intent) -> None:
            if intent.scenario != "non-cgt":
                intents.write((f"{intent.claim_id}\t{intent.kind}\t{intent.scenario}\t{intent.outcome}\t"
                               f"{intent.therapy or ''}\t{intent.reason}\n").encode("ascii"))

    chunks = generate_corpus(seed, n_claims, on_claim=on_claim, stats=stats,
                             **options)  # type: ignore[arg-type]
    for chunk in chunks:
        stream.write(chunk)
        if progress is not None:
            progress.update(stats.bytes, stats.claims)
    return stats


# =============================================================================================
# Command line
# =============================================================================================
def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in SCENARIOS:
            raise argparse.ArgumentTypeError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight for {name!r} is not a number: {weight!r}") from None
    return mix


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.corpus",
        description="Generate a synthetic 837P/837I corpus with Medi-Cal CGT claims "
                    "(the same bytes for the same seed and options).",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--claims", type=int, default=10_000)
    p.add_argument("--kind", choices=("P", "I", "mixed"), default="mixed")
    p.add_argument("--cgt-share", type=float, default=0.005)
    p.add_argument("--violations", type=_parse_mix, default=None,
                   help="scenario weights, e.g. 'clean=4,missing-tar=1' (default: built-in mix)")
    p.add_argument("--claims-per-transaction", type=int, default=500)
    p.add_argument("--transactions-per-group", type=int, default=10)
    p.add_argument("--groups-per-interchange", type=int, default=1)
    p.add_argument("--lines-per-claim", type=pair, default=(2, 6), metavar="MIN,MAX")
    p.add_argument("--cob-share", type=float, default=0.1)
    p.add_argument("--dependent-share", type=float, default=0.3)
    p.add_argument("--institutional-share", type=float, default=0.3)
    p.add_argument("--version-p", default=None, help="837P GS08 suffix, e.g. X222A2 (default X222A1)")
    p.add_argument("--version-i", default=None, help="837I GS08 suffix, e.g. X223A3 (default X223A2)")
    p.add_argument("--element", type=delimiter, default="*")
    p.add_argument("--component", type=delimiter, default=":")
    p.add_argument("--repetition", type=delimiter, default="^")
    p.add_argument("--segment", type=delimiter, default="~", help="terminator; 'lf' or '0x1d' accepted")
    p.add_argument("--newline", choices=("none", "lf", "crlf"), default="none")
    p.add_argument("--bom", action="store_true")
    p.add_argument("-o", "--output", default="-", help="file (.gz = gzip) or - for stdout")
    p.add_argument("--intents", default=None, help="write a TSV of each CGT claim's intended outcome")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (same bytes for any value)")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        fmt = Format(args.element, args.component, args.repetition, args.segment,
                     {"none": "", "lf": "\n", "crlf": "\r\n"}[args.newline], args.bom)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = dict(
        kind=args.kind, cgt_share=args.cgt_share, violation_mix=args.violations,
        claims_per_transaction=args.claims_per_transaction,
        transactions_per_group=args.transactions_per_group,
        groups_per_interchange=args.groups_per_interchange, lines_per_claim=args.lines_per_claim,
        cob_share=args.cob_share, dependent_share=args.dependent_share,
        institutional_share=args.institutional_share, fmt=fmt, jobs=args.jobs,
        versions={k: v for k, v in (("P", args.version_p), ("I", args.version_i)) if v},
    )
    from .progress import Progress

    started = time.perf_counter()
    intents = open(args.intents, "wb") if args.intents else None
    progress = Progress(args.output if args.output != "-" else "bench.corpus")
    try:
        if args.output == "-":
            stats = write_corpus(sys.stdout.buffer, args.seed, args.claims, intents=intents, progress=progress,
                                 **options)
        elif args.output.endswith(".gz"):
            with gzip.open(args.output, "wb", compresslevel=6) as out:
                stats = write_corpus(out, args.seed, args.claims,  # type: ignore[arg-type]
                                     intents=intents, progress=progress, **options)
        else:
            with open(args.output, "wb", buffering=1 << 20) as out:
                stats = write_corpus(out, args.seed, args.claims, intents=intents, progress=progress, **options)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.close()
        if intents is not None:
            intents.close()
    elapsed = time.perf_counter() - started
    if not args.quiet:
        mb = stats.bytes / 1e6
        print(
            f"{stats.claims} claims ({stats.cgt_claims} CGT, {stats.expected_rejects} meant to be "
            f"rejected) in {stats.interchanges} ISA / {stats.groups} GS / {stats.transactions} ST; "
            f"{mb:.1f} MB in {elapsed:.2f} s = {mb / elapsed if elapsed else 0:.1f} MB/s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
