# One path: reading only the claims that carry a policy code decides exactly what reading every
# claim decides, on well-formed input; the index finds claims and codes as the reader reads them.
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from support import FIXTURES, SAMPLES, interchange, run_cli, sample_rows

from bench.corpus import Format, generate_corpus
from edi_cgt.claims.index import ClaimIndex, patterns
from edi_cgt.decider import DeciderConfig, make_decider
from edi_cgt.pipeline import FilterOptions, run_filter
from edi_cgt.writers.ack277 import AckWriter
from edi_cgt.x12.delimiters import Delimiters

NOW = dt.datetime(2026, 1, 2, 3, 4)
SITE = str(FIXTURES / "site.toml")
COUNTS = ("claims_in", "accepted", "rejected", "unevaluated", "charges_in", "charges_rejected", "warnings",
          "claims_warned", "by_rule", "transactions", "transactions_passed_through")


@pytest.fixture(scope="module")
def decide():
    return make_decider(DeciderConfig(site_path=SITE))


def run(data: bytes, decide, *, read_all: bool, chunk: int = 65536, hold: int = 4 << 20):
    out, ack_out = io.BytesIO(), io.BytesIO()
    with AckWriter(ack_out, now=NOW) as ack:
        stats = run_filter([data[i:i + chunk] for i in range(0, len(data), chunk)], out=out, decide=decide,
                           sinks=[ack], options=FilterOptions(read_all=read_all, hold_memory=hold))
    return out.getvalue(), ack_out.getvalue(), stats


def assert_same(data: bytes, decide, **kw):
    all_clean, all_ack, every = run(data, decide, read_all=True, **kw)
    clean, ack, some = run(data, decide, read_all=False, **kw)
    assert clean == all_clean
    assert ack == all_ack
    for name in COUNTS:
        assert getattr(some, name) == getattr(every, name), name
    assert some.claims_read <= every.claims_read
    return some


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.837")), ids=lambda p: p.name)
def test_fixtures_decide_the_same_read_all_or_not(path, decide):
    assert_same(path.read_bytes(), decide)


ROWS = [r for r in sample_rows() if r["type"] in ("837P", "837I", "837P-synthetic", "837I-synthetic")
        and "MALFORMED" not in r["file"]]


