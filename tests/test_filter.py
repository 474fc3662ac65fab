# The filter: clean 837 + 277CA, byte identity, conservation, HL renumbering, pipes, exit codes.
from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from support import I_BODY, P_BODY, ROOT, SAMPLES, error_lines, interchange, pyx12_validate, run_cli, sample_rows

from edi_cgt.pipeline import read_claims
from edi_cgt.pipeline import run_filter
from edi_cgt.policy.findings import AckCode, Decision, Finding
from edi_cgt.writers.ack277 import AckWriter

REJECT = Finding("TEST-RULE", "error", "rejected by the test", "test passage", ack=AckCode("A7", "454"))


def subscriber_claims(n: int, *, dependents: bool = False) -> str:
    """One 2000A with n subscribers, one claim each (under a 2000C patient when `dependents`)."""
    rows = [
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*B1*20250301*1200*CH",
        "NM1*41*2*SUBMITTER*****46*SUB01",
        "PER*IC*BILLER*TE*5555551212",
        "NM1*40*2*MEDI-CAL*****46*610442",
        "HL*1**20*1",
        "NM1*85*2*CLINIC*****XX*1234567893",
        "N3*1 MAIN ST",
        "N4*OAKLAND*CA*94601",
        "REF*EI*123456789",
    ]
    hl = 1
    for i in range(1, n + 1):
        hl += 1
        sub = hl
        rows += [f"HL*{sub}*1*22*{1 if dependents else 0}", "SBR*P*18*******MC" if not dependents else "SBR*P********MC",
                 f"NM1*IL*1*TESTSUB{i}*A****MI*MCAL{i:06d}", "NM1*PR*2*MEDI-CAL*****PI*610442"]
        if dependents:
            hl += 1
            rows += [f"HL*{hl}*{sub}*23*0", "PAT*19", f"NM1*QC*1*TESTDEP{i}*B", "N3*1 ELM ST", "N4*OAKLAND*CA*94601",
                     "DMG*D8*20150101*F"]
        rows += [f"CLM*C{i}*{100 * i}***11:B:1*Y*A*Y*Y", "HI*ABK:J20", "LX*1", f"SV1*HC:99213*{100 * i}*UN*1***1",
                 "DTP*472*D8*20250301"]
    rows.append("SE**0001")
    return "\n".join(rows)


def reject_ids(*ids: str):
    def decide(claim):
        return Decision(claim.claim_id, (REJECT,) if claim.claim_id in ids else ())
    decide.trigger_codes = None  # any claim may be rejected: every claim is read
    return decide


def filter_bytes(data: bytes, decide, *, ack_all: bool = False):
    out, ack_out = io.BytesIO(), io.BytesIO()
    with AckWriter(ack_out, ack_all=ack_all) as ack:
        stats = run_filter([data], out=out, decide=decide, sinks=[ack], where="t.837")
    return out.getvalue(), ack_out.getvalue(), stats


def ids_in(data: bytes) -> list[str]:
    return [c.claim_id for c in read_claims([data])] if data else []


def rejected_in_277(ack: bytes) -> list[str]:
    text = ack.decode()
    found = []
    for block in re.split(r"HL\*\d+\*\d+\*PT~", text)[1:]:
        trn = re.search(r"TRN\*2\*([^~]*)~", block).group(1)
        if re.search(r"STC\*A[3678]:", block.split("SVC*")[0]):
            found.append(trn)
    return found


@pytest.mark.parametrize("rejected", [("C1",), ("C2",), ("C3",), ("C1", "C3"), ("C1", "C2", "C3")],
                         ids=["first", "middle", "last", "first+last", "all"])
@pytest.mark.parametrize("dependents", [False, True], ids=["subscriber", "patient-2000C"])
def test_hl_renumbering_and_conservation(rejected, dependents):
    data = interchange(subscriber_claims(3, dependents=dependents))
    assert pyx12_validate(data)[0]
    clean, ack, stats = filter_bytes(data, reject_ids(*rejected))
    kept = [c for c in ("C1", "C2", "C3") if c not in rejected]
    assert ids_in(clean) == kept
    assert sorted(rejected_in_277(ack)) == sorted(rejected)
    assert stats.claims_in == 3 == len(kept) + stats.rejected
    if not kept:
        assert clean == b""  # nothing left: transaction, group and interchange dropped
        return
    hls = re.findall(rb"HL\*(\d+)\*(\d*)\*(\d+)\*", clean)
    numbers = [int(h[0]) for h in hls]
    assert numbers == list(range(1, len(hls) + 1))
    level_of = {h[0]: h[2] for h in hls}
    for hl_id, parent, level in hls:
        want = {b"20": None, b"22": b"20", b"23": b"22"}[level]
        assert (level_of.get(parent) if parent else None) == want
    ok, report = pyx12_validate(clean)
    assert ok, report
    ok, report = pyx12_validate(ack)
    assert ok, report


