# Tests for bench.corpus (the synthetic 837 builder/generator) and the bundled fixtures.
#
# pyx12 is the oracle for X12 validity; it does not check HL parent links, so those are checked
# here by a small independent reader. The fixture files are compared byte for byte with what
# fixtures/make_fixtures.py builds, so a change to the builder that moves a byte shows up.
from __future__ import annotations

import csv
import dataclasses
import gzip
import importlib.util
import io
import logging
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import pyx12.params
import pyx12.x12n_document

from bench import corpus
from support import check_envelope_and_hl, segments
from bench.corpus import (
    ClaimSpec,
    Format,
    LineSpec,
    PersonSpec,
    build_837,
    generate_corpus,
    make_npi,
    npi_is_valid,
    write_corpus,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
PYX12_VERSIONS = {"005010X222A1", "005010X223A2"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def pyx12_accepts(data: bytes) -> tuple[bool, str]:
    """Validate with pyx12 (the BOM stripped: pyx12 reads ASCII). Returns (ok, 999 text)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    ack = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=io.StringIO(data.decode("ascii")), fd_997=ack,
        fd_html=None, fd_xmldoc=None,
    )
    return ok, ack.getvalue()


def manifest_rows() -> list[dict[str, str]]:
    with (FIXTURES / "MANIFEST.tsv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def file_rows() -> list[dict[str, str]]:
    return [r for r in manifest_rows() if r["record"] == "file"]


def read_fixture(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def small_corpus(seed: int = 11, **kw) -> bytes:
    options = dict(kind="mixed", cgt_share=0.4, claims_per_transaction=20,
                   transactions_per_group=2, groups_per_interchange=2, cob_share=0.3,
                   dependent_share=0.4)
    options.update(kw)
    return b"".join(generate_corpus(seed, options.pop("n_claims", 100), **options))


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [r["file"] for r in file_rows()
     if set(r["version"].split(",")) <= PYX12_VERSIONS and not r["file"].endswith(".gz")],
)
def test_fixture_passes_pyx12(name: str) -> None:
    ok, ack = pyx12_accepts(read_fixture(name))
    assert ok, ack
    assert "IK5*A" in ack.replace("\n", "") or "IK5|A" in ack  # the 999 accepts every ST


def test_pyx12_check_can_fail() -> None:
    data = (FIXTURES / "single_claim.837").read_bytes()
    assert pyx12_accepts(data)[0]
    broken = re.sub(rb"SE\*(\d+)\*", lambda m: b"SE*" + str(int(m[1]) + 1).encode() + b"*", data)
    ok, ack = pyx12_accepts(broken)
    assert not ok and "IK5*R" in ack
    bad_pos = data.replace(b"CLM*P01-YESCARTA-OK*465200***22:B:1", b"CLM*P01-YESCARTA-OK*465200***QQ:B:1")
    assert bad_pos != data and not pyx12_accepts(bad_pos)[0]


@pytest.mark.parametrize("row", file_rows(), ids=lambda r: r["file"])
def test_manifest_counts_match_the_files(row: dict[str, str]) -> None:
    counts = check_envelope_and_hl(read_fixture(row["file"]))
    assert (counts["ISA"], counts["GS"], counts["ST"], counts["CLM"]) == (
        int(row["isa"]), int(row["gs"]), int(row["st"]), int(row["clm"]))


def test_manifest_lists_every_claim_with_an_outcome() -> None:
    rows = manifest_rows()
    for frow in (r for r in rows if r["record"] == "file" and not r["file"].endswith(".gz")):
        claim_ids = [seg[1] for seg in segments(read_fixture(frow["file"])) if seg[0] == "CLM"]
        listed = [r["claim_id"] for r in rows if r["record"] == "claim" and r["file"] == frow["file"]]
        assert listed == claim_ids, frow["file"]
    outcomes = {r["outcome"] for r in rows if r["record"] == "claim"}
    assert outcomes == {"accept", "reject", "warn"}
    clean = [r for r in rows if r["record"] == "claim" and r["file"].startswith("clean_")]
    assert clean and all(r["outcome"] == "accept" for r in clean)


def test_mixed_fixtures_cover_the_loops_they_promise() -> None:
    for name in ("cgt_837p_mixed.837", "cgt_837i_mixed.837"):
        segs = segments(read_fixture(name))
        tags = {(s[0], s[1] if len(s) > 1 else "") for s in segs}
        assert ("NM1", "QC") in tags and any(s[0] == "HL" and s[3] == "23" for s in segs)
        assert ("NM1", "PR") in tags and sum(1 for s in segs if s[0] == "SBR") > sum(
            1 for s in segs if s[0] == "HL" and s[3] == "22")  # a 2320 SBR: a COB claim
        assert ("REF", "P4") in tags and ("REF", "F8") in tags
    i_segs = segments(read_fixture("cgt_837i_mixed.837"))
    bills = {s[5].split(":")[0] + s[5].split(":")[2] for s in i_segs if s[0] == "CLM"}
    assert {"131", "111", "831", "711", "138"} <= bills


def test_fixtures_regenerate_to_the_committed_bytes() -> None:
    module = load_make_fixtures()
    built = module.build_all()
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix in (".837", ".gz")}
    assert set(built) == on_disk
    for name, data in built.items():
        if name.endswith(".gz"):  # compare contents: zlib versions may differ in bytes
            assert gzip.decompress(data) == read_fixture(name), name
        else:
            assert data == (FIXTURES / name).read_bytes(), name
    assert module.manifest(built) == (FIXTURES / "MANIFEST.tsv").read_text(encoding="utf-8")
    assert corpus.site_toml() == (FIXTURES / "site.toml").read_text(encoding="utf-8")


def test_delimiter_fixtures_use_the_delimiters_they_are_named_for() -> None:
    def isa(name: str) -> bytes:
        return read_fixture(name).removeprefix(b"\xef\xbb\xbf")[:106]

    pipe, tilde = isa("delims_pipe_gt_newline.837"), isa("delims_tilde_caret_underscore.837")
    assert pipe[3:4] + pipe[104:106] == b"|>\n"
    assert tilde[3:4] + tilde[104:106] == b"~^_"
    assert isa("delims_0x1d.837")[105:106] == b"\x1d" and b"\n" not in read_fixture("delims_0x1d.837")
    assert isa("isa11_U.837")[82:83] == b"U"
    bom = read_fixture("bom_crlf.837")
    assert bom.startswith(b"\xef\xbb\xbfISA") and b"~\r\n" in bom
    crlf = read_fixture("crlf_per_line.837")
    assert crlf.count(b"~\r\n") == crlf.count(b"~")


def test_site_toml_loads_and_names_npis_used_by_the_fixtures() -> None:
    from edi_cgt.policy.site import load_site

    site = load_site(FIXTURES / "site.toml")
    assert site.payers("ffs") == {"610442"} and site.payers("mcp") == {"MCPLAN01", "MCPLAN02"}
    qtc = site.roster("qualified_treatment_centers")
    htc = site.roster("hemophilia_treatment_centers")
    assert qtc and htc and all(npi_is_valid(n) for n in qtc | htc)
    text = read_fixture("cgt_837i_mixed.837").decode("ascii")
    assert all(n in text for n in qtc | htc)


# ---------------------------------------------------------------------------------------------
# generator
# ---------------------------------------------------------------------------------------------
def test_generated_corpus_passes_pyx12_and_hl_checks() -> None:
    data = small_corpus()
    ok, ack = pyx12_accepts(data)
    assert ok, ack[:2000]
    counts = check_envelope_and_hl(data)
    # 20 claims per ST, 2 ST per GS, 2 GS per ISA: 80 + 20 claims
    assert (counts["ISA"], counts["GS"], counts["ST"], counts["CLM"]) == (2, 3, 5, 100)


def test_generated_corpus_with_other_delimiters_passes_pyx12() -> None:
    fmt = Format(element="|", component=">", repetition="^", segment="\x1d", newline="\r\n", bom=True)
    data = small_corpus(seed=12, n_claims=60, kind="I", fmt=fmt)
    assert data.startswith(b"\xef\xbb\xbfISA|")
    assert pyx12_accepts(data)[0]
    assert check_envelope_and_hl(data)["CLM"] == 60


def test_generator_is_deterministic_and_seed_sensitive() -> None:
    assert small_corpus(seed=5) == small_corpus(seed=5)
    assert small_corpus(seed=5) != small_corpus(seed=6)


def test_worker_processes_make_the_same_bytes() -> None:
    options = dict(kind="mixed", claims_per_transaction=30, transactions_per_group=2, cgt_share=0.2)
    one = b"".join(generate_corpus(3, 250, **options))
    two = b"".join(generate_corpus(3, 250, jobs=2, **options))
    assert one == two


def test_stats_and_intents_match_the_bytes() -> None:
    seen = []
    stats = corpus.CorpusStats()
    data = b"".join(generate_corpus(21, 333, cgt_share=0.3, claims_per_transaction=50,
                                    transactions_per_group=3, on_claim=seen.append, stats=stats))
    counts = check_envelope_and_hl(data)
    claim_ids = [s[1] for s in segments(data) if s[0] == "CLM"]
    assert stats.claims == counts["CLM"] == len(seen) == 333
    assert [i.claim_id for i in seen] == claim_ids
    envelopes = (stats.interchanges, stats.groups, stats.transactions)
    assert envelopes == (counts["ISA"], counts["GS"], counts["ST"])
    assert stats.bytes == len(data)
    assert stats.cgt_claims == sum(1 for i in seen if i.scenario != "non-cgt") > 0
    assert stats.expected_rejects == sum(1 for i in seen if i.outcome == "reject") > 0


def test_scenarios_shape_the_claims() -> None:
    """With one scenario in the mix, every CGT claim shows it in its segments."""
    def cgt_claims(mix: dict[str, float], kind: str = "P") -> list[list[list[str]]]:
        seen = []
        data = b"".join(generate_corpus(8, 120, kind=kind, cgt_share=0.5, violation_mix=mix,
                                        claims_per_transaction=60, on_claim=seen.append))
        cgt = {i.claim_id for i in seen if i.scenario != "non-cgt"}
        claims, current = [], None
        for seg in segments(data):
            if seg[0] == "CLM":
                current = [seg] if seg[1] in cgt else None
                if current is not None:
                    claims.append(current)
            elif seg[0] in ("HL", "SE"):
                current = None
            elif current is not None:
                current.append(seg)
        assert len(claims) == len(cgt) > 10
        return claims

    for claim in cgt_claims({"missing-tar": 1}):
        assert not any(s[0] == "REF" and s[1] == "G1" for s in claim)
    for claim in cgt_claims({"void": 1}, kind="I"):
        assert claim[0][5].endswith(":8") and any(s[:2] == ["REF", "F8"] for s in claim)
    for claim in cgt_claims({"clinical-trial": 1}, kind="I"):
        assert any(s[:2] == ["REF", "P4"] for s in claim) and ["HI", "BG:30"] in claim
    for claim in cgt_claims({"admin-without-drug": 1}):
        codes = [s[1].split(":")[1] for s in claim if s[0] == "SV1"]
        assert "38228" in codes and not any(c.startswith("Q20") for c in codes)


@pytest.mark.parametrize("scenario", sorted(corpus.SCENARIOS))
@pytest.mark.parametrize("kind", ["P", "I"])
def test_every_scenario_generates_its_intent(scenario: str, kind: str) -> None:
    seen = []
    data = b"".join(generate_corpus(31, 12, kind=kind, cgt_share=1.0, violation_mix={scenario: 1},
                                    on_claim=seen.append))
    assert len(seen) == 12 and {i.scenario for i in seen} == {scenario}
    assert {i.outcome for i in seen} <= ({corpus.SCENARIOS[scenario]} | {"warn"})
    assert all(i.therapy and i.reason for i in seen)
    assert check_envelope_and_hl(data)["CLM"] == 12


def test_generation_streams_one_transaction_at_a_time() -> None:
    chunks = list(generate_corpus(4, 2000, claims_per_transaction=100, transactions_per_group=5))
    transactions = sum(1 for c in chunks if b"ST*837*" in c)
    assert transactions == 20
    assert max(len(c) for c in chunks) < 100 * 4000  # one transaction, not the corpus
    assert all(c.count(b"ST*837*") <= 1 for c in chunks)


def test_write_corpus_and_main(tmp_path: Path) -> None:
    out, intents = tmp_path / "c.837.gz", tmp_path / "intents.tsv"
    rc = corpus.main(["--seed", "2", "--claims", "120", "--cgt-share", "0.2", "--kind", "I",
                      "--segment", "lf", "--element", "|", "-o", str(out),
                      "--intents", str(intents), "-q"])
    assert rc == 0
    data = gzip.decompress(out.read_bytes())
    assert data[3:4] == b"|" and data[105:106] == b"\n"
    assert check_envelope_and_hl(data)["CLM"] == 120
    rows = list(csv.DictReader(intents.open(encoding="ascii"), delimiter="\t"))
    claim_ids = {s[1] for s in segments(data) if s[0] == "CLM"}
    assert rows and {r["claim_id"] for r in rows} <= claim_ids
    assert {r["outcome"] for r in rows} <= {"accept", "reject", "warn"}
    buf = io.BytesIO()
    stats = write_corpus(buf, 2, 120, kind="I", cgt_share=0.2, fmt=Format("|", ":", "^", "\n"))
    assert buf.getvalue() == data and stats.claims == 120
    assert corpus.main(["--claims", "5", "--element", ":", "-o", str(tmp_path / "x")]) == 2


def test_builder_rejects_bad_input() -> None:
    person = PersonSpec("TESTPATIENT", "ALPHA", "MCAL000001", corpus.DEFAULT_CREATED.date())
    line = LineSpec("99213", Decimal(100), service_date=corpus.DEFAULT_CREATED.date())
    claim = ClaimSpec("C1", "P", "11", ("I10",), (line,), person, corpus.CGT_CENTER_A, corpus.FFS_PAYER)
    assert b"CLM*C1*100***11:B:1*Y*A*Y*Y~" in build_837([claim])
    with pytest.raises(ValueError, match=r"segment CLM .* element 01, contains the delimiter ':'"):
        build_837([dataclasses.replace(claim, claim_id="C:1")])
    build_837([dataclasses.replace(claim, claim_id="C:1")], Format(component=">"))  # fine there
    with pytest.raises(ValueError, match="attending"):
        ClaimSpec("C2", "I", "13", ("I10",), (line,), person, corpus.CGT_CENTER_A, corpus.FFS_PAYER)
    with pytest.raises(ValueError, match="service date"):
        ClaimSpec("C3", "P", "11", ("I10",), (LineSpec("99213", Decimal(1)),), person,
                  corpus.CGT_CENTER_A, corpus.FFS_PAYER)
    with pytest.raises(ValueError, match="differ"):
        Format(element="*", component="*")
    with pytest.raises(ValueError, match="unknown scenario"):
        list(generate_corpus(1, 10, violation_mix={"nonsense": 1}))


def test_npis_are_luhn_valid() -> None:
    assert npi_is_valid("1234567893")  # the standard example NPI
    assert not npi_is_valid("1234567890")
    assert all(npi_is_valid(make_npi(n)) for n in range(0, 5000, 7))
    centers = corpus.QUALIFIED_TREATMENT_CENTERS + corpus.HEMOPHILIA_TREATMENT_CENTERS
    assert all(npi_is_valid(n) for n in centers)
