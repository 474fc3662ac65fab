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
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ROOT",
    "CORPUS",
    "REJECTED_CATEGORIES",
    "split_segments",
    "claim_ids",
    "claims_in_837",
    "ack_claims",
    "rejected_ids",
    "FilterRun",
    "run_filter_cli",
    "run_filter_forked",
    "check_outcome",
    "error_lines",
    "check_conservation",
    "filter_in_process",
    "default_decider",
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

    Independent of edi_cgt's reader on purpose. An ISA (at a segment start, followed by a
    non-alphanumeric byte) starts a new interchange whether or not an IEA came before it.
    Raises ValueError for bytes that do not start (after a BOM and layout whitespace) with a
    106-byte ISA.
    """
    out: list[list[str]] = []
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    n = len(data)
    while True:
        # layout between interchanges; after the first one NUL padding too (transfer artefact)
        while pos < n and (data[pos] in _LAYOUT or (out and data[pos] == 0)):
            pos += 1
        if pos >= n:
            return out
        if data[pos : pos + 3] != b"ISA" or n - pos < 106:
            raise ValueError(f"no ISA at byte {pos}")
        element = chr(data[pos + 3])
        terminator = data[pos + 105 : pos + 106]
        out.append(data[pos : pos + 105].decode("latin-1").split(element))
        pos += 106
        keep = (terminator[0], ord(element))  # whitespace that is a delimiter is not layout
        while True:
            while pos < n and data[pos] in _LAYOUT and data[pos] not in keep:
                pos += 1
            if data.startswith(b"ISA", pos) and pos + 3 < n and not data[pos + 3 : pos + 4].isalnum():
                break  # a new interchange (the outer loop reads its delimiters)
            end = data.find(terminator, pos)
            raw = data[pos:end] if end >= 0 else data[pos:]
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


def claims_in_837(data: bytes) -> int:
    """CLM segments inside 837 transactions: from an ST*837 to its SE (or to the envelope
    segment, the next ST or the end of input that cuts it short). CLM segments elsewhere are
    not claims."""
    count = 0
    in_tx = is_837 = False
    for s in split_segments(data):
        sid = s[0]
        if sid in ("ISA", "GS", "GE", "IEA"):
            in_tx = False
        elif sid == "ST":
            in_tx, is_837 = True, len(s) > 1 and s[1] == "837"
        elif sid == "SE" and in_tx:
            in_tx = False
        elif sid == "CLM" and in_tx and is_837:
            count += 1
    return count


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
    syntax_ack: bytes | None = None  # the 999 of --validate (rejects.277.999), if written

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


def error_lines(stderr: str) -> list[str]:
    """The error messages of a run, each as `edi-cgt: error: MESSAGE`, whichever form stderr
    took: the `fatal` JSON event (stderr not a terminal) or the readable line (a terminal)."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("edi-cgt: error: "):
            lines.append(line)
        elif line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "fatal":
                lines.append(f"edi-cgt: error: {event.get('message', '')}")
    return lines


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
    return _collect(proc.returncode, proc.stderr.decode("utf-8", "replace"), outdir)


_OUTPUTS = ("clean.837", "rejects.277", "rejects.277.999")


def _collect(returncode: int, stderr: str, outdir: Path) -> FilterRun:
    """Read the outputs of a run, note any other file left behind, and clear the directory."""
    found = {name: (outdir / name).read_bytes() for name in _OUTPUTS if (outdir / name).exists()}
    run = FilterRun(returncode=returncode, stderr=stderr, clean=found.get("clean.837"),
                    ack=found.get("rejects.277"), syntax_ack=found.get("rejects.277.999"),
                    leftovers=sorted(p.name for p in outdir.iterdir() if p.name not in _OUTPUTS),
                    events=_events(stderr))
    for name in found:
        (outdir / name).unlink()
    return run


def run_filter_forked(data: bytes, workdir: Path, *args: str, name: str = "input.x12") -> FilterRun:
    """Like run_filter_cli, but the CLI runs in a fork of this process (no interpreter start-up).

    The child process runs the real click command (`edi_cgt.cli.main`) with its own stdin
    (/dev/null), stdout (/dev/null) and stderr (a file), exits with the command's status via
    os._exit, and never returns here. For sweeps of hundreds of inputs; call it from one
    thread only.
    """
    import signal

    from edi_cgt.cli import main as cli_main  # imported before the fork, once

    _warm_up()

    workdir = Path(workdir)
    src = workdir / name
    src.write_bytes(data)
    outdir = workdir / "out"
    outdir.mkdir(exist_ok=True)
    clean, ack = outdir / "clean.837", outdir / "rejects.277"
    errfile = workdir / "stderr.txt"
    argv = ["filter", str(src), "-o", str(clean), "--rejects", str(ack), *args]
    pid = os.fork()
    if pid == 0:  # child
        status = 70
        try:
            import io
            import traceback

            os.chdir(workdir)
            err = os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            nul = os.open(os.devnull, os.O_RDWR)
            os.dup2(nul, 0)
            os.dup2(nul, 1)
            os.dup2(err, 2)
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            try:
                cli_main.main(args=argv, prog_name="edi-cgt", standalone_mode=True)
                status = 0
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what the user would see
                sys.stderr.write(traceback.format_exc())
                status = 1
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return _collect(os.waitstatus_to_exitcode(wait_status), errfile.read_text("utf-8", "replace"), outdir)


