# The Python API (edi_cgt.filter_file, check_file, load_policy): the same results as the CLI,
# frozen values, and a light `import edi_cgt`.
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import edi_cgt
from support import FIXTURES, ROOT, json_events, pyx12_validate, run_cli

MIXED_I = FIXTURES / "cgt_837i_mixed.837"
SITE = FIXTURES / "site.toml"
EPOCH = {"SOURCE_DATE_EPOCH": "1760000000"}


@pytest.mark.parametrize("name", ["cgt_837i_mixed.837", "cgt_837p_mixed.837.gz", "multi_isa_gs_st.837",
                                  "clean_837p.837"])
def test_filter_file_writes_what_the_cli_writes(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src = FIXTURES / name
    res = run_cli("filter", str(src), "-o", str(tmp_path / "cli.837"), "--rejects", str(tmp_path / "cli.277"),
                  "--site", str(SITE), env=EPOCH)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    events: list[tuple[str, dict]] = []
    result = edi_cgt.filter_file(src, tmp_path / "api.837", tmp_path / "api.277", site=SITE,
                                 on_event=lambda event, **fields: events.append((event, fields)))
    assert (tmp_path / "api.837").read_bytes() == (tmp_path / "cli.837").read_bytes()
    # a clean input has nothing to acknowledge: neither writes a 277CA file (no 0-byte file)
    assert (tmp_path / "api.277").exists() == (tmp_path / "cli.277").exists() == (result.rejected > 0)
    if result.rejected:
        ack = (tmp_path / "api.277").read_bytes()
        assert ack == (tmp_path / "cli.277").read_bytes() and pyx12_validate(ack)[0]
    (summary,) = [e for e in json_events(res.stderr) if e["event"] == "summary"]
    assert (result.claims, result.accepted, result.rejected, result.unevaluated, result.warnings) == \
        (summary["claims_in"], summary["accepted"], summary["rejected"], summary["unevaluated"], summary["warnings"])
    assert result.charges_rejected == Decimal(summary["charges_rejected"])
    assert dict(result.rejected_by_rule) == summary["by_rule"]
    assert result.exit_status == res.returncode
    cli_claims = [(e["event"], e["claim_id"], e["rules"]) for e in json_events(res.stderr) if e["event"].startswith("claim_")]
    assert [(n, f["claim_id"], f["rules"]) for n, f in events if n.startswith("claim_")] == cli_claims


def test_results_are_frozen_values(tmp_path: Path) -> None:
    result = edi_cgt.filter_file(MIXED_I, tmp_path / "c.837", tmp_path / "r.277", site=SITE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rejected = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.rejected_by_rule["CGT-AUTH-REQUIRED"] = 0  # type: ignore[index]
    checked = edi_cgt.check_file(MIXED_I, site=SITE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.claims[0].rejected = True  # type: ignore[misc]
    assert isinstance(checked.claims, tuple)


def test_check_file_agrees_with_check(tmp_path: Path) -> None:
    res = run_cli("check", str(MIXED_I), "--site", str(SITE), "--format", "jsonl")
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    decisions = {r["claim_id"]: r["decision"] for r in rows}
    checked = edi_cgt.check_file(MIXED_I, site=SITE, policy=edi_cgt.load_policy())
    assert {c.claim_id: "reject" if c.rejected else "accept" for c in checked.claims} == decisions
    assert [(c.claim_id, f.rule_id, f.fix) for c in checked.claims for f in c.findings] == \
        [(r["claim_id"], r["rule_id"], r["fix"]) for r in rows if r["rule_id"] is not None]
    assert checked.exit_status == res.returncode == 1
    assert (checked.rejected, checked.warnings) == (9, 4)


def test_load_policy_reads_a_revision() -> None:
    base = edi_cgt.load_policy()
    revised = edi_cgt.load_policy(ROOT / "docs/policy-revision-example.xml")
    assert len(revised.documents) == len(base.documents) + 1
    assert base.latest.rules["CGT-AUTH-REQUIRED"].severity == "error"


def test_import_is_light_and_the_api_is_lazy() -> None:
    code = ("import sys, edi_cgt; heavy = [m for m in sys.modules if m.startswith(('edi_cgt.', 'click', 'structlog', "
            "'lxml'))]; assert not heavy, heavy; assert callable(edi_cgt.filter_file); "
            "assert 'edi_cgt.api' in sys.modules; print(edi_cgt.__version__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    version = subprocess.run([sys.executable, "-X", "importtime", "-m", "edi_cgt", "--version"], capture_output=True,
                             cwd=ROOT, timeout=60)
    assert version.returncode == 0 and b"0.1.0" in version.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in version.stderr.decode().splitlines()}
    assert not {"edi_cgt.pipeline", "edi_cgt.api", "edi_cgt.policy", "lxml.etree"} & imported


def test_errors_are_the_projects_exceptions(tmp_path: Path) -> None:
    from edi_cgt.io import InputError
    from edi_cgt.x12.errors import X12Error

    with pytest.raises(InputError, match="missing.837"):
        edi_cgt.filter_file(tmp_path / "missing.837", tmp_path / "c.837", tmp_path / "r.277")
    bad = tmp_path / "bad.837"
    bad.write_bytes(b"GS*HC*X*Y*20250101*1200*1*X*005010X222A1~")
    with pytest.raises(X12Error, match="segment 1"):
        edi_cgt.check_file(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.837"]
