# Hostile input through the real `edi-cgt filter` process: every case has a defined outcome.
#
# Either a clear error (exit 2, one message naming the file, the segment number and the
# problem, and no output file left in the output directory), or complete outputs in which no
# claim is lost: every CLM of the input is in the clean 837 or rejected in the 277CA, and what
# could not be evaluated is passed through untouched with a log event. fuzz.oracle checks both
# from outside (its own segment cutting); the cases below add what each one is about.
from __future__ import annotations

import gzip
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fuzz.oracle import (  # noqa: E402
    CORPUS,
    FilterRun,
    OracleError,
    check_conservation,
    check_outcome,
    claim_ids,
    error_lines,
    filter_in_process,
    rejected_ids,
    run_filter_cli,
    run_filter_forked,
    split_segments,
)

from edi_cgt.io import InputError, read_chunks  # noqa: E402
from edi_cgt.x12.errors import X12SyntaxError  # noqa: E402

FIXTURE = (CORPUS / "phi_837p.x12").read_bytes()  # 2 transactions, 4 claims, 2 rejected by the policy
SEGMENTS = FIXTURE.split(b"~\n")[:-1]  # one segment per line, '~' terminator
REJECTED = ["HARD-C3", "HARD-D4"]
SHARED_SAMPLES = ROOT.parent / "shared" / "samples"


def edit(old: bytes, new: bytes, data: bytes = FIXTURE, count: int = 1) -> bytes:
    assert data.count(old) >= count, old
    return data.replace(old, new, count)


def without(*starts: bytes, data: bytes = FIXTURE) -> bytes:
    """The fixture without the first segment starting with each of `starts` (line and all)."""
    for start in starts:
        at = data.index(b"\n" + start) + 1 if not data.startswith(start) else 0
        end = data.index(b"~\n", at) + 2
        data = data[:at] + data[end:]
    return data


def run(tmp_path: Path, data: bytes, *args: str) -> FilterRun:
    """The real `edi-cgt filter` command in a child process forked from this one (so without
    interpreter start-up: see fuzz.oracle.run_filter_forked); test_fresh_process_outcomes runs
    a sample of the cases as `python -m edi_cgt` processes as well."""
    return run_filter_forked(data, tmp_path, *args)


def error_line(r: FilterRun) -> str:
    return error_lines(r.stderr)[0]


def assert_error(tmp_path: Path, data: bytes, *problem: str, segment: int | None = None) -> str:
    r = run(tmp_path, data)
    assert check_outcome(data, r) == "error", r.stderr
    line = error_line(r)
    for words in problem:
        assert words in line, line
    if segment is not None:
        assert f"segment {segment}:" in line, line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []
    return line


def assert_output(tmp_path: Path, data: bytes, status: int, *args: str, **kw) -> FilterRun:
    r = run(tmp_path, data, *args)
    assert check_outcome(data, r, **kw) == "output", r.stderr
    assert r.returncode == status, r.stderr
    return r


# By default only the claims that carry a policy code are read (HARD-C3 and HARD-D4 here); the
# others (HARD-A1, HARD-B2) are counted and passed on unread, so a problem inside one of them is
# found with --read-all (the claim passes through unevaluated, exit 3) and not without it (the
# claim is accepted unread). The cases run both ways.
BOTH_PATHS = [pytest.param((), id="policy-claims"), pytest.param(("--read-all",), id="every-claim")]


def passed_through(r: FilterRun) -> list[dict]:
    """The claim or transaction pass-through events of a run."""
    return r.event("claim_passed_through") + r.event("transaction_passed_through")


def assert_unread_problem(tmp_path: Path, data: bytes, path: tuple[str, ...], words: str, claim: str) -> FilterRun:
    """A problem inside `claim`, which carries no policy code: unseen by default, a claim
    passed through with --read-all; the policy's rejections stand either way."""
    r = assert_output(tmp_path, data, 3 if path else 1, *path)
    if path:
        (event,) = passed_through(r)
        assert event["claim_id"] == claim and words in event["problem"], event
    else:
        assert passed_through(r) == []
    assert rejected_ids(r.ack or b"") == REJECTED
    return r


def problems(r: FilterRun, event: str = "envelope_issue") -> list[str]:
    return [e["problem"] for e in r.event(event)]


# -- not X12 at all: exit 2 --------------------------------------------------------------------
def test_empty_input(tmp_path: Path) -> None:
    assert_error(tmp_path, b"", "input.x12", "input is empty", segment=1)


def test_whitespace_only(tmp_path: Path) -> None:
    assert_error(tmp_path, b"  \r\n\t\n   \n", "only whitespace", segment=1)


def test_binary_input(tmp_path: Path) -> None:
    data = random.Random(7).randbytes(4096)
    assert_error(tmp_path, data, "not X12 text", segment=1)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_input(tmp_path: Path, encoding: str) -> None:
    assert_error(tmp_path, FIXTURE.decode("ascii").encode(encoding), "UTF-16", segment=1)


