# The policy as frozen values.
#
# Strategy: one XML file becomes one `PolicyDocument`: dictionaries of entries keyed the way a
# revision overrides them (therapy by HCPCS code, rule by id, code dates by code, ...). A
# `Policy` is a base document plus revisions in order; `Policy.in_force(day)` folds the base
# and every revision whose `effective` date is on or before `day` into a `PolicyView`, the
# complete, flat picture that rules read. Nothing here parses XML or looks at a claim beyond
# plain codes and dates.
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from .findings import AckCode

__all__ = [
    "Cite",
    "Slip",
    "Setting",
    "TrialMarker",
    "ClinicalTrial",
    "Family",
    "CodeDates",
    "Units",
    "Indication",
    "Therapy",
    "CarveOutProduct",
    "CarveOut",
    "Rems",
    "Companion",
    "Bundle",
    "RuleAck",
    "RuleSpec",
    "PolicyDocument",
    "PolicyView",
    "Policy",
]

@dataclass(frozen=True, slots=True)
class Cite:
    """A verbatim passage of the policy text and the (normalized) heading it sits under."""

    section: str
    quote: str

    def __str__(self) -> str:
        return f'{self.section}: "{self.quote}"'


@dataclass(frozen=True, slots=True)
class Slip:
    id: str
    section: str
    seed: str
    normalized: str
    note: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Setting:
    """A place a CGT may be billed from: matched by type of bill, place of service or roster."""

    id: str
    name: str
    confidence: str
    type_of_bill_prefixes: tuple[str, ...] = ()
    places_of_service: tuple[str, ...] = ()
    roster: str | None = None
    option: str | None = None
    note: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TrialMarker:
    kind: str  # modifier | diagnosis | condition-code | demonstration-project
    value: str
    exempts: str  # claim | line | none
    confidence: str


@dataclass(frozen=True, slots=True)
class ClinicalTrial:
    cite: Cite
    markers: tuple[TrialMarker, ...]

    def values(self, kind: str, exempts: str | None = None) -> frozenset[str]:
        return frozenset(m.value for m in self.markers if m.kind == kind and (exempts is None or m.exempts == exempts))


@dataclass(frozen=True, slots=True)
class Family:
    """An ICD-10-CM family: codes starting with an include prefix and no exclude prefix."""

    id: str
    name: str
    confidence: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    note: str | None = None
    line: int | None = field(default=None, compare=False)

    def matches(self, code: str) -> bool:
        c = code.replace(".", "").upper()
        return any(c.startswith(p) for p in self.include) and not any(c.startswith(p) for p in self.exclude)

    def outside(self, others: "tuple[Family, ...]") -> tuple[str, ...]:
        """The include prefixes of this family not wholly inside one of `others`: a prefix is
        inside a family when it starts with one of its includes, none of its excludes, and
        this family also excludes whatever that family excludes below the prefix."""

        def inside(p: str, f: Family) -> bool:
            return (any(p.startswith(q) for q in f.include) and not any(p.startswith(e) for e in f.exclude)
                    and all(any(e.startswith(x) for x in self.exclude) for e in f.exclude if e.startswith(p)))

        return tuple(p for p in self.include if not any(inside(p, f) for f in others))


@dataclass(frozen=True, slots=True)
class CodeDates:
    """When a procedure code is valid: first and last date of service (None = open)."""

    code: str
    system: str
    confidence: str
    start: _dt.date | None = None
    end: _dt.date | None = None
    source: str | None = None
    replaced_by: str | None = None
    description: str | None = None
    note: str | None = None
    line: int | None = field(default=None, compare=False)

    def valid_on(self, day: _dt.date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def span(self) -> str:
        return f"{self.start or '...'} to {self.end or 'open'}"


@dataclass(frozen=True, slots=True)
class Units:
    basis: str  # the billing unit in words ("per treatment")
    unit_code: str  # the X12 unit code (SV103 / SV204) a line must use, e.g. "UN"
    max_per_date: Decimal  # most units on one claim and date of service, summed over lines
    confidence: str
    severity: str | None = None  # overrides the units rule's severity for a count over the max
    note: str | None = None

    @property
    def max_per_line(self) -> Decimal:
        """The same limit under its old name, which render.py still prints."""
        return self.max_per_date


@dataclass(frozen=True, slots=True)
class Indication:
    section: str  # stable id of the policy section, e.g. "sickle-cell-disease"
    heading: str
    disease: tuple[str, ...]  # families of the disease the section names
    families: tuple[str, ...]  # the product's labeled indications within it
    settings: tuple[str, ...]  # empty: no setting restriction
    cite: Cite


@dataclass(frozen=True, slots=True)
class Therapy:
    code: str
    product: str
    generic: str
    therapy_class: str  # car-t | tcr-t | gene-therapy
    descriptor: str
    units: Units
    indications: tuple[Indication, ...]
    cite: Cite
    not_under_drg: Cite | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.section for i in self.indications))

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for i in self.indications for f in i.families))

    @property
    def disease_families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for i in self.indications for f in i.disease))

    @property
    def settings(self) -> tuple[str, ...]:
        """Union of allowed settings; empty when any indication has no restriction."""
        if any(not i.settings for i in self.indications):
            return ()
        return tuple(dict.fromkeys(s for i in self.indications for s in i.settings))

    @property
    def label(self) -> str:
        return f"{self.code} ({self.product})"


