# Reading policy files: safe parse, XSD validation, semantic checks, revision chains.
#
# Strategy: three passes over a file's bytes (read by edi_cgt.io, from a path or from the
# package data, so this module opens nothing itself), each reporting `Problem`s with file and
# line so a policy author can fix a file without reading code. (1) safexml parses with DTDs and
# entities refused; (2) the XSD (schemas/cgt-policy.xsd, shipped as
# edi_cgt/policy/data/cgt-policy.xsd) checks shape and value syntax; (3) this module checks what
# XSD 1.0 cannot: references between entries, label diagnosis families outside their section's,
# rule ids without an implementation, 277CA codes pyx12 would refuse, date ranges. A file with
# `revises="ID"` is loaded on top of ID.xml found next to it (or among the built-in files),
# giving a `Policy` whose documents are base-first.
from __future__ import annotations

import datetime as _dt
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

from lxml import etree

from .findings import AckCode
from .model import (
    Bundle,
    CarveOut,
    CarveOutProduct,
    Cite,
    ClinicalTrial,
    CodeDates,
    Companion,
    Family,
    Indication,
    Policy,
    PolicyDocument,
    PolicyView,
    Rems,
    RuleAck,
    RuleSpec,
    Setting,
    Slip,
    Therapy,
    TrialMarker,
    Units,
)
from ..io import FileReadError, read_small_file
from .safexml import MAX_POLICY_BYTES, Problem, PolicyError, parse_xml_bytes

__all__ = [
    "DEFAULT_POLICY",
    "SCHEMA_NAME",
    "data_path",
    "load_policy",
    "load_document",
    "validate_policy_file",
    "schema",
]

DEFAULT_POLICY = "medi-cal-cgt-2025-07.xml"
SCHEMA_NAME = "cgt-policy.xsd"
MAX_REVISION_DEPTH = 16

# Health Care Claim Status codes (source 508) that pyx12 4.0.0's list lacks, below its 771 top.
_PYX12_MISSING_STATUS = frozenset({36, 43, 58, 62, 63, 74, 75, 76, 77, 79, 80, 82, 151})
_PYX12_MAX_STATUS = 771


def data_path(name: str) -> "Path | resources.abc.Traversable":
    """A file shipped in edi_cgt/policy/data: a Path when the package is on disk, else an
    importlib Traversable (inside a zipped wheel shipped with spark-submit --py-files)."""
    found = resources.files("edi_cgt.policy").joinpath("data", name)
    return found if not isinstance(found, Path) else Path(found)


def _as_path(path: "str | Path | resources.abc.Traversable") -> "Path | resources.abc.Traversable":
    return Path(path) if isinstance(path, str) else path


def _read(path: "Path | resources.abc.Traversable") -> bytes:
    """A policy or schema file's bytes, or PolicyError naming the file."""
    try:
        return read_small_file(path, MAX_POLICY_BYTES, "policy file")
    except FileReadError as exc:
        raise PolicyError([Problem(exc.source, None, exc.reason)]) from None


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    path = data_path(SCHEMA_NAME)
    if not path.is_file():  # running from a tree where the symlink was not kept
        alt = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME
        path = alt if alt.is_file() else path
    return etree.XMLSchema(parse_xml_bytes(_read(path), str(path)))


