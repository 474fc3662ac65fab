# Tests for bench.shapes, the benchmark's second corpus builder: real claims from public 837
# files replicated into other shapes. pyx12 validates what it writes from template files pyx12
# accepts; an independent reader checks counts, control numbers and the HL tree whatever the
# templates; the real CLI checks that every claim is read and that each CGT claim is rejected
# for exactly its recipe's two rules.
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bench import shapes
from edi_cgt.policy import trigger_codes
from support import ROOT, SAMPLES, check_envelope_and_hl, pyx12_validate, run_cli, run_cli_tty, segments

SITE = ROOT / "fixtures" / "site.toml"
# Public files whose claims pyx12 accepts as they are (the others carry their own errors:
# ICD-9 codes in malformed HI segments, 5-digit ZIP codes in 2010AA, PWK codes, missing 2330B).
PYX12_CLEAN = ("sti_837p_ambulance.edi", "sti_837p_commercial_health_insurance.edi",
               "sti_837p_drug_in_physician_office.edi", "sti_837p_home_infusion_hcpcs_or_ndc.edi",
               "sti_837p_medicare_secondary_payer_cob.edi", "sti_837p_cob_bp_to_payer_a.edi", "lfh_837p_demo.837",
               "lfh_837p_example1.837", "lfh_837p_drug_example10_2.837", "oop_837p_cr_terminator_ST1309.txt",
               "sti_837i_ppo_repriced.edi")
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")


@pytest.fixture(scope="module")
def templates() -> list[shapes.Template]:
    return shapes.read_templates()


def _build(templates: list[shapes.Template], shape: shapes.Shape, claims: int) -> tuple[bytes, shapes.Stats]:
    out = io.BytesIO()
    stats = shapes.build(out, shape, templates, claims=claims)
    return out.getvalue(), stats


def _claims(data: bytes) -> list[list[list[str]]]:
    """Each claim's segments: CLM up to the next HL or SE."""
    out: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for seg in segments(data):
        if seg[0] == "CLM":
            current = [seg]
            out.append(current)
        elif seg[0] in ("HL", "SE"):
            current = None
        elif current is not None:
            current.append(seg)
    return out


def test_templates_are_real_claims_of_both_kinds(templates: list[shapes.Template]) -> None:
    kinds = Counter(t.kind for t in templates)
    assert kinds["P"] >= 2 and kinds["I"] >= 1
    sources = {t.source for t in templates}
    if SAMPLES.is_dir():  # every family of public files gives claims (ims, lfh, oop, sti)
        assert {s.split("_")[0] for s in sources} >= {"ims", "lfh", "oop", "sti"}
    codes = trigger_codes()
    for t in templates:  # none carries a policy code: a 0% corpus has no CGT claim
        for line in t.lines:
            service = line[0]
            code = service[1 if t.kind == "P" else 2].split("\x1f")[1]
            assert code not in codes


