# The conservation oracle: what every run of `edi-cgt filter` must satisfy, checked from outside.
#
# Strategy: the oracle does not trust the code under test. It cuts the input, the clean 837 and
# the 277CA into segments with its own few lines (delimiters from the fixed ISA offsets, split on
# the terminator) and counts: CLM segments going in must equal CLM segments in the clean 837
# (kept claims and claims in passed-through transactions) plus claims the 277CA rejects (an HL
# of level PT whose first STC has category A3, A6, A7 or A8). Outcomes are classified the same
# way for the hostile tests, the property tests and the fuzz harness: either a clear error (exit
# 2, a message naming the file, no output file left) or complete outputs that conserve claims.
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ROOT",
    "CORPUS",
    "REJECTED_CATEGORIES",
    "split_segments",
    "claim_ids",
    "ack_claims",
    "rejected_ids",
    "FilterRun",
    "run_filter_cli",
    "check_outcome",
    "OracleError",
]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
REJECTED_CATEGORIES = frozenset({"A3", "A6", "A7", "A8"})
_LAYOUT = b" \t\r\n"


class OracleError(AssertionError):
    """A guarantee was broken (the message says which)."""


def split_segments(data: bytes) -> list[list[str]]:
    """Every segment of every interchange as its element strings (latin-1).

    Independent of edi_cgt's reader on purpose. Raises ValueError for bytes that do not start
    (after a BOM and layout whitespace) with a 106-byte ISA.
    """
    out: list[list[str]] = []
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    n = len(data)
    while True:
        while pos < n and data[pos] in _LAYOUT:
            pos += 1
        if pos >= n:
            return out
        if data[pos : pos + 3] != b"ISA" or n - pos < 106:
            raise ValueError(f"no ISA at byte {pos}")
        element = chr(data[pos + 3])
        terminator = data[pos + 105 : pos + 106]
        while True:
            end = data.find(terminator, pos)
            raw = data[pos:end] if end >= 0 else data[pos:]
            raw = raw.lstrip(_LAYOUT) if terminator not in _LAYOUT else raw
            if end < 0:
                if raw.strip(_LAYOUT):
                    out.append(raw.strip(_LAYOUT).decode("latin-1").split(element))
                return out
            pos = end + 1
            if raw:
                elements = raw.decode("latin-1").split(element)
                out.append(elements)
                if elements[0] == "IEA":
                    break


def claim_ids(data: bytes) -> list[str]:
    """CLM01 of every CLM segment, in order."""
    return [s[1] if len(s) > 1 else "" for s in split_segments(data) if s[0] == "CLM"]


def ack_claims(data: bytes) -> list[tuple[str, str]]:
    """(TRN02, STC01-1 category) for every claim-level (HL03 = PT) loop of a 277CA."""
    if not data:
        return []
    segs = split_segments(data)
    component = ":"
    claims: list[tuple[str, str]] = []
    pending: list[str] | None = None  # [trn02, category]
    for s in segs:
        sid = s[0]
        if sid == "ISA":
            component = s[16][:1] if len(s) > 16 else ":"
        elif sid == "HL":
            if pending is not None:
                claims.append((pending[0], pending[1]))
            pending = [None, None] if len(s) > 3 and s[3] == "PT" else None  # type: ignore[list-item]
        elif pending is not None and sid == "TRN" and pending[0] is None:
            pending[0] = s[2] if len(s) > 2 else ""
        elif pending is not None and sid == "STC" and pending[1] is None:
            pending[1] = s[1].split(component)[0] if len(s) > 1 else ""
        elif sid == "SE" and pending is not None:
            claims.append((pending[0], pending[1]))
            pending = None
    return claims


def rejected_ids(ack: bytes) -> list[str]:
    """Claim ids the 277CA rejects (category A3/A6/A7/A8), in order."""
    return [trn for trn, cat in ack_claims(ack) if cat in REJECTED_CATEGORIES]


@dataclass
class FilterRun:
    """One `edi-cgt filter INPUT -o clean --rejects ack` run in a directory of its own."""

    returncode: int
    stderr: str
    clean: bytes | None  # None: the file does not exist
    ack: bytes | None
    leftovers: list[str]  # temporary files left in the output directory
    events: list[dict] = field(default_factory=list)

    def event(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]

    @property
    def summary(self) -> dict | None:
        found = self.event("summary")
        return found[-1] if found else None


def _events(stderr: str) -> list[dict]:
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events


