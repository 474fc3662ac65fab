# X12-aware mutations and a seeded fuzzing loop, for when atheris is not installed (and as
# atheris' custom mutator when it is).
#
# Strategy: random byte flips rarely get past the 106-byte ISA, so most mutations work on
# segments: cut the input on its terminator, then delete, duplicate, swap, truncate or rewrite
# segments and elements with hostile values (empty, huge, non-ASCII, delimiter characters,
# other segment ids), or change a delimiter in the ISA. A few byte-level mutations keep the
# search honest. Everything is driven by one random.Random, so a run is reproduced by its seed,
# and every input that breaks a target is saved under its content hash.
from __future__ import annotations

import hashlib
import random
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["mutate", "load_corpus", "fuzz_loop", "CrashFound"]

_IDS = (b"ISA", b"GS", b"ST", b"SE", b"GE", b"IEA", b"HL", b"CLM", b"LX", b"SV1", b"SV2", b"NM1", b"SBR",
        b"DMG", b"HI", b"DTP", b"REF", b"PAT", b"LIN", b"SVD", b"CAS", b"N3", b"N4", b"BHT", b"TA1", b"BPR",
        b"CLP", b"AK1", b"EQ", b"XX", b"", b"hl", b"1A")
_VALUES = (b"", b"0", b"-1", b"1E9", b"NaN", b"Infinity", b"99999999999999999999", b"20250229", b"20240229",
           b"00000000", b"RD8", b"D8", b"20250301-20250201", b"20", b"22", b"23", b"837", b"835", b"999",
           b"270", b"HC:J3392", b"\xff\xfe", b"\xc3\xa9", b"\x00", b"\r\n", b"~", b"*", b":", b"^", b"|",
           b"ISA", b"A" * 300, b"\x1d", b" ", b"005010X223A3", b"005010X222A2", b"A:B:C:D:E:F:G")


def load_corpus(directory: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file() and not p.name.startswith(".")
            and p.suffix != ".md"]


