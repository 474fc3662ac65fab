# The rule implementations, one small function per <rule id> of the policy data.
#
# Strategy: each function reads the claim, the policy view and the site through `ctx` and
# yields `ctx.finding(...)` where its rule is broken; severity, passage and 277CA codes come
# from the data. Functions never look at voids or claim-level clinical-trial exemptions (the
# engine has already skipped those), and only ever fire on a line whose code is in the
# policy's trigger codes (see PolicyView.trigger_codes), which keeps the engine's skip of
# claims without one exact. Adding a rule = a <rule> entry in the XML + one function here.
from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterator

from .model import Bundle, CarveOut, CarveOutProduct, Companion, Rems
from .registry import REGISTRY, Context, rule

__all__ = ["REGISTRY"]

_TAR = re.compile(r"\d{11}")
_UNIT_WORDS = {"UN": "units", "MJ": "minutes", "DA": "days"}
_DRG_SETTING = "inpatient-drg"
_CAH_SETTING = "critical-access-hospital"


def _emit(*findings):
    return (f for f in findings if f is not None)


# -- authorization ---------------------------------------------------------------------------
@rule("CGT-AUTH-REQUIRED")
def auth_required(ctx: Context) -> Iterator:
    if ctx.claim.prior_authorizations:
        return
    for line, therapy in ctx.cgt_lines():
        if not line.prior_authorizations:
            where = "on the claim (837I: loop 2300 only)" if ctx.claim.kind == "I" else "on the claim or on the line"
            yield from _emit(ctx.finding(f"{therapy.label} has no TAR/SAR number: no REF*G1 {where}", line=line))


@rule("CGT-AUTH-FORMAT")
def auth_format(ctx: Context) -> Iterator:
    lines = list(ctx.cgt_lines())
    if not lines:
        return
    for number in ctx.claim.prior_authorizations:
        if not _TAR.fullmatch(number):
            yield from _emit(ctx.finding(f"claim REF*G1 '{number}' is not an 11-digit TAR control number"))
    for line, _ in lines:
        for number in line.prior_authorizations:
            if not _TAR.fullmatch(number):
                yield from _emit(ctx.finding(f"line REF*G1 '{number}' is not an 11-digit TAR control number", line=line))


# -- clinical trials -------------------------------------------------------------------------
@rule("CGT-CLINICAL-TRIAL-UNMARKED")
def clinical_trial_unmarked(ctx: Context) -> Iterator:
    trial = ctx.policy.clinical_trial
    if trial is None or not ctx.claim.demonstration_project:
        return
    if "P4" not in trial.values("demonstration-project"):
        return
    for line, therapy in ctx.cgt_lines():  # exempt (Q0/Q1) lines are not listed here
        yield from _emit(
            ctx.finding(
                f"claim has a clinical-trial number (REF*P4) but {therapy.label} carries no Q0/Q1 modifier and the claim has no Z00.6 or condition code 30: "
                "checked as a regular CGT claim",
                line=line,
                cite=trial.cite,
            )
        )


@rule("CGT-CLINICAL-TRIAL-MODIFIER-ONLY")
def clinical_trial_modifier_only(ctx: Context) -> Iterator:
    # The engine has already exempted claims with a claim-level marker (Z00.6, condition code
    # 30); what is left is a line exempted by its Q0/Q1 modifier, with or without REF*P4.
    trial = ctx.policy.clinical_trial
    if trial is None or not ctx.exempt_lines or (ctx.claim.demonstration_project and trial.values("demonstration-project")):
        return
    words = {"diagnosis": "no {} diagnosis", "condition-code": "no condition code {}", "demonstration-project": "no REF*{} trial number"}
    missing = [words[m.kind].format(_icd(m.value) if m.kind == "diagnosis" else m.value) for m in trial.markers
               if m.kind in words and not (m.kind == "condition-code" and ctx.claim.kind != "I")]
    mods, triggers = trial.values("modifier", "line"), ctx.policy.trigger_codes()
    for line in ctx.claim.lines:
        if line.number in ctx.exempt_lines and line.code in triggers:
            mod = "/".join(m for m in line.modifiers if m in mods)
            therapy = ctx.policy.therapies.get(line.code)
            yield from _emit(
                ctx.finding(
                    f"{therapy.label if therapy else line.code} carries clinical-trial modifier {mod}, but the claim has {', '.join(missing)}: the line is left out of "
                    "the CGT rules (TAR included) on the modifier alone",
                    line=line,
                    cite=trial.cite,
                )
            )


