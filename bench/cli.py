# The benchmark's command line (bench/run.py): options in, a BenchConfig to bench.runner, the
# report out.
#
# Strategy: click for the options and their help, nothing else; the runner does the work and
# bench.report renders it. Exit status 0 when the run completed (whatever the targets say), 2
# when a command failed or a corpus could not be made (the message names which).
from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_FAILED = 2


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


def _patterns(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    from bench.matrix import select

    patterns = tuple(part.strip() for part in value.split(",") if part.strip())
    if not select(patterns):
        raise click.BadParameter(f"{value!r} matches no shape; --list shows their names")
    return patterns


@click.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True,
              help="Smoke run: ~10 MB corpora, 100 MB streamed, 10 MB one-transaction corpora.")
@click.option("--size-mb", type=click.FloatRange(min=0, min_open=True),
              help="Approximate size of each corpus in MB.  [default: 100; --quick 10]")
@click.option("--shapes", "patterns", callback=_patterns, metavar="LIST",
              help="Only the shapes whose name matches one of these, comma-separated: a substring "
                   "(cgt0.5, 2000tx, shapes-I) or a glob (shapes-*-cgt100).  [default: all; --list names them]")
@click.option("-r", "--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Rounds; figures are medians.")
@click.option("--commands", callback=_names, metavar="LIST",
              help="Only these commands, comma-separated: cat, split, elements, filter, read-all, version, "
                   "check, claims, pyx12.  [default: cat,split,elements,filter,read-all,version]")
@click.option("--memory-mb", type=click.FloatRange(min=0),
              help="Size of the input streamed through `filter -` for the memory check; 0 skips it.  "
                   "[default: 1000; --quick 100]")
@click.option("--huge-mb", type=click.FloatRange(min=0),
              help="Size of each one-transaction corpus for the memory checks; 0 skips them.  "
                   "[default: 100; --quick 10]")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of both corpus builders.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Where generated corpora are kept.  [default: bench/.corpus if ./bench exists, "
                   "else ~/.cache/edi-cgt/bench]")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="bench.corpus worker processes (the bytes are the same for any value).")
@click.option("--json", "json_path", type=click.Path(allow_dash=True, dir_okay=False),
              help="Also write the report as JSON to this path ('-' = stdout, instead of the tables).")
@click.option("--list", "list_only", is_flag=True, help="Print the shapes (name and description) and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def run(quick: bool, size_mb: float | None, patterns: tuple[str, ...] | None, repeat: int,
        commands: tuple[str, ...] | None, memory_mb: float | None, huge_mb: float | None, seed: int,
        cache_dir: str | None, jobs: int, json_path: str | None, list_only: bool, quiet: bool) -> None:
    """Time edi-cgt beside cat and naive splitting on a matrix of corpus shapes.

    \b
    Corpora come from two builders: bench.corpus (the project's generator)
    and bench.shapes (real claims from public 837 files, replicated into the
    shape asked for): 100 to 5,000 claims per transaction, 1 to 6 lines a
    claim, with and without 2000C patients, 837P and 837I, several
    delimiters, at 0%, 0.5% and 100% CGT (100%: every claim rejected for two
    rules). Every command is a whole process (start-up included) on the same
    file; each round runs every command once, in a rotated order; figures are
    medians. Prints MB/s, microseconds per claim, peak RSS and the ratios to
    naive read+split and split-into-elements, then the memory checks and
    issue 11's targets, each marked met or MISSED on every shape it applies
    to (nothing is asserted). Record the machine's load with the figures.

    \b
    Examples:
      python bench/run.py --quick
      python bench/run.py -r 3 --json bench/results/full.json
      python bench/run.py --shapes cgt0.5 --commands split,filter --memory-mb 0 --huge-mb 0
    """
    from bench import matrix, report, runner

    shapes = tuple(matrix.select(patterns))
    if list_only:
        for shape in shapes:
            click.echo(f"{shape.name:45}  {shape.label}")
        return
    size = size_mb or (runner.QUICK_MB if quick else runner.FULL_MB)
    config = runner.config_from(
        size_mb=size, shapes=shapes, repeat=repeat, commands=commands,
        memory_mb=(100.0 if quick else 1000.0) if memory_mb is None else memory_mb,
        huge_mb=(runner.QUICK_MB if quick else runner.FULL_MB) if huge_mb is None else huge_mb, seed=seed,
        cache_dir=Path(cache_dir) if cache_dir else None, jobs=jobs,
        progress=None if quiet else (lambda msg: click.echo(f"bench: {msg}", err=True)),
    )
    try:
        result = runner.run_benchmark(config)
    except (runner.BenchError, OSError) as exc:
        click.echo(f"bench: error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if json_path != "-":
        click.echo(report.format_report(result))
    if json_path:
        report.write_json(result, json_path)
