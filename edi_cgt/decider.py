# From settings to a decision function: the one place that wires the policy engine.
#
# Strategy: commands, replay workers and Spark executors all need "claim -> Decision" built from
# the same three settings (policy file, site file, as-of date). They pass those settings
# around (small, picklable) and call make_decider where the work happens.
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from .claims.model import Claim
from .policy.findings import Decision

__all__ = ["DeciderConfig", "make_decider"]


@dataclass(frozen=True, slots=True)
class DeciderConfig:
    policy_path: str | None = None  # None: the built-in Medi-Cal CGT policy
    site_path: str | None = None  # None: no site settings (roster rules off, payer checks warn)
    as_of: dt.date | None = None  # None: each claim on its own dates of service


def make_decider(config: DeciderConfig = DeciderConfig()) -> Callable[[Claim], Decision]:
    """Load the policy and site once; return a pure function of one claim."""
    from .policy import evaluate, load_policy, load_site

    policy = load_policy(config.policy_path)
    site = load_site(config.site_path) if config.site_path else None
    as_of = config.as_of

    def decide(claim: Claim) -> Decision:
        return evaluate(claim, policy, site, as_of=as_of)

    return decide
