# Envelope tracking: ISA/GS/ST .. SE/GE/IEA, their counts and control numbers.
#
# Strategy: one small state object watches every segment go by and says what is wrong with the
# envelope, without changing or dropping anything. Mismatched counts, control numbers that do
# not pair up, and missing trailers are reported as EnvelopeIssue values (with the segment
# number) for the caller to log; they never stop the stream, because the claims inside are still
# readable and a filter must not lose them.
from __future__ import annotations

from dataclasses import dataclass

from .errors import safe_id
from .reader import Segment

__all__ = ["EnvelopeIssue", "Envelope"]


@dataclass(frozen=True, slots=True)
class EnvelopeIssue:
    segment_number: int
    problem: str

    def __str__(self) -> str:
        return f"segment {self.segment_number}: {self.problem}"


class Envelope:
    """Current ISA/GS/ST context and envelope checks. Feed it every segment in order."""

    def __init__(self) -> None:
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None
        self.transaction_index = 0  # ST segments seen in the whole input
        self.interchange_index = 0  # ISA segments seen in the whole input
        self.group_index = 0  # GS segments seen in the current interchange
        self._st_count = 0  # segments since ST, ST included
        self._groups = 0  # GS seen in current ISA
        self._transactions = 0  # ST seen in current GS
        self.last_number = 0

    def feed(self, seg: Segment) -> list[EnvelopeIssue]:
        """Account for one segment; return what is wrong with the envelope at this point."""
        self.last_number = seg.number
        if not seg.data:
            if self.st is not None and seg.tail:
                self._st_count += 1  # an empty segment ("~~") inside a transaction: still one for SE01
            return []  # (or layout only: trailing whitespace after the last IEA)
        sid = seg.id
        issues: list[EnvelopeIssue] = []
        n = seg.number
        if self.st is not None:
            self._st_count += 1
        if sid == "ISA":
            if self.isa is not None:
                issues.extend(self._close_missing(n, "IEA"))
            self.isa = seg
            self.interchange_index += 1
            self.group_index = 0
            self._groups = 0
        elif sid == "GS":
            if self.gs is not None:
                issues.extend(self._close_missing(n, "GE"))
            self.gs = seg
            self.group_index += 1
            self._groups += 1
            self._transactions = 0
        elif sid == "ST":
            if self.st is not None:
                issues.append(EnvelopeIssue(n, f"ST {seg.get(2)!r} starts before SE closed transaction {self.st.get(2)!r}"))
            if self.gs is None:
                issues.append(EnvelopeIssue(n, "ST outside a functional group (no GS before it)"))
            self.st = seg
            self.transaction_index += 1
            self._transactions += 1
            self._st_count = 1
        elif sid == "SE":
            if self.st is None:
                issues.append(EnvelopeIssue(n, "SE without a matching ST"))
            else:
                if seg.get(1) != str(self._st_count):
                    issues.append(EnvelopeIssue(n, f"SE01 says {seg.get(1)!r} segments but the transaction has {self._st_count}"))
                if seg.get(2) != self.st.get(2):
                    issues.append(EnvelopeIssue(n, f"SE02 {seg.get(2)!r} does not match ST02 {self.st.get(2)!r}"))
            self.st = None
        elif sid == "GE":
            if self.st is not None:
                issues.append(EnvelopeIssue(n, f"GE before SE closed transaction {self.st.get(2)!r}"))
                self.st = None
            if self.gs is None:
                issues.append(EnvelopeIssue(n, "GE without a matching GS"))
            else:
                if seg.get(1) != str(self._transactions):
                    issues.append(EnvelopeIssue(n, f"GE01 says {seg.get(1)!r} transactions but the group has {self._transactions}"))
                if seg.get(2) != self.gs.get(6):
                    issues.append(EnvelopeIssue(n, f"GE02 {seg.get(2)!r} does not match GS06 {self.gs.get(6)!r}"))
            self.gs = None
        elif sid == "IEA":
            if self.gs is not None:
                issues.append(EnvelopeIssue(n, f"IEA before GE closed group {self.gs.get(6)!r}"))
                self.gs = None
                self.st = None
            if self.isa is None:
                issues.append(EnvelopeIssue(n, "IEA without a matching ISA"))
            else:
                if seg.get(1) != str(self._groups):
                    issues.append(EnvelopeIssue(n, f"IEA01 says {seg.get(1)!r} groups but the interchange has {self._groups}"))
                if seg.get(2) != self.isa.get(13):
                    issues.append(EnvelopeIssue(n, f"IEA02 {seg.get(2)!r} does not match ISA13 {self.isa.get(13)!r}"))
            self.isa = None
        elif self.st is None and sid not in ("TA1",):
            where = "a transaction" if self.gs is not None else "a functional group"
            issues.append(EnvelopeIssue(n, f"segment {safe_id(sid)} outside {where}"))
        return issues

    def count_segments(self, count: int, last_number: int) -> None:
        """feed() for `count` body segments of the open transaction read as raw bytes (none of
        them an envelope segment), the last one numbered `last_number`."""
        self.last_number = last_number
        if self.st is not None:
            self._st_count += count

    def skip_transaction(self, se: Segment, count: int) -> list[EnvelopeIssue]:
        """The caller consumed the rest of the open transaction unread, through `se`;
        `count` is the number of segments from ST to SE. Checks SE01/SE02 as feed() would."""
        issues: list[EnvelopeIssue] = []
        if self.st is not None:
            if se.get(1) != str(count):
                issues.append(EnvelopeIssue(se.number, f"SE01 says {se.get(1)!r} segments but the transaction has {count}"))
            if se.get(2) != self.st.get(2):
                issues.append(EnvelopeIssue(se.number, f"SE02 {se.get(2)!r} does not match ST02 {self.st.get(2)!r}"))
        self.st = None
        self.last_number = se.number
        return issues

    def finish(self) -> list[EnvelopeIssue]:
        """At end of input: report trailers that never came."""
        n = self.last_number
        issues: list[EnvelopeIssue] = []
        if self.st is not None:
            issues.append(EnvelopeIssue(n, f"input ends inside transaction {self.st.get(2)!r} (no SE)"))
        if self.gs is not None:
            issues.append(EnvelopeIssue(n, f"input ends inside group {self.gs.get(6)!r} (no GE)"))
        if self.isa is not None:
            issues.append(EnvelopeIssue(n, f"input ends inside interchange {self.isa.get(13)!r} (no IEA)"))
        return issues

    @property
    def complete(self) -> bool:
        """True when no interchange, group or transaction is open."""
        return self.isa is None and self.gs is None and self.st is None

    def _close_missing(self, n: int, trailer: str) -> list[EnvelopeIssue]:
        issues = []
        if self.st is not None:
            issues.append(EnvelopeIssue(n, f"transaction {self.st.get(2)!r} was never closed (no SE)"))
            self.st = None
        if trailer == "IEA" and self.gs is not None:
            issues.append(EnvelopeIssue(n, f"group {self.gs.get(6)!r} was never closed (no GE)"))
            self.gs = None
        ctl = self.isa.get(13) if trailer == "IEA" and self.isa else (self.gs.get(6) if self.gs else "")
        issues.append(EnvelopeIssue(n, f"{'interchange' if trailer == 'IEA' else 'group'} {ctl!r} was never closed (no {trailer})"))
        return issues
