# `edi-cgt replay`: the policy over archives of 837 files, on all cores or on Spark; resumable.
from __future__ import annotations

import datetime as dt
import re
import signal
from typing import Any

import click

from ._common import DATE, EXIT_OK, EXIT_PASSED_THROUGH, EXIT_REJECTED, Interrupted, fail, handle_errors, \
    install_signal_handlers, log, log_options, resolve_site

__all__ = ["replay", "SIZE"]

_DATE = DATE


class _Size(click.ParamType):
    """A byte count: 1048576, 64k, 256M, 2G (powers of 1024)."""

    name = "SIZE"
    _UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(value))
        if not m:
            self.fail(f"{value!r} is not a size (examples: 0, 64M, 256MiB, 2G)", param, ctx)
        return int(m.group(1)) * self._UNITS[m.group(2).lower()]


SIZE = _Size()


@click.command("replay")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--out", "out_dir", required=True, metavar="DIR|URL",
              help="Output directory or object-store prefix (s3://bucket/replay): acks/ (the 277CAs), done/ "
                   "(resume records), summary.json, files.csv, rejections.csv, report.html.")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="Read only files matching GLOB (repeatable; a GLOB without '/' matches the file name). "
                   "Replaces the default content check: every matching file is read.")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Leave out files matching GLOB (repeatable).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes on this machine (default: all cores; 1 = in this process). Local engine only.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: a process pool; spark: Apache Spark (needs `pip install 'edi-cgt[spark]'` and Java 17).")
@click.option("--master", default=None,
              help="Spark master URL (local[*], spark://host:7077, yarn, k8s://...); with --engine spark. "
                   "Default local[*], or what spark-submit set.")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Spark partitions (default: 3 per core of the cluster, at most one per input or piece).")
@click.option("--split-size", type=SIZE, default="256M", show_default=True,
              help="Cut an uncompressed input larger than this into pieces at transaction boundaries, replayed "
                   "in parallel (0: never cut). Results are those of the whole file.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
              help="Site settings (TOML): payer ids by program, facility NPI rosters.")
@click.option("--as-of", type=_DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD).")
@click.option("--ack-all", is_flag=True, help="Acknowledge every claim in the 277CAs (accepted ones A2:20/WQ).")
@click.option("--redact-acks", is_flag=True,
              help="Put REDACTED for the patient's name and member id in the 277CAs (by default they name "
                   "the patient, as the X214 requires and as `filter` does).")
