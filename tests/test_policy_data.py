# The policy data file, its schema, the safe loader, revisions and the trigger-code guarantee.
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from edi_cgt.policy import (
    PolicyError,
    codes_of_interest,
    data_path,
    evaluate,
    load_policy,
    render_policy_text,
    trigger_codes,
    validate_policy_file,
)
from edi_cgt.policy.loader import schema
from edi_cgt.policy.safexml import parse_xml_bytes

from test_policy_rules import FFS, MCP, SITE_PAYERS, L, claim_from_spec
from edi_cgt.policy import parse_site_text

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = SHARED / "seeds" / "000_d69b190b772757b0.txt"
BASE = data_path("medi-cal-cgt-2025-07.xml")
REVISION = REPO / "docs" / "policy-revision-example.xml"


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _norm(s: str) -> str:
    return " ".join(s.replace("*", "").replace("\\(", "(").replace("\\)", ")").split())


# -- the data -----------------------------------------------------------------------------------
def test_builtin_file_is_schema_valid_and_loads_clean():
    tree = etree.parse(str(BASE))
    assert schema().validate(tree), schema().error_log
    assert validate_policy_file(BASE) == []
    assert (REPO / "schemas" / "cgt-policy.xsd").read_bytes() == data_path("cgt-policy.xsd").read_bytes()


def test_every_seed_therapy_is_in_the_data(policy):
    view = policy.latest
    expected = {
        "Q2041": "Yescarta", "Q2042": "Kymriah", "Q2053": "Tecartus", "Q2054": "Breyanzi", "Q2055": "Abecma",
        "Q2056": "Carvykti", "Q2058": "Aucatzyl", "J3392": "Casgevy", "J3394": "Lyfgenia", "J1411": "Hemgenix",
        "J1412": "Roctavian", "J1413": "Elevidys", "J3399": "Zolgensma", "J3398": "Luxturna", "J3393": "Zynteglo",
        "Q2057": "Tecelra",
    }
    assert {c: t.product for c, t in view.therapies.items()} == expected
    assert set(view.therapies["J3392"].sections) == {"sickle-cell-disease", "beta-thalassemia"}
    assert view.therapies["J3398"].settings == ()  # Luxturna: no setting restriction
    assert view.therapies["Q2041"].not_under_drg and view.therapies["Q2042"].not_under_drg and view.therapies["J3399"].not_under_drg
    assert not view.therapies["Q2053"].not_under_drg


def test_unit_traps(policy):
    t = policy.latest.therapies
    assert (t["J1412"].units.basis, t["J1412"].units.max_per_date, t["J1412"].units.severity) == ("per mL", Decimal(352), "warning")
    assert (t["J3398"].units.max_per_date, t["J3398"].units.severity) == (Decimal(150), "warning")
    assert (t["Q2058"].units.basis, t["Q2058"].units.max_per_date, t["Q2058"].units.severity) == ("per infusion", Decimal(1), None)
    assert {x.units.unit_code for x in t.values()} == {"UN"}  # SV103/SV204: every CGT code is counted in units
    assert "5x10^15 vector genomes" in t["J3399"].descriptor
    assert "2 x 10^13" in t["J1412"].descriptor


def test_code_dates(policy):
    c = policy.latest.codes
    assert (c["Q2040"].end, c["Q2040"].replaced_by) == (dt.date(2018, 12, 31), "Q2042")
    for old, new in zip(("0537T", "0538T", "0539T", "0540T"), ("38225", "38226", "38227", "38228")):
        assert c[old].end == dt.date(2024, 12, 31) and c[old].replaced_by == new
        assert c[new].start == dt.date(2025, 1, 1)
    assert all(x.confidence in {"V", "S", "U"} for x in c.values())


def test_families(policy):
    f = policy.latest.families
    assert f["SCD"].matches("D5700") and f["SCD"].matches("D57.212") and not f["SCD"].matches("D573")
    assert f["LBCL"].matches("C8330") and not f["LBCL"].matches("C83390")
    assert f["SOFT-TISSUE-SARCOMA"].matches("C4920") and not f["SOFT-TISSUE-SARCOMA"].matches("C49A0")


def test_carve_out_and_rems_dates(policy):
    view = policy.latest
    co = view.programs["scd-access-model"]
    assert (co.product("J3394").start, co.product("J3392").start) == (dt.date(2025, 7, 1), dt.date(2025, 9, 1))
    rems = view.programs["car-t-rems"]
    assert rems.ended == dt.date(2025, 6, 26) and "Q2058" not in rems.products


