# The X12 syntax layer: delimiters, segment cutting, exact bytes, envelope checks.
from __future__ import annotations

import gzip
import re

import pytest
from support import SAMPLES, interchange, manifest_counts, sample_rows

from edi_cgt.io import read_chunks
from edi_cgt.x12.delimiters import Delimiters, detect_delimiters
from edi_cgt.x12.envelope import Envelope
from edi_cgt.x12.errors import X12SyntaxError
from edi_cgt.x12.reader import iter_segments

BODY = """
ST*837*0001*005010X222A1
BHT*0019*00*REF1*20250301*1200*CH
NM1*41*2*SUBMITTER*****46*SUB01
NM1*40*2*PAYER*****46*610442
HL*1**20*1
NM1*85*2*CLINIC*****XX*1234567893
HL*2*1*22*0
SBR*P*18*******MC
NM1*IL*1*DOE*JANE****MI*M1
NM1*PR*2*MEDI-CAL*****PI*610442
CLM*C1*100***11:B:1*Y*A*Y*Y
HI*ABK:C8330
LX*1
SV1*HC:99213*100*UN*1***1
DTP*472*D8*20250301
SE**0001
"""


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


DELIMITER_SETS = [
    pytest.param(dict(), id="star-colon-tilde"),
    pytest.param(dict(element="|", component=">", segment="\n", newline=""), id="pipe-gt-newline"),
    pytest.param(dict(element="~", component="^", segment="_", repetition="U"), id="tilde-caret-underscore"),
    pytest.param(dict(segment="\x1d", newline=""), id="0x1D-terminator"),
    pytest.param(dict(segment="\r", newline="\n"), id="CR-terminator-LF"),
    pytest.param(dict(newline="\r\n"), id="CRLF"),
    pytest.param(dict(newline=""), id="single-line"),
    pytest.param(dict(component=">", repetition="|"), id="gt-component-pipe-repetition"),
]


@pytest.mark.parametrize("delims", DELIMITER_SETS)
@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 16])
def test_every_delimiter_set_round_trips_and_reads_the_same_segments(delims, chunk):
    data = interchange(BODY, **delims)
    segs = list(iter_segments(cut(data, chunk)))
    assert b"".join(s.raw for s in segs) == data
    ids = [s.id for s in segs]
    assert ids[:3] == ["ISA", "GS", "ST"] and ids[-1] == "IEA"
    clm = next(s for s in segs if s.id == "CLM")
    assert clm.get(1) == "C1" and clm.get(5).split(clm.delimiters.component_str) == ["11", "B", "1"]
    assert [s.number for s in segs] == list(range(1, len(segs) + 1))


def test_detects_delimiters_from_isa_positions():
    data = interchange(BODY, element="|", component=">", segment="\n", repetition="^", newline="")
    d = detect_delimiters(data[:106])
    assert (d.element, d.component, d.segment, d.repetition) == (b"|", b">", b"\n", b"^")


def test_isa11_u_is_not_a_repetition_separator():
    d = detect_delimiters(interchange(BODY, repetition="U")[:106])
    assert d.repetition is None


def test_bom_and_leading_whitespace_are_kept_as_lead_bytes():
    data = b"\xef\xbb\xbf\r\n  " + interchange(BODY, newline="\r\n")
    segs = list(iter_segments(cut(data, 2)))
    assert segs[0].lead == b"\xef\xbb\xbf\r\n  " and segs[0].id == "ISA"
    assert b"".join(s.raw for s in segs) == data


def test_indented_segments_keep_their_indentation_in_the_tail():
    data = interchange(BODY, newline="\r\n    ")
    segs = list(iter_segments([data]))
    assert segs[1].id == "GS" and segs[0].tail == b"~\r\n    "
    assert b"".join(s.raw for s in segs) == data


def test_concatenated_interchanges_with_different_delimiters():
    a = interchange(BODY)
    b = interchange(BODY, element="|", component=">", segment="\n", newline="", control=2)
    segs = list(iter_segments(cut(a + b, 7)))
    assert [s.id for s in segs].count("ISA") == 2
    assert sum(1 for s in segs if s.id == "CLM") == 2
    assert b"".join(s.raw for s in segs) == a + b


def test_last_iea_without_terminator_is_read():
    data = interchange(BODY).rstrip(b"\n").rstrip(b"~")
    segs = list(iter_segments([data]))
    assert segs[-1].id == "IEA" and segs[-1].tail == b""
    assert b"".join(s.raw for s in segs) == data


