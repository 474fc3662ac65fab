# argparse types shared by the two corpus builders' command lines (bench.corpus, bench.shapes).
#
# Strategy: the builders share no generation code (so that one can check the other), but their
# command lines read numbers and delimiters alike; these small converters are that one reading.
from __future__ import annotations

import argparse

__all__ = ["pair", "delimiter"]

_NAMED = {"lf": "\n", "\\n": "\n", "cr": "\r", "0x1d": "\x1d", "gs": "\x1d", "tab": "\t"}


def pair(text: str) -> tuple[int, int]:
    """"4" -> (4, 4); "1,6" -> (1, 6)."""
    lo, _, hi = text.partition(",")
    try:
        return int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}") from None


def delimiter(text: str) -> str:
    """A delimiter character, or a name for one: lf, cr, 0x1d (gs), tab."""
    return _NAMED.get(text.lower(), text)