def test_multi_isa_gs_st_conservation_and_counts():
    one = interchange(P_BODY + "\n" + P_BODY.replace("0001", "0003").replace("CLAIM-", "CLAIM3-"))
    two = interchange(I_BODY, version="005010X223A2", control=2)
    data = one + two
    clean, ack, stats = filter_bytes(data, reject_ids("CLAIM-A", "CLAIM3-B", "CLAIM-I"))
    assert ids_in(clean) == ["CLAIM-B", "CLAIM3-A"]
    assert sorted(rejected_in_277(ack)) == ["CLAIM-A", "CLAIM-I", "CLAIM3-B"]
    assert stats.claims_in == 5 and stats.rejected == 3 and stats.accepted == 2
    # the 837I interchange lost its only claim: it is gone whole
    assert clean.count(b"ISA*") == 1 and b"005010X223A2" not in clean
    assert re.search(rb"GE\*2\*1~", clean) and re.search(rb"IEA\*1\*000000001~", clean)
    ses = re.findall(rb"ST\*837\*(\d+).*?SE\*(\d+)\*(\d+)~", clean, re.S)
    for st_ctl, count, se_ctl in ses:
        assert st_ctl == se_ctl
    segs = [s for s in clean.split(b"~") if s.strip()]
    st_idx = [i for i, s in enumerate(segs) if s.strip().startswith(b"ST*")]
    se_idx = [i for i, s in enumerate(segs) if s.strip().startswith(b"SE*")]
    for a, b in zip(st_idx, se_idx):
        assert int(segs[b].strip().split(b"*")[1]) == b - a + 1


def test_dropping_a_whole_transaction_keeps_the_group():
    data = interchange(subscriber_claims(1) + "\n" + subscriber_claims(2).replace("*0001", "*0002"))
    clean, _, _ = filter_bytes(data, reject_ids("C1"))
    assert clean.count(b"ST*837") == 1 and b"ST*837*0002" in clean
    assert re.search(rb"GE\*1\*1~", clean)
    assert pyx12_validate(clean)[0]


WELL_FORMED = [r for r in sample_rows() if r["type"] in ("837P", "837I", "837P-synthetic", "837I-synthetic", "other", "277CA")]