def test_ack_codes_are_ones_pyx12_accepts(policy):
    pyx12 = pytest.importorskip("pyx12")
    codes = etree.parse(str(Path(pyx12.__file__).parent / "map" / "codes.xml"))
    lists = {cs.findtext("id"): {c.text for c in cs.iter("code")} for cs in codes.getroot()}
    for rule in policy.latest.rules.values():
        for ra in rule.acks:
            assert ra.ack.category in lists["claim_status_cat"]
            assert ra.ack.status in lists["claim_status"], rule.id
            if ra.ack.extra_status:
                assert ra.ack.extra_status in lists["claim_status"], rule.id
            if ra.ack.entity:
                assert ra.ack.entity in lists["entity_id"], rule.id


@pytest.mark.skipif(not SEED.is_file(), reason="shared seed text not available")
def test_every_cite_is_a_verbatim_seed_passage(policy):
    seed = _norm(SEED.read_text(encoding="utf-8"))
    view = policy.latest
    cites = [r.cite for r in view.rules.values()] + [view.clinical_trial.cite]
    for t in view.therapies.values():
        cites += [t.cite] + [i.cite for i in t.indications] + ([t.not_under_drg] if t.not_under_drg else [])
    cites += [p.cite for p in view.programs.values()]
    for c in cites:
        assert _norm(c.quote) in seed, c
    for slip in view.slips.values():
        if slip.id in ("scd-heading", "zolgensma-descriptor", "roctavian-descriptor", "aucatzyl-descriptor"):
            assert _norm(slip.seed) in seed, slip.id
    assert len(view.slips) >= 7


def test_policy_md_names_only_tests_that_exist():
    # docs/POLICY.md maps each page sentence to rules and tests; a renamed test must not leave
    # the table pointing at nothing
    from test_policy_rules import CASES

    doc = (REPO / "docs" / "POLICY.md").read_text(encoding="utf-8")
    cases = re.findall(r"`test_rule_table\[(.+?)\]`", doc)
    assert len(cases) > 50 and set(cases) <= {c[0] for c in CASES}, set(cases) - {c[0] for c in CASES}
    files = {"fidelity": "test_policy_fidelity.py", "cli": "test_policy_cli.py", "data": "test_policy_data.py"}
    named = re.findall(r"`(fidelity|cli|data)::(test_\w+)`", doc)
    assert len(named) > 10
    for short, name in named:
        assert f"def {name}(" in (REPO / "tests" / files[short]).read_text(encoding="utf-8"), (short, name)


# -- render ---------------------------------------------------------------------------------------
def test_render_policy_text(policy):
    text = render_policy_text(policy, dt.date(2025, 8, 1))
    assert "Q2041" in text and "Yescarta" in text and "CGT-AUTH-REQUIRED" in text and "A6:252:85" in text
    old = render_policy_text(policy, dt.date(2024, 6, 1))
    assert re.search(r"Q2058 .*NOT VALID", old)
    assert not re.search(r"Q2058 .*NOT VALID", text)


# -- revisions ----------------------------------------------------------------------------------
def test_revision_example_moves_the_casgevy_date():
    rev = load_policy(REVISION)
    assert [d.id for d in rev.documents] == ["medi-cal-cgt-2025-07", "medi-cal-cgt-2025-08"]
    site = parse_site_text(SITE_PAYERS)
    spec = {"payer": MCP, "dx": ["D5700"], "lines": [L("J3392")]}
    sept = evaluate(claim_from_spec({**spec, "date": "2025-09-15"}), rev, site)
    octo = evaluate(claim_from_spec({**spec, "date": "2025-10-01"}), rev, site)
    assert sept.rule_ids == () and octo.rule_ids == ("CGT-SCD-CARVE-OUT",) and octo.rejected
    base = load_policy()
    warned = evaluate(claim_from_spec({**spec, "date": "2025-09-15"}), base, site)
    assert warned.rule_ids == ("CGT-SCD-CARVE-OUT",) and not warned.rejected
    # before the revision's effective date only the base applies
    assert rev.in_force(dt.date(2025, 7, 31)).programs["scd-access-model"].product("J3392").start == dt.date(2025, 9, 1)
    assert rev.in_force(dt.date(2025, 8, 1)).programs["scd-access-model"].product("J3392").start == dt.date(2025, 10, 1)


