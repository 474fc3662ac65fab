# The one output helper (edi_cgt.io.AtomicOutput) and what commands do with it: nothing is
# created before the first byte (no 0-byte file), a file an earlier run left at an output that
# stays empty is removed (and logged), .gz names are gzipped; replay refuses an --out that is or
# contains an input, says which package a store needs, shows progress within a file on a
# terminal, and leaves no temporary file when interrupted.
from __future__ import annotations

import gzip
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.corpus import generate_corpus
from edi_cgt.io import AtomicOutput

from support import FIXTURES, ROOT, error_lines, run_cli


# -- the helper --------------------------------------------------------------------------------
def test_nothing_written_creates_nothing_and_removes_a_stale_file(tmp_path: Path) -> None:
    target = tmp_path / "out.277"
    with AtomicOutput(target) as out:
        out.write(b"")
    assert out.state == "empty" and list(tmp_path.iterdir()) == []
    target.write_bytes(b"an earlier run's 277CA")
    with AtomicOutput(target) as out:
        pass
    assert out.state == "removed" and not target.exists()
    with AtomicOutput(target) as out:
        out.stream.write(b"ISA")
    assert out.state == "written" and target.read_bytes() == b"ISA"
    assert [p.name for p in tmp_path.iterdir()] == ["out.277"]


def test_gz_name_means_gzip_and_the_same_bytes_give_the_same_file(tmp_path: Path) -> None:
    blobs = []
    for name in ("a.837.gz", "b.837.gz"):
        with AtomicOutput(tmp_path / name) as out:
            out.write(b"ISA*00*" * 1000)
        blobs.append((tmp_path / name).read_bytes())
    assert gzip.decompress(blobs[0]) == b"ISA*00*" * 1000 and blobs[0] == blobs[1]


def test_missing_directory_is_reported_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        AtomicOutput(tmp_path / "no" / "such" / "out.277")
    assert info.value.filename.endswith("out.277")
    with AtomicOutput(tmp_path / "made" / "out.277", makedirs=True) as out:
        out.write(b"x")
    assert (tmp_path / "made" / "out.277").read_bytes() == b"x"


# -- filter ------------------------------------------------------------------------------------
def test_filter_empty_output_is_not_created_and_a_stale_one_is_removed(tmp_path: Path) -> None:
    src = tmp_path / "clean_in.837"
    src.write_bytes((FIXTURES / "clean_837p.837").read_bytes())
    (tmp_path / "rejects.277").write_bytes(b"stale 277CA of an earlier run")
    res = run_cli("filter", str(src), "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "rejects.277"),
                  "--site", str(FIXTURES / "site.toml"))
    assert res.returncode == 0, res.stderr.decode()
    assert (tmp_path / "clean.837").read_bytes() == src.read_bytes()
    rejects = tmp_path / "rejects.277"
    if rejects.exists():  # a writer that acknowledges a clean batch writes a valid 277CA
        assert rejects.read_bytes().startswith(b"ISA")
    else:
        events = [json.loads(line) for line in res.stderr.decode().splitlines() if line.startswith("{")]
        assert any(e["event"] == "empty_output_removed" and e["output"].endswith("rejects.277") for e in events)
    assert not [p for p in tmp_path.iterdir() if p.stat().st_size == 0]


def test_filter_writes_gzip_to_a_gz_name(tmp_path: Path) -> None:
    src = FIXTURES / "cgt_837p_mixed.837"
    res = run_cli("filter", str(src), "-o", str(tmp_path / "clean.837.gz"), "--rejects", str(tmp_path / "r.277.gz"),
                  "--site", str(FIXTURES / "site.toml"))
    assert res.returncode == 1, res.stderr.decode()
    plain = run_cli("filter", str(src), "-o", str(tmp_path / "clean.837"), "--rejects", str(tmp_path / "r.277"),
                    "--site", str(FIXTURES / "site.toml"), env={"SOURCE_DATE_EPOCH": "1751371200"})
    again = run_cli("filter", str(src), "-o", str(tmp_path / "c2.837.gz"), "--rejects", str(tmp_path / "r2.277.gz"),
                    "--site", str(FIXTURES / "site.toml"), env={"SOURCE_DATE_EPOCH": "1751371200"})
    assert plain.returncode == again.returncode == 1
    assert gzip.decompress((tmp_path / "clean.837.gz").read_bytes()) == (tmp_path / "clean.837").read_bytes()
    assert gzip.decompress((tmp_path / "r2.277.gz").read_bytes()) == (tmp_path / "r.277").read_bytes()


