# The 837 claim model as the walker reads it from real 837P/837I text.
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from support import I_BODY, P_BODY, SAMPLES, error_lines, interchange, manifest_counts, run_cli, sample_rows

from edi_cgt.pipeline import read_claims
from edi_cgt.x12.errors import X12SyntaxError

def claims_of(data: bytes, events: list | None = None):
    def note(name: str, **fields: object) -> None:
        if events is not None:
            events.append((name, fields))

    return list(read_claims([data], where="test.837", on_event=note))


def test_837p_claims_carry_their_hierarchy_and_lines():
    a, b = claims_of(interchange(P_BODY))
    assert (a.claim_id, a.kind, a.total_charge) == ("CLAIM-A", "P", Decimal("400500"))
    assert (a.facility_code, a.frequency, a.type_of_bill) == ("22", "1", None)
    assert a.prior_authorizations == ("12345678901",)
    assert a.demonstration_project == "87654321" and a.clearinghouse_trace == "TRACE-A"
    assert a.diagnosis_codes == ("C8338", "Z006")
    assert a.billing_provider.npi == "1234567893" and a.billing_provider.tax_id == "123456789"
    assert a.service_facility.npi == "1245319599" and a.service_facility_npi == "1245319599"
    assert a.payer.payer_id == "610442"  # 2010BB, not the 2330B other payer
    assert [p.payer_id for p in a.other_payers] == ["OTHER01"]
    assert a.subscriber.member_id == "MCAL000001" and a.subscriber.birth_date == dt.date(2010, 1, 2)
    assert a.patient is None and a.member is a.subscriber
    l1, l2 = a.lines
    assert (l1.code, l1.modifiers, l1.units, l1.place_of_service) == ("Q2041", ("Q0",), Decimal(1), "19")
    assert l1.control_number == "LINE-A1" and l1.prior_authorizations == ("LINEAUTH1",)
    assert l1.ndcs == ("71287011901",)
    assert l2.service_dates.start == dt.date(2025, 3, 1) and l2.service_dates.end == dt.date(2025, 3, 2)
    assert a.line_place_of_service(l2) == "22"  # falls back to CLM05-1
    assert a.service_dates.start == dt.date(2025, 3, 1) and a.service_dates.end == dt.date(2025, 3, 2)
    # the second claim hangs under a 2000C patient of a different subscriber and payer
    assert b.claim_id == "CLAIM-B" and b.is_void
    assert b.patient.last_name == "TESTCHILD" and b.patient.birth_date == dt.date(2020, 5, 5)
    assert b.subscriber.member_id == "MCAL000002" and b.member is b.patient
    assert b.payer.payer_id == "MCPLAN01" and b.other_payers == ()
    assert b.transaction.reference == "BATCH42" and b.transaction.submitter.npi == "SUB01"
    assert b.location.claim_index == 2 and b.location.segment_number > a.location.segment_number


def test_837i_claims_carry_type_of_bill_statement_dates_and_condition_codes():
    (c,) = claims_of(interchange(I_BODY, version="005010X223A2"))
    assert (c.kind, c.type_of_bill, c.facility_qualifier) == ("I", "0131", "A")
    assert c.statement_dates.start == dt.date(2025, 6, 1)
    assert c.condition_codes == ("30",) and c.diagnosis_codes == ("C4900",)
    assert c.attending.npi == "1245319599"
    q, room = c.lines
    assert (q.revenue_code, q.code) == ("0891", "Q2057")
    assert (room.revenue_code, room.code, room.units) == ("0260", "", Decimal(2))
    assert c.line_dates(room) == c.statement_dates  # no DTP*472 on the line
    assert c.transaction.kind == "I"


@pytest.mark.parametrize("version", ["005010X222", "005010X222A1", "005010X222A2"])
def test_837p_version_family_is_accepted(version):
    body = P_BODY.replace("005010X222A1", version)
    assert [c.kind for c in claims_of(interchange(body, version=version))] == ["P", "P"]


@pytest.mark.parametrize("version", ["005010X223", "005010X223A1", "005010X223A2", "005010X223A3"])
def test_837i_version_family_is_accepted(version):
    body = I_BODY.replace("005010X223A2", version)
    assert [c.kind for c in claims_of(interchange(body, version=version))] == ["I"]