def _icd(code: str) -> str:
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


# -- setting ---------------------------------------------------------------------------------
@rule("CGT-SETTING-NOT-ALLOWED")
def setting_not_allowed(ctx: Context) -> Iterator:
    for line, therapy in ctx.cgt_lines():
        for ind in therapy.indications:
            if not ind.settings:
                break  # this indication has no setting restriction
        else:
            allowed = therapy.settings
            matched = ctx.settings_of(line)
            if any(s in matched for s in allowed):
                continue
            names = " or ".join(ctx.policy.settings[s].name.lower() for s in allowed if s != _CAH_SETTING)
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} billing is restricted to {names}; this claim is {ctx.place(line)}",
                    line=line,
                    cite=therapy.indications[0].cite,
                )
            )


@rule("CGT-SETTING-CAH-UNCONFIRMED")
def setting_cah_unconfirmed(ctx: Context) -> Iterator:
    for line, therapy in ctx.cgt_lines():
        allowed = therapy.settings
        if _CAH_SETTING not in allowed:
            continue
        matched = ctx.settings_of(line)
        if matched.get(_CAH_SETTING) is False and not any(matched.get(s) for s in allowed):
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} on a critical access hospital bill ({ctx.place(line)}): not confirmed as hospital outpatient "
                    "(set [options] critical_access_hospital_outpatient in the site file)",
                    line=line,
                    cite=therapy.indications[0].cite,
                )
            )


@rule("CGT-NOT-UNDER-DRG")
def not_under_drg(ctx: Context) -> Iterator:
    for line, therapy in ctx.cgt_lines():
        if therapy.not_under_drg is not None and _DRG_SETTING in ctx.settings_of(line):
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} is separately payable and not reimbursed under DRG, but is billed on an inpatient bill ({ctx.place(line)})",
                    line=line,
                    cite=therapy.not_under_drg,
                )
            )


# -- REMS --------------------------------------------------------------------------------------
@rule("CART-REMS-FACILITY")
def rems_facility(ctx: Context) -> Iterator:
    for rems in ctx.programs(Rems):
        roster = ctx.site.roster(rems.roster)
        if roster is None:
            continue  # the site did not configure a REMS list: nothing to check against
        npi = ctx.claim.service_facility_npi
        for line, therapy in ctx.cgt_lines():
            day = ctx.day(line)
            if therapy.code not in rems.products or day is None or (npi is not None and npi in roster):
                continue
            checked, severity = rems.checked_on(day)
            if checked:
                ended = f" (the FDA ended this REMS on {rems.ended}; the policy page still requires a REMS-certified facility)" if severity else ""
                yield from _emit(
                    ctx.finding(
                        f"{therapy.label} given at facility NPI {npi or '(none)'}, which is not on the site's REMS-certified list{ended}",
                        line=line,
                        severity=severity,
                        cite=rems.cite,
                    )
                )


# -- CAR-T administration ------------------------------------------------------------------------
@rule("CART-ADMIN-WITHOUT-DRUG")
def admin_without_drug(ctx: Context) -> Iterator:
    for comp in ctx.programs(Companion):
        if ctx.has_code(comp.drugs):
            continue
        for line in ctx.lines():
            if line.code in comp.admin:
                yield from _emit(ctx.finding(f"{line.code} (CAR-T administration) is billed without a CAR-T drug code on the claim", line=line, cite=comp.cite))


