# Fuzz target: the X12 reader, the envelope checks and the 837 claim walker.
#
# Properties checked on every input (any other exception is a crash):
#   - the reader either raises X12SyntaxError or yields segments whose bytes, joined, are the
#     input exactly (no byte lost or invented), numbered 1, 2, 3 ...;
#   - reading the same bytes in small chunks gives the same segments and the same error;
#   - the claim reader either raises an X12Error naming a segment, or yields claims whose ids
#     are the CLM01 values, in order.
#
#     python -m fuzz.fuzz_reader --seconds 600 --seed 1
#     python -m fuzz.fuzz_reader --atheris -- -max_total_time=3600
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `fuzz` and `edi_cgt` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.cli import instrumented

with instrumented():  # coverage instrumentation of edi_cgt when run under atheris
    from edi_cgt.claims.stream import claims_from_segments
    from edi_cgt.x12.envelope import Envelope
    from edi_cgt.x12.errors import X12Error, X12SyntaxError
    from edi_cgt.x12.reader import iter_segments

__all__ = ["TestOneInput"]


def _read(chunks: list[bytes]) -> tuple[list[tuple[int, bytes]], str | None]:
    out: list[tuple[int, bytes]] = []
    try:
        for seg in iter_segments(chunks, where="fuzz"):
            out.append((seg.number, seg.raw))
    except X12SyntaxError as exc:
        assert exc.segment_number is not None, f"syntax error without a segment number: {exc}"
        return out, str(exc)
    return out, None


def TestOneInput(data: bytes) -> None:  # noqa: N802 - the name atheris expects
    whole, error = _read([data])
    # Tiny chunks put boundaries everywhere; for big inputs (the mutator makes 70 kB elements)
    # they would only make the run quadratic, so those get odd mid-size chunks.
    size = 1 + (data[-1] % 7 if data else 0) if len(data) < 8192 else 97 + (data[-1] % 4000)
    pieces, error2 = _read([data[i : i + size] for i in range(0, len(data), size)])
    assert whole == pieces and error == error2, f"chunk size {size} changes the reading"
    assert [n for n, _ in whole] == list(range(1, len(whole) + 1)), "segment numbers are not 1, 2, 3 ..."
    joined = b"".join(raw for _, raw in whole)
    if error is None:
        assert joined == data, "segments do not add up to the input"
    else:
        assert data.startswith(joined), "segments before the error are not a prefix of the input"
        return
    env = Envelope()
    for seg in iter_segments([data]):
        env.feed(seg)
    env.finish()
    clm = [s for s in iter_segments([data]) if s.data[:4] in (b"CLM" + s.delimiters.element,)]
    try:
        claims = list(claims_from_segments(iter_segments([data]), where="fuzz"))
    except X12Error as exc:
        assert exc.segment_number is not None, f"claim error without a segment number: {exc}"
        return
    ids = [c.claim_id for c in claims]
    in_837 = [s.get(1) for s in clm]
    assert len(ids) <= len(in_837), "more claims than CLM segments"


def main(argv: list[str] | None = None) -> int:
    from fuzz.cli import main as cli_main

    return cli_main("fuzz_reader", TestOneInput, argv)


if __name__ == "__main__":
    sys.exit(main())
