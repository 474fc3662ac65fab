#!/usr/bin/env python3
# Throughput and memory benchmark for issue #6: the same as `edi-cgt bench run`.
#
# Strategy: a thin launcher, so the repository checkout and the installed CLI run the very same
# code (bench/runner.py, options defined once in bench/cli.py). See
# bench/README.md for what is measured and docs/PERFORMANCE.md for results.
#
#   python bench/run.py --quick                     # ~10 MB corpora, smoke run
#   python bench/run.py --json bench/results/full.json
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import sys

from bench.cli import run

if __name__ == "__main__":
    run.main(args=sys.argv[1:], prog_name="bench/run.py")
