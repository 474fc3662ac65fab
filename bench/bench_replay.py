#!/usr/bin/env python3
# Replay throughput, side by side in one run: the local engine with 1 and 2 workers on many
# small files and on one large file (read whole, and cut into pieces), and Spark local[2] on the
# same data, as ratios to one local worker on the same data.
#
# Strategy: generate the data once (bench.corpus, deterministic from --seed; every
# --gz-every'th small file gzipped; the large file uncompressed, so that it can be cut), then
# time each configuration into a fresh output directory (pool or JVM start, 277CAs, done
# records and the summary files included; Spark's JVM is started and warmed up first). Prints
# a table and one JSON object, with the load averages; asserts nothing about time.
#
#   python bench/bench_replay.py                      # 400 small files, one 40 MB file, jobs 1 and 2, Spark
#   python bench/bench_replay.py --files 2000 --big-mb 200 --jobs 1 2 4 --repeat 3
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import argparse
import gzip
import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import generate_corpus
from edi_cgt.replay import ReplayConfig, discover_inputs, replay_local


def make_archive(root: Path, files: int, claims: int, seed: int, gz_every: int) -> tuple[int, int]:
    """Write `files` 837 files of about `claims` claims each; return (bytes on disk, X12 bytes)."""
    rng = random.Random(seed)
    stored = raw = 0
    for i in range(files):
        n = max(1, rng.randint(claims // 2, claims * 3 // 2))
        data = b"".join(generate_corpus(seed * 100_000 + i, n, cgt_share=0.05, claims_per_transaction=50))
        raw += len(data)
        sub = root / f"d{i % 16:02d}"
        sub.mkdir(exist_ok=True)
        if gz_every and i % gz_every == 0:
            blob = gzip.compress(data, compresslevel=6)
            (sub / f"f{i:05d}.837.gz").write_bytes(blob)
        else:
            blob = data
            (sub / f"f{i:05d}.837").write_bytes(blob)
        stored += len(blob)
    return stored, raw


def make_big(path: Path, mb: float, seed: int) -> int:
    """One uncompressed 837 of about `mb` MB: interchanges of 10 transactions; its size."""
    per = len(b"".join(generate_corpus(seed, 2000, cgt_share=0.05, claims_per_transaction=50)))
    claims = max(200, int(mb * 1e6 / per * 2000))
    with path.open("wb") as fh:
        for chunk in generate_corpus(seed, claims, cgt_share=0.05, claims_per_transaction=50):
            fh.write(chunk)
    return path.stat().st_size


def _timed(label: str, data: str, engine: str, jobs: int, fn, out: Path, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    times, summary = [], None
    for r in range(repeat):
        target = out.with_name(f"{out.name}-{r}")
        shutil.rmtree(target, ignore_errors=True)
        t = time.perf_counter()
        run = fn(target)
        times.append(time.perf_counter() - t)
        summary = run.summary
    assert summary is not None
    tot = summary["totals"]
    wall = statistics.median(times)
    return {"run": label, "data": data, "engine": engine, "workers": jobs, "seconds": round(wall, 3),
            "runs": [round(x, 3) for x in times], "files": tot["files"], "claims": tot["claims_in"],
            "rejected": tot["rejected"], "x12_bytes": tot["bytes"], "x12_mb_per_s": round(tot["bytes"] / wall / 1e6, 2),
            "claims_per_s": round(tot["claims_in"] / wall)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--claims", type=int, default=20, help="mean claims per file")
    ap.add_argument("--big-mb", type=float, default=40.0, help="size of the one large file (0: leave it out)")
    ap.add_argument("--split-mb", type=float, default=4.0, help="--split-size for the large file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gz-every", type=int, default=3, help="gzip every n-th file (0: none)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--spark", choices=["auto", "yes", "no"], default="auto",
                    help="also run Spark local[2] on the same data (auto: when pyspark and java are there)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (the median is reported)")
    ap.add_argument("--keep", help="generate the data here and keep it (default: a temp dir)")
    args = ap.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-replay-"))
    archive = work / "archive"
    big = work / "big" / "big.837"
    try:
        t = time.perf_counter()
        if not archive.exists():
            archive.mkdir(parents=True)
            make_archive(archive, args.files, args.claims, args.seed, args.gz_every)
        if args.big_mb and not big.exists():
            big.parent.mkdir(parents=True, exist_ok=True)
            make_big(big, args.big_mb, args.seed)
        paths = discover_inputs([str(archive)])
        stored = sum(os.path.getsize(p) for p in paths)
        gen_seconds = time.perf_counter() - t
        load_start = os.getloadavg()

        split = int(args.split_mb * (1 << 20))
        results = []
        for jobs in args.jobs:
            results.append(_timed(f"small files, local, {jobs} worker(s)", "small", "local", jobs,
                                  lambda o, j=jobs: replay_local(paths, ReplayConfig(str(o)), jobs=j),
                                  work / f"small-j{jobs}", args.repeat))
        if args.big_mb:
            results.append(_timed("large file whole, local, 1 worker", "large", "local", 1,
                                  lambda o: replay_local([str(big)], ReplayConfig(str(o), split_bytes=0), jobs=1),
                                  work / "big-whole", args.repeat))
            for jobs in args.jobs:
                results.append(_timed(f"large file in pieces, local, {jobs} worker(s)", "large", "local", jobs,
                                      lambda o, j=jobs: replay_local([str(big)], ReplayConfig(str(o), split_bytes=split),
                                                                     jobs=j),
                                      work / f"big-split-j{jobs}", args.repeat))
        use_spark = args.spark == "yes" or (args.spark == "auto" and shutil.which("java") is not None
                                            and importlib.util.find_spec("pyspark") is not None)
        if use_spark:
            from edi_cgt.spark import build_session, replay_spark

            session = build_session("local[2]", conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
            session.sparkContext.setLogLevel("ERROR")
            try:
                replay_spark(paths[:4], ReplayConfig(str(work / "spark-warmup")), spark=session)  # JVM and workers up
                results.append(_timed("small files, Spark local[2]", "small", "spark", 2,
                                      lambda o: replay_spark(paths, ReplayConfig(str(o)), spark=session),
                                      work / "small-spark", args.repeat))
                if args.big_mb:
                    results.append(_timed("large file in pieces, Spark local[2]", "large", "spark", 2,
                                          lambda o: replay_spark([str(big)], ReplayConfig(str(o), split_bytes=split),
                                                                 spark=session),
                                          work / "big-spark", args.repeat))
            finally:
                session.stop()
        for r in results:
            base = next(b for b in results if b["data"] == r["data"] and b["engine"] == "local" and b["workers"] == 1)
            r["x_vs_1_worker"] = round(base["seconds"] / r["seconds"], 2)
        same = all(len({(r["claims"], r["rejected"]) for r in results if r["data"] == d}) == 1 for d in ("small", "large"))
        report = {
            "benchmark": "edi-cgt replay: local engine (1 and 2 workers), big-file pieces, Spark local[2]",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "load_average_start": load_start, "load_average_end": os.getloadavg()},
            "data": {"small_files": len(paths), "small_stored_bytes": stored,
                     "large_file_bytes": big.stat().st_size if args.big_mb else 0, "split_bytes": split,
                     "generate_seconds": round(gen_seconds, 2), "gz_every": args.gz_every,
                     "mean_claims_per_file": args.claims, "seed": args.seed},
            "same_totals_for_every_run_of_the_same_data": same,
            "results": results,
        }
        print(f"small: {len(paths)} files, {stored / 1e6:.1f} MB stored; large: "
              f"{report['data']['large_file_bytes'] / 1e6:.1f} MB in pieces of {split / 1e6:.1f} MB "
              f"({os.cpu_count()} CPUs, load {load_start[0]:.2f})")
        print(f"{'run':<44} {'seconds':>8} {'MB/s':>7} {'claims/s':>9} {'x 1 worker':>10}")
        for r in results:
            print(f"{r['run']:<44} {r['seconds']:>8.2f} {r['x12_mb_per_s']:>7.2f} {r['claims_per_s']:>9,} "
                  f"{r['x_vs_1_worker']:>9.2f}x")
        print(json.dumps(report, indent=2))
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
