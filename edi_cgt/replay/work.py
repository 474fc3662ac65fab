# The work of a replay, engine-free: one input (or one piece of a big one) through the policy.
#
# Strategy: `replay_file` is the one place that runs the pipeline for replay. It streams the
# input through `run_filter` (the clean 837 is thrown away) with two sinks: the 277CA writer
# and the Collector. It writes the 277CA to a name derived from the input's path, then the done
# record (edi_cgt.replay.records). A broken file yields a record with `error` set; it never
# raises. An input that does not start like an 837 gets a record saying why it was skipped.
#
# A piece of a split input (edi_cgt.replay.split) runs through the same call; its 277CA sink
# is a recorder instead: the calls the pipeline makes on the 277CA writer are written, signed,
# to OUT/parts/<run>/, with transaction indexes and segment numbers turned into the file's.
# `assemble` then replays every piece's calls, in file order, into one 277CA writer, and sums
# the pieces' rows and counters into the file's record: the 277CA and the record are those of
# the whole file read at once, made by the same writer from the same calls.
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import inspect
import io
import itertools
import os
import pickle
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from .. import store
from ..claims.model import Claim, TransactionInfo
from ..io import AtomicOutput, read_chunks
from ..pipeline import FilterOptions, run_filter
from ..writers.ack277 import AckWriter
from ..writers.report import ROW_FIELDS
from ..x12.errors import X12Error
from .collector import Collector, merge_counters
from .config import RECORD_VERSION, Decide, ReplayConfig, decider_for, drug_codes, fingerprint, therapy_codes
from .inputs import SNIFF_BYTES, ack_path, part_path, sniff
from .records import error_reason, write_record
from .split import Piece, cut, piece_chunks

__all__ = ["replay_file", "replay_partition", "assemble", "make_units", "run_unit", "Unit", "DIMENSIONS"]

Unit = str | Piece
DIMENSIONS = ("by_rule", "by_therapy", "by_payer", "by_month", "by_provider", "providers", "warnings_by_rule")
_SUMMED = ("bytes", "transactions", "transactions_passed_through", "claims_in", "accepted", "rejected",
           "unevaluated", "warnings")


