# No PHI in logs or reports by default: every command, run on 837 text with known member
# names, member ids and birth dates, must not repeat any of them on stderr, in a summary or in
# a report. What is exempt, and why: the X12 outputs sent back to the submitter (the clean 837
# is the input itself; the 277CAs of `filter` and `replay` identify the patient in NM1*QC as the
# standard requires, unless --redact-acks; the 999 of `validate` copies a bad element value into
# IK404 as the standard requires). `claims --phi` and `--log-phi` are the explicit opt-ins, and they are
# checked to really show the values (so that the absence checks can be trusted).
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fuzz.oracle import CORPUS  # noqa: E402

FIXTURE = (CORPUS / "phi_837p.x12").read_bytes()
NAMES = ["ZQVALENTINE", "ZQMARGUERITE", "ZQOKONKWO", "ZQBARNABY", "ZQPERPETUA", "ZQHALVORSEN", "ZQINGRID"]
MEMBER_IDS = ["ZQM19283746", "ZQM55501234", "ZQM77788899"]
BIRTH_DATES = ["19710413", "20150817", "19590102"]


def _date_forms(ccyymmdd: str) -> list[str]:
    y, m, d = ccyymmdd[:4], ccyymmdd[4:6], ccyymmdd[6:]
    return [ccyymmdd, f"{y}-{m}-{d}", f"{m}/{d}/{y}", f"{int(m)}/{int(d)}/{y}"]


PHI = NAMES + MEMBER_IDS + [form for d in BIRTH_DATES for form in _date_forms(d)]
BAD_BIRTH_DATE = "19710431"  # April has 30 days: DMG02 cannot be read
# Each value on its own, not digits inside a longer number (a file's mtime_ns holds any digits).
PHI_PATTERN = re.compile(r"(?<!\d)(?:" + "|".join(re.escape(v) for v in PHI + _date_forms(BAD_BIRTH_DATE)) + r")(?!\d)",
                         re.IGNORECASE)

# Inputs that drive the error paths too, each still full of PHI.
INPUTS = {
    "clean.x12": FIXTURE,
    "bad-birth-date.x12": FIXTURE.replace(b"DMG*D8*19710413", b"DMG*D8*" + BAD_BIRTH_DATE.encode()),
    "truncated-in-name.x12": FIXTURE[: FIXTURE.index(b"ZQHALVORSEN") + 16],
    "prose-with-name.x12": b"ZQVALENTINE ZQMARGUERITE ZQM19283746 19710413 claims below\n" + FIXTURE,
    "bad-segment.x12": FIXTURE.replace(b"NM1*IL*1*ZQVALENTINE*ZQMARGUERITE", b"ZQVALENTINE*ZQMARGUERITE"),
    "after-iea.x12": FIXTURE + b"ZQHALVORSEN ZQM77788899\n",
}
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edi_cgt", *args], cwd=cwd, env=ENV, input=stdin,
                          capture_output=True, timeout=300)


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return sorted({m.group(0) for m in PHI_PATTERN.finditer(text)})


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("phi")
    for name, data in INPUTS.items():
        (d / name).write_bytes(data)
    return d


def _commands() -> list[str]:
    out = cli("--help", cwd=ROOT).stdout.decode()
    block = out.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return sorted(line.split()[0] for line in block.splitlines() if line.strip())


COVERED = {"check", "claims", "explain", "filter", "policy", "replay", "validate"}


def test_every_command_is_covered() -> None:
    # A new command must get a PHI check here before this test passes again.
    assert set(_commands()) <= COVERED, set(_commands()) - COVERED


def test_the_fixture_really_holds_the_phi() -> None:
    text = FIXTURE.decode()
    assert all(v in text for v in NAMES + MEMBER_IDS + BIRTH_DATES)


# -- per command --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_claims_without_phi_flag(work: Path, name: str) -> None:
    r = cli("claims", name, cwd=work)
    assert r.returncode in (0, 2, 3), r.stderr
    assert leaks(r.stdout) == [] and leaks(r.stderr) == [], (leaks(r.stdout), leaks(r.stderr))


