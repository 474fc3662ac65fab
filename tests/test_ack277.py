# Tests for the 277CA writer: real claim-model values in, X12 out, checked twice: by pyx12's
# X214 map (the external oracle) and by reading the segments back (HL tree, counts, echoes).
from __future__ import annotations

import datetime as dt
import io
import json
import logging
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyx12.params
import pyx12.x12n_document

from edi_cgt.claims.model import (
    Claim,
    ClaimLocation,
    DateRange,
    Person,
    Provider,
    ServiceLine,
    TransactionInfo,
)
from edi_cgt.policy.findings import ERROR, WARNING, AckCode, Decision, Finding
from edi_cgt.writers import ack277
from edi_cgt.writers.ack277 import AckWriter
from edi_cgt.x12.delimiters import Delimiters, detect_delimiters

NOW = dt.datetime(2025, 1, 3, 9, 0)
D = dt.date


# -- pyx12 oracle ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pyx12Result:
    ok: bool
    errors: list[str]  # "SEG: message" for every error pyx12 reported, at any level
    transactions: int  # ST..SE sets pyx12 saw
    ack_codes: list[str]  # per transaction (A = accepted)


def _collect(node: dict, where: str, errors: list[str]) -> None:
    for err in node.get("errors", []):
        errors.append(f"{where}: {err.get('err_str', err)}")
    for seg in node.get("segments", []):
        _collect(seg, f"{seg['seg_id']}#{seg['seg_count']}", errors)
    for ele in node.get("elements", []):
        _collect(ele, f"{where}/{ele['name']}", errors)


def pyx12_validate(data: bytes, tmp_path: Path) -> Pyx12Result:
    """Run pyx12's x12n_document over `data`; collect every error from its JSON report.

    x12valid's exit code is 1 either way, so the API's boolean plus the JSON error tree are used.
    """
    path = tmp_path / f"ack{len(list(tmp_path.iterdir()))}.277"
    path.write_bytes(data)
    param = pyx12.params.params()
    fd_999, fd_json = io.StringIO(), io.StringIO()
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    ok = pyx12.x12n_document.x12n_document(param, str(path), fd_999, None, None, fd_json=fd_json)
    report = json.loads(fd_json.getvalue())
    errors: list[str] = []
    transactions = 0
    ack_codes: list[str] = []
    for isa in report["interchanges"]:
        _collect(isa, "ISA", errors)
        for gs in isa["groups"]:
            _collect(gs, "GS", errors)
            for tx in gs["transactions"]:
                transactions += 1
                ack_codes.append(tx["ack_code"])
                _collect(tx, "ST", errors)
    return Pyx12Result(ok, errors, transactions, ack_codes)


def assert_pyx12_valid(data: bytes, tmp_path: Path, transactions: int) -> None:
    result = pyx12_validate(data, tmp_path)
    assert result.errors == []
    assert result.ok
    assert result.transactions == transactions
    assert result.ack_codes == ["A"] * transactions


# -- reading the output back -------------------------------------------------------------------
def segments(data: bytes) -> list[list[str]]:
    d = detect_delimiters(data[:106])
    text = data.decode("latin-1")
    out = []
    for raw in text.split(d.segment_str):
        raw = raw.lstrip("\r\n")
        if raw:
            out.append(raw.split(d.element_str))
    return out


def transaction_sets(segs: list[list[str]]) -> list[list[list[str]]]:
    sets, cur = [], None
    for s in segs:
        if s[0] == "ST":
            cur = [s]
        elif cur is not None:
            cur.append(s)
            if s[0] == "SE":
                sets.append(cur)
                cur = None
    return sets


