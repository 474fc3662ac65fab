# The rule table: one case per row, each a claim spec (plain data) and the rule ids it must
# fire. `claim_from_spec` writes each spec as real 837 text with the project's builder and
# reads it back through the real reader, so every case exercises reader + model + engine.
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

from bench.corpus import ClaimSpec, LineSpec, PayerSpec, PersonSpec, ProviderSpec, build_837
from edi_cgt.pipeline import read_claims
from edi_cgt.claims.model import Claim
from edi_cgt.policy import evaluate, load_policy, parse_site_text
from edi_cgt.policy.site import SiteSettings

BILLING_NPI = "1234567893"
OTHER_NPI = "9876543213"
QTC_NPI = "1111111112"
HTC_NPI = "2222222228"
TAR = "12345678901"
FFS = "610442"
MCP = "PLAN01"

SITE_FULL = f"""
[payers]
ffs = ["{FFS}"]
mcp = ["{MCP}", "PLAN02"]
[facilities]
rems_certified = ["{BILLING_NPI}"]
qualified_treatment_centers = ["{QTC_NPI}"]
hemophilia_treatment_centers = ["{HTC_NPI}"]
"""
SITE_PAYERS = f"""
[payers]
ffs = ["{FFS}"]
mcp = ["{MCP}"]
"""