def test_claims_phi_flag_is_the_opt_in(work: Path) -> None:
    r = cli("claims", "--phi", "clean.x12", cwd=work)
    shown = leaks(r.stdout)
    assert set(NAMES + MEMBER_IDS) <= set(shown) and "1971-04-13" in shown
    assert leaks(r.stderr) == []


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_check(work: Path, name: str, fmt: str) -> None:
    r = cli("check", name, "--format", fmt, cwd=work)
    assert r.returncode in (0, 1, 2, 3), r.stderr
    assert leaks(r.stdout) == [] and leaks(r.stderr) == [], (leaks(r.stdout), leaks(r.stderr))


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_explain(work: Path, name: str, fmt: str) -> None:
    claim_ids = re.findall(rb"CLM\*([^*~]+)", FIXTURE)
    assert len(claim_ids) >= 4
    for cid in [c.decode() for c in claim_ids] + ["NOT-THERE"]:
        r = cli("explain", name, cid, "--format", fmt, cwd=work)
        assert r.returncode in (0, 1, 2, 3), r.stderr
        assert leaks(r.stdout) == [] and leaks(r.stderr) == [], (cid, leaks(r.stdout), leaks(r.stderr))


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_filter_logs(work: Path, name: str) -> None:
    out = work / f"filter-{name}"
    out.mkdir()
    r = cli("filter", name, "-o", str(out / "clean.837"), "--rejects", str(out / "r.277"), cwd=work)
    assert r.returncode in (0, 1, 2, 3), r.stderr
    assert leaks(r.stderr) == [], leaks(r.stderr)
    assert leaks(r.stdout) == []


def test_filter_277ca_identifies_the_patient_as_the_standard_requires(work: Path) -> None:
    # Documented exemption: the 277CA goes back to the submitter and names the patient.
    out = work / "filter-277"
    out.mkdir()
    cli("filter", "clean.x12", "-o", str(out / "clean.837"), "--rejects", str(out / "r.277"), cwd=work)
    assert "ZQHALVORSEN" in (out / "r.277").read_text()


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_validate(work: Path, name: str) -> None:
    out = work / f"validate-{name}.999"
    r = cli("validate", name, "-o", str(out), cwd=work)
    assert r.returncode in (0, 1, 2, 3), r.stderr
    assert leaks(r.stderr) == [] and leaks(r.stdout) == [], leaks(r.stderr)


def test_validate_log_phi_is_the_opt_in(work: Path) -> None:
    out = work / "validate-opt-in.999"
    r = cli("--log-phi", "validate", "bad-birth-date.x12", "-o", str(out), cwd=work)
    assert r.returncode == 1
    assert BAD_BIRTH_DATE in r.stderr.decode(), "--log-phi shows the value a syntax error is about"
    quiet = cli("validate", "bad-birth-date.x12", "-o", str(out), cwd=work)
    assert BAD_BIRTH_DATE not in quiet.stderr.decode()
    assert b"syntax_error" in quiet.stderr  # the error is still reported, by position


def test_replay_outputs_and_logs(work: Path) -> None:
    src = work / "replay-in"
    src.mkdir()
    for name, data in INPUTS.items():
        (src / name).write_bytes(data)
    for redact in (False, True):
        out = work / f"replay-out-{redact}"
        flags = ["--redact-acks"] if redact else []
        # --include reads every input, the ones that do not start like X12 too (error paths).
        r = cli("replay", str(src), "--out", str(out), "--jobs", "1", "--include", "*.x12", *flags, cwd=work)
        assert r.returncode in (0, 1, 3), r.stderr
        assert leaks(r.stderr) == [] and leaks(r.stdout) == []
        files = [p for p in out.rglob("*") if p.is_file()]
        assert any(p.suffix == ".277" for p in files) and any(p.name == "summary.json" for p in files)
        for p in files:  # summaries, CSVs, the HTML report, done records
            if p.suffix == ".277" and not redact:
                # The 277CA goes back to the submitter: it names the patient, as filter's does.
                assert "ZQHALVORSEN" in leaks(p.read_bytes()) or not leaks(p.read_bytes()), p
                continue
            assert leaks(p.read_bytes()) == [], (redact, p.relative_to(out), leaks(p.read_bytes()))
        acks = "".join(p.read_text("latin-1") for p in files if p.suffix == ".277")
        assert ("ZQHALVORSEN" in acks) is (not redact)