def _cut(data: bytes) -> tuple[bytes, list[bytes]]:
    """(terminator, segments with their terminator and layout) of the first interchange's syntax."""
    at = data.find(b"ISA")
    term = data[at + 105 : at + 106] if at >= 0 and len(data) > at + 105 else b"~"
    if not term:
        term = b"~"
    parts = data.split(term)
    return term, [p + term for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _element_sep(data: bytes) -> bytes:
    at = data.find(b"ISA")
    return data[at + 3 : at + 4] if at >= 0 and len(data) > at + 3 else b"*"


def mutate(data: bytes, rng: random.Random, corpus: Sequence[bytes] = (), max_size: int = 1 << 20) -> bytes:
    """One to four mutations of `data`."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        data = _one(data, rng, corpus)
    return data[:max_size] if len(data) > max_size else data


def _one(data: bytes, rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    term, segs = _cut(data)
    sep = _element_sep(data)
    op = rng.randrange(16)
    if not segs or not data:
        return rng.choice(corpus) if corpus else b"ISA"
    i = rng.randrange(len(segs))
    if op == 0:  # delete a segment
        del segs[i]
    elif op == 1:  # duplicate a segment
        segs.insert(i, segs[i])
    elif op == 2:  # swap two segments
        j = rng.randrange(len(segs))
        segs[i], segs[j] = segs[j], segs[i]
    elif op == 3:  # truncate the input anywhere
        return data[: rng.randrange(len(data) + 1)]
    elif op == 4:  # rewrite an element with a hostile value
        elements = segs[i].split(sep)
        k = rng.randrange(len(elements))
        value = rng.choice(_VALUES)
        elements[k] = value + (term if elements[k].endswith(term) else b"")
        segs[i] = sep.join(elements)
    elif op == 5:  # change a segment id
        elements = segs[i].split(sep)
        lead = len(elements[0]) - len(elements[0].lstrip(b"\r\n \t"))
        elements[0] = elements[0][:lead] + rng.choice(_IDS)
        segs[i] = sep.join(elements)
    elif op == 6:  # change a delimiter byte in the ISA
        at = data.find(b"ISA")
        if at >= 0 and len(data) > at + 105:
            pos = at + rng.choice((3, 82, 104, 105, 6, 17))
            return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]
    elif op == 7:  # flip a byte
        pos = rng.randrange(len(data))
        return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]
    elif op == 8:  # insert random bytes
        pos = rng.randrange(len(data) + 1)
        return data[:pos] + rng.randbytes(rng.randrange(1, 16)) + data[pos:]
    elif op == 9:  # splice with another corpus input
        if corpus:
            other = rng.choice(corpus)
            return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    elif op == 10:  # concatenate another interchange
        if corpus:
            return data + rng.choice(corpus)
    elif op == 11:  # a long element
        elements = segs[i].split(sep)
        k = rng.randrange(len(elements))
        elements[k] = elements[k] + bytes([rng.randrange(33, 127)]) * rng.choice((100, 5000, 70000))
        segs[i] = sep.join(elements)
    elif op == 12:  # drop the line breaks, or add some
        return data.replace(b"\n", b"") if rng.random() < 0.5 else data.replace(term, term + b"\r\n")
    elif op == 13:  # repeat a run of segments
        j = rng.randrange(i, min(len(segs), i + 30) + 1)
        segs[i:i] = segs[i:j]
    elif op == 14:  # move a segment somewhere else
        seg = segs.pop(i)
        segs.insert(rng.randrange(len(segs) + 1), seg)
    else:  # a component separator storm
        at = data.find(b"ISA")
        comp = data[at + 104 : at + 105] if at >= 0 and len(data) > at + 104 else b":"
        segs[i] = segs[i].replace(sep, comp, rng.randrange(1, 4))
    return b"".join(segs)


class CrashFound(Exception):
    def __init__(self, path: Path | None, data: bytes, error: BaseException) -> None:
        self.path = path
        self.data = data
        self.error = error
        super().__init__(f"{type(error).__name__}: {error} (input saved to {path})")


def fuzz_loop(target: Callable[[bytes], None], corpus: Sequence[bytes], *, seed: int, iterations: int | None = None,
              seconds: float | None = None, crash_dir: Path | None = None, stop_on_crash: bool = True,
              report: Callable[[str], None] | None = None) -> int:
    """Mutate corpus inputs and feed them to `target` until `iterations` or `seconds` run out.

    Returns the number of inputs tried. A target exception is a crash: the input is written to
    `crash_dir` (crash-<sha1>.x12) and CrashFound is raised (or, without `stop_on_crash`,
    reported and the loop goes on).
    """
    if not corpus:
        raise ValueError("fuzz_loop needs at least one seed input")
    rng = random.Random(seed)
    pool = list(corpus)
    deadline = time.monotonic() + seconds if seconds is not None else None
    n = 0
    crashes = 0
    while (iterations is None or n < iterations) and (deadline is None or time.monotonic() < deadline):
        parent = rng.choice(pool)
        data = mutate(parent, rng, pool)
        n += 1
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - every exception escaping a target is a finding
            crashes += 1
            path = None
            if crash_dir is not None:
                crash_dir.mkdir(parents=True, exist_ok=True)
                path = crash_dir / f"crash-{hashlib.sha1(data).hexdigest()}.x12"
                path.write_bytes(data)
            if stop_on_crash:
                raise CrashFound(path, data, exc) from exc
            if report:
                report(f"crash #{crashes} after {n} inputs: {type(exc).__name__}: {exc} -> {path}\n"
                       + "".join(traceback.format_exception(exc)[-3:]))
        else:
            # Keep some survivors as parents, so mutations stack up over the run.
            if len(pool) < 256 and rng.random() < 0.05:
                pool.append(data)
            elif len(pool) > len(corpus) and rng.random() < 0.01:
                pool[rng.randrange(len(corpus), len(pool))] = data
        if report and n % 5000 == 0:
            report(f"{n} inputs, {crashes} crashes")
    return n
