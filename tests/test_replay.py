# Replay over a generated archive: totals against run_filter file by file, engines and worker
# counts agree, resume after an interruption, error rows, rejections.csv and no PHI in outputs.
from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bench.corpus import generate_corpus
from edi_cgt.claims.model import Claim
from edi_cgt.pipeline import read_claims
from edi_cgt.decider import DeciderConfig, make_decider
from edi_cgt.io import read_chunks
from edi_cgt.pipeline import run_filter
from edi_cgt.policy.findings import Decision, Finding
from edi_cgt.replay import (
    ReplayConfig,
    ack_path,
    discover_inputs,
    done_path,
    error_reason,
    replay_file,
    replay_local,
)
from edi_cgt.x12.errors import X12SyntaxError

from support import FIXTURES, ROOT, run_cli

N_FILES = 200
SUMMARY_FILES = ("summary.json", "files.csv", "rejections.csv", "warnings.csv", "report.html")
ODD_NAME = 'bad <b>&"name".837'


# -- the archive -------------------------------------------------------------------------------
def _corpus(seed: int, claims: int) -> bytes:
    return b"".join(generate_corpus(seed, claims, cgt_share=0.3, claims_per_transaction=4))


def _cut_inside(data: bytes, marker: bytes) -> bytes:
    """`data` cut in the middle of the first segment that starts with `marker`."""
    at = data.index(b"~" + marker) + 1 + len(marker) + 6
    return data[:at]


