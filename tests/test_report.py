# The replay report answers "why": replay the bundled fixtures through the real CLI, with and
# without a site file, and check summary.json, rejections.csv, warnings.csv and report.html
# against what `check --format jsonl` says claim by claim; then open the report in a real
# headless browser (Debian's chromium; skipped when it is not installed).
from __future__ import annotations

import collections
import csv
import html
import json
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from edi_cgt.io import read_chunks
from edi_cgt.pipeline import read_claims, run_filter
from edi_cgt.decider import DeciderConfig, make_decider
from edi_cgt.policy import load_policy
from edi_cgt.replay import Collector

from support import FIXTURES, p_claims, run_cli

INPUTS = [FIXTURES / n for n in ("cgt_837i_mixed.837", "cgt_837p_mixed.837", "multi_isa_gs_st.837",
                                 "clean_837i.837", "clean_837p.837")]
SITE = FIXTURES / "site.toml"
POLICY = load_policy()
RULES = POLICY.base.rules
DRUGS = frozenset().union(*(v.therapies for v in POLICY.views()))

pytestmark = pytest.mark.skipif(not all(p.is_file() for p in INPUTS), reason="fixtures not generated")


def _replay(out: Path, *site: str) -> dict:
    res = run_cli("replay", *map(str, INPUTS), "--out", str(out), "--jobs", "1", *site)
    assert res.returncode == 1, res.stderr  # some claims rejected
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def with_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("replay-site")
    return out, _replay(out, "--site", str(SITE))


@pytest.fixture(scope="module")
def without_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("replay-nosite")
    return out, _replay(out)


def _check_rows(*site: str) -> list[dict]:
    """`check --format jsonl` over the same inputs: the claim-by-claim answer to compare with."""
    res = run_cli("check", *map(str, INPUTS), "--format", "jsonl", *site)
    assert res.returncode == 1, res.stderr
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    for r in rows:
        r["file"] = str(Path(r["file"]).resolve())
    return rows


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("site", [True, False], ids=["site", "no-site"])
def test_rejections_csv_gives_reason_passage_and_fix(site: bool, with_site, without_site) -> None:
    out, summary = with_site if site else without_site
    rows = _csv(out / "rejections.csv")
    assert list(rows[0])[-3:] == ["reason", "passage", "fix"]
    assert len(rows) == summary["totals"]["rejected"] > 0
    errors: dict[tuple[str, str, int], list[dict]] = collections.defaultdict(list)
    for r in _check_rows(*(["--site", str(SITE)] if site else [])):
        if r["severity"] == "error":
            errors[(r["file"], r["claim_id"], r["segment_number"])].append(r)
    assert len(errors) == len(rows)
    for row in rows:
        found = errors[(row["file"], row["claim_id"], int(row["segment"]))]
        assert row["reason"] == " | ".join(f"{f['rule_id']}: {f['message']}" for f in found)
        assert row["passage"] == " | ".join(dict.fromkeys(f["passage"] for f in found))
        assert row["fix"] == " | ".join(dict.fromkeys(f"{f['rule_id']}: {RULES[f['rule_id']].fix}" for f in found))
        assert row["rules"].split() == list(dict.fromkeys(f["rule_id"] for f in found))


@pytest.mark.parametrize("site", [True, False], ids=["site", "no-site"])
def test_every_warning_is_listed(site: bool, with_site, without_site) -> None:
    out, summary = with_site if site else without_site
    expected = collections.Counter(
        (r["file"], r["claim_id"], r["rule_id"], r["line_number"], r["message"])
        for r in _check_rows(*(["--site", str(SITE)] if site else [])) if r["severity"] == "warning")
    rows = _csv(out / "warnings.csv")
    got = collections.Counter((r["file"], r["claim_id"], r["rule"], int(r["line"]) if r["line"] else None, r["reason"])
                              for r in rows)
    assert got == expected and sum(expected.values()) == summary["totals"]["warnings"] > 0
    assert all(r["fix"] == RULES[r["rule"]].fix and r["passage"] and r["decision"] in ("accept", "reject") for r in rows)
    by_rule = {w["key"]: (w["claims"], w["findings"]) for w in summary["warnings_by_rule"]}
    want: dict[str, tuple[int, int]] = {}
    for rule in {k[2] for k in expected}:
        claims = {(k[0], k[1]) for k in expected if k[2] == rule}
        want[rule] = (len(claims), sum(n for k, n in expected.items() if k[2] == rule))
    assert by_rule == want


ONE_WARNING = """
CLM*ROUTINE-1*150***11:B:1*Y*A*Y*Y
HI*ABK:J189
LX*1
SV1*HC:99213*150*UN*1***1
DTP*472*D8*20251021
CLM*CASGEVY-FFS*2200000***22:B:1*Y*A*Y*Y
REF*G1*12345678901
HI*ABK:D5700
LX*1
SV1*HC:J3392*2200000*UN*1***1
DTP*472*D8*20251021
"""


