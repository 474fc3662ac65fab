# Smoke tests of the benchmark runner and `edi-cgt bench`: tiny corpora, one round, real
# child processes. They check the shape and sanity of what is reported, never how fast it is.
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import runner
from bench.corpus import generate_corpus
from bench.cli import bench as main

RESULT_KEYS = {"corpus", "command", "argv", "runs_s", "median_s", "mb_s", "claims_s", "peak_rss_mib",
               "ratio_to_split", "ratio_to_elements", "exit_codes"}


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> runner.Report:
    config = runner.BenchConfig(size_mb=0.05, shares=(1.0,), repeat=1,
                                commands=("cat", "split", "elements", "reader", "filter"),
                                memory_mb=0.12, huge_mb=0.05, jobs=1,
                                cache_dir=tmp_path_factory.mktemp("bench-cache"))
    return runner.run_benchmark(config)


def test_report_has_every_command_with_positive_figures(tiny_report: runner.Report) -> None:
    corpus = tiny_report.corpora[0]
    assert corpus.label == "cgt-100%"
    assert corpus.cgt_claims == corpus.claims > 0 and corpus.expected_rejects > 0 and corpus.size > 20_000
    assert corpus.terminator == b"~" and corpus.element == b"*"
    names = [r.command.name for r in tiny_report.results]
    assert names == ["cat", "split", "elements", "reader", "filter"]
    for r in tiny_report.results:
        assert len(r.runs) == 1
        assert r.median_s > 0 and r.mb_s > 0 and r.claims_s > 0 and r.peak_rss_mib > 0
        assert r.ratio_split is not None and r.ratio_split > 0
        assert r.ratio_elements is not None and r.ratio_elements > 0
    split = next(r for r in tiny_report.results if r.command.name == "split")
    assert split.ratio_split == pytest.approx(1.0)
    # filter found the corpus' intended rejections: exit status 1, which the runner accepts
    assert next(r for r in tiny_report.results if r.command.name == "filter").runs[0].exit_code == 1


def test_memory_checks_stream_copies_and_one_transaction(tiny_report: runner.Report) -> None:
    stream, huge = tiny_report.memory
    base = next(c for c in tiny_report.corpora if c.label == "cgt-0.5%")
    assert stream.name == "stream" and stream.size >= 120_000 and stream.size % base.size == 0
    assert stream.claims == base.claims * (stream.size // base.size)
    assert huge.name == "one-transaction" and tiny_report.corpora[-1].transactions == 1
    assert stream.peak_rss_mib > 0 and huge.peak_rss_mib > 0


def test_targets_measured_only_for_corpora_in_the_run(tiny_report: runner.Report) -> None:
    by_name = {t.name: t for t in tiny_report.targets}
    assert len(by_name) == 5
    measured = by_name["filter, 100% CGT >= 0.25x naive split-into-elements"]
    filter_ = next(r for r in tiny_report.results if r.command.name == "filter")
    assert measured.measured == filter_.ratio_elements and measured.passed in (True, False)
    assert by_name["filter, 2% CGT >= 1x naive split-into-elements"].passed is None  # no 2% corpus in this run
    assert by_name["filter, 0.5% CGT >= 2x naive read+split"].measured is None
    assert by_name["filter peak RSS < 64 MiB, ~1 GB streamed"].measured == tiny_report.memory[0].peak_rss_mib


def test_table_and_json(tiny_report: runner.Report, tmp_path: Path) -> None:
    text = runner.format_report(tiny_report)
    for word in ("cgt-100%", "MB/s", "claims/s", "peak RSS MiB", "x split", "x elements", "load averages",
                 "targets", "memory"):
        assert word in text
    path = tmp_path / "report.json"
    runner.write_json(tiny_report, path)
    data = json.loads(path.read_text())
    assert set(data) == {"machine", "repeat", "seconds", "load", "warnings", "corpora", "results", "memory", "targets"}
    assert data["machine"]["cpus"] >= 1 and data["load"][0]["at"] == "start"
    assert all(set(r) == RESULT_KEYS for r in data["results"])
    assert all(r["mb_s"] > 0 and r["claims_s"] > 0 for r in data["results"])
    assert {m["name"] for m in data["memory"]} == {"stream", "one-transaction"}


def test_corpus_is_cached_by_its_options(tmp_path: Path) -> None:
    spec = runner.CorpusSpec(0.02, 0.03, seed=5)
    first = runner.ensure_corpus(spec, tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = runner.ensure_corpus(spec, tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    other = runner.ensure_corpus(runner.CorpusSpec(0.02, 0.03, seed=6), tmp_path)
    assert other.path != first.path
    assert first.path.read_bytes() == b"".join(generate_corpus(5, first.claims, cgt_share=0.02))


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


def test_cli_generate_passes_options_to_the_generator(tmp_path: Path) -> None:
    out = tmp_path / "c.837"
    result = CliRunner().invoke(main, ["generate", "--seed", "3", "--claims", "25", "--cgt-share", "0.2",
                                       "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"".join(generate_corpus(3, 25, cgt_share=0.2))


def test_cli_run_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["run", "--size-mb", "0.03", "--shares", "0", "-r", "1",
                                       "--commands", "split,filter", "--memory-mb", "0", "--huge-mb", "0",
                                       "--cache", str(tmp_path / "cache"), "--json", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "cgt-0%" in result.output and "filter" in result.output
    data = json.loads(out.read_text())
    assert [r["command"] for r in data["results"]] == ["split", "filter"]
    assert data["memory"] == []


def test_cli_run_rejects_unknown_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--commands", "split,nope", "--cache", str(tmp_path)])
    assert result.exit_code == 2
    assert "nope" in result.output
