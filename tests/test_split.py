# Big inputs cut at transaction boundaries: pieces replayed in parallel give the whole file's
# summary, rejection rows and 277CA byte for byte (one fixed clock for the 277CA's dates).
from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.corpus import Format, generate_corpus
from edi_cgt.io import read_chunks
from edi_cgt.replay import ReplayConfig, cut, replay_local
from edi_cgt.x12.reader import iter_segments

from support import FIXTURES, run_cli

NOW = dt.datetime(2025, 7, 1, 12, 0)
COMPARED = ("summary.json", "files.csv", "rejections.csv", "report.html")


def _corpus(seed: int, claims: int, **shape: Any) -> bytes:
    return b"".join(generate_corpus(seed, claims, cgt_share=0.3, **{"claims_per_transaction": 4, **shape}))


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


def _assert_split_replay_is_whole_replay(path: str, threshold: int, tmp_path: Path, min_pieces: int = 4) -> dict:
    """Replay `path` whole, then cut at `threshold` with 1 and 2 workers: the same summary,
    CSVs, report and 277CAs byte for byte. The whole run's summary."""
    whole = ReplayConfig(str(tmp_path / "whole"), split_bytes=0, now=NOW)
    run = replay_local([path], whole, jobs=1)
    assert run.summary["totals"]["claims_in"] > 0 or run.summary["errors"]
    assert len(cut(path, Path(path).stat().st_size, threshold)) >= min_pieces
    acks = sorted((tmp_path / "whole" / "acks").rglob("*.277"))
    for jobs in (1, 2):
        out = tmp_path / f"split-{jobs}"
        split = replay_local([path], ReplayConfig(str(out), split_bytes=threshold, now=NOW), jobs=jobs)
        assert split.summary == run.summary
        for f in COMPARED:
            assert (out / f).read_bytes() == (tmp_path / "whole" / f).read_bytes(), (jobs, f)
        assert [p.read_bytes() for p in acks] == [p.read_bytes() for p in sorted((out / "acks").rglob("*.277"))]
        assert not (out / "parts").exists() or not any((out / "parts").rglob("*"))
    if run.summary["totals"]["rejected"]:
        assert acks  # a 277CA was compared
    return run.summary


