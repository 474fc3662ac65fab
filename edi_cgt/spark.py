# Replay on Apache Spark: the same per-file function, spread over a cluster's executors.
#
# Strategy: the driver lists the inputs and drops those with a valid done record (exactly as the
# local engine does), then ships the remaining paths with sc.parallelize(paths, n) into about
# three partitions per core (never one per file: task overhead dominates small files) and runs
# edi_cgt.replay.replay_partition in each. Executors write the 277CAs and done records
# themselves, tmp + rename under names derived from the input path, so a retried or
# speculative task rewrites the same files. The driver collects the records, writes the same
# summary files as the local engine, and a per-file table with Spark's parquet writer.
#
# Inputs and the output directory are plain paths: on a cluster they must be on a filesystem
# every node mounts at the same place (NFS, a FUSE-mounted bucket ...). This is the only module
# that imports pyspark; the CLI imports it only for --engine spark.
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .claims.model import Claim
from .policy.findings import Decision
from .replay import (
    ReplayConfig,
    ReplayRun,
    load_record,
    out_dir_lock,
    plan,
    replay_partition,
    summary_config,
    sweep_temporaries,
)
from .writers.report import ROW_FIELDS, write_summary

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["build_session", "replay_spark", "SUMMARY_SCHEMA", "PARTITIONS_PER_CORE"]

PARTITIONS_PER_CORE = 3
# The per-file table written to OUT/summary.parquet (one row per input, in ROW_FIELDS order).
SUMMARY_SCHEMA = (
    "file string, bytes long, stored_bytes long, transactions long, transactions_passed_through long, "
    "claims_in long, accepted long, rejected long, unevaluated long, warnings long, "
    "charges_in decimal(22,4), charges_rejected decimal(22,4), error string, ack string, seconds double"
)
_DECIMAL_PLACES = Decimal("0.0001")


def build_session(master: str | None = None, *, app_name: str = "edi-cgt replay",
                  conf: Mapping[str, str] | None = None) -> "SparkSession":
    """A SparkSession for `master` (local[*] when None and not under spark-submit).

    Python workers use this interpreter (PYSPARK_PYTHON); local masters bind to 127.0.0.1 so a
    machine whose host name does not resolve still works.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit already chose the master
    if master is None and not under_submit:
        master = "local[*]"
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def replay_spark(
    paths: Sequence[str],
    config: ReplayConfig,
    *,
    spark: "SparkSession | None" = None,
    master: str | None = None,
    partitions: int | None = None,
    force: bool = False,
    decide: Callable[[Claim], Decision] | None = None,
) -> ReplayRun:
    """Replay `paths` on Spark (an existing session, or one built for `master` and stopped at
    the end), skipping inputs with a valid done record unless `force`; write the summary files
    and OUT/summary.parquet."""
    import time

    t0 = time.perf_counter()
    paths = sorted(os.path.abspath(p) for p in paths)
    own = spark is None
    if spark is None:
        quiet = {} if _stderr_is_terminal() else {"spark.ui.showConsoleProgress": "false"}
        session = build_session(master, conf=quiet)
        session.sparkContext.setLogLevel("WARN")
    else:
        session = spark
    try:
        with out_dir_lock(config):
            sweep_temporaries(config)
            todo, done = plan(paths, config, force=force, decide=decide)
            fresh: dict[str, dict[str, Any]] = {}
            if todo:
                sc = session.sparkContext
                n = partitions or max(1, sc.defaultParallelism * PARTITIONS_PER_CORE)
                n = max(1, min(n, len(todo)))
                cfg, fn = config, decide

                def run(it: Any) -> Any:
                    return replay_partition(it, cfg, decide=fn)

                for rec in sc.parallelize(todo, n).mapPartitions(run).collect():
                    fresh[rec["row"]["file"]] = rec
            records = [r for r in (fresh.get(p) or load_record(config, p) for p in paths) if r is not None]
            summary = write_summary(config.out_dir, records, config=summary_config(config))
            _write_parquet(session, config, [r["row"] for r in records])
    finally:
        if own:
            session.stop()
    return ReplayRun(processed=len(todo), skipped=len(done), seconds=time.perf_counter() - t0, summary=summary)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _write_parquet(spark: "SparkSession", config: ReplayConfig, rows: list[dict[str, Any]]) -> None:
    def cell(name: str, value: Any) -> Any:
        if name in ("charges_in", "charges_rejected"):
            return Decimal(str(value or 0)).quantize(_DECIMAL_PLACES)
        if name == "seconds":
            return float(value or 0)
        if name in ("file", "error", "ack"):
            return str(value or "")
        return int(value or 0)

    data = [tuple(cell(f, row.get(f)) for f in ROW_FIELDS) for row in rows]
    frame = spark.createDataFrame(data, schema=SUMMARY_SCHEMA)
    target = Path(config.out_dir, "summary.parquet").resolve().as_uri()
    frame.coalesce(1).write.mode("overwrite").parquet(target)
