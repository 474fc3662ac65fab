# `edi-cgt explain`: why a rule exists, or why one claim is rejected, and what to fix.
#
# Strategy: both forms first build a plain dict from the policy data (and, for a claim, from
# the engine's Decision): that dict is the --format json output as it is, and the text form
# only lays it out for a terminal. Claims are read by check's `input_claims`, the same path
# `check` reads them by; only the claims with the requested CLM01 are kept and decided.
from __future__ import annotations

import datetime as dt
import difflib
import json
import sys
from typing import Any

import click

from ._common import EXIT_OK, EXIT_PASSED_THROUGH, EXIT_REJECTED, fail, handle_errors, log_event, log_options
from .check import input_claims, load_settings, policy_options

__all__ = ["explain"]


@click.command()
@click.argument("target", metavar="RULE-ID | FILE")
@click.argument("claim_id", required=False, metavar="[CLAIM-ID]")
@policy_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: for a person; json: one JSON document.")
@log_options
@click.pass_context
@handle_errors
def explain(ctx: click.Context, target: str, claim_id: str | None, site_path: str | None, policy_path: str | None,
            as_of: dt.datetime | None, fmt: str) -> None:
    """Explain a policy rule, or decide one claim and explain every finding.

    \b
    explain RULE-ID          the rule: its severity (and whether a site may
                             change it), the full policy passage, the facts it
                             rests on with their confidence tag, what to fix
    explain FILE CLAIM-ID    reads FILE ('-' = stdin), decides the claim whose
                             CLM01 is CLAIM-ID (every claim with that CLM01, if
                             several) and prints each finding with its passage
                             and what to fix

    \b
    Confidence tags: [V] verified in a primary source, [S] secondary source
    only, [U] unverified.

    \b
    Examples:
      edi-cgt explain CGT-AUTH-REQUIRED
      edi-cgt explain fixtures/cgt_837i_mixed.837 I02-YESCARTA-INPT --site fixtures/site.toml
      edi-cgt explain in.837 CLAIM-7 --format json | jq '.claims[].findings[].fix'

    \b
    Exit status: 0 rule found, or every claim with that CLM01 accepted;
    1 a claim with that CLM01 rejected; 2 unknown rule id, claim not found,
    or bad input, policy or site file; 3 the claim is there but cannot be
    read (the message names the segment and the problem).
    """
    policy, site, day = load_settings(policy_path, site_path, as_of)
    if claim_id is None:
        doc = rule_document(policy, site, day, target)
        _emit(doc, fmt, _rule_text)
        ctx.exit(EXIT_OK)
    doc = claim_document(policy, site, day, target, claim_id)
    _emit(doc, fmt, _claim_text)
    ctx.exit(EXIT_REJECTED if doc["decision"] == "reject" else EXIT_OK)


def _emit(doc: dict[str, Any], fmt: str, text) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n" if fmt == "json" else text(doc))
    sys.stdout.flush()


# -- a rule ----------------------------------------------------------------------------------
def rule_document(policy: Any, site: Any, day: dt.date | None, rule_id: str) -> dict[str, Any]:
    """Everything the policy data says about one rule, as in force on `day` (None: the latest
    revision). Raises the CLI's exit 2 for an unknown id."""
    from ..policy.render import ack_text

    view = policy.in_force(day)
    spec = view.rules.get(rule_id) or view.rules.get(rule_id.upper())
    if spec is None:
        raise _unknown_rule(rule_id, view)
    site_severity = site.severity.get(spec.id) if site is not None and spec.configurable else None
    doc: dict[str, Any] = {
        "rule_id": spec.id,
        "title": spec.title,
        "severity": spec.severity,
        "configurable": spec.configurable,
        "site_severity": site_severity,
        "in_force": {"from": _iso(spec.start), "to": _iso(spec.end)},
        "in_force_on": None if day is None else {"date": day.isoformat(), "in_force": spec.in_force(day)},
        "passage": {"section": spec.cite.section, "text": spec.cite.quote},
        "program_passages": [],
        "facts": [_fact(spec.confidence, spec.confidence_note)],
        "fix": spec.fix,
        "ack": [{"claim_kind": a.claim_kind, "status": ack_text(a.ack)} for a in spec.acks],
        "policy": [{"id": d.id, "effective": d.effective.isoformat()} for d in view.documents],
    }
    for uses in spec.uses:
        program = view.programs.get(uses)
        if program is None:
            continue
        cite = getattr(program, "cite", None)
        if cite is not None and cite != spec.cite:
            doc["program_passages"].append({"program": uses, "section": cite.section, "text": cite.quote})
        doc["facts"].extend(_program_facts(program, view))
    return doc


