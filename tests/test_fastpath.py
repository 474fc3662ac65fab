# The fast path must never change an outcome: same clean 837, same 277CA, same counts.
from __future__ import annotations

import datetime as dt
import io

import pytest
from support import FIXTURES, SAMPLES, sample_rows

from edi_cgt.bench.corpus import generate_corpus
from edi_cgt.decider import DeciderConfig, make_decider
from edi_cgt.fastpath import TriggerScanner
from edi_cgt.pipeline import run_filter
from edi_cgt.writers.ack277 import AckWriter
from edi_cgt.x12.delimiters import Delimiters

NOW = dt.datetime(2026, 1, 2, 3, 4)
SITE = str(FIXTURES / "site.toml")


@pytest.fixture(scope="module")
def decide():
    return make_decider(DeciderConfig(site_path=SITE))


def run(data: bytes, decide, fast: bool):
    out, ack_out = io.BytesIO(), io.BytesIO()
    with AckWriter(ack_out, now=NOW) as ack:
        stats = run_filter([data[i : i + 65536] for i in range(0, len(data), 65536)], out=out, decide=decide,
                           sinks=[ack], fast=fast)
    return out.getvalue(), ack_out.getvalue(), stats


def assert_same(data: bytes, decide) -> None:
    slow_clean, slow_ack, slow = run(data, decide, fast=False)
    fast_clean, fast_ack, quick = run(data, decide, fast=True)
    assert fast_clean == slow_clean
    assert fast_ack == slow_ack
    for name in ("claims_in", "accepted", "rejected", "unevaluated", "charges_in", "charges_rejected", "warnings",
                 "by_rule", "transactions"):
        assert getattr(quick, name) == getattr(slow, name), name
    return quick


FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*.837"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixtures_same_with_and_without_fast_path(path, decide):
    assert_same(path.read_bytes(), decide)


ROWS = [r for r in sample_rows() if r["type"] in ("837P", "837I", "837P-synthetic", "837I-synthetic")]


@pytest.mark.skipif(not ROWS, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"])
def test_samples_same_with_and_without_fast_path(row, decide):
    assert_same((SAMPLES / row["file"]).read_bytes(), decide)


@pytest.mark.parametrize("cgt_share", [0.0, 0.02, 0.3, 1.0])
@pytest.mark.parametrize("newline", ["", "\n"], ids=["one-line", "newlines"])
def test_generated_corpus_same_with_and_without_fast_path(cgt_share, newline, decide):
    from edi_cgt.bench.corpus import Format

    data = b"".join(generate_corpus(seed=7, n_claims=400, cgt_share=cgt_share, claims_per_transaction=60,
                                    fmt=Format(newline=newline)))
    stats = assert_same(data, decide)
    assert stats.claims_in == 400
    if cgt_share == 0.0:
        assert stats.fast_transactions == stats.transactions  # nothing needed reading
    if cgt_share >= 0.3:
        assert stats.rejected > 0


def test_scanner_finds_codes_in_any_case_and_only_as_procedure_codes():
    d = Delimiters()
    scanner = TriggerScanner(frozenset({"Q2041", "J3392"}))
    data = (b"ST*837*1~HL*1**20*1~HL*2*1*22*0~CLM*A*10***11:B:1~SV1*HC:q2041*10*UN*1~CLM*B*5***11:B:1~SV1*HC:Q20410*5*UN*1~"
            b"CLM*C*7***11:B:1~SV2*0891*HC:J3392:Q0*7*UN*1~NM1*IL*1*Q2041~SE*9*1~")
    scan = scanner.scan(data, d)
    assert scan.claims == 3 and scan.charges == 22
    assert [data[h + 1 : h + 6] for h in scan.hits] == [b"q2041", b"J3392"]
    # a claim before any HL is for the slow path (the walker refuses it): no scan
    assert scanner.scan(b"ST*837*1~CLM*A*10***11:B:1~SV1*HC:Q2041*10*UN*1~SE*4*1~", d) is None
