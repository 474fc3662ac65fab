# Whole-process throughput and memory benchmark: edi-cgt beside naive byte splitting and pyx12.
#
# Strategy: every measured thing is a separate child process (interpreter start-up and imports
# included, as a user would run it), started on the same cached corpus files. Each round runs
# every command once, and the order rotates from round to round so that no command always runs
# first or right after an expensive one; the figure reported is the median of the rounds. Peak
# memory is the child's own ru_maxrss, read with os.wait4 on that child alone, so the runner's
# memory never counts. Corpora come from bench.corpus (deterministic from seed and
# options) and are cached under a key made of those options and a hash of the generator's
# source, so a changed generator never reuses stale bytes. The memory check streams a ~1 GB
# input through a pipe (copies of a cached corpus, written in chunks) into `filter -`, so it
# needs neither 1 GB of disk nor 1 GB of memory in the runner. Targets from the project's
# issue #6 are reported as pass/miss; nothing here asserts anything about time.
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
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

__all__ = [
    "BenchError",
    "BenchConfig",
    "CorpusSpec",
    "Corpus",
    "Command",
    "Run",
    "Result",
    "MemoryResult",
    "Target",
    "Report",
    "DEFAULT_SHARES",
    "default_cache_dir",
    "ensure_corpus",
    "build_commands",
    "measure",
    "run_benchmark",
    "format_report",
]

DEFAULT_SHARES = (0.0, 0.005, 0.02, 1.0)
FULL_MB = 100.0
QUICK_MB = 10.0
MEMORY_LIMIT_MIB = 64.0
_SAMPLE_CLAIMS = 2000  # claims generated once to learn a corpus' bytes per claim
_PIPE_CHUNK = 1 << 20


class BenchError(Exception):
    """A benchmark command failed, or a corpus could not be made (the message says which)."""


# =============================================================================================
# Configuration and values
# =============================================================================================
@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What one benchmark run measures (see `edi-cgt bench run --help`)."""

    size_mb: float = FULL_MB
    shares: tuple[float, ...] = DEFAULT_SHARES
    repeat: int = 5
    seed: int = 1
    cache_dir: Path | None = None  # None: default_cache_dir()
    commands: tuple[str, ...] | None = None  # None: every command (pyx12 when installed)
    memory_mb: float = 1000.0  # size of the streamed memory-check input; 0 skips it
    huge_mb: float = FULL_MB  # size of the single-transaction corpus; 0 skips it
    python: str = sys.executable
    edi_cgt: tuple[str, ...] | None = None  # argv prefix for the CLI; None: found beside python
    jobs: int = 2  # generator worker processes (the bytes are the same for any value)
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """A corpus to generate: its CGT share, approximate size and transaction shape."""

    cgt_share: float
    size_mb: float
    seed: int = 1
    single_transaction: bool = False  # every claim in one ST..SE (the memory check)

    @property
    def label(self) -> str:
        share = f"{self.cgt_share * 100:g}%"
        return f"cgt-{share}" + ("-one-transaction" if self.single_transaction else "")


@dataclass(frozen=True, slots=True)
class Corpus:
    """A generated corpus file and what is in it."""

    spec: CorpusSpec
    path: Path
    size: int  # bytes
    claims: int
    cgt_claims: int
    expected_rejects: int
    transactions: int
    terminator: bytes
    element: bytes

    @property
    def label(self) -> str:
        return self.spec.label

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": str(self.path),
            "bytes": self.size,
            "mb": round(self.size / 1e6, 3),
            "claims": self.claims,
            "cgt_claims": self.cgt_claims,
            "expected_rejects": self.expected_rejects,
            "transactions": self.transactions,
            "cgt_share": self.spec.cgt_share,
            "seed": self.spec.seed,
            "single_transaction": self.spec.single_transaction,
        }


@dataclass(frozen=True, slots=True)
class Command:
    """One thing to time: a name, the child's argv, and the exit codes that mean success."""

    name: str
    argv: tuple[str, ...]
    ok_codes: frozenset[int] = frozenset({0})
    note: str = ""


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
    ratio_split: float | None = None  # MB/s over the naive read+split's MB/s
    ratio_elements: float | None = None  # MB/s over the naive split-into-elements' MB/s

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def mb_s(self) -> float:
        return self.corpus.size / 1e6 / self.median_s

    @property
    def claims_s(self) -> float:
        return self.corpus.claims / self.median_s

    @property
    def peak_rss_mib(self) -> float:
        return max(r.max_rss_kib for r in self.runs) / 1024

    def as_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus.label,
            "command": self.command.name,
            "argv": list(self.command.argv),
            "runs_s": [round(r.seconds, 4) for r in self.runs],
            "median_s": round(self.median_s, 4),
            "mb_s": round(self.mb_s, 3),
            "claims_s": round(self.claims_s, 1),
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

    def as_dict(self) -> dict[str, Any]:
        mb = self.size / 1e6
        return {
            "name": self.name,
            "description": self.description,
            "argv": list(self.argv),
            "bytes": self.size,
            "claims": self.claims,
            "seconds": round(self.run.seconds, 3),
            "mb_s": round(mb / self.run.seconds, 3) if self.run.seconds else None,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "exit_code": self.run.exit_code,
        }


