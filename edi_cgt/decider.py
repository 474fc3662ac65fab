# From settings to a decision function: the one place that wires the policy engine.
#
# Strategy: commands, replay workers and Spark executors all need "claim -> Decision" built from
# the same three settings (policy file, site file, as-of date). They pass those settings
# around (small, picklable) and call make_decider where the work happens.
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .claims.model import Claim
from .policy.findings import Decision

if TYPE_CHECKING:
    from .policy.model import Policy

__all__ = ["Decider", "DeciderConfig", "make_decider"]


@dataclass(frozen=True, slots=True)
class DeciderConfig:
    policy_path: str | None = None  # None: the built-in Medi-Cal CGT policy
    site_path: str | None = None  # None: no site settings (roster rules off, payer checks warn)
    as_of: dt.date | None = None  # None: each claim on its own dates of service


class Decider:
    """claim -> Decision, plus the codes without which no claim can be rejected."""

    __slots__ = ("policy", "_site", "_as_of", "_evaluate", "trigger_codes")

    def __init__(self, config: DeciderConfig = DeciderConfig(), *, policy: "Policy | None" = None) -> None:
        """`policy`: an already loaded policy, used instead of config.policy_path."""
        from .policy import evaluate, load_policy, load_site, trigger_codes

        self.policy = policy if policy is not None else load_policy(config.policy_path)
        self._site = load_site(config.site_path, policy=self.policy) if config.site_path else None
        self._as_of = config.as_of
        self._evaluate = evaluate
        # Guarantee (edi_cgt.policy.trigger_codes): a claim with none of these codes on its
        # lines gets no finding from any rule, so the pipeline does not read it.
        self.trigger_codes: frozenset[str] = trigger_codes(self.policy)

    def __call__(self, claim: Claim) -> Decision:
        return self._evaluate(claim, self.policy, self._site, as_of=self._as_of)


def make_decider(config: DeciderConfig = DeciderConfig()) -> Decider:
    """Load the policy and site once; return a pure function of one claim."""
    return Decider(config)
