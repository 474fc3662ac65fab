# Site settings: the facts about one installation that no claim carries.
#
# Strategy: a small TOML file (its bytes read by edi_cgt.io) parsed with tomllib into one frozen
# `SiteSettings`. Which payer ids are Medi-Cal fee-for-service and which are managed care plans,
# which facility NPIs are REMS-certified or treatment centers, the undecided policy questions
# ([options]) and per-rule severity changes. Everything is checked on load: unknown keys, wrong types, NPIs
# that fail the Luhn check (with the 80840 prefix), oversized files. Absent keys stay None so a
# rule can tell "not configured" from "configured as empty" (the REMS rule runs only when
# [facilities] rems_certified is present at all).
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..io import FileReadError, read_small_file
from .findings import ERROR, WARNING
from .safexml import Problem

__all__ = ["SiteSettings", "SiteError", "load_site", "parse_site", "parse_site_text", "npi_is_valid", "PAYER_KEYS", "ROSTER_KEYS", "OPTION_KEYS", "OFF"]

MAX_SITE_BYTES = 1024 * 1024
OFF = "off"

PAYER_KEYS = frozenset({"ffs", "mcp"})
ROSTER_KEYS = frozenset({"rems_certified", "qualified_treatment_centers", "hemophilia_treatment_centers"})
OPTION_KEYS = frozenset({"critical_access_hospital_outpatient"})
_TABLES = {"payers": PAYER_KEYS, "facilities": ROSTER_KEYS, "options": OPTION_KEYS, "severity": None}
_RULE_ID = re.compile(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+")
_PAYER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-]{0,79}")


class SiteError(ValueError):
    """A site file could not be used; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def npi_is_valid(npi: str) -> bool:
    """10 digits whose last is the Luhn check digit of '80840' + the first nine."""
    if not re.fullmatch(r"\d{10}", npi):
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):  # rightmost payload digit is doubled
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """One site's configuration. The default (no site file) configures nothing."""

    ffs_payers: frozenset[str] | None = None
    mcp_payers: frozenset[str] | None = None
    rems_certified: frozenset[str] | None = None
    qualified_treatment_centers: frozenset[str] | None = None
    hemophilia_treatment_centers: frozenset[str] | None = None
    critical_access_hospital_outpatient: bool | None = None
    severity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: str | None = None

    @property
    def configured(self) -> bool:
        return self.source is not None

    def payers(self, program: str) -> frozenset[str] | None:
        return {"ffs": self.ffs_payers, "mcp": self.mcp_payers}.get(program)

    def roster(self, key: str) -> frozenset[str] | None:
        if key not in ROSTER_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def option(self, key: str) -> bool | None:
        if key not in OPTION_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def severity_for(self, rule_id: str, default: str) -> str:
        """The severity to report for a rule: the site's override, else the policy's."""
        return self.severity.get(rule_id, default)


def load_site(path: str | Path, policy: Any = None) -> SiteSettings:
    """Read a site TOML file (through edi_cgt.io) and parse it with `parse_site`. With `policy`
    (a Policy or PolicyView), severity overrides are also checked against its rule ids. Raises
    SiteError with every problem found."""
    try:
        data = read_small_file(path, MAX_SITE_BYTES, "site file")
    except FileReadError as exc:
        raise SiteError([Problem(exc.source, None, exc.reason)]) from None
    return parse_site(data, str(path), policy)


def parse_site(data: bytes, source: str = "<site>", policy: Any = None) -> SiteSettings:
    if len(data) > MAX_SITE_BYTES:
        raise SiteError([Problem(source, None, f"file is {len(data)} bytes; site files are limited to {MAX_SITE_BYTES}")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteError([Problem(source, data[: exc.start].count(b"\n") + 1, "site files must be UTF-8 encoded")]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+)", str(exc))
        line = int(m.group(1)) if m else (text.count("\n") or 1) if "end of document" in str(exc) else None
        raise SiteError([Problem(source, line, f"not valid TOML: {exc}")]) from None
    problems: list[Problem] = []

    def bad(msg: str, *needles: str) -> None:
        problems.append(Problem(source, _line_of(text, *needles), msg))

    for table, value in doc.items():
        if table not in _TABLES:
            bad(f"unknown table [{table}] (allowed: {', '.join(sorted(_TABLES))})", f"[{table}]", table)
        elif not isinstance(value, dict):
            bad(f"'{table}' must be a table ([{table}])", table)
    kwargs: dict[str, Any] = {}
    for table, keys in _TABLES.items():
        section = doc.get(table)
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if keys is not None and key not in keys:
                bad(f"[{table}]: unknown key '{key}' (allowed: {', '.join(sorted(keys))})", key)
                continue
            if table == "payers":
                ids = _string_list(value, table, key, bad)
                if ids is not None:
                    for pid in ids:
                        if not _PAYER_ID.fullmatch(pid):
                            bad(f"[payers] {key}: '{pid}' is not a payer id (letters, digits, space, '.', '-'; at most 80)", pid)
                    kwargs[f"{key}_payers"] = frozenset(ids)
            elif table == "facilities":
                npis = _string_list(value, table, key, bad)
                if npis is not None:
                    for npi in npis:
                        if not npi_is_valid(npi):
                            bad(f"[facilities] {key}: '{npi}' is not a valid NPI (10 digits with a Luhn check digit)", npi)
                    kwargs[key] = frozenset(npis)
            elif table == "options":
                if not isinstance(value, bool):
                    bad(f"[options] {key} must be true or false, not {type(value).__name__}", key)
                else:
                    kwargs[key] = value
            else:  # severity
                if not _RULE_ID.fullmatch(key):
                    bad(f"[severity]: '{key}' is not a rule id (like CGT-AUTH-REQUIRED)", key)
                elif value not in (ERROR, WARNING, OFF):
                    bad(f"[severity] {key} must be \"error\", \"warning\" or \"off\", not {value!r}", key)
                else:
                    kwargs.setdefault("severity", {})[key] = value
    both = (kwargs.get("ffs_payers") or frozenset()) & (kwargs.get("mcp_payers") or frozenset())
    for pid in sorted(both):
        bad(f"[payers]: payer id '{pid}' is listed as both ffs and mcp", pid)
    if policy is not None:
        rules = _rules_of(policy)
        for rid in kwargs.get("severity", {}):
            if rid not in rules:
                bad(f"[severity]: no rule '{rid}' in policy {getattr(policy, 'id', '')}", rid)
            elif not rules[rid].configurable:
                bad(f"[severity]: rule '{rid}' is not configurable (the policy text makes it an error)", rid)
    if problems:
        raise SiteError(problems)
    if "severity" in kwargs:
        kwargs["severity"] = MappingProxyType(dict(kwargs["severity"]))
    return SiteSettings(source=source, **kwargs)


def parse_site_text(text: str, source: str = "<site>", policy: Any = None) -> SiteSettings:
    """parse_site for a str (tests, inline settings)."""
    return parse_site(text.encode("utf-8"), source, policy)


def _rules_of(policy: Any) -> Mapping[str, Any]:
    rules: dict[str, Any] = {}
    views = policy.views() if hasattr(policy, "views") else (policy,)
    for v in views:
        rules.update(v.rules)
    return rules


def _string_list(value: Any, table: str, key: str, bad) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(f"[{table}] {key} must be a list of strings, e.g. {key} = [\"...\"]", key)
        return None
    return [v.strip() for v in value]


def _line_of(text: str, *needles: str) -> int | None:
    for needle in needles:
        for i, line in enumerate(text.splitlines(), 1):
            if needle and needle in line:
                return i
    return None