def test_empty_segment_is_yielded_not_a_stop():
    data = interchange(BODY).replace(b"HI*ABK:C8330~", b"HI*ABK:C8330~~")
    segs = list(iter_segments([data]))
    empty = [s for s in segs if not s.data and not s.lead]
    assert len(empty) == 1
    assert segs[-1].id == "IEA"  # reading went on past it


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "input is empty"),
        (b"  \r\n\t ", "only whitespace"),
        ("ISA*00".encode("utf-16-le"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)), "not X12 text"),
        (b"GS*HC*A*B*20250101*1200*1*X*005010X222A1~", "expected an ISA segment"),
        (interchange(BODY).replace(b"*00*          *00", b"*00*         *00", 1), "not fixed-width"),
        (interchange(BODY)[:300], "truncated"),
    ],
    ids=["empty", "whitespace", "utf16", "binary", "no-isa", "short-isa", "mid-segment"],
)
def test_unreadable_input_raises_a_syntax_error_with_segment_number(data, words):
    with pytest.raises(X12SyntaxError) as info:
        list(iter_segments([data], where="in.837"))
    msg = str(info.value)
    assert words in msg and msg.startswith("in.837: segment ")


def test_envelope_reports_count_and_control_mismatches_without_stopping():
    data = re.sub(rb"SE\*\d+\*0001", b"SE*99*0002", interchange(BODY)).replace(b"GE*1*1", b"GE*3*7")
    env = Envelope()
    problems = []
    for seg in iter_segments([data]):
        problems += [i.problem for i in env.feed(seg)]
    problems += [i.problem for i in env.finish()]
    assert any("SE01 says '99'" in p for p in problems)
    assert any("SE02 '0002' does not match ST02 '0001'" in p for p in problems)
    assert any("GE01 says '3'" in p for p in problems)
    assert any("GE02 '7' does not match GS06 '1'" in p for p in problems)


def test_envelope_reports_missing_trailers():
    data = interchange(BODY)
    data = data[: data.index(b"SE*")]
    env = Envelope()
    for seg in iter_segments([data]):
        env.feed(seg)
    assert [i.problem for i in env.finish()] == [
        "input ends inside transaction '0001' (no SE)",
        "input ends inside group '1' (no GE)",
        "input ends inside interchange '000000001' (no IEA)",
    ]


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path):
    data = interchange(BODY)
    path = tmp_path / "plain-name.837"
    path.write_bytes(gzip.compress(data))
    assert b"".join(read_chunks(path, chunk_size=10)) == data
    # two gzip members back to back (cat a.gz b.gz)
    path.write_bytes(gzip.compress(data) + gzip.compress(data))
    assert b"".join(read_chunks(path)) == data + data


ROWS = [r for r in sample_rows() if r["file"] and not r["type"].startswith("837P-malformed")]


@pytest.mark.skipif(not ROWS, reason="../shared/samples is absent")
@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"])
def test_every_sample_round_trips_byte_for_byte(row):
    data = (SAMPLES / row["file"]).read_bytes()
    for size in (3, 4096):
        segs = list(iter_segments(cut(data, size)))
        assert b"".join(s.raw for s in segs) == data
    counts = manifest_counts(row)
    if counts:
        ids = [s.id for s in segs if s.data]
        assert (ids.count("ISA"), ids.count("GS"), ids.count("ST"), ids.count("CLM")) == counts


def test_split_segments_gives_what_the_streaming_reader_gives():
    from bench.corpus import Format, generate_corpus
    from edi_cgt.x12.reader import split_segments

    d = Delimiters()
    for newline in ("", "\n", "\r\n"):
        data = b"".join(generate_corpus(seed=4, n_claims=30, cgt_share=0.5, claims_per_transaction=10,
                                        fmt=Format(newline=newline)))
        body = data[data.index(b"ST*"):data.rindex(b"GE*")]
        streamed = [s.data for s in iter_segments([body], delimiters=d)]
        assert split_segments(body, d) == streamed
    spaced = b"ST*837*1~ NM1*41*2*A B~  HL*1**20*1~SE*3*1~ "
    assert split_segments(spaced, d) == [b"ST*837*1", b"NM1*41*2*A B", b"HL*1**20*1", b"SE*3*1"]


