# Corpora in shapes the project's own generator was never tuned on, made of real claims.
#
# Strategy: an independent builder (it shares no code with bench.corpus). It reads public 837
# files (../shared/samples, else our fixtures/) with a deliberately plain reader: delimiters
# from the ISA's fixed positions, segments split on the terminator, each claim taken with the
# HL blocks it hangs under (2000A billing provider, 2000B subscriber, 2000C patient, found by
# level and order, never by the files' HL numbers, which some get wrong). Those claims are the
# templates. A corpus is then written transaction by transaction in the requested shape:
# claims per transaction, service lines per claim (a claim's own lines cycled), with or
# without a 2000C patient, 837P or 837I, any delimiters and line breaks. Everything that must
# be unique or counted is renumbered: HL ids and parents, LX, CLM01 (and CLM02 summed from the
# lines), ISA13/GS06/ST02 control numbers, SE01, GE01, IEA01. Template text is rendered once
# per template (components and repetitions held as private placeholders until the delimiters
# are known), so a claim costs a few string joins and the builder writes tens of MB/s; memory
# is bounded by one run of claims (a transaction larger than that gets several 2000A loops).
#
# CGT claims: a share of the claims (spread evenly, so "0.5%" is exactly one claim in 200) get
# a policy code on a new first service line, a diagnosis and a setting the policy rejects, and
# no TAR, from RECIPES: each CGT claim is meant to be rejected for exactly its recipe's two
# rules. Template claims that already carry a policy trigger code are left out, so a 0% corpus
# has none. The bytes depend only on the templates, the seed and the shape.
from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .argtypes import delimiter, pair

if TYPE_CHECKING:
    from .progress import Progress

__all__ = [
    "Delimiters",
    "Template",
    "Shape",
    "CgtRecipe",
    "RECIPES",
    "CGT_DATE",
    "Stats",
    "default_template_files",
    "read_templates",
    "templates_digest",
    "build",
    "main",
]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"
FIXTURES = ROOT / "fixtures"
VERSIONS = {"P": "005010X222A1", "I": "005010X223A2"}
_C = "\x1f"  # a component separator inside a template element, until the output's is known
_R = "\x1e"  # a repetition separator, likewise
_RUN = 1000  # claims grouped under their billing providers at a time (bounds memory)
_AMOUNT = re.compile(r"[0-9]*\.?[0-9]+")
_ISA_SEPARATORS = (6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)

Seg = tuple[str, ...]