def check_structure(data: bytes) -> list[list[list[str]]]:
    """Envelope counts, SE01, HL numbering and parents; returns the transaction sets."""
    segs = segments(data)
    assert len(data.split(data[105:106])[0]) == 105, "ISA is fixed width"
    ids = [s[0] for s in segs]
    assert ids.count("ISA") == ids.count("IEA")
    # IEA01 = groups, GE01 = sets, control numbers echo.
    isa = gs = None
    groups = sets_in_group = 0
    for s in segs:
        if s[0] == "ISA":
            isa, groups = s, 0
        elif s[0] == "GS":
            gs, sets_in_group = s, 0
            groups += 1
        elif s[0] == "ST":
            sets_in_group += 1
        elif s[0] == "GE":
            assert s[1:] == [str(sets_in_group), gs[6]]
        elif s[0] == "IEA":
            assert s[1:] == [str(groups), isa[13]]
    sets = transaction_sets(segs)
    for ts in sets:
        assert ts[-1][1] == str(len(ts)), "SE01 counts ST..SE"
        assert ts[-1][2] == ts[0][2], "SE02 = ST02"
        hls = [s for s in ts if s[0] == "HL"]
        assert [int(h[1]) for h in hls] == list(range(1, len(hls) + 1))
        level = {h[1]: h[3] for h in hls}
        expected_parent = {"20": None, "21": "20", "19": "21", "PT": "19"}
        for h in hls:
            if h[3] == "20":
                assert h[2] == ""
            else:
                assert level[h[2]] == expected_parent[h[3]], f"HL {h} has a parent of the wrong level"
                assert int(h[2]) < int(h[1])
    return sets


def loops_2000d(ts: list[list[str]]) -> list[list[list[str]]]:
    """Each patient loop: from its HL*..*PT to the next HL or SE."""
    out, cur = [], None
    for s in ts:
        if s[0] in ("HL", "SE"):
            if cur is not None:
                out.append(cur)
                cur = None
            if s[0] == "HL" and s[3] == "PT":
                cur = [s]
        elif cur is not None:
            cur.append(s)
    return out


def find(ts: list[list[str]], tag: str, first: str | None = None) -> list[list[str]]:
    return [s for s in ts if s[0] == tag and (first is None or s[1] == first)]


# -- building claims ---------------------------------------------------------------------------
SUBMITTER = Provider("41", "SUBMITTER CLINIC", "SUB123")
RECEIVER = Provider("40", "EXAMPLE HEALTH PLAN", "PAYER01")
BILLING = Provider("85", "BILLING CLINIC", "1234567893", tax_id="123456789")
HOSPITAL = Provider("85", "GENERAL HOSPITAL", "1245319599", tax_id="987654321")
JANE = Person("DOE", "JANE", "MEMBER123", D(1980, 1, 1), "F")
JOHN = Person("ROE", "JOHN", "MEMBER456", D(1975, 5, 5), "M")


def txn_info(*, isa="000000101", gs="101", st="0001", version="005010X222A1", bht="BATCH0001",
             sender="SUB123", receiver="PAYER01", usage="T") -> TransactionInfo:
    return TransactionInfo(
        sender_qualifier="ZZ", sender_id=sender, receiver_qualifier="ZZ", receiver_id=receiver,
        interchange_control=isa, usage=usage, gs_sender=sender, gs_receiver=receiver,
        group_control=gs, version=version, transaction_control=st, reference=bht,
        created=D(2025, 1, 2), submitter=replace(SUBMITTER, npi=sender), receiver=RECEIVER,
    )


class Feed:
    """Numbers claims the way the pipeline does: claim and transaction ordinals, and the
    interchange and group ordinals of each transaction (a new one when its ISA or GS changes)."""

    def __init__(self) -> None:
        self.claims = 0
        self.txn_index = 0
        self.last_txn: TransactionInfo | None = None
        self.placed: TransactionInfo | None = None
        self.isa = self.gs = 0
        self.keys: tuple = ((), ())

    def place(self, claim: Claim, info: TransactionInfo) -> Claim:
        if info is not self.last_txn:
            self.txn_index += 1
            self.last_txn = info
            isa_key = (info.sender_id, info.receiver_id, info.interchange_control, info.usage)
            gs_key = (info.gs_sender, info.gs_receiver, info.group_control)
            if isa_key != self.keys[0]:
                self.isa, self.gs = self.isa + 1, 0
            if isa_key != self.keys[0] or gs_key != self.keys[1]:
                self.gs += 1
            self.keys = (isa_key, gs_key)
            self.placed = replace(info, interchange_index=self.isa, group_index=self.gs)
        self.claims += 1
        loc = ClaimLocation(self.txn_index, 20 * self.claims, 20, self.claims)
        return replace(claim, transaction=self.placed, location=loc)


