# `edi-cgt replay`: the policy over archives of 837 files, on all cores or on Spark; resumable.
from __future__ import annotations

import datetime as dt
import os
import signal
from typing import Any

import click

from ._common import DATE, EXIT_OK, EXIT_PASSED_THROUGH, EXIT_REJECTED, fail, handle_errors, log, log_options, resolve_site

__all__ = ["replay"]

_DATE = DATE


class _Stopped(KeyboardInterrupt):
    """SIGTERM/SIGINT: a BaseException, so no per-file handler mistakes it for a bad file."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise _Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread
            pass


@click.command("replay")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: acks/ (one 277CA per input with rejections), done/ (resume records), "
                   "summary.json, files.csv, rejections.csv, report.html.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes on this machine (default: all cores; 1 = in this process). Local engine only.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: a process pool; spark: Apache Spark (needs `pip install edi-cgt[spark]` and Java 17).")
@click.option("--master", default=None,
              help="Spark master URL (local[*], spark://host:7077, yarn, k8s://...); with --engine spark. "
                   "Default local[*], or what spark-submit set.")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Spark partitions (default: 3 per core of the cluster, at most one per input).")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
              help="Site settings (TOML): payer ids by program, facility NPI rosters.")
@click.option("--as-of", type=_DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD).")
@click.option("--ack-all", is_flag=True, help="Acknowledge every claim in the 277CAs (accepted ones A2:20/WQ).")
@click.option("--force", is_flag=True, help="Replay every input again, even those already done in --out.")
@log_options
@click.pass_context
@handle_errors
def replay(ctx: click.Context, paths: tuple[str, ...], out_dir: str, jobs: int | None, engine: str,
           master: str | None, partitions: int | None, policy_path: str | None, site_path: str | None,
           as_of: dt.datetime | None, ack_all: bool, force: bool) -> None:
    """Replay archives of 837 files through the policy: what would have been rejected?

    \b
    PATH is a file, a directory (read recursively; names starting with '.'
    are skipped) or a glob ('archive/2025-*/**/*.837.gz'). gzip is detected
    by content, not by name. Every input gets one line in files.csv; one
    that cannot be read is reported there and in the summary, and the run
    goes on.

    \b
    Outputs in --out:
      acks/<xx>/<name>.<id>.277  the 277CA of each input that has rejections
                                 (every input with --ack-all); patient names and
                                 ids are REDACTED unless --log-phi is given
      summary.json               totals; by rule, therapy, payer, month; errors
      rejections.csv             one row per rejected claim (no PHI)
      files.csv                  one row per input
      report.html                charts and tables for a billing manager
      summary.parquet/           per-input table (--engine spark only)
      done/                      one record per finished input (for resuming)

    \b
    Resuming: a rerun with the same --out skips inputs already done (same
    file size and mtime, same policy, site and options) and rebuilds the
    summary from all records, so an interrupted run that is run again ends
    with the same summary as an uninterrupted one. --force replays all.

    \b
    Examples:
      edi-cgt replay archive/ --out replay-2025/
      edi-cgt replay 'archive/**/*.837.gz' --out r/ --site site.toml --as-of 2025-07-01
      edi-cgt replay /mnt/edi/archive --out /mnt/edi/replay --engine spark --master spark://head:7077

    \b
    Exit status: 0 nothing rejected; 1 some claims rejected; 2 bad usage,
    policy or site file, or no input found; 3 some inputs could not be read
    or some transactions were passed through unread (outputs complete).
    """
    from ..decider import DeciderConfig, make_decider
    from ..replay import ReplayConfig, discover_inputs, replay_local, stderr_progress

    logger = log()
    obj = ctx.find_root().obj or {}
    site_path = resolve_site(site_path, policy_path)
    decider = DeciderConfig(policy_path, site_path, as_of.date() if as_of else None)
    config = ReplayConfig(out_dir=out_dir, decider=decider, ack_all=ack_all, ack_phi=bool(obj.get("log_phi")))
    if engine == "local" and (master or partitions):
        raise fail("--master and --partitions apply to --engine spark only")
    if engine == "spark" and jobs:
        raise fail("--jobs applies to --engine local only (Spark uses the cores its master gives it)")
    if os.path.exists(config.out_dir) and not os.path.isdir(config.out_dir):
        raise fail(f"{out_dir}: exists and is not a directory")
    inputs = discover_inputs(paths, exclude=[config.out_dir])
    if not inputs:
        raise fail("no input files found in " + ", ".join(paths))
    make_decider(decider)  # a bad policy or site file stops here, before any worker starts

    _stop_on_signals()
    logger.info("replay_start", inputs=len(inputs), engine=engine, out=config.out_dir)
    try:
        if engine == "spark":
            try:
                from ..spark import replay_spark
            except ImportError as exc:
                raise fail(f"--engine spark needs pyspark: pip install 'edi-cgt[spark]' ({exc})") from None
            run = replay_spark(inputs, config, master=master, partitions=partitions, force=force)
        else:
            def on_row(row: dict[str, Any]) -> None:
                if row.get("error"):
                    logger.warning("input_unreadable", file=row["file"], problem=row["error"])

            run = replay_local(inputs, config, jobs=jobs, force=force, progress=stderr_progress(), on_row=on_row)
    except _Stopped as exc:
        name = signal.Signals(exc.signum).name
        logger.error("interrupted", signal=name)
        click.echo(f"edi-cgt: interrupted by {name}; finished inputs are recorded in {out_dir}: "
                   "run the same command again to resume", err=True)
        raise click.exceptions.Exit(128 + exc.signum) from None

    t = run.summary["totals"]
    logger.info("replay_done", processed=run.processed, skipped=run.skipped, seconds=round(run.seconds, 3),
                **{k: t[k] for k in ("files", "files_unreadable", "claims_in", "accepted", "rejected", "unevaluated",
                                     "charges_rejected", "acks_written")})
    click.echo(
        f"{t['files']:,} files ({run.processed:,} replayed, {run.skipped:,} already done, "
        f"{t['files_unreadable']:,} unreadable); {t['claims_in']:,} claims: {t['accepted']:,} accepted, "
        f"{t['rejected']:,} rejected (charges {t['charges_rejected']}), {t['unevaluated']:,} not evaluated\n"
        f"report: {os.path.join(config.out_dir, 'report.html')}"
    )
    if t["files_unreadable"] or t["transactions_passed_through"]:
        ctx.exit(EXIT_PASSED_THROUGH)
    ctx.exit(EXIT_REJECTED if t["rejected"] else EXIT_OK)