def test_corrupt_and_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(FIXTURE)
    assert_error(tmp_path, packed[: len(packed) // 2], "gzip data is truncated")
    assert_error(tmp_path, packed[:10] + bytes(200), "corrupt gzip data")


def test_gzip_input_is_read_and_kept(tmp_path: Path) -> None:
    r = run(tmp_path, gzip.compress(FIXTURE))
    assert r.returncode == 1 and check_outcome(FIXTURE, r) == "output"
    assert rejected_ids(r.ack or b"") == REJECTED


def test_short_isa(tmp_path: Path) -> None:
    data = edit(b"ISA*00*          *00", b"ISA*00*         *00")  # ISA02 one space short
    assert_error(tmp_path, data, "ISA is not fixed-width", "106 characters", segment=1)


def test_isa_cut_short(tmp_path: Path) -> None:
    assert_error(tmp_path, FIXTURE[:60], "ISA segment is truncated", segment=1)


def test_isa_with_unusable_delimiters(tmp_path: Path) -> None:
    data = FIXTURE[:104] + b"*" + FIXTURE[105:]  # component separator = element separator
    assert_error(tmp_path, data, "delimiters are unusable", segment=1)


def test_no_isa(tmp_path: Path) -> None:
    data = FIXTURE[FIXTURE.index(b"GS*"):]
    assert_error(tmp_path, data, "expected an ISA segment", segment=1)


def test_prose_before_isa(tmp_path: Path) -> None:
    assert_error(tmp_path, b"Please find our claims below.\n" + FIXTURE, "expected an ISA segment", segment=1)


def test_garbage_after_the_last_iea(tmp_path: Path) -> None:
    n = len(SEGMENTS) + 1
    assert_error(tmp_path, FIXTURE + b"-- end of batch --\n", "after the last IEA", segment=n)


def test_truncated_mid_segment_names_the_segment(tmp_path: Path) -> None:
    at = FIXTURE.index(b"CLM*HARD-B2")
    number = FIXTURE[:at].count(b"~") + 1
    assert_error(tmp_path, FIXTURE[: at + 12], "input ends inside a segment", "truncated", segment=number)


# -- truncation: at every segment boundary and inside every segment ----------------------------
def _boundaries() -> list[int]:
    cuts, pos = [], 0
    for seg in SEGMENTS:
        pos += len(seg) + 2
        cuts.append(pos)
    return cuts


def test_truncation_at_every_segment_boundary_cli(tmp_path: Path) -> None:
    newline = b"\n"
    data = FIXTURE
    cuts, pos = [], 0
    for seg in SEGMENTS:
        pos += len(seg) + 1 + len(newline)
        cuts.append(pos)
    assert cuts[-1] == len(data)

    # Every cut runs the real click command in a forked child (see run_filter_forked); every
    # twelfth also as a fresh `python -m edi_cgt` process, the way a user runs it.
    results = []
    for i, cut in enumerate(cuts):
        work = tmp_path / f"cut{i}"
        work.mkdir()
        piece = data[:cut]
        runs = [run_filter_forked(piece, work)]
        if i % 12 == 0:
            runs.append(run_filter_cli(piece, work))
        for r in runs:
            results.append((i, check_outcome(piece, r), r, piece))
    for i, kind, r, piece in results:
        assert kind == "output", f"cut after segment {i + 1}: {r.stderr}"
        ids = [s[0] for s in split_segments(piece)]
        open_transaction = "ST" in ids and (
            "SE" not in ids or max(k for k, x in enumerate(ids) if x == "ST") > max(k for k, x in enumerate(ids) if x == "SE"))
        if open_transaction:  # cut inside a transaction: passed through untouched, with its log event
            assert r.returncode == 3 and "truncated" in r.event("transaction_passed_through")[-1]["problem"]
        if ids[-1] != "IEA":
            assert any("no IEA" in p for p in problems(r)), (i, r.stderr)


@pytest.mark.parametrize("layout", ["lines", "one-line"])
def test_truncation_at_every_byte_in_process(layout: str) -> None:
    """Every prefix of the fixture: a syntax error, or outputs that conserve the claims."""
    data = FIXTURE if layout == "lines" else FIXTURE.replace(b"~\n", b"~")
    outcomes = {"error": 0, "output": 0}
    for cut in range(len(data) + 1):
        piece = data[:cut]
        try:
            clean, ack, summary, events = filter_in_process(piece)
        except X12SyntaxError as exc:
            assert exc.segment_number is not None and exc.where == "input.x12"
            outcomes["error"] += 1
            continue
        check_conservation(piece, clean, ack, summary)
        if summary["transactions_passed_through"]:
            assert any(name == "transaction_passed_through" for name, _ in events)
        outcomes["output"] += 1
    assert outcomes["error"] and outcomes["output"]


def test_truncation_mid_segment_cli(tmp_path: Path) -> None:
    # Inside every segment after the ISA (every byte is covered in process above).
    cuts = [b - len(SEGMENTS[i]) // 2 - 2 for i, b in enumerate(_boundaries())][1:]
    for i, cut in enumerate(cuts):
        work = tmp_path / f"mid{i}"
        work.mkdir()
        piece = FIXTURE[:cut]
        r = run_filter_forked(piece, work)
        kind = check_outcome(piece, r)
        if split_segments(piece)[-1][0] == "IEA":
            assert kind == "output"  # a last IEA without its terminator is kept as it is
        else:
            assert kind == "error" and "input ends inside a segment" in error_line(r)
            assert re.search(r"segment \d+: ", error_line(r))


@pytest.mark.parametrize("last", [b"ISA", b"GS"])
def test_lone_isa_or_gs_is_kept(last: bytes) -> None:
    cut = FIXTURE.index(b"GS*") if last == b"ISA" else FIXTURE.index(b"ST*")
    piece = FIXTURE[:cut]
    clean, ack, summary, _ = filter_in_process(piece)
    assert clean == piece


# -- envelope problems: logged, data kept -----------------------------------------------------
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_se_count_and_control_mismatch(tmp_path: Path, path: tuple[str, ...]) -> None:
    data = edit(b"SE*43*0101", b"SE*99*0999")
    r = assert_output(tmp_path, data, 1, *path)
    found = problems(r)
    assert any("SE01 says '99'" in p for p in found) and any("SE02 '0999' does not match ST02 '0101'" in p for p in found)
    assert rejected_ids(r.ack or b"") == REJECTED


def test_ge_and_iea_counts_and_controls_mismatch(tmp_path: Path) -> None:
    data = edit(b"GE*2*7~", b"GE*5*8~")
    data = edit(b"IEA*1*000000007", b"IEA*3*000000070", data)
    r = assert_output(tmp_path, data, 1)
    found = " | ".join(problems(r))
    for words in ("GE01 says '5'", "GE02 '8' does not match GS06 '7'", "IEA01 says '3'", "IEA02 '000000070'"):
        assert words in found
    assert r.clean is not None and r.clean.endswith(b"IEA*3*000000070~\n")  # kept as it came


@pytest.mark.parametrize("trailers", [(b"IEA",), (b"GE", b"IEA")])
def test_missing_trailers_are_logged(tmp_path: Path, trailers: tuple[bytes, ...]) -> None:
    data = without(*trailers)
    r = assert_output(tmp_path, data, 1)
    assert any("no IEA" in p for p in problems(r))
    if b"GE" in trailers:
        assert any("no GE" in p for p in problems(r))


def test_missing_se_passes_the_transaction_through(tmp_path: Path) -> None:
    data = without(b"SE*26*0102")  # the second transaction runs into the GE
    r = assert_output(tmp_path, data, 3)
    (event,) = r.event("transaction_passed_through")
    assert event["transaction"] == "0102" and "has no SE before this GE" in event["problem"] and event["claims"] == 1
    assert rejected_ids(r.ack or b"") == ["HARD-C3"]  # the first transaction is still filtered
    assert b"CLM*HARD-D4" in (r.clean or b"")


def test_st_inside_an_open_transaction(tmp_path: Path) -> None:
    data = without(b"SE*43*0101")  # transaction 0101 runs into ST 0102
    r = assert_output(tmp_path, data, 3)
    assert any("ST '0102' starts before SE closed" in p for p in problems(r))
    (event,) = r.event("transaction_passed_through")
    assert event["transaction"] == "0101" and "has no SE before this ST" in event["problem"]
    assert r.summary is not None and r.summary["unevaluated"] == 3  # 0102 is read on its own
    assert rejected_ids(r.ack or b"") == ["HARD-D4"]


def test_st_outside_a_group(tmp_path: Path) -> None:
    data = without(b"GS*HC", b"GE*2")
    r = assert_output(tmp_path, data, 1)
    assert any("ST outside a functional group" in p for p in problems(r))
    assert rejected_ids(r.ack or b"") == REJECTED


# -- HL trees ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_hl_parent_pointing_nowhere_is_reported_and_claims_are_evaluated(tmp_path: Path, path: tuple[str, ...]) -> None:
    data = edit(b"HL*4*3*23*0", b"HL*4*77*23*0")
    data = edit(b"HL*2*1*22*0~\nSBR*P*18*******MC~\nNM1*IL*1*ZQHALVORSEN", b"HL*2*9*22*0~\nSBR*P*18*******MC~\nNM1*IL*1*ZQHALVORSEN", data)
    r = assert_output(tmp_path, data, 1, *path)
    found = problems(r)
    assert any("HL '4' names parent '77' but sits under HL '3'" in p for p in found)  # above HARD-C3
    assert any("HL '2' names parent '9' but sits under HL '1'" in p for p in found)  # above HARD-D4
    assert rejected_ids(r.ack or b"") == REJECTED  # evaluated by level nesting, as without the bad parents


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_patient_level_without_subscriber_passes_through(tmp_path: Path, path: tuple[str, ...]) -> None:
    data = edit(b"HL*3*1*22*1", b"HL*3*1*20*1")  # HL*4 (level 23) now has no level 22 above it
    r = assert_output(tmp_path, data, 3, *path)
    (event,) = r.event("transaction_passed_through")
    # the claims read (HARD-C3, or all three) are unevaluated; unread ones accepted as they are
    assert "no level-22 HL above it" in event["problem"] and event["claims"] == (3 if path else 1)
    assert r.summary is not None and r.summary["accepted"] == (0 if path else 2)


def test_hl_level_code_unknown_passes_through(tmp_path: Path) -> None:
    r = assert_output(tmp_path, edit(b"HL*4*3*23*0", b"HL*4*3*99*0"), 3)
    assert "level code '99'" in r.event("transaction_passed_through")[0]["problem"]


def test_an_se_without_elements_gets_its_count_after_a_cut(tmp_path: Path) -> None:
    # Fuzz finding: SE01 could not be rewritten in an SE with no elements once a claim was cut.
    r = assert_output(tmp_path, edit(b"SE*43*0101", b"SE"), 1)
    clean = r.clean or b""
    count = int(re.search(rb"\nSE\*(\d+)~", clean).group(1))
    body = clean[clean.index(b"ST*837*0101"):clean.index(b"\nSE*")]
    assert count == body.count(b"~") + 1 and rejected_ids(r.ack or b"") == REJECTED


@pytest.mark.parametrize("stop", [b"IEA", b"GE", b"ST"])
def test_an_envelope_segment_without_elements_ends_a_transaction(tmp_path: Path, stop: bytes) -> None:
    # Fuzz finding: "IEA~" (no element separator) inside a transaction was not seen as the end
    # of it when the transaction was taken whole, so a file the segment reader refuses went through.
    data = edit(b"SE*43*0101~\n", stop + b"~\n")
    whole = run(tmp_path, data)
    assert check_outcome(data, whole) in ("error", "output")
    if stop == b"IEA":
        assert whole.returncode == 2 and "expected an ISA segment after the last IEA" in error_line(whole)


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_a_claim_before_the_first_hl_keeps_its_transaction(tmp_path: Path, path: tuple[str, ...]) -> None:
    # Fuzz finding: every claim under the HLs of 0102 rejected, a claim before its first HL
    # (not a claim the policy speaks of, or unreadable there: kept either way) was dropped with
    # the transaction.
    stray = b"CLM*STRAY-1*10***11:B:1*Y*A*Y*Y~\nLX*1~\nSV1*HC:99213*10*UN*1***1~\n"
    data = edit(b"SE*26*0102", b"SE*29*0102")
    at = data.index(b"HL*1**20*1", data.index(b"ST*837*0102"))
    data = data[:at] + stray + data[at:]
    r = assert_output(tmp_path, data, 3 if path else 1, *path)
    assert "STRAY-1" in claim_ids(r.clean or b"") and rejected_ids(r.ack or b"") == REJECTED
    if path:
        (event,) = r.event("claim_passed_through")
        assert event["claim_id"] == "STRAY-1" and event["problem"] == "CLM before any HL"


# -- claims -----------------------------------------------------------------------------------
def test_duplicate_claim_ids_are_each_evaluated(tmp_path: Path) -> None:
    # HARD-B2 takes the id of the rejected claim after it, and D4 (other transaction) the same.
    data = edit(b"CLM*HARD-B2*", b"CLM*HARD-C3*")
    data = edit(b"CLM*HARD-D4*", b"CLM*HARD-C3*", data)
    r = assert_output(tmp_path, data, 1)
    assert rejected_ids(r.ack or b"") == ["HARD-C3", "HARD-C3"]
    assert claim_ids(r.clean or b"") == ["HARD-A1", "HARD-C3"]  # the accepted twin stays
    assert [e["claim_id"] for e in r.event("claim_rejected")] == ["HARD-C3", "HARD-C3"]
    assert [e["segment"] for e in r.event("claim_rejected")] == [40, 63]  # told apart by segment


def test_duplicate_claim_id_in_one_transaction_is_logged(tmp_path: Path) -> None:
    data = edit(b"CLM*HARD-B2*", b"CLM*HARD-A1*")
    r = assert_output(tmp_path, data, 1, "--read-all")
    assert "CLM01 'HARD-A1' is used again (first at segment 20)" in " | ".join(problems(r))
    assert claim_ids(r.clean or b"") == ["HARD-A1", "HARD-A1"]


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_claim_without_service_lines(tmp_path: Path, path: tuple[str, ...]) -> None:
    data = edit(b"LX*1~\nSV1*HC:99212*95*UN*1***1~\nDTP*472*D8*20250302~\n", b"")
    assert_unread_problem(tmp_path, data, path, "claim 'HARD-B2' has no service lines", "HARD-B2")


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_service_line_without_claim_in_a_level_without_claims(tmp_path: Path, path: tuple[str, ...]) -> None:
    """HARD-A1 loses its CLM: its LX/SV1 stand in HL 2, under which no claim hangs any more. No
    claim needs that block, so it is not read (--validate is the full syntax check); the other
    claims are decided as before."""
    data = without(b"CLM*HARD-A1", b"HI*ABK:J189")
    r = assert_output(tmp_path, data, 1, *path)
    assert r.summary is not None and r.summary["claims_in"] == 3 and passed_through(r) == []
    assert rejected_ids(r.ack or b"") == REJECTED


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_service_line_without_sv1(tmp_path: Path, path: tuple[str, ...]) -> None:
    assert_unread_problem(tmp_path, without(b"SV1*HC:99213*180"), path, "has no SV1/SV2", "HARD-A1")


@pytest.mark.parametrize("path", BOTH_PATHS)
def test_unreadable_claim_that_carries_a_policy_code(tmp_path: Path, path: tuple[str, ...]) -> None:
    # HARD-D4 (J3392) loses a service line's SV1: it is read either way, cannot be, and passes through.
    data = edit(b"LX*2~\nSV1*HC:99213*120*UN*1***1~\n", b"LX*2~\n")
    data = edit(b"SE*26*0102", b"SE*25*0102", data)
    r = assert_output(tmp_path, data, 3, *path)
    (event,) = passed_through(r)
    assert event["claim_id"] == "HARD-D4" and "service line 2 has no SV1/SV2" in event["problem"]
    assert rejected_ids(r.ack or b"") == ["HARD-C3"]


@pytest.mark.parametrize("segment", [b"~~", b"~XYZ*1~", b"~nm1*IL~", b"~*NOID~"])
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_malformed_segment_inside_a_claim(tmp_path: Path, path: tuple[str, ...], segment: bytes) -> None:
    data = edit(b"~\nLX*1~\nSV1*HC:99213*180", segment + b"\nLX*1~\nSV1*HC:99213*180")
    r = assert_unread_problem(tmp_path, data, path, "segment", "HARD-A1")
    if path:
        assert passed_through(r)[0]["transaction"] == "0101"


@pytest.mark.parametrize("value", [b"2025-03-01", b"20250230", b"ABC"])
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_bad_service_date(tmp_path: Path, path: tuple[str, ...], value: bytes) -> None:
    assert_unread_problem(tmp_path, edit(b"DTP*472*D8*20250301", b"DTP*472*D8*" + value), path, "invalid date",
                          "HARD-A1")


@pytest.mark.parametrize("charge", [b"NaN", b"1.2.3", b"12,50", b"-Infinity"])
@pytest.mark.parametrize("path", BOTH_PATHS)
def test_bad_amounts(tmp_path: Path, path: tuple[str, ...], charge: bytes) -> None:
    assert_unread_problem(tmp_path, edit(b"SV1*HC:99213*180*", b"SV1*HC:99213*" + charge + b"*"), path,
                          "not a number", "HARD-A1")


@pytest.mark.parametrize("charge", [b"NaN", b"Infinity", b"1.2.3"])
def test_a_claim_charge_that_is_not_a_number_is_read(tmp_path: Path, charge: bytes) -> None:
    """One number rule: a CLM02 that is not a number makes its claim read (and unreadable),
    policy code or not, and charges_in is the sum of the others."""
    r = assert_output(tmp_path, edit(b"CLM*HARD-B2*95*", b"CLM*HARD-B2*" + charge + b"*"), 3)
    (event,) = passed_through(r)
    assert event["claim_id"] == "HARD-B2" and "CLM02 total charge" in event["problem"]
    assert r.summary is not None and r.summary["charges_in"] == str(180 + 2200000 + 2200120)


# -- size and bytes ---------------------------------------------------------------------------
TEN_MB = 10 << 20


@pytest.mark.parametrize("where", ["note", "claim-id", "name", "code"])
def test_ten_megabyte_elements(tmp_path: Path, where: str) -> None:
    big = b"X" * TEN_MB
    if where == "note":
        data = edit(b"HI*ABK:J189~\n", b"HI*ABK:J189~\nNTE*ADD*" + big + b"~\n")
    elif where == "claim-id":
        data = edit(b"CLM*HARD-C3*", b"CLM*HARD-C3" + big + b"*")
    elif where == "name":
        data = edit(b"ZQHALVORSEN", big)
    else:
        data = edit(b"SV1*HC:99213*180", b"SV1*HC:99213" + big + b"*180")
    r = assert_output(tmp_path, data, 1)
    ack = r.ack or b""
    assert len(ack) < 64 << 10, "an element of the input was copied into the 277CA whole"
    assert len(rejected_ids(ack)) == 2


def test_segment_longer_than_the_reader_allows(tmp_path: Path) -> None:
    # No terminator for 65 MiB: the terminator must be wrong; say so instead of buffering on.
    data = FIXTURE[: FIXTURE.index(b"ST*")] + b"ST*837*0101*" + b"A" * (65 << 20)
    assert_error(tmp_path, data, "no segment terminator", segment=3)


@pytest.mark.parametrize("value", [
    "ZQVÁLENTINE-ÆØÅ".encode("utf-8"),
    "ZQVÁLENTINE".encode("latin-1"),
    b"ZQ\x00\x01\x7f\x80\xff",
    "名前".encode("utf-8"),
])
def test_non_ascii_bytes_in_data(tmp_path: Path, value: bytes) -> None:
    data = edit(b"ZQHALVORSEN", value)
    data = edit(b"HARD-C3", b"HARD-C3" + value.replace(b"\x00", b""), data, count=1)
    r = assert_output(tmp_path, data, 1)
    ack = r.ack or b""
    assert ack.isascii() and b"\x00" not in ack, "the 277CA must stay within the X12 character set"
    assert len(rejected_ids(ack)) == 2


def test_bom_and_crlf_layout_is_kept_byte_for_byte(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + FIXTURE.replace(b"~\n", b"~\r\n")
    data = edit(b"CLM*HARD-C3*2200000***11:B:1*Y*A*Y*Y~\r\nHI*ABK:D571~\r\nLX*1~\r\nSV1*HC:J3392*2200000*UN*3***1",
                b"CLM*HARD-C3*2200000***11:B:1*Y*A*Y*Y~\r\nHI*ABK:D571~\r\nLX*1~\r\nSV1*HC:99213*2200000*UN*3***1", data)
    data = edit(b"SV1*HC:J3392*2200000*UN*2", b"SV1*HC:99214*2200000*UN*2", data)
    r = assert_output(tmp_path, data, 0)
    assert r.clean == data


# -- other transaction sets in an 837 file: passed through untouched ---------------------------
OTHER_GROUPS = b"""GS*HP*PAYER*SUBMITTER01*20250301*1200*21*X*005010X221A1~
ST*835*2101*005010X221A1~
BPR*I*150*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20250310~
TRN*1*12345*1512345678~
N1*PR*MEDI-CAL~
N1*PE*VALLEY CGT CENTER*XX*1234567893~
LX*1~
CLP*HARD-A1*1*180*150**MC*PAYERCLAIM1~
NM1*QC*1*ZQVALENTINE*ZQMARGUERITE****MI*ZQM19283746~
SVC*HC:99213*180*150**1~
SE*10*2101~
GE*1*21~
GS*FA*RECEIVER01*SUBMITTER01*20250301*1200*22*X*005010X231A1~
ST*999*2201*005010X231A1~
AK1*HC*7*005010X222A1~
AK2*837*0101*005010X222A1~
IK5*A~
AK9*A*1*1*1~
SE*6*2201~
GE*1*22~
GS*HS*SUBMITTER01*RECEIVER01*20250301*1200*23*X*005010X279A1~
ST*270*2301*005010X279A1~
BHT*0022*13*10001234*20250301*1200~
HL*1**20*1~
NM1*PR*2*MEDI-CAL*****PI*610442~
HL*2*1*21*1~
NM1*1P*2*VALLEY CGT CENTER*****XX*1234567893~
HL*3*2*22*0~
NM1*IL*1*ZQHALVORSEN*ZQINGRID****MI*ZQM77788899~
EQ*30~
SE*10*2301~
GE*1*23~
"""


def test_835_999_270_mixed_into_an_837_file_pass_through(tmp_path: Path) -> None:
    at = FIXTURE.index(b"IEA*")
    data = FIXTURE[:at] + OTHER_GROUPS + FIXTURE[at:]
    data = edit(b"IEA*1*", b"IEA*4*", data)
    r = assert_output(tmp_path, data, 1)
    assert sorted(e["set_id"] for e in r.event("transaction_not_837")) == ["270", "835", "999"]
    assert OTHER_GROUPS in (r.clean or b""), "the other transaction sets must come out untouched"
    assert rejected_ids(r.ack or b"") == REJECTED
    assert not [p for p in problems(r)], "a well-formed mixed file has no envelope issue"


def test_835_between_837_transactions_of_one_group(tmp_path: Path) -> None:
    at = FIXTURE.index(b"ST*837*0102")
    other = OTHER_GROUPS[OTHER_GROUPS.index(b"ST*835"): OTHER_GROUPS.index(b"GE*1*21")]
    data = edit(b"GE*2*7", b"GE*3*7", FIXTURE[:at] + other + FIXTURE[at:])
    r = assert_output(tmp_path, data, 1)
    assert other in (r.clean or b"")
    assert [e["set_id"] for e in r.event("transaction_not_837")] == ["835"]


@pytest.mark.skipif(not (SHARED_SAMPLES / "oop_270_0x1D_terminator.txt").exists(), reason="../shared absent")
def test_270_interchange_with_other_delimiters_concatenated(tmp_path: Path) -> None:
    other = (SHARED_SAMPLES / "oop_270_0x1D_terminator.txt").read_bytes()
    data = FIXTURE + other
    r = assert_output(tmp_path, data, 1)
    assert (r.clean or b"").endswith(other)
    assert [e["set_id"] for e in r.event("transaction_not_837")] == ["270"]


@pytest.mark.skipif(not SHARED_SAMPLES.exists(), reason="../shared absent")
@pytest.mark.parametrize("name", sorted(p.name for p in SHARED_SAMPLES.glob("*MALFORMED*")) if SHARED_SAMPLES.exists() else [])
def test_malformed_public_samples(tmp_path: Path, name: str) -> None:
    data = (SHARED_SAMPLES / name).read_bytes()
    r = run(tmp_path, data)
    check_outcome(data, r)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir() if p.is_file()))
def test_fuzz_seed_corpus_has_defined_outcomes(tmp_path: Path, name: str) -> None:
    data = (CORPUS / name).read_bytes()
    check_outcome(data, run(tmp_path, data))


def test_oracle_catches_a_lost_claim() -> None:
    # The oracle itself must fail when a claim disappears (so passing tests mean something).
    clean, ack, summary, _ = filter_in_process(FIXTURE)
    lost = clean.replace(b"CLM*HARD-A1", b"NTE*HARD-A1")
    with pytest.raises(OracleError, match="lost"):
        check_conservation(FIXTURE, lost, ack, summary)
    with pytest.raises(OracleError):
        check_conservation(FIXTURE, clean, b"", summary)


def test_in_process_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(X12SyntaxError):
        filter_in_process(b"")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(FIXTURE)[:30])
    with pytest.raises(InputError, match="cut.gz"):
        list(read_chunks(tmp_path / "cut.gz"))


FRESH = {
    "empty": (b"", 2),
    "utf16": (FIXTURE.decode("ascii").encode("utf-16"), 2),
    "short-isa": (FIXTURE.replace(b"ISA*00*          *00", b"ISA*00*         *00", 1), 2),
    "mid-segment": (FIXTURE[: FIXTURE.index(b"CLM*HARD-B2") + 12], 2),
    "se-mismatch": (FIXTURE.replace(b"SE*43*0101", b"SE*99*0999"), 1),
    "missing-se": (without(b"SE*26*0102"), 3),
    "mixed-835": (FIXTURE[: FIXTURE.index(b"IEA*")] + OTHER_GROUPS + FIXTURE[FIXTURE.index(b"IEA*"):], 1),
}


@pytest.mark.parametrize("case", sorted(FRESH))
def test_fresh_process_outcomes(tmp_path: Path, case: str) -> None:
    """A sample of the cases above as `python -m edi_cgt filter`: same outcome as the fork."""
    data, status = FRESH[case]
    fresh = run_filter_cli(data, tmp_path)
    forked = run_filter_forked(data, tmp_path)
    assert fresh.returncode == forked.returncode == status, fresh.stderr
    assert check_outcome(data, fresh) == check_outcome(data, forked)
    assert (fresh.clean, fresh.ack is not None) == (forked.clean, forked.ack is not None)
    strip = lambda r: [{k: v for k, v in e.items() if k not in ("timestamp", "seconds")} for e in r.events]  # noqa: E731
    assert strip(fresh) == strip(forked)


# -- edi-cgt validate: pyx12's full 5010 check, a 999 out ---------------------------------------
def validate_cli(tmp_path: Path, data: bytes, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    (tmp_path / "in.x12").write_bytes(data)
    out = tmp_path / "out.999"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "edi_cgt", *args, "validate", "in.x12", "-o", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert "Traceback" not in proc.stderr.decode()
    return proc, out


def _ik5(ack: str) -> list[tuple[str, str]]:
    """(AK202 control number, IK501 code) per transaction in a 999."""
    segs = [s.strip().split("*") for s in ack.split("~") if s.strip()]
    out, control = [], None
    for s in segs:
        if s[0] == "AK2":
            control = s[2]
        elif s[0] == "IK5":
            out.append((control, s[1]))
    return out


def test_validate_valid_input(tmp_path: Path) -> None:
    proc, out = validate_cli(tmp_path, FIXTURE)
    assert proc.returncode == 0, proc.stderr
    ack = out.read_text()
    assert _ik5(ack) == [("0101", "A"), ("0102", "A")] and "AK9*A*2*2*2" in ack
    from support import pyx12_validate

    assert pyx12_validate(ack.encode())[0], "the 999 itself is valid X12"


def test_validate_invalid_input_says_why(tmp_path: Path) -> None:
    data = edit(b"DTP*472*D8*20250302", b"DTP*472*D8*20250231")  # no 31 February
    proc, out = validate_cli(tmp_path, data)
    assert proc.returncode == 1
    ack = out.read_text()
    assert _ik5(ack) == [("0101", "R"), ("0102", "A")]
    assert "IK3*DTP*" in ack and "IK4*3*1251*8*20250231" in ack  # the 999 copies the bad value
    import json

    events = [json.loads(ln) for ln in proc.stderr.decode().splitlines() if ln.startswith("{")]
    (err,) = [e for e in events if e["event"] == "syntax_error"]
    assert (err["segment"], err["segment_id"], err["element"], err["transaction"]) == (39, "DTP", "DTP03", "0101")
    assert "20250231" not in proc.stderr.decode(), "values stay out of the log without --log-phi"


def test_validate_bom_crlf_stdin_and_gzip_read_like_the_file(tmp_path: Path) -> None:
    from edi_cgt.validation import validate_x12

    plain = validate_x12([FIXTURE])
    for variant in (b"\xef\xbb\xbf\r\n\r\n" + FIXTURE.replace(b"~\n", b"~\r\n"), gzip.compress(FIXTURE)):
        proc, out = validate_cli(tmp_path, variant)
        assert proc.returncode == 0, proc.stderr
        assert _ik5(out.read_text()) == _ik5(plain.ack)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    piped = subprocess.run([sys.executable, "-m", "edi_cgt", "validate"], input=b"\xef\xbb\xbf" + FIXTURE,
                           capture_output=True, env=env, timeout=120)
    assert piped.returncode == 0 and _ik5(piped.stdout.decode()) == [("0101", "A"), ("0102", "A")]


@pytest.mark.parametrize("version", [b"005010X222A2", b"005010X223A3"])
def test_validate_version_without_a_pyx12_map(tmp_path: Path, version: bytes) -> None:
    proc, out = validate_cli(tmp_path, FIXTURE.replace(b"005010X222A1", version))
    assert proc.returncode == 2
    (line,) = error_lines(proc.stderr.decode())
    assert "in.x12: segment 2: pyx12 has no map for " + version.decode() in line
    assert not out.exists()


@pytest.mark.parametrize("data, words", [
    (b"", "input is empty"),
    (random.Random(3).randbytes(500), "not X12 text"),
    (FIXTURE.decode().encode("utf-16"), "UTF-16"),
    (FIXTURE[:500], "input ends inside a segment"),
    (FIXTURE.replace(b"ISA*00*          *00", b"ISA*00*         *00", 1), "ISA is not fixed-width"),
])
def test_validate_unreadable_input(tmp_path: Path, data: bytes, words: str) -> None:
    proc, out = validate_cli(tmp_path, data)
    assert proc.returncode == 2
    assert words in proc.stderr.decode() and "in.x12: segment " in proc.stderr.decode()
    assert not out.exists()


def test_validation_api_lines_up_with_pipeline_transaction_numbers() -> None:
    from edi_cgt.validation import validate_x12

    at = FIXTURE.index(b"GS*HC")
    group_835 = OTHER_GROUPS[: OTHER_GROUPS.index(b"GS*FA")]
    data = edit(b"IEA*1*", b"IEA*2*", FIXTURE[:at] + group_835 + FIXTURE[at:])
    data = edit(b"NM1*IL*1*ZQHALVORSEN", b"NM1*IL*9*ZQHALVORSEN", data)  # NM102 9 is no code
    result = validate_x12([data])
    assert [(t.index, t.set_id, t.control) for t in result.transactions] == [(1, "835", "2101"), (2, "837", "0101"),
                                                                              (3, "837", "0102")]
    assert 3 in result.rejected_transactions() and 2 not in result.rejected_transactions()
    (issue,) = [i for i in result.issues if i.transaction == "0102"]
    assert issue.element == "NM102" and issue.segment_id == "NM1"
    clean, _, summary, events = filter_in_process(data)
    assert summary["transactions"] == 3  # the same numbering as the filter's


@pytest.mark.skipif(not SHARED_SAMPLES.exists(), reason="../shared absent")
@pytest.mark.parametrize("name, status", [
    ("sti_837p_ambulance.edi", 0), ("sti_837i_ppo_repriced.edi", 0), ("sti_837p_oxygen.edi", 1),
    ("ims_837p_multiple_isa.txt", 1), ("oop_837p_medicaid_5claims.txt", 1),  # BOM: pyx12 alone cannot read it
    ("lfh_837p_example1.837", 2), ("lfh_837i_institutional_claim.837i", 2), ("ims_837p_no_isa_MALFORMED.txt", 2),
])
def test_validate_public_samples_agree_with_the_manifest(tmp_path: Path, name: str, status: int) -> None:
    proc, out = validate_cli(tmp_path, (SHARED_SAMPLES / name).read_bytes())
    assert proc.returncode == status, proc.stderr
    assert out.exists() == (status != 2)


# -- hostile configuration: policy XML and site TOML ---------------------------------------------
_LAUGHS = "\n".join(
    [' <!ENTITY lol0 "lol">'] + [f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)])
HOSTILE_CONFIG = {
    "xxe.xml": ('<?xml version="1.0"?>\n<!DOCTYPE policy [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
                "<policy>&xxe;</policy>\n", ("xxe.xml:2:", "DOCTYPE")),
    "xxe-network.xml": ('<?xml version="1.0"?>\n<!DOCTYPE policy SYSTEM "http://127.0.0.1:9/evil.dtd">\n<policy/>\n',
                        ("xxe-network.xml:2:", "DOCTYPE")),
    "laughs.xml": (f'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n{_LAUGHS}\n]>\n<policy>&lol9;</policy>\n',
                   ("laughs.xml:2:", "DOCTYPE")),
    "xinclude.xml": ('<?xml version="1.0"?>\n<policy xmlns:xi="http://www.w3.org/2001/XInclude">'
                     '<xi:include href="file:///etc/passwd" parse="text"/></policy>\n', ("xinclude.xml:2",)),
    "broken.xml": ('<?xml version="1.0"?>\n<policy>\n<rule id="x">\n</policy>\n', ("broken.xml:4:", "not well-formed")),
    "huge.xml": ("<policy>" + "<!-- padding -->" * 300_000 + "</policy>", ("huge.xml", "limited to")),
    "site-bad.toml": ('[payers\nmedi_cal = ["610442"]\n', ("site-bad.toml:1:", "not valid TOML")),
    "site-huge.toml": ("# padding\n" * 200_000, ("site-huge.toml", "limited to")),
    "site-binary.toml": (b'x = "\xff\xfe"\n', ("site-binary.toml:1:", "UTF-8")),
}


@pytest.mark.parametrize("command", ["filter", "check"])
@pytest.mark.parametrize("name", sorted(HOSTILE_CONFIG))
def test_hostile_config_files_are_refused_with_file_and_line(tmp_path: Path, name: str, command: str) -> None:
    content, words = HOSTILE_CONFIG[name]
    cfg = tmp_path / name
    cfg.write_bytes(content if isinstance(content, bytes) else content.encode())
    option = "--site" if name.endswith(".toml") else "--policy"
    if command == "filter":
        r = run_filter_cli(FIXTURE, tmp_path, option, str(cfg), timeout=60)
        assert check_outcome(FIXTURE, r, where=name) == "error"  # the message names the config file
        text = r.stderr
    else:
        (tmp_path / "in.x12").write_bytes(FIXTURE)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.run([sys.executable, "-m", "edi_cgt", "check", "in.x12", option, str(cfg)], cwd=tmp_path,
                              env=env, capture_output=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == b""
        text = proc.stderr.decode()
    assert "Traceback" not in text and "root:" not in text, "nothing of /etc/passwd may be read"
    for w in words:
        assert w in text, text


# -- an ISA before the IEA (fuzz finding: a GS whose id became "ISA" made the writer drop the real ISA)
def test_isa_before_iea_starts_a_new_interchange_with_its_own_delimiters(tmp_path: Path) -> None:
    first = FIXTURE[: FIXTURE.index(b"IEA*")]  # truncated: no IEA
    second = FIXTURE.replace(b"*", b"|").replace(b"~", b"!")  # other delimiters
    data = first + second
    r = assert_output(tmp_path, data, 1)
    assert r.summary is not None and r.summary["claims_in"] == 8 and r.summary["rejected"] == 4
    assert any("'000000007' was never closed (no IEA)" in p for p in problems(r))


def test_malformed_isa_inside_an_interchange_is_an_error(tmp_path: Path) -> None:
    data = edit(b"GS*HC*", b"ISA*HC*")
    assert_error(tmp_path, data, "ISA is not fixed-width", segment=2)


# -- fuzzing: a short seeded run in CI, and every crash the fuzzers found -------------------------
REGRESSIONS = ROOT / "fixtures" / "regressions"


def _regression_rows() -> list:
    import csv

    with (REGRESSIONS / "MANIFEST.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in REGRESSIONS.glob("*.x12")), \
        "every regression input needs a MANIFEST.tsv row"
    return [pytest.param(r, id=r["file"], marks=[pytest.mark.xfail(strict=True, reason=r["finding"])]
                         if r["status"] == "xfail" else []) for r in rows]


@pytest.mark.parametrize("row", _regression_rows())
def test_fuzz_regressions(row: dict) -> None:
    data = (REGRESSIONS / row["file"]).read_bytes()
    if row["target"] == "reader":
        from fuzz.fuzz_reader import TestOneInput
    else:
        from fuzz.fuzz_filter import TestOneInput
    TestOneInput(data)


@pytest.mark.parametrize("target", ["fuzz_reader", "fuzz_filter"])
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    """A seeded run of the X12-aware mutator (no atheris needed): the same inputs every time.

    The filter target is checked against the bugs already known (fixtures/regressions): those
    are skipped by signature, so that a *new* kind of failure fails this test.
    """
    import importlib

    from fuzz.minimize import signature
    from fuzz.mutate import fuzz_loop, load_corpus

    module = importlib.import_module(f"fuzz.{target}")
    known = set()
    for p in REGRESSIONS.glob("*.x12"):
        sig = signature(module.TestOneInput, p.read_bytes())
        if sig:
            known.add(sig)
    new: list[str] = []

    def target_fn(data: bytes) -> None:
        sig = signature(module.TestOneInput, data)
        if sig and sig not in known:
            new.append(sig)
            raise AssertionError(sig)

    iterations = 1000 if target == "fuzz_filter" else 2000
    n = fuzz_loop(target_fn, load_corpus(ROOT / "fuzz" / "corpus"), seed=20251128, iterations=iterations,
                  crash_dir=tmp_path, stop_on_crash=False)
    assert n == iterations
    assert not new, f"new kinds of failure (inputs in {tmp_path}): {sorted(set(new))}"


def test_filter_validate_leaves_failing_transactions_out_whole(tmp_path: Path) -> None:
    data = edit(b"DTP*472*D8*20250302", b"DTP*472*D8*20250231")  # transaction 0101 fails 5010 syntax
    r = run(tmp_path, data, "--validate")
    assert check_outcome(data, r) == "output" and r.returncode == 1
    assert r.summary is not None and r.summary["syntax_rejected"] == 3
    assert claim_ids(r.clean or b"") == [] and rejected_ids(r.ack or b"") == ["HARD-D4"]
    assert _ik5((r.syntax_ack or b"").decode()) == [("0101", "R"), ("0102", "A")]


def test_isa_inside_a_transaction_before_its_se_ends_it(tmp_path: Path) -> None:
    # Fuzz finding (of the reader's transaction grab): the bytes up to an "SE" that belonged to
    # a new interchange with other delimiters were taken, and the rest of the input refused.
    data = (REGRESSIONS / "isa-inside-transaction-before-se.x12").read_bytes()
    runs = [run(tmp_path, data), run(tmp_path, data, "--read-all")]
    assert [check_outcome(data, r) for r in runs] == ["output", "output"]
    assert runs[0].clean == runs[1].clean and runs[0].returncode == runs[1].returncode