def _build_archive(root: Path) -> dict[str, object]:
    rng = random.Random(20250701)
    malformed: dict[str, str] = {}
    for i in range(N_FILES):
        sub = root / f"20{24 + i % 2}" / f"m{i % 12 + 1:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        data = _corpus(1000 + i, rng.randint(6, 18))
        if i % 9 == 4:  # two interchanges back to back
            data += _corpus(5000 + i, rng.randint(3, 8))
        if i % 5 == 1:
            (sub / f"batch{i:03d}.837.gz").write_bytes(gzip.compress(data))
        elif i % 31 == 7:  # gzip by content, not by name
            (sub / f"batch{i:03d}.dat").write_bytes(gzip.compress(data))
        else:
            (sub / f"batch{i:03d}.837").write_bytes(data)
    bad = root / "bad"
    bad.mkdir()
    good = _corpus(77, 8)
    specimens = {
        # ends inside the subscriber's NM1: the reason must not quote the name
        "truncated.837": (_cut_inside(good, b"NM1*IL"), "truncated"),
        "truncated.837.gz": (gzip.compress(good)[:-40], "gzip"),
        ODD_NAME: (b"ISA*00*<html>not edi</html>", "ISA"),
    }
    for name, (blob, why) in specimens.items():
        (bad / name).write_bytes(blob)
        malformed[str(bad / name)] = why
    # Not 837s: skipped by the default content check, error rows when read anyway (--include).
    ack999 = (FIXTURES / "cgt_837p_mixed.837").read_bytes()[:106].decode("latin-1")
    not_837 = {
        "no_isa.837": (b"this is not an X12 file~NM1*IL*1*TESTSUBJECT*ALPHA~", "ISA"),
        "utf16.837": (good.decode("latin-1").encode("utf-16"), "UTF-16"),
        "empty.837": (b"", "empty"),
        "README.txt": (b"837 files of 2024 and 2025\n", "ISA"),
        "batch.999": ((ack999 + "\nGS*FA*A*B*20250301*1200*1*X*005010X231A1~\nST*999*0001*005010X231A1~\n"
                       "AK1*HC*1*005010X222A1~\nAK9*A*1*1*1~\nSE*4*0001~\nGE*1*1~\nIEA*1*000000001~\n").encode(),
                      ""),
    }
    ignored: dict[str, str] = {}
    for name, (blob, why) in not_837.items():
        (bad / name).write_bytes(blob)
        ignored[str(bad / name)] = why
    # An 837 whose last transaction has no SE: passed through (claims unevaluated), not an error.
    cut = good[: good.rindex(b"~SE*") + 1]
    (bad / "no_se.837").write_bytes(cut)
    (root / ".hidden").write_bytes(b"skipped: hidden")
    return {"malformed": malformed, "ignored": ignored, "passed_through": str(bad / "no_se.837")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("archive")
    info = _build_archive(root)
    info["root"] = root
    info["paths"] = discover_inputs([str(root)])
    return info


@pytest.fixture(scope="module")
def expected(archive: dict[str, object]) -> dict[str, object]:
    """Each file through run_filter on its own, summed: the reference for every engine."""
    decide = make_decider(DeciderConfig())
    totals = dict.fromkeys(("claims_in", "accepted", "rejected", "unevaluated", "transactions",
                            "transactions_passed_through"), 0)
    charges_in = charges_rejected = Decimal(0)
    by_rule: dict[str, int] = {}
    errors: set[str] = set()
    for path in archive["paths"]:  # type: ignore[union-attr]
        if path in archive["ignored"]:  # type: ignore[operator]
            continue
        try:
            stats = run_filter(read_chunks(path), out=io.BytesIO(), decide=decide, where=path)
        except Exception:  # noqa: BLE001 - the replay must report the same files as unreadable
            errors.add(path)
            continue
        for k in totals:
            totals[k] += getattr(stats, k)
        charges_in += stats.charges_in
        charges_rejected += stats.charges_rejected
        for rule, n in stats.by_rule.items():
            by_rule[rule] = by_rule.get(rule, 0) + n
    return {"totals": totals, "charges_in": charges_in, "charges_rejected": charges_rejected,
            "by_rule": by_rule, "errors": errors}


@pytest.fixture(scope="module")
def baseline(archive: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted in-process run (--jobs 1) with the real policy."""
    out = tmp_path_factory.mktemp("baseline")
    replay_local(archive["paths"], ReplayConfig(str(out)), jobs=1)  # type: ignore[arg-type]
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _same_outputs(a: Path, b: Path) -> None:
    for name in SUMMARY_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    acks_a = {p.relative_to(a): p.stat().st_size for p in (a / "acks").rglob("*.277")}
    acks_b = {p.relative_to(b): p.stat().st_size for p in (b / "acks").rglob("*.277")}
    assert acks_a == acks_b  # same names and sizes (contents differ only in the creation time)


# -- totals ------------------------------------------------------------------------------------
def test_inputs_are_found_recursively_without_hidden_files(archive: dict[str, object]) -> None:
    paths = archive["paths"]
    assert len(paths) == N_FILES + len(archive["malformed"]) + len(archive["ignored"]) + 1  # type: ignore[arg-type]
    assert not any("/." in p for p in paths)  # type: ignore[union-attr]
    root = archive["root"]
    assert discover_inputs([str(root)], exclude=[str(root / "bad")]) == [
        p for p in paths if "/bad/" not in p]  # type: ignore[union-attr]
    assert discover_inputs([f"{root}/2024/**/*.837.gz"]) == [
        p for p in paths if "/2024/" in p and p.endswith(".837.gz")]  # type: ignore[union-attr]


def test_totals_equal_run_filter_per_file(baseline: Path, expected: dict[str, object]) -> None:
    s = _summary(baseline)
    t = s["totals"]
    for k, v in expected["totals"].items():  # type: ignore[union-attr]
        assert t[k] == v, k
    assert Decimal(t["charges_in"]) == expected["charges_in"]
    assert Decimal(t["charges_rejected"]) == expected["charges_rejected"]
    assert t["rejected"] > 0 and t["accepted"] > 0 and t["unevaluated"] > 0
    assert {r["key"]: r["rejected"] for r in s["by_rule"] if r["rejected"]} == expected["by_rule"]
    assert t["claims_in"] == t["accepted"] + t["rejected"] + t["unevaluated"]
    # Every rejected claim is in exactly one month and one payer bucket.
    for dim in ("by_month", "by_payer"):
        assert sum(r["rejected"] for r in s[dim]) == t["rejected"], dim
        assert sum(Decimal(r["charges_rejected"]) for r in s[dim]) == Decimal(t["charges_rejected"]), dim
    # ... and has at least one therapy code (the policy only rejects CGT claims).
    assert sum(r["rejected"] for r in s["by_therapy"]) >= t["rejected"]
    assert all(r["key"] != "(none)" for r in s["by_therapy"])


def test_unreadable_files_become_error_rows(baseline: Path, archive: dict[str, object],
                                            expected: dict[str, object]) -> None:
    s = _summary(baseline)
    errors = {e["file"]: e["error"] for e in s["errors"]}
    assert set(errors) == set(archive["malformed"]) == expected["errors"]  # type: ignore[arg-type]
    for path, why in archive["malformed"].items():  # type: ignore[union-attr]
        assert why.lower() in errors[path].lower(), (path, errors[path])
        assert not os.path.exists(ack_path(ReplayConfig(str(baseline)), path))
    assert s["totals"]["files_unreadable"] == len(errors)
    files = (baseline / "files.csv").read_text().splitlines()
    assert len(files) == 1 + len(archive["paths"]) - len(archive["ignored"])  # type: ignore[arg-type]


def test_inputs_that_are_not_837s_are_skipped_unless_included(archive: dict[str, object], tmp_path: Path) -> None:
    bad = [p for p in archive["paths"] if "/bad/" in p]  # type: ignore[union-attr]
    ignored: dict[str, str] = archive["ignored"]  # type: ignore[assignment]
    run = replay_local(bad, ReplayConfig(str(tmp_path / "sniffed")), jobs=1)
    reasons = dict(run.ignored)
    assert set(reasons) == set(ignored)
    assert "GS01 'FA'" in reasons[next(p for p in ignored if p.endswith(".999"))]
    assert all("not X12" in r for p, r in reasons.items() if not p.endswith(".999"))
    assert {e["file"] for e in run.summary["errors"]} == set(archive["malformed"])  # type: ignore[arg-type]
    assert run.summary["totals"]["files"] == len(bad) - len(ignored)
    assert not any(os.path.exists(ack_path(ReplayConfig(str(tmp_path / "sniffed")), p)) for p in ignored)
    # A rerun knows them: nothing is read again.
    again = replay_local(bad, ReplayConfig(str(tmp_path / "sniffed")), jobs=1)
    assert again.processed == 0 and dict(again.ignored) == reasons

    # Read anyway (what --include does): the ones that are not X12 become error rows.
    run = replay_local(bad, ReplayConfig(str(tmp_path / "all"), sniff=False), jobs=1)
    errors = {e["file"]: e["error"] for e in run.summary["errors"]}
    assert not run.ignored
    for path, why in ignored.items():
        if why:
            assert why.lower() in errors[path].lower(), (path, errors.get(path))
    assert next(p for p in ignored if p.endswith(".999")) not in errors  # X12, read: not an 837 transaction

    res = run_cli("replay", str(archive["root"] / "bad"), "--out", str(tmp_path / "cli"), "--jobs", "1",  # type: ignore[operator]
                  "--include", "*.837", "--exclude", "empty*")
    assert res.returncode == 3, res.stderr.decode()[-2000:]
    files = {e["file"] for e in _summary(tmp_path / "cli")["errors"]}
    assert any(f.endswith("utf16.837") for f in files) and not any(f.endswith(("empty.837", ".999", ".txt"))
                                                                     for f in files)
    res = run_cli("replay", str(archive["root"] / "bad"), "--out", str(tmp_path / "cli2"), "--jobs", "1")  # type: ignore[operator]
    assert f"{len(ignored)} not 837 (skipped)".encode() in res.stdout, res.stdout
    events = [json.loads(line) for line in res.stderr.decode().splitlines() if line.startswith("{")]
    assert sorted(e["file"] for e in events if e["event"] == "input_ignored") == sorted(ignored)


def test_rejections_csv_has_one_row_per_rejected_claim(baseline: Path) -> None:
    import csv

    rows = list(csv.DictReader((baseline / "rejections.csv").open()))
    s = _summary(baseline)
    assert len(rows) == s["totals"]["rejected"]
    assert sum(Decimal(r["charge"]) for r in rows) == Decimal(s["totals"]["charges_rejected"])
    assert all(r["rules"] and r["hcpcs"] and r["claim_id"] and re.fullmatch(r"\d{4}-\d\d-\d\d", r["service_date"])
               for r in rows)
    per_file = {}
    for r in rows:
        per_file[r["file"]] = per_file.get(r["file"], 0) + 1
    for line in list(csv.DictReader((baseline / "files.csv").open())):
        assert per_file.get(line["file"], 0) == int(line["rejected"])
        assert bool(line["ack"]) == (int(line["rejected"]) > 0)


def test_jobs_1_and_2_give_identical_outputs(baseline: Path, archive: dict[str, object], tmp_path: Path) -> None:
    run = replay_local(archive["paths"], ReplayConfig(str(tmp_path)), jobs=2)  # type: ignore[arg-type]
    assert run.processed == len(archive["paths"]) and run.skipped == 0  # type: ignore[arg-type]
    _same_outputs(baseline, tmp_path)


# -- resume ------------------------------------------------------------------------------------
def test_resume_after_partial_run_matches_uninterrupted(baseline: Path, archive: dict[str, object],
                                                        tmp_path: Path) -> None:
    paths = archive["paths"]
    first = paths[::3]  # type: ignore[index]
    replay_local(first, ReplayConfig(str(tmp_path)), jobs=2)
    run = replay_local(paths, ReplayConfig(str(tmp_path)), jobs=2)  # type: ignore[arg-type]
    assert run.skipped == len(first) and run.processed == len(paths) - len(first)  # type: ignore[arg-type]
    _same_outputs(baseline, tmp_path)
    again = replay_local(paths, ReplayConfig(str(tmp_path)), jobs=2)  # type: ignore[arg-type]
    assert again.processed == 0
    forced = replay_local(paths, ReplayConfig(str(tmp_path)), jobs=2, force=True)  # type: ignore[arg-type]
    assert forced.processed == len(paths)  # type: ignore[arg-type]
    _same_outputs(baseline, tmp_path)


def test_sigterm_then_rerun_gives_the_uninterrupted_summary(baseline: Path, archive: dict[str, object],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "edi_cgt", "replay", str(archive["root"]), "--out", str(out), "--jobs", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "done").glob("*/*.json"))) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert b"run the same command again to resume" in err
    finished = len(list((out / "done").glob("*/*.json")))
    assert 0 < finished < len(archive["paths"])  # type: ignore[arg-type]
    assert not (out / "summary.json").exists()

    again = run_cli("replay", str(archive["root"]), "--out", str(out), "--jobs", "2")
    assert again.returncode == 3, again.stderr.decode()[-2000:]  # unreadable inputs in the archive
    assert f"{finished:,} already done".encode() in again.stdout
    _same_outputs(baseline, out)
    assert not list(out.rglob("*.tmp"))


def test_changed_input_is_replayed_again(archive: dict[str, object], tmp_path: Path) -> None:
    src = Path(archive["paths"][0])  # type: ignore[index]
    copy = tmp_path / "in" / src.name
    copy.parent.mkdir()
    copy.write_bytes(src.read_bytes())
    cfg = ReplayConfig(str(tmp_path / "out"))
    assert replay_local([str(copy)], cfg, jobs=1).processed == 1
    assert replay_local([str(copy)], cfg, jobs=1).processed == 0
    copy.write_bytes(src.read_bytes() + src.read_bytes())  # now two interchanges
    again = replay_local([str(copy)], cfg, jobs=1)
    assert again.processed == 1
    assert replay_local([str(copy)], ReplayConfig(cfg.out_dir, ack_all=True), jobs=1).processed == 1
    as_of = ReplayConfig(cfg.out_dir, decider=DeciderConfig(as_of=__import__("datetime").date(2025, 7, 1)))
    run = replay_local([str(copy)], as_of, jobs=1)
    assert run.processed == 1 and run.summary["config"]["as_of"] == "2025-07-01"


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_matches_the_library_and_reports_exit_status(baseline: Path, archive: dict[str, object],
                                                         tmp_path: Path) -> None:
    res = run_cli("replay", str(archive["root"]), "--out", str(tmp_path), "--jobs", "2")
    assert res.returncode == 3, res.stderr.decode()[-2000:]
    _same_outputs(baseline, tmp_path)
    assert b"\r" not in res.stderr  # no progress bar when stderr is not a terminal
    events = [json.loads(line) for line in res.stderr.decode().splitlines() if line.startswith("{")]
    assert sum(e["event"] == "input_unreadable" for e in events) == len(archive["malformed"])  # type: ignore[arg-type]
    clean = tmp_path / "clean"
    clean.mkdir()
    good = [p for p in archive["paths"] if p.endswith(".837") and "/bad/" not in p][:3]  # type: ignore[union-attr]
    for p in good:
        (clean / Path(p).name).write_bytes(Path(p).read_bytes())
    res = run_cli("replay", str(clean / "*.837"), "--out", str(tmp_path / "o2"), "--jobs", "1")
    s = _summary(tmp_path / "o2")
    assert s["totals"]["files"] == 3
    assert res.returncode == (1 if s["totals"]["rejected"] else 0)


def test_the_readme_replay_command_on_the_bundled_fixtures(tmp_path: Path) -> None:
    # README "Over archives", first line, with --out in a temporary directory.
    res = run_cli("replay", "fixtures/", "--include", "*.837", "--include", "*.837.gz", "--site",
                  "fixtures/site.toml", "--out", str(tmp_path / "replay-out"))
    assert res.returncode == 1, res.stderr.decode()[-2000:]
    s = _summary(tmp_path / "replay-out")
    named = [p for p in FIXTURES.rglob("*") if p.is_file() and p.name.endswith((".837", ".837.gz"))]
    assert s["totals"]["files"] == len(named) > 10 and s["totals"]["rejected"] > 0


def test_cli_usage_errors(tmp_path: Path) -> None:
    res = run_cli("replay", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and b"no such file" in res.stderr
    (tmp_path / "a.837").write_bytes(_corpus(1, 3))
    res = run_cli("replay", str(tmp_path / "a.837"), "--out", str(tmp_path / "o"), "--master", "local[2]")
    assert res.returncode == 2 and b"--engine spark" in res.stderr


# -- PHI and the report ------------------------------------------------------------------------
def _phi(paths: list[str]) -> tuple[set[str], set[str]]:
    """(names and member ids, birth dates) of every readable input; birth dates that are also
    a date of service somewhere, or a date the policy data names (the reports quote its
    passages, fixes and code dates), are left out (a date alone does not identify anyone)."""
    words: set[str] = set()
    births: set[str] = set()
    service: set[str] = set()
    for path in paths:
        try:
            claims = list(read_claims(read_chunks(path), where=path))
        except Exception:  # noqa: BLE001 - malformed inputs
            continue
        for c in claims:
            for person in (c.subscriber, c.patient):
                if person is None:
                    continue
                words.update(w for w in (person.last_name, person.member_id) if w)
                if person.birth_date:
                    births.add(person.birth_date.strftime("%Y%m%d"))
            for ln in c.lines:
                if ln.service_dates:
                    service.update(d.strftime("%Y%m%d") for d in (ln.service_dates.start, ln.service_dates.end))
            if c.statement_dates:
                service.update(d.strftime("%Y%m%d") for d in (c.statement_dates.start, c.statement_dates.end))
    policy_text = (ROOT / "edi_cgt" / "policy" / "data" / "medi-cal-cgt-2025-07.xml").read_text()
    service.update(d.replace("-", "") for d in re.findall(r"\b\d{4}-\d\d-\d\d\b", policy_text))
    return words, births - service


def test_no_phi_in_any_output_file_but_the_277cas(baseline: Path, archive: dict[str, object]) -> None:
    # The 277CAs name the patient (NM1*QC, as the X214 requires; --redact-acks takes it out);
    # nothing else a replay writes carries a name, a member id or a birth date.
    words, births = _phi(archive["paths"])  # type: ignore[arg-type]
    assert len(words) > 10 and births
    word_re = re.compile(r"\b(" + "|".join(map(re.escape, sorted(words))) + r")\b")
    # A birth date as a value of its own: not digits inside a longer number (a file's mtime_ns
    # holds any run of digits, which once made this check fail by chance).
    date_re = re.compile(r"(?<!\d)(" + "|".join(f"{b}|{b[:4]}-{b[4:6]}-{b[6:]}" for b in sorted(births)) + r")(?!\d)")
    checked = named = 0
    for path in baseline.rglob("*"):
        if not path.is_file() or path.name == ".lock":
            continue
        text = path.read_text("latin-1")
        hit = word_re.search(text)
        if path.suffix == ".277":
            named += hit is not None
            continue
        assert hit is None, (path, hit.group(0) if hit else None)
        assert date_re.search(text) is None, (path, date_re.search(text))
        checked += 1
    assert checked > N_FILES * 0.5 and named > 10


def test_redact_acks_takes_the_patient_out_of_the_277(archive: dict[str, object], tmp_path: Path) -> None:
    path = next(p for p in archive["paths"]  # type: ignore[union-attr]
                if "/bad/" not in p and replay_file(p, ReplayConfig(str(tmp_path / "probe")), record=False)
                ["row"]["rejected"])
    words, _ = _phi([path])
    named = (tmp_path / "probe" / replay_file(path, ReplayConfig(str(tmp_path / "probe")))["row"]["ack"]).read_text()
    assert any(w in named for w in words) and "REDACTED" not in named
    rec = replay_file(path, ReplayConfig(str(tmp_path / "redacted"), redact_acks=True))
    ack = (tmp_path / "redacted" / rec["row"]["ack"]).read_text("latin-1")
    assert not any(re.search(rf"\b{re.escape(w)}\b", ack) for w in words)
    assert "NM1*QC*1*REDACTED*****MI*REDACTED~" in ack


def test_report_is_self_contained_and_escaped(baseline: Path) -> None:
    page = (baseline / "report.html").read_text()
    assert page.count("<svg") >= 2 and "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "bad &lt;b&gt;&amp;&quot;name&quot;.837" in page and "<b>&" not in page
    s = _summary(baseline)
    top_rule = s["by_rule"][0]["key"]
    assert top_rule in page
    assert s["top_files"] and all(html_path_in(page, f["ack"]) for f in s["top_files"])


def html_path_in(page: str, ack: str) -> bool:
    return f'href="{ack}"' in page


# -- the per-file function -----------------------------------------------------------------------
def _reject_odd_claims(claim: Claim) -> Decision:  # (trigger_codes None: every claim is read)
    """An injected decider: rejects claims whose id ends in an odd digit."""
    if claim.claim_id[-1:] in "13579":
        line = claim.lines[0]
        return Decision(claim.claim_id, (Finding("TEST-ODD", "error", "odd claim id", "test", line.number, line.code),))
    return Decision(claim.claim_id)


_reject_odd_claims.trigger_codes = None  # type: ignore[attr-defined]


def test_injected_decider_runs_in_workers(archive: dict[str, object], tmp_path: Path) -> None:
    paths = [p for p in archive["paths"] if "/bad/" not in p][:40]  # type: ignore[union-attr]
    run = replay_local(paths, ReplayConfig(str(tmp_path)), jobs=2, decide=_reject_odd_claims)
    t = run.summary["totals"]
    expected = 0
    for p in paths:
        expected += sum(c.claim_id[-1] in "13579" for c in read_claims(read_chunks(p), where=p))
    assert t["rejected"] == expected > 0
    assert [r["key"] for r in run.summary["by_rule"]] == ["TEST-ODD"]
    # The injected decider is part of the fingerprint: the real policy does not reuse these records.
    again = replay_local(paths, ReplayConfig(str(tmp_path)), jobs=1)
    assert again.processed == len(paths)


def test_error_reason_never_quotes_segment_text() -> None:
    exc = X12SyntaxError("input ends inside a segment (no terminator '~' after 'NM1*IL*1*TESTSUBJECT*ALPHA'): "
                         "the file is truncated", segment_number=12, where="/x/y.837")
    reason = error_reason(exc, "/x/y.837")
    assert "TESTSUBJECT" not in reason and "'~'" in reason and "'NM1...'" in reason
    assert not reason.startswith("/x/y.837")

    def boom() -> None:
        raise ValueError("claim for TESTSUBJECT ALPHA born 19800101")

    try:
        boom()
    except ValueError as e:
        reason = error_reason(e)
    assert "TESTSUBJECT" not in reason and "ValueError" in reason


def test_done_record_is_written_after_the_277(archive: dict[str, object], tmp_path: Path) -> None:
    path = next(p for p in archive["paths"] if "/bad/" not in p)  # type: ignore[union-attr]
    cfg = ReplayConfig(str(tmp_path))
    rec = replay_file(path, cfg)
    done = Path(done_path(cfg, path))
    assert json.loads(done.read_text())["row"]["claims_in"] == rec["row"]["claims_in"] > 0
    if rec["row"]["ack"]:
        assert os.path.getmtime(ack_path(cfg, path)) <= done.stat().st_mtime
    assert not list(tmp_path.rglob("*.tmp"))


def test_ack_all_reads_every_claim_and_counts_the_same(baseline: Path, archive: dict[str, object],
                                                       tmp_path: Path) -> None:
    # --ack-all makes every claim a read claim (the 277CA reports each one); the counts
    # must not change, and every readable input with claims gets a 277CA.
    run = replay_local(archive["paths"], ReplayConfig(str(tmp_path), ack_all=True), jobs=2)  # type: ignore[arg-type]
    s, base = run.summary, _summary(baseline)
    for key in ("by_rule", "by_therapy", "by_payer", "by_month", "errors"):
        assert s[key] == base[key], key
    assert {k: v for k, v in s["totals"].items() if k != "acks_written"} == \
        {k: v for k, v in base["totals"].items() if k != "acks_written"}
    assert (tmp_path / "rejections.csv").read_bytes() == (baseline / "rejections.csv").read_bytes()
    assert s["totals"]["acks_written"] > base["totals"]["acks_written"] >= len(base["top_files"])
    ack = next((tmp_path / "acks").rglob("*.277")).read_text("latin-1")
    assert "A2:20" in ack  # accepted claims are acknowledged too


def test_collector_counts_the_rejections_of_each_transaction(archive: dict[str, object]) -> None:
    from edi_cgt.replay import Collector

    path = next(p for p in archive["paths"] if "/bad/" not in p)  # type: ignore[union-attr]
    claims = list(read_claims(read_chunks(path), where=path))
    by_txn: dict[int, list[Claim]] = {}
    for c in claims:
        by_txn.setdefault(c.location.transaction_index, []).append(c)  # type: ignore[union-attr]
    assert len(by_txn) >= 2
    col = Collector()
    for txn in by_txn.values():
        col.begin_transaction(txn[0].transaction)
        for c in txn:
            col.add(c, _reject_odd_claims(c))
        col.add_unread(3, Decimal(1), None)
        col.end_transaction()
    expected_ids = [c.claim_id for c in claims if _reject_odd_claims(c).rejected]
    assert expected_ids
    assert [r["claim_id"] for r in col.rejections] == expected_ids
    assert sum(b["rejected"] for b in col.counters()["by_month"].values()) == len(expected_ids)