def _date(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def claim_from_spec(spec: dict[str, Any]) -> Claim:
    """Build a claim from a spec by writing it as real 837 text (the project's builder) and
    reading it back through the real reader. Spec keys: kind P|I, pos or tob, freq, dx (first
    is principal), cc (condition codes), auth (2300 REF*G1), p4 (REF*P4), payer, facility
    (NM1*77 NPI), billing, lines: [{code, units, mods, date 'YYYY-MM-DD' or
    'YYYY-MM-DD/YYYY-MM-DD', pos, auth}]."""
    kind = spec.get("kind", "I")
    freq = spec.get("freq", "1")
    facility_code = spec.get("tob", "0131")[1:3] if kind == "I" else spec.get("pos", "22")
    lines = []
    for ln in spec.get("lines", ()):
        d = ln.get("date", spec.get("date", "2025-08-01"))
        start, _, end = d.partition("/")
        lines.append(
            LineSpec(
                code=ln["code"],
                charge=Decimal("100"),
                units=Decimal(str(ln.get("units", 1))),
                modifiers=tuple(ln.get("mods", ())),
                unit_basis=ln.get("basis", "UN"),
                revenue_code="0891" if kind == "I" else None,
                place_of_service=ln.get("pos"),
                service_date=_date(start),
                service_end=_date(end) if end else None,
                prior_authorizations=tuple(ln.get("auth", ())),
            )
        )
    auth = spec.get("auth", (TAR,))
    facility = spec.get("facility")
    claim_spec = ClaimSpec(
        claim_id=spec.get("id", "PCN1"),
        kind=kind,
        facility_code=facility_code,
        diagnoses=tuple(spec.get("dx", ())) or ("R69",),
        lines=tuple(lines),
        subscriber=PersonSpec("TESTPATIENT", "RULE", "MCAL000001", dt.date(1990, 1, 1)),
        billing_provider=ProviderSpec("HOSPITAL", spec.get("billing", BILLING_NPI), tax_id="123456789"),
        payer=PayerSpec(spec.get("payer", FFS), "MEDI-CAL"),
        frequency=freq,
        condition_codes=tuple(spec.get("cc", ())),
        prior_authorization=auth[0] if auth else None,
        payer_claim_number="12345678901234" if freq in ("7", "8") else None,
        demonstration_project=spec.get("p4"),
        service_facility=ProviderSpec("CLINIC", facility) if facility else None,
        attending=ProviderSpec("ATTENDING", "1245319599", first_name="DOC") if kind == "I" else None,
    )
    data = build_837([claim_spec])
    if not spec.get("dx"):
        # An 837 must carry a principal diagnosis; a claim that does not is made by removing
        # its HI segment from otherwise valid text (the reader accepts it, the rules judge it).
        data = re.sub(rb"HI\*ABK:R69~\n?", b"", data)
        se = re.search(rb"SE\*(\d+)\*", data)
        data = data[: se.start(1)] + str(int(se.group(1)) - 1).encode() + data[se.end(1) :]
    (claim,) = read_claims([data], where="rule-table.837")
    return claim


def L(code: str, **kw: Any) -> dict[str, Any]:
    return {"code": code, **kw}


# (name, spec, site toml or None, as_of or None, expected rule ids, rejected?)
CASES: list[tuple[str, dict, str | None, str | None, set[str], bool]] = [
    # ---- one accepting and one rejecting claim per therapy section -----------------------------
    ("car-t accepted", {"dx": ["C8330"], "lines": [L("Q2041")]}, SITE_PAYERS, None, set(), False),
    ("car-t rejected: office", {"kind": "P", "pos": "11", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("scd accepted: FFS payer", {"dx": ["D5700"], "lines": [L("J3394")]}, SITE_PAYERS, None, set(), False),
    ("scd rejected: office", {"kind": "P", "pos": "11", "dx": ["D5700"], "lines": [L("J3394")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("hemophilia accepted", {"dx": ["D67"], "lines": [L("J1411")]}, SITE_PAYERS, None, set(), False),
    ("hemophilia rejected: no TAR", {"auth": [], "dx": ["D67"], "lines": [L("J1411")]}, SITE_PAYERS, None, {"CGT-AUTH-REQUIRED"}, True),
    ("dmd accepted", {"dx": ["G7101"], "lines": [L("J1413")]}, SITE_PAYERS, None, set(), False),
    ("dmd rejected: 2 units", {"dx": ["G7101"], "lines": [L("J1413", units=2)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("dmd rejected: home (POS 12)", {"kind": "P", "pos": "12", "dx": ["G7101"], "lines": [L("J1413")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("sma accepted", {"dx": ["G120"], "lines": [L("J3399")]}, SITE_PAYERS, None, set(), False),
    ("sma rejected: inpatient DRG bill", {"tob": "0111", "dx": ["G120"], "lines": [L("J3399")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED", "CGT-NOT-UNDER-DRG"}, True),
    ("retinal accepted: office is fine", {"kind": "P", "pos": "11", "dx": ["H3552"], "lines": [L("J3398", units=150)]}, SITE_PAYERS, None, set(), False),
    ("retinal rejected: no TAR", {"kind": "P", "pos": "11", "auth": [], "dx": ["H3552"], "lines": [L("J3398", units=150)]}, SITE_PAYERS, None, {"CGT-AUTH-REQUIRED"}, True),
    ("beta-thal accepted: QTC roster", {"kind": "P", "pos": "11", "billing": QTC_NPI, "dx": ["D561"], "lines": [L("J3393")]}, SITE_FULL, None, set(), False),
    ("beta-thal rejected: office, not a QTC", {"kind": "P", "pos": "11", "dx": ["D561"], "lines": [L("J3393")]}, SITE_FULL, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("synovial accepted", {"dx": ["C493"], "date": "2025-05-01", "lines": [L("Q2057")]}, SITE_PAYERS, None, set(), False),
    ("synovial rejected: ambulatory surgery center bill 0831", {"tob": "0831", "dx": ["C493"], "lines": [L("Q2057")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("synovial rejected: code not yet valid", {"dx": ["C493"], "date": "2025-03-01", "lines": [L("Q2057")]}, SITE_PAYERS, None, {"CGT-CODE-NOT-IN-EFFECT"}, True),
    # ---- CGT-AUTH-REQUIRED / CGT-AUTH-FORMAT ------------------------------------------------------
    ("auth on the 837P line only", {"kind": "P", "auth": [], "dx": ["C900"], "lines": [L("Q2055", auth=[TAR])]}, SITE_PAYERS, None, set(), False),
    ("void without TAR is not rejected", {"freq": "8", "auth": [], "dx": ["C900"], "lines": [L("Q2055")]}, SITE_PAYERS, None, set(), False),
    ("replacement without TAR is rejected", {"freq": "7", "auth": [], "dx": ["C900"], "lines": [L("Q2055")]}, SITE_PAYERS, None, {"CGT-AUTH-REQUIRED"}, True),
    ("non-CGT claim needs no TAR", {"auth": [], "dx": ["I10"], "lines": [L("99213")]}, SITE_PAYERS, None, set(), False),
    ("TAR not 11 digits warns", {"auth": ["ABC123"], "dx": ["C900"], "lines": [L("Q2056")]}, SITE_PAYERS, None, {"CGT-AUTH-FORMAT"}, False),
    ("line TAR not 11 digits warns", {"kind": "P", "auth": [], "dx": ["C900"], "lines": [L("Q2056", auth=["9"])]}, SITE_PAYERS, None, {"CGT-AUTH-FORMAT"}, False),
    # ---- clinical trials -------------------------------------------------------------------------
    ("trial: Q0 alone on the CGT line exempts it, with a warning", {"auth": [], "dx": ["C900"], "lines": [L("Q2056", mods=["Q0"])]}, SITE_PAYERS, None, {"CGT-CLINICAL-TRIAL-MODIFIER-ONLY"}, False),
    ("trial: Q0 with REF*P4 exempts the line silently", {"p4": "12345678", "auth": [], "dx": ["C900"], "lines": [L("Q2056", mods=["Q0"])]}, SITE_PAYERS, None, set(), False),
    ("trial: 38228 with Q0 alone warns (not CART-ADMIN-WITHOUT-DRUG)", {"kind": "P", "dx": ["C8330"], "lines": [L("38228", mods=["Q0"])]}, SITE_PAYERS, None, {"CGT-CLINICAL-TRIAL-MODIFIER-ONLY"}, False),
    ("trial: Kymriah with Q1 alone and no TAR warns", {"auth": [], "dx": ["C910"], "lines": [L("Q2042", mods=["Q1"])]}, SITE_PAYERS, None, {"CGT-CLINICAL-TRIAL-MODIFIER-ONLY"}, False),
    ("trial: Q1 alone, site makes the warning an error", {"auth": [], "dx": ["C910"], "lines": [L("Q2042", mods=["Q1"])]}, SITE_PAYERS + '[severity]\n"CGT-CLINICAL-TRIAL-MODIFIER-ONLY" = "error"\n', None, {"CGT-CLINICAL-TRIAL-MODIFIER-ONLY"}, True),
    ("trial: Q1 on a routine line alone is not a CGT matter", {"dx": ["C910"], "lines": [L("Q2042"), L("96365", mods=["Q1"])]}, SITE_PAYERS, None, set(), False),
    ("trial: Z00.6 exempts the claim", {"kind": "P", "pos": "11", "auth": [], "dx": ["C900", "Z006"], "lines": [L("Q2056")]}, SITE_PAYERS, None, set(), False),
    ("trial: condition code 30 exempts the claim", {"tob": "0111", "auth": [], "dx": ["C900"], "cc": ["30"], "lines": [L("Q2041")]}, SITE_PAYERS, None, set(), False),
    ("trial: REF*P4 alone only warns", {"p4": "12345678", "auth": [], "dx": ["C900"], "lines": [L("Q2056")]}, SITE_PAYERS, None, {"CGT-AUTH-REQUIRED", "CGT-CLINICAL-TRIAL-UNMARKED"}, True),
    ("trial: REF*P4 with TAR is accepted with a warning", {"p4": "12345678", "dx": ["C900"], "lines": [L("Q2056")]}, SITE_PAYERS, None, {"CGT-CLINICAL-TRIAL-UNMARKED"}, False),
    ("trial: Q1 on a different line does not exempt the CGT line", {"auth": [], "dx": ["C900"], "lines": [L("Q2056"), L("96365", mods=["Q1"])]}, SITE_PAYERS, None, {"CGT-AUTH-REQUIRED"}, True),
    # ---- setting -------------------------------------------------------------------------------
    ("837P POS 19 is outpatient", {"kind": "P", "pos": "19", "dx": ["C910"], "lines": [L("Q2042")]}, SITE_PAYERS, "2025-03-01", set(), False),
    ("line SV105 22 overrides claim POS 11", {"kind": "P", "pos": "11", "dx": ["C910"], "lines": [L("Q2042", pos="22")]}, SITE_PAYERS, None, set(), False),
    ("line SV105 11 overrides claim POS 22", {"kind": "P", "pos": "22", "dx": ["C910"], "lines": [L("Q2042", pos="11")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("837I ASC bill 0831 is not outpatient hospital", {"tob": "0831", "dx": ["C910"], "lines": [L("Q2042")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("hemophilia at an HTC office", {"kind": "P", "pos": "11", "billing": HTC_NPI, "dx": ["D66"], "lines": [L("J1412", units=200)]}, SITE_FULL, None, set(), False),
    ("hemophilia at a QTC is not an HTC", {"kind": "P", "pos": "11", "billing": QTC_NPI, "dx": ["D66"], "lines": [L("J1412", units=200)]}, SITE_FULL, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("roster matches the service facility, not the billing NPI", {"kind": "P", "pos": "11", "billing": QTC_NPI, "facility": OTHER_NPI, "dx": ["D561"], "lines": [L("J3393")]}, SITE_FULL, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    ("CAH bill without site option warns", {"tob": "0851", "dx": ["G7101"], "lines": [L("J1413")]}, SITE_PAYERS, None, {"CGT-SETTING-CAH-UNCONFIRMED"}, False),
    ("CAH bill allowed by site option", {"tob": "0851", "dx": ["G7101"], "lines": [L("J1413")]}, SITE_PAYERS + "[options]\ncritical_access_hospital_outpatient = true\n", None, set(), False),
    ("CAH bill refused by site option", {"tob": "0851", "dx": ["G7101"], "lines": [L("J1413")]}, SITE_PAYERS + "[options]\ncritical_access_hospital_outpatient = false\n", None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    # ---- DRG ---------------------------------------------------------------------------------------
    ("Kymriah on an inpatient bill", {"tob": "0121", "dx": ["C910"], "lines": [L("Q2042")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED", "CGT-NOT-UNDER-DRG"}, True),
    ("Casgevy inpatient: setting only (not a DRG-carve-out code)", {"tob": "0111", "dx": ["D561"], "lines": [L("J3392")]}, SITE_PAYERS, None, {"CGT-SETTING-NOT-ALLOWED"}, True),
    # ---- REMS ------------------------------------------------------------------------------------
    ("REMS: facility not certified before 2025-06-26", {"facility": OTHER_NPI, "date": "2025-03-01", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_FULL, None, {"CART-REMS-FACILITY"}, True),
    ("REMS: certified facility", {"date": "2025-03-01", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_FULL, None, set(), False),
    ("REMS: ended 2025-06-26, a listed roster still warns", {"facility": OTHER_NPI, "date": "2025-06-26", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_FULL, None, {"CART-REMS-FACILITY"}, False),
    ("REMS: the day before the end is an error", {"facility": OTHER_NPI, "date": "2025-06-25", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_FULL, None, {"CART-REMS-FACILITY"}, True),
    ("REMS: certified facility after the end", {"date": "2025-08-01", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_FULL, None, set(), False),
    ("REMS: after the end, no rems_certified key, no check", {"facility": OTHER_NPI, "date": "2025-08-01", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_PAYERS, None, set(), False),
    ("REMS: no rems_certified key, no check", {"facility": OTHER_NPI, "date": "2025-03-01", "dx": ["C8330"], "lines": [L("Q2041")]}, SITE_PAYERS, None, set(), False),
    ("REMS: Aucatzyl never had one", {"facility": OTHER_NPI, "date": "2025-07-01", "dx": ["C910"], "lines": [L("Q2058")]}, SITE_FULL, None, set(), False),
    # ---- 38228 companion ----------------------------------------------------------------------------
    ("38228 without drug", {"date": "2025-03-01", "dx": ["C8330"], "lines": [L("38228")]}, SITE_PAYERS, None, {"CART-ADMIN-WITHOUT-DRUG"}, True),
    ("38228 with drug", {"date": "2025-03-01", "dx": ["C8330"], "lines": [L("Q2041"), L("38228")]}, SITE_PAYERS, None, set(), False),
    ("Aucatzyl day 10 without its own Q2058 line warns", {"dx": ["C910"], "lines": [L("Q2058", date="2025-08-01"), L("38228", date="2025-08-01"), L("38228", date="2025-08-11")]}, SITE_PAYERS, None, {"CART-ADMIN-DRUG-DATE"}, False),
    ("Aucatzyl billed per infusion", {"dx": ["C910"], "lines": [L("Q2058", date="2025-08-01"), L("38228", date="2025-08-01"), L("Q2058", date="2025-08-11"), L("38228", date="2025-08-11")]}, SITE_PAYERS, None, set(), False),
    # ---- bundling -------------------------------------------------------------------------------
    ("hydration on the infusion day warns", {"dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("96360"), L("J7050")]}, SITE_PAYERS, None, {"CART-ADMIN-BUNDLED"}, False),
    ("hydration on the infusion day, site makes it an error", {"dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("96360")]}, SITE_PAYERS + '[severity]\n"CART-ADMIN-BUNDLED" = "error"\n', None, {"CART-ADMIN-BUNDLED"}, True),
    ("hydration on another day is fine", {"dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("96360", date="2025-08-03")]}, SITE_PAYERS, None, set(), False),
    ("hydration without 38228 is fine", {"dx": ["C8330"], "lines": [L("Q2041"), L("96360")]}, SITE_PAYERS, None, set(), False),
    ("tocilizumab same day: review warning", {"dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("J3262", units=800)]}, SITE_PAYERS, None, {"CART-ADMIN-SAME-DAY-REVIEW"}, False),
    ("site switches the bundling rule off", {"dx": ["C8330"], "lines": [L("Q2041"), L("38228"), L("96360")]}, SITE_PAYERS + '[severity]\n"CART-ADMIN-BUNDLED" = "off"\n', None, set(), False),
    # ---- units ------------------------------------------------------------------------------------
    ("Yescarta 2 units", {"dx": ["C8330"], "lines": [L("Q2041", units=2)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Yescarta fractional unit", {"dx": ["C8330"], "lines": [L("Q2041", units="0.5")]}, SITE_PAYERS, None, set(), False),
    ("Roctavian 300 mL", {"dx": ["D66"], "lines": [L("J1412", units=300)]}, SITE_PAYERS, None, set(), False),
    ("Roctavian 400 mL only warns", {"dx": ["D66"], "lines": [L("J1412", units=400)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, False),
    ("Luxturna 300 units on one line only warns", {"dx": ["H3552"], "lines": [L("J3398", units=300)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, False),
    ("Aucatzyl 2 units on one line", {"dx": ["C910"], "lines": [L("Q2058", units=2)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Zolgensma in days (DA) is the wrong unit", {"dx": ["G120"], "lines": [L("J3399", units=2, basis="DA")]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Zolgensma in minutes (MJ) is the wrong unit", {"kind": "P", "dx": ["G120"], "lines": [L("J3399", units=60, basis="MJ")]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Roctavian in days is the wrong unit even under its cap", {"dx": ["D66"], "lines": [L("J1412", units=200, basis="DA")]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Casgevy 1 unit on each of two lines of one date", {"dx": ["D5700"], "lines": [L("J3392"), L("J3392")]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, True),
    ("Casgevy 1 unit on each of two dates", {"dx": ["D5700"], "lines": [L("J3392", date="2025-08-01"), L("J3392", date="2025-08-02")]}, SITE_PAYERS, None, set(), False),
    ("Breyanzi half a unit on each of two lines of one date", {"dx": ["C8330"], "lines": [L("Q2054", units="0.5"), L("Q2054", units="0.5")]}, SITE_PAYERS, None, set(), False),
    ("Luxturna 150 + 150 units on one date only warns", {"dx": ["H3552"], "lines": [L("J3398", units=150), L("J3398", units=150)]}, SITE_PAYERS, None, {"CGT-UNITS-OVER-MAX"}, False),
    ("Luxturna 150 units on each of two dates", {"dx": ["H3552"], "lines": [L("J3398", units=150, date="2025-08-01"), L("J3398", units=150, date="2025-08-08")]}, SITE_PAYERS, None, set(), False),
    # ---- diagnosis -------------------------------------------------------------------------------
    ("Yescarta for sickle cell: CAR-T cancers are an open list, warns", {"dx": ["D5700"], "lines": [L("Q2041")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, False),
    ("Tecartus for myeloma: a CAR-T cancer, not on its label", {"dx": ["C9000"], "lines": [L("Q2053")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-NOT-INDICATED"}, False),
    ("Hemgenix for sickle cell is outside the hemophilia section", {"dx": ["D5700"], "lines": [L("J1411")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Hemgenix for hemophilia A: hemophilia, not its label", {"dx": ["D66"], "lines": [L("J1411")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-NOT-INDICATED"}, False),
    ("Zolgensma for DMD is outside the SMA section", {"dx": ["G7101"], "lines": [L("J3399")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Casgevy for sickle trait only", {"dx": ["D573"], "lines": [L("J3392")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Luxturna for macular degeneration", {"kind": "P", "pos": "11", "dx": ["H3530"], "lines": [L("J3398", units=150)]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("CAR-T for primary CNS lymphoma warns", {"dx": ["C83390"], "lines": [L("Q2054")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-NOT-INDICATED"}, False),
    ("Breyanzi for CLL", {"dx": ["C9110"], "lines": [L("Q2054")]}, SITE_PAYERS, None, set(), False),
    ("Tecelra for GIST: a malignant neoplasm, not a synovial sarcoma site (warns)", {"dx": ["C49A2"], "lines": [L("Q2057")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-NOT-INDICATED"}, False),
    ("Tecelra for sickle cell only is outside the section", {"dx": ["D5700"], "lines": [L("Q2057")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Tecelra for breast cancer warns", {"dx": ["C50911"], "lines": [L("Q2057")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-NOT-INDICATED"}, False),
    ("Tecelra for soft tissue of the lower limb", {"dx": ["C4920"], "lines": [L("Q2057")]}, SITE_PAYERS, None, set(), False),
    ("Tecelra for lung metastases (C78)", {"dx": ["C7800"], "lines": [L("Q2057")]}, SITE_PAYERS, None, set(), False),
    ("Zynteglo for other thalassemias (D56.8) is outside the section", {"dx": ["D568"], "lines": [L("J3393")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Casgevy for HbE-beta thalassemia (D56.5)", {"dx": ["D565"], "lines": [L("J3392")]}, SITE_PAYERS, None, set(), False),
    ("Elevidys without any diagnosis", {"dx": [], "lines": [L("J1413")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    # ---- code dates ------------------------------------------------------------------------------
    ("0540T after its termination", {"dx": ["C8330"], "date": "2025-02-01", "lines": [L("Q2041"), L("0540T")]}, SITE_PAYERS, None, {"CGT-CODE-NOT-IN-EFFECT"}, True),
    ("0540T in 2024", {"dx": ["C8330"], "date": "2024-06-01", "lines": [L("Q2041"), L("0540T")]}, SITE_PAYERS, None, set(), False),
    ("38228 before 2025", {"dx": ["C8330"], "date": "2024-12-15", "lines": [L("Q2041"), L("38228")]}, SITE_PAYERS, None, {"CGT-CODE-NOT-IN-EFFECT"}, True),
    ("Q2040 after 2018", {"dx": ["C910"], "date": "2019-03-01", "lines": [L("Q2040")]}, SITE_PAYERS, None, {"CGT-CODE-NOT-IN-EFFECT"}, True),
    ("Q2058 before 2025-07-01", {"dx": ["C910"], "date": "2025-06-01", "lines": [L("Q2058")]}, SITE_PAYERS, None, {"CGT-CODE-NOT-IN-EFFECT"}, True),
    ("as-of overrides the date of service", {"dx": ["C8330"], "date": "2024-06-01", "lines": [L("Q2041"), L("0540T")]}, SITE_PAYERS, "2025-06-01", {"CGT-CODE-NOT-IN-EFFECT"}, True),
    # ---- sickle cell carve-out ------------------------------------------------------------------
    ("Lyfgenia SCD to an MCP on the carve-out date", {"payer": MCP, "date": "2025-07-01", "dx": ["D5700"], "lines": [L("J3394")]}, SITE_PAYERS, None, {"CGT-SCD-CARVE-OUT"}, True),
    ("Lyfgenia SCD to an MCP the day before", {"payer": MCP, "date": "2025-06-30", "dx": ["D5700"], "lines": [L("J3394")]}, SITE_PAYERS, None, set(), False),
    ("Lyfgenia SCD to FFS", {"payer": FFS, "date": "2025-07-15", "dx": ["D5701"], "lines": [L("J3394")]}, SITE_PAYERS, None, set(), False),
    ("Lyfgenia for sickle trait is not carved out (but outside the section)", {"payer": MCP, "date": "2025-07-15", "dx": ["D573"], "lines": [L("J3394")]}, SITE_PAYERS, None, {"CGT-DIAGNOSIS-OUTSIDE-SECTION"}, True),
    ("Casgevy SCD to an MCP in Sept 2025 only warns", {"payer": MCP, "date": "2025-09-15", "dx": ["D5700"], "lines": [L("J3392")]}, SITE_PAYERS, None, {"CGT-SCD-CARVE-OUT"}, False),
    ("Casgevy SCD to an MCP from 2025-10-01 is an error", {"payer": MCP, "date": "2025-10-01", "dx": ["D5700"], "lines": [L("J3392")]}, SITE_PAYERS, None, {"CGT-SCD-CARVE-OUT"}, True),
    ("Casgevy beta thal stays with the MCP", {"payer": MCP, "date": "2025-10-15", "dx": ["D561"], "lines": [L("J3392")]}, SITE_PAYERS, None, set(), False),
    ("Lyfgenia SCD, no site file", {"payer": MCP, "date": "2025-08-01", "dx": ["D5700"], "lines": [L("J3394")]}, None, None, {"CGT-SCD-CARVE-OUT-PAYER-UNKNOWN"}, False),
    ("Lyfgenia SCD, payer in neither list", {"payer": "OTHER9", "date": "2025-08-01", "dx": ["D5700"], "lines": [L("J3394")]}, SITE_PAYERS, None, {"CGT-SCD-CARVE-OUT-PAYER-UNKNOWN"}, False),
]


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _site(toml: str | None) -> SiteSettings | None:
    return None if toml is None else parse_site_text(toml)


@pytest.mark.parametrize("name,spec,site,as_of,expected,rejected", CASES, ids=[c[0] for c in CASES])
def test_rule_table(policy, name, spec, site, as_of, expected, rejected):
    claim = claim_from_spec(spec)
    decision = evaluate(claim, policy, _site(site), as_of=dt.date.fromisoformat(as_of) if as_of else None)
    assert set(decision.rule_ids) == expected, [f.message for f in decision.findings]
    assert decision.rejected is rejected
    for f in decision.findings:
        assert f.message and f.passage
        assert f.ack is not None and f.ack.category in {"A3", "A6", "A7", "A8"}


def test_every_rule_and_section_is_covered(policy):
    view = policy.latest
    fired = set().union(*(c[4] for c in CASES))
    assert fired == set(view.rules), set(view.rules) ^ fired
    rejecting = {rid for c in CASES if c[5] for rid in c[4]}
    for rid, spec in view.rules.items():
        if spec.severity == "error":
            assert rid in rejecting, f"no rejecting case for {rid}"
    sections = {s for t in view.therapies.values() for s in t.sections}
    covered_accept, covered_reject = set(), set()
    for _, spec, *_rest, rejected in CASES:
        for ln in spec.get("lines", ()):
            t = view.therapies.get(ln["code"])
            if t:
                (covered_reject if rejected else covered_accept).update(t.sections)
    assert sections <= covered_accept and sections <= covered_reject


def test_findings_carry_the_line_and_the_policy_ack(policy):
    claim = claim_from_spec({"kind": "P", "pos": "11", "auth": [], "dx": ["C8330"], "lines": [L("96365"), L("Q2041")]})
    d = evaluate(claim, policy)
    by_rule = {f.rule_id: f for f in d.findings}
    auth = by_rule["CGT-AUTH-REQUIRED"]
    assert (auth.line_number, auth.code) == (2, "Q2041")
    assert (auth.ack.category, auth.ack.status, auth.ack.entity) == ("A6", "252", "85")
    setting = by_rule["CGT-SETTING-NOT-ALLOWED"]
    assert (setting.ack.category, setting.ack.status, setting.ack.extra_status) == ("A8", "249", "454")  # 837P mapping
    assert "hospital outpatient" in setting.passage
    inst = evaluate(claim_from_spec({"tob": "0831", "dx": ["C8330"], "lines": [L("Q2041")]}), policy)
    assert inst.findings[0].ack.status == "228"  # 837I mapping


def test_site_cannot_soften_a_non_configurable_rule(policy):
    site = parse_site_text('[severity]\n"CGT-AUTH-REQUIRED" = "off"\n')  # no policy given: accepted here ...
    d = evaluate(claim_from_spec({"auth": [], "dx": ["C8330"], "lines": [L("Q2041")]}), policy, site)
    assert d.rule_ids == ("CGT-AUTH-REQUIRED",) and d.rejected  # ... but the engine ignores it