@dataclass(frozen=True, slots=True)
class CarveOutProduct:
    code: str
    start: _dt.date
    confidence: str
    severity: str | None = None
    note: str | None = None
    firm_from: _dt.date | None = None  # from this date of service on, the rule's own severity

    def severity_on(self, day: _dt.date) -> str | None:
        """The product's severity override for `day` (None: use the rule's)."""
        if self.firm_from is not None and day >= self.firm_from:
            return None
        return self.severity


@dataclass(frozen=True, slots=True)
class CarveOut:
    """Codes moved from one Medi-Cal program (site [payers] list) to another for a diagnosis family."""

    id: str
    family: str
    from_program: str
    to_program: str
    cite: Cite
    products: tuple[CarveOutProduct, ...]
    note: str | None = None
    line: int | None = field(default=None, compare=False)

    def product(self, code: str) -> CarveOutProduct | None:
        return next((p for p in self.products if p.code == code), None)


@dataclass(frozen=True, slots=True)
class Rems:
    id: str
    roster: str
    cite: Cite
    products: tuple[str, ...]
    ended: _dt.date | None = None  # first date of service on which the REMS no longer applies
    ended_confidence: str | None = None
    ended_severity: str | None = None  # finding severity from `ended` on; None: no check then
    note: str | None = None
    line: int | None = field(default=None, compare=False)

    def applies_on(self, day: _dt.date) -> bool:
        """Whether the REMS itself is in force on `day`."""
        return self.ended is None or day < self.ended

    def checked_on(self, day: _dt.date) -> tuple[bool, str | None]:
        """(check the facility on `day`?, severity override: None = the rule's own)."""
        if self.applies_on(day):
            return True, None
        return self.ended_severity is not None, self.ended_severity


@dataclass(frozen=True, slots=True)
class Companion:
    id: str
    admin: tuple[str, ...]
    drugs: tuple[str, ...]
    cite: Cite
    per_infusion: tuple[str, ...] = ()
    note: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Bundle:
    id: str
    primary: tuple[str, ...]
    bundled: tuple[str, ...]
    confidence: str
    cite: Cite
    review: tuple[str, ...] = ()
    note: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RuleAck:
    ack: AckCode
    claim_kind: str | None = None  # "P" / "I" / None = both


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    title: str
    severity: str
    confidence: str
    cite: Cite
    confidence_note: str
    acks: tuple[RuleAck, ...]
    fix: str = ""  # what the biller should do to make the claim pass (plain language)
    configurable: bool = True
    applies_to_voids: bool = False
    uses: tuple[str, ...] = ()
    start: _dt.date | None = None
    end: _dt.date | None = None
    line: int | None = field(default=None, compare=False)

    def in_force(self, day: _dt.date | None) -> bool:
        if day is None:
            return True
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def ack_for(self, claim_kind: str) -> AckCode | None:
        for ra in self.acks:
            if ra.claim_kind in (None, claim_kind):
                return ra.ack
        return None


# Entry kinds as used by <withdraw kind="..."> and by the PolicyDocument attribute names.
ENTRY_KINDS = {
    "slip": "slips",
    "setting": "settings",
    "family": "families",
    "code": "codes",
    "therapy": "therapies",
    "program": "programs",
    "rule": "rules",
}


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """One policy file: a base (revises None) or a revision that overrides entries by key."""

    id: str
    title: str
    effective: _dt.date
    source_path: str
    revises: str | None = None
    source: str | None = None
    description: str | None = None
    slips: Mapping[str, Slip] = field(default_factory=dict)
    settings: Mapping[str, Setting] = field(default_factory=dict)
    clinical_trial: ClinicalTrial | None = None
    families: Mapping[str, Family] = field(default_factory=dict)
    codes: Mapping[str, CodeDates] = field(default_factory=dict)
    therapies: Mapping[str, Therapy] = field(default_factory=dict)
    programs: Mapping[str, object] = field(default_factory=dict)
    rules: Mapping[str, RuleSpec] = field(default_factory=dict)
    withdrawn: tuple[tuple[str, str], ...] = ()  # (kind, key)


