# The corpora the benchmark measures: which builder, which shape, which CGT share, and how each
# corpus file is made once and cached.
#
# Strategy: a corpus is named by its shape (CorpusShape: builder, 837P/837I, claims per
# transaction, lines per claim, 2000C patients, delimiters, CGT share), and MATRIX lists the
# shapes a run measures. Every dimension varies somewhere in it, and each CGT share that has a
# target (0%, 0.5%, 100%) is measured on shapes of both builders: bench.corpus, the project's
# own generator, and bench.shapes, which replicates real claims from public 837 files. A corpus
# file is generated deterministically and kept in a cache under a key made of the shape, the
# size, the seed and a hash of the builder's source (and, for bench.shapes, of its template
# files), so a changed builder never reuses stale bytes; a JSON record beside each file holds
# its counts.
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LAYOUTS",
    "CorpusShape",
    "Corpus",
    "MATRIX",
    "STREAM_SHAPE",
    "ONE_TRANSACTION_SHAPES",
    "select",
    "default_cache_dir",
    "ensure_corpus",
    "site_file",
]

# Delimiters and line breaks: (element, component, repetition, terminator, line break).
LAYOUTS: dict[str, tuple[str, str, str, str, str]] = {
    "~": ("*", ":", "^", "~", ""),
    "~LF": ("*", ":", "^", "~", "\n"),
    "~CRLF": ("*", ":", "^", "~", "\r\n"),
    "|>LF-terminated": ("|", ">", "^", "\n", ""),
    "0x1D-terminated": ("*", ":", "^", "\x1d", ""),
}
ONE_TRANSACTION = 0  # CorpusShape.per_transaction: every claim in a single ST..SE
_SAMPLE_CLAIMS = 2000  # bench.corpus claims made once to learn a shape's bytes per claim


@dataclass(frozen=True, slots=True)
class CorpusShape:
    """What one corpus looks like, and which builder makes it."""

    builder: str  # "corpus" (bench.corpus) or "shapes" (bench.shapes)
    kind: str  # "P", "I", or "mixed" (bench.corpus only: each group 837I with 30% chance)
    per_transaction: int  # claims per ST..SE; ONE_TRANSACTION: all of them in one
    lines: tuple[int, int]  # service lines per claim (bench.corpus: its routine claims)
    patients: float  # share of claims under a 2000C patient (bench.corpus: its dependent share)
    cgt_share: float  # 1.0: every claim a CGT claim rejected for two rules
    layout: str = "~"  # a LAYOUTS key

    def __post_init__(self) -> None:
        if self.builder not in ("corpus", "shapes"):
            raise ValueError(f"builder must be 'corpus' or 'shapes', got {self.builder!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; known: {', '.join(LAYOUTS)}")
        if self.kind == "mixed" and self.builder != "corpus":
            raise ValueError("only bench.corpus makes mixed 837P/837I corpora")

    @property
    def share_text(self) -> str:
        return f"{self.cgt_share * 100:g}%"

    @property
    def _lines_text(self) -> str:
        lo, hi = self.lines
        return f"{lo} line{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} lines"

    @property
    def label(self) -> str:
        """For people: `shapes 837P 2000/tx 4 lines 2000C:all ~ CGT 0.5%`."""
        kind = "837P+I" if self.kind == "mixed" else f"837{self.kind}"
        per = "1 tx" if self.per_transaction == ONE_TRANSACTION else f"{self.per_transaction}/tx"
        patients = {0.0: "2000C:none", 1.0: "2000C:all"}.get(self.patients, f"2000C:{self.patients:.0%}")
        return f"{self.builder} {kind} {per} {self._lines_text} {patients} {self.layout} CGT {self.share_text}"

    @property
    def name(self) -> str:
        """For --shapes and cache keys: `shapes-P-2000tx-4l-pat100-tilde-cgt0.5`."""
        per = "onetx" if self.per_transaction == ONE_TRANSACTION else f"{self.per_transaction}tx"
        lo, hi = self.lines
        layout = {"~": "tilde", "~LF": "tilde-lf", "~CRLF": "tilde-crlf", "|>LF-terminated": "pipe-nl",
                  "0x1D-terminated": "gs"}[self.layout]
        return (f"{self.builder}-{self.kind}-{per}-{lo}{'' if lo == hi else f'to{hi}'}l-pat{self.patients * 100:g}"
                f"-{layout}-cgt{self.cgt_share * 100:g}")


