# The claim index of one held 837 transaction: where its claims and HL levels are, found at C speed.
#
# Strategy: a transaction is held as raw bytes (edi_cgt.x12.held) and never cut into segments
# as a whole. Regular expressions over those bytes find what the pipeline needs to know:
#
#   census    -- every transaction: the CLM segments (how many, the sum of their CLM02), and
#                where a policy trigger code stands as a procedure code component;
#   structure -- when some claim must be read or cut: where every CLM and HL segment starts,
#                each HL's level, and its parent by level and order (a 22 under the last 20, a
#                23 under the last 22: what the TR3 nesting means, so HL01/HL02 values are not
#                trusted), or why the HL tree cannot carry claims.
#
# A claim is the bytes from its CLM to the next CLM, HL or SE; an HL block the bytes from its HL
# to the next HL or CLM. The reader (edi_cgt.claims.walker) reads claims from these ranges and
# the clean 837 writer cuts them, so both see one and the same tree. Nothing here decides
# whether a segment is well formed: that is checked where a claim is read.
#
# The scans work piece by piece (a transaction over the memory limit arrives in pieces of whole
# segments). A segment starts at a piece's first byte or after a terminator and blanks: the
# census patterns start with the terminator (each piece is checked at its first byte with the
# same pattern less it); locate searches for the bare segment id, a literal the regex engine
# finds at memchr speed, and checks what stands before each match.
from __future__ import annotations

import bisect
import functools
import re
from array import array
from dataclasses import dataclass, field
from decimal import Decimal

from ..x12.delimiters import Delimiters
from ..x12.reader import blank_bytes, blank_class
from ..x12.values import sum_amounts

__all__ = ["ClaimIndex", "Patterns", "patterns", "LEVELS"]

LEVELS = ("20", "22", "23")  # HL level codes by their number in ClaimIndex.level
_LEVEL_CODE = {b"20": 0, b"22": 1, b"23": 2}
_BAD_LEVEL = 255


@dataclass(frozen=True, slots=True)
class Patterns:
    """The compiled searches for one set of delimiters and trigger codes."""

    clm02: "re.Pattern[bytes]"  # a CLM segment; group 1 its CLM02
    clm02_first: "re.Pattern[bytes]"  # the same at the first byte of a piece
    hl: "re.Pattern[bytes]"  # an HL segment; group 1 where it starts, group 2 HL03
    hl_first: "re.Pattern[bytes]"
    clm: "re.Pattern[bytes]"  # a CLM segment; group 1 where it starts
    clm_first: "re.Pattern[bytes]"
    hl_bare: "re.Pattern[bytes]"  # an HL segment wherever it stands; group 1 HL03 (see locate)
    clm_bare: "re.Pattern[bytes]"
    blank: frozenset[int]  # the bytes that may stand between a terminator and the next segment
    trigger: "re.Pattern[bytes] | None"  # a trigger code as a component (a cheap first pass)
    trigger_verify: "re.Pattern[bytes] | None"

    def clm02_values(self, data: bytes) -> list[bytes]:
        """CLM02 of every CLM segment in `data` (whole segments), in order; b"" where missing."""
        values = self.clm02.findall(data)
        first = self.clm02_first.match(data)
        if first is not None:
            values.insert(0, first.group(1) or b"")
        return values


