# Plain-text rendering of the policy and of per-claim check results, for the CLI.
#
# Strategy: build rows of strings first (so a CLI can print them as a table, JSON or CSV),
# then lay them out as fixed-width columns. No click, no colours, no PHI: a check row names the
# claim by its CLM01 and location only, never by member.
from __future__ import annotations

import datetime as _dt
import textwrap
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..claims.model import Claim
from .findings import AckCode, Decision
from .model import Bundle, CarveOut, Companion, Policy, PolicyView, Rems

__all__ = ["render_policy_text", "policy_rows", "CheckRow", "CHECK_HEADER", "CONFIDENCE", "check_rows", "render_check_table",
           "table", "wrap", "ack_text", "decision_word", "no_findings_reason"]


def table(header: Sequence[str], rows: Iterable[Sequence[str]], max_width: int = 60) -> str:
    """Fixed-width columns; cells longer than max_width are cut with '...'."""

    def cut(s: str) -> str:
        s = " ".join(str(s).split())
        return s if len(s) <= max_width else s[: max_width - 3] + "..."

    body = [[cut(c) for c in r] for r in rows]
    head = [cut(c) for c in header]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in body])


def policy_rows(view: PolicyView, as_of: _dt.date | None) -> tuple[list[list[str]], list[list[str]]]:
    """(therapy rows, rule rows) in force on `as_of` (None: everything in the view)."""
    therapies = []
    for t in sorted(view.therapies.values(), key=lambda t: (t.sections[0], t.code)):
        dates = view.codes.get(t.code)
        valid = dates is None or as_of is None or dates.valid_on(as_of)
        settings = ", ".join(view.settings[s].name for s in t.settings if s in view.settings) or "any"
        therapies.append(
            [
                t.code,
                t.product,
                ", ".join(i.heading for i in t.indications),
                f"{t.units.max_per_line} {t.units.basis}",
                settings,
                (dates.span() if dates else "?") + ("" if valid else "  (NOT VALID on this date)"),
            ]
        )
    rules = []
    for r in view.rules.values():
        if as_of is not None and not r.in_force(as_of):
            continue
        acks = "; ".join((f"{a.claim_kind}: " if a.claim_kind else "") + (ack_text(a.ack) or "") for a in r.acks)
        rules.append([r.id, r.severity, r.confidence, acks, r.title])
    return therapies, rules


def render_policy_text(policy: Policy | PolicyView, as_of: _dt.date | None = None) -> str:
    """The therapies and rules in force on `as_of` (default: the latest revision), as text."""
    view = policy.in_force(as_of)
    therapies, rules = policy_rows(view, as_of)
    docs = " + ".join(f"{d.id} (effective {d.effective})" for d in view.documents)
    out = [f"Policy: {docs}", f"Evaluated as of: {as_of or 'each date of service'}", "", "Therapies"]
    out.append(table(["code", "product", "sections", "max units/line", "settings", "code valid"], therapies, max_width=48))
    out += ["", "Programs"]
    for p in view.programs.values():
        out.append("  " + _program_line(p, as_of))
    out += ["", "Rules (severity: error rejects the claim; confidence V/S/U)"]
    out.append(table(["rule", "severity", "conf", "277CA", "title"], rules, max_width=90))
    out += ["", "What to fix (more: edi-cgt explain RULE-ID)"]
    for r in view.rules.values():
        if r.fix and (as_of is None or r.in_force(as_of)):
            out.append(wrap(r.fix, f"  {r.id}: ", "      "))
    return "\n".join(out) + "\n"