def claim_p(claim_id="PCN12345", charge="150", *, provider=BILLING, member=JANE, lines=None,
            trace=None) -> Claim:
    if lines is None:
        lines = (ServiceLine(1, "96413", modifiers=("Q1",), charge=Decimal(charge),
                             units=Decimal(1), service_dates=DateRange(D(2025, 1, 1), D(2025, 1, 1)),
                             control_number="LINE0001"),)
    return Claim(claim_id=claim_id, total_charge=Decimal(charge), kind="P", facility_code="11",
                 facility_qualifier="B", frequency="1", lines=lines, billing_provider=provider,
                 subscriber=member, clearinghouse_trace=trace)


def claim_i(claim_id="PCN67890") -> Claim:
    lines = (
        ServiceLine(1, "J9035", modifiers=("Q1",), charge=Decimal("500"), units=Decimal(10),
                    revenue_code="0636", service_dates=DateRange(D(2025, 1, 1), D(2025, 1, 1)),
                    control_number="ILINE0001"),
        ServiceLine(2, "", charge=Decimal("250.50"), units=Decimal(1), revenue_code="0891",
                    control_number="ILINE0002"),
        ServiceLine(3, "Q2041", charge=Decimal("100"), units=Decimal(1), revenue_code="0891"),
    )
    return Claim(claim_id=claim_id, total_charge=Decimal("850.50"), kind="I", facility_code="13",
                 facility_qualifier="A", frequency="1", lines=lines, billing_provider=HOSPITAL,
                 subscriber=JOHN, statement_dates=DateRange(D(2025, 1, 1), D(2025, 1, 4)))


def reject(claim: Claim, *findings: Finding) -> Decision:
    return Decision(claim.claim_id, findings)


def accept(claim: Claim, *warnings: Finding) -> Decision:
    return Decision(claim.claim_id, warnings)


AUTH = Finding("CGT-AUTH-REQUIRED", ERROR, "Prior authorization number not on file",
               "TAR required for CGT drugs (Cell and Gene Therapy, Authorization)",
               ack=AckCode("A7", "252", "PR"))


def feed_writer(w: AckWriter, pairs) -> None:
    """Tell the writer the claims as the pipeline does: begin/end around each transaction."""
    current = None
    for claim, decision in pairs:
        key = (claim.transaction, claim.location.transaction_index)
        if key != current:
            if current is not None:
                w.end_transaction()
            w.begin_transaction(claim.transaction)
            current = key
        w.add(claim, decision)
    if current is not None:
        w.end_transaction()


def write(pairs, **kw) -> tuple[bytes, AckWriter]:
    buf = io.BytesIO()
    with AckWriter(buf, now=NOW, **kw) as w:
        feed_writer(w, pairs)
    return buf.getvalue(), w