def test_one_phi_rule_for_the_277ca_of_filter_and_replay(work: Path) -> None:
    src = work / "rule-in"
    src.mkdir()
    (src / "clean.x12").write_bytes(FIXTURE)
    for redact in (False, True):
        flags = ["--redact-acks"] if redact else []
        out = work / f"rule-replay-{redact}"
        r = cli("replay", str(src), "--out", str(out), "--jobs", "1", *flags, cwd=work)
        assert r.returncode == 1, r.stderr
        replayed = "".join(p.read_text("latin-1") for p in out.rglob("*.277"))
        filtered = work / f"rule-filter-{redact}.277"
        r = cli("filter", str(src / "clean.x12"), "-o", os.devnull, "--rejects", str(filtered), *flags, cwd=work)
        assert r.returncode == 1, r.stderr
        for ack in (replayed, filtered.read_text("latin-1")):
            assert ack and ("ZQHALVORSEN" in ack) is (not redact) and ("REDACTED" in ack) is redact
        assert leaks(r.stderr) == []


def _decide_and_fail(claim: object) -> object:
    raise ValueError("cannot decide the claim of ZQHALVORSEN ZQINGRID")


_decide_and_fail.trigger_codes = None  # type: ignore[attr-defined]  # every claim is read


def test_replay_log_phi_is_the_opt_in(work: Path, tmp_path: Path) -> None:
    # An unexpected error's message may quote claim data: withheld, unless --log-phi.
    from edi_cgt.replay import ReplayConfig, replay_file

    src = tmp_path / "in.x12"
    src.write_bytes(FIXTURE)
    quiet = replay_file(str(src), ReplayConfig(str(tmp_path / "q")), decide=_decide_and_fail)  # type: ignore[arg-type]
    assert "ValueError" in quiet["row"]["error"] and leaks(quiet["row"]["error"]) == []
    loud = replay_file(str(src), ReplayConfig(str(tmp_path / "l"), log_phi=True), decide=_decide_and_fail)  # type: ignore[arg-type]
    assert "ZQHALVORSEN" in leaks(loud["row"]["error"])
    # `replay --log-phi` is accepted on the command itself (as the global option is).
    for args in (["replay", "--log-phi"], ["--log-phi", "replay"]):
        out = work / f"replay-out-{len(args[0])}"
        r = cli(*args, str(src), "--out", str(out), "--jobs", "1", cwd=work)
        assert r.returncode == 1, r.stderr
        assert leaks((out / "files.csv").read_bytes()) == []


def test_policy_commands(work: Path) -> None:
    for args in (["policy", "show"], ["policy", "validate", str(ROOT / "edi_cgt/policy/data/medi-cal-cgt-2025-07.xml")]):
        r = cli(*args, cwd=work)
        assert r.returncode == 0, r.stderr
        assert leaks(r.stdout) == [] and leaks(r.stderr) == []


def test_stdin_error_paths(work: Path) -> None:
    for name in ("truncated-in-name.x12", "bad-segment.x12"):
        r = cli("claims", "-", cwd=work, stdin=INPUTS[name])
        assert leaks(r.stderr) == [], (name, leaks(r.stderr))


def test_validator_failures_do_not_quote_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyx12 can fail inside with a message that quotes the segment (here: a member's name).
    import pyx12.x12n_document

    from edi_cgt.validation import ValidatorError, validate_x12

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("invalid literal for int() with base 10: 'ZQVALENTINE'")

    monkeypatch.setattr(pyx12.x12n_document, "x12n_document", broken)
    with pytest.raises(ValidatorError) as info:
        validate_x12([FIXTURE], where="in.x12")
    assert leaks(str(info.value)) == [] and "ValueError" in str(info.value)
