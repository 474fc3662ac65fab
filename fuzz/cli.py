# The command line shared by the fuzz targets: the built-in seeded loop, or atheris/libFuzzer.
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .mutate import CrashFound, fuzz_loop, load_corpus, mutate

HERE = Path(__file__).resolve().parent


def main(name: str, target: Callable[[bytes], None], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m fuzz.{name}", description=(
        "Fuzz one edi-cgt target. Without --atheris: a seeded, X12-aware mutation loop (no extra "
        "packages). With --atheris: coverage-guided libFuzzer through atheris; arguments after '--' "
        "go to libFuzzer (e.g. -max_total_time=3600 -jobs=2)."))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus")
    parser.add_argument("--crash-dir", type=Path, default=HERE / "crashes")
    parser.add_argument("--keep-going", action="store_true", help="report crashes and go on")
    parser.add_argument("--atheris", action="store_true", help="use atheris (pip install atheris)")
    parser.add_argument("libfuzzer", nargs="*", help="libFuzzer arguments (after --)")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.corpus)
    if args.atheris:
        return _atheris(target, corpus, args)
    if args.iterations is None and args.seconds is None:
        args.iterations = 10_000
    try:
        n = fuzz_loop(target, corpus, seed=args.seed, iterations=args.iterations, seconds=args.seconds,
                      crash_dir=args.crash_dir, stop_on_crash=not args.keep_going,
                      report=lambda msg: print(msg, file=sys.stderr, flush=True))
    except CrashFound as crash:
        print(f"CRASH: {crash}", file=sys.stderr)
        raise
    print(f"{name}: {n} inputs, seed {args.seed}, no crash", file=sys.stderr)
    return 0


def _atheris(target: Callable[[bytes], None], corpus: list[bytes], args: argparse.Namespace) -> int:
    import random

    import atheris  # noqa: PLC0415 - optional

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.3:
            return atheris.Mutate(data, max_size)
        return mutate(data, rng, corpus, max_size)

    argv = [sys.argv[0], *args.libfuzzer]
    if not any(not a.startswith("-") for a in args.libfuzzer):
        # libFuzzer adds new inputs to the first directory: a scratch one, not the seed corpus.
        work = HERE / "work" / target.__module__.rsplit(".", 1)[-1]
        work.mkdir(parents=True, exist_ok=True)
        argv += [str(work), str(args.corpus)]
    if not any(a.startswith("-artifact_prefix=") for a in args.libfuzzer):
        args.crash_dir.mkdir(parents=True, exist_ok=True)
        argv.append(f"-artifact_prefix={args.crash_dir}/")
    atheris.instrument_all()
    atheris.Setup(argv, target, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0
