# Replay against a real S3 API: moto's server on 127.0.0.1, started and stopped here. A mixed
# archive goes into a bucket; the local engine and Spark local[2] replay it from the bucket into
# the bucket; the totals equal `filter` run file by file; reruns resume; the credentials, given
# only in the environment as S3 tools read them, appear in no log and no output.
from __future__ import annotations

import gzip
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from bench.corpus import generate_corpus  # noqa: E402

from support import FIXTURES, run_cli  # noqa: E402

BUCKET = "edi-cgt-archive"
KEY_ID = "AKIAEDICGTTESTKEY001"
SECRET = "edi-cgt-test-secret-do-not-log-4f9c2a"
TOTALS = ("claims_in", "accepted", "rejected", "unevaluated", "transactions", "transactions_passed_through")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    local = tmp_path_factory.mktemp("s3-archive")
    for name in ("cgt_837i_mixed.837", "cgt_837p_mixed.837", "cgt_837p_mixed.837.gz", "multi_isa_gs_st.837",
                 "multi_st_837i.837", "crlf_per_line.837", "delims_pipe_gt_newline.837", "bom_crlf.837"):
        shutil.copy(FIXTURES / name, local / name)
    for i in range(12):
        data = b"".join(generate_corpus(900 + i, 8 + i, cgt_share=0.3, claims_per_transaction=4))
        name = f"gen/{2024 + i % 2}/batch{i:02d}.837" + (".gz" if i % 3 == 0 else "")
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    # one file big enough to be cut into pieces with --split-size 32k
    (local / "big.837").write_bytes(b"".join(generate_corpus(77, 500, cgt_share=0.3, claims_per_transaction=4,
                                                             transactions_per_group=1000)))
    (local / "README.txt").write_bytes(b"837 archive of the billing office\n")
    (local / "broken.837").write_bytes(b"ISA*00*truncated")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"archive/{path.relative_to(local)}")
    yield {"client": client, "local": local, "env": env}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture(scope="module")
def expected(s3) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """`edi-cgt filter` on each local copy (the 837s: README.txt is not one), totals summed."""
    totals = dict.fromkeys(TOTALS, 0)
    charges = Decimal(0)
    unreadable = 0
    for path in sorted(p for p in s3["local"].rglob("*") if p.is_file() and p.name != "README.txt"):
        res = run_cli("filter", str(path), "-o", os.devnull, "--rejects", os.devnull)
        if res.returncode == 2:
            unreadable += 1
            continue
        summary = next(json.loads(line) for line in res.stderr.decode().splitlines()
                       if line.startswith("{") and json.loads(line).get("event") == "summary")
        for k in totals:
            totals[k] += summary[k]
        charges += Decimal(summary["charges_rejected"])
    return {"totals": totals, "charges_rejected": charges, "unreadable": unreadable}


def _objects(client, prefix: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", ()):
            out[item["Key"][len(prefix):]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return out


def _check_run(s3, expected, prefix: str, res) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    assert res.returncode == 3, res.stderr.decode()[-3000:]  # broken.837 cannot be read
    objects = _objects(s3["client"], prefix)
    summary = json.loads(objects["summary.json"])
    t = summary["totals"]
    for k, v in expected["totals"].items():
        assert t[k] == v, k
    assert Decimal(t["charges_rejected"]) == expected["charges_rejected"]
    assert t["files_unreadable"] == expected["unreadable"] == 1
    assert t["rejected"] > 0
    for name in ("files.csv", "rejections.csv", "report.html"):
        assert objects[name]
    acks = [k for k in objects if k.startswith("acks/") and k.endswith(".277")]
    assert len(acks) == t["acks_written"] > 0
    assert all(objects[k].startswith(b"ISA") for k in acks)
    assert not any(k.startswith("parts/") for k in objects)
    text = res.stdout + res.stderr + b"".join(objects.values())
    assert KEY_ID.encode() not in text and SECRET.encode() not in text
    return objects


def test_local_engine_replays_the_bucket_into_the_bucket(s3, expected) -> None:  # type: ignore[no-untyped-def]
    args = ("replay", f"s3://{BUCKET}/archive/", "--out", f"s3://{BUCKET}/replay-local/", "--jobs", "2",
            "--split-size", "32k")
    res = run_cli(*args)
    objects = _check_run(s3, expected, "replay-local/", res)
    assert b"1 not 837 (skipped)" in res.stdout
    done = [k for k in objects if k.startswith("done/")]
    again = run_cli(*args)
    assert again.returncode == 3
    assert f"0 processed now, {len(done)} already done".encode() in again.stdout, again.stdout
    assert _objects(s3["client"], "replay-local/")["summary.json"] == objects["summary.json"]
    # s3a:// names the same objects (Hadoop's name for S3); a glob lists through the store too.
    res = run_cli("replay", f"s3a://{BUCKET}/archive/gen/**/*.837*", "--out", f"s3a://{BUCKET}/replay-glob",
                  "--jobs", "1")
    assert res.returncode in (0, 1), res.stderr.decode()[-2000:]
    assert json.loads(_objects(s3["client"], "replay-glob/")["summary.json"])["totals"]["files"] == 12


@pytest.mark.spark
def test_spark_engine_replays_the_bucket_into_the_bucket(s3, expected) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    res = run_cli_module("edi_cgt.spark", f"s3://{BUCKET}/archive/", "--out", f"s3://{BUCKET}/replay-spark/",
                         "--master", "local[2]", "--split-size", "32k")
    objects = _check_run(s3, expected, "replay-spark/", res)
    assert objects["summary.parquet"][:4] == b"PAR1"
    local = _objects(s3["client"], "replay-local/") if _objects(s3["client"], "replay-local/summary.json") else None
    if local is not None:
        for name in ("summary.json", "files.csv", "rejections.csv", "report.html"):
            assert objects[name] == local[name], name


def run_cli_module(module: str, *args: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from support import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, env=env, cwd=ROOT, timeout=600)


def test_output_inside_an_input_is_refused_before_anything_is_written(s3) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("replay", f"s3://{BUCKET}/archive/big.837", "--out", f"s3://{BUCKET}/archive/")
    assert res.returncode == 2 and b"is or contains the input" in res.stderr
    res = run_cli("replay", f"s3://{BUCKET}/archive/gen/", "--out", f"s3://{BUCKET}/archive/gen")
    assert res.returncode == 2 and b"is or contains the input" in res.stderr
    assert not _objects(s3["client"], "archive/gen/done/")
