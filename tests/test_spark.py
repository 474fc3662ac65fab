# The Spark engine gives what the local engine gives, on a small archive and a local[2] master.
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (java is not on PATH)", allow_module_level=True)

from bench.corpus import generate_corpus  # noqa: E402
from edi_cgt.replay import ReplayConfig, discover_inputs, replay_local  # noqa: E402
from edi_cgt.spark import build_session, replay_spark  # noqa: E402

N_FILES = 30
COMPARED = ("summary.json", "files.csv", "rejections.csv", "warnings.csv", "report.html")


@pytest.fixture(scope="module")
def spark():
    session = build_session("local[2]", app_name="edi-cgt tests", conf={
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.memory": "1g",
    })
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("spark-archive")
    for i in range(N_FILES):
        data = b"".join(generate_corpus(300 + i, 6 + i % 7, cgt_share=0.3, claims_per_transaction=4))
        if i % 3 == 0:
            (root / f"f{i:02d}.837.gz").write_bytes(gzip.compress(data))
        else:
            (root / f"f{i:02d}.837").write_bytes(data)
    (root / "broken.837").write_bytes(b"not x12 at all")
    (root / "broken.837.gz").write_bytes(gzip.compress(b"ISA*00*")[:-5])
    return discover_inputs([str(root)])


def test_spark_replay_equals_local_replay(spark, archive: list[str], tmp_path: Path) -> None:
    local = tmp_path / "local"
    dist = tmp_path / "spark"
    replay_local(archive, ReplayConfig(str(local)), jobs=2)
    run = replay_spark(archive, ReplayConfig(str(dist)), spark=spark)
    assert run.processed == len(archive) and run.skipped == 0
    for name in COMPARED:
        assert (local / name).read_bytes() == (dist / name).read_bytes(), name
    acks = sorted(p.relative_to(local) for p in (local / "acks").rglob("*.277"))
    assert acks and acks == sorted(p.relative_to(dist) for p in (dist / "acks").rglob("*.277"))
    summary = json.loads((dist / "summary.json").read_text())
    # broken.837 is not X12 (skipped as not an 837); broken.837.gz is a truncated gzip (unreadable)
    assert summary["totals"]["files_unreadable"] == 1 and summary["totals"]["rejected"] > 0
    assert [p.rsplit("/", 1)[-1] for p, _ in run.ignored] == ["broken.837"]

    table = spark.read.parquet(str(dist / "summary.parquet"))
    rows = {r["file"]: r for r in table.collect()}
    assert set(rows) == set(archive) - {p for p, _ in run.ignored}
    assert sum(r["rejected"] for r in rows.values()) == summary["totals"]["rejected"]
    assert sum(r["claims_in"] for r in rows.values()) == summary["totals"]["claims_in"]
    assert sum(1 for r in rows.values() if r["error"]) == 1

    # A second run skips everything and rebuilds the same summary.
    again = replay_spark(archive, ReplayConfig(str(dist)), spark=spark)
    assert again.processed == 0 and again.skipped == len(archive)
    assert (local / "summary.json").read_bytes() == (dist / "summary.json").read_bytes()


def test_spark_replays_the_pieces_of_a_big_file_as_the_whole_file(spark, tmp_path: Path) -> None:
    import datetime as dt

    from edi_cgt.replay import cut

    big = tmp_path / "big.837"
    big.write_bytes(b"".join(generate_corpus(41, 500, cgt_share=0.3, claims_per_transaction=4,
                                             transactions_per_group=1000)))
    now = dt.datetime(2025, 7, 1, 12, 0)
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    replay_local([str(big)], ReplayConfig(str(whole), split_bytes=0, now=now), jobs=1)
    size = big.stat().st_size // 6
    assert len(cut(str(big), big.stat().st_size, size)) >= 5
    run = replay_spark([str(big)], ReplayConfig(str(pieces), split_bytes=size, now=now), spark=spark)
    assert run.processed == 1 and run.summary["totals"]["rejected"] > 0
    for name in COMPARED:
        assert (whole / name).read_bytes() == (pieces / name).read_bytes(), name
    assert [p.read_bytes() for p in sorted(whole.rglob("*.277"))] == [p.read_bytes() for p in sorted(pieces.rglob("*.277"))]


def test_balance_packs_by_bytes() -> None:
    from edi_cgt.spark import balance

    sizes = {"a": 100, "b": 60, "c": 50, "d": 40, "e": 10, "f": 10}
    bins = balance(list(sizes), 3, size=sizes.__getitem__)
    loads = sorted(sum(sizes[u] for u in b) for b in bins)
    assert loads == [80, 90, 100] and sorted(u for b in bins for u in b) == sorted(sizes)


def test_spark_submit_runs_the_module_file_with_the_replay_options(tmp_path: Path) -> None:
    import os
    import subprocess

    submit = shutil.which("spark-submit")
    if submit is None:
        pytest.skip("spark-submit is not on PATH")
    from support import FIXTURES, ROOT, run_cli

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(FIXTURES / "cgt_837p_mixed.837", src)
    env = dict(os.environ, PYTHONPATH=str(ROOT), SOURCE_DATE_EPOCH="1751371200")
    res = subprocess.run([submit, "--master", "local[2]", str(ROOT / "edi_cgt" / "spark.py"), str(src),
                          "--out", str(tmp_path / "out"), "--site", str(FIXTURES / "site.toml")],
                         capture_output=True, env=env, cwd=tmp_path, timeout=600)
    assert res.returncode == 1, res.stderr.decode()[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    local = run_cli("replay", str(src), "--out", str(tmp_path / "local"), "--site", str(FIXTURES / "site.toml"),
                    env={"SOURCE_DATE_EPOCH": "1751371200"})
    assert local.returncode == 1
    assert (tmp_path / "local" / "summary.json").read_text() == (tmp_path / "out" / "summary.json").read_text()
    assert summary["totals"]["rejected"] > 0 and summary["config"]["site"].endswith("site.toml")
