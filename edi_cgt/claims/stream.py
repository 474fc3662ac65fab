# Claims from a whole input: segments -> envelope -> one walker per 837 transaction.
#
# Strategy: the x12 reader cuts segments, the Envelope checks ISA/GS/ST trailers, and each
# ST..SE whose ST01 is 837 gets a fresh TransactionWalker. Other transactions (835, 999, 270 ...)
# are skipped here (a filter passes them through). Envelope problems go to `on_issue`; a
# transaction that cannot be read as claims raises TransactionError (naming the segment), which
# the caller turns into an error message.
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..x12.envelope import Envelope, EnvelopeIssue
from ..x12.errors import TransactionError
from ..x12.reader import Segment, iter_segments
from .model import Claim
from .walker import EnvelopeContext, TransactionWalker

__all__ = ["read_claims", "claims_from_segments"]


def read_claims(
    chunks: Iterable[bytes],
    *,
    where: str = "",
    on_issue: Callable[[EnvelopeIssue], None] | None = None,
) -> Iterator[Claim]:
    """Every claim of every 837 transaction in the input, in order."""
    yield from claims_from_segments(iter_segments(chunks, where=where), where=where, on_issue=on_issue)


def claims_from_segments(
    segments: Iterable[Segment],
    *,
    where: str = "",
    on_issue: Callable[[EnvelopeIssue], None] | None = None,
) -> Iterator[Claim]:
    env = Envelope()
    walker: TransactionWalker | None = None
    claims_seen = 0
    for seg in segments:
        issues = env.feed(seg)
        if issues and on_issue is not None:
            for issue in issues:
                on_issue(issue)
        if not seg.data:
            continue
        sid = seg.id
        if sid == "ST":
            walker = None
            if seg.get(1) == "837" and env.isa is not None:
                walker = TransactionWalker(
                    EnvelopeContext(env.isa, env.gs),
                    transaction_index=env.transaction_index,
                    claim_index_start=claims_seen,
                )
        if walker is not None and sid in ("GE", "IEA", "GS", "ISA"):
            raise TransactionError(
                f"837 transaction {walker.st_control!r} has no SE before this {sid}", segment_number=seg.number, where=where
            )
        if walker is not None:
            try:
                claim = walker.feed(seg)
            except TransactionError as exc:
                raise exc.with_where(where)
            if walker.notices:
                if on_issue is not None:
                    for issue in walker.notices:
                        on_issue(issue)
                walker.notices.clear()
            if claim is not None:
                yield claim
            claims_seen = walker.claims_seen
            if sid == "SE":
                walker = None
    if walker is not None:
        # Input ended inside an 837 transaction: report it rather than silently dropping the claim.
        raise TransactionError(
            "input ends inside an 837 transaction (no SE): the file is truncated",
            segment_number=env.last_number,
            where=where,
        )
    if on_issue is not None:
        for issue in env.finish():
            on_issue(issue)