def _s(builder: str, kind: str, per: int, lines: tuple[int, int], patients: float, share: float,
       layout: str = "~") -> CorpusShape:
    return CorpusShape(builder, kind, per, lines, patients, share, layout)


# Shapes of a full run (~100 MB each, 3 rounds: about 35 minutes on 2 vCPUs). Each CGT share with
# a target is measured on both builders; every dimension takes several values.
MATRIX: tuple[CorpusShape, ...] = (
    # 0.5% CGT: filter >= 0.5x naive read+split on every one
    _s("corpus", "mixed", 500, (2, 6), 0.3, 0.005),  # the project generator's defaults
    _s("shapes", "P", 2000, (4, 4), 1.0, 0.005),  # issue 11's report: 2,000/tx, 4 lines, patients
    _s("shapes", "P", 100, (1, 1), 0.0, 0.005, "~LF"),
    _s("shapes", "P", 5000, (1, 6), 0.0, 0.005, "|>LF-terminated"),
    _s("shapes", "I", 500, (1, 6), 1.0, 0.005, "~CRLF"),
    _s("corpus", "I", 5000, (1, 1), 0.0, 0.005, "0x1D-terminated"),
    _s("corpus", "P", 100, (4, 4), 1.0, 0.005),
    # 0% CGT: filter >= 0.8x naive read+split
    _s("corpus", "P", 2000, (4, 4), 1.0, 0.0),
    _s("shapes", "P", 2000, (4, 4), 1.0, 0.0),
    _s("shapes", "I", 100, (1, 1), 0.0, 0.0, "~LF"),
    # 100% CGT, every claim rejected for two rules: filter >= 0.25x naive split into elements
    _s("corpus", "mixed", 500, (2, 6), 0.3, 1.0),
    _s("shapes", "P", 2000, (4, 4), 1.0, 1.0),
    _s("shapes", "I", 500, (1, 6), 0.0, 1.0, "~CRLF"),
)
# The memory checks: copies of this corpus streamed through `filter -` (~1 GB) ...
STREAM_SHAPE = _s("shapes", "P", 2000, (4, 4), 1.0, 0.005)
# ... and `filter` on a single ~100 MB transaction, at 0.5% and with every claim rejected.
ONE_TRANSACTION_SHAPES = (
    _s("shapes", "P", ONE_TRANSACTION, (4, 4), 1.0, 0.005),
    _s("shapes", "P", ONE_TRANSACTION, (1, 6), 0.0, 1.0),
)


def select(patterns: Sequence[str] | None, shapes: Sequence[CorpusShape] = MATRIX) -> list[CorpusShape]:
    """The shapes whose name matches any pattern: a glob (`shapes-I-*`) or a substring
    (`cgt0.5`, `2000tx`); all of them when `patterns` is empty."""
    if not patterns:
        return list(shapes)
    globbed = ("*", "?", "[")
    return [s for s in shapes
            if any(fnmatch.fnmatchcase(s.name, p) if any(c in p for c in globbed) else p in s.name for p in patterns)]


@dataclass(frozen=True, slots=True)
class Corpus:
    """A generated corpus file and what is in it."""

    shape: CorpusShape
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
        return self.shape.label

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.shape.name,
            "shape": asdict(self.shape),
            "path": str(self.path),
            "bytes": self.size,
            "mb": round(self.size / 1e6, 3),
            "claims": self.claims,
            "cgt_claims": self.cgt_claims,
            "expected_rejects": self.expected_rejects,
            "transactions": self.transactions,
        }


# =============================================================================================
# Making corpora
# =============================================================================================
def default_cache_dir() -> Path:
    """bench/.corpus under the current directory when it has a bench/ directory (the repository
    checkout), else $XDG_CACHE_HOME/edi-cgt/bench (~/.cache/edi-cgt/bench)."""
    if Path("bench").is_dir():
        return Path("bench") / ".corpus"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edi-cgt" / "bench"


def _builder_digest(shape: CorpusShape) -> str:
    """A short hash of what decides the builder's bytes: its source (and the template files)."""
    from . import corpus, shapes

    module = corpus if shape.builder == "corpus" else shapes
    digest = hashlib.sha256(Path(module.__file__).read_bytes())
    if shape.builder == "shapes":
        digest.update(shapes.templates_digest().encode())
    return digest.hexdigest()[:10]