@click.option("--force", is_flag=True, help="Replay every input again, even those already done in --out.")
@log_options
@click.pass_context
@handle_errors
def replay(ctx: click.Context, paths: tuple[str, ...], out_dir: str, include: tuple[str, ...],
           exclude: tuple[str, ...], jobs: int | None, engine: str, master: str | None, partitions: int | None,
           split_size: int, policy_path: str | None, site_path: str | None, as_of: dt.datetime | None,
           ack_all: bool, redact_acks: bool, force: bool) -> None:
    """Replay archives of 837 files through the policy: what would have been rejected?

    \b
    PATH is a file, a directory (read recursively; names starting with '.'
    are skipped) or a glob ('archive/2025-*/**/*.837.gz'), on this machine or
    as a URL: s3://bucket/837/ (pip install 'edi-cgt[s3]'), gs:// ([gcs]),
    abfs:// ([azure]), hdfs:// ([hdfs]). Credentials and endpoints come from
    the environment, as each store's own tools read them.

    \b
    Which files are read: by default every file found whose content starts
    like an 837 (an ISA segment, after an optional UTF-8 byte-order mark or
    blank lines, in plain text or gzip, whose first functional group is
    GS01 'HC'). So a README.txt, a 999 (GS01 'FA') or a 277 ('HN') beside the
    837s is skipped and counted as "not 837". With --include, the names
    decide instead: every matching file is read, and one that is not an 837
    is reported as unreadable. --out is never read.

    \b
    Outputs in --out:
      acks/<xx>/<name>.<id>.277  the 277CA of each input that has rejections
                                 (every input with --ack-all); it names the
                                 patient unless --redact-acks
      summary.json               totals; by rule, therapy, payer, month; errors
      rejections.csv             one row per rejected claim (no PHI)
      files.csv                  one row per input
      report.html                charts and tables for a billing manager
      summary.parquet            per-input table (--engine spark only)
      done/                      one record per finished input (for resuming)
    Each file appears whole or not at all (a local file is renamed into
    place; an object is written in one piece). An input with nothing to
    acknowledge gets no 277CA, and one an earlier run left is removed.

    \b
    Resuming: a rerun with the same --out skips inputs already done (same
    file size and mtime or store version, same policy, site and options) and
    rebuilds the summary from all records, so an interrupted run that is run
    again ends with the same summary as an uninterrupted one. --force replays
    all.

    \b
    Examples:
      edi-cgt replay archive/ --out replay-2025/
      edi-cgt replay 'archive/**/*.837.gz' --out r/ --site site.toml --as-of 2025-07-01
      edi-cgt replay s3://claims/837/ --out s3://claims/replay/ --jobs 8
      edi-cgt replay s3://claims/837/ --out s3://claims/replay/ --engine spark --master yarn

    \b
    Exit status: 0 nothing rejected; 1 some claims rejected; 2 bad usage,
    policy or site file, an --out that is or contains an input, a store
    whose package is missing, or no input found; 3 some inputs could not be
    read or some transactions were passed through unread (outputs complete).
    """
    from .. import store
    from ..decider import make_decider
    from ..replay import ReplayConfig, discover_inputs, refuse_overlap, replay_local, stderr_progress
    from ..replay.records import sweep_temporaries
    from ..api import _now

    obj = ctx.find_root().obj or {}
    log_phi = bool(obj.get("log_phi"))  # --log-phi (here or on the group): error reasons may quote segment text
    logger = log()
    if engine == "local" and (master or partitions):
        raise fail("--master and --partitions apply to --engine spark only")
    if engine == "spark" and jobs:
        raise fail("--jobs applies to --engine local only (Spark uses the cores its master gives it)")
    if store.kind(out_dir) == "file":
        raise fail(f"{store.display(out_dir)}: exists and is not a directory")
    refuse_overlap(paths, out_dir)
    inputs = discover_inputs(paths, exclude=[out_dir], include_globs=include, exclude_globs=exclude)
    if not inputs:
        raise fail("no input files found in " + ", ".join(store.display(p) for p in paths))
    from ..decider import DeciderConfig

    site_path = resolve_site(site_path, policy_path)
    decider = DeciderConfig(policy_path, site_path, as_of.date() if as_of else None)
    config = ReplayConfig(out_dir=out_dir, decider=decider, ack_all=ack_all, redact_acks=redact_acks,
                          log_phi=log_phi, split_bytes=split_size, sniff=not include, now=_now())
    make_decider(decider)  # a bad policy or site file stops here, before any worker starts

    install_signal_handlers()
    logger.info("replay_start", inputs=len(inputs), engine=engine, out=store.display(config.out_dir))
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
                    logger.warning("input_unreadable", file=store.display(row["file"]), problem=row["error"])

            run = replay_local(inputs, config, jobs=jobs, force=force, progress=stderr_progress(), on_row=on_row)
    except (Interrupted, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        sweep_temporaries(config)
        logger.error("interrupted", signal=name)
        click.echo(f"edi-cgt: interrupted by {name}; finished inputs are recorded in {store.display(out_dir)}: "
                   "run the same command again to resume", err=True)
        raise click.exceptions.Exit(128 + signum) from None

    for path, reason in run.ignored:
        logger.info("input_ignored", file=store.display(path), reason=reason)
    t = run.summary["totals"]
    logger.info("replay_done", processed=run.processed, skipped=run.skipped, seconds=round(run.seconds, 3),
                not_837=len(run.ignored),
                **{k: t[k] for k in ("files", "files_unreadable", "claims_in", "accepted", "rejected", "unevaluated",
                                     "charges_rejected", "acks_written")})
    ignored = f", {len(run.ignored):,} not 837 (skipped)" if run.ignored else ""
    click.echo(
        f"{t['files']:,} files ({run.processed:,} processed now, {run.skipped:,} already done, "
        f"{t['files_unreadable']:,} unreadable{ignored}); {t['claims_in']:,} claims: {t['accepted']:,} accepted, "
        f"{t['rejected']:,} rejected (charges {t['charges_rejected']}), {t['unevaluated']:,} not evaluated\n"
        f"report: {store.display(store.join(config.out_dir, 'report.html'))}"
    )
    if t["files_unreadable"] or t["transactions_passed_through"]:
        ctx.exit(EXIT_PASSED_THROUGH)
    ctx.exit(EXIT_REJECTED if t["rejected"] else EXIT_OK)
