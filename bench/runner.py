# Whole-process throughput and memory benchmark: edi-cgt beside cat and naive byte splitting,
# on a matrix of corpus shapes made by two independent builders.
#
# Strategy: every measured thing is a separate child process (interpreter start-up and imports
# included, as a user runs it), started on the same cached corpus file. Each round runs every
# command once, and the order rotates from round to round so that no command always runs first
# or right after an expensive one; the figure reported is the median of the rounds. Peak memory
# is the child's own ru_maxrss, read with os.wait4 through a small trampoline process (see
# _TRAMPOLINE), so the runner's memory never counts. The corpora and their cache live in
# bench/matrix.py. The memory checks stream ~1 GB through a pipe into `filter -` (copies of a
# cached corpus, written in chunks, so neither the disk nor the runner holds 1 GB) and run
# `filter` on single ~100 MB transactions. Issue 11's targets are judged on every shape they
# apply to and reported as met/missed; nothing here asserts anything about time.
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .matrix import MATRIX, ONE_TRANSACTION_SHAPES, STREAM_SHAPE, Corpus, CorpusShape, default_cache_dir, \
    ensure_corpus, site_file

__all__ = [
    "BenchError",
    "BenchConfig",
    "Command",
    "Run",
    "Result",
    "MemoryResult",
    "TargetSpec",
    "Target",
    "Report",
    "ALL_COMMANDS",
    "DEFAULT_COMMANDS",
    "TARGETS",
    "build_commands",
    "measure",
    "run_benchmark",
]

FULL_MB = 100.0
QUICK_MB = 10.0
MEMORY_LIMIT_MIB = 64.0
_PIPE_CHUNK = 1 << 20
FILTER_OK = frozenset({0, 1, 3})  # clean, some rejected, some unreadable (passed through)


class BenchError(Exception):
    """A benchmark command failed, or a corpus could not be made (the message says which)."""