@pytest.mark.skipif(not WELL_FORMED, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", WELL_FORMED, ids=lambda r: r["file"])
def test_byte_identity_when_nothing_is_rejected(row):
    data = (SAMPLES / row["file"]).read_bytes()
    clean, ack, stats = filter_bytes(data, reject_ids())
    assert clean == data
    assert ack == b""
    assert stats.rejected == 0 and stats.accepted == stats.claims_in


@pytest.mark.skipif(not WELL_FORMED, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", [r for r in WELL_FORMED if r["type"].startswith("837")], ids=lambda r: r["file"])
def test_every_other_claim_rejected_on_samples_conserves_claims(row):
    data = (SAMPLES / row["file"]).read_bytes()
    every_other = {c.claim_id for i, c in enumerate(read_claims([data])) if i % 2 == 0}
    clean, ack, stats = filter_bytes(data, reject_ids(*every_other))
    assert stats.claims_in == len(ids_in(clean)) + stats.rejected
    assert set(rejected_in_277(ack)) == every_other
    assert not set(ids_in(clean)) & every_other


def test_shell_pipe_stdin_to_stdout(tmp_path):
    src = tmp_path / "in.837"
    src.write_bytes(interchange(P_BODY))
    cmd = f"cat {src} | {sys.executable} -m edi_cgt filter --rejects {tmp_path}/out.277 > {tmp_path}/clean.837"
    res = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode in (0, 1), res.stderr
    clean = (tmp_path / "clean.837").read_bytes()
    # An output with nothing in it is not created (no 0-byte file).
    ack = (tmp_path / "out.277").read_bytes() if (tmp_path / "out.277").exists() else b""
    assert len(ids_in(clean)) + len(rejected_in_277(ack)) == 2


def test_exit_status_and_no_output_on_bad_input(tmp_path):
    bad = tmp_path / "bad.837"
    bad.write_bytes(b"GS*HC*X*Y*20250101*1200*1*X*005010X222A1~")
    res = run_cli("filter", str(bad), "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "r.277"))
    assert res.returncode == 2
    (line,) = error_lines(res.stderr.decode())
    assert line.startswith(f"edi-cgt: error: {bad}: segment 1: expected an ISA segment")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.837"]


def _events(res, name: str) -> list[dict]:
    import json

    return [e for e in map(json.loads, res.stderr.decode().splitlines()) if e.get("event") == name]


@pytest.mark.parametrize("change, granularity", [
    (("DMG*D8*20100102*F", "ZZZ*1"), "claim"),  # in CLAIM-A's subscriber level: CLAIM-A alone
    (("REF*D9*TRACE-A", "ZZZ*1"), "claim"),  # inside CLAIM-A
    (("HL*2*1*22*0", "HL*2*1*21*0"), "transaction"),  # an HL tree the claims cannot hang in
], ids=["subscriber-level", "claim", "hl-tree"])
def test_exit_3_when_a_claim_that_is_read_cannot_be(tmp_path, change, granularity):
    """A read claim that cannot be read passes through untouched and counted unevaluated: alone
    where the HL tree allows, else with its transaction. The other claims are decided."""
    src = tmp_path / "in.837"
    data = interchange(P_BODY.replace(*change))
    src.write_bytes(data)
    res = run_cli("filter", str(src), "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "r.277"))
    assert res.returncode == 3, res.stderr
    (summary,) = _events(res, "summary")
    if granularity == "claim":
        (event,) = _events(res, "claim_passed_through")
        assert event["claim_id"] == "CLAIM-A" and "'ZZZ'" in event["problem"] and event["segment"] > 10
        assert summary["unevaluated"] == 1 and summary["accepted"] == 1  # CLAIM-B (a void) is decided
        assert (tmp_path / "clean.837").read_bytes() == data
    else:
        (event,) = _events(res, "transaction_passed_through")
        assert event["claims"] == 2 and "HL" in event["problem"]
        assert summary["unevaluated"] == 2 and (tmp_path / "clean.837").read_bytes() == data
    strict = run_cli("filter", str(src), "--strict", "-o", str(tmp_path / "c2.837"), "--rejects", str(tmp_path / "r2.277"))
    assert strict.returncode == 2 and not (tmp_path / "c2.837").exists()
    assert len(error_lines(strict.stderr.decode())) == 1


def test_a_malformed_claim_without_policy_codes_is_not_read_unless_read_all(tmp_path):
    """Grammar is checked where a claim is read: a claim that carries no policy code is counted
    and passed on unread (exit 0); --read-all reads it, finds it unreadable (exit 3)."""
    body = subscriber_claims(2).replace("DTP*472*D8*20250301", "DTP*472*D8*2025030", 1)
    src = tmp_path / "in.837"
    src.write_bytes(interchange(body))
    default = run_cli("filter", str(src), "-o", str(tmp_path / "a.837"), "--rejects", str(tmp_path / "a.277"))
    assert default.returncode == 0, default.stderr
    assert _events(default, "summary")[0]["accepted"] == 2
    every = run_cli("filter", str(src), "--read-all", "-o", str(tmp_path / "b.837"), "--rejects", str(tmp_path / "b.277"))
    assert every.returncode == 3, every.stderr
    assert _events(every, "summary")[0]["unevaluated"] == 1
    assert "invalid date '2025030'" in _events(every, "claim_passed_through")[0]["problem"]
    assert (tmp_path / "a.837").read_bytes() == (tmp_path / "b.837").read_bytes() == src.read_bytes()


def test_validate_leaves_out_syntax_failures_whole_and_writes_a_999(tmp_path):
    good = interchange(subscriber_claims(2))
    assert pyx12_validate(good)[0]
    bad_body = subscriber_claims(2).replace("*0001", "*0002").replace("CLM*C1*100***11:B:1", "CLM*C1*100***XX:B:1")
    data = interchange(subscriber_claims(2) + "\n" + bad_body)
    src = tmp_path / "in.837"
    src.write_bytes(data)
    res = run_cli("filter", str(src), "--validate", "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "r.277"))
    assert res.returncode == 1, res.stderr
    clean = (tmp_path / "clean.837").read_bytes()
    assert clean.count(b"ST*837*") == 1 and b"ST*837*0001" in clean and ids_in(clean) == ["C1", "C2"]
    assert pyx12_validate(clean)[0]
    ack999 = (tmp_path / "r.277.999").read_text()
    assert "AK2*837*0002" in ack999 and "IK5*R" in ack999 and "AK2*837*0001" in ack999
    assert b'"syntax_rejected": 2' in res.stderr and b'"claims_in": 4' in res.stderr
    # without --validate the syntax error is not the filter's business: both transactions pass
    plain = run_cli("filter", str(src), "-o", str(tmp_path / "c2.837"), "--rejects", str(tmp_path / "r2.277"))
    assert plain.returncode == 0 and (tmp_path / "c2.837").read_bytes() == data
