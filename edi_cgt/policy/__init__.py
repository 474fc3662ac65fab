# The Medi-Cal CGT policy: data (XML + XSD), site settings (TOML), rules and the engine.
#
# Strategy: everything a rule needs to know about the policy is data in
# edi_cgt/policy/data/*.xml (validated by schemas/cgt-policy.xsd); rules are small pure
# functions keyed by the data's rule ids; the engine folds their findings into a Decision.
# This package knows claims (edi_cgt.claims) but no X12 bytes and no CLI.
from __future__ import annotations

from .engine import claim_exemption, evaluate, evaluation_date, exempt_lines
from .findings import ERROR, WARNING, AckCode, Decision, Finding
from .loader import DEFAULT_POLICY, data_path, load_document, load_policy, validate_policy_file
from .model import Policy, PolicyDocument, PolicyView, RuleSpec, Therapy
from .registry import REGISTRY, Context, rule
from .render import CheckRow, check_rows, render_check_table, render_policy_text
from .safexml import PolicyError, Problem
from .site import SiteError, SiteSettings, load_site, npi_is_valid, parse_site, parse_site_text

__all__ = [
    "AckCode",
    "CheckRow",
    "Context",
    "DEFAULT_POLICY",
    "Decision",
    "ERROR",
    "Finding",
    "Policy",
    "PolicyDocument",
    "PolicyError",
    "PolicyView",
    "Problem",
    "REGISTRY",
    "RuleSpec",
    "SiteError",
    "SiteSettings",
    "Therapy",
    "WARNING",
    "check_rows",
    "claim_exemption",
    "codes_of_interest",
    "data_path",
    "evaluate",
    "evaluation_date",
    "exempt_lines",
    "load_document",
    "load_policy",
    "load_site",
    "npi_is_valid",
    "parse_site",
    "parse_site_text",
    "render_check_table",
    "render_policy_text",
    "rule",
    "trigger_codes",
    "validate_policy_file",
]


def trigger_codes(policy: Policy | PolicyView | None = None) -> frozenset[str]:
    """Procedure codes of which a claim must carry at least one for any rule to fire.

    Guarantee: `evaluate` returns a Decision with no findings (so never a rejection) for a
    claim none of whose service lines (SV101-2 / SV202-2) has one of these codes, across every
    revision of the policy. The engine skips the rules of a claim without one of exactly this
    set, so the guarantee holds by construction; tests compare evaluate with and without that
    skip (`skip_untriggered`).
    The set is: every therapy code, every code with validity dates (Q2040, 0537T-0540T,
    38225-38228 ...), the administration codes of companion rules (38228), bundle primaries,
    REMS and carve-out products."""
    return (policy or load_policy()).trigger_codes()


def codes_of_interest(policy: Policy | PolicyView | None = None) -> frozenset[str]:
    """Every HCPCS/CPT code any rule looks at: `trigger_codes` plus the CAR-T drug codes of
    companion rules and the codes bundled into 38228 (hydration, fluids, premedications,
    tocilizumab). A superset of `trigger_codes`, so the same guarantee holds: a claim with
    none of these codes on its lines cannot get a finding, hence cannot be rejected. Bundled
    codes alone never fire a rule; they matter only when 38228 is on the claim."""
    return (policy or load_policy()).codes_of_interest()
