# Shrink a crashing input to a few segments that still fail the same way.
#
# Strategy: the failure's signature is the exception type plus the first line of its message,
# numbers and quoted values blanked and anything after a "{" or "[" dropped. The input is cut into segments (on the terminator from the ISA, each
# keeping its terminator and line break); chunks of segments are removed while the signature
# stays (ddmin, halving the chunk size down to one segment). Envelope trailers are never
# recounted, so a minimized input may carry new envelope issues: judge the result, not the
# count lines.
#
#     python -m fuzz.minimize fuzz/crashes/crash-....x12 [--target filter|reader] [-o small.x12]
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["signature", "minimize"]


def signature(target: Callable[[bytes], None], data: bytes) -> str | None:
    """None when the target passes; else a stable description of how it fails."""
    try:
        target(data)
    except Exception as exc:  # noqa: BLE001 - every failure has a signature
        # Numbers, quoted values and detail after a "{" or "[" vary between inputs failing alike.
        text = re.sub(r"'[^']*'|\d+", "_", re.split(r"[{[]", str(exc).split("\n", 1)[0], maxsplit=1)[0])
        return f"{type(exc).__name__}: {text}"
    return None


def _segments(data: bytes) -> list[bytes]:
    at = data.find(b"ISA")
    term = data[at + 105 : at + 106] if at >= 0 and len(data) > at + 105 else b"~"
    parts = re.split(b"(?<=" + re.escape(term) + b")", data)
    return [p for p in parts if p]


def minimize(target: Callable[[bytes], None], data: bytes, *, keep_first: int = 1) -> bytes:
    """The smallest input found (by whole segments) that fails like `data` does."""
    want = signature(target, data)
    if want is None:
        raise ValueError("the input does not fail")
    segs = _segments(data)
    head, body = segs[:keep_first], segs[keep_first:]
    size = max(1, len(body) // 2)
    while size >= 1:
        i = 0
        changed = False
        while i < len(body):
            trial = body[:i] + body[i + size :]
            if signature(target, b"".join(head + trial)) == want:
                body = trial
                changed = True
            else:
                i += size
        if not changed:
            size //= 2
    return b"".join(head + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.minimize")
    parser.add_argument("input", type=Path)
    parser.add_argument("--target", choices=("filter", "reader"), default="filter")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    if args.target == "filter":
        from fuzz.fuzz_filter import TestOneInput
    else:
        from fuzz.fuzz_reader import TestOneInput
    data = args.input.read_bytes()
    small = minimize(TestOneInput, data)
    print(signature(TestOneInput, small), file=sys.stderr)
    if args.output:
        args.output.write_bytes(small)
    else:
        sys.stdout.buffer.write(small)
    return 0


if __name__ == "__main__":
    sys.exit(main())
