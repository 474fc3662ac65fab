# Policy fidelity (issue 12): each hole between the policy page and the rules, shown with
# hand-written 837 text run through the real CLI (`check --format jsonl`, `filter`), and the
# 277CA we write validated with pyx12 wherever a test looks at it.
from __future__ import annotations

import json
import re
from pathlib import Path

from support import I_BODY, P_BODY, interchange, pyx12_validate, run_cli

BILLING_NPI = "1234567893"  # 2010AA
OTHER_NPI = "1245319599"  # 2310C/2310E service facility, not on any roster
TAR = "12345678901"
SITE_PAYERS = '[payers]\nffs = ["610442"]\nmcp = ["MCPLAN01"]\n'


# -- building 837 text ---------------------------------------------------------------------
def _subscriber(hl: int, member: int, payer: str) -> str:
    return f"""
HL*{hl}*1*22*0
SBR*P*18*******MC
NM1*IL*1*TESTPATIENT*ALPHA****MI*MCAL{member:06d}
N3*1 ELM ST
N4*OAKLAND*CA*94601
DMG*D8*19900102*F
NM1*PR*2*MEDI-CAL*****PI*{payer}
"""


# The submitter, receiver and billing provider of the shared hand-written transactions (their
# ST..2010AA part); the claims of each test go under them, a subscriber loop per claim.
_HEADERS = {kind: body[: body.index("HL*2*")] for kind, body in (("P", P_BODY), ("I", I_BODY))}


def _transaction(kind: str, claims: tuple[str, ...], payer: str) -> bytes:
    body = _HEADERS[kind] + "".join(_subscriber(i + 1, i, payer) + claim for i, claim in enumerate(claims, 1))
    control = re.search(r"ST\*837\*(\d+)", body).group(1)
    return interchange(f"{body}SE**{control}\n", version=re.search(r"ST\*837\*\d+\*(\w+)", body).group(1))


def tx_837p(*claims: str, payer: str = "610442") -> bytes:
    """One 837P transaction (005010X222A1), a subscriber loop per claim body (CLM onward)."""
    return _transaction("P", claims, payer)


def tx_837i(*claims: str, payer: str = "610442") -> bytes:
    """One 837I transaction (005010X223A2), a subscriber loop per claim body (CLM onward)."""
    return _transaction("I", claims, payer)


def claim_p(cid: str, dx: str, lines: str, *, refs: str = f"REF*G1*{TAR}", facility: str | None = None) -> str:
    """A 2300 loop: CLM with POS 22 (on-campus outpatient hospital), the REFs, HI, an optional
    2310C service facility, then `lines` (LX/SV1/DTP/REF text)."""
    nm1_77 = f"NM1*77*2*INFUSION CENTER*****XX*{facility}\nN3*2 MAIN ST\nN4*OAKLAND*CA*94601\n" if facility else ""
    charge = sum(int(m) for m in re.findall(r"^SV1\*[^*]*\*(\d+)\*", lines, re.M))
    return f"CLM*{cid}*{charge}***22:B:1*Y*A*Y*Y\n{refs}\nHI*{dx}\n{nm1_77}{lines}\n"


def claim_i(cid: str, dx: str, lines: str, *, refs: str = f"REF*G1*{TAR}", tob: str = "13:A:1",
            dates: str = "20250801-20250801") -> str:
    """A 2300 loop: CLM with type of bill `tob`, statement dates, the REFs, HI (a second HI
    for condition codes may be part of `dx`), an attending provider, then `lines`."""
    charge = sum(int(m) for m in re.findall(r"^SV2\*[^*]*\*[^*]*\*(\d+)\*", lines, re.M))
    return (f"CLM*{cid}*{charge}***{tob}**A*Y*Y\nDTP*434*RD8*{dates}\nCL1*1*1*01\n{refs}\nHI*{dx}\n"
            f"NM1*71*1*ATTENDING*DOC****XX*1245319599\n{lines}\n")