@functools.lru_cache(maxsize=32)
def patterns(d: Delimiters, codes: frozenset[str]) -> Patterns:
    e, t, c = re.escape(d.element), re.escape(d.segment), re.escape(d.component)
    blank = blank_class(d) + b"*+"
    f = b"[^" + e + t + b"]*+"  # one element, maybe empty
    end = b"(?=[" + e + t + b"])"  # the end of a segment id

    def both(body: bytes) -> tuple["re.Pattern[bytes]", "re.Pattern[bytes]"]:
        return re.compile(t + blank + body), re.compile(body)

    clm02, clm02_first = both(b"CLM" + end + b"(?:" + e + f + b"(?:" + e + b"(" + f + b"))?)?")
    hl, hl_first = both(b"(HL)" + end + b"(?:" + e + f + b"(?:" + e + f + b"(?:" + e + b"(" + f + b"))?)?)?")
    clm, clm_first = both(b"(CLM)" + end)
    # The same without the terminator: a pattern that starts with a literal is searched for at
    # memchr speed; locate checks what stands before each match.
    hl_bare = re.compile(b"HL" + end + b"(?:" + e + f + b"(?:" + e + f + b"(?:" + e + b"(" + f + b"))?)?)?")
    clm_bare = re.compile(b"CLM" + end)
    trigger = verify = None
    if codes:
        upper = sorted({code.upper() for code in codes}, key=len, reverse=True)
        heads = sorted({h for code in upper for h in (code[:3], code[:3].lower())})
        # A literal separator and a 3-byte alternation find candidates at regex-engine speed;
        # `verify` confirms each (case-insensitive: the reader upper-cases procedure codes).
        trigger = re.compile(c + b"(?:" + b"|".join(re.escape(h.encode("latin-1")) for h in heads) + b")")
        alternatives = b"|".join(re.escape(code.encode("latin-1")) for code in upper)
        verify = re.compile(c + b"(?:" + alternatives + b")(?=" + c + b"|" + e + b"|" + t + b")", re.I)
    return Patterns(clm02, clm02_first, hl, hl_first, clm, clm_first, hl_bare, clm_bare, frozenset(blank_bytes(d)),
                    trigger, verify)