# -- tests -------------------------------------------------------------------------------------
def test_one_rejected_837p_claim(tmp_path):
    feed = Feed()
    info = txn_info()
    rejected = feed.place(claim_p(trace="CLEARINGHOUSE123"), info)
    accepted = feed.place(claim_p("PCN2", "40"), info)
    data, w = write([(rejected, reject(rejected, AUTH)), (accepted, accept(accepted))])

    assert_pyx12_valid(data, tmp_path, 1)
    (ts,) = check_structure(data)
    segs = segments(data)
    isa, gs = segs[0], segs[1]
    # Parties swapped, new control numbers, usage copied, no TA1 requested.
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip()) == ("ZZ", "PAYER01", "ZZ", "SUB123")
    assert (isa[13], isa[14], isa[15]) == ("000000001", "0", "T")
    assert gs[1:4] == ["HN", "PAYER01", "SUB123"] and gs[6] == "1" and gs[8] == "005010X214"
    assert ts[0] == ["ST", "277", "0001", "005010X214"]
    assert ts[1][:3] == ["BHT", "0085", "08"] and ts[1][4:] == ["20250103", "0900", "TH"]
    assert find(ts, "NM1", "PR")[0][-2:] == ["46", "PAYER01"]
    assert find(ts, "DTP", "050")[0][3] == "20250102"
    assert find(ts, "DTP", "009")[0][3] == "20250103"
    assert find(ts, "NM1", "41")[0][-2:] == ["46", "SUB123"]
    assert find(ts, "TRN", "2")[0] == ["TRN", "2", "BATCH0001"]
    # 2000B counts the whole 837 transaction, the accepted claim included.
    assert find(ts, "STC")[0] == ["STC", "A1:19:PR", "20250103", "WQ", "190"]
    assert [q[1:] for q in find(ts, "QTY")[:2]] == [["90", "1"], ["AA", "1"]]
    assert [a[1:] for a in find(ts, "AMT")[:2]] == [["YU", "40"], ["YY", "150"]]
    # 2000C: the billing provider; only its reported claims sit below it.
    assert find(ts, "NM1", "85")[0][-2:] == ["XX", "1234567893"]
    assert find(ts, "REF", "TJ")[0][2] == "123456789"
    (patient,) = loops_2000d(ts)
    assert patient[1] == ["NM1", "QC", "1", "DOE", "JANE", "", "", "", "MI", "MEMBER123"]
    assert patient[2] == ["TRN", "2", rejected.claim_id]
    stc = patient[3]
    assert stc[1:5] == ["A7:252:PR", "20250103", "U", "150"]
    assert stc[12].startswith("CGT-AUTH-REQUIRED; Prior authorization number not on file")
    assert "TAR required" in stc[12]
    assert ["REF", "D9", "CLEARINGHOUSE123"] in patient
    assert ["DTP", "472", "D8", "20250101"] in patient
    assert not find(patient, "SVC"), "no line caused the rejection"
    assert (w.transactions_written, w.claims_reported, w.claims_rejected) == (1, 1, 1)


def test_837i_bill_type_and_line_level_rejection(tmp_path):
    feed = Feed()
    claim = feed.place(claim_i(), txn_info(version="005010X223A2", bht="BATCH0002"))
    bad_rev = Finding("CGT-REV-CODE", ERROR, "CAR-T needs revenue code 0891", "Billing, rev codes",
                      line_number=1, code="J9035", ack=AckCode("A8", "228", extra_status="454"))
    bad_line2 = Finding("CGT-NDC", ERROR, "NDC missing", "Billing, NDC", line_number=2,
                        ack=AckCode("A6", "218"))
    also_line2 = Finding("CGT-UNITS", ERROR, "Too many units", "Billing, units", line_number=2,
                         ack=AckCode("A7", "476"))
    note = Finding("CGT-NOTE", WARNING, "Informational", "n/a", line_number=3)
    data, _ = write([(claim, reject(claim, bad_rev, bad_line2, also_line2, note))])

    assert_pyx12_valid(data, tmp_path, 1)
    (ts,) = check_structure(data)
    (patient,) = loops_2000d(ts)
    claim_stcs = [s for s in patient[: patient.index(find(patient, "DTP")[0])] if s[0] == "STC"]
    assert [s[1] for s in claim_stcs] == ["A8:228", "A6:218", "A7:476"], "one STC per error"
    assert claim_stcs[0][10] == "A8:454" and claim_stcs[0][4] == "850.5"
    assert ["REF", "BLT", "131"] in patient
    assert ["DTP", "472", "RD8", "20250101-20250104"] in patient
    svcs = find(patient, "SVC")
    assert len(svcs) == 2, "only lines 1 and 2 caused the rejection; the warning line is left out"
    assert svcs[0][1:] == ["HC:J9035:Q1", "500", "", "0636", "", "", "10"]
    assert svcs[1][1:] == ["NU:0891", "250.5", "", "", "", "", "1"]
    i1, i2 = patient.index(svcs[0]), patient.index(svcs[1])
    line1, line2 = patient[i1:i2], patient[i2:]
    assert line1[1][1:4] == ["A8:228", "20250103", "U"] and line1[1][10] == "A8:454"
    assert ["REF", "FJ", "ILINE0001"] in line1
    assert ["DTP", "472", "D8", "20250101"] in line1
    # Two findings on one line share pyx12's single line STC: STC01 and STC10.
    assert line2[1][1] == "A6:218" and line2[1][10] == "A7:476"
    assert ["REF", "FJ", "ILINE0002"] in line2
    assert ["DTP", "472", "RD8", "20250101-20250104"] in line2, "837I line falls back to statement dates"