@pytest.mark.parametrize(
    "change, words",
    [
        (("NM1*40*2*MEDI-CAL", "NM1*40**MEDI-CAL"), "NM102 is required but empty"),
        (("N3*1 MAIN ST\nN4*OAKLAND*CA*94601\nREF*EI", "REF*EI*X\nN3*1 MAIN ST\nN4*OAKLAND*CA*94601\nREF*EI"), "out of order"),
        (("DMG*D8*20100102*F", "Dm9*D8*20100102*F"), "invalid segment identifier 'Dm9'"),
        (("DMG*D8*20100102*F", "ZZZ*D8"), "unknown segment 'ZZZ'"),
        (("DTP*472*D8*20250301", "DTP*472*D8*20251301"), "invalid date '20251301'"),
        (("SV1*HC:38228*500*UN*1", "SV1*HC:38228*5O0*UN*1"), "SV102 charge '5O0' is not a number"),
    ],
    ids=["missing-element", "out-of-order", "bad-id", "unknown-id", "bad-date", "bad-amount"],
)
def test_unreadable_claims_are_skipped_naming_the_segment_and_problem(change, words):
    body = P_BODY.replace(*change)
    events: list = []
    read = claims_of(interchange(body), events)
    problems = [f for name, f in events if name in ("claim_passed_through", "transaction_passed_through")]
    assert problems and all(words in f["problem"] and f["file"] == "test.837" for f in problems)
    assert all(isinstance(f["segment"], int) and f["segment"] > 3 for f in problems)
    assert len(read) + sum(f.get("claims", 1) for f in problems) == 2  # every claim is read or skipped


def test_claims_command_prints_json_lines_without_phi(tmp_path):
    path = tmp_path / "in.837"
    path.write_bytes(interchange(P_BODY))
    res = run_cli("claims", str(path))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 2 and '"claim_id":"CLAIM-A"' in lines[0]
    for phi in (b"TESTPATIENT", b"MCAL000001", b"2010-01-02", b"TESTCHILD"):
        assert phi not in res.stdout and phi not in res.stderr
    with_phi = run_cli("claims", "--phi", str(path))
    assert b"TESTPATIENT" in with_phi.stdout


def test_claims_command_reads_stdin_and_gzip(tmp_path):
    import gzip

    data = interchange(P_BODY)
    res = run_cli("claims", "-", stdin=gzip.compress(data))
    assert res.returncode == 0 and res.stdout.count(b"\n") == 2


WELL_FORMED = [r for r in sample_rows() if r["type"] in ("837P", "837I", "837P-synthetic", "837I-synthetic")]
MALFORMED = [r for r in sample_rows() if "MALFORMED" in r["file"]]


@pytest.mark.skipif(not WELL_FORMED, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", WELL_FORMED, ids=lambda r: r["file"])
def test_every_well_formed_sample_yields_its_claim_count(row):
    data = (SAMPLES / row["file"]).read_bytes()
    counts = manifest_counts(row)
    # Independent oracle: split on the ISA's terminator byte and count CLM segments.
    start = data.index(b"ISA")
    term, sep = data[start + 105 : start + 106], data[start + 3 : start + 4]
    naive = sum(1 for s in data.split(term) if s.strip().startswith(b"CLM" + sep))
    assert len(claims_of(data)) == naive
    if counts is not None:
        assert naive == counts[3]


@pytest.mark.skipif(not MALFORMED, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", MALFORMED, ids=lambda r: r["file"])
def test_every_malformed_sample_ends_with_a_clear_error_or_a_skipped_claim(row):
    """Input that cannot be cut into segments is refused (exit 2, one message naming the file
    and segment); a claim or transaction that cannot be read is skipped, said in the log with
    its segment number and problem (exit 3), and the other claims are printed."""
    path = SAMPLES / row["file"]
    res = run_cli("claims", str(path))
    err = res.stderr.decode()
    assert res.returncode in (2, 3), err
    assert "Traceback" not in err
    if res.returncode == 2:
        message = error_lines(err)
        assert len(message) == 1 and str(path) in message[0] and ": segment " in message[0]
        with pytest.raises(X12SyntaxError):
            claims_of(path.read_bytes())
    else:
        events: list = []
        claims_of(path.read_bytes(), events)
        skipped = [f for name, f in events if name.endswith("passed_through") or name == "transaction_not_supported"]
        assert skipped and all(f["segment"] and f["problem"] for f in skipped)
