# Replay on Apache Spark: the same work as the local engine, spread over a cluster's executors.
#
# Strategy: the driver lists the inputs (through edi_cgt.store: local paths or URLs), drops
# those with a valid done record and cuts big uncompressed ones into pieces, exactly as the
# local engine does. It then packs the units of work into partitions balanced by bytes
# (largest first, each into the lightest partition), about three per core, and runs
# edi_cgt.replay.replay_partition in each. Executors read the inputs and write the 277CAs and
# done records themselves, through the same URLs (no shared mount needed), under names derived
# from the input path, so a retried or speculative task rewrites the same files. The pieces of
# a split input come back to the driver as records and are assembled in a second, small stage.
# The driver then rebuilds the summary files from the done records, as the local engine does,
# plus summary.parquet (one row per input, written with pyarrow through the same store).
#
# This is the only module that imports pyspark; the CLI imports it only for --engine spark.
# `python -m edi_cgt.spark ARGS` (or spark-submit of this file) is `edi-cgt replay --engine
# spark ARGS`.
if __name__ == "__main__" and not __package__:  # spark-submit .../edi_cgt/spark.py: run as a module
    import os as _os
    import runpy as _runpy
    import sys as _sys

    _sys.path[0] = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    _runpy.run_module("edi_cgt.spark", run_name="__main__", alter_sys=True)
    raise SystemExit(0)

import io  # noqa: E402 - after the run-as-a-file guard
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import TYPE_CHECKING, Any, Callable  # noqa: E402

from . import store  # noqa: E402
from .claims.model import Claim  # noqa: E402
from .io import AtomicOutput  # noqa: E402
from .policy.findings import Decision  # noqa: E402
from .replay import ReplayConfig, ReplayRun, assemble, make_units, out_dir_lock, plan, replay_partition, summarize, \
    sweep_temporaries  # noqa: E402
from .replay.local import finished_input  # noqa: E402
from .replay.work import Unit, unit_size  # noqa: E402
from .writers.report import ROW_FIELDS  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["build_session", "replay_spark", "balance", "SUMMARY_SCHEMA", "PARTITIONS_PER_CORE", "main"]

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


def balance(units: Sequence[Unit], n: int, size: Callable[[Unit], int] = unit_size) -> list[list[Unit]]:
    """`units` in at most `n` bins of about equal bytes: largest first, each into the bin that
    holds the fewest bytes so far (ties: the lowest bin). Empty bins are dropped."""
    import heapq

    bins: list[list[Unit]] = [[] for _ in range(max(1, min(n, len(units))))]
    heap = [(0, i) for i in range(len(bins))]
    for unit in sorted(units, key=size, reverse=True):
        total, i = heapq.heappop(heap)
        bins[i].append(unit)
        heapq.heappush(heap, (total + max(1, size(unit)), i))
    return [b for b in bins if b]


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
    t0 = time.perf_counter()
    paths = sorted(p if store.is_url(p) else os.path.abspath(p) for p in paths)
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
            units, split = make_units(todo, config)
            if units:
                sc = session.sparkContext
                n = partitions or max(1, sc.defaultParallelism * PARTITIONS_PER_CORE)
                bins = balance(units, n)
                cfg, fn = config, decide

                def run(bin_: list[Unit]) -> Any:
                    return replay_partition(bin_, cfg, decide=fn)

                waiting: dict[str, list[dict[str, Any]]] = {}
                ready = []
                for rec in sc.parallelize(bins, len(bins)).flatMap(run).collect():
                    found = finished_input(split, waiting, rec)
                    if found is not None:
                        ready.append(found)
                if ready:
                    def put_together(item: Any) -> Any:
                        path, pieces, partials = item
                        return assemble(path, pieces, partials, cfg, decide=fn)["row"]["file"]

                    sc.parallelize(ready, min(len(ready), n)).map(put_together).collect()
            rows: list[dict[str, Any]] = []
            summary, ignored = summarize(paths, config, rows=rows)
            _write_parquet(config, rows)
    finally:
        if own:
            session.stop()
    return ReplayRun(processed=len(todo), skipped=len(done), seconds=time.perf_counter() - t0, summary=summary,
                     ignored=ignored)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _write_parquet(config: ReplayConfig, rows: list[dict[str, Any]]) -> None:
    """OUT/summary.parquet: one row per input (ROW_FIELDS), through the output store."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cell(name: str, value: Any) -> Any:
        if name in ("charges_in", "charges_rejected"):
            return Decimal(str(value or 0)).quantize(_DECIMAL_PLACES)
        if name == "seconds":
            return float(value or 0)
        if name in ("file", "error", "ack"):
            return str(value or "")
        return int(value or 0)

    types = {"string": pa.string(), "long": pa.int64(), "double": pa.float64(), "decimal(22,4)": pa.decimal128(22, 4)}
    schema = pa.schema([(name, types[kind]) for name, kind in
                        (part.strip().split(" ", 1) for part in SUMMARY_SCHEMA.split(", "))])
    table = pa.table({f: [cell(f, r.get(f)) for r in rows] for f in ROW_FIELDS}, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with AtomicOutput(store.join(config.out_dir, "summary.parquet"), durable=False, makedirs=True) as out:
        out.write(buf.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    """`edi-cgt replay --engine spark` with these arguments (for spark-submit)."""
    from .cli import main as cli

    cli(["replay", "--engine", "spark", *(sys.argv[1:] if argv is None else argv)], prog_name="edi-cgt-spark")


if __name__ == "__main__":
    main()