# =============================================================================================
# Values
# =============================================================================================
@dataclass(frozen=True, slots=True)
class Delimiters:
    """The output's delimiters; `newline` ("", "\\n" or "\\r\\n") follows every terminator."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    newline: str = ""

    def __post_init__(self) -> None:
        chars = (self.element, self.component, self.repetition, self.segment)
        if any(len(c) != 1 or c.isalnum() or c in " \r\x00" or ord(c) > 127 or c in (_C, _R) for c in chars):
            raise ValueError(f"delimiters must be single ASCII punctuation or control characters, got {chars!r}")
        if len(set(chars)) != 4:
            raise ValueError(f"delimiters must all differ, got {chars!r}")
        if self.newline not in ("", "\n", "\r\n"):
            raise ValueError(f"newline must be '', '\\n' or '\\r\\n', got {self.newline!r}")
        if self.segment == "\n" and self.newline:
            raise ValueError("a newline terminator takes no extra line break")

    @property
    def reserved(self) -> frozenset[str]:
        """Characters a data value may not contain in this output."""
        return frozenset((self.element, self.component, self.repetition, self.segment, "\r", "\n"))

    def describe(self) -> str:
        brk = {"": "", "\n": "+LF", "\r\n": "+CRLF"}[self.newline]
        return f"{self.element}{self.component}{self.repetition}{self.segment!r}{brk}".replace("'", "")


@dataclass(frozen=True, slots=True)
class Template:
    """One real claim with the blocks it hangs under (HL segments left out; they are renumbered)."""

    kind: str  # "P" or "I"
    source: str  # file name
    header: tuple[Seg, ...]  # BHT, 1000A, 1000B of its transaction
    billing: tuple[Seg, ...]  # 2000A
    subscriber: tuple[Seg, ...]  # 2000B, SBR first
    patient: tuple[Seg, ...] | None  # 2000C, PAT first
    claim: tuple[Seg, ...]  # 2300 and its loops: CLM up to the first LX
    lines: tuple[tuple[Seg, ...], ...]  # each 2400 loop without its LX


@dataclass(frozen=True, slots=True)
class CgtRecipe:
    """How a template claim becomes a CGT claim the policy rejects for exactly `rules`."""

    code: str
    revenue: str  # 837I SV201
    charge: str
    diagnosis: str  # the only diagnosis left on the claim (ICD-10-CM, no dot)
    place_of_service: str  # 837P CLM05-1
    type_of_bill: str  # 837I CLM05-1 + CLM05-3 (three digits)
    rules: tuple[str, str]


# Yescarta in an office / an ambulatory surgery center: hospital outpatient only. Casgevy for
# hypertension: outside the sickle cell and beta thalassemia sections. Neither has a TAR.
RECIPES: tuple[CgtRecipe, ...] = (
    CgtRecipe("Q2041", "0891", "450000", "C8338", "11", "831", ("CGT-AUTH-REQUIRED", "CGT-SETTING-NOT-ALLOWED")),
    CgtRecipe("J3392", "0891", "2200000", "I10", "22", "131", ("CGT-AUTH-REQUIRED", "CGT-DIAGNOSIS-OUTSIDE-SECTION")),
)
CGT_DATE = "20250915"  # every line of a CGT claim: both codes in effect, after the REMS ended


@dataclass(frozen=True, slots=True)
class Shape:
    """What a corpus looks like (see `python -m bench.shapes --help`)."""

    kind: str = "P"
    claims_per_transaction: int = 500
    lines: tuple[int, int] = (1, 6)  # service lines per claim, drawn uniformly (CGT claims too)
    patients: float = 0.0  # share of claims under a 2000C patient
    cgt_share: float = 0.005
    delimiters: Delimiters = Delimiters()
    transactions_per_group: int = 10  # one GS per ISA
    seed: int = 1

    def __post_init__(self) -> None:
        if self.kind not in VERSIONS:
            raise ValueError(f"kind must be 'P' or 'I', got {self.kind!r}")
        lo, hi = self.lines
        if not 1 <= lo <= hi or hi > 99:
            raise ValueError(f"lines must be MIN,MAX with 1 <= MIN <= MAX <= 99, got {self.lines!r}")
        if self.claims_per_transaction < 1 or self.transactions_per_group < 1:
            raise ValueError("claims per transaction and transactions per group must be at least 1")
        for name in ("patients", "cgt_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")


@dataclass(slots=True)
class Stats:
    """What `build` wrote."""

    interchanges: int = 0
    groups: int = 0
    transactions: int = 0
    claims: int = 0
    cgt_claims: int = 0
    expected_rejects: int = 0
    patients: int = 0
    lines: int = 0
    bytes: int = 0
    templates: int = 0
    sources: list[str] = field(default_factory=list)


# =============================================================================================
# Reading templates
# =============================================================================================
def default_template_files() -> list[Path]:
    """The public 837s of ../shared/samples (its top level, malformed ones left out), else our
    own fixtures/*.837 when the shared corpus is absent."""
    if SAMPLES.is_dir():
        files = [p for p in sorted(SAMPLES.iterdir())
                 if p.is_file() and "837" in p.name and "MALFORMED" not in p.name]
        if files:
            return files
    return sorted(FIXTURES.glob("*.837"))


def _segments(data: bytes) -> list[Seg]:
    """The file's segments, elements split, components and repetitions as placeholders; empty
    when it does not start (after a BOM or blank space) with a well-formed ISA."""
    text = data.decode("latin-1")
    start = text.find("ISA")
    if start < 0 or len(text) < start + 106 or text[:start].strip("\xef\xbb\xbf \t\r\n"):
        return []
    isa = text[start : start + 106]
    element = isa[3]
    if any(isa[i] != element for i in _ISA_SEPARATORS):
        return []
    component, repetition, terminator = isa[104], isa[82], isa[105]
    if repetition.isalnum() or repetition in (" ", component, element, terminator):
        repetition = ""  # ISA11 "U" (the 4010 habit) or a repeated delimiter: no repetitions
    out: list[Seg] = []
    for raw in text[start:].split(terminator):
        raw = raw.lstrip(" \t\r\n").rstrip("\r\n")
        if not raw:
            continue
        raw = raw.replace(component, _C)
        if repetition:
            raw = raw.replace(repetition, _R)
        out.append(tuple(raw.split(element)))
    return out


def _kind(version: str) -> str | None:
    return "P" if "X222" in version else "I" if "X223" in version else None


def _templates_of(segs: Sequence[Seg], source: str) -> Iterator[Template]:
    """Every claim of every 837 transaction, with its blocks, in file order."""
    gs_version = ""
    kind: str | None = None
    header: list[Seg] = []
    blocks: dict[str, list[Seg] | None] = {}
    claim: list[Seg] | None = None
    lines: list[list[Seg]] = []
    target: list[Seg] | None = None

    def flush() -> Iterator[Template]:
        if kind and claim and lines and blocks.get("20") is not None and blocks.get("22") is not None:
            patient = blocks.get("23")
            yield Template(kind, source, tuple(header), tuple(blocks["20"] or ()), tuple(blocks["22"] or ()),
                           tuple(patient) if patient is not None else None, tuple(claim),
                           tuple(tuple(ln) for ln in lines))

    for seg in segs:
        tag = seg[0]
        if tag == "GS":
            gs_version = seg[8] if len(seg) > 8 else ""
        elif tag == "ST":
            version = seg[3] if len(seg) > 3 and seg[3] else gs_version
            kind = _kind(version) if seg[1:2] == ("837",) else None
            header, blocks, claim, lines = [], {}, None, []
            target = header
        elif tag in ("SE", "HL", "CLM", "GE", "IEA"):
            yield from flush()
            claim, lines, target = None, [], None
            if tag == "HL" and len(seg) > 3 and kind:
                level = seg[3]
                blocks[level] = target = []
                for below in {"20": ("22", "23"), "22": ("23",)}.get(level, ()):
                    blocks[below] = None
            elif tag == "CLM" and kind:
                claim = target = [seg]
            elif tag == "SE":
                kind = None
        elif tag == "LX" and claim is not None:
            lines.append([])
            target = lines[-1]
        elif target is not None:
            target.append(seg)


def _money(text: str) -> Decimal | None:
    """A plain non-negative amount ("12.25", "400"), else None (no signs, exponents or NaN)."""
    return Decimal(text) if _AMOUNT.fullmatch(text) else None


def _usable(t: Template, codes: frozenset[str]) -> bool:
    """A template claim the builder can shape: CLM with a facility code, every line a priced
    SV1/SV2 with a procedure code outside the policy's trigger codes, a subscriber block that
    starts with SBR (and a patient block with PAT)."""
    clm = t.claim[0]
    if len(clm) < 6 or _money(clm[2]) is None or _C not in clm[5]:
        return False
    if not t.subscriber or t.subscriber[0][0] != "SBR" or (t.patient is not None and t.patient[:1] == ()):
        return False
    if t.patient is not None and t.patient[0][0] != "PAT":
        return False
    service, code_at, charge_at = ("SV1", 1, 2) if t.kind == "P" else ("SV2", 2, 3)
    for line in t.lines:
        if not line or line[0][0] != service or len(line[0]) <= charge_at or _money(line[0][charge_at]) is None:
            return False
        parts = line[0][code_at].split(_C)
        if len(parts) < 2 or parts[1] in codes:
            return False
    return True


def read_templates(paths: Iterable[str | Path] | None = None) -> list[Template]:
    """The usable, distinct template claims of `paths` (default_template_files()), in file order."""
    from edi_cgt.policy import trigger_codes

    codes = trigger_codes()
    seen: set[tuple] = set()
    out: list[Template] = []
    for path in (default_template_files() if paths is None else paths):
        path = Path(path)
        for t in _templates_of(_segments(path.read_bytes()), path.name):
            key = (t.kind, t.billing, t.subscriber, t.patient, t.claim, t.lines)
            if key not in seen and _usable(t, codes):
                seen.add(key)
                out.append(t)
    return out


def templates_digest(paths: Iterable[str | Path] | None = None) -> str:
    """A short hash of the template files' names and bytes (part of a corpus cache key)."""
    digest = hashlib.sha256()
    for path in (default_template_files() if paths is None else paths):
        path = Path(path)
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


# =============================================================================================
# CGT claims
# =============================================================================================
def _cgt_template(t: Template, recipe: CgtRecipe) -> Template:
    """`t` made into a CGT claim: the recipe's code on a new first line, its setting and single
    diagnosis, no prior authorization, every date CGT_DATE (an original claim frequency)."""
    e = _C
    claim: list[Seg] = []
    hi_at: int | None = None
    for seg in t.claim:
        tag = seg[0]
        if tag == "CLM":
            facility = ((recipe.place_of_service, "B", "1") if t.kind == "P"
                        else (recipe.type_of_bill[:2], "A", recipe.type_of_bill[2]))
            seg = (*seg[:5], e.join(facility), *seg[6:])
        elif tag == "HI":
            if hi_at is None:
                hi_at = len(claim)
            continue
        elif tag == "REF" and seg[1:2] in (("G1",), ("F8",), ("P4",)):
            continue  # prior authorization, original claim number, demonstration project
        elif tag == "DTP" and seg[1:2] == ("434",):
            seg = ("DTP", "434", "RD8", f"{CGT_DATE}-{CGT_DATE}")
        elif tag == "DTP" and seg[1:2] == ("435",) and len(seg) > 3:
            seg = ("DTP", "435", seg[2], CGT_DATE + seg[3][8:])  # admission: same day, same hour
        claim.append(seg)
    diagnosis = ("HI", f"ABK{e}{recipe.diagnosis}")
    claim.insert(hi_at if hi_at is not None else 1, diagnosis)
    if t.kind == "P":
        first: tuple[Seg, ...] = (("SV1", f"HC{e}{recipe.code}", recipe.charge, "UN", "1", "", "", "1"),)
    else:
        first = (("SV2", recipe.revenue, f"HC{e}{recipe.code}", recipe.charge, "UN", "1"),)
    first += (("DTP", "472", "D8", CGT_DATE),)
    lines = [first]
    for line in t.lines:
        kept: list[Seg] = []
        for seg in line:
            if seg[0] == "REF" and seg[1:2] == ("G1",):
                continue
            if seg[0] == "DTP" and seg[1:2] == ("472",):
                seg = ("DTP", "472", "D8", CGT_DATE)
            elif seg[0] == "SV1" and len(seg) > 7:
                seg = (*seg[:7], "1", *seg[8:])  # the one diagnosis left
            kept.append(seg)
        lines.append(kept)
    return Template(t.kind, t.source, t.header, t.billing, t.subscriber, t.patient, tuple(claim),
                    tuple(tuple(ln) for ln in lines))


def _is_cgt(index: int, share: Fraction) -> bool:
    """Claim `index` (0-based) is a CGT claim: spread evenly, exactly `share` of any prefix."""
    return (index + 1) * share.numerator // share.denominator > index * share.numerator // share.denominator


# =============================================================================================
# Rendering
# =============================================================================================
class _Ready:
    """A template rendered for one output: text of each block (terminators included), counts."""

    __slots__ = ("t", "billing", "billing_n", "sub_self", "sub_dependent", "sub_n", "patient", "patient_n",
                 "clm_tail", "claim_rest", "claim_n", "lines", "lead")

    def __init__(self, t: Template, d: Delimiters, lead: bool) -> None:
        self.t = t
        end = d.segment + d.newline
        text = lambda segs: "".join(d.element.join(s) + end for s in segs)  # noqa: E731
        self.billing, self.billing_n = text(t.billing), len(t.billing)
        sbr = t.subscriber[0]
        rest = t.subscriber[1:]
        pad = sbr + ("",) * max(0, 3 - len(sbr))
        self.sub_self = text([(*pad[:2], "18", *pad[3:]), *rest])
        self.sub_dependent = text([(*pad[:2], "", *pad[3:]), *rest])
        self.sub_n = len(t.subscriber)
        self.patient = text(t.patient) if t.patient else None
        self.patient_n = len(t.patient) if t.patient else 0
        clm = t.claim[0]
        self.clm_tail = d.element.join(clm[3:]) + end
        self.claim_rest, self.claim_n = text(t.claim[1:]), len(t.claim)
        at = 2 if t.kind == "P" else 3
        self.lines = tuple((text(ln), len(ln), Decimal(ln[0][at])) for ln in t.lines)
        self.lead = lead  # the first line is the CGT line: used once, the others cycled


def _clash(t: Template, d: Delimiters) -> bool:
    """A template value holds a character that is a delimiter of this output."""
    reserved = d.reserved
    every = (*t.header, *t.billing, *t.subscriber, *(t.patient or ()), *t.claim, *(s for ln in t.lines for s in ln))
    return any(ch in reserved for seg in every for value in seg for ch in value)


def _patient_from(subscriber: tuple[Seg, ...]) -> tuple[Seg, ...]:
    """A 2000C patient made from the subscriber's own 2010BA name, address and demographics
    (used when no template of the run has a real 2000C)."""
    block: list[Seg] = [("PAT", "19")]
    member = False
    for seg in subscriber:
        if seg[0] == "NM1":
            member = seg[1:2] == ("IL",)
            if member:
                block.append(("NM1", "QC", "1", *seg[3:5]))
        elif member and seg[0] in ("N3", "N4", "DMG"):
            block.append(seg)
    if len(block) == 1:
        block.append(("NM1", "QC", "1", "DOE", "PAT"))
    if not any(s[0] == "DMG" for s in block):
        block.append(("DMG", "D8", "20100101", "U"))
    return tuple(block)


class _Builder:
    """Turns the shape's claim stream into envelopes and transactions (see `build`)."""

    def __init__(self, shape: Shape, templates: Sequence[Template]) -> None:
        d = shape.delimiters
        self.shape, self.d = shape, d
        self.rng = random.Random(f"bench.shapes/{shape.seed}")
        pool = [t for t in templates if t.kind == shape.kind and not _clash(t, d)]
        if not pool:
            raise ValueError(f"no usable 837{shape.kind} template claim for delimiters {d.describe()}")
        self.pool = [_Ready(t, d, False) for t in pool]
        self.end = d.segment + d.newline
        real = sorted({t.patient for t in templates if t.patient and not _clash(t, d)})
        self.patients = [(self._text(p), len(p)) for p in real]  # 2000C blocks of any template
        self.cgt: dict[tuple[int, int], _Ready] = {}
        self.share = Fraction(shape.cgt_share).limit_denominator(1_000_000)
        self.stats = Stats(templates=len(pool), sources=sorted({t.source for t in pool}))

    def _text(self, segs: Iterable[Seg]) -> str:
        return "".join(self.d.element.join(s) + self.end for s in segs)

    def _claim(self, index: int) -> tuple[_Ready, bool, int]:
        rng, shape = self.rng, self.shape
        choice = rng.randrange(len(self.pool))
        lo, hi = shape.lines
        n_lines = rng.randint(lo, hi)
        dependent = rng.random() < shape.patients
        ready = self.pool[choice]
        if _is_cgt(index, self.share):
            k = self.stats.cgt_claims % len(RECIPES)
            ready = self.cgt.get((choice, k)) or self.cgt.setdefault(
                (choice, k), _Ready(_cgt_template(ready.t, RECIPES[k]), self.d, True))
            self.stats.cgt_claims += 1
            self.stats.expected_rejects += 1
        return ready, dependent, n_lines

    def _patient_text(self, ready: _Ready) -> tuple[str, int]:
        if ready.patient is not None:
            return ready.patient, ready.patient_n
        if self.patients:
            return self.patients[self.stats.claims % len(self.patients)]
        block = _patient_from(ready.t.subscriber)
        return self._text(block), len(block)

    def run(self, claims: list[tuple[_Ready, bool, int]], hl: int) -> tuple[list[str], int, int]:
        """Text of a run of claims grouped under their billing providers; (parts, segments, last HL)."""
        e, end = self.d.element, self.end
        groups: dict[str, list[tuple[_Ready, bool, int]]] = {}
        for item in claims:
            groups.setdefault(item[0].billing, []).append(item)
        parts: list[str] = []
        count = 0
        stats = self.stats
        for billing, items in groups.items():
            hl += 1
            top = hl
            parts.append(f"HL{e}{top}{e}{e}20{e}1{end}")
            parts.append(billing)
            count += 1 + items[0][0].billing_n
            for ready, dependent, n_lines in items:
                hl += 1
                sub = hl
                stats.claims += 1
                parts.append(f"HL{e}{sub}{e}{top}{e}22{e}{1 if dependent else 0}{end}")
                parts.append(ready.sub_dependent if dependent else ready.sub_self)
                count += 1 + ready.sub_n
                if dependent:
                    hl += 1
                    text, n = self._patient_text(ready)
                    parts.append(f"HL{e}{hl}{e}{sub}{e}23{e}0{end}")
                    parts.append(text)
                    count += 1 + n
                    stats.patients += 1
                lines = ready.lines
                if ready.lead:
                    chosen = [lines[0]] + [lines[1 + i % (len(lines) - 1)] for i in range(n_lines - 1)]
                else:
                    chosen = [lines[i % len(lines)] for i in range(n_lines)]
                charge = sum((c for _, _, c in chosen), Decimal(0))
                parts.append(f"CLM{e}SHP{stats.claims:09d}{e}{charge}{e}{ready.clm_tail}")
                parts.append(ready.claim_rest)
                count += ready.claim_n
                for number, (text, n, _) in enumerate(chosen, 1):
                    parts.append(f"LX{e}{number}{end}")
                    parts.append(text)
                    count += 1 + n
                stats.lines += n_lines
        return parts, count, hl


def _header(t: Template, d: Delimiters, reference: str) -> tuple[str, int]:
    end = d.segment + d.newline
    segs = [(*s[:3], reference, *s[4:]) if s[0] == "BHT" and len(s) > 3 else s for s in t.header]
    return "".join(d.element.join(s) + end for s in segs), len(segs)


def build(out: BinaryIO, shape: Shape, templates: Sequence[Template], *, claims: int | None = None,
          size: int | None = None, progress: "Progress | None" = None) -> Stats:
    """Write a corpus of `shape` to `out`: `claims` claims, or whole transactions until at least
    `size` bytes are written (one of the two). Deterministic from the templates and the shape."""
    if (claims is None) == (size is None) or (claims or size or 0) < 1:
        raise ValueError("give either claims or size (at least 1)")
    b = _Builder(shape, templates)
    d, stats = shape.delimiters, b.stats
    e, end = d.element, d.segment + d.newline
    version = VERSIONS[shape.kind]
    translate = str.maketrans({_C: d.component, _R: d.repetition})

    def done() -> bool:
        return stats.claims >= claims if claims is not None else stats.bytes >= (size or 0)

    def emit(text: str) -> None:
        data = text.translate(translate).encode("latin-1")
        out.write(data)
        stats.bytes += len(data)

    index = 0
    while not done():
        stats.interchanges += 1
        stats.groups += 1
        control = stats.interchanges
        emit(f"ISA{e}00{e}{' ' * 10}{e}00{e}{' ' * 10}{e}ZZ{e}{'BENCHSHAPES':<15}{e}ZZ{e}{'BENCHRECEIVER':<15}{e}"
             f"251001{e}1200{e}{d.repetition}{e}00501{e}{control:09d}{e}0{e}T{e}{d.component}{end}"
             f"GS{e}HC{e}BENCHSHAPES{e}BENCHRECEIVER{e}20251001{e}1200{e}{control}{e}X{e}{version}{end}")
        in_group = 0
        while in_group < shape.transactions_per_group and not done():
            in_group += 1
            stats.transactions += 1
            st = f"{in_group:04d}"
            in_tx, hl, count = 0, 0, 0
            head: str | None = None
            while in_tx < shape.claims_per_transaction and not done():
                room = min(_RUN, shape.claims_per_transaction - in_tx)
                if claims is not None:
                    room = min(room, claims - stats.claims)
                elif stats.claims:  # as many claims as the bytes still wanted, at the size so far
                    room = min(room, -(-((size or 0) - stats.bytes) * stats.claims // stats.bytes))
                else:
                    room = min(room, 10)
                batch = [b._claim(index + i) for i in range(room)]
                index += room
                in_tx += room
                parts, n, hl = b.run(batch, hl)
                if head is None:
                    text, k = _header(batch[0][0].t, d, f"SHP{control:06d}{st}")
                    head = f"ST{e}837{e}{st}{e}{version}{end}{text}"
                    count += 1 + k
                    parts.insert(0, head)
                count += n
                emit("".join(parts))
                if progress is not None:
                    progress.update(stats.bytes, stats.claims)
            emit(f"SE{e}{count + 1}{e}{st}{end}")
        emit(f"GE{e}{in_group}{e}{control}{end}IEA{e}1{e}{control:09d}{end}")
    return stats


# =============================================================================================
# Command line
# =============================================================================================
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.shapes",
        description="Write an 837 corpus of real claims (from public 837 files) in a chosen shape: claims "
                    "per transaction, lines per claim, 2000C patients, 837P/837I, delimiters, CGT share. "
                    "The same templates, seed and options give the same bytes.",
        epilog="Example: python -m bench.shapes --kind P --claims-per-transaction 2000 --lines 4 --patients 1 "
               "--cgt-share 0.005 --size-mb 100 -o corpus.837",
    )
    p.add_argument("--kind", choices=("P", "I"), default="P", help="837P or 837I (default P)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--claims", type=int, help="number of claims (default 10000)")
    size.add_argument("--size-mb", type=float, help="write whole transactions until this many MB (10^6 bytes)")
    p.add_argument("--claims-per-transaction", type=int, default=500, metavar="N", help="default 500")
    p.add_argument("--transactions-per-group", type=int, default=10, metavar="N",
                   help="ST..SE per GS, one GS per ISA (default 10)")
    p.add_argument("--lines", type=pair, default=(1, 6), metavar="N|MIN,MAX", help="service lines per claim")
    p.add_argument("--patients", type=float, default=0.0, help="share of claims under a 2000C patient (0-1)")
    p.add_argument("--cgt-share", type=float, default=0.005, help="share of claims made CGT claims "
                   "the policy rejects (0-1)")
    p.add_argument("--seed", type=int, default=1, help="default 1")
    p.add_argument("--element", type=delimiter, default="*")
    p.add_argument("--component", type=delimiter, default=":")
    p.add_argument("--repetition", type=delimiter, default="^")
    p.add_argument("--segment", type=delimiter, default="~", help="terminator; 'lf' or '0x1d' accepted")
    p.add_argument("--newline", choices=("none", "lf", "crlf"), default="none", help="line break after each segment")
    p.add_argument("--templates", nargs="+", metavar="FILE", help="837 files to take claims from "
                   "(default: ../shared/samples, else fixtures/)")
    p.add_argument("-o", "--output", default="-", help="file, or - for stdout (default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        shape = Shape(args.kind, args.claims_per_transaction, args.lines, args.patients, args.cgt_share,
                      Delimiters(args.element, args.component, args.repetition, args.segment,
                                 {"none": "", "lf": "\n", "crlf": "\r\n"}[args.newline]),
                      args.transactions_per_group, args.seed)
        templates = read_templates(args.templates)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .progress import Progress

    size = int(args.size_mb * 1e6) if args.size_mb is not None else None
    claims = None if size is not None else (args.claims if args.claims is not None else 10_000)
    started = time.perf_counter()
    progress = Progress(args.output if args.output != "-" else "bench.shapes")
    try:
        if args.output == "-":
            stats = build(sys.stdout.buffer, shape, templates, claims=claims, size=size, progress=progress)
        else:
            with open(args.output, "wb", buffering=1 << 20) as out:
                stats = build(out, shape, templates, claims=claims, size=size, progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    if not args.quiet:
        seconds = time.perf_counter() - started
        print(f"{stats.claims} claims ({stats.cgt_claims} CGT, meant to be rejected; {stats.patients} under a "
              f"2000C; {stats.lines} lines) in {stats.interchanges} ISA / {stats.transactions} ST from "
              f"{stats.templates} template claims of {len(stats.sources)} files; {stats.bytes / 1e6:.1f} MB in "
              f"{seconds:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