@dataclass(frozen=True, slots=True)
class Target:
    """A goal stated in issue #6, and what this run measured for it."""

    name: str
    measured: float | None  # None: the run did not measure it
    threshold: float
    unit: str  # "x" (a ratio, at least) or "MiB" (at most)

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured < self.threshold if self.unit == "MiB" else self.measured >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured": _round(self.measured), "threshold": self.threshold,
                "unit": self.unit, "passed": self.passed}


@dataclass(slots=True)
class Report:
    """Everything one benchmark run found, for the table and the JSON."""

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
# Corpora
# =============================================================================================
def default_cache_dir() -> Path:
    """bench/.corpus under the current directory when it has a bench/ directory (the repository
    checkout), else $XDG_CACHE_HOME/edi-cgt/bench (~/.cache/edi-cgt/bench)."""
    if Path("bench").is_dir():
        return Path("bench") / ".corpus"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edi-cgt" / "bench"


def _generator_hash() -> str:
    """A short hash of the generator's source: a changed generator makes new cache keys."""
    from . import corpus as _corpus

    return hashlib.sha256(Path(_corpus.__file__).read_bytes()).hexdigest()[:10]


def _bytes_per_claim(spec: CorpusSpec) -> float:
    from .corpus import generate_corpus

    sample = max(200, min(_SAMPLE_CLAIMS, int(spec.size_mb * 1e6 / 600)))
    total = sum(len(chunk) for chunk in generate_corpus(spec.seed, sample, cgt_share=spec.cgt_share))
    return total / sample