# -- running the CLI -----------------------------------------------------------------------
def check_json(data: bytes, tmp_path: Path, site: str | None = SITE_PAYERS) -> dict[str, list[dict]]:
    """`edi-cgt check --format jsonl` rows by claim id."""
    args = ["check", "-", "--format", "jsonl"]
    if site is not None:
        (tmp_path / "site.toml").write_text(site)
        args += ["--site", str(tmp_path / "site.toml")]
    res = run_cli(*args, stdin=data)
    assert res.returncode in (0, 1), res.stderr.decode()
    rows: dict[str, list[dict]] = {}
    for line in res.stdout.decode().splitlines():
        row = json.loads(line)
        rows.setdefault(row["claim_id"], []).append(row)
    assert (res.returncode == 1) == any(r[0]["decision"] == "reject" for r in rows.values())
    return rows


def findings(rows: list[dict]) -> set[tuple[str, str]]:
    return {(r["rule_id"], r["severity"]) for r in rows if r["rule_id"] is not None}


def run_filter(data: bytes, tmp_path: Path, site: str = SITE_PAYERS):
    """(exit status, clean 837, 277CA) of `edi-cgt filter`; the 277CA is checked by pyx12."""
    (tmp_path / "site.toml").write_text(site)
    clean, ack = tmp_path / "clean.837", tmp_path / "out.277"
    res = run_cli("filter", "-", "-o", str(clean), "--rejects", str(ack), "--site", str(tmp_path / "site.toml"), stdin=data)
    assert res.returncode in (0, 1), res.stderr.decode()
    ack_bytes = ack.read_bytes() if ack.exists() else b""
    if ack_bytes:
        ok, report = pyx12_validate(ack_bytes)
        assert ok, report
    return res.returncode, clean.read_bytes() if clean.exists() else b"", ack_bytes


def rejected_claims(ack: bytes) -> dict[str, str]:
    """Claim id (TRN*2 under a PT level) -> its first STC, for every claim the 277CA rejects."""
    out = {}
    for block in re.split(r"HL\*\d+\*\d+\*PT~\s*", ack.decode())[1:]:
        trn = re.search(r"TRN\*2\*([^~]*)~", block).group(1)
        stc = re.search(r"STC\*(A[3678]:[^~]*)~", block)
        if stc:
            out[trn] = stc.group(1)
    return out


# -- 1. an 837I line REF*G1 is not the TAR ----------------------------------------------------
I_LINE_AUTH = """
LX*1
SV2*0891*HC:Q2042*475000*UN*1
DTP*472*D8*20250801
REF*G1*12345678901
"""


def test_837i_line_ref_g1_is_not_a_tar(tmp_path):
    data = tx_837i(claim_i("I-LINE-AUTH", "ABK:C9100", I_LINE_AUTH, refs="REF*D9*TRACE1"),
                   claim_i("I-CLAIM-AUTH", "ABK:C9100", I_LINE_AUTH))
    ok, report = pyx12_validate(data)
    segments = data.decode().split("~")
    st = next(i for i, seg in enumerate(segments) if seg.strip().startswith("ST*"))
    line_ref = next(i for i, seg in enumerate(segments) if seg.strip() == "REF*G1*12345678901" and "LX*" in segments[i - 3]) - st + 1
    assert not ok and f"IK3*REF*{line_ref}*" in report, report  # no REF*G1 in loop 2400 of 005010X223
    claims = run_cli("claims", "-", stdin=data)
    lines = [json.loads(x)["lines"][0] for x in claims.stdout.decode().splitlines()]
    assert [ln["prior_authorizations"] for ln in lines] == [[], []]  # not read as the line's TAR
    rows = check_json(data, tmp_path)
    assert findings(rows["I-LINE-AUTH"]) == {("CGT-AUTH-REQUIRED", "error")}
    assert rows["I-LINE-AUTH"][0]["decision"] == "reject"
    # the reason says where an 837I's TAR goes, not "or on the line"
    assert rows["I-LINE-AUTH"][0]["message"].endswith("no REF*G1 on the claim (837I: loop 2300 only)"), rows
    assert findings(rows["I-CLAIM-AUTH"]) == set()  # the 2300 REF*G1 is the TAR
    status, clean, ack = run_filter(data, tmp_path)
    assert status == 1
    rejected = rejected_claims(ack)
    assert list(rejected) == ["I-LINE-AUTH"] and rejected["I-LINE-AUTH"].startswith("A6:252:85*")
    assert "CGT-AUTH-REQUIRED" in rejected["I-LINE-AUTH"]
    assert b"CLM*I-CLAIM-AUTH*" in clean and b"CLM*I-LINE-AUTH*" not in clean