@pytest.mark.skipif(not ROWS, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"])
def test_samples_decide_the_same_read_all_or_not(row, decide):
    assert_same((SAMPLES / row["file"]).read_bytes(), decide)


@pytest.mark.parametrize("shape", [
    dict(cgt_share=0.0, claims_per_transaction=60),
    dict(cgt_share=0.02, claims_per_transaction=60, fmt=Format(newline="\n")),
    dict(cgt_share=0.3, claims_per_transaction=7, kind="I", lines_per_claim=(1, 6)),
    dict(cgt_share=1.0, claims_per_transaction=50, dependent_share=0.5, fmt=Format(newline="\r\n")),
    dict(cgt_share=0.1, claims_per_transaction=1, fmt=Format(element="|", component=">", segment="\x1d")),
    dict(cgt_share=0.2, claims_per_transaction=400, kind="mixed", cob_share=0.3),
], ids=["0%", "2%-lf", "30%-837I-lines", "100%-dependents-crlf", "10%-one-claim-per-st", "20%-400-mixed"])
def test_generated_corpora_decide_the_same_read_all_or_not(shape, decide):
    data = b"".join(generate_corpus(seed=7, n_claims=400, **shape))
    stats = assert_same(data, decide)
    assert stats.claims_in == 400
    if shape["cgt_share"] == 0.0:
        assert stats.claims_read == 0  # nothing needed reading
    if shape["cgt_share"] >= 0.2:
        assert stats.rejected > 0


def test_a_transaction_over_the_memory_limit_is_decided_the_same(decide):
    """Held in a temporary file and indexed piece by piece, read from several chunks."""
    data = b"".join(generate_corpus(seed=3, n_claims=600, cgt_share=0.1, claims_per_transaction=600,
                                    fmt=Format(newline="\n")))
    small = run(data, decide, read_all=False, chunk=4096, hold=20_000)
    whole = run(data, decide, read_all=False)
    assert small[:2] == whole[:2]
    assert small[2].rejected == whole[2].rejected > 0
    assert_same(data, decide, chunk=5000, hold=30_000)


def _index(data: bytes, codes: frozenset[str]) -> ClaimIndex:
    d = Delimiters()
    p = patterns(d, codes)
    index = ClaimIndex(d)
    index.census(data, p)
    index.find_triggers(data, 0, p)
    index.locate(data, 0, p)
    index.se = data.rindex(b"SE*")
    return index


def test_index_finds_codes_in_any_case_and_only_as_procedure_codes():
    data = (b"ST*837*1~HL*1**20*1~HL*2*1*22*0~CLM*A*10***11:B:1~SV1*HC:q2041*10*UN*1~CLM*B*5***11:B:1~"
            b"SV1*HC:Q20410*5*UN*1~CLM*C*7***11:B:1~SV2*0891*HC:J3392:Q0*7*UN*1~NM1*IL*1*Q2041~CLM9*X~SE*10*1~")
    index = _index(data, frozenset({"Q2041", "J3392"}))
    assert index.claims == 3 and index.charges == 22  # CLM9 is not a CLM
    assert [data[h + 1:h + 6] for h in index.hits] == [b"q2041", b"J3392"]
    assert [index.claim_of(h) for h in index.hits] == [0, 2]
    assert list(index.level) == [0, 1]
    assert index.problem is None


def test_index_says_why_a_tree_cannot_carry_claims():
    assert _index(b"ST*837*1~CLM*A*10***11:B:1~SV1*HC:Q2041*10*UN*1~SE*4*1~", frozenset()).claim_problem(0)[1] == \
        "CLM before any HL"
    bad = _index(b"ST*837*1~HL*1**20*1~CLM*A*10***11:B:1~SV1*HC:Q2041*10*UN*1~SE*5*1~", frozenset())
    assert "outside a subscriber" in bad.claim_problem(0)[1] and bad.problem is None
    orphan = _index(b"ST*837*1~HL*1**22*0~CLM*A*10***11:B:1~SV1*HC:Q2041*10*UN*1~SE*5*1~", frozenset())
    assert orphan.problem_text(b"HL*1**22*0") == "HL '1' (level 22) has no level-20 HL above it"
    odd = _index(b"ST*837*1~HL*1**20*1~HL*2*1*21*0~CLM*A*10***11:B:1~SV1*HC:Q2041*10*UN*1~SE*6*1~", frozenset())
    assert odd.problem_text(b"HL*2*1*21*0") == "HL '2' has level code '21'; an 837 uses 20, 22 and 23"


BODY = """
ST*837*0001*005010X222A1
BHT*0019*00*REF1*20250301*1200*CH
NM1*41*2*SUBMITTER*****46*SUB01
NM1*40*2*PAYER*****46*610442
HL*1**20*1
NM1*85*2*CLINIC*****XX*1234567893
HL*2*1*22*0
SBR*P*18*******MC
NM1*IL*1*DOE*JANE****MI*M1
NM1*PR*2*MEDI-CAL*****PI*610442
CLM*OK-1*100***11:B:1*Y*A*Y*Y
HI*ABK:C8330
LX*1
SV1*HC:99213*100*UN*1***1
DTP*472*D8*20250301
CLM*ODD-2*{charge}***11:B:1*Y*A*Y*Y
HI*ABK:C8330
LX*1
SV1*HC:99213*40*UN*1***1
DTP*472*D8*20250301
SE**0001
"""


@pytest.mark.parametrize("charge", ["NaN", "Infinity", "12,50", "sNaN"])
def test_a_charge_that_is_not_a_number_is_read_and_passed_through_alone(tmp_path, charge):
    """One number rule: a CLM02 that is not a number is never summed; its claim is read, cannot
    be, and passes through unevaluated (exit 3); the other claim is counted with its charge."""
    (tmp_path / "in.837").write_bytes(interchange(BODY.replace("{charge}", charge)))
    for extra in ([], ["--read-all"]):
        proc = run_cli("filter", "in.837", "-o", "clean.837", "--rejects", "r.277", *extra, cwd=tmp_path)
        assert proc.returncode == 3, proc.stderr
        summary = [line for line in proc.stderr.decode().splitlines() if '"summary"' in line][0]
        assert '"charges_in": "100"' in summary and '"unevaluated": 1' in summary and '"accepted": 1' in summary
        assert '"claim_passed_through"' in proc.stderr.decode() and "ODD-2" in proc.stderr.decode()
        assert (tmp_path / "clean.837").read_bytes() == (tmp_path / "in.837").read_bytes()


def test_charges_of_unread_claims_are_summed_exactly(decide):
    data = interchange(BODY.replace("{charge}", "0.10") + BODY.replace("{charge}", "1E+2").replace("0001", "0002"))
    _, _, stats = run(data, decide, read_all=False)
    assert stats.claims_read == 0 and stats.charges_in == Decimal("300.10")


@pytest.mark.parametrize("hold", [4 << 20, 50_000], ids=["in-memory", "spilled"])
def test_a_transaction_of_thousands_of_hls_is_cut_with_every_number_right(decide, hold):
    """HLs are renumbered a batch at a time: several batches, patients under subscribers,
    rejected claims scattered; the HL tree, counts and the claims kept check independently."""
    from support import check_envelope_and_hl

    data = b"".join(generate_corpus(seed=11, n_claims=2500, cgt_share=0.05, claims_per_transaction=2500,
                                    dependent_share=0.4, fmt=Format(newline="\n")))
    clean, ack, stats = run(data, decide, read_all=False, chunk=8192, hold=hold)
    assert data.count(b"\nHL*") > 2 * 1024  # more than two batches of HL segments (clean837._BATCH)
    assert 0 < stats.rejected < stats.claims_in == 2500
    counts = check_envelope_and_hl(clean)
    assert counts["CLM"] == stats.claims_in - stats.rejected
    assert ack.count(b"\nTRN*2*") == 1 + stats.rejected  # the 2200B trace, then one per rejected claim
    if hold < 4 << 20:
        assert clean == run(data, decide, read_all=False)[0]


def _checked_inputs():
    """Our fixtures with a well-formed HL tree, and generated transactions of other shapes."""
    from support import check_envelope_and_hl

    out = []
    for path in sorted(FIXTURES.glob("*.837")):
        try:
            check_envelope_and_hl(path.read_bytes())
        except AssertionError:
            continue
        out.append(pytest.param(path.read_bytes(), id=path.name))
    for per, dependents in ((7, 0.0), (40, 0.5), (300, 0.3)):
        data = b"".join(generate_corpus(seed=per, n_claims=600, cgt_share=0.2, claims_per_transaction=per,
                                        dependent_share=dependents, fmt=Format(newline="\n")))
        out.append(pytest.param(data, id=f"generated-{per}-per-transaction-{dependents}-dependents"))
    return out


@pytest.mark.parametrize("data", _checked_inputs())
def test_the_clean_837_keeps_every_hl_number_parent_and_child_flag_right(data, decide):
    """The HL tree of what filter writes, checked by an independent reader: HL01 in sequence,
    HL02 the parent by level, HL04 1 exactly when a child follows (a billing provider that lost
    some subscribers but not all keeps 1; one that lost all of them is gone)."""
    from support import check_envelope_and_hl

    clean, _, stats = run(data, decide, read_all=False)
    assert check_envelope_and_hl(clean)["CLM"] == stats.claims_in - stats.rejected - stats.syntax_rejected