# =============================================================================================
# Configuration and values
# =============================================================================================
@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What one benchmark run measures (see `python bench/run.py --help`)."""

    size_mb: float = FULL_MB
    shapes: tuple[CorpusShape, ...] = MATRIX
    repeat: int = 3
    seed: int = 1
    cache_dir: Path | None = None  # None: matrix.default_cache_dir()
    commands: tuple[str, ...] | None = None  # None: DEFAULT_COMMANDS
    memory_mb: float = 1000.0  # size of the streamed memory-check input; 0 skips it
    huge_mb: float = FULL_MB  # size of each one-transaction corpus; 0 skips them
    python: str = sys.executable
    edi_cgt: tuple[str, ...] | None = None  # argv prefix for the CLI; None: found beside python
    jobs: int = 2  # bench.corpus worker processes (the bytes are the same for any value)
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """One thing to time: a name, the child's argv, the exit codes that mean success, and
    whether it reads the corpus (`edi-cgt --version` does not: it has no MB/s)."""

    name: str
    argv: tuple[str, ...]
    ok_codes: frozenset[int] = frozenset({0})
    note: str = ""
    reads_input: bool = True


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    max_rss_kib: int
    exit_code: int


@dataclass(slots=True)
class Result:
    """All runs of one command on one corpus, and the figures derived from them."""

    corpus: Corpus
    command: Command
    runs: list[Run] = field(default_factory=list)
    ratio_split: float | None = None  # naive read+split's median seconds over this one's
    ratio_elements: float | None = None  # naive split-into-elements' median seconds over this one's

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def mb_s(self) -> float | None:
        return self.corpus.size / 1e6 / self.median_s if self.command.reads_input else None

    @property
    def us_per_claim(self) -> float | None:
        return self.median_s * 1e6 / self.corpus.claims if self.command.reads_input else None

    @property
    def peak_rss_mib(self) -> float:
        return max(r.max_rss_kib for r in self.runs) / 1024

    def as_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus.shape.name,
            "command": self.command.name,
            "argv": list(self.command.argv),
            "runs_s": [round(r.seconds, 4) for r in self.runs],
            "median_s": round(self.median_s, 4),
            "mb_s": _round(self.mb_s),
            "us_per_claim": _round(self.us_per_claim),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "ratio_to_split": _round(self.ratio_split),
            "ratio_to_elements": _round(self.ratio_elements),
            "exit_codes": sorted({r.exit_code for r in self.runs}),
        }


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Peak RSS of one `filter` run on a large input."""

    name: str
    description: str
    size: int  # bytes
    claims: int
    run: Run
    argv: tuple[str, ...]

    @property
    def peak_rss_mib(self) -> float:
        return self.run.max_rss_kib / 1024

    @property
    def mb_s(self) -> float | None:
        return self.size / 1e6 / self.run.seconds if self.run.seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "argv": list(self.argv),
            "bytes": self.size,
            "claims": self.claims,
            "seconds": round(self.run.seconds, 3),
            "mb_s": _round(self.mb_s),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "exit_code": self.run.exit_code,
        }


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A goal of issue 11: `filter`'s ratio to a baseline on every corpus of a CGT share, or
    (baseline None) peak RSS under a limit in every memory check."""

    name: str
    cgt_share: float | None
    baseline: str | None  # "split" or "elements"; None: a memory target
    threshold: float


TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("0.5% CGT: filter >= 0.5x naive read+split, every shape", 0.005, "split", 0.5),
    TargetSpec("0% CGT: filter >= 0.8x naive read+split", 0.0, "split", 0.8),
    TargetSpec("100% CGT, every claim rejected (277CA included): filter >= 0.25x naive split into "
               "segments and elements", 1.0, "elements", 0.25),
    TargetSpec(f"peak RSS < {MEMORY_LIMIT_MIB:g} MiB: ~1 GB streamed, one ~100 MB transaction", None, None,
               MEMORY_LIMIT_MIB),
)


@dataclass(frozen=True, slots=True)
class Target:
    """One target judged on one subject (a corpus, or a memory check)."""

    spec: TargetSpec
    subject: str  # the corpus' label or the memory check's name; "" when nothing was measured
    measured: float | None

    @property
    def unit(self) -> str:
        return "MiB" if self.spec.baseline is None else "x"

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        if self.spec.baseline is None:
            return self.measured < self.spec.threshold
        return self.measured >= self.spec.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.spec.name, "subject": self.subject, "measured": _round(self.measured),
                "threshold": self.spec.threshold, "unit": self.unit, "met": self.passed}


@dataclass(slots=True)
class Report:
    """Everything one benchmark run found, for the tables and the JSON."""

    machine: dict[str, Any]
    corpora: list[Corpus] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    memory: list[MemoryResult] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    load: list[dict[str, Any]] = field(default_factory=list)  # load averages as the run went
    warnings: list[str] = field(default_factory=list)
    repeat: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "repeat": self.repeat,
            "seconds": round(self.seconds, 1),
            "load": self.load,
            "warnings": self.warnings,
            "corpora": [c.as_dict() for c in self.corpora],
            "results": [r.as_dict() for r in self.results],
            "memory": [m.as_dict() for m in self.memory],
            "targets": [t.as_dict() for t in self.targets],
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# =============================================================================================
# Commands
# =============================================================================================
_PYX12_SCRIPT = """\
import sys
import pyx12.x12file
n = 0
for _ in pyx12.x12file.X12Reader(sys.argv[1]):
    n += 1
"""

DEFAULT_COMMANDS = ("cat", "split", "elements", "filter", "read-all", "version")
ALL_COMMANDS = (*DEFAULT_COMMANDS, "check", "claims", "pyx12")


def edi_cgt_argv(python: str = sys.executable) -> tuple[str, ...]:
    """How to start the CLI: `python -m edi_cgt` with this interpreter (no pyenv or venv shim in
    between); `child_env` makes it import the same edi_cgt package as the runner."""
    return (python, "-m", "edi_cgt")


def child_env() -> dict[str, str]:
    """The environment of every measured command: this one, with the directory holding the
    edi_cgt package the runner imported (a checkout, when run as bench/run.py) first on
    PYTHONPATH, so the CLI measured is the code whose commit the report names."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_package_root().parent), env.get("PYTHONPATH")) if p)
    return env