@pytest.mark.parametrize("name", ["many_interchanges.837", "one_interchange.837", "one_group.837", "layouts.837"])
def test_split_replay_equals_whole_replay(shapes: dict[str, Path], name: str, tmp_path: Path) -> None:
    summary = _assert_split_replay_is_whole_replay(str(shapes[name]), max(2_000, shapes[name].stat().st_size // 9),
                                                   tmp_path)
    assert not summary["errors"]


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


# -- inputs where a scan of its own would read the file otherwise than the X12 reader ----------
def _one_interchange(seed: int, claims: int = 300, **shape) -> bytes:
    return _corpus(seed, claims, transactions_per_group=1000, **shape)


def _isa_holds_the_terminator() -> bytes:
    # "'" ends segments, and the fixed-width ISA holds one in ISA06: the ISA is 106 bytes
    # whatever it holds (a search for the terminator would end it inside the sender id)
    data = _one_interchange(31, fmt=Format(segment="'"))
    assert data[35:50] == b"TESTSUBMIT01   "
    return data[:35] + b"O'BRIEN CLINIC " + data[50:]


def _boundary_lookalikes() -> bytes:
    # CR/LF after every terminator, then spaces and a tab between an SE and the next ST; in three
    # transactions segments whose ids start like SE, ST and GE but are none of them
    data = _one_interchange(32, fmt=Format(newline="\r\n")).replace(b"~\r\nST*", b"~ \r\n\t ST*")
    return data.replace(b"~\r\nBHT*", b"~\r\nSEX*STATE~\r\nSTATE*SE*1~ \r\nGEO*GE~\r\nBHT*", 3)


def _padding_between_interchanges() -> bytes:
    # NUL bytes after two IEAs (a transfer artefact the reader keeps as layout): no cut right
    # there, but cutting goes on after them
    return _corpus(33, 600).replace(b"~ISA*", b"~\x00\x00\x00ISA*", 2)


ODD = {
    "isa_holds_terminator": _isa_holds_the_terminator,
    "boundary_lookalikes": _boundary_lookalikes,
    "padding_between_interchanges": _padding_between_interchanges,
    "0x1d_terminator_crlf": lambda: _one_interchange(34, fmt=Format(segment="\x1d", newline="\r\n")),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_split_follows_the_reader_on_odd_layouts(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.837"
    path.write_bytes(ODD[name]())
    data = path.read_bytes()
    threshold = max(2_000, len(data) // 9)
    pieces = cut(str(path), len(data), threshold)
    whole = _segments(path)  # [n - 1] is segment n
    for p in pieces[1:]:
        # every cut is where the reader starts an ST that follows an SE, or an ISA that follows
        # an IEA, and the piece's numbers plus its offset are the file's
        first = p.segment_offset + (3 if p.head else 1)
        assert whole[first - 1][:3] in (b"ST" + data[3:4], b"ISA"), p
        assert whole[first - 2][:3] in (b"SE" + data[3:4], b"IEA"), p
        own = [s.data for s in iter_segments([p.head + data[p.start:p.end] + p.tail])]
        assert own[2 if p.head else 0] == whole[first - 1]
    summary = _assert_split_replay_is_whole_replay(str(path), threshold, tmp_path)
    assert not summary["errors"]
    if name == "padding_between_interchanges":
        assert pieces[-1].start > data.index(b"\x00")


def test_a_transaction_longer_than_the_scan_block_comes_in_pieces(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from edi_cgt.replay import split

    # transactions of about 25 kB, read 4 kB at a time: the reader hands each over in pieces
    monkeypatch.setattr(split, "_BLOCK", 4096)
    monkeypatch.setattr(split, "_LIMIT", 4096)
    path = tmp_path / "long_transactions.837"
    path.write_bytes(_corpus(35, 400, claims_per_transaction=50, transactions_per_group=1000))
    threshold = path.stat().st_size // 6
    pieces = cut(str(path), path.stat().st_size, threshold)
    assert all(p.size >= threshold for p in pieces[:-1])
    _assert_split_replay_is_whole_replay(str(path), threshold, tmp_path)


def _broken(name: str, data: bytes) -> tuple[bytes, int]:
    """`data` (three interchanges of two groups of 35 transactions) made unusual, and the
    offset after which no cut may come."""
    second, third = [m.start() for m in re.finditer(rb"ISA\*", data)][1:3]
    if name == "transaction_without_se":  # transaction 111, in the second interchange
        se = data.index(b"~SE*", [m.start() for m in re.finditer(rb"~ST\*", data)][110])
        return data[:se] + data[data.index(b"~", se + 1):], second
    if name == "gs_inside_a_group":  # the second interchange's first group loses its GE
        ge = data.index(b"~GE*", second)
        return data[:ge + 1] + data[data.index(b"~", ge + 1) + 1:], second
    if name == "isa_inside_an_interchange":  # the second interchange loses its last GE and IEA
        ge = data.rindex(b"~GE*", 0, third)
        return data[:ge + 1] + data[third:], second
    if name == "interchange_without_iea":  # the file ends without the last GE and IEA
        return data[:data.rindex(b"~GE*") + 1], third
    assert name == "text_after_an_iea"  # the reader refuses it: cuts in the second stay
    return data[:third] + b"NOT X12 AT ALL~" + data[third:], third


UNUSUAL = ["transaction_without_se", "gs_inside_a_group", "isa_inside_an_interchange", "interchange_without_iea",
           "text_after_an_iea"]


@pytest.mark.parametrize("name", UNUSUAL)
def test_something_unusual_stops_cutting(name: str, tmp_path: Path) -> None:
    data, limit = _broken(name, _corpus(36, 840, transactions_per_group=35, groups_per_interchange=2))
    path = tmp_path / f"{name}.837"
    path.write_bytes(data)
    threshold = len(data) // 12
    pieces = cut(str(path), len(data), threshold)
    # the cuts before the unusual interchange stay; none is made in it or after it
    assert len(pieces) >= 3 and max(p.start for p in pieces) <= limit < pieces[-1].end
    assert any(limit - threshold < p.start for p in pieces)
    summary = _assert_split_replay_is_whole_replay(str(path), threshold, tmp_path, min_pieces=3)
    assert bool(summary["errors"]) == (name == "text_after_an_iea")
