# The command line shared by the fuzz targets: the built-in seeded loop, or atheris/libFuzzer.
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from .mutate import CrashFound, fuzz_loop, load_corpus, mutate

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE.parent / "fixtures" / "regressions"


def instrumented():
    """A context manager: atheris' import instrumentation of edi_cgt under --atheris, else nothing."""
    if "--atheris" in sys.argv:
        import atheris  # noqa: PLC0415 - optional

        # The reader is left out: atheris 2.3 miscompiles its generator on Python 3.11 (AttributeError
        # inside iter_segments that the uninstrumented code never raises).
        return atheris.instrument_imports(include=["edi_cgt"], exclude=["edi_cgt.x12.reader"])
    return contextlib.nullcontext()


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
    parser.add_argument("--all-failures", action="store_true",
                        help="also stop on failures already recorded in fixtures/regressions (skipped by default)")
    parser.add_argument("libfuzzer", nargs="*", help="libFuzzer arguments (after --)")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.corpus)
    if not args.all_failures:
        target = skip_known(target)
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


def skip_known(target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """`target`, but a failure with the signature of a recorded regression input passes: a long
    run then stops only on a new kind of failure (see fuzz.minimize.signature)."""
    from .minimize import signature

    known = {signature(target, p.read_bytes()) for p in REGRESSIONS.glob("*.x12")} - {None}

    def wrapped(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - re-raised unless known
            text = signature(lambda _: (_ for _ in ()).throw(exc), data)
            if text not in known:
                raise

    wrapped.__module__ = target.__module__
    return wrapped


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
    atheris.Setup(argv, target, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0