class _Discard:
    """The clean 837 of a replay goes nowhere."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _ack_writer(out: Any, config: ReplayConfig) -> AckWriter:
    """The 277CA writer of a replay (the one place replay makes one)."""
    return AckWriter(out, ack_all=config.ack_all, include_phi=not config.redact_acks, now=config.now)


def _empty_record(config: ReplayConfig, source: str, decide: Decide | None) -> dict[str, Any]:
    row: dict[str, Any] = {name: 0 for name in ROW_FIELDS}
    row.update(file=source, charges_in="0", charges_rejected="0", error="", ack="")
    rec: dict[str, Any] = {"version": RECORD_VERSION, "fingerprint": fingerprint(config, decide),
                           "source": store.stamp(source), "row": row, "rejections": [], "warnings": [],
                           **{d: {} for d in DIMENSIONS}}
    row["stored_bytes"] = rec["source"]["size"] if rec["source"] else 0
    return rec


def _sniffed(chunks: Iterator[bytes]) -> tuple[Iterator[bytes], str | None]:
    """The same chunks, and why the input is not read (sniff), from its first bytes."""
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size >= SNIFF_BYTES:
            break
    first = b"".join(head)
    return itertools.chain([first] if first else [], chunks), sniff(first[:SNIFF_BYTES])


def replay_file(path: str, config: ReplayConfig, *, decide: Decide | None = None, record: bool = True,
                piece: Piece | None = None, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Replay one input file (or one piece of it); return its record, and write the record to
    done_path when `record` (a piece's record is for `assemble`, never written).

    The record holds the result row (ROW_FIELDS), the counters (`by_rule`, `by_therapy`,
    `by_payer`, `by_month`), `rejections` (REJECTION_FIELDS dicts), `skipped` (why an input
    that is not an 837 was not read) and bookkeeping (`version`, `fingerprint`, `source`
    stamp). Any exception reading the file becomes `error`.
    """
    t0 = time.perf_counter()
    source = path if store.is_url(path) else os.path.abspath(path)
    target = ack_path(config, source) if piece is None else part_path(config, source, piece.run, piece.index)
    rec = _empty_record(config, source, decide)
    row = rec["row"]
    try:
        decide_fn = decide or decider_for(config)
        collector = Collector(therapy_codes=therapy_codes(config, decide_fn), drug_codes=drug_codes(config))
        out = AtomicOutput(target, durable=False, makedirs=True)
        try:
            if piece is None:
                chunks, skip = read_chunks(source, on_bytes=on_bytes), None
                if config.sniff:
                    chunks, skip = _sniffed(chunks)
                sink: Any = _ack_writer(out, config)
            else:
                chunks, skip = piece_chunks(piece, on_bytes), None
                sink = _Recorder(out, piece, config)
            if skip is None:
                stats = run_filter(chunks, out=None, decide=decide_fn,  # type: ignore[arg-type]
                                   sinks=[sink, collector], where=source,
                                   options=FilterOptions(read_all=config.ack_all))
                sink.close()
        except BaseException:
            out.discard()
            raise
        if skip is not None:
            out.commit()  # nothing written: removes a 277CA an earlier run left
            rec["skipped"] = skip
        elif out.commit() == "written" and piece is None:
            row["ack"] = _relative(config, target)
        if skip is None:
            carried = len(piece.head) + len(piece.tail) if piece is not None else 0
            row.update(
                bytes=stats.bytes_in - carried, transactions=stats.transactions,
                transactions_passed_through=stats.transactions_passed_through, claims_in=stats.claims_in,
                accepted=stats.accepted, rejected=stats.rejected, unevaluated=stats.unevaluated,
                warnings=stats.warnings, charges_in=str(stats.charges_in), charges_rejected=str(stats.charges_rejected),
            )
            rec.update(collector.counters())
            rec["rejections"] = collector.rejections
            rec["warnings"] = collector.warnings
            if piece is not None:
                for r in (*rec["rejections"], *rec["warnings"]):
                    if r.get("segment") is not None:
                        r["segment"] += piece.segment_offset
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a replay
        if piece is None:
            store.remove(target)
        elif isinstance(exc, X12Error) and exc.segment_number is not None:
            exc.segment_number += piece.segment_offset
        row["error"] = error_reason(exc, source, log_phi=config.log_phi)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    if piece is not None:
        rec["piece"] = piece.index
    elif record:
        write_record(config, source, rec)
    return rec


def _relative(config: ReplayConfig, target: str) -> str:
    if store.is_url(config.out_dir):
        return target[len(config.out_dir.rstrip("/")) + 1:]
    return os.path.relpath(target, config.out_dir)


# -- pieces ------------------------------------------------------------------------------------
_FRAME = struct.Struct(">I32s")  # payload length, HMAC-SHA256 of the payload


