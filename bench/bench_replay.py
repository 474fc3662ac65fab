#!/usr/bin/env python3
# Local replay throughput with 1 and 2 (or more) worker processes on one generated archive.
#
# Strategy: generate the archive once (bench.corpus, deterministic from --seed; every
# --gz-every'th file gzipped), then run edi_cgt.replay.replay_local on it with each --jobs value
# into a fresh output directory, timing the whole run (pool start, 277CAs, done records and the
# summary files included). Prints a table and one JSON object; asserts nothing about time.
#
#   python bench/bench_replay.py                      # 400 files x ~20 claims, jobs 1 and 2
#   python bench/bench_replay.py --files 2000 --jobs 1 2 4 --repeat 3
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import argparse
import gzip
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--claims", type=int, default=20, help="mean claims per file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gz-every", type=int, default=3, help="gzip every n-th file (0: none)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="runs per jobs value (the median is reported)")
    ap.add_argument("--keep", help="generate the archive here and keep it (default: a temp dir)")
    args = ap.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-replay-"))
    archive = work / "archive"
    try:
        t = time.perf_counter()
        if not archive.exists():
            archive.mkdir(parents=True)
            stored, raw = make_archive(archive, args.files, args.claims, args.seed, args.gz_every)
        paths = discover_inputs([str(archive)])
        stored = sum(os.path.getsize(p) for p in paths)
        gen_seconds = time.perf_counter() - t

        results = []
        for jobs in args.jobs:
            times = []
            summary = None
            for r in range(args.repeat):
                out = work / f"out-j{jobs}-{r}"
                shutil.rmtree(out, ignore_errors=True)
                t = time.perf_counter()
                run = replay_local(paths, ReplayConfig(str(out)), jobs=jobs)
                times.append(time.perf_counter() - t)
                summary = run.summary
            assert summary is not None
            tot = summary["totals"]
            wall = statistics.median(times)
            results.append({
                "jobs": jobs, "seconds": round(wall, 3), "runs": [round(x, 3) for x in times],
                "files": tot["files"], "claims": tot["claims_in"], "rejected": tot["rejected"],
                "x12_bytes": tot["bytes"], "stored_bytes": tot["stored_bytes"],
                "x12_mb_per_s": round(tot["bytes"] / wall / 1e6, 2),
                "claims_per_s": round(tot["claims_in"] / wall),
                "files_per_s": round(tot["files"] / wall, 1),
            })
        base = results[0]["seconds"]
        for r in results:
            r["speedup"] = round(base / r["seconds"], 2)
        totals = [(r["claims"], r["rejected"]) for r in results]
        report = {
            "benchmark": "edi-cgt replay, local engine",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "archive": {"files": len(paths), "stored_bytes": stored, "generate_seconds": round(gen_seconds, 2),
                        "gz_every": args.gz_every, "mean_claims_per_file": args.claims, "seed": args.seed},
            "same_totals_for_all_jobs": len(set(totals)) == 1,
            "results": results,
        }
        print(f"archive: {len(paths)} files, {stored / 1e6:.1f} MB on disk, "
              f"{results[0]['x12_bytes'] / 1e6:.1f} MB of X12, {results[0]['claims']:,} claims "
              f"({os.cpu_count()} CPUs)")
        print(f"{'jobs':>4}  {'seconds':>8}  {'MB/s':>7}  {'claims/s':>9}  {'files/s':>8}  {'speed-up':>8}")
        for r in results:
            print(f"{r['jobs']:>4}  {r['seconds']:>8.2f}  {r['x12_mb_per_s']:>7.2f}  {r['claims_per_s']:>9,}  "
                  f"{r['files_per_s']:>8.1f}  {r['speedup']:>7.2f}x")
        print(json.dumps(report, indent=2))
        return 0 if report["same_totals_for_all_jobs"] else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