# -- public API ------------------------------------------------------------------------------
def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file (default: the built-in Medi-Cal July 2025 policy) with every revision
    it builds on. Raises PolicyError listing every problem found."""
    p = _as_path(path) if path is not None else data_path(DEFAULT_POLICY)
    docs = _load_chain(p, ())
    policy = Policy(tuple(docs))
    problems = _check_policy(policy)
    if problems:
        raise PolicyError(problems)
    return policy


def validate_policy_file(path: str | Path) -> list[Problem]:
    """Every problem in a policy file (and the files it revises), with line numbers; [] if fine."""
    try:
        load_policy(path)
    except PolicyError as exc:
        return exc.problems
    return []


def load_document(data: bytes, source: str) -> PolicyDocument:
    """Parse and schema-validate one policy file's bytes, without resolving `revises`;
    `source` names the file in problems."""
    tree = parse_xml_bytes(data, source)
    sch = schema()
    if not sch.validate(tree):
        raise PolicyError([Problem(source, e.line or None, e.message) for e in sch.error_log])
    return _document(tree.getroot(), source)


# -- revision chains ---------------------------------------------------------------------------
def _load_chain(path: Path, seen: tuple[str, ...]) -> list[PolicyDocument]:
    doc = load_document(_read(path), str(path))
    if doc.revises is None:
        return [doc]
    if doc.id in seen or len(seen) >= MAX_REVISION_DEPTH:
        raise PolicyError([Problem(str(path), 1, f"revision chain loops or is deeper than {MAX_REVISION_DEPTH}: {' -> '.join(seen + (doc.id,))}")])
    base_path = _find_revised(path, doc.revises)
    if base_path is None:
        raise PolicyError([Problem(str(path), 1, f"revises '{doc.revises}', but no {doc.revises}.xml next to this file or among the built-in policies")])
    chain = _load_chain(base_path, seen + (doc.id,))
    if doc.effective < chain[-1].effective:
        raise PolicyError([Problem(str(path), 1, f"effective {doc.effective} is before the revised policy's effective date {chain[-1].effective}")])
    return chain + [doc]


def _find_revised(path, doc_id: str):
    beside = path.parent / f"{doc_id}.xml" if isinstance(path, Path) else None
    for candidate in (beside, data_path(f"{doc_id}.xml")):
        if candidate is None or not candidate.is_file():
            continue
        if isinstance(candidate, Path) and isinstance(path, Path) and candidate.resolve() == path.resolve():
            continue
        if str(candidate) != str(path):
            return candidate
    return None


# -- building values from elements ------------------------------------------------------------
def _date(v: str | None) -> _dt.date | None:
    return _dt.date.fromisoformat(v[:10]) if v else None


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return " ".join(el.text.split())


def _codes(v: str | None) -> tuple[str, ...]:
    return tuple(v.split()) if v else ()


def _cite(el: etree._Element) -> Cite:
    c = el.find("cite")
    return Cite(section=c.get("section", ""), quote=_text(c) or "")


def _document(root: etree._Element, path: str) -> PolicyDocument:
    slips = {
        s.get("id"): Slip(s.get("id"), s.get("section"), _text(s.find("seed")) or "", _text(s.find("normalized")) or "", _text(s.find("note")), s.sourceline)
        for s in root.iterfind("normalization/slip")
    }
    settings = {
        s.get("id"): Setting(
            id=s.get("id"),
            name=s.get("name"),
            confidence=s.get("confidence"),
            type_of_bill_prefixes=tuple(t.get("prefix") for t in s.iterfind("type-of-bill")),
            places_of_service=tuple(t.get("code") for t in s.iterfind("place-of-service")),
            roster=s.get("roster"),
            option=s.get("option"),
            note=_text(s.find("note")),
            line=s.sourceline,
        )
        for s in root.iterfind("settings/setting")
    }
    ct_el = root.find("clinical-trial")
    trial = None
    if ct_el is not None:
        trial = ClinicalTrial(
            cite=_cite(ct_el),
            markers=tuple(TrialMarker(m.get("kind"), m.get("value").upper(), m.get("exempts"), m.get("confidence")) for m in ct_el.iterfind("marker")),
        )
    families = {
        f.get("id"): Family(
            id=f.get("id"),
            name=f.get("name"),
            confidence=f.get("confidence"),
            include=tuple(i.get("prefix") for i in f.iterfind("include")),
            exclude=tuple(i.get("prefix") for i in f.iterfind("exclude")),
            note=_text(f.find("note")),
            line=f.sourceline,
        )
        for f in root.iterfind("diagnosis-families/family")
    }
    codes = {
        c.get("value"): CodeDates(
            code=c.get("value"),
            system=c.get("system"),
            confidence=c.get("confidence"),
            start=_date(c.get("from")),
            end=_date(c.get("to")),
            source=c.get("source"),
            replaced_by=c.get("replaced-by"),
            description=c.get("description"),
            note=_text(c.find("note")),
            line=c.sourceline,
        )
        for c in root.iterfind("codes/code")
    }
    therapies = {t.get("code"): _therapy(t) for t in root.iterfind("therapies/therapy")}
    programs: dict[str, object] = {}
    for p in root.iterfind("programs/*"):
        if not isinstance(p.tag, str):
            continue
        programs[p.get("id")] = _program(p)
    rules = {r.get("id"): _rule(r) for r in root.iterfind("rules/rule")}
    withdrawn = tuple((w.get("kind"), w.get("key")) for w in root.iterfind("withdraw"))
    return PolicyDocument(
        id=root.get("id"),
        title=root.get("title"),
        effective=_date(root.get("effective")),  # type: ignore[arg-type]
        source_path=path,
        revises=root.get("revises"),
        source=root.get("source"),
        description=_text(root.find("description")),
        slips=slips,
        settings=settings,
        clinical_trial=trial,
        families=families,
        codes=codes,
        therapies=therapies,
        programs=programs,
        rules=rules,
        withdrawn=withdrawn,
    )


def _therapy(t: etree._Element) -> Therapy:
    u = t.find("units")
    try:
        max_units = Decimal(u.get("max-per-date"))
    except InvalidOperation:  # the schema already refuses this; keep a clear message anyway
        raise PolicyError([Problem("policy", u.sourceline, "max-per-date is not a number")]) from None
    drg = t.find("not-under-drg")
    return Therapy(
        code=t.get("code"),
        product=t.get("product"),
        generic=t.get("generic"),
        therapy_class=t.get("class"),
        descriptor=_text(t.find("descriptor")) or "",
        units=Units(u.get("basis"), u.get("unit-code"), max_units, u.get("confidence"), u.get("severity"), _text(u.find("note"))),
        indications=tuple(
            Indication(i.get("section"), i.get("heading"), _codes(i.get("disease")), _codes(i.get("families")), _codes(i.get("settings")), _cite(i))
            for i in t.iterfind("indication")
        ),
        cite=_cite(t),
        not_under_drg=_cite(drg) if drg is not None else None,
        line=t.sourceline,
    )


def _program(p: etree._Element) -> object:
    tag, line, note = p.tag, p.sourceline, _text(p.find("note"))
    if tag == "carve-out":
        return CarveOut(
            id=p.get("id"),
            family=p.get("family"),
            from_program=p.get("from-program"),
            to_program=p.get("to-program"),
            cite=_cite(p),
            products=tuple(
                CarveOutProduct(x.get("code"), _date(x.get("from")), x.get("confidence"), x.get("severity"), _text(x.find("note")), _date(x.get("firm-from")))  # type: ignore[arg-type]
                for x in p.iterfind("product")
            ),
            note=note,
            line=line,
        )
    if tag == "rems":
        return Rems(
            id=p.get("id"),
            roster=p.get("roster"),
            cite=_cite(p),
            products=tuple(x.get("code") for x in p.iterfind("product")),
            ended=_date(p.get("ended")),
            ended_confidence=p.get("ended-confidence"),
            ended_severity=p.get("ended-severity"),
            note=note,
            line=line,
        )
    if tag == "companion":
        return Companion(p.get("id"), _codes(p.get("admin")), _codes(p.get("drugs")), _cite(p), _codes(p.get("per-infusion")), note, line)
    if tag == "bundle":
        return Bundle(p.get("id"), _codes(p.get("primary")), _codes(p.get("bundled")), p.get("confidence"), _cite(p), _codes(p.get("review")), note, line)
    raise PolicyError([Problem("policy", line, f"unknown program element <{tag}>")])


def _rule(r: etree._Element) -> RuleSpec:
    acks = tuple(
        RuleAck(AckCode(a.get("category"), a.get("status"), a.get("entity"), a.get("extra-status")), a.get("claim-kind"))
        for a in r.iterfind("ack")
    )
    return RuleSpec(
        id=r.get("id"),
        title=_text(r.find("title")) or "",
        severity=r.get("severity"),
        confidence=r.get("confidence"),
        cite=_cite(r),
        confidence_note=_text(r.find("confidence-note")) or "",
        acks=acks,
        fix=_text(r.find("fix")) or "",
        configurable=r.get("configurable", "true") in ("true", "1"),
        applies_to_voids=r.get("applies-to-voids", "false") in ("true", "1"),
        uses=_codes(r.get("uses")),
        start=_date(r.get("from")),
        end=_date(r.get("to")),
        line=r.sourceline,
    )


# -- semantic checks ---------------------------------------------------------------------------
def _check_policy(policy: Policy) -> list[Problem]:
    from .rules import REGISTRY  # the rule implementations register themselves on import
    from .site import OPTION_KEYS, PAYER_KEYS, ROSTER_KEYS

    problems: list[Problem] = []
    base = policy.base
    for attr in ("therapies", "rules", "settings", "families", "codes"):
        if not getattr(base, attr):
            problems.append(Problem(base.source_path, 1, f"a base policy (no 'revises') needs a non-empty <{attr.replace('families', 'diagnosis-families')}> section"))
    if base.clinical_trial is None:
        problems.append(Problem(base.source_path, 1, "a base policy needs a <clinical-trial> section"))
    views = policy.views()
    for doc, view in zip(policy.documents, views):
        problems.extend(_check_document(doc, view, REGISTRY, ROSTER_KEYS, OPTION_KEYS, PAYER_KEYS))
    return problems


def _check_label_families(doc: PolicyDocument, view: PolicyView, bad) -> Iterable[Problem]:
    """A therapy's label families must lie inside its section's disease families: a label code
    outside them could never be accepted (CGT-DIAGNOSIS-OUTSIDE-SECTION fires first), so the
    data would contradict itself. Checked for every therapy this document defines or whose
    families it (re)defines, and reported at that entry's line."""
    fams = view.families
    for t in view.therapies.values():
        for ind in t.indications:
            changed = [f for f in ind.disease + ind.families if f in doc.families]
            if t.code not in doc.therapies and not changed:
                continue
            line = t.line if t.code in doc.therapies else doc.families[changed[0]].line
            disease = tuple(fams[f] for f in ind.disease if f in fams)
            for fid in ind.families:
                if fid not in fams:
                    continue  # reported as an unknown family
                out = fams[fid].outside(disease)
                if out:
                    yield bad(line, f"therapy {t.code} ({ind.heading}): label family '{fid}' is not inside the section's "
                                    f"disease families ({', '.join(ind.disease)}): {', '.join(out)} would always be rejected")