@rule("CART-ADMIN-DRUG-DATE")
def admin_drug_date(ctx: Context) -> Iterator:
    for comp in ctx.programs(Companion):
        drugs = [ln for ln in ctx.claim.lines if ln.code in comp.drugs]
        if not drugs or not comp.per_infusion or any(ln.code not in comp.per_infusion for ln in drugs):
            continue
        drug_spans = [d for d in (ctx.dates(ln) for ln in drugs) if d is not None]
        for line in ctx.lines():
            span = ctx.dates(line) if line.code in comp.admin else None
            if span is None:
                continue
            if not any(s[0] <= span[1] and span[0] <= s[1] for s in drug_spans):
                codes = "/".join(sorted({ln.code for ln in drugs}))
                yield from _emit(
                    ctx.finding(
                        f"{line.code} on {span[0]} has no {codes} line on that date; {codes} is billed per infusion, so each administration carries its own drug line",
                        line=line,
                        cite=comp.cite,
                    )
                )


def _same_day(ctx: Context, bundle: Bundle, codes: tuple[str, ...]) -> Iterator:
    primaries = [s for s in (ctx.dates(ln) for ln in ctx.lines() if ln.code in bundle.primary) if s is not None]
    if not primaries or not codes:
        return
    for line in ctx.lines():
        span = ctx.dates(line) if line.code in codes else None
        if span is not None and any(p[0] <= span[1] and span[0] <= p[1] for p in primaries):
            yield line, span


@rule("CART-ADMIN-BUNDLED")
def admin_bundled(ctx: Context) -> Iterator:
    for bundle in ctx.programs(Bundle):
        for line, span in _same_day(ctx, bundle, bundle.bundled):
            yield from _emit(
                ctx.finding(
                    f"{line.code} on {span[0]} is on the same date as CAR-T administration ({'/'.join(bundle.primary)}): fluids, hydration and "
                    "supportive drugs given with the cells are part of that service and should not be billed separately",
                    line=line,
                    cite=bundle.cite,
                )
            )


@rule("CART-ADMIN-SAME-DAY-REVIEW")
def admin_same_day_review(ctx: Context) -> Iterator:
    for bundle in ctx.programs(Bundle):
        for line, span in _same_day(ctx, bundle, bundle.review):
            yield from _emit(
                ctx.finding(
                    f"{line.code} on {span[0]} is on the same date as CAR-T administration: bill it only if it treats a complication "
                    "(e.g. cytokine release syndrome), not as a premedication",
                    line=line,
                    cite=bundle.cite,
                )
            )


# -- units, diagnosis, code dates --------------------------------------------------------------
@rule("CGT-UNITS-OVER-MAX")
def units_over_max(ctx: Context) -> Iterator:
    # A line in the wrong unit code is wrong whatever its count; the others are summed per code
    # and first date of service, and a finding goes on the line where the sum passes the limit.
    totals: dict[tuple[str, object], tuple[Decimal, list[int]]] = {}
    for line, therapy in ctx.cgt_lines():
        units = therapy.units
        if line.unit_basis != units.unit_code:
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} is billed {units.basis}, counted in {_UNIT_WORDS.get(units.unit_code, units.unit_code)} "
                    f"({units.unit_code}); this line is {line.units} {_UNIT_WORDS.get(line.unit_basis, 'of unit code')} ({line.unit_basis})",
                    line=line,
                    cite=therapy.cite,
                )
            )
            continue
        span = ctx.dates(line)
        key = (therapy.code, span[0] if span is not None else None)
        before, numbers = totals.get(key, (Decimal(0), []))
        total = before + line.units
        totals[key] = (total, numbers + [line.number])
        if before <= units.max_per_date < total:
            on = f"on {key[1]}" if key[1] is not None else "on this claim"
            over = f"{line.units} units" if not numbers else f"{total} units over lines {', '.join(map(str, numbers + [line.number]))}"
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} billed with {over} {on}; the code is billed {units.basis}, at most {units.max_per_date} per date of service",
                    line=line,
                    severity=units.severity,
                    cite=therapy.cite,
                )
            )


@rule("CGT-DIAGNOSIS-OUTSIDE-SECTION")
def diagnosis_outside_section(ctx: Context) -> Iterator:
    for line, therapy in ctx.cgt_lines():
        disease = therapy.disease_families
        if not disease or ctx.diagnosis_in(disease):
            continue
        fams = [ctx.policy.families[f] for f in disease if f in ctx.policy.families]
        firm = all(f.confidence == "V" for f in fams)
        have = ", ".join(ctx.claim.diagnosis_codes) or "none"
        yield from _emit(
            ctx.finding(
                f"{therapy.label} is billed for {' or '.join(f.name.lower() for f in fams)}; no diagnosis on the claim ({have}) is one",
                line=line,
                severity=None if firm else "warning",
                cite=therapy.indications[0].cite,
            )
        )


