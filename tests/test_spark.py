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

from edi_cgt.bench.corpus import generate_corpus  # noqa: E402
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
    assert summary["totals"]["files_unreadable"] == 2 and summary["totals"]["rejected"] > 0

    table = spark.read.parquet(str(dist / "summary.parquet"))
    rows = {r["file"]: r for r in table.collect()}
    assert set(rows) == set(archive)
    assert sum(r["rejected"] for r in rows.values()) == summary["totals"]["rejected"]
    assert sum(r["claims_in"] for r in rows.values()) == summary["totals"]["claims_in"]
    assert sum(1 for r in rows.values() if r["error"]) == 2

    # A second run skips everything and rebuilds the same summary.
    again = replay_spark(archive, ReplayConfig(str(dist)), spark=spark)
    assert again.processed == 0 and again.skipped == len(archive)
    assert (local / "summary.json").read_bytes() == (dist / "summary.json").read_bytes()