def test_warnings_of_a_transaction_with_nothing_rejected_reach_the_report() -> None:
    """One policy claim among two, nothing rejected: only that claim is read, and the
    transaction is copied as it came; its warning (no site file: the payer's program is unknown)
    still reaches the collector."""
    collector = Collector(drug_codes=DRUGS)
    stats = run_filter([p_claims(ONE_WARNING)], out=None, decide=make_decider(DeciderConfig()),
                       sinks=[collector], where="one-warning.837")
    assert stats.claims_read == 1 and stats.claims_in == 2 and stats.rejected == 0 and stats.warnings == 1
    assert [(w["claim_id"], w["rule"], w["decision"]) for w in collector.warnings] == [
        ("CASGEVY-FFS", "CGT-SCD-CARVE-OUT-PAYER-UNKNOWN", "accept")]
    assert collector.counters()["warnings_by_rule"] == {"CGT-SCD-CARVE-OUT-PAYER-UNKNOWN": {"claims": 1, "findings": 1}}
    assert collector.counters()["by_provider"] == {"1234567893": {"rejected": 0, "charges_rejected": "0", "warned": 1}}
    assert collector.rejections == []


def test_claims_count_once_per_therapy_drug_code(with_site) -> None:
    out, summary = with_site
    claims = {}
    for path in INPUTS:
        for c in read_claims(read_chunks(path), where=str(path)):
            claims[(str(path.resolve()), c.location.segment_number)] = c
    expected: collections.Counter = collections.Counter()
    charges: dict[str, Decimal] = collections.defaultdict(Decimal)
    for row in _csv(out / "rejections.csv"):
        claim = claims[(row["file"], int(row["segment"]))]
        drugs = list(dict.fromkeys(ln.code for ln in claim.lines if ln.code in DRUGS))
        keys = drugs or ["(no drug code) " + " ".join(row["hcpcs"].split())]
        for key in keys:
            expected[key] += 1
            charges[key] += claim.total_charge
    got = {r["key"]: r["rejected"] for r in summary["by_therapy"]}
    assert got == dict(expected)
    assert "38228" not in got and got["(no drug code) 38228"] == 3  # I04 twice (two files) and P17
    assert all(Decimal(r["charges_rejected"]) == charges[r["key"]] for r in summary["by_therapy"])
    names = {r["key"]: r["product"] for r in summary["by_therapy"]}
    assert names["Q2041"] == "Yescarta" and names["(no drug code) 38228"] == "No CGT drug code on the claim (only 38228)"


def test_payer_programs_and_providers(with_site, without_site) -> None:
    site_out, site_summary = with_site
    programs = {r["key"]: r["program"] for r in site_summary["by_payer"]}
    assert programs == {"610442": "Medi-Cal FFS", "MCPLAN01": "managed care plan"}
    assert {r["program"] for r in without_site[1]["by_payer"]} == {"unknown (no site file)"}
    providers = {r["key"]: r for r in site_summary["by_provider"]}
    assert sum(r["rejected"] for r in providers.values()) == site_summary["totals"]["rejected"]
    assert providers["1001000011"]["name"] == "TEST UNIVERSITY CGT CENTER"
    page = (site_out / "report.html").read_text()
    for npi, r in providers.items():
        assert f"<td>{html.escape(r['name'])}</td><td>{npi}</td><td class=\"n\">{r['rejected']:,}</td>" in page


def test_report_html_answers_why(with_site, without_site) -> None:
    out, summary = with_site
    page = (out / "report.html").read_text()
    for r in summary["by_therapy"]:
        if r["key"] in DRUGS:
            t = POLICY.base.therapies[r["key"]]
            assert f"<td>{html.escape(t.product)} ({html.escape(t.generic)})</td><td>{r['key']}</td>" in page
    assert "No CGT drug code on the claim (only 38228)" in page
    for rule_id in [r["key"] for r in summary["by_rule"]] + [w["key"] for w in summary["warnings_by_rule"]]:
        spec = RULES[rule_id]
        assert f"<b>{rule_id}</b><br>{html.escape(spec.title)}" in page
        assert html.escape(spec.fix) in page
    for r in summary["by_month"]:  # every month's value is written on its bar
        assert f">{r['rejected']:,}</text><text transform" in page.split(f">{r['key']}</text>")[0].rsplit("<g>", 1)[1]
    assert 'href="rejections.csv"' in page and 'href="warnings.csv"' in page
    assert 'id="no-site"' not in page
    assert html.escape(summary["rejection_examples"][0]["reason"].split(" | ")[0]) in page
    nosite = (without_site[0] / "report.html").read_text()
    assert 'id="no-site"' in nosite and "No site file was used." in nosite
    assert "<script" not in page.lower() and "TESTPATIENT" not in page + nosite


# -- in a real browser ---------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-sync", "--disable-component-update", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, timeout=180)


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, filtered scanlines) of a PNG file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(without_site, tmp_path: Path) -> None:
    out, summary = without_site
    url = (out / "report.html").resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout.decode()
    for heading in ("Rejected claims by rule", "Rejected claims by month of service", "Rejected claims by therapy",
                    "Rejected claims by payer", "Billing providers", "Warnings", "Rejected claims"):
        assert f"<h2>{heading}</h2>" in text, heading
    assert "No site file was used." in text and text.count("<svg") == 3
    assert "Yescarta (axicabtagene ciloleucel)" in text and "unknown (no site file)" in text
    shot = tmp_path / "report.png"
    res = _chromium(tmp_path, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", url)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2400)
    # not a blank page: a plain background compresses to a handful of byte values
    assert len(set(pixels[: len(pixels) // 2])) > 100