def filter_argv(cli: Sequence[str], source: str, site: Path, *options: str) -> tuple[str, ...]:
    """`edi-cgt filter` with the clean 837 on stdout (/dev/null in `measure`) and the 277CA
    thrown away (the two outputs must name different places)."""
    return (*cli, "filter", *options, source, "-o", "-", "--rejects", os.devnull, "--site", str(site))


def build_commands(corpus: Corpus, site: Path, *, python: str, cli: Sequence[str],
                   names: Sequence[str]) -> list[Command]:
    """The commands to time on `corpus`, in the order given by `names`."""
    f = str(corpus.path)
    term, elem = corpus.terminator, corpus.element
    cli = tuple(cli)
    made = {
        "cat": Command("cat", ("cat", f), note="cat F > /dev/null (the floor)"),
        "split": Command("split", (python, "-c", f"open({f!r},'rb').read().split({term!r})"),
                         note="naive read + split into segments on the file's terminator"),
        "elements": Command("elements", (python, "-c", f"data=open({f!r},'rb').read()\n"
                                                       f"[s.split({elem!r}) for s in data.split({term!r})]"),
                            note="naive read + split into segments and elements"),
        "filter": Command("filter", filter_argv(cli, f, site), FILTER_OK,
                          note="edi-cgt filter F -o - --rejects /dev/null --site S"),
        "read-all": Command("read-all", filter_argv(cli, f, site, "--read-all"), FILTER_OK,
                            note="edi-cgt filter --read-all (every claim read)"),
        "version": Command("version", (*cli, "--version"), note="edi-cgt --version (start-up alone)",
                           reads_input=False),
        "check": Command("check", (*cli, "check", "--format", "jsonl", "--site", str(site), f),
                         frozenset({0, 1, 3}), note="edi-cgt check --format jsonl"),
        "claims": Command("claims", (*cli, "claims", f), frozenset({0, 3}),
                          note="edi-cgt claims (a JSON line per claim)"),
        "pyx12": Command("pyx12", (python, "-c", _PYX12_SCRIPT, f), note="pyx12.x12file.X12Reader segments"),
    }
    unknown = [n for n in names if n not in made]
    if unknown:
        raise BenchError(f"unknown command(s) {', '.join(unknown)}; known: {', '.join(ALL_COMMANDS)}")
    return [made[n] for n in names]