def test_837p_line_ref_g1_is_still_the_tar(tmp_path):
    lines = f"LX*1\nSV1*HC:Q2042*475000*UN*1***1\nDTP*472*D8*20250801\nREF*G1*{TAR}\n"
    data = tx_837p(claim_p("P-LINE-AUTH", "ABK:C9100", lines, refs="REF*D9*TRACE1"))
    ok, report = pyx12_validate(data)
    assert ok, report  # 005010X222 allows REF*G1 in loop 2400
    rows = check_json(data, tmp_path)
    assert findings(rows["P-LINE-AUTH"]) == set() and rows["P-LINE-AUTH"][0]["decision"] == "accept"


# -- 2. Q0/Q1 alone exempts a line, but says what is missing -------------------------------------
def test_trial_modifier_alone_warns_and_names_what_is_missing(tmp_path):
    admin_q0 = "LX*1\nSV1*HC:38228:Q0*3200*UN*1***1\nDTP*472*D8*20250801\n"
    kymriah_q1 = "LX*1\nSV2*0891*HC:Q2042:Q1*475000*UN*1\nDTP*472*D8*20250801\n"
    p = tx_837p(claim_p("P-38228-Q0", "ABK:C8330", admin_q0),
                claim_p("P-38228-Q0-P4", "ABK:C8330", admin_q0, refs=f"REF*G1*{TAR}\nREF*P4*12345678"))
    rows = check_json(p, tmp_path)
    (warn,) = rows["P-38228-Q0"]
    assert (warn["rule_id"], warn["severity"], warn["decision"]) == ("CGT-CLINICAL-TRIAL-MODIFIER-ONLY", "warning", "accept")
    assert "modifier Q0" in warn["message"] and "no Z00.6 diagnosis" in warn["message"] and "no REF*P4" in warn["message"]
    assert "condition code" not in warn["message"]  # an 837P carries none
    assert findings(rows["P-38228-Q0-P4"]) == set()  # the trial number backs the modifier
    i = tx_837i(claim_i("I-KYMRIAH-Q1", "ABK:C9100", kymriah_q1, refs="REF*D9*TRACE1"),
                claim_i("I-KYMRIAH-Q1-CC30", "ABK:C9100\nHI*BG:30", kymriah_q1, refs="REF*D9*TRACE2"))
    rows = check_json(i, tmp_path)
    (warn,) = rows["I-KYMRIAH-Q1"]
    assert (warn["rule_id"], warn["decision"]) == ("CGT-CLINICAL-TRIAL-MODIFIER-ONLY", "accept")
    assert "Q2042 (Kymriah)" in warn["message"] and "no condition code 30" in warn["message"] and "TAR" in warn["message"]
    assert rows["I-KYMRIAH-Q1-CC30"][0]["message"].startswith("outside the CGT policy (clinical trial")
    # a site that wants the trial coding complete makes it an error: then filter rejects it
    status, clean, ack = run_filter(i, tmp_path, SITE_PAYERS + '[severity]\n"CGT-CLINICAL-TRIAL-MODIFIER-ONLY" = "error"\n')
    assert status == 1 and list(rejected_claims(ack)) == ["I-KYMRIAH-Q1"]
    assert b"CGT-CLINICAL-TRIAL-MODIFIER-ONLY" in ack and b"CLM*I-KYMRIAH-Q1-CC30*" in clean