class _Recorder:
    """Stands in for the 277CA writer of a piece: every method call the pipeline makes on the
    writer (begin_transaction, add, add_unread, end_transaction) is written as a signed frame
    (pickle) to `out`, with the claims' transaction indexes and segment numbers and the
    transaction's interchange and group ordinals made the file's. Other attributes are those of
    a real writer with the same settings.

    Accepted claims without --ack-all are written as the writer's add_unread() of a run of
    them (its documented equivalent of add() for each), which keeps the frames small."""

    def __init__(self, out: AtomicOutput, piece: Piece, config: ReplayConfig) -> None:
        self._out = out
        self._piece = piece
        self._like = _ack_writer(_Discard(), config)
        self._ack_all = config.ack_all
        self._run: list[Any] | None = None  # [claims, charges, provider]

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._like, name)
        if name.startswith("_") or not callable(value):
            return value
        signature = _signature(type(self._like), name)

        def record(*args: Any, **kwargs: Any) -> None:
            bound = signature.bind(None, *args, **kwargs)
            if name == "add" and not self._ack_all and self._accepted(*bound.args[1:]):
                return
            if name == "add_unread" and self._fold(*bound.args[1:]):
                return
            self._flush()
            for key, arg in list(bound.arguments.items())[1:]:
                bound.arguments[key] = self._rebase(arg)
            self._frame(name, bound.args[1:], bound.kwargs)

        return record

    def _accepted(self, claim: Any, decision: Any) -> bool:
        """Fold an accepted claim into the current run of them; False for any other claim."""
        if decision.rejected:
            return False
        return self._fold(1, claim.total_charge, claim.billing_provider)

    def _fold(self, claims: int, charges: Decimal, provider: Any) -> bool:
        run = self._run
        if run is not None and run[2] == provider:
            run[0] += claims
            run[1] += charges
        else:
            self._flush()
            self._run = [claims, charges, provider]
        return True

    def _flush(self) -> None:
        if self._run is not None:
            run, self._run = self._run, None
            self._frame("add_unread", tuple(run), {})

    def _frame(self, name: str, args: tuple, kwargs: dict) -> None:
        payload = _dumps((name, args, kwargs))
        mac = hmac.new(self._piece.secret, payload, hashlib.sha256).digest()
        self._out.write(_FRAME.pack(len(payload), mac) + payload)

    def _rebase(self, value: Any) -> Any:
        p = self._piece
        if isinstance(value, TransactionInfo):
            return _rebase_info(value, p)
        if isinstance(value, Claim) and value.location is not None:
            loc = value.location
            return dataclasses.replace(value, location=dataclasses.replace(
                loc, transaction_index=loc.transaction_index + p.transaction_offset,
                segment_number=loc.segment_number + p.segment_offset),
                transaction=_rebase_info(value.transaction, p) if value.transaction is not None else None)
        return value

    def close(self) -> None:
        """The end of the piece (the assembly closes the real writer)."""
        self._flush()


def _rebase_info(info: TransactionInfo, p: Piece) -> TransactionInfo:
    """A transaction's interchange and group ordinals, made the file's: the piece's first
    interchange (carried in front) is the file's interchange_offset + 1, and its groups follow
    the group_offset groups of that interchange before the piece."""
    return dataclasses.replace(
        info, interchange_index=info.interchange_index + p.interchange_offset,
        group_index=info.group_index + (p.group_offset if info.interchange_index == 1 else 0))


class _Pickler(pickle.Pickler):
    """Dataclass values (claims and everything in them) as (class, field values): several times
    faster than the default for slotted frozen dataclasses, which go field by field twice."""

    def reducer_override(self, obj: Any) -> Any:
        names = _fields(type(obj))
        if names is None:
            return NotImplemented
        return _rebuild, (type(obj), tuple(getattr(obj, n) for n in names))


