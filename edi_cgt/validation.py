# Full 5010 syntax validation through pyx12, for `edi-cgt validate` and `filter --validate`.
#
# Strategy: edi-cgt's own reader checks only what it needs to read claims; pyx12 knows every
# TR3 map (loops, requirements, code lists) and writes the 999. pyx12 reads text from a file
# object and chokes on a byte-order mark, so the input is read through edi_cgt.io (paths, '-',
# gzip) into a spool (memory up to SPOOL_MEMORY, then a temporary file), checked on the way by
# our reader (a clear error with the segment number for bytes that are not X12 at all), and fed
# to pyx12 from the first ISA as latin-1 text. Before pyx12 runs, every GS08 is looked up in
# pyx12's map index: a version it has no map for (005010X222A2, 005010X223A3 ...) is reported
# as NoMapError instead of pyx12's EngineError half-way. The result carries the 999 text, one
# verdict per transaction (in input order, keyed like the filter counts transactions) and the
# errors pyx12 found. Error texts can quote element values (names, member ids): they are kept
# apart from the location fields so that callers can log the one without the other.
from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .x12.errors import X12Error
from .x12.reader import iter_segments

__all__ = [
    "SPOOL_MEMORY",
    "ValidationIssue",
    "TransactionVerdict",
    "ValidationResult",
    "NoMapError",
    "ValidatorError",
    "validate_x12",
    "missing_maps",
]

SPOOL_MEMORY = 16 << 20  # input bytes held in memory before the spool moves to a temporary file
_WHITESPACE = b" \t\r\n"


class NoMapError(X12Error):
    """pyx12 has no map for a version in the input (e.g. 005010X222A2): it cannot be validated."""


class ValidatorError(X12Error):
    """pyx12 itself failed on the input (an internal error), so no verdict could be reached."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One syntax error pyx12 found. `detail` may quote data values (PHI): log it only on opt-in."""

    segment_number: int | None  # 1-based segment ordinal in the input (ISA = 1)
    segment_id: str  # "DTP"; "" for an envelope-level error
    element: str  # "DTP03", "NM102-1"; "" for a segment-level error
    code: str  # pyx12's error code (the 999 IK3/IK4/IK5 code)
    name: str  # the segment or element name from the map, e.g. "Service Date"
    detail: str  # pyx12's message, which may contain the bad value
    transaction: str | None = None  # ST02 of the transaction it is in, if any


@dataclass(frozen=True, slots=True)
class TransactionVerdict:
    """pyx12's verdict on one ST..SE, in input order."""

    index: int  # 1-based count of ST segments in the input (as pipeline/Envelope count them)
    interchange_control: str  # ISA13
    group_control: str  # GS06
    set_id: str  # ST01
    control: str  # ST02
    ack_code: str | None  # 999 IK501: A accepted, E accepted with errors, R rejected, ...; None: pyx12 did not report it
    issues: tuple[ValidationIssue, ...] = ()

    @property
    def rejected(self) -> bool:
        """True when the transaction fails syntax (IK501 other than A or E, or not reported)."""
        return self.ack_code not in ("A", "E")


@dataclass(frozen=True, slots=True)
class ValidationResult:
    valid: bool  # pyx12's overall answer: no error at any level
    ack: str  # the 999 (005010X231A1) pyx12 wrote, as text ("" when it wrote none)
    transactions: tuple[TransactionVerdict, ...]
    issues: tuple[ValidationIssue, ...]  # every error, envelope-level ones included

    def rejected_transactions(self) -> frozenset[int]:
        """`TransactionVerdict.index` of every transaction that fails syntax."""
        return frozenset(t.index for t in self.transactions if t.rejected)


@dataclass(frozen=True, slots=True)
class _Seen:
    """A transaction as our reader saw it (to line pyx12's report up with input order)."""

    index: int
    interchange_control: str
    group_control: str
    set_id: str
    control: str