def test_revision_withdraws_and_adds(tmp_path):
    (tmp_path / "rev.xml").write_text(
        '<policy id="r1" revises="medi-cal-cgt-2025-07" effective="2026-01-01" title="t">'
        '<withdraw kind="rule" key="CART-ADMIN-BUNDLED"/></policy>'
    )
    rev = load_policy(tmp_path / "rev.xml")
    assert "CART-ADMIN-BUNDLED" in rev.in_force(dt.date(2025, 12, 31)).rules
    assert "CART-ADMIN-BUNDLED" not in rev.in_force(dt.date(2026, 1, 1)).rules
    claim = claim_from_spec({"date": "2026-02-01", "dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("96360")]})
    assert evaluate(claim, rev).rule_ids == ()


def test_revision_problems(tmp_path):
    (tmp_path / "a.xml").write_text('<policy id="a" revises="nope" effective="2026-01-01" title="t"/>')
    assert "no nope.xml" in str(validate_policy_file(tmp_path / "a.xml")[0])
    (tmp_path / "b.xml").write_text('<policy id="b" revises="medi-cal-cgt-2025-07" effective="2024-01-01" title="t"/>')
    assert "before the revised policy" in str(validate_policy_file(tmp_path / "b.xml")[0])
    (tmp_path / "c.xml").write_text('<policy id="c" revises="d" effective="2026-01-01" title="t"/>')
    (tmp_path / "d.xml").write_text('<policy id="d" revises="c" effective="2026-01-01" title="t"/>')
    assert "loops" in str(validate_policy_file(tmp_path / "c.xml")[0])


# -- bad files --------------------------------------------------------------------------------------
def _with(tmp_path: Path, old: str, new: str) -> Path:
    text = BASE.read_text(encoding="utf-8")
    assert old in text
    p = tmp_path / "bad.xml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


def _line(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_schema_error_has_a_line_number(tmp_path):
    p = _with(tmp_path, 'max-per-date="352"', 'max-per-date="lots"')
    problems = validate_policy_file(p)
    assert problems and problems[0].line == _line(p.read_text(), 'max-per-date="lots"')
    assert "max-per-date" in problems[0].message
    assert str(problems[0]).startswith(f"{p}:{problems[0].line}: ")


def test_bad_status_code_and_unknown_family_are_reported_with_lines(tmp_path):
    p = _with(tmp_path, 'category="A3" status="116"/>', 'category="A3" status="796"/>')
    problems = validate_policy_file(p)
    assert any("796" in pr.message and pr.line for pr in problems)
    p = _with(tmp_path, 'families="MM"', 'families="MM NOPE"')
    problems = validate_policy_file(p)
    assert len(problems) == 1 and "unknown diagnosis family 'NOPE'" in problems[0].message
    assert problems[0].line == _line(p.read_text(), '<therapy code="Q2055"')


def test_rule_without_implementation_is_refused(tmp_path):
    p = _with(tmp_path, '<rule id="CGT-AUTH-FORMAT"', '<rule id="CGT-NO-SUCH-RULE"')
    with pytest.raises(PolicyError, match="CGT-NO-SUCH-RULE.*no implementation"):
        load_policy(p)


def test_duplicate_therapy_is_a_schema_error(tmp_path):
    p = _with(tmp_path, '<therapy code="Q2042"', '<therapy code="Q2041"')
    problems = validate_policy_file(p)
    assert problems and "Duplicate" in problems[0].message and problems[0].line


def test_not_well_formed(tmp_path):
    p = tmp_path / "x.xml"
    p.write_text("<policy>\n<therapies>\n</policy>\n")
    (pr,) = validate_policy_file(p)
    assert pr.line == 3 and "not well-formed" in pr.message


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE policy [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<policy id="x" title="&xxe;" effective="2025-01-01"/>
"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<policy id="x" title="&lol9;" effective="2025-01-01"/>
"""


@pytest.mark.parametrize("data", [XXE, LAUGHS, b'<?xml version="1.0"?>\n<!DOCTYPE policy SYSTEM "http://example.invalid/p.dtd">\n<policy/>'])
def test_dtds_and_entities_are_refused(tmp_path, data):
    p = tmp_path / "evil.xml"
    p.write_bytes(data)
    with pytest.raises(PolicyError, match="refused: a DOCTYPE"):
        load_policy(p)
    (pr,) = validate_policy_file(p)
    assert pr.line == 2


def test_parser_and_tree_guard_without_the_byte_scan():
    # the locked-down parser must not resolve entities, and the post-parse guard must refuse
    # what it left behind, even if the byte scan were bypassed
    from edi_cgt.policy.safexml import check_tree, safe_parser

    data = XXE.replace(b'title="&xxe;"', b"").replace(b"/>", b">&xxe;</policy>")
    tree = etree.ElementTree(etree.fromstring(data, safe_parser()))
    assert "root:" not in etree.tostring(tree).decode()
    with pytest.raises(PolicyError, match="refused"):
        check_tree(tree, "t.xml")
    laughs = etree.ElementTree(etree.fromstring(LAUGHS.replace(b'title="&lol9;"', b"").replace(b"/>", b">&lol9;</policy>"), safe_parser()))
    assert len(etree.tostring(laughs)) < 10_000
    with pytest.raises(PolicyError, match="refused"):
        check_tree(laughs, "t.xml")


def test_builtin_policy_loads_from_a_zipped_package(tmp_path):
    # spark-submit --py-files ships the package as a zip: the built-in policy and its schema
    # are package data read through importlib.resources, never through a file-system path
    import subprocess
    import sys
    import zipfile

    pkg = REPO / "edi_cgt"
    bundle = tmp_path / "edi_cgt.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        for f in sorted(pkg.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:  # is_file follows the XSD symlink
                zf.writestr(str(f.relative_to(REPO)), f.read_bytes())
    probe = (
        "import edi_cgt.policy as p, sys\n"
        "assert '.zip' in p.__file__, p.__file__\n"
        "pol = p.load_policy()\n"
        "assert 'zip' in pol.base.source_path, pol.base.source_path\n"
        "print(len(pol.latest.therapies), len(pol.latest.rules))\n"
    )
    env = {"PYTHONPATH": str(bundle), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    view = load_policy().latest
    assert res.stdout.decode().split() == [str(len(view.therapies)), str(len(view.rules))]
    # and the CLI, run from the zip, checks a fixture with it
    fixture = REPO / "fixtures" / "cgt_837i_mixed.837"
    res = subprocess.run([sys.executable, "-m", "edi_cgt", "check", str(fixture), "--format", "json"], cwd=tmp_path,
                         env=env, capture_output=True, timeout=120)
    assert res.returncode == 1, res.stderr.decode()
    assert b'"rule_id":"CGT-SETTING-NOT-ALLOWED"' in res.stdout


def test_oversized_and_non_utf8_files_are_refused(tmp_path):
    p = tmp_path / "big.xml"
    p.write_bytes(b"<policy>" + b" " * (4 * 1024 * 1024) + b"</policy>")
    assert "limited to" in str(validate_policy_file(p)[0])
    with pytest.raises(PolicyError, match="UTF-8"):
        parse_xml_bytes("<policy/>".encode("utf-16"), "u16.xml")


# -- trigger codes and the engine's skip of claims without one -----------------------------------
def test_codes_of_interest(policy):
    toi, trig = codes_of_interest(policy), trigger_codes(policy)
    assert trig <= toi
    assert {"Q2041", "J3392", "38228", "0537T", "0540T", "Q2040", "38225"} <= trig
    assert {"96360", "J7050", "J3262"} <= toi and "96360" not in trig


_POOL = ["Q2041", "Q2058", "J3392", "J3394", "J1412", "J3398", "38228", "0540T", "96360", "J3262", "99213", "J9035", "96413", "A0425"]


@settings(max_examples=150, deadline=None)
@given(
    codes=st.lists(st.sampled_from(_POOL), min_size=1, max_size=4),
    kind=st.sampled_from(["P", "I"]),
    place=st.sampled_from(["11", "22", "0111", "0131", "0851"]),
    dx=st.lists(st.sampled_from(["C8330", "D5700", "D573", "D561", "Z006", "I10"]), max_size=2),
    date=st.dates(dt.date(2018, 6, 1), dt.date(2026, 6, 1)),
    units=st.sampled_from([1, 2, 400]),
    auth=st.booleans(),
    payer=st.sampled_from([FFS, MCP, "X"]),
)
def test_skipping_untriggered_claims_never_changes_a_decision(policy, codes, kind, place, dx, date, units, auth, payer):
    spec = {
        "kind": kind,
        "pos": place if len(place) == 2 else "22",
        "tob": place if len(place) == 4 else "0131",
        "dx": dx,
        "auth": ["12345678901"] if auth else [],
        "payer": payer,
        "date": date.isoformat(),
        "lines": [L(c, units=units) for c in codes],
    }
    claim = claim_from_spec(spec)
    site = parse_site_text(SITE_PAYERS)
    fast, full = evaluate(claim, policy, site), evaluate(claim, policy, site, skip_untriggered=False)
    assert fast == full
    if not set(codes) & trigger_codes(policy):
        assert full.findings == ()