def run_filter_cli(data: bytes, workdir: Path, *args: str, name: str = "input.x12",
                   timeout: float = 120) -> FilterRun:
    """Run the real CLI (a subprocess) on `data`; outputs go to `workdir`/out/."""
    workdir = Path(workdir)
    src = workdir / name
    src.write_bytes(data)
    outdir = workdir / "out"
    outdir.mkdir(exist_ok=True)
    clean, ack = outdir / "clean.837", outdir / "rejects.277"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "edi_cgt", "filter", str(src), "-o", str(clean), "--rejects", str(ack), *args],
        capture_output=True, timeout=timeout, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    leftovers = sorted(p.name for p in outdir.iterdir() if p.name not in ("clean.837", "rejects.277"))
    run = FilterRun(
        returncode=proc.returncode,
        stderr=stderr,
        clean=clean.read_bytes() if clean.exists() else None,
        ack=ack.read_bytes() if ack.exists() else None,
        leftovers=leftovers,
        events=_events(stderr),
    )
    for p in (clean, ack):
        if p.exists():
            p.unlink()
    return run


def check_outcome(data: bytes, run: FilterRun, *, where: str = "input.x12") -> str:
    """Assert that a filter run had a defined outcome; return "error" or "output".

    error:  exit 2, one "edi-cgt: error:" line naming the input and a segment number (when the
            problem is in the X12), no output file and no temporary file left.
    output: exit 0, 1 or 3; both outputs complete; every CLM of the input is either in the clean
            837 or rejected in the 277CA; the summary adds up; byte identity when nothing was
            rejected; exit 3 exactly when a transaction was passed through (with its log event).
    """
    def fail(msg: str) -> None:
        raise OracleError(f"{msg}\n--- exit {run.returncode}, stderr:\n{run.stderr[-3000:]}")

    if "Traceback" in run.stderr:
        fail("a traceback reached the user")
    if run.leftovers:
        fail(f"temporary files left behind: {run.leftovers}")
    if run.returncode == 2:
        if run.clean is not None or run.ack is not None:
            fail("exit 2 but an output file was left behind")
        lines = [ln for ln in run.stderr.splitlines() if ln.startswith("edi-cgt: error:")]
        if len(lines) != 1:
            fail("exit 2 needs exactly one 'edi-cgt: error:' line")
        if where not in lines[0]:
            fail(f"the error message does not name the input {where!r}")
        return "error"
    if run.returncode not in (0, 1, 3):
        fail(f"undocumented exit status {run.returncode}")
    if run.clean is None or run.ack is None:
        fail("a successful run must leave both outputs")
    assert run.clean is not None and run.ack is not None
    summary = run.summary
    if summary is None:
        fail("no summary event")
    assert summary is not None
    try:
        ids_in = claim_ids(data)
    except ValueError as exc:  # the oracle cannot cut it, yet the filter accepted it
        fail(f"filter accepted input the oracle cannot read: {exc}")
        raise
    ids_clean = claim_ids(run.clean)
    ids_rejected = rejected_ids(run.ack)
    if len(ids_in) != len(ids_clean) + len(ids_rejected):
        fail(f"claims lost or duplicated: {len(ids_in)} in, {len(ids_clean)} in the clean 837, "
             f"{len(ids_rejected)} rejected in the 277CA")
    missing = _missing(ids_in, ids_clean)
    if missing is None:
        fail("the clean 837 holds claims that are not in the input, or out of order")
    assert missing is not None
    for cid, trn in zip(missing, ids_rejected):
        if not _same_id(cid, trn):
            fail(f"the 277CA rejects {trn!r} where the input claim left out is {cid!r}")
    if summary["claims_in"] != summary["accepted"] + summary["rejected"] + summary["unevaluated"]:
        fail(f"summary does not add up: {summary}")
    if summary["rejected"] != len(ids_rejected):
        fail(f"summary says {summary['rejected']} rejected, the 277CA rejects {len(ids_rejected)}")
    passed = run.event("transaction_passed_through")
    if (run.returncode == 3) != bool(summary["transactions_passed_through"]) or len(passed) != summary["transactions_passed_through"]:
        fail("exit 3 must go with passed-through transactions and one log event each")
    if run.returncode == 1 and not summary["rejected"]:
        fail("exit 1 without a rejected claim")
    if run.returncode == 0 and summary["rejected"]:
        fail("exit 0 with rejected claims")
    if not summary["rejected"] and run.clean != data:
        fail("nothing was rejected, yet the clean 837 differs from the input")
    return "output"


def _missing(ids_in: list[str], ids_clean: list[str]) -> list[str] | None:
    """The input ids not in the clean 837, in order; None unless clean is a subsequence of in."""
    missing: list[str] = []
    j = 0
    for cid in ids_in:
        if j < len(ids_clean) and ids_clean[j] == cid:
            j += 1
        else:
            missing.append(cid)
    return missing if j == len(ids_clean) else None


def _same_id(claim_id: str, trn: str) -> bool:
    """TRN02 is CLM01 made safe for the 277CA (odd characters blanked, cut to 50)."""
    if claim_id == trn:
        return True
    squeeze = lambda v: "".join(ch for ch in v if ch.isascii() and ch.isalnum())  # noqa: E731
    return squeeze(claim_id).startswith(squeeze(trn)) and len(trn) <= 50