# =============================================================================================
# Measuring
# =============================================================================================
# The trampoline: a small interpreter (-I -S) that forks the command, times it from fork to
# reaping, and prints "seconds max_rss_kib exit_code". It exists because Linux records, at
# exec, the peak RSS of the memory image being replaced: a command forked straight from this
# runner (tens of MB after generating corpora) would inherit the runner's size as its own peak.
# Forked from the trampoline, it inherits only ~6 MB, which `cat`'s row then shows (the floor
# of what this method resolves). The trampoline's own start-up is outside the timed span.
_TRAMPOLINE = """\
import os, sys, time
argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, ("cannot run %s: %s\\n" % (argv[0], exc)).encode())
    os._exit(127)
os.close(0)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t0
print(seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(argv: Sequence[str], *, ok_codes: frozenset[int] = frozenset({0}),
            feed: Callable[[Any], None] | None = None, what: str = "", python: str = sys.executable,
            env: dict[str, str] | None = None) -> Run:
    """Run argv once as a child (stdout to /dev/null); its wall time, peak RSS and exit code.

    `feed`, if given, writes the child's stdin (then it is closed); `env` is the command's
    environment (default child_env()). Raises BenchError, with the end of the child's stderr,
    when the exit code is not in `ok_codes`."""
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen([python, "-I", "-S", "-c", _TRAMPOLINE, *argv],
                                 stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                                 env=child_env() if env is None else env)
        try:
            if feed is not None:
                assert child.stdin is not None
                try:
                    feed(child.stdin)
                except BrokenPipeError:
                    pass  # the command stopped reading; its exit code will say why
                with contextlib.suppress(BrokenPipeError):
                    child.stdin.close()
            assert child.stdout is not None
            out = child.stdout.read()
            child.stdout.close()
            child.wait()
        except BaseException:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        err.seek(0)
        tail = err.read()[-800:].decode("utf-8", "replace").strip()
    try:
        seconds, rss, code = out.split()
        run = Run(float(seconds), int(rss), int(code))
    except ValueError:
        raise BenchError(f"{what or argv[0]}: no measurement (status {child.returncode}): {tail or '(no stderr)'}")
    if run.exit_code not in ok_codes:
        raise BenchError(f"{what or argv[0]} exited with status {run.exit_code}: {tail or '(no stderr)'}")
    return run


def _warm(path: Path) -> None:
    """Read a file once so every command finds it in the page cache."""
    with path.open("rb", buffering=0) as fh:
        while fh.read(_PIPE_CHUNK):
            pass


def _load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "load1": round(one, 2), "load5": round(five, 2),
            "load15": round(fifteen, 2)}


def _machine(config: BenchConfig, cli: Sequence[str]) -> dict[str, Any]:
    uptime = ""
    with contextlib.suppress(OSError):
        uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "edi_cgt_source": _source_state(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "interpreter": config.python,
        "edi_cgt": list(cli),
        "cpus": os.cpu_count(),
        "uptime": uptime,
    }


def _package_root() -> Path:
    """The edi_cgt package the child processes import (this checkout's, when run from it)."""
    import edi_cgt

    return Path(edi_cgt.__file__).resolve().parent


def _source_state() -> str:
    """The git commit of the edi_cgt package being measured (with '+dirty' when its files have
    uncommitted changes), or its version when it is not in a git checkout."""
    root = _package_root().parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "edi_cgt"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        head = None
    if head is None or head.returncode != 0:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"edi-cgt {version('edi-cgt')}"
        except PackageNotFoundError:
            return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _source_digest() -> str:
    """A hash of every .py file of the edi_cgt package being measured, to notice edits made
    while the benchmark runs (the figures would then mix two versions of the code)."""
    root = _package_root()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _corpus(config: BenchConfig, shape: CorpusShape, size_mb: float, cache: Path,
            say: Callable[[str], None]) -> Corpus:
    try:
        return ensure_corpus(shape, size_mb, cache, seed=config.seed, jobs=config.jobs, progress=say)
    except ValueError as exc:
        raise BenchError(f"cannot make the corpus {shape.name}: {exc}") from exc


def _time_corpus(config: BenchConfig, corpus: Corpus, commands: list[Command],
                 say: Callable[[str], None]) -> list[Result]:
    """Every command on `corpus`, `repeat` rounds in rotated order; ratios to the baselines."""
    results = {c.name: Result(corpus, c) for c in commands}
    _warm(corpus.path)
    for round_ in range(config.repeat):
        k = round_ % len(commands)
        for command in commands[k:] + commands[:k]:
            say(f"{corpus.shape.name} round {round_ + 1}/{config.repeat}: {command.name}")
            results[command.name].runs.append(
                measure(command.argv, ok_codes=command.ok_codes, what=f"{command.name} on {corpus.path}",
                        python=config.python))
    split, elements = results.get("split"), results.get("elements")
    for result in results.values():
        result.ratio_split = split.median_s / result.median_s if split else None
        result.ratio_elements = elements.median_s / result.median_s if elements else None
    return list(results.values())


def run_benchmark(config: BenchConfig) -> Report:
    """Generate (or reuse) the corpora, time every command on each, run the memory checks."""
    say = config.progress or (lambda _msg: None)
    if config.repeat < 1:
        raise BenchError(f"repeat must be at least 1, got {config.repeat}")
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    cli = config.edi_cgt or edi_cgt_argv(config.python)
    names = list(config.commands or DEFAULT_COMMANDS)
    started = time.perf_counter()
    report = Report(machine=_machine(config, cli), repeat=config.repeat)
    digest = _source_digest()
    report.machine["source_digest"] = digest
    report.load.append({"at": "start", **_load()})
    site = site_file(cache)

    for shape in config.shapes:
        corpus = _corpus(config, shape, config.size_mb, cache, say)
        report.corpora.append(corpus)
        commands = build_commands(corpus, site, python=config.python, cli=cli, names=names)
        report.load.append({"at": f"before {shape.name}", **_load()})
        report.results.extend(_time_corpus(config, corpus, commands, say))

    if config.memory_mb > 0 or config.huge_mb > 0:
        report.load.append({"at": "before memory checks", **_load()})
    if config.memory_mb > 0:
        report.memory.append(_memory_stream(config, cache, cli, site, say))
    if config.huge_mb > 0:
        for shape in ONE_TRANSACTION_SHAPES:
            huge = _corpus(config, shape, config.huge_mb, cache, say)
            _warm(huge.path)
            argv = filter_argv(cli, str(huge.path), site)
            say(f"memory: filter on {huge.shape.name} ({huge.size / 1e6:.0f} MB)")
            run = measure(argv, ok_codes=FILTER_OK, what=f"filter on {huge.path}", python=config.python)
            report.memory.append(MemoryResult(
                f"one transaction, CGT {shape.share_text}",
                f"filter on {huge.label}: all {huge.claims:,} claims in one ST..SE", huge.size, huge.claims,
                run, argv))
    report.load.append({"at": "end", **_load()})
    if _source_digest() != digest:
        report.warnings.append("edi_cgt's source files changed while the benchmark ran: the figures mix versions; "
                               "run it on a checkout nobody edits")
    report.targets = judge(report)
    report.seconds = time.perf_counter() - started
    return report


def _memory_stream(config: BenchConfig, cache: Path, cli: Sequence[str], site: Path,
                   say: Callable[[str], None]) -> MemoryResult:
    """`filter -` on copies of the STREAM_SHAPE corpus streamed through a pipe, ~memory_mb in all."""
    base = _corpus(config, STREAM_SHAPE, min(config.size_mb, config.memory_mb), cache, say)
    copies = max(1, math.ceil(config.memory_mb * 1e6 / base.size))
    argv = filter_argv(cli, "-", site)
    _warm(base.path)

    def feed(pipe: Any) -> None:
        for _ in range(copies):
            with base.path.open("rb", buffering=0) as fh:
                while chunk := fh.read(_PIPE_CHUNK):
                    pipe.write(chunk)

    say(f"memory: filter - on {copies} copies of {base.path.name} ({copies * base.size / 1e6:.0f} MB)")
    run = measure(argv, ok_codes=FILTER_OK, feed=feed, what="filter - (memory check)", python=config.python)
    return MemoryResult("stream", f"filter - on {copies} concatenated copies of {base.label} "
                        f"({base.size / 1e6:.1f} MB each), through a pipe",
                        copies * base.size, copies * base.claims, run, argv)


def judge(report: Report) -> list[Target]:
    """Every target on every corpus (or memory check) it applies to; a target with none in the
    run gets one row that says it was not measured."""
    out: list[Target] = []
    for spec in TARGETS:
        rows: list[Target] = []
        if spec.baseline is None:
            rows = [Target(spec, m.name, m.peak_rss_mib) for m in report.memory]
        else:
            for r in report.results:
                if r.command.name == "filter" and r.corpus.shape.cgt_share == spec.cgt_share:
                    ratio = r.ratio_split if spec.baseline == "split" else r.ratio_elements
                    rows.append(Target(spec, r.corpus.label, ratio))
        out.extend(rows or [Target(spec, "", None)])
    return out


def config_from(**kwargs: Any) -> BenchConfig:
    """A BenchConfig from keyword options, ignoring the ones left as None."""
    fields = {f.name for f in dataclasses.fields(BenchConfig)}
    return BenchConfig(**{k: v for k, v in kwargs.items() if k in fields and v is not None})
