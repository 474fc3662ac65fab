# Fuzz target: the whole filter (reader, walker, policy, clean 837 writer, 277CA writer).
#
# Properties checked on every input (any other exception is a crash):
#   - run_filter either raises X12SyntaxError or InputError (the CLI's exit 2), or finishes;
#   - when it finishes, no claim is lost: CLM in = CLM in the clean 837 + claims rejected in the
#     277CA, ids matching, summary consistent, byte identity when nothing is rejected
#     (fuzz.oracle.check_conservation, which cuts segments with its own code);
#   - the same holds with a decision function that rejects every other claim, and the clean
#     837 of that run, filtered again accepting everything, comes back byte for byte;
#   - a well-formed input (no envelope issue, nothing passed through) gives a well-formed
#     clean 837 (SE/GE/IEA counts and trailers right after claims were cut out);
#   - one path: reading only the claims with a policy code (the default) and reading every
#     claim (read_all) write the same clean 837 and reject the same claims; where read_all
#     finds no more unreadable claims than the default, the 277CA and every count agree too.
#     A failure names the outputs and counts that differ, so a new mismatch never shares a
#     signature with an old one (fuzz.minimize.signature keeps the text before any "{").
#
#     python -m fuzz.fuzz_filter --seconds 600 --seed 1
#     python -m fuzz.fuzz_filter --atheris -- -max_total_time=3600
from __future__ import annotations

import sys
import zlib
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `fuzz` and `edi_cgt` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.cli import instrumented

with instrumented():  # coverage instrumentation of edi_cgt when run under atheris
    import edi_cgt.decider
    import edi_cgt.writers.ack277  # noqa: F401 - imported here to be instrumented
    from edi_cgt.claims.model import Claim
    from edi_cgt.io import InputError
    from edi_cgt.pipeline import run_filter
    from edi_cgt.policy.findings import ERROR, AckCode, Decision, Finding
    from edi_cgt.x12.envelope import Envelope
    from edi_cgt.x12.errors import X12SyntaxError
    from edi_cgt.x12.reader import iter_segments
from fuzz.oracle import OracleError, check_conservation, filter_in_process

__all__ = ["TestOneInput", "every_other", "accept_all"]

_FINDING = Finding(rule_id="FUZZ-REJECT", severity=ERROR, message="rejected by the fuzz harness",
                   passage="fuzz", ack=AckCode("A7", "21", extra_status="732"))


def every_other(claim: Claim) -> Decision:
    """Reject a claim when its id hashes odd: deterministic, independent of position."""
    odd = zlib.crc32(claim.claim_id.encode("latin-1")) & 1
    return Decision(claim.claim_id, (_FINDING,) if odd else ())


def accept_all(claim: Claim) -> Decision:
    return Decision(claim.claim_id)


every_other.trigger_codes = accept_all.trigger_codes = None  # type: ignore[attr-defined]  # read every claim


_COUNTS = ("claims_in", "accepted", "rejected", "unevaluated", "transactions", "transactions_passed_through",
           "charges_in", "charges_rejected", "syntax_rejected")


def TestOneInput(data: bytes) -> None:  # noqa: N802 - the name atheris expects
    try:
        clean, ack, summary, events = filter_in_process(data)
    except (X12SyntaxError, InputError) as exc:
        assert "Traceback" not in str(exc)
        return
    _check("built-in policy", data, clean, ack, summary)
    one_path(data, (clean, ack, summary, events), filter_in_process(data, read_all=True))
    one_path(data, (clean, ack, summary, events), filter_in_process(data, hold_memory=64), same=True)
    clean, ack, summary, _ = filter_in_process(data, every_other)
    _check("every other claim rejected", data, clean, ack, summary)
    if clean:  # (everything may have been rejected)
        again, _, summary2, _ = filter_in_process(clean, accept_all)
        assert again == clean, "the clean 837, filtered again accepting everything, changed"
        assert summary2["claims_in"] == summary["claims_in"] - summary["rejected"], "re-read claim count"


def one_path(data: bytes, some: tuple, every: tuple, *, same: bool = False) -> None:
    """The default run (`some`) against read_all or a smaller memory limit (`every`)."""
    label = "hold_memory=64" if same else "read_all"
    differ = [name for name, a, b in (("clean 837", some[0], every[0]),) if a != b]
    rejected = [[f["claim_id"] for name, f in run[3] if name == "claim_rejected"] for run in (some, every)]
    if rejected[0] != rejected[1]:
        differ.append("rejected claims")
    if same or some[2]["unevaluated"] == every[2]["unevaluated"]:
        differ += [name for name in _COUNTS if some[2][name] != every[2][name]]
        if some[1] != every[1]:
            differ.append("277CA")
    elif some[2]["unevaluated"] > every[2]["unevaluated"]:
        differ.append("unevaluated (fewer when every claim is read)")
    assert not differ, (f"default and {label} differ in: {', '.join(differ)} "
                        + str({k: (some[2][k], every[2][k]) for k in _COUNTS if some[2][k] != every[2][k]}))


def _check(label: str, data: bytes, clean: bytes, ack: bytes, summary: dict) -> None:
    try:
        check_conservation(data, clean, ack, summary)
    except OracleError as exc:
        raise OracleError(f"{label}: {exc}") from None
    if clean and not summary["transactions_passed_through"] and not _envelope_issues(data):
        found = _envelope_issues(clean)
        assert not found, f"{label}: a well-formed input gave a clean 837 with envelope issues: {found[:3]}"


def _envelope_issues(data: bytes) -> list[str]:
    env = Envelope()
    found: list[str] = []
    for seg in iter_segments([data]):
        found += [i.problem for i in env.feed(seg)]
    return found + [i.problem for i in env.finish()]


def main(argv: list[str] | None = None) -> int:
    from fuzz.cli import main as cli_main

    return cli_main("fuzz_filter", TestOneInput, argv)


if __name__ == "__main__":
    sys.exit(main())