@dataclass(slots=True)
class ClaimIndex:
    """Claims and HL levels of one transaction, by byte offset from the start of its ST."""

    delimiters: Delimiters
    segments: int = 0  # ST..SE (as many as came, for a transaction without SE)
    claims: int = 0  # CLM segments
    charges: Decimal = Decimal(0)  # the sum of their CLM02, when every one is a number
    charges_ok: bool = True  # False: some CLM02 is not a number (those claims must be read)
    clm02: list[bytes] | None = field(default_factory=list)  # each claim's CLM02 (None: not kept)
    hits: array = field(default_factory=lambda: array("q"))  # offsets of trigger codes
    # structure (build_structure)
    clm: array = field(default_factory=lambda: array("q"))  # CLM segment starts
    hl: array = field(default_factory=lambda: array("q"))  # HL segment starts
    level: bytearray = field(default_factory=bytearray)  # per HL: 0, 1, 2 for 20, 22, 23
    parent: array = field(default_factory=lambda: array("q"))  # per HL: parent HL by level and order, -1
    tops: array = field(default_factory=lambda: array("q"))  # the level-20 HLs (billing providers)
    se: int = 0  # where the SE starts (the end of the bytes for a transaction without one)
    located: bool = False  # every piece went through locate()
    # (offset, why) the HL tree cannot carry claims; `why` names the HL at the offset as {hl}
    # and {level} (its HL01 and HL03: see problem_text)
    problem: tuple[int, str] | None = None
    _last: list[int] = field(default_factory=lambda: [-1, -1, -1])  # locate: the last HL of each level

    # -- census -------------------------------------------------------------------------------
    def census(self, piece: bytes, p: Patterns, *, keep_values: bool = True) -> None:
        """Count the CLM segments of one piece and sum their charges (keeping each CLM02, in
        order, unless told not to: a transaction too big to hold)."""
        values = p.clm02_values(piece)
        if self.clm02 is not None:
            if keep_values:
                self.clm02.extend(values)
            else:
                self.clm02 = None
        self.claims += len(values)
        if values and self.charges_ok:
            total = sum_amounts(values)
            if total is None:
                self.charges_ok = False
            else:
                self.charges += total

    def find_triggers(self, piece: bytes, base: int, p: Patterns) -> None:
        if p.trigger is None:
            return
        verify = p.trigger_verify
        self.hits.extend(base + m.start() for m in p.trigger.finditer(piece)
                         if verify.match(piece, m.start()))  # type: ignore[union-attr]

    # -- structure ----------------------------------------------------------------------------
    def locate(self, piece: bytes, base: int, p: Patterns) -> None:
        """Where the HL and CLM segments of one piece start; each HL's level and parent (by level
        and order); the first HL that keeps the tree from carrying claims. Pieces come in order
        (the state carries over)."""
        term, blank = self.delimiters.segment[0], p.blank

        def segment_start(s: int) -> bool:  # the piece's first byte, or after a terminator and blanks
            j = s - 1
            while j >= 0 and piece[j] in blank:
                j -= 1
            return s == 0 or (j >= 0 and piece[j] == term)

        # Nearly every match stands right after a terminator: that test is inline, the rest
        # (the first byte, blanks, a match inside an element) goes to segment_start.
        starts = [m.start() for m in p.clm_bare.finditer(piece)]
        self.clm.extend([base + s for s in starts if (s and piece[s - 1] == term) or segment_start(s)])
        hl, level, parent, last, tops = self.hl, self.level, self.parent, self._last, self.tops
        get = _LEVEL_CODE.get
        for m in p.hl_bare.finditer(piece):
            s = m.start()
            if not ((s and piece[s - 1] == term) or segment_start(s)):
                continue
            i = len(hl)
            hl.append(base + s)
            lv = get(m.group(1) or b"", _BAD_LEVEL)
            level.append(lv)
            if lv == 1:  # the commonest first: a subscriber under the last billing provider
                up = last[0]
                parent.append(up)
                last[1], last[2] = i, -1
            elif lv == 2:
                up = last[1]
                parent.append(up)
                last[2] = i
            elif lv == 0:
                parent.append(-1)
                tops.append(i)
                last[0], last[1], last[2] = i, -1, -1
                continue
            else:
                parent.append(-1)
                self._problem(i, "HL {hl!r} has level code {level!r}; an 837 uses 20, 22 and 23")
                continue
            if up < 0:
                self._problem(i, "HL {hl!r} (level {level}) has no level-" + f"{LEVELS[lv - 1]} HL above it")

    def claim_hl(self, k: int) -> int:
        """The HL claim k hangs under (the last one before it), -1 for none."""
        return bisect.bisect_right(self.hl, self.clm[k]) - 1

    def claim_problem(self, k: int) -> tuple[int, str] | None:
        """(offset, why) claim k cannot be read where it stands, if so."""
        i = self.claim_hl(k)
        if i < 0:
            return self.clm[k], "CLM before any HL"
        if self.level[i] not in (1, 2):
            return self.clm[k], "CLM outside a subscriber (HL*22) or patient (HL*23) level"
        return None

    def top(self, i: int) -> int:
        """The level-20 HL (billing provider) HL i hangs under, or i itself; -1 for none."""
        t = bisect.bisect_right(self.tops, i) - 1
        return self.tops[t] if t >= 0 else -1

    def _problem(self, i: int, why: str) -> None:
        if self.problem is None:
            self.problem = (self.hl[i], why)

    def problem_text(self, segment: bytes) -> str:
        """The tree problem's text, for the segment (data) at its offset."""
        assert self.problem is not None
        els = segment.decode("latin-1").split(self.delimiters.element_str)
        return self.problem[1].format(hl=els[1] if len(els) > 1 else "", level=els[3] if len(els) > 3 else "")

    # -- views --------------------------------------------------------------------------------
    def claim_of(self, offset: int) -> int | None:
        """The claim (index in CLM order) whose bytes hold `offset`, if any."""
        k = bisect.bisect_right(self.clm, offset) - 1
        if k < 0 or offset >= self.claim_end(k):
            return None
        return k

    def claim_end(self, k: int) -> int:
        """Where claim k ends: the next CLM, HL or SE."""
        clm = self.clm
        end = clm[k + 1] if k + 1 < len(clm) else self.se
        j = bisect.bisect_right(self.hl, clm[k])
        if j < len(self.hl) and self.hl[j] < end:
            end = self.hl[j]
        return end

    def block_end(self, i: int) -> int:
        """Where HL block i ends: the next HL or CLM (or SE)."""
        start = self.hl[i]
        end = self.hl[i + 1] if i + 1 < len(self.hl) else self.se
        k = bisect.bisect_right(self.clm, start)
        if k < len(self.clm) and self.clm[k] < end:
            end = self.clm[k]
        return end

    def ancestors(self, i: int) -> list[int]:
        """HL i and the HLs above it, top first."""
        chain = []
        while i >= 0:
            chain.append(i)
            i = self.parent[i]
        chain.reverse()
        return chain
