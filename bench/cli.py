# `edi-cgt bench`: make synthetic 837 corpora and measure edi-cgt's speed and memory on them.
#
# Strategy: `generate` hands its arguments unchanged to the corpus generator's own command line
# (bench.corpus), so the two can never disagree about options; `run` turns its options
# into a BenchConfig and leaves all the work to bench.runner, which bench/run.py in the
# repository also calls through this command.
from __future__ import annotations

import sys

import click

from edi_cgt.cli._common import EXIT_BAD_INPUT


@click.group("bench")
def bench() -> None:
    """Benchmark corpora and throughput/memory measurements.

    \b
    Examples:
      edi-cgt bench generate --claims 20000 --cgt-share 0.02 -o corpus.837
      edi-cgt bench run --quick
      edi-cgt bench run --json bench/results/full.json
    """


@bench.command("generate", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                             "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def generate(args: tuple[str, ...]) -> None:
    """Write a deterministic synthetic 837 corpus (--help lists the options).

    The options are those of `python -m bench.corpus` (seed, claims, CGT share,
    violation mix, transaction shape, delimiters, -o OUTPUT ...); the same seed and options
    give the same bytes.
    """
    from bench.corpus import main as corpus_main

    sys.exit(corpus_main(list(args)))


def _shares(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        shares = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas (e.g. 0,0.005,0.02,1), got {value!r}")
    if not shares or any(not 0 <= s <= 1 for s in shares):
        raise click.BadParameter(f"each share must be between 0 and 1, got {value!r}")
    return shares


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    from bench.runner import ALL_COMMANDS

    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in ALL_COMMANDS]
    if unknown or not names:
        raise click.BadParameter(f"unknown command(s) {', '.join(unknown) or '(none given)'}; "
                                 f"known: {', '.join(ALL_COMMANDS)}")
    return names


@bench.command("run")
@click.option("--quick", is_flag=True,
              help="Smoke run: ~10 MB corpora, 3 rounds, 100 MB memory check, 10 MB one-transaction corpus.")
@click.option("--size-mb", type=click.FloatRange(min=0, min_open=True),
              help="Approximate size of each corpus in MB.  [default: 100; --quick 10]")
@click.option("--shares", callback=_shares, metavar="LIST",
              help="CGT shares of the corpora, comma-separated.  [default: 0,0.005,0.02,1]")
@click.option("-r", "--repeat", type=click.IntRange(min=1), help="Rounds; figures are medians.  [default: 5; --quick 3]")
@click.option("--commands", callback=_names, metavar="LIST",
              help="Only these commands, comma-separated: cat, split, elements, reader, pyx12, claims, check, "
                   "filter, filter-no-fast.  [default: all; pyx12 when installed]")
@click.option("--memory-mb", type=click.FloatRange(min=0),
              help="Size of the input streamed through `filter -` for the memory check; 0 skips it.  "
                   "[default: 1000; --quick 100]")
@click.option("--huge-mb", type=click.FloatRange(min=0),
              help="Size of the one-transaction corpus for the memory check; 0 skips it.  [default: 100; --quick 10]")
@click.option("--seed", type=int, default=1, show_default=True, help="Generator seed.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Where generated corpora are kept.  [default: bench/.corpus if ./bench exists, "
                   "else ~/.cache/edi-cgt/bench]")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Generator worker processes (the bytes are the same for any value).")
@click.option("--json", "json_path", type=click.Path(allow_dash=True, dir_okay=False),
              help="Also write the report as JSON to this path ('-' = stdout, instead of the table).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def run(quick: bool, size_mb: float | None, shares: tuple[float, ...] | None, repeat: int | None,
        commands: tuple[str, ...] | None, memory_mb: float | None, huge_mb: float | None, seed: int,
        cache_dir: str | None, jobs: int, json_path: str | None, quiet: bool) -> None:
    """Time edi-cgt beside naive splitting, cat and pyx12 on generated corpora.

    \b
    Every command is a whole process (start-up included) on the same file; each
    round runs every command once, in a rotated order, and figures are medians.
    Prints MB/s, claims/s, peak RSS (the child's ru_maxrss) and each figure's
    ratio to the naive read+split and split-into-elements baselines, then the
    memory checks and the performance targets (pass/miss; nothing is asserted).
    Record the machine's load (uptime) with the figures: they depend on it.
    """
    from pathlib import Path

    from bench import runner

    defaults = (runner.QUICK_MB, 3, 100.0, runner.QUICK_MB) if quick else (runner.FULL_MB, 5, 1000.0, runner.FULL_MB)
    config = runner.config_from(
        size_mb=size_mb or defaults[0], shares=shares, repeat=repeat or defaults[1],
        commands=commands, memory_mb=defaults[2] if memory_mb is None else memory_mb,
        huge_mb=defaults[3] if huge_mb is None else huge_mb, seed=seed,
        cache_dir=Path(cache_dir) if cache_dir else None, jobs=jobs,
        progress=None if quiet else (lambda msg: click.echo(f"bench: {msg}", err=True)),
    )
    try:
        report = runner.run_benchmark(config)
    except (runner.BenchError, OSError) as exc:
        click.echo(f"edi-cgt: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if json_path != "-":
        click.echo(runner.format_report(report))
    if json_path:
        runner.write_json(report, json_path)
