# The claim collector: rejection counters and rows for one input, fed by the pipeline as a sink.
#
# Strategy: the pipeline hands every claim it reads to its sinks with the decision; the
# collector keeps the rejected ones of the current transaction pending and commits them when
# the next transaction begins (or at the end), so the rows of a transaction that turns out
# unreadable and is passed through whole are dropped with it (discard_transaction).
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..claims.model import Claim
from ..policy.findings import Decision

__all__ = ["Collector", "merge_counters"]

_NO_VALUE = "(none)"


@dataclass(slots=True)
class Collector:
    """A ClaimSink that keeps a row per rejected claim and counts rejected claims and their
    charges per rule, therapy, payer and month of service. Rows of a transaction that is then
    passed through are dropped.

    Only rejections are counted: the pipeline's fast path copies a transaction in which nothing
    is rejected without showing its claims to the sinks, so accepted claims are counted in the
    totals (FilterStats) only. Every rejected claim reaches the sinks.
    """

    therapy_codes: frozenset[str] | None = None
    by_rule: dict[str, list] = field(default_factory=dict)
    by_therapy: dict[str, list] = field(default_factory=dict)
    by_payer: dict[str, list] = field(default_factory=dict)
    by_month: dict[str, list] = field(default_factory=dict)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[tuple[str, ...], str, str, Decimal, dict[str, Any]]] = field(default_factory=list)
    transaction: int | None = None

    def add(self, claim: Claim, decision: Decision) -> None:
        self._enter(claim.location.transaction_index if claim.location else None)
        if decision.rejected:
            self.pending.append(self._entry(claim, decision))

    def add_unread(self, transaction: Any, transaction_index: int, billing_provider: Any, claims: int,
                   charges: Decimal) -> None:
        """Accepted claims the fast path did not read: only rejections are kept here."""
        self._enter(transaction_index)

    def _enter(self, transaction_index: int | None) -> None:
        """Commit the rows of the previous transaction when a new one begins."""
        if transaction_index != self.transaction:
            self._commit()
            self.transaction = transaction_index

    def discard_transaction(self) -> None:
        self.pending.clear()
        self.transaction = None

    def finish(self) -> None:
        self._commit()

    def counters(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{dimension: {key: {"rejected": claims, "charges_rejected": amount}}}"""
        return {
            name: {key: {"rejected": b[0], "charges_rejected": str(b[1])} for key, b in sorted(getattr(self, name).items())}
            for name in ("by_rule", "by_therapy", "by_payer", "by_month")
        }

    def _entry(self, claim: Claim, decision: Decision) -> tuple[tuple[str, ...], str, str, Decimal, dict[str, Any]]:
        dates = claim.service_dates
        therapies = _therapies(claim, decision, self.therapy_codes)
        rules = tuple(dict.fromkeys(f.rule_id for f in decision.errors))
        row = {
            "claim_id": claim.claim_id,
            "service_date": dates.start.isoformat() if dates else "",
            "hcpcs": " ".join(therapies or _line_codes(claim)),
            "rules": " ".join(rules),
            "charge": str(claim.total_charge),
            "transaction": claim.transaction.transaction_control if claim.transaction else "",
            "segment": claim.location.segment_number if claim.location else None,
        }
        month = f"{dates.start:%Y-%m}" if dates else _NO_VALUE
        payer = claim.payer.payer_id if claim.payer and claim.payer.payer_id else _NO_VALUE
        return therapies, month, payer, claim.total_charge, {**row, "_rules": rules}

    def _commit(self) -> None:
        for therapies, month, payer, charge, row in self.pending:
            rules = row.pop("_rules")
            _bump(self.by_payer, payer, charge)
            _bump(self.by_month, month, charge)
            for code in therapies or (_NO_VALUE,):
                _bump(self.by_therapy, code, charge)
            for rule in rules:
                _bump(self.by_rule, rule, charge)
            self.rejections.append(row)
        self.pending.clear()


def _bump(table: dict[str, list], key: str, charge: Decimal) -> None:
    b = table.get(key)
    if b is None:
        b = table[key] = [0, Decimal(0)]
    b[0] += 1
    b[1] += charge


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


def merge_counters(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The counters() of several collectors (pieces of one input) as one collector's."""
    tables: dict[str, dict[str, list]] = {}
    for part in parts:
        for key, entry in part.items():
            b = tables.setdefault(key, [0, Decimal(0)])
            b[0] += int(entry["rejected"])
            b[1] += Decimal(entry["charges_rejected"])
    return {key: {"rejected": b[0], "charges_rejected": str(b[1])} for key, b in sorted(tables.items())}