def test_several_transactions_and_two_interchanges(tmp_path):
    feed = Feed()
    a1 = txn_info(isa="000000101", gs="101", st="0001", bht="A-1")
    a2 = txn_info(isa="000000101", gs="101", st="0002", bht="A-2")
    a3 = txn_info(isa="000000101", gs="102", st="0001", bht="A-3")
    b1 = txn_info(isa="000000777", gs="9", st="0001", bht="B-1", sender="OTHERSUB", usage="P")
    pairs = []

    def add(info, claim, rejected):
        c = feed.place(claim, info)
        pairs.append((c, reject(c, AUTH) if rejected else accept(c)))

    add(a1, claim_p("A1C1", "100"), True)
    add(a1, claim_p("A1C2", "200", provider=HOSPITAL, member=JOHN), True)
    add(a1, claim_p("A1C3", "300", provider=HOSPITAL), False)
    add(a1, claim_p("A1C4", "400", provider=BILLING), True)
    add(a2, claim_p("A2C1", "50"), False)  # nothing to report: no 277
    add(a3, claim_p("A3C1", "60"), True)
    add(b1, claim_p("B1C1", "70"), True)
    data, w = write(pairs, control_number_start=41)

    assert_pyx12_valid(data, tmp_path, 3)
    sets = check_structure(data)
    segs = segments(data)
    isas = find(segs, "ISA")
    assert [i[13] for i in isas] == ["000000041", "000000042"]
    assert [i[8].strip() for i in isas] == ["SUB123", "OTHERSUB"]
    assert [i[15] for i in isas] == ["T", "P"]
    assert [g[6] for g in find(segs, "GS")] == ["41", "42", "43"]
    assert [ts[0][2] for ts in sets] == ["0041", "0042", "0043"]
    assert [find(ts, "TRN", "2")[0][2] for ts in sets] == ["A-1", "A-3", "B-1"]
    # three provider runs (BILLING, HOSPITAL, BILLING again); the all-accepted claim A1C3
    # sits in the HOSPITAL run with rejected A1C2, so it counts there but is not listed.
    first = sets[0]
    assert [n[-1] for n in find(first, "NM1", "85")] == ["1234567893", "1245319599", "1234567893"]
    assert [p[2][2] for p in loops_2000d(first)] == ["A1C1", "A1C2", "A1C4"]
    assert find(first, "STC")[0][4] == "1000"
    hospital = first.index(find(first, "NM1", "85")[1])
    assert first[hospital + 2] == ["STC", "A1:19:PR", "", "WQ", "500"]
    assert first[hospital + 3] == ["REF", "TJ", "987654321"]
    assert [q[1:] for q in first[hospital + 4:hospital + 8]] == [
        ["QA", "1"], ["QC", "1"], ["YU", "300"], ["YY", "200"]]
    all_trn2 = [p[2][2] for ts in sets for p in loops_2000d(ts)]
    assert all_trn2 == ["A1C1", "A1C2", "A1C4", "A3C1", "B1C1"]
    assert (w.transactions_written, w.claims_reported, w.claims_rejected) == (3, 5, 5)


