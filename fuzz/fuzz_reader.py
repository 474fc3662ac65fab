# Fuzz target: the X12 reader, the envelope checks and the 837 claim walker.
#
# Properties checked on every input (any other exception is a crash):
#   - the reader either raises X12SyntaxError or yields segments whose bytes, joined, are the
#     input exactly (no byte lost or invented), numbered 1, 2, 3 ...;
#   - reading the same bytes in small chunks gives the same segments and the same error;
#   - reading a transaction whole (Reader.maybe_extract_transaction, any size limit and chunk
#     size) gives the same bytes and segment numbers as reading it segment by segment;
#   - read_claims never raises (but X12SyntaxError), counts every CLM of the 837 transactions,
#     and says why of each claim it skips (an event naming a segment).
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
    from edi_cgt.pipeline import FilterStats, read_claims
    from edi_cgt.x12.envelope import Envelope
    from edi_cgt.x12.errors import X12SyntaxError
    from edi_cgt.x12.reader import NEED_DATA, Piece, Reader, iter_segments

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
    for limit in (64, 1 << 20):
        assert _by_transactions(data, size, limit) == whole, f"transactions read whole (limit {limit}) differ"
    events: list[tuple[str, dict]] = []
    stats = FilterStats()
    claims = list(read_claims([data], where="fuzz", stats=stats, on_event=lambda n, **f: events.append((n, f))))
    assert stats.claims_in == len(claims) + stats.unevaluated, "claims lost by the reader"
    for name, fields in events:
        if name.endswith("passed_through") or name == "transaction_not_supported":
            assert isinstance(fields.get("segment"), int) and fields.get("problem"), f"{name} without segment"


def _by_transactions(data: bytes, size: int, limit: int) -> list[tuple[int, bytes]]:
    """Segments outside transactions one by one, each transaction's body as Pieces: the same
    (number, raw) list as iter_segments, once the pieces are cut into segments again."""
    reader = Reader(where="fuzz")
    chunks = iter([data[i : i + size] for i in range(0, len(data), size)])
    out: list[tuple[int, bytes]] = []

    def pull() -> None:
        chunk = next(chunks, None)
        reader.feed_eof() if chunk is None else reader.feed(chunk)

    while True:
        seg = reader.maybe_extract_segment()
        if seg is NEED_DATA:
            pull()
            continue
        if seg is None:
            return out
        out.append((seg.number, seg.raw))
        if seg.data and seg.id == "ST":
            while True:
                piece = reader.maybe_extract_transaction(limit)
                if piece is NEED_DATA:
                    pull()
                    continue
                assert isinstance(piece, Piece)
                n = len(out)
                for s in iter_segments([piece.data], delimiters=seg.delimiters, first_number=out[-1][0] + 1):
                    if s.raw:
                        out.append((s.number, s.raw))
                assert len(out) - n == piece.segments, "a piece's segment count is wrong"
                if piece.end != "more":
                    break


def main(argv: list[str] | None = None) -> int:
    from fuzz.cli import main as cli_main

    return cli_main("fuzz_reader", TestOneInput, argv)


if __name__ == "__main__":
    sys.exit(main())
