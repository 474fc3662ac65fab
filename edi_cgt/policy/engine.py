# The rule engine: one claim in, one Decision out.
#
# Strategy: pick the policy view in force on the claim's evaluation date (as_of, else its first
# date of service), take the claim-level exits (no trigger code at all; a claim-level
# clinical-trial marker), then run every rule of the view that is in force on that date, is
# implemented, and applies to this claim's frequency, in the data's order. The claim is
# rejected when any finding is an error (Decision.rejected). Everything is pure: no I/O, no
# clock; the same claim, policy, site and as_of always give the same Decision.
from __future__ import annotations

import datetime as _dt
from typing import Iterator

from ..claims.model import Claim
from .findings import Decision, Finding
from .model import Policy, PolicyView
from .registry import REGISTRY, Context
from . import rules as _rules  # noqa: F401  (registers the rule functions)
from .site import SiteSettings

__all__ = ["evaluate", "evaluation_date", "claim_exemption", "exempt_lines"]


def evaluation_date(claim: Claim, as_of: _dt.date | None = None) -> _dt.date | None:
    """as_of when given, else the claim's first date of service (None if it has none)."""
    if as_of is not None:
        return as_of
    span = claim.service_dates
    return span.start if span is not None else None


def claim_exemption(claim: Claim, view: PolicyView) -> str | None:
    """Why the whole claim is outside the CGT policy (a clinical-trial marker), or None."""
    trial = view.clinical_trial
    if trial is None:
        return None
    for dx in claim.diagnosis_codes:
        if dx in trial.values("diagnosis", "claim"):
            return f"clinical trial: diagnosis {dx}"
    for cc in claim.condition_codes:
        if cc in trial.values("condition-code", "claim"):
            return f"clinical trial: condition code {cc}"
    return None


def exempt_lines(claim: Claim, view: PolicyView) -> frozenset[int]:
    """LX numbers of lines with a line-level clinical-trial modifier (Q0/Q1)."""
    trial = view.clinical_trial
    if trial is None:
        return frozenset()
    mods = trial.values("modifier", "line")
    return frozenset(ln.number for ln in claim.lines if mods.intersection(ln.modifiers))


def evaluate(
    claim: Claim,
    policy: Policy | PolicyView,
    site: SiteSettings | None = None,
    as_of: _dt.date | None = None,
    *,
    skip_untriggered: bool = True,
) -> Decision:
    """Apply the policy to one claim. `as_of` replaces every date of service as the date the
    policy, code validity, carve-out and REMS dates are evaluated at. A claim without any of the
    policy's trigger codes gets no findings without running a rule (`skip_untriggered=False` runs
    them anyway: the tests' check that the trigger codes are exact)."""
    site = site or SiteSettings()
    day = evaluation_date(claim, as_of)
    view = policy.in_force(day)
    if skip_untriggered and not view.trigger_codes().intersection(ln.code for ln in claim.lines):
        return Decision(claim.claim_id, ())
    if claim_exemption(claim, view) is not None:
        return Decision(claim.claim_id, ())
    return Decision(claim.claim_id, tuple(_run(claim, view, site, as_of, day)))


def _plan(view: PolicyView, day: _dt.date | None, void: bool) -> tuple:
    """(spec, function) of the rules to run on `day`, in the data's order; kept per view."""
    key = (day, void)
    plan = view.rule_plans.get(key)
    if plan is None:
        plan = view.rule_plans[key] = tuple(
            (spec, REGISTRY[spec.id]) for spec in view.rules.values()
            if spec.in_force(day) and not (void and not spec.applies_to_voids)
            # load_policy refuses a rule without a function; a hand-built view may have one
            and spec.id in REGISTRY)
    return plan


def _run(claim: Claim, view: PolicyView, site: SiteSettings, as_of: _dt.date | None, day: _dt.date | None) -> Iterator[Finding]:
    plan = _plan(view, day, claim.is_void)
    if not plan:
        return
    # One context for the claim, pointed at each rule in turn: a rule's generator is run out
    # before the next rule starts, and no rule keeps its context.
    ctx = Context(claim=claim, policy=view, site=site, as_of=as_of, spec=plan[0][0],
                  exempt_lines=exempt_lines(claim, view), memo={})
    for spec, fn in plan:
        ctx.spec = spec
        for finding in fn(ctx):
            if finding is not None:
                yield finding
