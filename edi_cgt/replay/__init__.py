# Replay: run the policy over archives of 837 files, one file (or one piece of a big file) at a
# time, on any engine, wherever the archive lives (local disks, object stores, HDFS).
#
# Strategy: the unit of work is engine-free (work.replay_file: one input through the pipeline,
# its 277CA and its done record); the done records are the whole state, so any engine only
# decides which inputs still lack a valid record (records.plan) and runs the work on them, and
# the summaries are rebuilt from all records in path order. The modules, top-down:
#
#   config     ReplayConfig, the fingerprint, the per-process policy cache
#   inputs     which files are read (listing, --include/--exclude, the 837 sniff), output names
#   records    done records, resuming, the output lock, error reasons without PHI
#   collector  the rejection counters and rows of one input (a pipeline sink)
#   split      cutting a big uncompressed input at transaction boundaries
#   work       replay_file, pieces and their assembly: the one call into the pipeline
#   local      the process-pool engine and its progress line (Spark: edi_cgt.spark)
from __future__ import annotations

from ..writers.report import REJECTION_FIELDS, ROW_FIELDS
from .collector import Collector
from .config import DEFAULT_SPLIT_BYTES, RECORD_VERSION, ReplayConfig, fingerprint
from .inputs import ack_path, discover_inputs, done_path, input_key, refuse_overlap, sniff
from .local import ReplayRun, replay_local, stderr_progress, summarize
from .records import (
    error_reason,
    iter_records,
    load_record,
    load_records,
    out_dir_lock,
    plan,
    summary_config,
    sweep_temporaries,
    write_record,
)
from .split import Piece, cut
from .work import assemble, make_units, replay_file, replay_partition, run_unit

__all__ = [
    "RECORD_VERSION",
    "DEFAULT_SPLIT_BYTES",
    "ROW_FIELDS",
    "REJECTION_FIELDS",
    "ReplayConfig",
    "ReplayRun",
    "Collector",
    "Piece",
    "discover_inputs",
    "refuse_overlap",
    "sniff",
    "input_key",
    "ack_path",
    "done_path",
    "fingerprint",
    "replay_file",
    "replay_partition",
    "run_unit",
    "make_units",
    "assemble",
    "cut",
    "load_record",
    "load_records",
    "plan",
    "sweep_temporaries",
    "out_dir_lock",
    "replay_local",
    "summarize",
    "summary_config",
    "iter_records",
    "stderr_progress",
    "error_reason",
    "write_record",
]