# -- 3. units: the unit code, and the sum per claim and date of service ---------------------------
def test_units_in_another_unit_basis_are_an_error(tmp_path):
    days = "LX*1\nSV2*0891*HC:J3399*2100000*DA*2\nDTP*472*D8*20250801\n"
    minutes = "LX*1\nSV1*HC:J3399*2100000*MJ*60***1\nDTP*472*D8*20250801\n"
    i = tx_837i(claim_i("I-ZOLGENSMA-2DA", "ABK:G120", days))
    p = tx_837p(claim_p("P-ZOLGENSMA-60MJ", "ABK:G120", minutes))
    rows = {**check_json(i, tmp_path), **check_json(p, tmp_path)}
    for cid, word in (("I-ZOLGENSMA-2DA", "2 days (DA)"), ("P-ZOLGENSMA-60MJ", "60 minutes (MJ)")):
        (row,) = rows[cid]
        assert (row["rule_id"], row["severity"], row["decision"]) == ("CGT-UNITS-OVER-MAX", "error", "reject"), cid
        assert "per treatment, counted in units (UN)" in row["message"] and word in row["message"], row["message"]
    status, clean, ack = run_filter(i, tmp_path)
    assert status == 1 and list(rejected_claims(ack)) == ["I-ZOLGENSMA-2DA"]
    assert rejected_claims(ack)["I-ZOLGENSMA-2DA"].startswith("A7:476") and clean == b""


def test_units_are_summed_per_code_and_date_of_service(tmp_path):
    two_lines = ("LX*1\nSV2*0891*HC:J3392*1100000*UN*1\nDTP*472*D8*20250801\n"
                 "LX*2\nSV2*0891*HC:J3392*1100000*UN*1\nDTP*472*D8*20250801\n")
    two_days = two_lines.replace("LX*2\nSV2*0891*HC:J3392*1100000*UN*1\nDTP*472*D8*20250801",
                                 "LX*2\nSV2*0891*HC:J3392*1100000*UN*1\nDTP*472*D8*20250802")
    data = tx_837i(claim_i("I-CASGEVY-2X1", "ABK:D5700", two_lines),
                   claim_i("I-CASGEVY-2DAYS", "ABK:D5700", two_days, dates="20250801-20250802"))
    rows = check_json(data, tmp_path)
    (row,) = rows["I-CASGEVY-2X1"]
    assert (row["rule_id"], row["severity"], row["line_number"]) == ("CGT-UNITS-OVER-MAX", "error", 2)
    assert "2 units over lines 1, 2 on 2025-08-01" in row["message"] and "at most 1 per date of service" in row["message"]
    assert findings(rows["I-CASGEVY-2DAYS"]) == set()
    status, clean, ack = run_filter(data, tmp_path)
    assert status == 1 and list(rejected_claims(ack)) == ["I-CASGEVY-2X1"]
    assert b"CLM*I-CASGEVY-2DAYS*" in clean and b"CLM*I-CASGEVY-2X1*" not in clean


# -- 4. synovial sarcoma: a malignant neoplasm, or outside the section -----------------------------
def test_synovial_sarcoma_needs_a_malignant_neoplasm_diagnosis(tmp_path):
    tecelra = "LX*1\nSV2*0891*HC:Q2057*727000*UN*1\nDTP*472*D8*20250801\n"
    data = tx_837i(claim_i("T-SCD", "ABK:D5700", tecelra), claim_i("T-SOFT-TISSUE", "ABK:C493", tecelra),
                   claim_i("T-BREAST", "ABK:C50911", tecelra), claim_i("T-LUNG-METS", "ABK:C7800", tecelra))
    rows = check_json(data, tmp_path)
    assert findings(rows["T-SCD"]) == {("CGT-DIAGNOSIS-OUTSIDE-SECTION", "error")}
    assert "malignant neoplasm" in rows["T-SCD"][0]["message"]
    assert findings(rows["T-SOFT-TISSUE"]) == set() and findings(rows["T-LUNG-METS"]) == set()
    assert findings(rows["T-BREAST"]) == {("CGT-DIAGNOSIS-NOT-INDICATED", "warning")}
    status, clean, ack = run_filter(data, tmp_path)
    assert status == 1 and list(rejected_claims(ack)) == ["T-SCD"]
    assert rejected_claims(ack)["T-SCD"].startswith("A8:488")
    assert b"Synovial Sarcoma" in ack  # the passage the rejection rests on