def _warm_up() -> None:
    """Import what `filter` imports lazily and load the built-in policy, so forks start warm."""
    import importlib

    for module in ("edi_cgt.decider", "edi_cgt.pipeline", "edi_cgt.writers.ack277", "edi_cgt.policy",
                   "edi_cgt.cli.filter"):
        importlib.import_module(module)
    default_decider()


def check_outcome(data: bytes, run: FilterRun, *, where: str = "input.x12", identity: bool = True) -> str:
    """Assert that a filter run had a defined outcome; return "error" or "output".

    error:  exit 2, one error message (error_lines) naming the input, no output file and no
            temporary file left.
    output: exit 0, 1 or 3; both outputs complete; the claims are conserved (check_conservation);
            exit 3 exactly when a transaction was passed through (with its log event), 1 exactly
            when a claim was rejected.
    """
    def fail(msg: str) -> None:
        raise OracleError(f"{msg}\n--- exit {run.returncode}, stderr:\n{run.stderr[-3000:]}")

    if "Traceback" in run.stderr:
        fail("a traceback reached the user")
    if run.leftovers:
        fail(f"temporary files left behind: {run.leftovers}")
    if run.returncode == 2:
        if run.clean is not None or run.ack is not None or run.syntax_ack is not None:
            fail("exit 2 but an output file was left behind")
        lines = error_lines(run.stderr)
        if len(lines) != 1:
            fail("exit 2 needs exactly one error message")
        if where not in lines[0]:
            fail(f"the error message does not name the input {where!r}")
        return "error"
    if run.returncode not in (0, 1, 3):
        fail(f"undocumented exit status {run.returncode}")
    # An output with nothing to write is not created (no 0-byte file): a missing one is empty,
    # which the conservation check below then holds to account (every claim comes out once).
    if run.ack is None and run.summary is not None and run.summary.get("rejected"):
        fail("claims were rejected but no 277CA was written")
    run.clean = b"" if run.clean is None else run.clean
    run.ack = b"" if run.ack is None else run.ack
    summary = run.summary
    if summary is None:
        fail("no summary event")
    assert summary is not None and run.clean is not None and run.ack is not None
    passed = run.event("transaction_passed_through") + run.event("transaction_not_supported")
    if len(passed) != summary["transactions_passed_through"]:
        fail("every passed-through transaction needs its log event")
    said = sum(e.get("claims", 0) for e in passed) + len(run.event("claim_passed_through"))
    if said != summary["unevaluated"]:
        fail(f"the log says {said} claims passed through unevaluated, the summary {summary['unevaluated']}")
    expected = 3 if summary["transactions_passed_through"] or summary["unevaluated"] else \
        1 if summary["rejected"] or summary.get("syntax_rejected") else 0
    if run.returncode != expected:
        fail(f"exit {run.returncode} where {expected} is documented for {summary}")
    try:
        check_conservation(data, run.clean, run.ack, summary, identity=identity, syntax_ack=run.syntax_ack)
    except OracleError as exc:
        fail(str(exc))
    return "output"


