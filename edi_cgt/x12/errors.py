# Errors that say exactly what was wrong: which input, which segment, what problem.
from __future__ import annotations

__all__ = ["X12Error", "X12SyntaxError", "TransactionError", "safe_id"]


def safe_id(sid: str) -> str:
    """A segment identifier fit for a message or a log: quoted when it can be one (at most three
    printable characters); otherwise only its length, because "the identifier" of a segment
    whose delimiters went wrong is often data (a name, a member id), which must not be logged."""
    if not sid:
        return "(empty)"
    if len(sid) <= 3 and sid.isascii() and sid.isprintable():
        return repr(sid)
    return f"({len(sid)} characters, not a segment identifier)"


class X12Error(Exception):
    """Base class: carries the segment number (1-based, counted over the whole input)."""

    def __init__(self, problem: str, *, segment_number: int | None = None, where: str = "") -> None:
        self.problem = problem
        self.segment_number = segment_number
        self.where = where
        super().__init__(self.describe())

    def describe(self, where: str | None = None) -> str:
        src = where if where is not None else self.where
        parts = []
        if src:
            parts.append(src)
        if self.segment_number is not None:
            parts.append(f"segment {self.segment_number}")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.problem}" if prefix else self.problem

    def with_where(self, where: str) -> "X12Error":
        self.where = where
        self.args = (self.describe(),)
        return self


class X12SyntaxError(X12Error):
    """The input cannot be cut into segments at all (no ISA, bad ISA, not text). Fatal."""


class TransactionError(X12Error):
    """An 837 transaction cannot be read as claims (bad segment id, order, missing element).

    Not fatal for a filter: the transaction can be passed through untouched.
    """
