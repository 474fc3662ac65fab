# Which site settings a command uses, and what it means when there are none.
#
# Strategy: one lookup order for every command (--site, else $EDI_CGT_SITE, else ./edi-cgt.toml)
# and one sentence when nothing is found. The sentence is derived from the policy data, not
# written here: a rule that `uses` a program the site must describe (payer ids by program for a
# carve-out, a facility roster for a REMS) cannot reject a claim without the site file; a
# warning rule using the same program is what speaks instead.
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SITE_ENV", "SITE_FILE", "SiteChoice", "SiteGaps", "find_site", "site_gaps", "resolve_site"]

SITE_ENV = "EDI_CGT_SITE"
SITE_FILE = "edi-cgt.toml"


@dataclass(frozen=True, slots=True)
class SiteChoice:
    path: str | None  # None: no site settings
    found_by: str  # "--site", "$EDI_CGT_SITE", "./edi-cgt.toml" or "none"


@dataclass(frozen=True, slots=True)
class SiteGaps:
    """What the policy cannot decide without site settings."""

    payer_programs: tuple[str, ...]  # [payers] keys the policy's programs read
    rosters: tuple[str, ...]  # [facilities] keys the policy's programs and settings read
    cannot_reject: tuple[str, ...]  # error rules that use a program the site must describe
    warn_instead: tuple[str, ...]  # warning rules that use one of those same programs

    def sentence(self) -> str:
        known = []
        if self.payer_programs:
            known.append(f"payer programs ([payers] {', '.join(self.payer_programs)})")
        if self.rosters:
            known.append(f"facility rosters ([facilities] {', '.join(self.rosters)})")
        text = ("no site settings (give --site FILE, set $EDI_CGT_SITE, or put edi-cgt.toml in the current "
                f"directory): {' and '.join(known) or 'site lists'} are unknown")
        if self.cannot_reject:
            text += f", so {_join(self.cannot_reject)} cannot reject a claim"
        if self.warn_instead:
            text += f" ({_join(self.warn_instead)} {'warns' if len(self.warn_instead) == 1 else 'warn'} instead)"
        return text


def _join(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def find_site(option: str | None, *, environ: Any = None, cwd: str | Path | None = None) -> SiteChoice:
    """The site file a command uses: --site, else $EDI_CGT_SITE, else ./edi-cgt.toml, else none.

    A path named by --site or $EDI_CGT_SITE must exist (loading it reports the problem);
    ./edi-cgt.toml is used only when it is there."""
    if option:
        return SiteChoice(option, "--site")
    env = (os.environ if environ is None else environ).get(SITE_ENV, "").strip()
    if env:
        return SiteChoice(env, "$" + SITE_ENV)
    local = Path(cwd or ".") / SITE_FILE
    if local.is_file():
        return SiteChoice(str(local) if cwd else SITE_FILE, "./" + SITE_FILE)
    return SiteChoice(None, "none")


def site_gaps(policy: Any) -> SiteGaps:
    """From the policy data (every revision): which site keys its rules and settings read, which
    error rules therefore cannot reject without a site file (they `use` a carve-out, which
    needs payer ids by program, or a REMS, which needs a facility roster), and which warning
    rules use those same programs (what the policy says instead)."""
    from ..policy.model import CarveOut, Rems

    programs: dict[str, None] = {}
    rosters: dict[str, None] = {}
    needing: dict[str, tuple[str, frozenset[str]]] = {}  # rule id -> (severity, programs it uses)
    views = policy.views() if hasattr(policy, "views") else (policy,)
    for view in views:
        for setting in view.settings.values():
            if setting.roster:
                rosters.setdefault(setting.roster, None)
        for rule in view.rules.values():
            used = set()
            for pid in rule.uses:
                prog = view.programs.get(pid)
                if isinstance(prog, CarveOut):
                    programs.setdefault(prog.from_program, None)
                    programs.setdefault(prog.to_program, None)
                    used.add(pid)
                elif isinstance(prog, Rems):
                    rosters.setdefault(prog.roster, None)
                    used.add(pid)
            if used:
                needing[rule.id] = (rule.severity, frozenset(used))
    cannot = [rid for rid, (severity, _) in needing.items() if severity == "error"]
    on_their_programs = frozenset().union(*(needing[rid][1] for rid in cannot))
    warn = [rid for rid, (severity, used) in needing.items() if severity != "error" and used & on_their_programs]
    return SiteGaps(tuple(sorted(programs)), tuple(sorted(rosters)), tuple(sorted(cannot)), tuple(sorted(warn)))


def resolve_site(option: str | None, policy_path: str | None = None) -> str | None:
    """The site file path a command should load (None: none), logged once either way.

    Every command that applies the policy calls this with its --site value (and --policy,
    from which the warning for a missing site file is derived):

        site_path = resolve_site(site_path, policy_path)

    Found: an info event `site_settings` (file, found_by). Not found: one warning event
    `site_settings_missing` with the sentence from `site_gaps` and the rule ids.
    A path from --site or $EDI_CGT_SITE that does not exist is an error (exit 2)."""
    from ._common import log
    from ..policy import SiteError, load_policy
    from ..policy.safexml import Problem

    choice = find_site(option)
    logger = log()
    if choice.path is None:
        gaps = site_gaps(load_policy(policy_path))
        logger.warning("site_settings_missing", message=gaps.sentence(), cannot_reject=list(gaps.cannot_reject),
                       warn_instead=list(gaps.warn_instead))
        return None
    if not os.path.isfile(choice.path):
        raise SiteError([Problem(choice.path, None, f"site file named by {choice.found_by} does not exist")])
    logger.info("site_settings", file=choice.path, found_by=choice.found_by)
    return choice.path
