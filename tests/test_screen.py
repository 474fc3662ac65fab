# The screen may answer "perhaps" too often, never "quiet" wrongly: every transaction it calls
# quiet must be read by the walker without an error and without a notice. Checked over every
# single-step mutation (delete, repeat, swap, re-id a segment; empty, garble or cut an element;
# add a blank segment or a line break) of real transactions, in three delimiter sets.
from __future__ import annotations

import pytest
from support import I_BODY, P_BODY, interchange

from edi_cgt.bench.corpus import Format, generate_corpus
from edi_cgt.claims.screen import quiet
from edi_cgt.claims.walker import EnvelopeContext, TransactionWalker
from edi_cgt.x12.errors import TransactionError, X12Error
from edi_cgt.x12.reader import iter_segments

GARBAGE = ["", "X", "20250231", "20240229", "19000229", "2025013", "NaN", "1.5.2", "-", "0", "ZZ", "D8", "RD8",
           "20250102-20250101", "20250101-20250102", "1e3", "12"]


def transactions(data: bytes):
    """(envelope, delimiters, [segment bytes without terminator], [tails]) per ST..SE."""
    isa = gs = None
    current = None
    for seg in iter_segments([data]):
        if seg.id == "ISA":
            isa = seg
        elif seg.id == "GS":
            gs = seg
        elif seg.id == "ST":
            current = [seg]
        elif current is not None:
            current.append(seg)
            if seg.id == "SE":
                yield EnvelopeContext(isa, gs), seg.delimiters, [s.data for s in current], [s.tail for s in current]
                current = None


def walker_says_something(data: bytes, d, env) -> bool:
    walker = TransactionWalker(env)
    try:
        for seg in iter_segments([data], delimiters=d):
            walker.feed(seg)
    except (TransactionError, X12Error):
        return True
    return bool(walker.notices)


def mutations(segs: list[bytes], tails: list[bytes], d):
    """Single-step changes of one transaction, SE kept last."""
    e = d.element
    t = d.segment

    def join(ss, tt=None):
        tt = tt or [t] * len(ss)
        return b"".join(s + x for s, x in zip(ss, tt))

    yield join(segs, tails)
    last = len(segs) - 1
    for i in range(1, last):
        yield join(segs[:i] + segs[i + 1 :])  # delete
        yield join(segs[: i + 1] + segs[i:])  # repeat
        if i + 1 < last:
            yield join(segs[:i] + [segs[i + 1], segs[i]] + segs[i + 2 :])  # swap
        yield join(segs[:i] + [b""] + segs[i:])  # an empty segment before it
        yield join(segs, tails[:i] + [t + b"\r\n"] + tails[i + 1 :])  # a line break after it
        fields = segs[i].split(e)
        for new_id in (b"ZZZ", fields[0].lower(), b"ST", b"SE", b"IEA"):
            yield join(segs[:i] + [e.join([new_id, *fields[1:]])] + segs[i + 1 :])
        for j in range(1, len(fields)):
            yield join(segs[:i] + [e.join(fields[:j])] + segs[i + 1 :])  # cut after element j-1
            for g in GARBAGE:
                changed = fields[:j] + [g.encode()] + fields[j + 1 :]
                yield join(segs[:i] + [e.join(changed)] + segs[i + 1 :])


def bases():
    small = b"".join(generate_corpus(seed=5, n_claims=6, cgt_share=0.5, claims_per_transaction=3))
    yield "generated", small
    yield "hand-written", interchange(P_BODY + I_BODY)
    yield "odd delimiters", interchange(P_BODY, element="|", component="^", segment="'", repetition="{",
                                        newline="\r\n")
    yield "newlines", b"".join(generate_corpus(seed=9, n_claims=2, cgt_share=1.0, claims_per_transaction=2,
                                                 fmt=Format(newline="\r\n")))


@pytest.mark.parametrize("name,data", list(bases()), ids=lambda v: v if isinstance(v, str) else "")
def test_quiet_means_the_walker_has_nothing_to_say(name, data):
    quiet_seen = flagged_walks = 0
    for env, d, segs, tails in transactions(data):
        for mutated in mutations(segs, tails, d):
            says = walker_says_something(mutated, d, env)
            flagged_walks += says
            if quiet(mutated, d):
                quiet_seen += 1
                assert not says, mutated.decode("latin-1")
    # the check is not vacuous: some mutations are quiet, many make the walker speak
    assert quiet_seen > 20
    assert flagged_walks > 100


def test_unmutated_corpora_are_quiet():
    for share in (0.0, 0.02, 1.0):
        for newline in ("", "\n"):
            data = b"".join(generate_corpus(seed=11, n_claims=120, cgt_share=share, claims_per_transaction=40,
                                            fmt=Format(newline=newline)))
            found = list(transactions(data))
            assert found
            for env, d, segs, tails in found:
                whole = b"".join(s + x for s, x in zip(segs, tails))
                assert quiet(whole, d)
                assert not walker_says_something(whole, d, env)


def test_blank_delimiters_are_never_quiet():
    from edi_cgt.x12.delimiters import Delimiters

    data = b"ST*837*1~BHT*0019*00*1*20250101*1200*CH~HL*1**20*1~SE*4*1~"
    assert quiet(data, Delimiters())
    assert not quiet(data.replace(b"~", b"\n"), Delimiters(segment=b"\n"))