def ensure_corpus(spec: CorpusSpec, cache_dir: Path, *, jobs: int = 1,
                  progress: Callable[[str], None] | None = None) -> Corpus:
    """The corpus for `spec`, generated into `cache_dir` unless an identical one is there."""
    from .corpus import write_corpus

    say = progress or (lambda _msg: None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = (f"g{_generator_hash()}-seed{spec.seed}-cgt{spec.cgt_share:g}-{spec.size_mb:g}mb"
           + ("-one-st" if spec.single_transaction else ""))
    path = cache_dir / f"{key}.837"
    meta_path = cache_dir / f"{key}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            return _corpus_from(spec, path, meta)
    n_claims = max(1, round(spec.size_mb * 1e6 / _bytes_per_claim(spec)))
    options: dict[str, Any] = {"cgt_share": spec.cgt_share}
    if spec.single_transaction:
        options.update(claims_per_transaction=n_claims, transactions_per_group=1)
    say(f"generating {path.name}: {n_claims} claims, ~{spec.size_mb:g} MB")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            stats = write_corpus(out, spec.seed, n_claims, jobs=max(1, jobs), **options)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    meta = {"bytes": stats.bytes, "claims": stats.claims, "cgt_claims": stats.cgt_claims,
            "expected_rejects": stats.expected_rejects, "transactions": stats.transactions,
            "n_claims": n_claims, "options": options, "seed": spec.seed}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return _corpus_from(spec, path, meta)


def _corpus_from(spec: CorpusSpec, path: Path, meta: dict[str, Any]) -> Corpus:
    with path.open("rb") as fh:
        head = fh.read(256)
    start = head.find(b"ISA")
    if start < 0 or len(head) < start + 106:
        raise BenchError(f"{path}: does not start with an ISA segment; delete it and run again")
    return Corpus(spec, path, meta["bytes"], meta["claims"], meta["cgt_claims"], meta["expected_rejects"],
                  meta["transactions"], terminator=head[start + 105 : start + 106], element=head[start + 3 : start + 4])


def _site_file(cache_dir: Path) -> Path:
    """The site settings the generated corpora are written for (payers, facility rosters)."""
    from .corpus import site_toml

    path = cache_dir / "site.toml"
    text = site_toml()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


# =============================================================================================
# Commands
# =============================================================================================
_READER_SCRIPT = """\
import sys
from edi_cgt.io import read_chunks
from edi_cgt.x12.reader import iter_segments
n = 0
for _ in iter_segments(read_chunks(sys.argv[1])):
    n += 1
"""

_PYX12_SCRIPT = """\
import sys
import pyx12.x12file
n = 0
for _ in pyx12.x12file.X12Reader(sys.argv[1]):
    n += 1
"""

ALL_COMMANDS = ("cat", "split", "elements", "reader", "pyx12", "claims", "check", "filter", "filter-no-fast")


def edi_cgt_argv(python: str = sys.executable) -> tuple[str, ...]:
    """How to start the installed CLI with this interpreter: its console script beside the
    interpreter (no pyenv/venv shim in between), else `python -m edi_cgt`."""
    script = Path(python).parent / "edi-cgt"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (python, "-m", "edi_cgt")


def pyx12_available(python: str = sys.executable) -> bool:
    probe = subprocess.run([python, "-c", "import pyx12.x12file"], capture_output=True)
    return probe.returncode == 0


def _check_format(cli: Sequence[str]) -> str:
    """`check`'s JSON-lines format name ('jsonl' if the CLI offers it, else 'json')."""
    shown = subprocess.run([*cli, "check", "--help"], capture_output=True, text=True).stdout
    return "jsonl" if "jsonl" in shown else "json"


def filter_argv(cli: Sequence[str], source: str, site: Path, *options: str) -> tuple[str, ...]:
    """`edi-cgt filter` with the clean 837 on stdout (/dev/null in `measure`) and the 277CA
    thrown away (the two outputs must name different places)."""
    return (*cli, "filter", *options, source, "-o", "-", "--rejects", os.devnull, "--site", str(site))


def build_commands(corpus: Corpus, site: Path, *, python: str, cli: Sequence[str],
                   names: Sequence[str], check_format: str = "json") -> list[Command]:
    """The commands to time on `corpus`, in the order given by `names`."""
    f = str(corpus.path)
    term, elem = corpus.terminator, corpus.element
    cli = tuple(cli)
    made = {
        "cat": Command("cat", ("cat", f), note="cat F > /dev/null (the floor)"),
        "split": Command("split", (python, "-c", f"open({f!r},'rb').read().split({term!r})"),
                         note="naive read + split into segments"),
        "elements": Command("elements", (python, "-c", f"data=open({f!r},'rb').read()\n"
                                                       f"[s.split({elem!r}) for s in data.split({term!r})]"),
                            note="naive read + split into segments and elements"),
        "reader": Command("reader", (python, "-c", _READER_SCRIPT, f),
                          note="edi_cgt.x12.reader.iter_segments(read_chunks(F))"),
        "pyx12": Command("pyx12", (python, "-c", _PYX12_SCRIPT, f), note="pyx12.x12file.X12Reader segments"),
        "claims": Command("claims", (*cli, "claims", f), note="edi-cgt claims (JSON line per claim)"),
        "check": Command("check", (*cli, "check", "--format", check_format, "--site", str(site), f),
                         ok_codes=frozenset({0, 1}), note=f"edi-cgt check --format {check_format}"),
        "filter": Command("filter", filter_argv(cli, f, site), ok_codes=frozenset({0, 1, 3}),
                          note="edi-cgt filter (fast path on)"),
        "filter-no-fast": Command("filter-no-fast", filter_argv(cli, f, site, "--no-fast-path"),
                                  ok_codes=frozenset({0, 1, 3}), note="edi-cgt filter --no-fast-path"),
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
            feed: Callable[[Any], None] | None = None, what: str = "", python: str = sys.executable) -> Run:
    """Run argv once as a child (stdout to /dev/null); its wall time, peak RSS and exit code.

    `feed`, if given, writes the child's stdin (then it is closed). Raises BenchError, with
    the end of the child's stderr, when the exit code is not in `ok_codes`."""
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen([python, "-I", "-S", "-c", _TRAMPOLINE, *argv],
                                 stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err, start_new_session=True)
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


def _source_state() -> str:
    """The git commit of the edi_cgt package being measured (with '+dirty' when its files have
    uncommitted changes), or its version when it is not in a git checkout."""
    import edi_cgt

    root = Path(edi_cgt.__file__).resolve().parent.parent
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
    import edi_cgt

    root = Path(edi_cgt.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_benchmark(config: BenchConfig) -> Report:
    """Generate (or reuse) the corpora, time every command on each, run the memory checks."""
    say = config.progress or (lambda _msg: None)
    if config.repeat < 1:
        raise BenchError(f"repeat must be at least 1, got {config.repeat}")
    cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    cli = config.edi_cgt or edi_cgt_argv(config.python)
    names = list(config.commands or ALL_COMMANDS)
    if config.commands is None and not pyx12_available(config.python):
        names.remove("pyx12")
        say("pyx12 is not installed for this interpreter: its reader is left out")
    started = time.perf_counter()
    report = Report(machine=_machine(config, cli), repeat=config.repeat)
    digest = _source_digest()
    report.machine["source_digest"] = digest
    report.load.append({"at": "start", **_load()})
    cache.mkdir(parents=True, exist_ok=True)
    site = _site_file(cache)
    check_format = _check_format(cli) if "check" in names else "json"

    for share in config.shares:
        corpus = ensure_corpus(CorpusSpec(share, config.size_mb, config.seed), cache, jobs=config.jobs,
                               progress=say)
        report.corpora.append(corpus)
        commands = build_commands(corpus, site, python=config.python, cli=cli, names=names,
                                  check_format=check_format)
        results = {c.name: Result(corpus, c) for c in commands}
        _warm(corpus.path)
        report.load.append({"at": f"before {corpus.label}", **_load()})
        for round_ in range(config.repeat):
            k = round_ % len(commands)
            for command in commands[k:] + commands[:k]:
                say(f"{corpus.label} round {round_ + 1}/{config.repeat}: {command.name}")
                results[command.name].runs.append(
                    measure(command.argv, ok_codes=command.ok_codes, what=f"{command.name} on {corpus.path}",
                            python=config.python))
        split, elements = results.get("split"), results.get("elements")
        for result in results.values():
            result.ratio_split = result.mb_s / split.mb_s if split else None
            result.ratio_elements = result.mb_s / elements.mb_s if elements else None
            report.results.append(result)

    if config.memory_mb > 0:
        report.load.append({"at": "before memory checks", **_load()})
        base, stream = _memory_stream(config, cache, cli, site, say)
        if all(c.path != base.path for c in report.corpora):
            report.corpora.append(base)
        report.memory.append(stream)
    if config.huge_mb > 0:
        spec = CorpusSpec(0.005, config.huge_mb, config.seed, single_transaction=True)
        huge = ensure_corpus(spec, cache, jobs=config.jobs, progress=say)
        report.corpora.append(huge)
        _warm(huge.path)
        argv = filter_argv(cli, str(huge.path), site)
        say(f"memory: filter on {huge.label} ({huge.size / 1e6:.0f} MB)")
        run = measure(argv, ok_codes=frozenset({0, 1, 3}), what=f"filter on {huge.path}", python=config.python)
        report.memory.append(MemoryResult("one-transaction", f"filter on {huge.label}: all "
                                          f"{huge.claims} claims in one ST..SE", huge.size, huge.claims, run, argv))
    report.load.append({"at": "end", **_load()})
    if _source_digest() != digest:
        report.warnings.append("edi_cgt's source files changed while the benchmark ran: the figures mix versions; "
                               "run it on a checkout nobody edits")
    report.targets = _targets(report)
    report.seconds = time.perf_counter() - started
    return report


def _memory_stream(config: BenchConfig, cache: Path, cli: Sequence[str], site: Path,
                   say: Callable[[str], None]) -> tuple[Corpus, MemoryResult]:
    """`filter -` on copies of the 0.5%-CGT corpus streamed through a pipe, ~memory_mb in all."""
    base_mb = min(config.size_mb, config.memory_mb)
    base = ensure_corpus(CorpusSpec(0.005, base_mb, config.seed), cache, jobs=config.jobs, progress=say)
    copies = max(1, math.ceil(config.memory_mb * 1e6 / base.size))
    argv = filter_argv(cli, "-", site)
    _warm(base.path)

    def feed(pipe: Any) -> None:
        for _ in range(copies):
            with base.path.open("rb", buffering=0) as fh:
                while chunk := fh.read(_PIPE_CHUNK):
                    pipe.write(chunk)

    say(f"memory: filter - on {copies} copies of {base.path.name} ({copies * base.size / 1e6:.0f} MB)")
    run = measure(argv, ok_codes=frozenset({0, 1, 3}), feed=feed, what="filter - (memory check)",
                  python=config.python)
    return base, MemoryResult("stream", f"filter - on {copies} concatenated copies of {base.label} "
                        f"({base.size / 1e6:.1f} MB each), streamed through a pipe",
                        copies * base.size, copies * base.claims, run, argv)


def _targets(report: Report) -> list[Target]:
    def ratio(label: str, attr: str) -> float | None:
        for r in report.results:
            if r.corpus.label == label and r.command.name == "filter":
                return getattr(r, attr)
        return None

    def rss(name: str) -> float | None:
        return next((m.peak_rss_mib for m in report.memory if m.name == name), None)

    return [
        Target("filter, 0.5% CGT >= 2x naive read+split", ratio("cgt-0.5%", "ratio_split"), 2.0, "x"),
        Target("filter, 2% CGT >= 1x naive split-into-elements", ratio("cgt-2%", "ratio_elements"), 1.0, "x"),
        Target("filter, 100% CGT >= 0.25x naive split-into-elements", ratio("cgt-100%", "ratio_elements"),
               0.25, "x"),
        Target(f"filter peak RSS < {MEMORY_LIMIT_MIB:g} MiB, ~1 GB streamed", rss("stream"), MEMORY_LIMIT_MIB, "MiB"),
        Target(f"filter peak RSS < {MEMORY_LIMIT_MIB:g} MiB, one huge transaction", rss("one-transaction"),
               MEMORY_LIMIT_MIB, "MiB"),
    ]


# =============================================================================================
# Output
# =============================================================================================
def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def format_report(report: Report) -> str:
    """The report as plain-text tables."""
    out: list[str] = []
    m = report.machine
    out.append(f"edi-cgt benchmark ({m['edi_cgt_source']}): {m['platform']}, Python {m['python']}, {m['cpus']} CPUs; "
               f"median of {report.repeat} runs per figure; whole processes (start-up included)")
    out.extend(f"WARNING: {w}" for w in report.warnings)
    out.append("load averages (1/5/15 min): " + "; ".join(
        f"{entry['at']} {entry['load1']}/{entry['load5']}/{entry['load15']}" for entry in report.load))
    for corpus in report.corpora:
        rows = []
        for r in (r for r in report.results if r.corpus is corpus):
            runs = [x.seconds for x in r.runs]
            rows.append([r.command.name, _fmt(r.median_s, 3), f"{min(runs):.3f}-{max(runs):.3f}", _fmt(r.mb_s, 1),
                         _fmt(r.claims_s, 0), _fmt(r.peak_rss_mib, 1), _fmt(r.ratio_split, 3),
                         _fmt(r.ratio_elements, 3)])
        if not rows:
            continue
        out.append("")
        out.append(f"{corpus.label}: {corpus.size / 1e6:.1f} MB, {corpus.claims:,} claims "
                   f"({corpus.cgt_claims:,} CGT, {corpus.expected_rejects:,} meant to be rejected), "
                   f"{corpus.transactions:,} transactions  [{corpus.path.name}]")
        out.append(_table(["command", "median s", "range s", "MB/s", "claims/s", "peak RSS MiB", "x split",
                           "x elements"], rows, [False] + [True] * 7))
    if report.memory:
        out.append("")
        out.append("memory (one run each)")
        rows = [[mr.name, _fmt(mr.size / 1e6, 1), f"{mr.run.seconds:.1f}",
                 _fmt(mr.size / 1e6 / mr.run.seconds if mr.run.seconds else None, 1),
                 _fmt(mr.peak_rss_mib, 1), mr.description] for mr in report.memory]
        out.append(_table(["check", "MB", "seconds", "MB/s", "peak RSS MiB", "input"], rows,
                          [False, True, True, True, True, False]))
    if report.targets:
        out.append("")
        out.append("targets (issue #6; reported, not asserted)")
        rows = [[t.name, _fmt(t.measured, 3) + ("x" if t.unit == "x" and t.measured is not None else
                                                 (" MiB" if t.measured is not None else "")),
                 {True: "pass", False: "MISS", None: "not measured"}[t.passed]] for t in report.targets]
        out.append(_table(["target", "measured", "result"], rows, [False, True, False]))
    out.append("")
    out.append("commands: " + "; ".join(f"{c.name} = {c.note}" for c in _unique_commands(report)))
    return "\n".join(out)


def _unique_commands(report: Report) -> list[Command]:
    seen: dict[str, Command] = {}
    for r in report.results:
        seen.setdefault(r.command.name, r.command)
    return list(seen.values())


def write_json(report: Report, path: str | os.PathLike) -> None:
    text = json.dumps(report.as_dict(), indent=1) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        return
    Path(path).write_text(text)


def config_from(**kwargs: Any) -> BenchConfig:
    """A BenchConfig from keyword options, ignoring the ones left as None."""
    fields = {f.name for f in dataclasses.fields(BenchConfig)}
    return BenchConfig(**{k: v for k, v in kwargs.items() if k in fields and v is not None})
