# Would the walker say anything about this transaction? A byte-level answer.
#
# Strategy: TransactionWalker raises TransactionError (or notes a tolerated problem) on the few
# shapes it cannot read as claims. `quiet(data, delimiters)` answers for one whole ST..SE held
# in memory, with a handful of regular-expression searches instead of a Python step per
# segment, whether the walker could say anything at all. It errs in one direction only: True
# means the walker reads every segment without raising or noting anything (tests mutate
# transactions to check this); False means "perhaps", and the caller walks. Each suspect
# pattern names the walker check it stands for; those that mirror grammar tables are built
# from the same tables (edi_cgt.claims.grammar), so a grammar change moves both.
#
# The patterns assume ordinary delimiters: none of them blank or a letter or digit. Any other
# set gets False.
from __future__ import annotations

import re

from ..x12.delimiters import Delimiters
from .grammar import NAME_LOOP_END, NAME_LOOP_RANK, REQUIRED_ELEMENTS, SEGMENT_IDS

__all__ = ["quiet"]

_BLANKS = b" \t\r\n"
# A calendar date the walker's parse_date certainly accepts (CCYYMMDD); 29 February only in
# leap years. Anything else is a suspect, also valid dates this pattern does not list.
_DATE = (
    rb"(?:[1-9]\d{3}(?:(?:0[1-9]|1[0-2])(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])(?:29|30)|(?:0[13578]|1[02])31)"
    rb"|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)0229)"
)
# A number Decimal certainly reads as finite.
_NUMBER = rb"[+-]?(?:\d++(?:\.\d*+)?|\.\d++)"
# Segments that need an open claim (walker: _on_LX, _line_for, _on_LIN, _on_other).
_CLAIM_ONLY = ("LX", "SV1", "SV2", "SV3", "SV4", "SV5", "SV6", "SV7", "LIN")
_PARENT_LEVEL = {b"20": None, b"22": b"20", b"23": b"22"}


def quiet(data: bytes, d: Delimiters) -> bool:
    """True when TransactionWalker, fed the segments of `data` (one transaction, ST first and
    SE last), would raise nothing and note nothing; False when it might."""
    compiled = _compiled(d)
    if compiled is None:
        return False
    blanks, header, suspect, ranges, clm_ids, hls, (lx, sv1, sv2) = compiled
    if blanks.search(data) is not None:
        data = blanks.sub(d.segment, data)  # line breaks after terminators: read without them
    if header.match(data) is None or suspect.search(data) is not None:
        return False
    if data.count(sv1) + data.count(sv2) != data.count(lx):  # an SV1/SV2 not right after an LX
        return False
    if not all(a <= b for a, b in ranges.findall(data)):  # RD8 ends before it starts
        return False
    ids = clm_ids.findall(data)
    if len(set(ids)) != len(ids):  # walker notes a CLM01 used twice
        return False
    return hl_tree_is_plain(hls.findall(data))


def hl_tree_is_plain(hls: list[tuple[bytes, bytes, bytes]]) -> bool:
    """True when HL01 values (id, parent, level triples in order) are unique and every HL02
    names the HL the walker hangs it under (by level and order): the walker then has nothing
    to say about the HL tree."""
    seen: set[bytes] = set()
    last: dict[bytes, bytes] = {}
    for hid, parent, level in hls:
        if hid in seen or level not in _PARENT_LEVEL:
            return False
        want = _PARENT_LEVEL[level]
        if (last.get(want) if want else b"") != parent:
            return False
        seen.add(hid)
        last[level] = hid
        if level == b"20":
            last.pop(b"22", None)
            last.pop(b"23", None)
        elif level == b"22":
            last.pop(b"23", None)
    return True


_CACHE: dict[tuple[bytes, bytes], tuple | None] = {}


def _compiled(d: Delimiters) -> tuple | None:
    key = (d.element, d.segment)
    if key not in _CACHE:
        _CACHE[key] = _compile(d)
    return _CACHE[key]


def _trie(words: dict[bytes, bytes]) -> bytes:
    """One alternation over segment ids, nested by leading byte so that the regex engine
    turns away a segment after a byte or two: {id: what must follow it}."""
    by_first: dict[bytes, dict[bytes, bytes]] = {}
    for word, tail in words.items():
        by_first.setdefault(word[:1], {})[word[1:]] = tail
    parts = []
    for first, rest in sorted(by_first.items()):
        if list(rest) == [b""]:
            parts.append(re.escape(first) + rest[b""])
        else:
            parts.append(re.escape(first) + b"(?:" + _trie(rest) + b")")
    return b"|".join(parts)


def _ids(names) -> bytes:
    return _trie({n.encode(): b"" for n in names})