def wrap(text: str, first: str = "", rest: str = "", width: int = 100) -> str:
    """`text` filled to `width` columns, the first line after `first`, the others after `rest`."""
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def _program_line(p: object, as_of: _dt.date | None) -> str:
    if isinstance(p, CarveOut):
        prods = ", ".join(f"{x.code} from {x.start} [{x.confidence}]" for x in p.products)
        return f"{p.id}: {p.family} diagnoses moved from '{p.from_program}' to '{p.to_program}' payers: {prods}"
    if isinstance(p, Rems):
        state = "in force" if as_of is None or p.applies_on(as_of) else "ended"
        end = f", ended {p.ended} [{p.ended_confidence}]" if p.ended else ""
        return f"{p.id}: {', '.join(p.products)} need a site-listed ({p.roster}) facility{end} ({state} on {as_of or 'date of service'})"
    if isinstance(p, Companion):
        return f"{p.id}: {', '.join(p.admin)} needs one of {', '.join(p.drugs)} (per infusion: {', '.join(p.per_infusion) or '-'})"
    if isinstance(p, Bundle):
        return f"{p.id}: same-day with {', '.join(p.primary)}: {len(p.bundled)} bundled codes, review {', '.join(p.review) or '-'}"
    return str(getattr(p, "id", p))


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One row of the per-claim check result (one per finding, or one for a claim without any).

    The JSON Lines rows of `check --format jsonl` are these fields after `file`; a field that
    does not apply (no rule on a clean claim, no line for a claim-level finding) is None."""

    claim_id: str
    claim_index: int | None
    segment_number: int | None
    decision: str  # "reject" (some finding is an error) | "accept"
    rule_id: str | None
    severity: str | None  # "error" | "warning"
    line_number: int | None  # LX01 of the line the finding is about
    code: str | None  # HCPCS/CPT the finding is about
    ack: str | None  # 277CA status, e.g. "A8:228 +454"
    message: str  # what is wrong with this claim (or why it has no findings)
    passage: str | None  # the policy passage the finding rests on, in full
    fix: str | None  # what the biller should do to make the claim pass

    def cells(self) -> list[str]:
        """The table columns (CHECK_HEADER): passage and fix are left to `edi-cgt explain`."""
        return [
            self.claim_id,
            "" if self.claim_index is None else str(self.claim_index),
            self.decision,
            self.rule_id or "-",
            self.severity or "-",
            "" if self.line_number is None else str(self.line_number),
            self.code or "",
            self.ack or "",
            self.message,
        ]


CHECK_HEADER = ["claim", "#", "decision", "rule", "severity", "line", "code", "277CA", "message"]
CONFIDENCE = {"V": "verified in a primary source", "S": "secondary source only", "U": "unverified"}


def decision_word(decision: Decision) -> str:
    return "reject" if decision.rejected else "accept"


def ack_text(ack: AckCode | None) -> str | None:
    """A 277CA status as the check table, policy show and explain print it: 'A8:228 +454'."""
    if ack is None:
        return None
    return ack.composite(":") + (f" +{ack.extra_status}" if ack.extra_status else "")


def no_findings_reason(claim: Claim, policy: Policy | PolicyView | None = None, as_of: _dt.date | None = None) -> str:
    """Why a claim has no finding, in words: outside the policy (clinical trial), a void, or none."""
    if policy is not None:
        from .engine import claim_exemption, evaluation_date

        why = claim_exemption(claim, policy.in_force(evaluation_date(claim, as_of)))
        if why:
            return f"outside the CGT policy ({why})"
        if claim.is_void:
            return "no findings (void: rules not applied)"
    return "no findings"


def check_rows(claim: Claim, decision: Decision, policy: Policy | PolicyView | None = None, as_of: _dt.date | None = None) -> list[CheckRow]:
    """Rows for one claim; with `policy`, a clean claim's row says when it was exempt."""
    loc = claim.location
    base = dict(
        claim_id=claim.claim_id,
        claim_index=loc.claim_index if loc else None,
        segment_number=loc.segment_number if loc else None,
        decision=decision_word(decision),
    )
    if not decision.findings:
        return [CheckRow(rule_id=None, severity=None, line_number=None, code=None, ack=None,
                         message=no_findings_reason(claim, policy, as_of), passage=None, fix=None, **base)]
    return [CheckRow(rule_id=f.rule_id, severity=f.severity, line_number=f.line_number, code=f.code or None,
                     ack=ack_text(f.ack), message=f.message, passage=f.passage or None, fix=f.fix or None, **base)
            for f in decision.findings]


def render_check_table(rows: Iterable[CheckRow]) -> str:
    return table(CHECK_HEADER, [r.cells() for r in rows], max_width=100) + "\n"