def test_ack_all_reports_accepted_and_rejected_claims(tmp_path):
    feed = Feed()
    t1, t2 = txn_info(st="0001", bht="T1"), txn_info(st="0002", bht="T2")
    ok1 = feed.place(claim_p("OK1", "10"), t1)
    bad = feed.place(claim_p("BAD1", "20"), t1)
    ok2 = feed.place(claim_p("OK2", "30.25"), t2)
    warn = Finding("CGT-NOTE", WARNING, "Informational only", "n/a")
    data, w = write([(ok1, accept(ok1, warn)), (bad, reject(bad, AUTH)), (ok2, accept(ok2))],
                    ack_all=True)

    assert_pyx12_valid(data, tmp_path, 2)
    sets = check_structure(data)
    stc_by_claim = {p[2][2]: p[3] for ts in sets for p in loops_2000d(ts)}
    assert stc_by_claim["OK1"][1:5] == ["A2:20", "20250103", "WQ", "10"]
    assert stc_by_claim["BAD1"][1:5] == ["A7:252:PR", "20250103", "U", "20"]
    assert stc_by_claim["OK2"][1:5] == ["A2:20", "20250103", "WQ", "30.25"]
    assert find(sets[1], "QTY") == [["QTY", "90", "1"], ["QTY", "QA", "1"]], "no zero counts"
    assert (w.transactions_written, w.claims_reported, w.claims_rejected) == (2, 3, 1)


def test_without_phi_names_and_ids_are_replaced(tmp_path):
    feed = Feed()
    dependent = Person("SMALL", "TIM", None, D(2015, 2, 2))
    c = feed.place(replace(claim_p(), patient=dependent), txn_info())
    data, _ = write([(c, reject(c, AUTH))], include_phi=False)

    assert_pyx12_valid(data, tmp_path, 1)
    for secret in (b"SMALL", b"TIM", b"DOE", b"JANE", b"MEMBER123", b"2015", b"1980"):
        assert secret not in data
    (ts,) = check_structure(data)
    assert loops_2000d(ts)[0][1] == ["NM1", "QC", "1", "REDACTED", "", "", "", "", "MI", "REDACTED"]
    # With PHI, a dependent patient is named and carries the subscriber's member id.
    data, _ = write([(c, reject(c, AUTH))])
    (ts,) = check_structure(data)
    assert loops_2000d(ts)[0][1][3:5] == ["SMALL", "TIM"] and loops_2000d(ts)[0][1][9] == "MEMBER123"


def test_nothing_to_report_writes_nothing():
    feed = Feed()
    c = feed.place(claim_p(), txn_info())
    data, w = write([(c, accept(c))])
    assert data == b""
    assert (w.transactions_written, w.claims_reported) == (0, 0)
    data, _ = write([])
    assert data == b""


def test_finding_without_ack_gets_default_codes(tmp_path):
    feed = Feed()
    c = feed.place(claim_p(), txn_info())
    f = Finding("CGT-X", ERROR, "Something is wrong", "Manual", line_number=1)
    data, _ = write([(c, reject(c, f))])
    assert_pyx12_valid(data, tmp_path, 1)
    (ts,) = check_structure(data)
    patient = loops_2000d(ts)[0]
    assert patient[3][1] == "A7:21" and patient[3][10] == "A7:732"
    assert patient[3][12].startswith("CGT-X; Something is wrong")
    line_stc = patient[patient.index(find(patient, "SVC")[0]) + 1]
    assert line_stc[1] == "A7:21" and line_stc[10] == "A7:732"


def test_hostile_values_are_sanitized_with_other_delimiters(tmp_path):
    delims = Delimiters(element=b"|", component=b">", segment=b"~", repetition=None)
    feed = Feed()
    provider = Provider("85", "Muñoz | Søn > Clinic~ *ok*", "1234567893", tax_id="12-3456789")
    person = Person("O'Brien|x", "Zoë>", "ID~99", None)
    c = claim_p("CL>1|2", provider=provider, member=person, trace="TR|ACE")
    c = feed.place(c, replace(txn_info(), reference="B|T>H"))
    long_text = "x" * 400
    f = Finding("CGT-LONG", ERROR, "Bad: value | with ~ delimiters > and\nnewlines\ttabs", long_text,
                ack=AckCode("A7", "454"))
    data, _ = write([(c, reject(c, f))], delimiters=delims, newline=b"\r\n")

    assert_pyx12_valid(data, tmp_path, 1)
    assert data[3:4] == b"|" and data[104:106] == b">~" and data[82:83] == b"^"
    (ts,) = check_structure(data)
    patient = loops_2000d(ts)[0]
    assert patient[1][3:5] == ["O'Brien x", "Zoe"]
    assert patient[2] == ["TRN", "2", "CL 1 2"]
    assert len(patient[3][12]) == 264 and patient[3][12].startswith("CGT-LONG; Bad: value with delimiters and newlines tabs; policy xxx")
    assert find(ts, "NM1", "85")[0][3] == "Munoz S n Clinic *ok*", "no ASCII form: a space"
    assert find(ts, "TRN", "2")[0][2] == "B T H"
    assert all(line.endswith(b"~") for line in data.split(b"\r\n") if line)