# -- 5. beta thalassemia: D56.8 resolved, and a label family outside its section refused -------------
def test_beta_thalassemia_d568_is_outside_the_section(tmp_path):
    zynteglo = "LX*1\nSV2*0891*HC:J3393*2800000*UN*1\nDTP*472*D8*20250801\n"
    data = tx_837i(claim_i("Z-D568", "ABK:D568", zynteglo), claim_i("Z-D561", "ABK:D561", zynteglo))
    rows = check_json(data, tmp_path)
    assert findings(rows["Z-D568"]) == {("CGT-DIAGNOSIS-OUTSIDE-SECTION", "error")}
    assert "beta thalassemia" in rows["Z-D568"][0]["message"] and "D568" in rows["Z-D568"][0]["message"]
    assert findings(rows["Z-D561"]) == set()


LABEL_OUTSIDE = """<?xml version="1.0" encoding="UTF-8"?>
<policy id="label-outside" revises="medi-cal-cgt-2025-07" effective="2025-09-01" format="1" title="bad label family">
  <diagnosis-families>
    <family id="TDT" name="Beta thalassemia with D56.8" confidence="U">
      <include prefix="D561"/>
      <include prefix="D568"/>
    </family>
  </diagnosis-families>
</policy>
"""


def test_policy_refuses_a_label_family_outside_its_section(tmp_path):
    from edi_cgt.policy import PolicyError, load_policy

    rev = tmp_path / "label-outside.xml"
    rev.write_text(LABEL_OUTSIDE)
    line = LABEL_OUTSIDE[: LABEL_OUTSIDE.index('<family id="TDT"')].count("\n") + 1
    res = run_cli("policy", "validate", str(rev))
    assert res.returncode == 2, res.stdout + res.stderr
    text = (res.stdout + res.stderr).decode()
    assert f"{rev}:{line}:" in text and "label family 'TDT'" in text and "D568" in text, text
    assert "J3392" in text and "J3393" in text  # both therapies that name TDT
    try:
        load_policy(rev)
    except PolicyError as exc:
        assert {(p.source, p.line) for p in exc.problems} == {(str(rev), line)}
    else:
        raise AssertionError("the loader accepted a label family outside its section")
    res = run_cli("check", "-", "--policy", str(rev), stdin=tx_837i())
    assert res.returncode == 2 and b"label family 'TDT'" in res.stderr


# -- 6. REMS: an error before the FDA ended it, a warning after ---------------------------------
def test_rems_roster_warns_after_the_fda_ended_the_rems(tmp_path):
    def yescarta(day: str) -> str:
        return f"LX*1\nSV1*HC:Q2041*400000*UN*1***1\nDTP*472*D8*{day}\n"

    data = tx_837p(claim_p("R-BEFORE", "ABK:C8330", yescarta("20250625"), facility=OTHER_NPI),
                   claim_p("R-ENDED", "ABK:C8330", yescarta("20250626"), facility=OTHER_NPI),
                   claim_p("R-CERTIFIED", "ABK:C8330", yescarta("20250801"), facility=BILLING_NPI))
    site = SITE_PAYERS + f'[facilities]\nrems_certified = ["{BILLING_NPI}"]\n'
    rows = check_json(data, tmp_path, site)
    assert findings(rows["R-BEFORE"]) == {("CART-REMS-FACILITY", "error")}
    assert findings(rows["R-ENDED"]) == {("CART-REMS-FACILITY", "warning")}
    assert "FDA ended this REMS on 2025-06-26" in rows["R-ENDED"][0]["message"]
    assert findings(rows["R-CERTIFIED"]) == set()
    no_roster = check_json(data, tmp_path)  # no rems_certified: nothing to check against
    assert all(findings(r) == set() for r in no_roster.values())
    status, clean, ack = run_filter(data, tmp_path, site)
    assert status == 1 and list(rejected_claims(ack)) == ["R-BEFORE"]
    assert rejected_claims(ack)["R-BEFORE"].startswith("A7:743:77")
    assert b"CLM*R-ENDED*" in clean and b"CLM*R-CERTIFIED*" in clean
