# The local engine: replay on this machine's cores with a process pool; progress on a terminal.
#
# Strategy: the parent lists nothing itself (the CLI or caller gives the inputs), asks the
# done records what is left (plan), cuts big inputs into pieces (make_units), then runs the
# units on a pool of forked workers, largest first so that one big file does not finish last
# alone. Pieces come back as records; when all of an input's pieces are in, the input is
# assembled (its 277CA and record) in the pool as well. The summary files are rebuilt from all
# records at the end. Workers count the bytes they read into one shared counter, so the
# progress line moves within a file, not only when a file ends.
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .. import store
from .config import Decide, ReplayConfig, decider_for
from .records import iter_records, out_dir_lock, plan, summary_config, sweep_temporaries
from .split import Piece
from .work import Unit, assemble, make_units, run_unit, unit_size

__all__ = ["ReplayRun", "replay_local", "stderr_progress", "summarize", "finished_input"]


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """What an engine did: inputs processed now, inputs skipped as done, the summary, and the
    inputs not read because they are not 837s ((path, reason) pairs)."""

    processed: int
    skipped: int
    seconds: float
    summary: dict[str, Any]
    ignored: tuple[tuple[str, str], ...] = field(default=())


def summarize(paths: Sequence[str], config: ReplayConfig, *, rows: list[dict[str, Any]] | None = None
              ) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    """Write the summary files from the done records of `paths`; (summary, ignored inputs).
    The result row of each input summarized is appended to `rows` when given."""
    from ..writers.report import write_summary

    store.remove_tree(store.join(config.out_dir, "parts"))  # the pieces' data, all assembled now
    ignored: list[tuple[str, str]] = []

    def read() -> Iterator[dict[str, Any]]:
        for rec in iter_records(paths, config):
            if rec.get("skipped"):
                ignored.append((rec["row"]["file"], rec["skipped"]))
                continue
            if rows is not None:
                rows.append(rec["row"])
            yield rec

    summary = write_summary(config.out_dir, read(), config=summary_config(config))
    return summary, tuple(ignored)


_WORKER: tuple[ReplayConfig, Decide | None, Any] | None = None


def _worker_init(config: ReplayConfig, decide: Decide | None, counter: Any) -> None:
    global _WORKER
    # The parent turns SIGINT/SIGTERM into a stop (it terminates the pool); a worker ignores
    # SIGINT (the terminal sends it to the whole group) and unwinds on SIGTERM, so that its
    # unfinished outputs are discarded (edi_cgt.cli._common.install_signal_handlers).
    from ..cli._common import install_signal_handlers

    install_signal_handlers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = (config, decide, counter)


