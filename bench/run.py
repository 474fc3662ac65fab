#!/usr/bin/env python3
# Throughput and memory benchmark for issue #6: the same as `edi-cgt bench run`.
#
# Strategy: a thin launcher, so the repository checkout and the installed CLI run the very same
# code (edi_cgt/bench/runner.py, options defined once in edi_cgt/cli/bench.py). See
# bench/README.md for what is measured and docs/PERFORMANCE.md for results.
#
#   python bench/run.py --quick                     # ~10 MB corpora, smoke run
#   python bench/run.py --json bench/results/full.json
from __future__ import annotations

import sys

from edi_cgt.cli.bench import run

if __name__ == "__main__":
    run.main(args=sys.argv[1:], prog_name="bench/run.py")