def _unknown_rule(rule_id: str, view: Any) -> click.exceptions.Exit:
    import os

    ids = list(view.rules)
    close = difflib.get_close_matches(rule_id.upper(), ids, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; the rules are: {', '.join(ids)}"
    if os.path.exists(rule_id) or rule_id == "-":
        hint = f"; to explain a claim of that file: edi-cgt explain {rule_id} CLAIM-ID"
    return fail(f"unknown rule id {rule_id!r}{hint}")


def _program_facts(program: Any, view: Any) -> list[dict[str, str | None]]:
    """The dated or sourced facts of a program entry a rule reads (its `uses`)."""
    from ..policy.model import Bundle, CarveOut, Rems

    facts = []
    if isinstance(program, CarveOut):
        for p in program.products:
            therapy = view.therapies.get(p.code)
            name = f"{p.code} ({therapy.product})" if therapy else p.code
            sev = ""
            if p.severity:
                sev = f"; {p.severity} only" + (f" until {p.firm_from}, then the rule's severity" if p.firm_from else "")
            facts.append(_fact(p.confidence, f"{name} carved out of '{program.from_program}' to '{program.to_program}' "
                                             f"from {p.start}{sev}" + (f". {p.note}" if p.note else "")))
    elif isinstance(program, Rems) and program.ended is not None:
        then = f"; from then on a facility off the site's list is a {program.ended_severity}" if program.ended_severity else ""
        facts.append(_fact(program.ended_confidence, f"the REMS of {', '.join(program.products)} ended on {program.ended}{then}"))
    elif isinstance(program, Bundle):
        facts.append(_fact(program.confidence, f"codes bundled into {', '.join(program.primary)} on the same date: "
                                               f"{', '.join(program.bundled)}" + (f"; reviewed: {', '.join(program.review)}" if program.review else "")))
    if getattr(program, "note", None):
        facts.append(_fact(None, program.note))
    return facts


def _fact(confidence: str | None, text: str) -> dict[str, str | None]:
    from ..policy.render import CONFIDENCE

    return {"confidence": confidence, "meaning": CONFIDENCE.get(confidence or ""), "text": text}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _rule_text(doc: dict[str, Any]) -> str:
    from ..policy.render import wrap

    sev = doc["severity"]
    effect = "a claim with this finding is rejected" if sev == "error" else "reported, the claim is not rejected"
    if doc["configurable"]:
        change = "A site may change it in its [severity] table (error, warning or off)."
    else:
        change = "A site may not change it."
    if doc["site_severity"]:
        change += f" This site's file sets it to {doc['site_severity']}."
    span = doc["in_force"]
    when = ("every date of service" if not (span["from"] or span["to"])
            else " ".join(p for p in (f"from {span['from']}" if span["from"] else "",
                                      f"to {span['to']}" if span["to"] else "") if p))
    if doc["in_force_on"]:
        on = doc["in_force_on"]
        when += f" ({'in force' if on['in_force'] else 'NOT in force'} on {on['date']})"
    acks = "; ".join((f"837{a['claim_kind']} " if a["claim_kind"] else "") + (a["status"] or "") for a in doc["ack"])
    out = [doc["rule_id"], wrap(doc["title"]), ""]
    out.append(wrap(f"{sev}: {effect}. {change}", "Severity  ", " " * 10))
    out.append(wrap(when, "In force  ", " " * 10))
    out.append(wrap(acks, "277CA     ", " " * 10))
    out.append(wrap(" + ".join(f"{d['id']} (effective {d['effective']})" for d in doc["policy"]), "Policy    ", " " * 10))
    out += ["", f"Policy passage ({doc['passage']['section']}):", wrap(f"\"{doc['passage']['text']}\"", "  ", "  ")]
    for p in doc["program_passages"]:
        out += [f"Passage of the program it reads, {p['program']} ({p['section']}):", wrap(f"\"{p['text']}\"", "  ", "  ")]
    out += ["", "Facts it rests on ([V] verified in a primary source, [S] secondary source only, [U] unverified):"]
    for f in doc["facts"]:
        tag = f"[{f['confidence']}] " if f["confidence"] else "- "
        out.append(wrap(f["text"], "  " + tag, "  " + " " * len(tag)))
    out += ["", "What to fix:", wrap(doc["fix"] or "(the policy data gives no fix for this rule)", "  ", "  "), ""]
    return "\n".join(out)


# -- a claim ---------------------------------------------------------------------------------
def claim_document(policy: Any, site: Any, day: dt.date | None, source: str, claim_id: str) -> dict[str, Any]:
    """Every claim of `source` whose CLM01 is `claim_id`, decided, with each finding's rule,
    passage and fix. Raises the CLI's exit 2 when there is none."""
    from ..policy import evaluate, evaluation_date
    from ..policy.render import CONFIDENCE, ack_text, decision_word, no_findings_reason

    claims: list[dict[str, Any]] = []
    where = source
    read = 0
    unreadable: list[dict[str, Any]] = []  # claims with that CLM01 that could not be read

    def event(name: str, **fields: Any) -> None:
        log_event(name, **fields)
        if name == "claim_passed_through" and fields.get("claim_id") == claim_id:
            unreadable.append(fields)

    for where, claim in input_claims((source,), on_event=event):
        read += 1
        if claim.claim_id != claim_id:
            continue
        decision = evaluate(claim, policy, site, as_of=day)
        on = evaluation_date(claim, day)
        view = policy.in_force(on)
        loc = claim.location
        findings = []
        for f in decision.findings:
            spec = view.rules.get(f.rule_id)
            findings.append({
                "rule_id": f.rule_id,
                "title": spec.title if spec else None,
                "severity": f.severity,
                "line_number": f.line_number,
                "code": f.code,
                "ack": ack_text(f.ack),
                "message": f.message,
                "passage": f.passage,
                "fix": f.fix or (spec.fix if spec else None),
                "confidence": spec.confidence if spec else None,
                "confidence_meaning": CONFIDENCE.get(spec.confidence) if spec else None,
            })
        claims.append({
            "claim_index": loc.claim_index if loc else None,
            "segment_number": loc.segment_number if loc else None,
            "transaction": claim.transaction.transaction_control if claim.transaction else None,
            "kind": f"837{claim.kind}",
            "evaluated_on": _iso(on),
            "evaluated_as": "as of" if day is not None else "first date of service",
            "decision": decision_word(decision),
            "errors": len(decision.errors),
            "warnings": len(decision.warnings),
            "note": None if decision.findings else no_findings_reason(claim, policy, day),
            "findings": findings,
        })
    if not claims and unreadable:
        first = unreadable[0]
        raise fail(f"{where}: segment {first['segment']}: claim {claim_id!r} cannot be read: {first['problem']}",
                   status=EXIT_PASSED_THROUGH)
    if not claims:
        raise fail(f"{where}: no claim with CLM01 {claim_id!r} ({read:,} claims read)")
    return {
        "file": where,
        "claim_id": claim_id,
        "claims_found": len(claims),
        "decision": "reject" if any(c["decision"] == "reject" for c in claims) else "accept",
        "claims": claims,
    }


def _claim_text(doc: dict[str, Any]) -> str:
    from ..policy.render import wrap

    n = len(doc["claims"])
    out = [f"Claim {doc['claim_id']} in {doc['file']}"]
    if n > 1:
        out.append(wrap(f"{n} claims in this file have CLM01 {doc['claim_id']}; each is decided on its own."))
    for i, c in enumerate(doc["claims"], 1):
        where = ", ".join(p for p in (
            f"claim #{c['claim_index']}" if c["claim_index"] is not None else "",
            f"CLM segment {c['segment_number']}" if c["segment_number"] is not None else "",
            f"transaction {c['transaction']}" if c["transaction"] else "",
            c["kind"]) if p)
        evaluated = f"evaluated on {c['evaluated_on']} ({c['evaluated_as']})" if c["evaluated_on"] else "no date of service"
        head = f"{i} of {n}: " if n > 1 else ""
        out += ["", f"{head}{where}; {evaluated}"]
        verdict = "REJECTED" if c["decision"] == "reject" else "ACCEPTED"
        out.append(f"Decision: {verdict} ({_count(c['errors'], 'error')}, {_count(c['warnings'], 'warning')})"
                   + (f": {c['note']}" if c["note"] else ""))
        for k, f in enumerate(c["findings"], 1):
            place = ", ".join(p for p in (f"line {f['line_number']}" if f["line_number"] is not None else "whole claim",
                                          f["code"] or "", f"277CA {f['ack']}" if f["ack"] else "") if p)
            out += ["", f"  {k}. {f['rule_id']} ({f['severity']}; {place})"]
            if f["title"]:
                out.append(wrap(f["title"], "     ", "     "))
            out.append(wrap(f["message"], "     What is wrong:  ", " " * 21))
            out.append(wrap(f["passage"] or "-", "     Policy passage: ", " " * 21))
            if f["confidence"]:
                out.append(wrap(f"[{f['confidence']}] {f['confidence_meaning']} (the facts: edi-cgt explain {f['rule_id']})",
                                "     Confidence:     ", " " * 21))
            out.append(wrap(f["fix"] or "-", "     What to fix:    ", " " * 21))
    return "\n".join(out) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