@functools.lru_cache(maxsize=256)
def _fields(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass (None for any other class)."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def _rebuild(cls: type, values: tuple) -> Any:
    obj = object.__new__(cls)
    for name, value in zip(_fields(cls) or (), values):
        object.__setattr__(obj, name, value)
    return obj


def _dumps(value: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


@functools.lru_cache(maxsize=64)
def _signature(cls: type, name: str) -> inspect.Signature:
    return inspect.signature(getattr(cls, name))


def _frames(path: str, secret: bytes) -> Iterator[tuple[str, tuple, dict]]:
    with store.open_read(path) as fh:
        while True:
            header = fh.read(_FRAME.size)
            if not header:
                return
            if len(header) != _FRAME.size:
                raise ValueError(f"{store.display(path)}: piece data is truncated")
            size, mac = _FRAME.unpack(header)
            payload = fh.read(size)
            if len(payload) != size or not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()):
                raise ValueError(f"{store.display(path)}: piece data failed its integrity check")
            yield pickle.loads(payload)  # noqa: S301 - signed above with this run's secret


def assemble(path: str, pieces: Sequence[Piece], partials: Sequence[dict[str, Any]], config: ReplayConfig, *,
             decide: Decide | None = None) -> dict[str, Any]:
    """The record (and 277CA) of a split input from its pieces' records, written like
    replay_file's; the pieces' temporary data is removed."""
    t0 = time.perf_counter()
    source = path
    rec = _empty_record(config, source, decide)
    row = rec["row"]
    target = ack_path(config, source)
    ordered = sorted(partials, key=lambda r: r["piece"])
    parts = [part_path(config, source, p.run, p.index) for p in pieces]
    try:
        failed = next((r["row"]["error"] for r in ordered if r["row"]["error"]), "")
        if len(ordered) != len(pieces) or [r["piece"] for r in ordered] != [p.index for p in pieces]:
            failed = failed or "internal error: pieces of this input are missing"
        if failed:
            store.remove(target)
            row["error"] = failed
        else:
            out = AtomicOutput(target, durable=False, makedirs=True)
            try:
                ack = _ack_writer(out, config)
                for piece, part in zip(pieces, parts):
                    if store.kind(part) != "file":
                        continue  # the piece wrote no call
                    for name, args, kwargs in _frames(part, piece.secret):
                        getattr(ack, name)(*args, **kwargs)
                ack.close()
            except BaseException:
                out.discard()
                raise
            if out.commit() == "written":
                row["ack"] = _relative(config, target)
            for key in _SUMMED:
                row[key] = sum(int(r["row"][key]) for r in ordered)
            for key in ("charges_in", "charges_rejected"):
                row[key] = str(sum((Decimal(r["row"][key]) for r in ordered), Decimal(0)))
            rec.update(merge_counters(ordered))
            rec["rejections"] = [x for r in ordered for x in r["rejections"]]
            rec["warnings"] = [x for r in ordered for x in r["warnings"]]
    except Exception as exc:  # noqa: BLE001 - as replay_file: the input becomes an error row
        store.remove(target)
        row.update({k: 0 for k in _SUMMED}, charges_in="0", charges_rejected="0", ack="")
        rec.update({d: {} for d in DIMENSIONS}, rejections=[], warnings=[])
        row["error"] = error_reason(exc, source, log_phi=config.log_phi)
    row["seconds"] = round(sum(float(r["row"]["seconds"]) for r in ordered) + time.perf_counter() - t0, 4)
    write_record(config, source, rec)
    for part in parts:
        with contextlib.suppress(OSError):
            store.remove(part)
    return rec


# -- units of work -----------------------------------------------------------------------------
def make_units(paths: Sequence[str], config: ReplayConfig) -> tuple[list[Unit], dict[str, list[Piece]]]:
    """The work for `paths`: each input whole, or its pieces when it is an uncompressed 837
    larger than config.split_bytes. Returns (units, {input: its pieces})."""
    units: list[Unit] = []
    split: dict[str, list[Piece]] = {}
    run = secrets.token_hex(8)
    secret = secrets.token_bytes(32)
    for p in paths:
        pieces = cut(p, store.size(p), config.split_bytes) if config.split_bytes > 0 else []
        if pieces:
            pieces = [dataclasses.replace(x, run=run, secret=secret) for x in pieces]
            split[p] = pieces
            units.extend(pieces)
        else:
            units.append(p)
    return units, split


def unit_size(unit: Unit) -> int:
    return unit.size if isinstance(unit, Piece) else store.size(unit)


def run_unit(unit: Unit, config: ReplayConfig, decide: Decide | None = None,
             on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """replay_file for a whole input or a piece; returns the record."""
    if isinstance(unit, Piece):
        return replay_file(unit.path, config, decide=decide, piece=unit, on_bytes=on_bytes)
    return replay_file(unit, config, decide=decide, on_bytes=on_bytes)


def replay_partition(units: Iterable[Unit], config: ReplayConfig, *, decide: Decide | None = None) -> Iterator[dict[str, Any]]:
    """run_unit over an iterable of units (a Spark partition); yields the records."""
    for unit in units:
        yield run_unit(unit, config, decide)
