# `edi-cgt check` and `edi-cgt policy show|validate`, run as real processes on real 837 files.
from __future__ import annotations

import csv
import json

import pytest

from support import FIXTURES, ROOT, run_cli

MIXED_I = FIXTURES / "cgt_837i_mixed.837"
SITE = FIXTURES / "site.toml"

pytestmark = pytest.mark.skipif(not MIXED_I.is_file(), reason="fixtures not generated")


def _manifest_outcomes(name: str) -> dict[str, str]:
    with (FIXTURES / "MANIFEST.tsv").open(newline="") as fh:
        return {r["claim_id"]: r["outcome"] for r in csv.DictReader(fh, delimiter="\t") if r["record"] == "claim" and r["file"] == name}


def test_check_json_rows_match_the_policy():
    res = run_cli("check", str(MIXED_I), "--site", str(SITE), "--format", "jsonl")
    assert res.returncode == 1, res.stderr  # some claims rejected
    alias = run_cli("check", str(MIXED_I), "--site", str(SITE), "--format", "json")
    assert alias.returncode == 1 and alias.stdout == res.stdout  # json: the first name of the same format
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    by_claim: dict[str, list[dict]] = {}
    for r in rows:
        by_claim.setdefault(r["claim_id"], []).append(r)
    inpt = {r["rule_id"] for r in by_claim["I02-YESCARTA-INPT"]}
    assert inpt == {"CGT-SETTING-NOT-ALLOWED", "CGT-NOT-UNDER-DRG"}
    assert all(r["decision"] == "reject" and r["ack"].startswith("A8:228") for r in by_claim["I02-YESCARTA-INPT"])
    assert [r["rule_id"] for r in by_claim["I04-38228-NODRUG"]] == ["CART-ADMIN-WITHOUT-DRUG"]
    assert by_claim["I07-CASGEVY-SCD-MCP"][0]["rule_id"] == "CGT-SCD-CARVE-OUT"
    assert by_claim["I16-ZYNTEGLO-VOID"][0]["message"] == "no findings (void: rules not applied)"
    assert by_claim["I15-KYMRIAH-TRIAL"][0]["message"].startswith("outside the CGT policy (clinical trial")
    # the fixture author's intended outcome (accept / warn / reject) matches this policy
    want = _manifest_outcomes(MIXED_I.name)
    for cid, claim_rows in by_claim.items():
        if want.get(cid) == "accept":
            assert claim_rows[0]["decision"] == "accept", cid
        if want.get(cid) == "warn":  # accepted, with at least one warning
            assert claim_rows[0]["decision"] == "accept" and any(r["severity"] == "warning" for r in claim_rows), cid
        assert (claim_rows[0]["decision"] == "reject") == (want.get(cid) == "reject"), cid
    assert MIXED_I.read_bytes().count(b"TESTPATIENT") > 0
    assert b"TESTPATIENT" not in res.stdout + res.stderr  # member names never reach the output or logs


def test_check_table_and_exit_status_for_a_clean_file():
    res = run_cli("check", str(FIXTURES / "clean_837p.837"))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert out.splitlines()[0].split()[:4] == ["claim", "#", "decision", "rule"]
    assert out.rstrip().endswith("7 claims, 0 rejected, 0 warnings")


def test_check_as_of_moves_the_evaluation_date():
    res = run_cli("check", str(MIXED_I), "--site", str(SITE), "--format", "json", "--as-of", "2018-01-01")
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert any(r["rule_id"] == "CGT-CODE-NOT-IN-EFFECT" and r["claim_id"] == "I01-YESCARTA-OK" for r in rows)


def test_check_refuses_a_bad_site_file(tmp_path):
    bad = tmp_path / "site.toml"
    bad.write_text('[facilities]\nrems_certified = ["1234567890"]\n')
    res = run_cli("check", str(MIXED_I), "--site", str(bad))
    assert res.returncode == 2
    assert f"{bad}:2: [facilities] rems_certified: '1234567890' is not a valid NPI" in res.stderr.decode()
    assert res.stdout == b""


def test_policy_show():
    res = run_cli("policy", "show", "--as-of", "2025-10-01")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "Evaluated as of: 2025-10-01" in out and "Zolgensma" in out and "CGT-SCD-CARVE-OUT" in out
    rev = run_cli("policy", "show", "--policy", str(ROOT / "docs" / "policy-revision-example.xml"), "--as-of", "2025-10-01")
    assert "medi-cal-cgt-2025-08" in rev.stdout.decode() and "J3392 from 2025-10-01" in rev.stdout.decode()


def test_policy_validate(tmp_path):
    good = run_cli("policy", "validate", str(ROOT / "edi_cgt" / "policy" / "data" / "medi-cal-cgt-2025-07.xml"))
    assert good.returncode == 0 and good.stdout.decode().endswith(": ok\n")
    bad = tmp_path / "bad.xml"
    bad.write_text('<policy id="x" title="t" effective="2025-13-01">\n<rules/>\n</policy>\n')
    res = run_cli("policy", "validate", str(bad))
    assert res.returncode == 2
    lines = res.stdout.decode().splitlines()
    assert any(ln.startswith(f"{bad}:1: ") and "effective" in ln for ln in lines)
    assert any(ln.startswith(f"{bad}:2: ") for ln in lines)
