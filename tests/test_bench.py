# Smoke tests of the benchmark (bench/run.py, bench.runner, bench.matrix): tiny corpora from
# both builders, a few shapes, one round, real child processes. They check what is reported
# (shapes, keys, every figure positive, each target judged on the shapes it applies to), never
# how fast anything is.
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import matrix, report, runner
from bench.cli import run as cli_run
from bench.corpus import generate_corpus
from support import ROOT, check_envelope_and_hl

RESULT_KEYS = {"corpus", "command", "argv", "runs_s", "median_s", "mb_s", "us_per_claim", "peak_rss_mib",
               "ratio_to_split", "ratio_to_elements", "exit_codes"}
SHAPES = (
    matrix.CorpusShape("corpus", "mixed", 500, (2, 6), 0.3, 1.0),
    matrix.CorpusShape("shapes", "P", 2000, (4, 4), 1.0, 0.005),
    matrix.CorpusShape("shapes", "I", 100, (1, 1), 0.0, 0.0, "~LF"),
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> runner.Report:
    config = runner.BenchConfig(size_mb=0.06, shapes=SHAPES, repeat=1, memory_mb=0.15, huge_mb=0.05, jobs=1,
                                cache_dir=tmp_path_factory.mktemp("bench-cache"))
    return runner.run_benchmark(config)


def test_every_shape_and_command_with_positive_figures(tiny: runner.Report) -> None:
    assert [c.shape for c in tiny.corpora] == list(SHAPES)
    for corpus in tiny.corpora:
        assert corpus.size > 50_000 and corpus.claims > 0
        assert check_envelope_and_hl(corpus.path.read_bytes())["CLM"] == corpus.claims
    every_rejected = tiny.corpora[0]
    assert every_rejected.cgt_claims == every_rejected.expected_rejects == every_rejected.claims
    assert tiny.corpora[2].terminator == b"~" and tiny.corpora[2].cgt_claims == 0
    names = [r.command.name for r in tiny.results]
    assert names == list(runner.DEFAULT_COMMANDS) * len(SHAPES)
    for r in tiny.results:
        assert len(r.runs) == 1 and r.median_s > 0 and r.peak_rss_mib > 0
        assert r.ratio_split is not None and r.ratio_split > 0 and r.ratio_elements is not None and r.ratio_elements > 0
        if r.command.name == "version":  # start-up alone: no input, so no MB/s
            assert r.mb_s is None and r.us_per_claim is None
        else:
            assert r.mb_s is not None and r.mb_s > 0 and r.us_per_claim is not None and r.us_per_claim > 0
        if r.command.name == "split":
            assert r.ratio_split == pytest.approx(1.0)
        if r.command.name in ("filter", "read-all"):  # the rejected claims: exit 1, which the runner accepts
            assert r.runs[0].exit_code == (1 if r.corpus.expected_rejects else 0)


def test_memory_checks_stream_copies_and_single_transactions(tiny: runner.Report) -> None:
    stream, *single = tiny.memory
    assert stream.name == "stream" and stream.size >= 150_000 and stream.claims > 0
    assert [m.name for m in single] == ["one transaction, CGT 0.5%", "one transaction, CGT 100%"]
    for m in tiny.memory:
        assert m.peak_rss_mib > 0 and m.run.seconds > 0 and m.run.exit_code in (0, 1)
    assert "in one ST..SE" in single[0].description


def test_targets_judged_on_every_shape_they_apply_to(tiny: runner.Report) -> None:
    by = {}
    for t in tiny.targets:
        by.setdefault(t.spec.name, []).append(t)
    assert list(by) == [spec.name for spec in runner.TARGETS]
    half, zero, full, memory = (by[spec.name] for spec in runner.TARGETS)
    filters = {r.corpus.shape: r for r in tiny.results if r.command.name == "filter"}
    assert [(t.subject, t.measured) for t in half] == [(SHAPES[1].label, filters[SHAPES[1]].ratio_split)]
    assert [(t.subject, t.measured) for t in zero] == [(SHAPES[2].label, filters[SHAPES[2]].ratio_split)]
    assert [(t.subject, t.measured) for t in full] == [(SHAPES[0].label, filters[SHAPES[0]].ratio_elements)]
    assert [t.measured for t in memory] == [m.peak_rss_mib for m in tiny.memory]
    assert all(t.passed in (True, False) for t in tiny.targets)


def test_a_target_without_its_shape_is_not_measured(tiny: runner.Report) -> None:
    partial = runner.Report(machine=tiny.machine, results=[r for r in tiny.results if r.corpus.shape is SHAPES[2]])
    rows = runner.judge(partial)
    assert [t.spec for t in rows] == list(runner.TARGETS)
    assert [t.subject for t in rows] == ["", SHAPES[2].label, "", ""]
    assert [t.passed is None for t in rows] == [True, False, True, True]


def test_table_and_json(tiny: runner.Report, tmp_path: Path) -> None:
    text = report.format_report(tiny)
    for word in ("MB/s", "us/claim", "peak RSS MiB", "x split", "x elements", "load averages", "filter across shapes",
                 "memory (one run each)", "targets (issue 11", "0.5% CGT: filter >= 0.5x", *(s.label for s in SHAPES)):
        assert word in text
    assert text.count("    met   ") + text.count("    MISSED") == len(tiny.targets)
    path = tmp_path / "report.json"
    report.write_json(tiny, path)
    data = json.loads(path.read_text())
    assert set(data) == {"machine", "repeat", "seconds", "load", "warnings", "corpora", "results", "memory", "targets"}
    assert data["machine"]["cpus"] >= 1 and data["machine"]["edi_cgt_source"] and data["load"][0]["at"] == "start"
    assert {c["shape"]["builder"] for c in data["corpora"]} == {"corpus", "shapes"}
    assert all(set(r) == RESULT_KEYS for r in data["results"])
    assert all(r["median_s"] > 0 and (r["mb_s"] is None or r["mb_s"] > 0) for r in data["results"])
    assert {t["met"] for t in data["targets"]} <= {True, False}


def test_matrix_varies_every_dimension() -> None:
    shapes = matrix.MATRIX
    assert {s.builder for s in shapes} == {"corpus", "shapes"}
    assert {100, 500, 2000, 5000} <= {s.per_transaction for s in shapes}
    assert {(1, 1), (4, 4), (1, 6)} <= {s.lines for s in shapes}
    assert {0.0, 1.0} <= {s.patients for s in shapes} and {"P", "I"} <= {s.kind for s in shapes}
    assert len({s.layout for s in shapes}) >= 4
    for share in (0.0, 0.005, 1.0):  # each target's share is measured on both builders
        assert {s.builder for s in shapes if s.cgt_share == share} == {"corpus", "shapes"}
    assert len({s.name for s in shapes}) == len(shapes)
    assert matrix.select(["cgt100"]) == [s for s in shapes if s.cgt_share == 1.0]
    assert matrix.select(["shapes-I-*"]) == [s for s in shapes if s.builder == "shapes" and s.kind == "I"]


def test_corpus_is_cached_by_shape_seed_and_builder(tmp_path: Path) -> None:
    shape = matrix.CorpusShape("corpus", "P", 100, (1, 2), 0.0, 0.02)
    first = matrix.ensure_corpus(shape, 0.03, tmp_path, seed=5)
    stamp = first.path.stat().st_mtime_ns
    again = matrix.ensure_corpus(shape, 0.03, tmp_path, seed=5)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert matrix.ensure_corpus(shape, 0.03, tmp_path, seed=6).path != first.path
    options = matrix._corpus_options(shape, first.claims)
    assert first.path.read_bytes() == b"".join(generate_corpus(5, first.claims, **options))


def test_peak_rss_is_the_child_alone() -> None:
    # The runner holding 150 MB must not show up in a small child's figure (see _TRAMPOLINE).
    ballast = bytearray(150 << 20)
    ballast[:: 4096] = b"\x01" * len(ballast[:: 4096])
    small = runner.measure([sys.executable, "-c", "pass"])
    big = runner.measure([sys.executable, "-c", "b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096])"])
    assert small.max_rss_kib < 100 << 10
    assert big.max_rss_kib >= 120 << 10
    assert len(ballast) == 150 << 20


def test_failing_command_is_reported_with_its_status() -> None:
    with pytest.raises(runner.BenchError, match=r"exited with status 5: boom"):
        runner.measure([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(5)"], what="demo")


def test_the_cli_measured_is_the_package_the_runner_imported() -> None:
    import edi_cgt

    where = subprocess.run([sys.executable, "-c", "import edi_cgt; print(edi_cgt.__file__)"], capture_output=True,
                           text=True, env=runner.child_env(), cwd="/")
    assert Path(where.stdout.strip()).resolve() == Path(edi_cgt.__file__).resolve()
    shown = subprocess.run([*runner.edi_cgt_argv(), "--version"], capture_output=True, env=runner.child_env(), cwd="/")
    assert shown.returncode == 0 and shown.stdout.strip()


def test_run_py_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--size-mb", "0.03", "--shapes",
                           "shapes-P-100tx,corpus-P-2000tx", "-r", "1", "--commands", "split,filter,version",
                           "--memory-mb", "0", "--huge-mb", "0", "--cache", str(tmp_path / "cache"), "--json", str(out),
                           "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "shapes 837P 100/tx" in done.stdout and "corpus 837P 2000/tx" in done.stdout and "targets" in done.stdout
    data = json.loads(out.read_text())
    assert [r["command"] for r in data["results"]] == ["split", "filter", "version"] * 2
    assert data["memory"] == [] and {t["target"] for t in data["targets"] if t["met"] is None} == {
        runner.TARGETS[2].name, runner.TARGETS[3].name}


def test_cli_lists_shapes_and_refuses_unknown_names(tmp_path: Path) -> None:
    listed = CliRunner().invoke(cli_run, ["--list", "--shapes", "cgt100"])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 3
    bad = CliRunner().invoke(cli_run, ["--commands", "split,nope", "--cache", str(tmp_path)])
    assert bad.exit_code == 2 and "nope" in bad.output
    none = CliRunner().invoke(cli_run, ["--shapes", "no-such-shape", "--cache", str(tmp_path)])
    assert none.exit_code == 2 and "matches no shape" in none.output