def missing_maps(groups: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The (ISA12, GS01, GS08) triples pyx12 has no map for."""
    import pyx12.map_index

    index = pyx12.map_index.map_index(None)
    return [g for g in dict.fromkeys(groups) if index.get_filename(g[0], g[2], g[1]) is None]


def validate_x12(chunks: Iterable[bytes], *, where: str = "", spool_memory: int = SPOOL_MEMORY) -> ValidationResult:
    """Validate every interchange of an input with pyx12.

    Raises X12SyntaxError (bytes that are not X12: names the segment), NoMapError (a version
    pyx12 has no map for) or ValidatorError (pyx12 failed internally).
    """
    spool = tempfile.SpooledTemporaryFile(max_size=spool_memory)
    try:
        seen, groups, start, group_segments = _spool_and_scan(chunks, spool, where)
        lacking = missing_maps(groups)
        if lacking:
            icvn, fic, version = lacking[0]
            raise NoMapError(
                f"pyx12 has no map for {version or '(empty GS08)'} (GS01 {fic!r}, ISA12 {icvn!r}): "
                f"this version cannot be validated; maps exist for 005010X222A1 (837P) and 005010X223A2 (837I)",
                segment_number=group_segments.get((icvn, fic, version)),
                where=where,
            )
        spool.seek(start)
        text = io.TextIOWrapper(spool, encoding="latin-1", newline="")
        return _run_pyx12(text, seen, where)
    finally:
        spool.close()


def _spool_and_scan(chunks: Iterable[bytes], spool, where: str):
    seen: list[_Seen] = []
    groups: list[tuple[str, str, str]] = []
    group_segments: dict[tuple[str, str, str], int] = {}
    isa13 = gs06 = icvn = ""
    start = None

    def tee() -> Iterator[bytes]:
        for chunk in chunks:
            spool.write(chunk)
            yield chunk

    for seg in iter_segments(tee(), where=where):
        if start is None:
            start = len(seg.lead)  # pyx12 must see the ISA first: skip a BOM and blank lines
        if not seg.data:
            continue
        sid = seg.id
        if sid == "ISA":
            isa13, icvn = seg.get(13), seg.get(12)
        elif sid == "GS":
            gs06 = seg.get(6)
            key = (icvn, seg.get(1), seg.get(8))
            groups.append(key)
            group_segments.setdefault(key, seg.number)
        elif sid == "ST":
            seen.append(_Seen(len(seen) + 1, isa13, gs06, seg.get(1), seg.get(2)))
    return seen, groups, start or 0, group_segments


def _run_pyx12(text, seen: list[_Seen], where: str) -> ValidationResult:
    import pyx12.errors
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    ack, report = io.StringIO(), io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(pyx12.params.params(), text, ack, None, None, fd_json=report)
    except Exception as exc:  # noqa: BLE001 - pyx12 internals: report, never a traceback
        # pyx12's own messages can quote segment data (a name, an address): only a map lookup
        # failure, which names versions and codes, is repeated.
        text = str(exc)
        detail = f": {text}" if isinstance(exc, pyx12.errors.EngineError) and text.startswith("Map not found") else ""
        raise ValidatorError(f"pyx12 failed on the input ({type(exc).__name__}{detail}); it is probably not valid "
                             "X12 where pyx12 stopped", where=where) from None
    try:
        tree = json.loads(report.getvalue() or "{}")
    except ValueError:
        tree = {}
    issues: list[ValidationIssue] = []
    reported: list[tuple[str, str, str, str, str | None, tuple[ValidationIssue, ...]]] = []
    for isa in tree.get("interchanges", []):
        issues += _issues(isa, None)
        for gs in isa.get("groups", []):
            issues += _issues(gs, None)
            for tx in gs.get("transactions", []):
                found = tuple(_issues(tx, tx.get("trn_set_control_num")))
                issues += found
                reported.append((str(isa.get("isa_trn_set_id", "")), str(gs.get("gs_control_num", "")),
                                 str(tx.get("trn_set_id", "")), str(tx.get("trn_set_control_num", "")),
                                 tx.get("ack_code"), found))
    verdicts: list[TransactionVerdict] = []
    queue = list(reported)
    for s in seen:
        key = (s.interchange_control, s.group_control, s.set_id, s.control)
        match = next((r for r in queue if r[:4] == key), None)
        if match is not None:
            queue.remove(match)
        verdicts.append(TransactionVerdict(s.index, s.interchange_control, s.group_control, s.set_id, s.control,
                                           match[4] if match else None, match[5] if match else ()))
    return ValidationResult(bool(valid) and not issues, ack.getvalue(), tuple(verdicts), tuple(issues))


def _issues(node: dict, transaction: str | None) -> list[ValidationIssue]:
    """Errors attached to an interchange/group/transaction node and to its segments/elements."""
    out = [_issue(err, None, "", "", node.get("cur_line"), transaction) for err in node.get("errors", [])]
    for seg in node.get("segments", []):
        sid = seg.get("seg_id", "")
        line = seg.get("cur_line")
        out += [_issue(err, sid, "", seg.get("name", ""), line, transaction) for err in seg.get("errors", [])]
        for ele in seg.get("elements", []):
            position = f"{sid}{ele.get('ele_pos') or 0:02d}"
            if ele.get("subele_pos"):
                position += f"-{ele['subele_pos']}"
            out += [_issue(err, sid, position, ele.get("name", ""), line, transaction) for err in ele.get("errors", [])]
    return out


def _issue(err: dict, sid: str | None, element: str, name: str, line, transaction: str | None) -> ValidationIssue:
    return ValidationIssue(
        segment_number=line if isinstance(line, int) else None,
        segment_id=sid or "",
        element=element,
        code=str(err.get("err_cde", "")),
        name=name or "",
        detail=str(err.get("err_str", "")),
        transaction=transaction,
    )
