# A person's terminal and a machine's pipe: the same run, rendered twice.
#
# Every test runs the real CLI on real 837 text: once with stderr on a pseudo-terminal (what a
# person sees: readable lines, colour unless NO_COLOR, a progress line, a summary, one error
# line) and once with stderr a pipe (JSON events, no progress, one `fatal` event).
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from support import FIXTURES, ROOT, error_lines, json_events, run_cli, run_cli_tty
from fuzz.oracle import filter_in_process, rejected_ids  # noqa: E402  (support puts the checkout on sys.path)

MIXED_I = FIXTURES / "cgt_837i_mixed.837"
SITE = FIXTURES / "site.toml"
_ESC = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


def screen(raw: bytes) -> list[str]:
    """The lines a terminal ends up showing: escape codes dropped, '\\r' rewrites applied."""
    lines = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        line = line.split(b"\r")[-1]  # a carriage return starts the line over
        lines.append(_ESC.sub(b"", line).decode("utf-8", "replace"))
    return [ln for ln in lines if ln.strip()]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3.4 MB of real 837I (the mixed fixture's interchange 200 times): long enough to
    read that a progress line appears."""
    path = tmp_path_factory.mktemp("big") / "big.837"
    path.write_bytes(MIXED_I.read_bytes() * 200)
    return path


def _filter_args(tmp_path: Path, src: Path = MIXED_I, *extra: str) -> list[str]:
    return ["filter", str(src), "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "r.277"),
            "--site", str(SITE), *extra]


# -- one line per rejected claim, a summary ----------------------------------------------------------
def test_filter_on_a_terminal_prints_readable_lines_and_a_summary(tmp_path: Path) -> None:
    status, out, raw = run_cli_tty(*_filter_args(tmp_path))
    assert status == 1
    lines = screen(raw)
    assert not [ln for ln in lines if ln.lstrip().startswith("{")], "no JSON on a terminal"
    rejected = rejected_ids((tmp_path / "r.277").read_bytes())
    shown = [ln.split()[1] for ln in lines if ln.startswith("rejected ")]
    assert sorted(shown) == sorted(rejected) and len(shown) == 9
    yescarta = next(ln for ln in lines if ln.startswith("rejected  I02-YESCARTA-INPT"))
    assert "  $504,800.00  " in yescarta  # CLM02 504800, as dollars
    assert "CGT-SETTING-NOT-ALLOWED" in yescarta and "restricted to hospital outpatient" in yescarta
    (summary,) = [ln for ln in lines if ln.startswith("summary")]
    assert "28 claims: 19 accepted, 9 rejected, 4 warnings, 0 unevaluated" in summary
    assert re.search(r"charges \$[\d,]+\.\d\d, rejected \$[\d,]+\.\d\d", summary), summary
    warned = [ln for ln in lines if ln.startswith("warning ")]
    assert warned and all(ln.split()[1] for ln in warned)
    assert b"\x1b[31m" in raw, "colour on a terminal"
    assert b"Traceback" not in raw


def test_no_color_is_respected(tmp_path: Path) -> None:
    status, _, raw = run_cli_tty(*_filter_args(tmp_path), env={"NO_COLOR": "1"})
    assert status == 1
    assert not re.search(rb"\x1b\[[0-9;]*m", raw), "NO_COLOR: no colour codes"
    assert any(ln.startswith("rejected ") for ln in screen(raw))


def test_the_same_run_in_a_pipe_is_json_with_the_event_contract(tmp_path: Path) -> None:
    res = run_cli(*_filter_args(tmp_path))
    assert res.returncode == 1
    assert all(ln.startswith("{") for ln in res.stderr.decode().splitlines()), "only JSON lines in a pipe"
    events = json_events(res.stderr)
    rejected = [e for e in events if e["event"] == "claim_rejected"]
    warned = [e for e in events if e["event"] == "claim_warning"]
    assert sorted(e["claim_id"] for e in rejected) == sorted(rejected_ids((tmp_path / "r.277").read_bytes()))
    for e in rejected + warned:
        assert set(e) >= {"file", "claim_id", "rules", "reasons", "transaction", "segment", "charge"}
        assert len(e["rules"]) == len(e["reasons"]) >= 1 and all(isinstance(r, str) and r for r in e["reasons"])
        assert e["level"] == "info" and e["file"] == str(MIXED_I)
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["warnings"] == sum(len(e["rules"]) for e in warned) == 4
    assert summary["rejected"] == len(rejected) and summary["claims_in"] == 28
    assert Counter(r for e in rejected for r in set(e["rules"])) == Counter(summary["by_rule"])


def test_log_format_forces_either_form(tmp_path: Path) -> None:
    status, _, raw = run_cli_tty("--log-format", "json", *_filter_args(tmp_path))
    assert status == 1 and any(e["event"] == "summary" for e in json_events(b"\n".join(
        ln.encode() for ln in screen(raw))))
    res = run_cli(*_filter_args(tmp_path), "--log-format", "text")  # the command's own option
    text = res.stderr.decode()
    assert res.returncode == 1 and "{" not in text.splitlines()[0]
    assert any(ln.startswith("summary  ") for ln in text.splitlines())
    assert "\x1b[" not in text, "no colour when stderr is not a terminal"


def test_filter_logs_warnings_whether_every_claim_is_read_or_not() -> None:
    # A claim read and accepted with warnings must have them counted and logged, whether the
    # other claims are read (--read-all) or not: the same claim events either way.
    for name in ("cgt_837i_mixed.837", "cgt_837p_mixed.837", "multi_st_837i.837", "multi_isa_gs_st.837"):
        data = (FIXTURES / name).read_bytes()
        runs = [filter_in_process(data, read_all=read_all) for read_all in (False, True)]
        logged = [sorted((n, f["claim_id"], tuple(f["rules"])) for n, f in events if n.startswith("claim_"))
                  for _, _, _, events in runs]
        assert logged[0] == logged[1], name
        warnings = [sum(len(r) for n, _, r in found if n == "claim_warning") for found in logged]
        assert warnings[0] == warnings[1] > 0, name


# -- progress -------------------------------------------------------------------------------------------
def test_progress_on_a_terminal_for_filter_and_check(tmp_path: Path, big: Path) -> None:
    for args, label in ((_filter_args(tmp_path, big, "--log-level", "warning"), "filtering"),
                        (["check", str(big), "--site", str(SITE), "--only-findings"], "checking")):
        status, out, raw = run_cli_tty(*args)
        assert status == 1
        frames = [f.decode() for f in re.findall(rb"\r\x1b\[K([^\r\n]*)", raw) if f]
        progress = [f for f in frames if f.startswith(label)]
        assert progress, raw[-2000:]
        assert all(re.fullmatch(rf"{label} {re.escape(str(big))}: [\d.]+ [KMG]?B of 3\.4 MB \(\d+%\), "
                                r"[\d.]+ [KMG]?B/s, [\d,]+ claims?", f) for f in progress), progress
        counts = [int(f.rsplit(", ", 1)[1].split()[0].replace(",", "")) for f in progress]
        assert counts == sorted(counts) and counts[-1] > 0, "claims counted as they are read"
        assert not any(ln.startswith(label) for ln in screen(raw)), "the progress line is erased at the end"
    assert out.startswith(b"claim"), "check's table still goes to stdout"


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path, big: Path) -> None:
    for args in (_filter_args(tmp_path, big), ["check", str(big), "--site", str(SITE), "--format", "json"]):
        res = run_cli(*args)
        assert res.returncode == 1
        assert b"\r" not in res.stderr and b"\x1b" not in res.stderr


# -- errors once, a closed pipe quietly -----------------------------------------------------------------
def test_an_error_is_printed_once_in_either_form(tmp_path: Path) -> None:
    bad = tmp_path / "bad.837"
    bad.write_bytes(b"GS*HC*X*Y*20250101*1200*1*X*005010X222A1~")
    args = ["filter", str(bad), "-o", str(tmp_path / "c.837"), "--rejects", str(tmp_path / "r.277"), "--site", str(SITE)]
    status, _, raw = run_cli_tty(*args)
    lines = screen(raw)
    assert status == 2
    assert lines == [f"edi-cgt: error: {bad}: segment 1: expected an ISA segment at the start of the input, "
                     "found a GS segment"], lines
    res = run_cli(*args)
    assert res.returncode == 2
    events = json_events(res.stderr)
    assert [e["event"] for e in events if e["level"] == "error"] == ["fatal"]
    assert len(res.stderr.decode().splitlines()) == len(events), "nothing but JSON lines"
    assert error_lines(res.stderr.decode()) == [lines[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.837"]


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path, big: Path) -> None:
    # `edi-cgt claims big.837 | head -1` at a terminal: one claim shown, nothing else said.
    status, _, raw = run_cli_tty(shell=f"edi-cgt claims {big} | head -1; echo status=${{PIPESTATUS[0]}}")
    lines = screen(raw)
    assert len(lines) == 2 and lines[0].startswith('{"claim_id":"I01-YESCARTA-OK"'), lines
    assert lines[1] == "status=141"
    # In a pipe: at most one line, the output_closed event; the same status.
    proc = subprocess.Popen([sys.executable, "-m", "edi_cgt", "claims", str(big)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert [e["event"] for e in json_events(err)] == ["output_closed"] and len(err.splitlines()) == 1


def test_check_summary_counts_warnings_on_a_terminal(tmp_path: Path) -> None:
    status, out, raw = run_cli_tty("check", str(MIXED_I), "--site", str(SITE))
    assert status == 1
    (summary,) = [ln for ln in screen(raw) if ln.startswith("summary")]
    assert summary == "summary  1 file: 28 claims: 19 accepted, 9 rejected, 4 warnings"
    assert "\n28 claims, 9 rejected, 4 warnings\n" in out.decode()
    status, out, raw = run_cli_tty("check", str(FIXTURES / "single_claim.837"), "--site", str(SITE))
    assert re.search(r"^1 claim, \d+ rejected, \d+ warnings?$", out.decode(), re.M), out
