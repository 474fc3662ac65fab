# Findings and decisions: what the policy engine says about one claim.
#
# A rule yields Findings; the engine folds them into one Decision per claim. Both are frozen
# values with no knowledge of X12 bytes: the 277CA writer reads `ack` (category, status code,
# entity) from each finding, and that mapping comes from the policy data, not from code.
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AckCode", "Finding", "Decision", "ERROR", "WARNING"]

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class AckCode:
    """How a finding is reported in a 277CA STC: `category:status[:entity]` (+ optional extra)."""

    category: str  # A3 | A6 | A7 | A8
    status: str  # code source 508, e.g. "252"
    entity: str | None = None  # STC01-3 when the status code requires one (e.g. "PR", "85")
    extra_status: str | None = None  # second composite's status code (STC10), same category

    def composite(self, sep: str) -> str:
        parts = [self.category, self.status] + ([self.entity] if self.entity else [])
        return sep.join(parts)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on a claim or one of its service lines."""

    rule_id: str  # stable id, e.g. "CGT-AUTH-REQUIRED"
    severity: str  # "error" rejects the claim; "warning" is reported only
    message: str  # plain language, no PHI
    passage: str  # the policy text the rule comes from (short quote + section)
    line_number: int | None = None  # LX01 of the line that caused it; None = whole claim
    code: str | None = None  # the HCPCS/CPT the finding is about, if any
    ack: AckCode | None = None
    fix: str = ""  # what the biller should do about it (the rule's <fix> in the policy data)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one claim."""

    claim_id: str
    findings: tuple[Finding, ...] = ()
    evaluated: bool = True  # False when the claim could not be evaluated (passed through)

    @property
    def rejected(self) -> bool:
        return any(f.is_error for f in self.findings)

    @property
    def accepted(self) -> bool:
        return not self.rejected

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_error)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for f in self.findings:
            seen.setdefault(f.rule_id, None)
        return tuple(seen)