def _count(counter: Any) -> Callable[[int], None] | None:
    if counter is None:
        return None

    def on_bytes(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    return on_bytes


def _worker_task(task: tuple[str, Any]) -> dict[str, Any]:
    assert _WORKER is not None
    config, decide, counter = _WORKER
    return _run_task(task, config, decide, _count(counter))


def _run_task(task: tuple[str, Any], config: ReplayConfig, decide: Decide | None,
              on_bytes: Callable[[int], None] | None) -> dict[str, Any]:
    kind, arg = task
    if kind == "unit":
        rec = run_unit(arg, config, decide, on_bytes)
        return rec if isinstance(arg, Piece) else {"row": rec["row"], "skipped": rec.get("skipped")}
    path, pieces, partials = arg
    rec = assemble(path, pieces, partials, config, decide=decide)
    return {"row": rec["row"]}


def finished_input(split: dict[str, list[Piece]], waiting: dict[str, list[dict[str, Any]]],
                   rec: dict[str, Any]) -> tuple[str, list[Piece], list[dict[str, Any]]] | None:
    """Take in a unit's record; when it completes a split input, what to assemble."""
    if "piece" not in rec:
        return None
    path = rec["row"]["file"]
    got = waiting.setdefault(path, [])
    got.append(rec)
    if len(got) < len(split[path]):
        return None
    del waiting[path]
    return path, split[path], got


def replay_local(
    paths: Sequence[str],
    config: ReplayConfig,
    *,
    jobs: int | None = None,
    force: bool = False,
    decide: Decide | None = None,
    progress: TextIO | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayRun:
    """Replay `paths` on this machine with `jobs` processes (None: all cores; 1: in-process),
    skipping inputs with a valid done record unless `force`, then write the summary files.

    `progress`: a stream for a progress line (pass sys.stderr when it is a terminal).
    `on_row(row)` is called in the parent for each input finished in this run.
    """
    t0 = time.perf_counter()
    jobs = max(1, jobs or os.cpu_count() or 1)
    paths = sorted(p if store.is_url(p) else os.path.abspath(p) for p in paths)
    with out_dir_lock(config):
        sweep_temporaries(config)
        todo, done = plan(paths, config, force=force, decide=decide)
        units, split = make_units(todo, config)
        units.sort(key=unit_size, reverse=True)
        bar = _Progress(progress, len(todo), len(done), sum(unit_size(u) for u in units))
        try:
            for row in _run_pool(units, split, config, jobs, decide, bar):
                bar.update(row)
                if on_row is not None:
                    on_row(row)
        finally:
            bar.close()
        summary, ignored = summarize(paths, config)
    return ReplayRun(processed=len(todo), skipped=len(done), seconds=time.perf_counter() - t0, summary=summary,
                     ignored=ignored)


def _run_pool(units: list[Unit], split: dict[str, list[Piece]], config: ReplayConfig, jobs: int,
              decide: Decide | None, bar: "_Progress") -> Iterator[dict[str, Any]]:
    """The row of each input as it is finished (whole, or assembled from its pieces)."""
    if not units:
        return
    waiting: dict[str, list[dict[str, Any]]] = {}
    if jobs == 1 or len(units) == 1:
        for unit in units:
            rec = _run_task(("unit", unit), config, decide, bar.add_bytes)
            ready = finished_input(split, waiting, rec)
            if ready is not None:
                yield _run_task(("assemble", ready), config, decide, None)["row"]
            elif "piece" not in rec:
                yield {**rec["row"], "skipped": rec.get("skipped")}
        return
    import multiprocessing
    import queue

    if decide is None:
        decider_for(config)  # loaded once here; forked workers inherit it
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    bar.counter = counter
    finished: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
    pool = ctx.Pool(min(jobs, len(units)), initializer=_worker_init, initargs=(config, decide, counter))
    try:
        def submit(task: tuple[str, Any]) -> None:
            pool.apply_async(_worker_task, (task,), callback=finished.put, error_callback=finished.put)

        for unit in units:
            submit(("unit", unit))
        outstanding = len(units)
        while outstanding:
            try:
                rec = finished.get(timeout=0.2)
            except queue.Empty:
                bar.tick()
                continue
            outstanding -= 1
            if isinstance(rec, BaseException):
                raise rec
            ready = finished_input(split, waiting, rec)
            if ready is not None:
                submit(("assemble", ready))
                outstanding += 1
            elif "piece" not in rec:
                yield {**rec["row"], "skipped": rec.get("skipped")}
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


class _Progress:
    """One self-rewriting stderr line: files, bytes read (moving within a file), claims, MB/s.
    Silent without a stream."""

    def __init__(self, stream: TextIO | None, total: int, skipped: int, total_bytes: int) -> None:
        self._s = stream
        self._total = total
        self._skipped = skipped
        self._total_bytes = total_bytes
        self._files = self._claims = self._errors = self._ignored = 0
        self._bytes = 0
        self.counter: Any = None  # the workers' shared byte counter
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def add_bytes(self, n: int) -> None:
        self._bytes += n
        self.tick()

    def update(self, row: dict[str, Any]) -> None:
        self._files += 1
        self._claims += int(row.get("claims_in") or 0)
        self._errors += 1 if row.get("error") else 0
        self._ignored += 1 if row.get("skipped") else 0
        self.tick(force=self._files == self._total)

    def tick(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self._s is not None and (force or now - self._last >= 0.2):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        assert self._s is not None
        done = self.counter.value if self.counter is not None else self._bytes
        elapsed = max(now - self._t0, 1e-9)
        share = f" ({min(done / self._total_bytes, 1):.0%})" if self._total_bytes else ""
        text = (f"replay: {self._files}/{self._total} files"
                + (f" (+{self._skipped} done before)" if self._skipped else "")
                + f"  {done / 1e6:,.1f}/{self._total_bytes / 1e6:,.1f} MB{share}"
                + f"  {self._claims:,} claims  {done / elapsed / 1e6:.1f} MB/s"
                + (f"  {self._errors} unreadable" if self._errors else "")
                + (f"  {self._ignored} not 837" if self._ignored else "")
                + f"  {elapsed:.0f}s")
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self._s.write("\r" + text + " " * pad)
        self._s.flush()

    def close(self) -> None:
        if self._s is not None and self._width:
            self._draw(time.perf_counter())
            self._s.write("\n")
            self._s.flush()


def stderr_progress() -> TextIO | None:
    """sys.stderr when it is a terminal, else None (no progress line in logs or pipes)."""
    try:
        return sys.stderr if sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None