def _compile(d: Delimiters) -> tuple | None:
    e, t = d.element, d.segment
    if e == t or any(c in _BLANKS or c.isalnum() for c in (e, t, d.component)):
        return None
    E, T = re.escape(e), re.escape(t)
    ET = re.escape(e + t)
    I = b"(?=[" + ET + rb"]|\Z)"  # the end of a segment id
    F = b"[^" + ET + b"]*+"  # one element, maybe empty
    F1 = b"[^" + ET + b"]++"  # one element, not empty
    R = b"[^" + T + b"]*+"  # the rest of a segment
    Z = b"(?=[" + ET + rb"]|\Z)"  # the end of an element
    D = _DATE
    NUM = b"(?:" + _NUMBER + b")"

    def other(*stop: str) -> bytes:
        """Any run of segments none of whose ids is in `stop`."""
        return b"(?:" + T + b"(?!(?:" + _ids(stop) + b")" + I + b")" + R + b")*+"

    def next_seg(*ids: str) -> bytes:
        return T + b"(?:" + _ids(ids) + b")" + I

    # What may follow each segment id for the segment to be suspect (after the id itself).
    after: dict[str, list[bytes]] = {}

    def suspect(sid: str, pattern: bytes) -> None:
        after.setdefault(sid, []).append(pattern)

    for sid, positions in REQUIRED_ELEMENTS.items():  # walker: _check, required elements
        good = b"".join(E + (F1 if i in positions else F) for i in range(1, max(positions) + 1))
        suspect(sid, I + b"(?!" + good + b")")
    suspect("SE", I + R + T + b".")  # anything after the SE (walker: "segment after SE")
    # name-loop order (walker: _check, NAME_LOOP_RANK): the walker raises when a segment
    # ranks below the highest seen since the loop's NM1, which happens exactly when one
    # ranked segment follows another of higher rank with only unranked segments between.
    # Checked after every ranked segment, in a name loop or not (so more often than needed).
    ranked = [s for s, r in NAME_LOOP_RANK.items() if r > 0]
    for sid in ranked:
        lower = [s for s in ranked if NAME_LOOP_RANK[s] < NAME_LOOP_RANK[sid]]
        if lower:
            stop = (*NAME_LOOP_END, "NM1", *ranked)
            suspect(sid, I + R + other(*stop) + next_seg(*lower))
    # after an HL, before its first CLM: no segment that needs a claim (walker: _on_LX,
    # _line_for, _on_LIN, _on_other), and under a billing-provider HL no CLM (walker: _on_CLM)
    level_20 = E + F + E + F + E + b"20" + Z
    suspect("HL", b"(?=" + level_20 + b")" + R + other("HL", "CLM", *_CLAIM_ONLY) + next_seg("CLM", *_CLAIM_ONLY))
    suspect("HL", b"(?!" + level_20 + b")" + R + other("HL", "CLM", *_CLAIM_ONLY) + next_seg(*_CLAIM_ONLY))
    # after a CLM, before its first LX: no end of the claim (walker: _close_claim, a claim
    # without a service line) and no LIN (walker: _on_LIN)
    suspect("CLM", I + R + other("LX", "CLM", "HL", "SE", "LIN") + next_seg("CLM", "HL", "SE", "LIN"))
    # a service line is LX then SV1/SV2 at once (walker: _line_for, _close_line); that no
    # SV1/SV2 comes without an LX right before it is checked by counting them
    suspect("LX", I + R + T + b"(?!SV[12]" + I + b")")
    suspect("LX", E + rb"(?!\d++" + Z + b")")  # LX01 a line number
    # numbers: CLM02, SV102/SV104, SV203/SV205 (walker: _decimal)
    suspect("CLM", E + F + E + b"(?!" + NUM + Z + b")")
    suspect("SV1", E + F + E + b"(?:(?!" + NUM + b"?" + Z + b")|" + F + E + F + E + b"(?!" + NUM + b"?" + Z + b"))")
    suspect("SV2", E + F + E + F + E + b"(?:(?!" + NUM + b"?" + Z + b")|" + F + E + F + E + b"(?!" + NUM + b"?" + Z + b"))")
    # dates the walker parses (parse_date, parse_dates)
    suspect("DMG", E + b"D8" + I + b"(?!" + E + D + Z + b")")
    suspect("DTP", E + b"(?:434|472)" + E + b"(?!(?:RD8" + E + D + b"(?:-" + D + b")?|DT" + E + D + F
            + b"|(?!(?:RD8|DT)" + E + b")" + F + E + D + b")" + Z + b")")
    suspect("DTP", E + b"435" + E + b"(?!" + F + E + D + b")")

    known = _ids(SEGMENT_IDS - {"ST"})  # an ST after the first segment is suspect too
    table = _trie({sid.encode(): b"(?:" + b"|".join(p) + b")" for sid, p in after.items()})
    # after a terminator: a suspect segment, or one with an unknown id or none (walker: _check)
    pattern = re.compile(T + b"(?:" + table + b"|(?!(?:" + known + b")" + I + rb"|\Z))", re.S)
    # the header: ST with ST01/ST02, then no claim segment before the first HL
    header = re.compile(b"ST" + E + F1 + E + F1 + R + other("HL", "CLM", *_CLAIM_ONLY) + next_seg("HL"))
    ranges = re.compile(T + b"DTP" + E + b"(?:434|472)" + E + b"RD8" + E + rb"(\d{8})-(\d{8})" + Z)
    clm_ids = re.compile(T + b"CLM" + E + b"(" + F + b")")
    hls = re.compile(T + b"HL" + E + b"(" + F + b")" + E + b"(" + F + b")" + E + b"(" + F + b")")
    blanks = re.compile(T + b"[" + re.escape(bytes(c for c in _BLANKS if c != t[0])) + b"]++")
    counts = (t + b"LX" + e, t + b"SV1" + e, t + b"SV2" + e)
    return blanks, header, pattern, ranges, clm_ids, hls, counts