@dataclass(frozen=True)
class PolicyView:
    """The complete policy in force on some date: what the rules read."""

    documents: tuple[PolicyDocument, ...]  # base first, then the revisions applied
    slips: Mapping[str, Slip]
    settings: Mapping[str, Setting]
    clinical_trial: ClinicalTrial | None
    families: Mapping[str, Family]
    codes: Mapping[str, CodeDates]
    therapies: Mapping[str, Therapy]
    programs: Mapping[str, object]
    rules: Mapping[str, RuleSpec]

    @classmethod
    def fold(cls, documents: tuple[PolicyDocument, ...]) -> "PolicyView":
        merged: dict[str, dict[str, object]] = {attr: {} for attr in ENTRY_KINDS.values()}
        trial: ClinicalTrial | None = None
        for doc in documents:
            for kind, key in doc.withdrawn:
                merged[ENTRY_KINDS[kind]].pop(key, None)
            for attr in ENTRY_KINDS.values():
                merged[attr].update(getattr(doc, attr))
            if doc.clinical_trial is not None:
                trial = doc.clinical_trial
        frozen = {k: MappingProxyType(v) for k, v in merged.items()}
        return cls(documents=documents, clinical_trial=trial, **frozen)  # type: ignore[arg-type]

    # -- identity ----------------------------------------------------------------------
    @property
    def base(self) -> PolicyDocument:
        return self.documents[0]

    @property
    def id(self) -> str:
        return self.documents[-1].id

    @property
    def effective(self) -> _dt.date:
        return self.documents[-1].effective

    def in_force(self, day: _dt.date | None) -> "PolicyView":
        return self

    @cached_property
    def rule_plans(self) -> dict:
        """The engine's cache of which rules run on a date (edi_cgt.policy.engine); not a field,
        so it takes no part in comparing or printing views."""
        return {}

    # -- lookups ----------------------------------------------------------------------
    def trigger_codes(self) -> frozenset[str]:
        """Codes at least one of which a claim must carry for any rule to fire (see engine)."""
        return self._triggers

    @cached_property
    def _triggers(self) -> frozenset[str]:
        codes: set[str] = set(self.therapies) | set(self.codes)
        for prog in self.programs.values():
            if isinstance(prog, Companion):
                codes.update(prog.admin)
            elif isinstance(prog, Bundle):
                codes.update(prog.primary)
            elif isinstance(prog, Rems):
                codes.update(prog.products)
            elif isinstance(prog, CarveOut):
                codes.update(p.code for p in prog.products)
        return frozenset(codes)

    def codes_of_interest(self) -> frozenset[str]:
        """Every procedure code any rule looks at: triggers plus companion and bundled codes."""
        codes = set(self.trigger_codes())
        for prog in self.programs.values():
            if isinstance(prog, Companion):
                codes.update(prog.drugs)
            elif isinstance(prog, Bundle):
                codes.update(prog.bundled)
                codes.update(prog.review)
        return frozenset(codes)


@dataclass(frozen=True)
class Policy:
    """A base policy document and its revisions, oldest first."""

    documents: tuple[PolicyDocument, ...]
    _views: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def base(self) -> PolicyDocument:
        return self.documents[0]

    @property
    def id(self) -> str:
        return self.documents[-1].id

    @property
    def latest(self) -> PolicyView:
        return self._view(len(self.documents))

    def in_force(self, day: _dt.date | None) -> PolicyView:
        """The policy for a date of service: the base plus every revision effective on or
        before `day` (all revisions when `day` is None)."""
        if day is None:
            return self.latest
        n = 1 + sum(1 for d in self.documents[1:] if d.effective <= day)
        return self._view(n)

    def _view(self, n: int) -> PolicyView:
        view = self._views.get(n)
        if view is None:
            view = self._views[n] = PolicyView.fold(self.documents[:n])
        return view

    def views(self) -> tuple[PolicyView, ...]:
        return tuple(self._view(n) for n in range(1, len(self.documents) + 1))

    def trigger_codes(self) -> frozenset[str]:
        return frozenset().union(*(v.trigger_codes() for v in self.views()))

    def codes_of_interest(self) -> frozenset[str]:
        return frozenset().union(*(v.codes_of_interest() for v in self.views()))