def test_spooled_transactions_roll_over_to_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(ack277, "SPOOL_MAX_BYTES", 512)
    feed = Feed()
    info = txn_info()
    pairs = []
    providers = [BILLING, HOSPITAL]
    for i in range(300):
        c = feed.place(claim_p(f"C{i:05d}", str(10 + i), provider=providers[(i // 7) % 2]), info)
        pairs.append((c, reject(c, AUTH) if i % 3 else accept(c)))
    data, w = write(pairs)
    assert_pyx12_valid(data, tmp_path, 1)
    (ts,) = check_structure(data)
    reported = [p[2][2] for p in loops_2000d(ts)]
    assert reported == [f"C{i:05d}" for i in range(300) if i % 3]
    stcs = {p[2][2]: p[3][4] for p in loops_2000d(ts)}
    assert all(stcs[f"C{i:05d}"] == str(10 + i) for i in range(300) if i % 3)
    total = sum(10 + i for i in range(300))
    assert find(ts, "STC")[0][4] == str(total)
    assert w.claims_rejected == 200


def test_oracle_flags_a_broken_277(tmp_path):
    feed = Feed()
    c = feed.place(claim_p(), txn_info())
    data, _ = write([(c, reject(c, AUTH))])
    assert pyx12_validate(data, tmp_path).errors == []
    # Wrong SE01, a missing required segment, an unknown status code: each must be reported.
    bad_count = data.replace(b"\nSE*", b"\nSE*9", 1)
    no_dtp = data.replace(b"DTP*009*D8*20250103~\n", b"")
    bad_code = data.replace(b"A7:252:PR", b"A7:796:PR")
    for broken in (bad_count, no_dtp, bad_code):
        assert broken != data
        result = pyx12_validate(broken, tmp_path)
        assert not result.ok and result.errors, broken


def test_errors_and_context_manager(tmp_path):
    c = claim_p()
    with pytest.raises(ValueError, match="outside begin_transaction"):
        AckWriter(io.BytesIO()).add(c, reject(c, AUTH))
    placed = Feed().place(c, txn_info())
    w = AckWriter(io.BytesIO())
    w.begin_transaction(placed.transaction)
    with pytest.raises(ValueError, match="decision for claim 'OTHER'"):
        w.add(placed, Decision("OTHER", ()))
    with pytest.raises(ValueError, match="before end_transaction"):
        w.begin_transaction(placed.transaction)
    with pytest.raises(ValueError, match="control_number_start"):
        AckWriter(io.BytesIO(), control_number_start=0)
    with pytest.raises(ValueError, match="cannot be used"):
        AckWriter(io.BytesIO(), delimiters=Delimiters(element=b"*", component=b".", segment=b"~"))
    # A newline terminator: no extra newline (it would make empty segments).
    data, _ = write([(placed, reject(placed, AUTH))],
                    delimiters=Delimiters(element=b"*", component=b":", segment=b"\n"))
    assert b"\n\n" not in data and data.endswith(b"IEA*1*000000001\n")
    assert [s[0] for s in segments(data)][:3] == ["ISA", "GS", "ST"]
    # An exception mid-stream keeps what was complete and closes its envelopes.
    feed = Feed()
    t1, t2 = txn_info(st="0001"), txn_info(st="0002")
    c1, c2 = feed.place(claim_p("K1"), t1), feed.place(claim_p("K2"), t2)
    buf = io.BytesIO()
    with pytest.raises(RuntimeError):
        with AckWriter(buf, now=NOW) as w:
            feed_writer(w, [(c1, reject(c1, AUTH))])
            w.begin_transaction(c2.transaction)
            w.add(c2, reject(c2, AUTH))
            raise RuntimeError("reader failed")
    assert_pyx12_valid(buf.getvalue(), tmp_path, 1)
    assert b"K1" in buf.getvalue() and b"K2" not in buf.getvalue()


def test_unread_claims_count_in_the_totals_of_their_provider_run(tmp_path):
    feed = Feed()
    info = txn_info()
    c1 = feed.place(claim_p("R1", "100"), info)
    buf = io.BytesIO()
    with AckWriter(buf, now=NOW) as w:
        w.begin_transaction(c1.transaction)
        w.add_unread(3, Decimal("30.50"), BILLING)
        w.add(c1, reject(c1, AUTH))
        w.add_unread(2, Decimal("20"), HOSPITAL)
        w.end_transaction()
        w.begin_transaction(c1.transaction)  # a transaction none of whose claims was read
        w.add_unread(5, Decimal("5"), None)
        w.end_transaction()
    data = buf.getvalue()
    assert_pyx12_valid(data, tmp_path, 1)
    (ts,) = check_structure(data)
    assert [s for s in ts if s[0] == "QTY"][:2] == [["QTY", "90", "5"], ["QTY", "AA", "1"]]
    assert ["AMT", "YU", "50.5"] in ts
    # the run of BILLING: 3 unread accepted + the rejected claim; HOSPITAL's run has nothing to report
    assert ["QTY", "QA", "3"] in ts and ["QTY", "QC", "1"] in ts and ["AMT", "YU", "30.5"] in ts
    with pytest.raises(ValueError, match="ack_all"):
        with AckWriter(io.BytesIO(), ack_all=True) as w:
            w.begin_transaction(c1.transaction)
            w.add_unread(1, Decimal(1), None)


_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x24F), max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_text, first=_text, member=_text, claim_id=_text.filter(str.strip), message=_text,
       ctl=st.text(alphabet="ABC123~*:^|", min_size=1, max_size=30))
def test_any_text_yields_valid_277(tmp_path, name, first, member, claim_id, message, ctl):
    feed = Feed()
    line = ServiceLine(1, "96413", charge=Decimal(5), units=Decimal(1), control_number=ctl,
                       service_dates=DateRange(D(2025, 1, 1), D(2025, 1, 2)))
    c = claim_p(claim_id, "5", member=Person(name, first, member, None), lines=(line,),
                provider=Provider("85", name, None, tax_id=member or None))
    c = feed.place(c, txn_info())
    f = Finding("CGT-P", ERROR, message, message, line_number=1, ack=AckCode("A7", "454"))
    data, _ = write([(c, reject(c, f))])
    result = pyx12_validate(data, tmp_path)
    assert result.errors == [] and result.ok
    (ts,) = check_structure(data)
    assert len(loops_2000d(ts)) == 1


def test_interchanges_follow_the_input_even_when_control_numbers_repeat(tmp_path):
    """The 277CA mirrors the input's interchanges and groups as the pipeline read them (their
    ordinals), not as their control numbers suggest: two input interchanges with the same ISA13
    (a sender that reuses numbers, concatenated files) give two 277CA interchanges."""
    from support import P_BODY, interchange, run_cli

    one = interchange(P_BODY.replace("CLM*CLAIM-B*2000000***22:B:8", "CLM*CLAIM-B*2000000***22:B:1"))
    (tmp_path / "in.837").write_bytes(one + one)  # the same ISA13, GS06 and ST02 twice
    res = run_cli("filter", "in.837", "-o", "c.837", "--rejects", "r.277", cwd=tmp_path,
                  env={"SOURCE_DATE_EPOCH": "1764000000"})
    assert res.returncode == 1, res.stderr
    ack = (tmp_path / "r.277").read_bytes()
    assert [s[0] for s in segments(ack)].count("ISA") == 2
    assert_pyx12_valid(ack, tmp_path, 2)
