# The "why" of a decision: fix hints in the policy data, `check --format jsonl` rows with the
# passage and fix, and `edi-cgt explain RULE-ID | FILE CLAIM-ID`, run as real processes on real
# 837 text (the bundled fixtures and hand-written interchanges).
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest

from edi_cgt.policy import load_policy

from support import FIXTURES, ROOT, p_claims, run_cli

MIXED_I = FIXTURES / "cgt_837i_mixed.837"
MIXED_P = FIXTURES / "cgt_837p_mixed.837"
SITE = FIXTURES / "site.toml"
RULES = load_policy().base.rules

pytestmark = pytest.mark.skipif(not MIXED_I.is_file(), reason="fixtures not generated")

JSONL_FIELDS = ["file", "claim_id", "claim_index", "segment_number", "decision", "rule_id", "severity",
                "line_number", "code", "ack", "message", "passage", "fix"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _manifest(name: str) -> dict[str, str]:
    with (FIXTURES / "MANIFEST.tsv").open(newline="") as fh:
        return {r["claim_id"]: r["outcome"] for r in csv.DictReader(fh, delimiter="\t")
                if r["record"] == "claim" and r["file"] == name}


# -- fix hints in the policy data -------------------------------------------------------------
def test_every_rule_has_a_fix_and_policy_show_prints_it():
    assert RULES and all(r.fix and len(r.fix) > 40 for r in RULES.values())
    res = run_cli("policy", "show")
    assert res.returncode == 0, res.stderr
    out = _flat(res.stdout.decode())
    for r in RULES.values():
        assert f"{r.id}: {_flat(r.fix)}" in out, r.id


def test_the_schema_requires_a_fix(tmp_path):
    policy = (ROOT / "edi_cgt" / "policy" / "data" / "medi-cal-cgt-2025-07.xml").read_text()
    at = policy.index("<fix>", policy.index('<rule id="CGT-AUTH-FORMAT"'))
    line_start = policy.rindex("\n", 0, at) + 1
    line_end = policy.index("\n", at) + 1
    bad = tmp_path / "no-fix.xml"
    bad.write_text(policy[:line_start] + policy[line_end:])  # the rule's <fix> line left out
    res = run_cli("policy", "validate", str(bad))
    assert res.returncode == 2
    problems = res.stdout.decode()
    assert f"{bad}:" in problems and "fix" in problems, problems


# -- check --format jsonl ----------------------------------------------------------------------
def test_check_jsonl_rows_carry_decision_passage_and_fix():
    res = run_cli("check", str(MIXED_I), str(MIXED_P), "--site", str(SITE), "--format", "jsonl")
    assert res.returncode == 1, res.stderr
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert rows and all(list(r) == JSONL_FIELDS for r in rows)
    for r in rows:
        assert r["decision"] in ("accept", "reject")
        if r["rule_id"] is None:  # a claim without findings: nothing to explain
            assert r["severity"] is r["passage"] is r["fix"] is r["ack"] is None and r["message"]
            continue
        spec = RULES[r["rule_id"]]
        assert r["fix"] == spec.fix
        assert r["passage"] and r["passage"].endswith('"') and r["severity"] in ("error", "warning")
    # the longest passage is whole (the 277CA's STC12 stops at 264 characters)
    bundled = next(r for r in rows if r["rule_id"] == "CART-ADMIN-BUNDLED")
    assert bundled["passage"].endswith(RULES["CART-ADMIN-BUNDLED"].cite.quote + '"')
    # what the README's jq example selects: exactly the claims the fixture author meant to reject
    rejected = {(r["file"], r["claim_id"]) for r in rows if r["decision"] == "reject"}
    want = {(str(f), cid) for f in (MIXED_I, MIXED_P) for cid, o in _manifest(f.name).items() if o == "reject"}
    assert rejected == want


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_readme_jq_example_selects_rejected_claims():
    check = subprocess.Popen([sys.executable, "-m", "edi_cgt", "check", str(MIXED_I), "--site", str(SITE),
                              "--format", "jsonl"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    out = subprocess.run(["jq", "-c", 'select(.decision=="reject")'], stdin=check.stdout, capture_output=True, check=True)
    check.stdout.close()  # type: ignore[union-attr]
    assert check.wait() == 1
    picked = {json.loads(line)["claim_id"] for line in out.stdout.decode().splitlines()}
    assert picked == {cid for cid, o in _manifest(MIXED_I.name).items() if o == "reject"}


def test_check_table_points_at_explain():
    res = run_cli("check", str(MIXED_I), "--site", str(SITE))
    assert res.returncode == 1
    lines = res.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["claim", "#", "decision"]
    assert "edi-cgt explain FILE CLAIM-ID" in lines[-1]


# -- explain RULE-ID ---------------------------------------------------------------------------
def test_explain_rule_prints_severity_passage_facts_and_fix():
    res = run_cli("explain", "CGT-AUTH-REQUIRED")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    spec = RULES["CGT-AUTH-REQUIRED"]
    assert out.startswith("CGT-AUTH-REQUIRED\n")
    assert "error: a claim with this finding is rejected. A site may not change it." in _flat(out)
    assert f'"{spec.cite.quote}"' in _flat(out) and f"Policy passage ({spec.cite.section})" in out
    assert f"[V] {_flat(spec.confidence_note)}" in _flat(out)
    assert _flat(spec.fix) in _flat(out)
    assert "A6:252:85" in out


def test_explain_rule_shows_the_program_facts_and_the_site_override(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[payers]\nffs = ["610442"]\nmcp = ["MCPLAN01"]\n[severity]\nCGT-SCD-CARVE-OUT = "warning"\n')
    res = run_cli("explain", "CGT-SCD-CARVE-OUT", "--site", str(site), "--as-of", "2025-10-01")
    assert res.returncode == 0, res.stderr
    out = _flat(res.stdout.decode())
    assert "A site may change it in its [severity] table" in out and "This site's file sets it to warning." in out
    assert "(in force on 2025-10-01)" in out
    # the carve-out program it reads: its own passage, and each product's date with its tag
    assert "J3392 (Casgevy) and J3394 (Lyfgenia) are carved out of the managed care delivery system" in out
    assert "[V] J3394 (Lyfgenia) carved out of 'mcp' to 'ffs' from 2025-07-01" in out
    assert "[S] J3392 (Casgevy) carved out of 'mcp' to 'ffs' from 2025-09-01; warning only until 2025-10-01" in out
    doc = json.loads(run_cli("explain", "cgt-scd-carve-out", "--format", "json").stdout)
    assert doc["rule_id"] == "CGT-SCD-CARVE-OUT" and doc["configurable"] is True and doc["site_severity"] is None
    assert doc["passage"]["text"] == RULES["CGT-SCD-CARVE-OUT"].cite.quote
    assert {f["confidence"] for f in doc["facts"]} >= {"V", "S"} and doc["fix"] == RULES["CGT-SCD-CARVE-OUT"].fix


def test_explain_every_rule_as_json_gives_the_whole_passage():
    for rule_id, spec in RULES.items():
        res = run_cli("explain", rule_id, "--format", "json")
        assert res.returncode == 0, (rule_id, res.stderr)
        doc = json.loads(res.stdout)
        assert doc["passage"] == {"section": spec.cite.section, "text": spec.cite.quote}
        assert doc["severity"] == spec.severity and doc["configurable"] == spec.configurable
        assert doc["facts"][0] == {"confidence": spec.confidence, "meaning": doc["facts"][0]["meaning"],
                                   "text": spec.confidence_note}


def test_explain_unknown_rule_exits_2_with_a_suggestion():
    res = run_cli("explain", "CGT-AUTH-REQUIRD")
    assert res.returncode == 2 and res.stdout == b""
    err = res.stderr.decode()
    assert "unknown rule id 'CGT-AUTH-REQUIRD'" in err and "did you mean CGT-AUTH-REQUIRED" in err
    res = run_cli("explain", str(MIXED_I))  # a file without a claim id
    assert res.returncode == 2 and f"edi-cgt explain {MIXED_I} CLAIM-ID" in res.stderr.decode()


# -- explain FILE CLAIM-ID ---------------------------------------------------------------------
def test_explain_a_rejected_claim():
    res = run_cli("explain", str(MIXED_I), "I02-YESCARTA-INPT", "--site", str(SITE))
    assert res.returncode == 1, res.stderr
    out = res.stdout.decode()
    flat = _flat(out)
    assert out.startswith(f"Claim I02-YESCARTA-INPT in {MIXED_I}\n")
    assert "Decision: REJECTED (2 errors, 0 warnings)" in out
    for rule_id in ("CGT-SETTING-NOT-ALLOWED", "CGT-NOT-UNDER-DRG"):
        assert f"{rule_id} (error; line 2, Q2041, 277CA A8:228 +454)" in out
        assert _flat(RULES[rule_id].fix) in flat
    assert '"HCPCS codes Q2041 and Q2042 are separately payable services that are not reimbursed under the ' \
           'Diagnosis-Related Group (DRG) payment methodology."' in flat
    assert b"TESTPATIENT" not in res.stdout + res.stderr


def test_explain_prints_the_passage_the_277ca_cuts(tmp_path):
    quote = RULES["CGT-AUTH-REQUIRED"].cite.quote
    res = run_cli("explain", str(MIXED_I), "I22-CARVYKTI-NOTAR", "--site", str(SITE))
    assert res.returncode == 1, res.stderr
    assert f'Overview: "{quote}"' in _flat(res.stdout.decode())
    ack = tmp_path / "rejects.277"
    run_cli("filter", str(MIXED_I), "--site", str(SITE), "-o", str(tmp_path / "clean.837"), "--rejects", str(ack))
    stc = next(seg for seg in ack.read_text().split("~") if "CGT-AUTH-REQUIRED" in seg)
    assert quote[:60] in stc and quote not in stc  # STC12 stops at 264 characters; explain does not
    # warnings too: both findings of the hydration claim, each with its whole passage
    res = run_cli("explain", str(MIXED_I), "I05-CARVYKTI-HYDR", "--site", str(SITE))
    assert res.returncode == 0, res.stderr
    assert "Decision: ACCEPTED (0 errors, 2 warnings)" in res.stdout.decode()
    assert _flat(res.stdout.decode()).count(f'"{RULES["CART-ADMIN-BUNDLED"].cite.quote}"') == 2


def test_explain_an_accepted_and_an_exempt_claim_as_json():
    res = run_cli("explain", str(MIXED_I), "I08-CASGEVY-SCD-FFS", "--site", str(SITE), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["decision"] == "accept" and doc["claims_found"] == 1
    assert doc["claims"][0]["findings"] == [] and doc["claims"][0]["note"] == "no findings"
    res = run_cli("explain", str(MIXED_I), "I15-KYMRIAH-TRIAL", "--format", "json")
    doc = json.loads(res.stdout)
    assert res.returncode == 0 and doc["claims"][0]["note"].startswith("outside the CGT policy (clinical trial")
    # without the site file the FFS claim warns that the payer's program is unknown
    res = run_cli("explain", str(MIXED_I), "I08-CASGEVY-SCD-FFS", "--format", "json")
    finding = json.loads(res.stdout)["claims"][0]["findings"][0]
    assert res.returncode == 0 and finding["rule_id"] == "CGT-SCD-CARVE-OUT-PAYER-UNKNOWN"
    assert finding["severity"] == "warning" and finding["confidence"] == "S"
    assert finding["fix"] == RULES["CGT-SCD-CARVE-OUT-PAYER-UNKNOWN"].fix and finding["passage"]


DUP_CLAIMS = """
CLM*DUP-1*400500***22:B:1*Y*A*Y*Y
REF*G1*12345678901
HI*ABK:C8338
LX*1
SV1*HC:Q2041*400000*UN*1***1
DTP*472*D8*20250301
LX*2
SV1*HC:38228*500*UN*1***1
DTP*472*D8*20250301
CLM*DUP-1*400500***22:B:1*Y*A*Y*Y
HI*ABK:C8338
LX*1
SV1*HC:Q2041*400000*UN*1***1
DTP*472*D8*20250401
"""


def test_explain_every_claim_with_that_clm01_from_stdin():
    data = p_claims(DUP_CLAIMS)
    res = run_cli("explain", "-", "DUP-1", stdin=data)
    assert res.returncode == 1, res.stderr  # the second one has no TAR
    out = res.stdout.decode()
    assert "2 claims in this file have CLM01 DUP-1; each is decided on its own." in out
    assert "1 of 2: claim #1, CLM segment 18" in out and "Decision: ACCEPTED (0 errors, 0 warnings)" in out
    assert "2 of 2: claim #2, CLM segment 27" in out and "CGT-AUTH-REQUIRED (error; line 1, Q2041" in out
    doc = json.loads(run_cli("explain", "-", "DUP-1", "--format", "json", "--as-of", "2018-06-01", stdin=data).stdout)
    assert doc["file"] == "<stdin>" and doc["claims_found"] == 2
    assert [c["evaluated_on"] for c in doc["claims"]] == ["2018-06-01", "2018-06-01"]
    # on that date 38228 did not exist yet
    assert "CGT-CODE-NOT-IN-EFFECT" in {f["rule_id"] for f in doc["claims"][0]["findings"]}


def test_explain_claim_not_found_or_bad_input_exits_2(tmp_path):
    res = run_cli("explain", str(MIXED_I), "NO-SUCH-CLAIM")
    assert res.returncode == 2 and res.stdout == b""
    assert f"{MIXED_I}: no claim with CLM01 'NO-SUCH-CLAIM' (28 claims read)" in res.stderr.decode()
    bad = tmp_path / "bad.837"
    bad.write_bytes(b"this is not X12\n")
    res = run_cli("explain", str(bad), "X")
    assert res.returncode == 2 and res.stdout == b"" and str(bad) in res.stderr.decode()
    res = run_cli("explain", str(tmp_path / "missing.837"), "X")
    assert res.returncode == 2 and res.stdout == b""


def test_explain_a_claim_that_cannot_be_read_says_where_and_why(tmp_path) -> None:
    from support import P_BODY, error_lines, interchange

    path = tmp_path / "bad.837"
    path.write_bytes(interchange(P_BODY.replace("REF*D9*TRACE-A", "ZZZ*1")))
    res = run_cli("explain", str(path), "CLAIM-A")
    assert res.returncode == 3, res.stderr
    (line,) = error_lines(res.stderr.decode())
    assert f"{path}: segment 21: claim 'CLAIM-A' cannot be read: unknown segment 'ZZZ'" in line
    assert run_cli("explain", str(path), "CLAIM-B").returncode == 0  # the other claim is read and decided