def test_validate_writes_gzip_to_a_gz_name(tmp_path: Path) -> None:
    res = run_cli("validate", str(FIXTURES / "cgt_837p_mixed.837"), "-o", str(tmp_path / "out.999.gz"))
    assert res.returncode in (0, 1), res.stderr.decode()
    assert gzip.decompress((tmp_path / "out.999.gz").read_bytes()).startswith(b"ISA")


# -- replay: where --out may be ----------------------------------------------------------------
@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.837").write_bytes((FIXTURES / "cgt_837p_mixed.837").read_bytes())
    return src


@pytest.mark.parametrize("how", ["same", "dot", "symlink", "file-inside", "glob-inside", "parent-symlink"])
def test_out_that_is_or_contains_an_input_is_refused(inputs: Path, tmp_path: Path, how: str) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    if how == "same":
        args = [str(inputs), "--out", str(inputs)]
    elif how == "dot":
        args = ["./in/sub/../sub", "--out", "in/./sub/"]
    elif how == "symlink":
        (tmp_path / "link").symlink_to(inputs)
        args = [str(inputs / "sub"), "--out", str(tmp_path / "link")]
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    elif how == "file-inside":
        args = [str(inputs / "sub" / "a.837"), "--out", str(inputs)]
    elif how == "glob-inside":
        args = [str(inputs / "sub" / "*.837"), "--out", str(inputs / "sub")]
    else:  # the input named through a symlink to the output directory
        (tmp_path / "again").symlink_to(inputs / "sub", target_is_directory=True)
        args = [str(tmp_path / "again" / "a.837"), "--out", str(inputs / "sub")]
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = run_cli("replay", *args, "--jobs", "1", cwd=tmp_path)
    assert res.returncode == 2, res.stderr.decode()
    assert b"is or contains the input" in res.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_out_inside_an_input_directory_is_skipped_when_walked(inputs: Path) -> None:
    out = inputs / "replay-out"
    for _ in range(2):
        res = run_cli("replay", str(inputs), "--out", str(out), "--jobs", "1")
        assert res.returncode == 1, res.stderr.decode()
        assert json.loads((out / "summary.json").read_text())["totals"]["files"] == 1


@pytest.mark.parametrize("url, package", [("gs://bucket/837/", "gcsfs"), ("abfs://container/837/", "adlfs")])
def test_a_store_without_its_package_is_a_clear_usage_error(url: str, package: str, tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    res = run_cli("replay", url, "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    line = error_lines(res.stderr.decode())
    assert len(line) == 1 and package in line[0] and "pip install" in line[0], res.stderr.decode()
    res = run_cli("replay", str(FIXTURES / "cgt_837p_mixed.837"), "--out", url)
    assert res.returncode == 2 and package.encode() in res.stderr


# -- replay: progress and signals --------------------------------------------------------------
def _big(path: Path, claims: int) -> None:
    path.write_bytes(b"".join(generate_corpus(5, claims, cgt_share=0.05, claims_per_transaction=200)))


def test_progress_moves_within_a_file_on_a_terminal_only(tmp_path: Path) -> None:
    _big(tmp_path / "big.837", 40_000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "edi_cgt", "replay", str(tmp_path / "big.837"), "--out", str(tmp_path / "o"),
           "--jobs", "1", "--split-size", "0"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        screen += data
    proc.wait(timeout=120)
    os.close(master)
    frames = [f for f in screen.decode(errors="replace").split("\r") if f.startswith("replay:")]
    during = [f for f in frames if f.startswith("replay: 0/1 files")]
    assert during and any(" 0.0/" not in f for f in during), frames[:5]  # bytes moved before the file ended
    assert "(100%)" in frames[-1]
    quiet = run_cli("replay", str(tmp_path / "big.837"), "--out", str(tmp_path / "q"), "--jobs", "1")
    assert b"\r" not in quiet.stderr and b"replay:" not in quiet.stderr


def test_sigint_leaves_no_temporary_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(30):
        _big(src / f"f{i:02d}.837", 400)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "edi_cgt", "replay", str(src), "--out", str(out), "--jobs", "2",
                             "--ack-all"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("done/*/*.json"))) < 2:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or (p.is_file() and p.stat().st_size == 0
                                                                         and p.name != ".lock")]
    assert not (out / "summary.json").exists()
