# The claim collector: rejection counters and rows for one input, fed by the pipeline as a sink.
#
# Strategy: the pipeline tells its sinks each 837 transaction once it is settled
# (begin_transaction, add for every claim it read and decided, add_unread for runs of accepted
# claims it did not read, end_transaction); the collector counts the claims with findings and
# keeps a row for each rejection and each warning. Nothing it is told is ever taken back.
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..claims.model import Claim
from ..policy.findings import Decision

__all__ = ["Collector", "merge_counters", "NO_DRUG"]

_NO_VALUE = "(none)"


@dataclass(slots=True)
class Collector:
    """A pipeline Sink that keeps a row per rejected claim and per warning, and counts rejected
    claims and their charges per rule, therapy (drug code), payer, month of service and billing
    provider, and warned claims per rule and billing provider.

    Accepted claims are not counted here (most of them are never read one by one: they are in
    the totals, FilterStats, only); every claim with a finding reaches `add`.
    """

    therapy_codes: frozenset[str] | None = None  # codes named in the `hcpcs` column
    drug_codes: frozenset[str] | None = None  # therapy (drug) codes: a claim counts once under each
    by_rule: dict[str, list] = field(default_factory=dict)
    by_therapy: dict[str, list] = field(default_factory=dict)
    by_payer: dict[str, list] = field(default_factory=dict)
    by_month: dict[str, list] = field(default_factory=dict)
    by_provider: dict[str, list] = field(default_factory=dict)  # billing NPI: [rejected, charges, warned]
    providers: dict[str, str] = field(default_factory=dict)  # billing NPI: name (provider data, not PHI)
    warnings_by_rule: dict[str, list] = field(default_factory=dict)  # rule: [claims, findings]
    rejections: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def begin_transaction(self, info: Any) -> None:
        pass

    def add(self, claim: Claim, decision: Decision) -> None:
        if decision.findings:
            self._count(claim, decision)

    def add_unread(self, claims: int, charges: Decimal, billing_provider: Any) -> None:
        """Accepted claims that were not read (so without findings): nothing to keep."""

    def end_transaction(self) -> None:
        pass

    def counters(self) -> dict[str, Any]:
        """{dimension: {key: {"rejected": claims, "charges_rejected": amount}}} (by_provider also
        "warned": claims with a warning), `warnings_by_rule` {rule: {"claims", "findings"}} and
        `providers` {NPI: name}."""
        out: dict[str, Any] = {
            name: {key: {"rejected": b[0], "charges_rejected": str(b[1])} for key, b in sorted(getattr(self, name).items())}
            for name in ("by_rule", "by_therapy", "by_payer", "by_month")
        }
        out["by_provider"] = {key: {"rejected": b[0], "charges_rejected": str(b[1]), "warned": b[2]}
                              for key, b in sorted(self.by_provider.items())}
        out["providers"] = dict(sorted(self.providers.items()))
        out["warnings_by_rule"] = {key: {"claims": b[0], "findings": b[1]} for key, b in sorted(self.warnings_by_rule.items())}
        return out

    def _count(self, claim: Claim, decision: Decision) -> None:
        dates = claim.service_dates
        charge = claim.total_charge
        codes = _therapies(claim, decision, self.therapy_codes)
        base = {
            "claim_id": claim.claim_id,
            "service_date": dates.start.isoformat() if dates else "",
            "hcpcs": " ".join(codes or _line_codes(claim)),
        }
        where = {
            "transaction": claim.transaction.transaction_control if claim.transaction else "",
            "segment": claim.location.segment_number if claim.location else None,
        }
        bp = claim.billing_provider
        npi = (bp.npi if bp is not None else None) or _NO_VALUE
        if bp is not None and bp.name:
            self.providers.setdefault(npi, bp.name)
        provider = self.by_provider.setdefault(npi, [0, Decimal(0), 0])
        if decision.rejected:
            errors = decision.errors
            rules = tuple(dict.fromkeys(f.rule_id for f in errors))
            _bump(self.by_payer, claim.payer.payer_id if claim.payer and claim.payer.payer_id else _NO_VALUE, charge)
            _bump(self.by_month, f"{dates.start:%Y-%m}" if dates else _NO_VALUE, charge)
            for key in _drug_keys(claim, decision, codes, self.drug_codes):
                _bump(self.by_therapy, key, charge)
            for rule in rules:
                _bump(self.by_rule, rule, charge)
            provider[0] += 1
            provider[1] += charge
            self.rejections.append({**base, "rules": " ".join(rules), "charge": str(charge), **where,
                                    **_reasons(errors)})
        warned = decision.warnings
        if warned:
            provider[2] += 1
            for rule in dict.fromkeys(f.rule_id for f in warned):
                self.warnings_by_rule.setdefault(rule, [0, 0])[0] += 1
            for f in warned:
                self.warnings_by_rule[f.rule_id][1] += 1
                self.warnings.append({**base, "rule": f.rule_id, "line": f.line_number, "code": f.code or "",
                                      "reason": f.message, "passage": f.passage, "fix": f.fix,
                                      "decision": "reject" if decision.rejected else "accept", **where})