def _check_document(doc: PolicyDocument, view: PolicyView, registry, roster_keys, option_keys, payer_keys) -> Iterable[Problem]:
    src = doc.source_path

    def bad(line: int | None, msg: str) -> Problem:
        return Problem(src, line, msg)

    for kind, key in doc.withdrawn:
        if doc.revises is None:
            yield bad(1, f"<withdraw kind='{kind}' key='{key}'> is only meaningful in a revision")
    for s in doc.settings.values():
        if s.roster and s.roster not in roster_keys:
            yield bad(s.line, f"setting '{s.id}': roster '{s.roster}' is not a site [facilities] key ({', '.join(sorted(roster_keys))})")
        if s.option and s.option not in option_keys:
            yield bad(s.line, f"setting '{s.id}': option '{s.option}' is not a site [options] key ({', '.join(sorted(option_keys))})")
        if not (s.type_of_bill_prefixes or s.places_of_service or s.roster):
            yield bad(s.line, f"setting '{s.id}' matches nothing: give a type-of-bill, place-of-service or roster")
    for c in doc.codes.values():
        if c.start and c.end and c.start > c.end:
            yield bad(c.line, f"code {c.code}: from {c.start} is after to {c.end}")
    for t in doc.therapies.values():
        for ind in t.indications:
            for fam in ind.disease + ind.families:
                if fam not in view.families:
                    yield bad(t.line, f"therapy {t.code}: unknown diagnosis family '{fam}'")
            for st in ind.settings:
                if st not in view.settings:
                    yield bad(t.line, f"therapy {t.code}: unknown setting '{st}'")
        if t.code not in view.codes:
            yield bad(t.line, f"therapy {t.code} has no <codes> entry with its validity dates")
        if t.units.max_per_date <= 0:
            yield bad(t.line, f"therapy {t.code}: max-per-date must be positive")
    yield from _check_label_families(doc, view, bad)
    for p in doc.programs.values():
        line = getattr(p, "line", None)
        if isinstance(p, CarveOut):
            if p.family not in view.families:
                yield bad(line, f"carve-out '{p.id}': unknown diagnosis family '{p.family}'")
            for prog in (p.from_program, p.to_program):
                if prog not in payer_keys:
                    yield bad(line, f"carve-out '{p.id}': '{prog}' is not a site [payers] key ({', '.join(sorted(payer_keys))})")
            for prod in p.products:
                if prod.firm_from is not None and prod.firm_from < prod.start:
                    yield bad(line, f"carve-out '{p.id}': {prod.code} firm-from {prod.firm_from} is before its from {prod.start}")
                if prod.code not in view.therapies:
                    yield bad(line, f"carve-out '{p.id}': {prod.code} is not a therapy of this policy")
        elif isinstance(p, Rems):
            if p.roster not in roster_keys:
                yield bad(line, f"rems '{p.id}': roster '{p.roster}' is not a site [facilities] key")
            for code in p.products:
                if code not in view.therapies:
                    yield bad(line, f"rems '{p.id}': {code} is not a therapy of this policy")
        elif isinstance(p, Companion):
            for code in p.drugs + p.per_infusion:
                if code not in view.therapies:
                    yield bad(line, f"companion '{p.id}': {code} is not a therapy of this policy")
            for code in p.per_infusion:
                if code not in p.drugs:
                    yield bad(line, f"companion '{p.id}': per-infusion code {code} is not among its drugs")
    for r in doc.rules.values():
        if r.id not in registry:
            yield bad(r.line, f"rule '{r.id}' has no implementation (edi_cgt.policy.rules has no function registered for it)")
        for u in r.uses:
            if u not in view.programs:
                yield bad(r.line, f"rule '{r.id}' uses unknown program '{u}'")
        if r.start and r.end and r.start > r.end:
            yield bad(r.line, f"rule '{r.id}': from {r.start} is after to {r.end}")
        kinds = [a.claim_kind for a in r.acks]
        if len(kinds) != len(set(kinds)) or (None in kinds and len(kinds) > 1):
            yield bad(r.line, f"rule '{r.id}': at most one <ack> per claim kind, or a single one for both")
        for ra in r.acks:
            for code in (ra.ack.status, ra.ack.extra_status):
                if code is None:
                    continue
                n = int(code)
                if n > _PYX12_MAX_STATUS or n in _PYX12_MISSING_STATUS:
                    yield bad(r.line, f"rule '{r.id}': status code {code} is not in the 277CA code list pyx12 4.0.0 accepts (0-771 less a few)")