@rule("CGT-DIAGNOSIS-NOT-INDICATED")
def diagnosis_not_indicated(ctx: Context) -> Iterator:
    for line, therapy in ctx.cgt_lines():
        if ctx.diagnosis_in(therapy.families) or not ctx.diagnosis_in(therapy.disease_families):
            continue  # fine, or already reported as outside the section
        names = ", ".join(ctx.policy.families[f].name for f in therapy.families if f in ctx.policy.families)
        have = ", ".join(ctx.claim.diagnosis_codes) or "none"
        yield from _emit(
            ctx.finding(
                f"{therapy.label}: no diagnosis on the claim ({have}) is in its indications ({names})",
                line=line,
                cite=therapy.indications[0].cite,
            )
        )


@rule("CGT-CODE-NOT-IN-EFFECT")
def code_not_in_effect(ctx: Context) -> Iterator:
    for line in ctx.lines():
        dates = ctx.policy.codes.get(line.code)
        day = ctx.day(line)
        if dates is None or day is None or dates.valid_on(day):
            continue
        if dates.start is not None and day < dates.start:
            why = f"{line.code} is valid for dates of service from {dates.start}; this line is {day}"
        else:
            why = f"{line.code} was terminated after {dates.end}; this line is {day}"
            if dates.replaced_by:
                why += f" (use {dates.replaced_by})"
        sev = None if dates.confidence == "V" else "warning"
        yield from _emit(ctx.finding(why, line=line, severity=sev))


# -- sickle cell carve-out --------------------------------------------------------------------
def _carve_out_lines(ctx: Context) -> Iterator[tuple[CarveOut, CarveOutProduct, object, str]]:
    """(program, product, line, payer status) for carve-out lines on or after the product date;
    status is 'from' (billed to the program it was carved out of), 'to', or 'unknown'."""
    payer_id = ctx.claim.payer.payer_id if ctx.claim.payer is not None else None
    for prog in ctx.programs(CarveOut):
        if not ctx.diagnosis_in((prog.family,)):
            continue
        from_ids = ctx.site.payers(prog.from_program)
        to_ids = ctx.site.payers(prog.to_program)
        for line, therapy in ctx.cgt_lines():
            product = prog.product(therapy.code)
            day = ctx.day(line)
            if product is None or day is None or day < product.start:
                continue
            if payer_id is not None and from_ids is not None and payer_id in from_ids:
                status = "from"
            elif payer_id is not None and to_ids is not None and payer_id in to_ids:
                status = "to"
            else:
                status = "unknown"
            yield prog, product, line, status


@rule("CGT-SCD-CARVE-OUT")
def scd_carve_out(ctx: Context) -> Iterator:
    for prog, product, line, status in _carve_out_lines(ctx):
        if status == "from":
            therapy = ctx.policy.therapies[product.code]
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} for sickle cell disease on or after {product.start} is carved out of managed care: "
                    f"bill Medi-Cal fee-for-service, not the plan (payer {ctx.claim.payer.payer_id})",
                    line=line,
                    severity=product.severity_on(ctx.day(line)),
                    cite=prog.cite,
                )
            )


@rule("CGT-SCD-CARVE-OUT-PAYER-UNKNOWN")
def scd_carve_out_payer_unknown(ctx: Context) -> Iterator:
    for prog, product, line, status in _carve_out_lines(ctx):
        if status == "unknown":
            therapy = ctx.policy.therapies[product.code]
            payer = ctx.claim.payer.payer_id if ctx.claim.payer is not None else None
            why = "no site file lists the Medi-Cal payer ids" if not ctx.site.configured else f"payer id {payer or '(none)'} is in neither [payers] ffs nor mcp"
            yield from _emit(
                ctx.finding(
                    f"{therapy.label} for sickle cell disease on or after {product.start} must be billed to Medi-Cal fee-for-service, "
                    f"not a managed care plan; cannot tell which this claim goes to: {why}",
                    line=line,
                    cite=prog.cite,
                )
            )
