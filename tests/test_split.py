# Big inputs cut at transaction boundaries: pieces replayed in parallel give the whole file's
# summary, rejection rows and 277CA byte for byte (one fixed clock for the 277CA's dates).
from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from bench.corpus import generate_corpus
from edi_cgt.io import read_chunks
from edi_cgt.replay import ReplayConfig, cut, replay_local
from edi_cgt.x12.reader import iter_segments

from support import FIXTURES, run_cli

NOW = dt.datetime(2025, 7, 1, 12, 0)
COMPARED = ("summary.json", "files.csv", "rejections.csv", "report.html")


def _corpus(seed: int, claims: int, **shape: int) -> bytes:
    return b"".join(generate_corpus(seed, claims, cgt_share=0.3, claims_per_transaction=4, **shape))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("split-inputs")
    files = {
        # many interchanges, one group and ten transactions each
        "many_interchanges.837": _corpus(11, 600),
        # one interchange holding every transaction (150 of them), in three groups
        "one_interchange.837": _corpus(12, 600, transactions_per_group=50, groups_per_interchange=3),
        # one interchange, one group: the single huge case
        "one_group.837": _corpus(13, 400, transactions_per_group=1000),
        # other delimiters and layouts, back to back (a byte-order mark, CRLF per line, 0x1D, '|' and
        # newline as the terminator)
        "layouts.837": b"".join((FIXTURES / name).read_bytes() for name in (
            "bom_crlf.837", "multi_isa_gs_st.837", "crlf_per_line.837", "delims_0x1d.837",
            "delims_pipe_gt_newline.837", "cgt_837i_mixed.837", "delims_tilde_caret_underscore.837",
            "multi_st_837i.837")),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in files}


def _segments(path: Path) -> list[bytes]:
    return [s.data for s in iter_segments(read_chunks(str(path)))]


def test_pieces_cover_the_file_and_carry_the_envelope(shapes: dict[str, Path]) -> None:
    path = shapes["one_interchange.837"]
    data = path.read_bytes()
    pieces = cut(str(path), len(data), 20_000)
    assert len(pieces) > 5
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]]
    assert pieces[0].start == 0 and pieces[-1].end == len(data)
    whole = _segments(path)
    for p in pieces:
        body = data[p.start:p.end]
        segs = [s.data for s in iter_segments([p.head + body + p.tail])]
        if p.index:
            assert segs[0].startswith(b"ISA*") and segs[1].startswith(b"GS*") and body.startswith(b"ST*")
        if p.index < p.count - 1:
            assert segs[-2].startswith(b"GE*") and segs[-1].startswith(b"IEA*")
        own = segs[2 if p.head else 0: len(segs) - (2 if p.tail else 0)]
        # The piece's own segments are the file's, at the file's numbers.
        first = p.segment_offset + (3 if p.head else 1)
        assert own == whole[first - 1: first - 1 + len(own)]


@pytest.mark.parametrize("name", ["many_interchanges.837", "one_interchange.837", "one_group.837", "layouts.837"])
def test_split_replay_equals_whole_replay(shapes: dict[str, Path], name: str, tmp_path: Path) -> None:
    path = str(shapes[name])
    whole = ReplayConfig(str(tmp_path / "whole"), split_bytes=0, now=NOW)
    run = replay_local([path], whole, jobs=1)
    assert run.summary["totals"]["claims_in"] > 0 and not run.summary["errors"]
    threshold = max(2_000, shapes[name].stat().st_size // 9)
    assert len(cut(path, shapes[name].stat().st_size, threshold)) > 3
    for jobs in (1, 2):
        out = tmp_path / f"split-{jobs}"
        split = replay_local([path], ReplayConfig(str(out), split_bytes=threshold, now=NOW), jobs=jobs)
        assert split.summary == run.summary
        for f in COMPARED:
            assert (out / f).read_bytes() == (tmp_path / "whole" / f).read_bytes(), (jobs, f)
        acks = sorted((tmp_path / "whole" / "acks").rglob("*.277"))
        assert [p.read_bytes() for p in acks] == [p.read_bytes() for p in sorted((out / "acks").rglob("*.277"))]
        assert not (out / "parts").exists() or not any((out / "parts").rglob("*"))
    if run.summary["totals"]["rejected"]:
        assert acks  # a 277CA was compared


def test_split_input_resumes_and_gzip_is_never_cut(shapes: dict[str, Path], tmp_path: Path) -> None:
    src = shapes["one_group.837"]
    gz = tmp_path / "one_group.837.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert cut(str(gz), gz.stat().st_size, 1_000) == []
    cfg = ReplayConfig(str(tmp_path / "out"), split_bytes=10_000, now=NOW)
    first = replay_local([str(src), str(gz)], cfg, jobs=2)
    assert first.processed == 2
    again = replay_local([str(src), str(gz)], cfg, jobs=2)
    assert again.processed == 0 and again.skipped == 2 and again.summary == first.summary
    t = first.summary["totals"]
    rows = list(json.loads((tmp_path / "out" / "summary.json").read_text())["top_files"])
    assert t["files"] == 2 and rows


def test_split_size_option(shapes: dict[str, Path], tmp_path: Path) -> None:
    path = str(shapes["many_interchanges.837"])
    a = run_cli("replay", path, "--out", str(tmp_path / "a"), "--jobs", "2", "--split-size", "16k",
                env={"SOURCE_DATE_EPOCH": "1751371200"})
    b = run_cli("replay", path, "--out", str(tmp_path / "b"), "--jobs", "1", "--split-size", "0",
                env={"SOURCE_DATE_EPOCH": "1751371200"})
    assert a.returncode == b.returncode == 1, a.stderr.decode()[-2000:]
    for f in COMPARED:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert [p.read_bytes() for p in sorted((tmp_path / "a").rglob("*.277"))] == \
        [p.read_bytes() for p in sorted((tmp_path / "b").rglob("*.277"))]
    bad = run_cli("replay", path, "--out", str(tmp_path / "c"), "--split-size", "lots")
    assert bad.returncode == 2 and b"is not a size" in bad.stderr


@pytest.mark.parametrize("flags", [{"ack_all": True}, {"redact_acks": True}])
def test_split_replay_equals_whole_replay_with_ack_options(shapes: dict[str, Path], flags: dict, tmp_path: Path) -> None:
    path = str(shapes["one_interchange.837"])
    size = shapes["one_interchange.837"].stat().st_size
    replay_local([path], ReplayConfig(str(tmp_path / "whole"), split_bytes=0, now=NOW, **flags), jobs=1)
    replay_local([path], ReplayConfig(str(tmp_path / "split"), split_bytes=size // 7, now=NOW, **flags), jobs=2)
    for f in COMPARED:
        assert (tmp_path / "whole" / f).read_bytes() == (tmp_path / "split" / f).read_bytes(), f
    whole = [p.read_bytes() for p in sorted((tmp_path / "whole").rglob("*.277"))]
    assert whole and whole == [p.read_bytes() for p in sorted((tmp_path / "split").rglob("*.277"))]