def _reasons(findings: Iterable[Any]) -> dict[str, str]:
    """reason, passage and fix columns of a rejected claim: one part per error finding (passage
    and fix once each), parts separated by ' | '."""
    findings = tuple(findings)
    return {
        "reason": " | ".join(f"{f.rule_id}: {f.message}" for f in findings),
        "passage": " | ".join(dict.fromkeys(f.passage for f in findings if f.passage)),
        "fix": " | ".join(dict.fromkeys(f"{f.rule_id}: {f.fix}" for f in findings if f.fix)),
    }


def _bump(table: dict[str, list], key: str, charge: Decimal) -> None:
    b = table.get(key)
    if b is None:
        b = table[key] = [0, Decimal(0)]
    b[0] += 1
    b[1] += charge


NO_DRUG = "(no drug code)"  # by_therapy key prefix: a claim without a therapy (drug) code


def _drug_keys(claim: Claim, decision: Decision, codes: tuple[str, ...], drugs: frozenset[str] | None) -> tuple[str, ...]:
    """The by_therapy keys a rejected claim counts under, once each: its therapy (drug) codes;
    without one (38228 alone, say), NO_DRUG followed by the policy codes it does carry."""
    if drugs is None:
        return codes or (_NO_VALUE,)
    found = tuple(dict.fromkeys(ln.code for ln in claim.lines if ln.code in drugs))
    return found or (f"{NO_DRUG} {' '.join(codes)}".rstrip(),)


def _therapies(claim: Claim, decision: Decision, codes: frozenset[str] | None) -> tuple[str, ...]:
    """The claim's cell/gene therapy codes: its line codes that are CGT codes, else (for a claim
    with findings) the codes the findings name or point at."""
    seen: dict[str, None] = {}
    if codes is not None:
        for line in claim.lines:
            if line.code and line.code in codes:
                seen.setdefault(line.code, None)
    if not seen and decision.findings:
        by_number = {ln.number: ln.code for ln in claim.lines}
        for f in decision.findings:
            code = f.code or (by_number.get(f.line_number) if f.line_number is not None else None)
            if code:
                seen.setdefault(code, None)
    return tuple(seen)


def _line_codes(claim: Claim) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ln.code for ln in claim.lines if ln.code))


def merge_counters(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The counters() of several collectors (pieces of one input, in file order) as one
    collector's: sums per key, provider names as the first piece that names them."""
    out: dict[str, Any] = {}
    for name in ("by_rule", "by_therapy", "by_payer", "by_month", "by_provider"):
        table: dict[str, dict[str, Any]] = {}
        for rec in records:
            for key, entry in (rec.get(name) or {}).items():
                into = table.setdefault(key, {})
                for k, v in entry.items():
                    if k == "charges_rejected":
                        into[k] = str(Decimal(into.get(k, "0")) + Decimal(v))
                    else:
                        into[k] = into.get(k, 0) + int(v)
        out[name] = dict(sorted(table.items()))
    providers: dict[str, str] = {}
    rules: dict[str, dict[str, int]] = {}
    for rec in records:
        for npi, label in (rec.get("providers") or {}).items():
            providers.setdefault(npi, label)
        for key, entry in (rec.get("warnings_by_rule") or {}).items():
            into = rules.setdefault(key, {"claims": 0, "findings": 0})
            into["claims"] += int(entry["claims"])
            into["findings"] += int(entry["findings"])
    out["providers"] = dict(sorted(providers.items()))
    out["warnings_by_rule"] = dict(sorted(rules.items()))
    return out