def check_conservation(data: bytes, clean: bytes, ack: bytes, summary: dict, *, identity: bool = True,
                       syntax_ack: bytes | None = None) -> None:
    """No lost claim: CLM in == CLM in the clean 837 + claims the 277CA rejects (+ claims of
    transactions left out whole by --validate, which the 999 `syntax_ack` rejects), ids matching.

    Also: the clean 837 keeps the input order, the summary adds up and agrees with the 277CA
    and the 999, and (with `identity`) when nothing was rejected the clean 837 is the input,
    byte for byte.
    """
    try:
        ids_in = claim_ids(data)
    except ValueError as exc:
        raise OracleError(f"the filter accepted input the oracle cannot cut: {exc}") from None
    ids_clean = claim_ids(clean)
    ids_rejected = rejected_ids(ack)
    n_syntax = summary.get("syntax_rejected", 0)
    if len(ids_in) != len(ids_clean) + len(ids_rejected) + n_syntax:
        raise OracleError(f"claims lost or duplicated: {len(ids_in)} in, {len(ids_clean)} in the clean 837, "
                          f"{len(ids_rejected)} rejected in the 277CA, {n_syntax} left out by syntax")
    if n_syntax or syntax_ack:
        in_999 = _claims_in_rejected_transactions(data, syntax_ack or b"")
        if in_999 != n_syntax:
            raise OracleError(f"the 999 rejects transactions holding {in_999} claims; the summary says {n_syntax}")
    if not _is_subsequence(ids_clean, ids_in):
        raise OracleError("the clean 837 holds claims that are not in the input, or out of order")
    left_out = Counter(ids_in) - Counter(ids_clean)
    for trn in ids_rejected:
        match = next((cid for cid in left_out if left_out[cid] and _same_id(cid, trn)), None)
        if match is None:
            raise OracleError(f"the 277CA rejects {trn!r}, which is no input claim left out of the clean 837")
        left_out[match] -= 1
    if summary["claims_in"] != summary["accepted"] + summary["rejected"] + summary["unevaluated"] + n_syntax:
        raise OracleError(f"summary does not add up: {summary}")
    in_837 = claims_in_837(data)
    if summary["claims_in"] != in_837:
        raise OracleError(f"summary counts {summary['claims_in']} claims, the input's 837 transactions hold {in_837}")
    if summary["rejected"] != len(ids_rejected):
        raise OracleError(f"summary says {summary['rejected']} rejected, the 277CA rejects {len(ids_rejected)}")
    if identity and not summary["rejected"] and clean != data:
        raise OracleError("nothing was rejected, yet the clean 837 differs from the input")


def filter_in_process(data: bytes, decide=None, *, where: str = "input.x12", chunk_size: int = 1 << 16,
                      read_all: bool = False, hold_memory: int | None = None,
                      ) -> tuple[bytes, bytes, dict, list[tuple[str, dict]]]:
    """run_filter wired as `edi-cgt filter` wires it, in memory: (clean, ack, summary, events).

    `decide` defaults to the built-in policy. The 277CA carries a fixed creation time, so two
    runs can be compared byte for byte. Raises what run_filter raises (X12SyntaxError for input
    that cannot be cut into segments).
    """
    import dataclasses
    import datetime as dt
    import io

    from edi_cgt.pipeline import FilterOptions, run_filter

    options = FilterOptions(read_all=read_all)
    if hold_memory is not None:
        options = dataclasses.replace(options, hold_memory=hold_memory)
    from edi_cgt.writers.ack277 import AckWriter

    if decide is None:
        decide = default_decider()
    events: list[tuple[str, dict]] = []
    clean, ack = io.BytesIO(), io.BytesIO()
    chunks = (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))
    with AckWriter(ack, include_phi=True, now=dt.datetime(2025, 1, 2, 3, 4)) as writer:
        stats = run_filter(chunks, out=clean, decide=decide, sinks=[writer], where=where,
                           on_event=lambda name, **f: events.append((name, f)), options=options)
    return clean.getvalue(), ack.getvalue(), stats.as_dict(), events


_DECIDER = None


def default_decider():
    """The built-in Medi-Cal CGT policy (loaded once per process)."""
    global _DECIDER
    if _DECIDER is None:
        from edi_cgt.decider import make_decider

        _DECIDER = make_decider()
    return _DECIDER


def _claims_in_rejected_transactions(data: bytes, ack999: bytes) -> int:
    """CLM count of the input transactions a 999 rejects (IK501 not A/E), matched by ST02 in order."""
    rejected: list[str] = []
    control = None
    for s in split_segments(ack999) if ack999 else []:
        if s[0] == "AK2":
            control = s[2] if len(s) > 2 else ""
        elif s[0] == "IK5" and control is not None:
            if (s[1] if len(s) > 1 else "") not in ("A", "E"):
                rejected.append(control)
            control = None
    transactions: list[list] = []  # [ST02, CLM count]
    for s in split_segments(data):
        if s[0] == "ST":
            transactions.append([s[2] if len(s) > 2 else "", 0])
        elif s[0] == "CLM" and transactions:
            transactions[-1][1] += 1
    total = 0
    for control in rejected:
        match = next((t for t in transactions if t[0] == control), None)
        if match is not None:
            total += match[1]
            transactions.remove(match)
    return total


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def _same_id(claim_id: str, trn: str) -> bool:
    """TRN02 is CLM01 made safe for the 277CA (odd characters blanked, cut to 50; "0" when
    nothing printable is left)."""
    if claim_id == trn:
        return True

    def squeeze(value: str) -> str:
        value = "".join(ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch))
        return "".join(ch for ch in value if ch.isascii() and ch.isalnum())

    if trn == "0" and not claim_id.strip(" \x00") or trn == "0" and not claim_id.isprintable():
        return True
    return len(trn) <= 50 and squeeze(claim_id).startswith(squeeze(trn))