def _corpus_options(shape: CorpusShape, n_claims: int) -> dict[str, Any]:
    from .corpus import Format

    element, component, repetition, segment, newline = LAYOUTS[shape.layout]
    options: dict[str, Any] = {
        "kind": shape.kind, "cgt_share": shape.cgt_share, "lines_per_claim": shape.lines,
        "dependent_share": shape.patients, "fmt": Format(element, component, repetition, segment, newline),
        "claims_per_transaction": n_claims if shape.per_transaction == ONE_TRANSACTION else shape.per_transaction,
    }
    if shape.per_transaction == ONE_TRANSACTION:
        options["transactions_per_group"] = 1
    if shape.cgt_share == 1.0:  # every claim rejected, for two rules
        options["violation_mix"] = {"no-tar-wrong-setting": 1.0}
    return options


def _write_corpus_builder(out: Any, shape: CorpusShape, size_mb: float, seed: int, jobs: int) -> dict[str, Any]:
    from .corpus import generate_corpus, write_corpus

    sample = max(200, min(_SAMPLE_CLAIMS, int(size_mb * 1e6 / 600)))
    per_claim = sum(len(c) for c in generate_corpus(seed, sample, **_corpus_options(shape, sample))) / sample
    n_claims = max(1, round(size_mb * 1e6 / per_claim))
    stats = write_corpus(out, seed, n_claims, jobs=max(1, jobs), **_corpus_options(shape, n_claims))
    return {"bytes": stats.bytes, "claims": stats.claims, "cgt_claims": stats.cgt_claims,
            "expected_rejects": stats.expected_rejects, "transactions": stats.transactions}


def _write_shapes_builder(out: Any, shape: CorpusShape, size_mb: float, seed: int) -> dict[str, Any]:
    from . import shapes

    element, component, repetition, segment, newline = LAYOUTS[shape.layout]
    per = 10**9 if shape.per_transaction == ONE_TRANSACTION else shape.per_transaction
    spec = shapes.Shape(shape.kind, per, shape.lines, shape.patients, shape.cgt_share,
                        shapes.Delimiters(element, component, repetition, segment, newline), seed=seed)
    stats = shapes.build(out, spec, shapes.read_templates(), size=max(1, int(size_mb * 1e6)))
    return {"bytes": stats.bytes, "claims": stats.claims, "cgt_claims": stats.cgt_claims,
            "expected_rejects": stats.expected_rejects, "transactions": stats.transactions,
            "templates": stats.templates, "template_files": stats.sources}


def ensure_corpus(shape: CorpusShape, size_mb: float, cache_dir: Path, *, seed: int = 1, jobs: int = 1,
                  progress: Callable[[str], None] | None = None) -> Corpus:
    """The corpus of `shape` (about `size_mb` MB), generated into `cache_dir` unless an
    identical one is there."""
    say = progress or (lambda _msg: None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = f"{shape.name}-{size_mb:g}mb-seed{seed}-g{_builder_digest(shape)}"
    path, meta_path = cache_dir / f"{key}.837", cache_dir / f"{key}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            return _corpus_from(shape, path, meta)
    say(f"generating {shape.label}, ~{size_mb:g} MB ({path.name})")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            if shape.builder == "corpus":
                meta = _write_corpus_builder(out, shape, size_mb, seed, jobs)
            else:
                meta = _write_shapes_builder(out, shape, size_mb, seed)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    meta.update(seed=seed, size_mb=size_mb, shape=asdict(shape))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return _corpus_from(shape, path, meta)


def _corpus_from(shape: CorpusShape, path: Path, meta: dict[str, Any]) -> Corpus:
    element, _, _, terminator, _ = LAYOUTS[shape.layout]
    with path.open("rb") as fh:
        head = fh.read(256)
    if not head.lstrip(b"\xef\xbb\xbf").startswith(b"ISA") or head.find(b"ISA") + 106 > len(head):
        raise ValueError(f"{path}: does not start with an ISA segment; delete it and run again")
    return Corpus(shape, path, meta["bytes"], meta["claims"], meta["cgt_claims"], meta["expected_rejects"],
                  meta["transactions"], terminator=terminator.encode(), element=element.encode())


def site_file(cache_dir: Path) -> Path:
    """The site settings every corpus is filtered with (bench.corpus's payers and rosters; the
    bench.shapes recipes reject without any site setting)."""
    from .corpus import site_toml

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / "site.toml"
    text = site_toml()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