def _transactions(data: bytes, chunk: int, limit: int, consumed: list | None = None) -> list:
    """Drive a Reader: every segment outside transactions, every transaction as pieces (and,
    into `consumed`, Reader.consumed after each)."""
    from edi_cgt.x12.reader import NEED_DATA, Reader

    reader, out, pos = Reader(), [], 0

    def feed() -> None:
        nonlocal pos
        if pos >= len(data):
            reader.feed_eof()
        else:
            reader.feed(data[pos:pos + chunk])
            pos += chunk

    while True:
        seg = reader.maybe_extract_segment()
        if seg is NEED_DATA:
            feed()
            continue
        if seg is None:
            return out
        out.append(("seg", seg.raw, seg.number))
        if consumed is not None:
            consumed.append(reader.consumed)
        if seg.data[:3] == b"ST*":
            while True:
                piece = reader.maybe_extract_transaction(limit)
                if piece is NEED_DATA:
                    feed()
                    continue
                out.append(("piece", piece.data, piece.segments, piece.end, piece.stop))
                if consumed is not None:
                    consumed.append(reader.consumed)
                if piece.end != "more":
                    break


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
@pytest.mark.parametrize("newline", ["", "\r\n"])
def test_transactions_come_whole_or_in_pieces_of_whole_segments(chunk, newline):
    data = interchange(BODY + BODY.replace("0001", "0002"), newline=newline)
    for limit in (1 << 20, 40):
        items = _transactions(data, chunk, limit)
        assert b"".join(item[1] for item in items) == data  # every byte, once
        pieces = [item for item in items if item[0] == "piece"]
        ends = [p[3] for p in pieces]
        assert ends.count("SE") == 2 and set(ends) <= {"SE", "more"}
        if limit == 40 and chunk < limit:  # the end was not in the buffer before 40 bytes came
            assert "more" in ends
        for p in pieces:
            assert p[1].count(b"~") == p[2]  # whole segments only
            assert p[1].endswith(b"~" + newline.encode())
        numbers = [item[2] for item in items if item[0] == "seg"]
        assert numbers == sorted(numbers) and numbers[-1] == len(iter_segments_list(data))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_consumed_is_the_input_offset_after_what_was_given_out(chunk):
    # a byte-order mark and a blank line before the ISA, CR/LF layout, a transaction in pieces,
    # a second interchange, NUL padding at the end: the lead and the tail bytes are counted too
    two = interchange(BODY, newline="\r\n") + interchange(BODY.replace("0001", "0002"), control=2)
    data = b"\xef\xbb\xbf\r\n" + two + b"\x00" * 9
    consumed: list[int] = []
    items = _transactions(data, chunk, 40, consumed)
    assert any(item[0] == "piece" and item[3] == "more" for item in items) == (chunk < 40)
    ends = [sum(len(item[1]) for item in items[:i + 1]) for i in range(len(items))]
    assert consumed == ends and ends[-1] == len(data)


def iter_segments_list(data: bytes) -> list:
    return [s for s in iter_segments([data]) if s.data]


@pytest.mark.parametrize("stop", ["GE*1*1", "GS*HC*X*Y*20250301*1200*2*X*005010X222A1", "ST*837*0009"])
def test_a_transaction_without_se_is_cut_before_the_envelope_segment(stop):
    body = BODY.strip().splitlines()
    text = "\n".join(body[:-1]) + "\n" + stop + "\n" + body[-1]
    data = interchange(text)
    items = _transactions(data, 1 << 16, 1 << 20)
    cut = [item for item in items if item[0] == "piece"][0]
    assert cut[3] == "cut" and cut[4] == stop[:3].rstrip("*")
    after = items[items.index(cut) + 1]
    assert after[0] == "seg" and after[1].startswith(stop[:3].rstrip("*").encode())


def test_nul_padding_after_the_last_iea_is_kept_as_layout():
    data = interchange(BODY) + b"\x00" * 5000
    segs = list(iter_segments(cut(data, 333)))
    assert b"".join(s.raw for s in segs) == data
    assert segs[-1].data == b"" and segs[-1].lead == b"\x00" * 5000
    # before any interchange NUL bytes still mean UTF-16 (or binary), and are refused
    with pytest.raises(X12SyntaxError, match="UTF-16"):
        list(iter_segments([b"\x00I\x00S\x00A" * 40]))
