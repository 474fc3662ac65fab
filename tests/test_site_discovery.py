# Site settings found, or their absence said: --site, else $EDI_CGT_SITE, else ./edi-cgt.toml;
# with none, exactly one warning naming what is unknown and which rules cannot reject, derived
# from the policy data.
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import FIXTURES, ROOT, error_lines, json_events, run_cli, run_cli_tty

MIXED_P = FIXTURES / "cgt_837p_mixed.837"  # P15-LYFGENIA-MCP is rejected only when the site lists PLAN01 as MCP
SITE = FIXTURES / "site.toml"
POLICY = ROOT / "edi_cgt/policy/data/medi-cal-cgt-2025-07.xml"


def _site_events(res) -> list[dict]:
    return [e for e in json_events(res.stderr) if e["event"].startswith("site_settings")]


def _summary(res) -> dict:
    (summary,) = [e for e in json_events(res.stderr) if e["event"] == "summary"]
    return summary


@pytest.mark.parametrize("command", ["filter", "check", "replay"])
def test_without_site_settings_one_warning_names_the_rules(tmp_path: Path, command: str) -> None:
    args = {"filter": ["filter", str(MIXED_P), "-o", "c.837", "--rejects", "r.277"],
            "check": ["check", str(MIXED_P)],
            "replay": ["replay", str(MIXED_P), "--out", "out", "--jobs", "1"]}[command]
    res = run_cli(*args, cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    assert res.returncode == 1, res.stderr
    (event,) = _site_events(res)
    assert event["event"] == "site_settings_missing" and event["level"] == "warning"
    assert event["cannot_reject"] == ["CART-REMS-FACILITY", "CGT-SCD-CARVE-OUT"]
    assert event["warn_instead"] == ["CGT-SCD-CARVE-OUT-PAYER-UNKNOWN"]
    message = event["message"]
    assert "payer programs ([payers] ffs, mcp)" in message and "rems_certified" in message
    assert "CART-REMS-FACILITY and CGT-SCD-CARVE-OUT cannot reject a claim" in message


def test_the_warning_follows_the_policy_data(tmp_path: Path) -> None:
    # The same policy with the REMS rule made a warning: it is no longer "cannot reject".
    text = POLICY.read_text()
    variant = tmp_path / "variant.xml"
    variant.write_text(text.replace('<rule id="CART-REMS-FACILITY" severity="error"',
                                    '<rule id="CART-REMS-FACILITY" severity="warning"'))
    assert variant.read_text() != text
    res = run_cli("check", str(MIXED_P), "--policy", str(variant), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    (event,) = _site_events(res)
    assert event["cannot_reject"] == ["CGT-SCD-CARVE-OUT"]
    assert "CART-REMS-FACILITY" not in event["message"]


def test_each_way_of_giving_site_settings_gives_the_same_decisions(tmp_path: Path) -> None:
    without = run_cli("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    option = run_cli("check", str(MIXED_P), "--site", str(SITE), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    env = run_cli("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": str(SITE)})
    shutil.copy(SITE, tmp_path / "edi-cgt.toml")
    local = run_cli("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    assert [e["found_by"] for r in (option, env, local) for e in _site_events(r)] == \
        ["--site", "$EDI_CGT_SITE", "./edi-cgt.toml"]
    assert option.stdout == env.stdout == local.stdout
    assert _summary(option)["rejected"] == _summary(without)["rejected"] + 1  # P15-LYFGENIA-MCP
    assert b"P15-LYFGENIA-MCP" in option.stdout


def test_the_option_wins_and_a_named_file_must_exist(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[payers\n")
    res = run_cli("check", str(MIXED_P), "--site", str(SITE), cwd=tmp_path, env={"EDI_CGT_SITE": str(bad)})
    assert res.returncode == 1 and [e["found_by"] for e in _site_events(res)] == ["--site"]
    res = run_cli("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": str(bad)})
    assert res.returncode == 2 and "bad.toml:1: not valid TOML" in error_lines(res.stderr.decode())[0]
    res = run_cli("filter", str(MIXED_P), "-o", "c.837", "--rejects", "r.277", cwd=tmp_path,
                  env={"EDI_CGT_SITE": str(tmp_path / "missing.toml")})
    (line,) = error_lines(res.stderr.decode())
    assert res.returncode == 2 and "missing.toml: site file named by $EDI_CGT_SITE does not exist" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_on_a_terminal_the_warning_is_one_line(tmp_path: Path) -> None:
    status, _, raw = run_cli_tty("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    text = raw.decode()
    assert status == 1
    assert text.count("no site settings") == 1
    assert "edi-cgt: \x1b[33mwarning\x1b[0m: no site settings (give --site FILE" in text
    shutil.copy(SITE, tmp_path / "edi-cgt.toml")
    status, _, raw = run_cli_tty("check", str(MIXED_P), cwd=tmp_path, env={"EDI_CGT_SITE": ""})
    assert "edi-cgt: site settings: edi-cgt.toml (found by ./edi-cgt.toml)" in raw.decode()
