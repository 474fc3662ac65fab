# The rule registry and the context a rule function receives.
#
# Strategy: a rule is a small pure function `fn(ctx) -> Iterable[Finding]`, registered under
# the id of its <rule> entry in the policy data with `@rule("ID")`. The data gives severity,
# passage and 277CA mapping; the function only decides *whether* and *where* the rule fires
# and builds findings through `ctx.finding(...)`, which fills in the rest from the data and the
# site's severity overrides. `Context` also holds the shared derived views of a claim (which
# lines are CGT lines, which are exempt as clinical-trial lines, the evaluation date, which
# settings a claim's place matches) so every rule reads them the same way.
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..claims.model import Claim, ServiceLine
from .findings import Finding
from .model import Cite, PolicyView, RuleSpec, Therapy
from .site import OFF, SiteSettings

__all__ = ["RuleFunction", "REGISTRY", "rule", "Context"]

RuleFunction = Callable[["Context"], Iterable[Finding]]
REGISTRY: dict[str, RuleFunction] = {}


def rule(rule_id: str) -> Callable[[RuleFunction], RuleFunction]:
    """Register `fn` as the implementation of the policy rule `rule_id`."""

    def register(fn: RuleFunction) -> RuleFunction:
        if rule_id in REGISTRY and REGISTRY[rule_id] is not fn:
            raise ValueError(f"rule {rule_id} registered twice ({REGISTRY[rule_id].__name__}, {fn.__name__})")
        REGISTRY[rule_id] = fn
        return fn

    return register


@dataclass(slots=True)
class Context:
    """What a rule function reads. Read-only for rules, not frozen: the engine makes one per
    claim and points `spec` at each rule in turn (after the previous rule's findings are all
    drawn), since making one per rule and claim cost about a fifth of the engine's time when
    every claim is a CGT claim."""

    claim: Claim
    policy: PolicyView
    site: SiteSettings
    as_of: _dt.date | None
    spec: RuleSpec
    exempt_lines: frozenset[int]  # LX numbers of lines carrying a clinical-trial modifier
    # Views of the claim that do not depend on the rule, shared by the contexts of one claim
    # (the engine passes one dict per claim) so every rule does not derive them again.
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    # -- dates -------------------------------------------------------------------------
    def day(self, line: ServiceLine | None = None) -> _dt.date | None:
        """Evaluation date: `as_of` when given, else the line's (or the claim's) first date of service."""
        if self.as_of is not None:
            return self.as_of
        span = self.claim.line_dates(line) if line is not None else self.claim.service_dates
        if span is None and line is not None:
            span = self.claim.service_dates
        return span.start if span is not None else None

    def dates(self, line: ServiceLine) -> tuple[_dt.date, _dt.date] | None:
        """The line's actual date span (not overridden by as_of), for same-day comparisons."""
        span = self.claim.line_dates(line)
        return (span.start, span.end) if span is not None else None

    # -- lines -------------------------------------------------------------------------
    def lines(self) -> Iterator[ServiceLine]:
        """Lines the CGT policy applies to (clinical-trial lines left out)."""
        return (ln for ln in self.claim.lines if ln.number not in self.exempt_lines)

    def cgt_lines(self) -> Iterator[tuple[ServiceLine, Therapy]]:
        found = self.memo.get("cgt_lines")
        if found is None:
            therapies = self.policy.therapies
            found = self.memo["cgt_lines"] = tuple(
                (ln, therapies[ln.code]) for ln in self.lines() if ln.code in therapies)
        return iter(found)

    def has_code(self, codes: Iterable[str], *, include_exempt: bool = True) -> bool:
        wanted = set(codes)
        pool = self.claim.lines if include_exempt else tuple(self.lines())
        return any(ln.code in wanted for ln in pool)

    def programs(self, kind: type) -> tuple:
        """The program entries this rule reads (its `uses`), of the given type."""
        return tuple(p for u in self.spec.uses if isinstance(p := self.policy.programs.get(u), kind))

    # -- diagnoses and settings -----------------------------------------------------------
    def diagnosis_in(self, family_ids: Iterable[str]) -> bool:
        key = ("diagnosis_in", tuple(family_ids))
        found = self.memo.get(key)
        if found is None:
            fams = [self.policy.families[f] for f in key[1] if f in self.policy.families]
            found = self.memo[key] = any(f.matches(code) for code in self.claim.diagnosis_codes for f in fams)
        return found

    def settings_of(self, line: ServiceLine) -> dict[str, bool]:
        """Settings the claim's place matches for `line`: id -> True (confirmed) or False
        (matched, but the site option that would confirm it is unset)."""
        key = ("settings_of", line.place_of_service)  # all else it reads is the claim's
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._settings_of(line)
        return dict(found)

    def _settings_of(self, line: ServiceLine) -> dict[str, bool]:
        claim, site, out = self.claim, self.site, {}
        tob = claim.type_of_bill
        pos = claim.line_place_of_service(line)
        npi = claim.service_facility_npi
        for s in self.policy.settings.values():
            hit = False
            if tob is not None and any(tob.startswith(p) for p in s.type_of_bill_prefixes):
                hit = True
            if pos is not None and pos in s.places_of_service:
                hit = True
            if s.roster is not None:
                roster = site.roster(s.roster) or frozenset()
                hit = hit or (npi is not None and npi in roster)
            if not hit:
                continue
            if s.option is not None:
                opt = site.option(s.option)
                if opt is False:
                    continue
                out[s.id] = opt is True
            else:
                out[s.id] = True
        return out

    def place(self, line: ServiceLine) -> str:
        """The claim's place in words, for messages."""
        if self.claim.type_of_bill is not None:
            return f"type of bill {self.claim.type_of_bill}"
        return f"place of service {self.claim.line_place_of_service(line) or '(none)'}"

    # -- findings ------------------------------------------------------------------------
    def finding(
        self,
        message: str,
        *,
        line: ServiceLine | None = None,
        code: str | None = None,
        severity: str | None = None,
        cite: Cite | None = None,
    ) -> Finding | None:
        """A finding of this rule; None when the site switched the rule off. `severity` is a
        data-driven per-entry default (e.g. a code with a secondary-source limit); a site
        override of a configurable rule wins over both it and the rule's own severity."""
        sev = severity or self.spec.severity
        if self.spec.configurable:
            sev = self.site.severity.get(self.spec.id, sev)
        if sev == OFF:
            return None
        return Finding(
            rule_id=self.spec.id,
            severity=sev,
            message=message,
            passage=str(cite or self.spec.cite),
            line_number=line.number if line is not None else None,
            code=code if code is not None else (line.code if line is not None else None),
            ack=self.spec.ack_for(self.claim.kind),
            fix=self.spec.fix,
        )