@pytest.mark.parametrize("shape", [
    shapes.Shape("P", 7, (4, 4), 1.0, 0.1),
    shapes.Shape("P", 50, (1, 1), 0.0, 0.0, shapes.Delimiters("|", ">", "^", "\n")),
    shapes.Shape("I", 9, (1, 6), 0.5, 1.0, shapes.Delimiters(newline="\r\n"), transactions_per_group=2),
    shapes.Shape("I", 1000, (2, 3), 0.0, 0.02, shapes.Delimiters("*", ":", "^", "\x1d")),
], ids=["P-4lines-patients", "P-pipe-newline", "I-crlf-cgt100", "I-0x1d"])
def test_the_shape_asked_for_with_counts_and_numbers_right(templates: list[shapes.Template],
                                                           shape: shapes.Shape) -> None:
    data, stats = _build(templates, shape, 60)
    counts = check_envelope_and_hl(data)  # SE01, GE01, IEA01, control numbers, HL ids/parents/HL04
    assert counts["CLM"] == stats.claims == 60
    assert counts["ST"] == stats.transactions == -(-60 // shape.claims_per_transaction)
    assert counts["ISA"] == counts["GS"] == -(-stats.transactions // shape.transactions_per_group)
    segs = segments(data)
    assert {s[8] for s in segs if s[0] == "GS"} | {s[3] for s in segs if s[0] == "ST"} == {shapes.VERSIONS[shape.kind]}
    assert segs[0][16] == shape.delimiters.component
    claims = _claims(data)
    assert len({c[0][1] for c in claims}) == 60  # CLM01 unique
    lo, hi = shape.lines
    service = "SV1" if shape.kind == "P" else "SV2"
    for claim in claims:
        lx = [s[1] for s in claim if s[0] == "LX"]
        assert lx == [str(i) for i in range(1, len(lx) + 1)] and lo <= len(lx) <= hi
        charges = [s[2 if shape.kind == "P" else 3] for s in claim if s[0] == service]
        assert sum(map(Decimal, charges)) == Decimal(claim[0][2])
    patients = sum(1 for s in segs if s[0] == "HL" and s[3] == "23")
    assert patients == stats.patients and (patients == 60 if shape.patients == 1 else patients < 60)
    assert stats.cgt_claims == int(60 * shape.cgt_share) == stats.expected_rejects
    if shape.delimiters.newline:
        assert data.count(shape.delimiters.segment.encode() + b"\r\n") == len(segs)


def test_same_seed_same_bytes_other_seed_other_bytes(templates: list[shapes.Template]) -> None:
    shape = shapes.Shape("P", 20, (1, 6), 0.5, 0.05)
    first, _ = _build(templates, shape, 40)
    assert _build(templates, shape, 40)[0] == first
    other = shapes.Shape("P", 20, (1, 6), 0.5, 0.05, seed=2)
    assert _build(templates, other, 40)[0] != first


def test_size_target_writes_whole_transactions(templates: list[shapes.Template]) -> None:
    out = io.BytesIO()
    stats = shapes.build(out, shapes.Shape("I", 10**9, (1, 6), 0.0, 0.0), templates, size=150_000)
    data = out.getvalue()
    assert 150_000 <= len(data) == stats.bytes < 170_000 and stats.transactions == 1
    assert check_envelope_and_hl(data)["CLM"] == stats.claims


@needs_samples
@pytest.mark.parametrize("shape", [
    shapes.Shape("P", 6, (1, 6), 0.5, 0.25),
    shapes.Shape("P", 20, (4, 4), 1.0, 1.0, shapes.Delimiters("|", ">", "^", "\n")),
    shapes.Shape("I", 5, (1, 6), 1.0, 0.2, shapes.Delimiters(newline="\r\n")),
    shapes.Shape("I", 20, (1, 1), 0.0, 0.0),
], ids=["P-mixed", "P-pipe-cgt100", "I-patients-crlf", "I-0pct"])
def test_pyx12_accepts_what_it_writes_from_clean_templates(shape: shapes.Shape) -> None:
    clean = shapes.read_templates(SAMPLES / name for name in PYX12_CLEAN)
    data, stats = _build(clean, shape, 20)
    ok, ack = pyx12_validate(data)
    assert ok, ack
    assert stats.claims == 20


@pytest.mark.parametrize("kind", ["P", "I"])
def test_every_cgt_claim_rejected_for_exactly_its_recipe_rules(tmp_path: Path, templates: list[shapes.Template],
                                                                 kind: str) -> None:
    data, stats = _build(templates, shapes.Shape(kind, 30, (1, 6), 0.5, 1.0), 40)
    path = tmp_path / "c.837"
    path.write_bytes(data)
    result = run_cli("check", "--format", "jsonl", "--site", str(SITE), str(path))
    assert result.returncode == 1, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    errors: dict[str, set[str]] = {}
    for row in rows:
        assert row["decision"] == "reject"
        if row["severity"] == "error":
            errors.setdefault(row["claim_id"], set()).add(row["rule_id"])
    assert len(errors) == stats.claims == 40
    wanted = Counter(frozenset(r.rules) for r in shapes.RECIPES for _ in range(20))
    assert Counter(frozenset(v) for v in errors.values()) == wanted


def test_zero_percent_corpus_passes_every_claim(tmp_path: Path, templates: list[shapes.Template]) -> None:
    data, stats = _build(templates, shapes.Shape("P", 25, (1, 6), 0.5, 0.0), 50)
    path = tmp_path / "c.837"
    path.write_bytes(data)
    result = run_cli("filter", "--read-all", str(path), "-o", str(tmp_path / "out.837"), "--rejects",
                     str(tmp_path / "r.277"), "--site", str(SITE), "--log-format", "json")
    assert result.returncode == 0, result.stderr
    summary = [json.loads(x) for x in result.stderr.splitlines() if b'"summary"' in x][-1]
    assert summary["claims_in"] == summary["accepted"] == stats.claims and summary["unevaluated"] == 0


def test_fixtures_are_the_templates_when_the_shared_corpus_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "SAMPLES", ROOT / "no-such-dir")
    files = shapes.default_template_files()
    assert files and all(f.parent == ROOT / "fixtures" for f in files)
    fallback = shapes.read_templates(files)
    data, stats = _build(fallback, shapes.Shape("I", 10, (1, 3), 1.0, 0.1), 20)
    assert check_envelope_and_hl(data)["CLM"] == 20 and stats.cgt_claims == 2


def test_a_delimiter_inside_template_data_leaves_that_template_out() -> None:
    t = shapes.Template("P", "x", (("BHT", "0019"),), (("NM1", "85", "2", "A|B"),), (("SBR", "P"),), None,
                        (("CLM", "1", "10", "", "", "11\x1fB\x1f1"),), ((("SV1", "HC\x1f99213", "10"),),))
    with pytest.raises(ValueError, match="no usable 837P template"):
        shapes.build(io.BytesIO(), shapes.Shape("P", delimiters=shapes.Delimiters("|", ">", "^", "~")), [t], claims=1)
    assert shapes.build(io.BytesIO(), shapes.Shape("P"), [t], claims=1).claims == 1


def test_command_line_writes_a_file_and_refuses_bad_options(tmp_path: Path) -> None:
    out = tmp_path / "s.837"
    env = {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.shapes", "--kind", "I", "--claims", "30", "--lines", "2,3",
                           "--patients", "1", "--cgt-share", "0.1", "--newline", "lf", "-o", str(out)],
                          capture_output=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert b"30 claims (3 CGT" in done.stderr and b"\r" not in done.stderr  # a pipe: no progress line
    assert check_envelope_and_hl(out.read_bytes())["CLM"] == 30
    bad = subprocess.run([sys.executable, "-m", "bench.shapes", "--lines", "0", "-o", str(out)],
                         capture_output=True, cwd=ROOT, env=env)
    assert bad.returncode == 2 and b"lines" in bad.stderr


@pytest.mark.parametrize("module", ["bench.shapes", "bench.corpus"])
def test_progress_on_a_terminal(tmp_path: Path, module: str) -> None:
    out = tmp_path / "big.837"
    size = "--claims 3000" if module == "bench.shapes" else "--claims 600"
    status, _, seen = run_cli_tty(shell=f"'{sys.executable}' -m {module} {size} -o {out}", timeout=120)
    assert status == 0, seen
    text = seen.decode("utf-8", "replace")
    assert "\x1b[K" in text and " MB, " in text and " claims, " in text and "MB/s" in text
