#!/usr/bin/env python3
# The benchmark of issue 11: edi-cgt beside cat and naive splitting on a matrix of corpus shapes.
#
# Strategy: a thin launcher, so a checkout runs its own bench/ and edi_cgt/ without installing
# either (options in bench/cli.py, the work in bench/runner.py). See bench/README.md for what
# is measured and how to reproduce it.
#
#   python bench/run.py --quick                     # ~10 MB corpora, a smoke run (a few minutes)
#   python bench/run.py -r 3 --json bench/results/full.json
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import sys

from bench.cli import run

if __name__ == "__main__":
    run.main(args=sys.argv[1:], prog_name="bench/run.py")
