# What a person at a terminal sees: readable log lines, a closing summary, a progress line.
#
# Strategy: the commands log structured events once (edi_cgt.cli._common.log); this module is
# the other renderer beside JSON. `render_text` turns one event into one line (or drops it), a
# `StatusLine` owns the bottom line of the terminal so that a progress line is erased before a
# log line is written and drawn again after it, and `Progress` wraps the chunk iterator a
# command reads (bytes, rate, claims). Nothing here decides anything about claims: counts come
# from the events and from the claims the pipeline hands its sinks.
from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

import structlog

__all__ = ["money", "plural", "size", "is_terminal", "use_colour", "StatusLine", "STATUS", "TextRenderer",
           "Progress"]


# -- small formatters --------------------------------------------------------------------------
def money(value: Any) -> str:
    """A dollar amount as a person writes it: Decimal("1082728.8") -> "$1,082,728.80"."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 file", "2 files", "1,200 claims"."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def size(n: float) -> str:
    """Bytes in decimal units: 1.2 MB, 125 KB, 512 B."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop always returns


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def use_colour(stream: Any) -> bool:
    """Colour only on a terminal that can show it, and never when NO_COLOR is set (no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _width(stream: Any) -> int:
    """Columns of the terminal `stream` is (COLUMNS wins; 100 when nothing says)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return int(os.environ.get("COLUMNS", "0") or 0) or columns or shutil.get_terminal_size((100, 24)).columns


# -- the bottom line: progress that log lines do not tear ------------------------------------------
class StatusLine:
    """The terminal's last line, holding a progress text that log lines are written above."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None
        self.text = ""

    def show(self, stream: TextIO, text: str) -> None:
        self.stream = stream
        self.text = text[: max(10, _width(stream) - 1)]
        stream.write("\r\x1b[K" + self.text)
        stream.flush()

    def clear(self) -> None:
        if self.text and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.text = ""

    def write_line(self, stream: TextIO, line: str) -> None:
        """Write one log line; a progress line on the same stream is erased first, then redrawn."""
        shown = self.text if self.stream is stream else ""
        if shown:
            stream.write("\r\x1b[K")
        stream.write(line + "\n")
        if shown:
            stream.write(shown)
        stream.flush()


STATUS = StatusLine()


class LineLogger:
    """A structlog logger that writes each rendered event as one line through STATUS."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        import sys

        stream = self._stream or sys.stderr
        if stream is None:  # started with stderr closed
            return
        STATUS.write_line(stream, message)

    debug = info = warning = warn = error = critical = exception = fatal = failure = err = log = msg


# -- events as lines -------------------------------------------------------------------------------
_RED, _YELLOW, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"
_COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")
_QUIET_ON_A_TERMINAL = frozenset({"output_closed"})  # the reader of stdout went away: say nothing
_SHAPES = {  # event -> the TextRenderer method that shapes it; any other event is _generic
    "claim_rejected": "_claim_rejected",
    "claim_warning": "_claim_warning",
    "summary": "_summary",
    "validation_summary": "_validation_summary",
    "fatal": "_fatal",
    "interrupted": "_interrupted",
    "site_settings": "_site_settings",
}


class TextRenderer:
    """structlog's last processor in text mode: one event -> one readable line.

    Known events get their own shape (a rejected claim, a warning, a summary, an error); any
    other event is `edi-cgt: LEVEL: FILE: segment N: problem` or `edi-cgt: event key=value`.
    """

    def __init__(self, colour: bool = False, stream: Any = None) -> None:
        self.colour = colour
        self.stream = stream  # the terminal the lines go to (for its width)

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> str:
        name = str(event.get("event", ""))
        level = str(event.get("level", method))
        if name in _QUIET_ON_A_TERMINAL:
            raise structlog.DropEvent
        shaper = _SHAPES.get(name)
        if shaper is not None:
            return getattr(self, shaper)(event)
        return self._generic(name, level, event)

    # a claim: `rejected  CLM01  $charge  RULE[, RULE]: first reason (+N more)`
    def _claim(self, word: str, code: str, event: dict[str, Any]) -> str:
        rules = list(dict.fromkeys(event.get("rules") or ()))
        reasons = list(event.get("reasons") or ())
        charge = event.get("charge")
        head = f"{self._c(code, word.ljust(8))}  {event.get('claim_id', '?')}"
        if charge is not None and word == "rejected":
            head += f"  {money(charge)}"
        text = f"{', '.join(rules)}"
        if reasons:
            text += f": {reasons[0]}"
            if len(reasons) > 1:
                text += f" (+{len(reasons) - 1} more)"
        line = f"{head}  {text}"
        if is_terminal(self.stream):  # one screen line each; the JSON form keeps every reason whole
            width = _width(self.stream)
            hidden = len(line) - len(_strip(line))  # colour codes, all in the head
            if len(line) - hidden > width > 20:
                line = line[: width + hidden - 3] + "..."
        return line

    def _claim_rejected(self, event: dict[str, Any]) -> str:
        return self._claim("rejected", _RED + _BOLD, event)

    def _claim_warning(self, event: dict[str, Any]) -> str:
        return self._claim("warning", _YELLOW, event)

    def _summary(self, event: dict[str, Any]) -> str:
        claims = int(event.get("claims_in", event.get("claims", 0)) or 0)
        rejected, warnings = int(event.get("rejected", 0) or 0), int(event.get("warnings", 0) or 0)
        parts = [f"{int(event.get('accepted', 0) or 0):,} accepted",
                 self._c(_RED, f"{rejected:,} rejected") if rejected else "0 rejected",
                 self._c(_YELLOW, plural(warnings, "warning")) if warnings else "0 warnings"]
        if "unevaluated" in event:
            parts.append(f"{int(event.get('unevaluated') or 0):,} unevaluated")
        if event.get("syntax_rejected"):
            parts.append(f"{int(event['syntax_rejected']):,} left out by --validate (see the 999)")
        where = event.get("file") or (plural(int(event["files"]), "file") if "files" in event else "")
        line = f"{where}: " if where else ""
        line += f"{plural(claims, 'claim')}: " + ", ".join(parts)
        if "charges_in" in event:
            line += f"; charges {money(event['charges_in'])}, rejected {money(event.get('charges_rejected', 0))}"
        passed = int(event.get("transactions_passed_through", 0) or 0)
        if passed:
            line += "; " + self._c(_YELLOW, f"{plural(passed, 'transaction')} passed through unread (see above)")
        by_rule = event.get("by_rule") or {}
        if by_rule:
            top = sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
            line += "\n  rejected by rule: " + ", ".join(f"{rule} {n:,}" for rule, n in top)
        return self._c(_BOLD, "summary") + "  " + line

    def _validation_summary(self, event: dict[str, Any]) -> str:
        if event.get("valid"):
            return f"{self._c(_BOLD, 'summary')}  {event.get('file')}: valid 5010 " \
                   f"({plural(int(event.get('transactions', 0)), 'transaction')})"
        return (f"{self._c(_BOLD, 'summary')}  {event.get('file')}: "
                + self._c(_RED, f"{int(event.get('rejected', 0)):,} of {plural(int(event.get('transactions', 0)), 'transaction')} rejected")
                + f", {plural(int(event.get('errors', 0)), 'error')} (the 999 says which)")

    def _fatal(self, event: dict[str, Any]) -> str:
        return f"edi-cgt: {self._c(_RED + _BOLD, 'error')}: {event.get('message', '')}"

    def _interrupted(self, event: dict[str, Any]) -> str:
        return f"edi-cgt: {event.get('message') or 'interrupted by ' + str(event.get('signal'))}"

    def _site_settings(self, event: dict[str, Any]) -> str:
        if event.get("found_by") == "--site":  # the person typed it: only a found file is news
            raise structlog.DropEvent
        return f"edi-cgt: site settings: {event.get('file')} (found by {event.get('found_by')})"

    def _generic(self, name: str, level: str, event: dict[str, Any]) -> str:
        rest = {k: v for k, v in event.items() if k not in ("event", "level", "timestamp")}
        label = "" if level == "info" else self._c(_YELLOW if level == "warning" else _RED, level) + ": "
        if "message" in rest:
            return f"edi-cgt: {label}{rest.pop('message')}"
        where = ""
        if rest.get("file") is not None:
            where += f"{rest.pop('file')}: "
        else:
            rest.pop("file", None)
        if rest.get("segment") is not None:
            where += f"segment {rest.pop('segment')}: "
        problem = rest.pop("problem", None)
        tail = ", ".join(f"{k}={_value(v)}" for k, v in rest.items() if v is not None)
        text = f"{problem} ({name}{', ' + tail if tail else ''})" if problem else f"{name}{': ' + tail if tail else ''}"
        return f"edi-cgt: {label}{where}{text}"


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {x}" for k, x in v.items()) + "}"
    return str(v)


def _strip(s: str) -> str:
    return _COLOUR_CODE.sub("", s)


# -- progress -----------------------------------------------------------------------------------------
class Progress:
    """A progress line for one command on a terminal: bytes of the input read, rate, claims.

    `wrap(chunks, label, path)` passes the chunks of one input through and redraws the line at
    most every `interval` seconds; `sink` is a claim sink (edi_cgt.pipeline.ClaimSink) that only
    counts, for a pipeline that hands its claims to sinks; a loop that sees each claim adds to
    `claims` itself. With `stream` None every method does nothing (not a terminal).
    """

    def __init__(self, stream: TextIO | None, *, interval: float = 0.2) -> None:
        self.stream = stream
        self.interval = interval
        self.claims = 0
        self.sink = _CountingSink(self)

    @property
    def active(self) -> bool:
        return self.stream is not None

    def wrap(self, chunks: Iterable[bytes], label: str, path: str | None = None) -> Iterator[bytes]:
        if self.stream is None:
            yield from chunks
            return
        total = _plain_size(path)
        start = last = time.monotonic()
        done = 0
        try:
            for chunk in chunks:
                done += len(chunk)
                now = time.monotonic()
                if now - last >= self.interval:  # a run shorter than that shows no progress at all
                    last = now
                    self._draw(label, done, total, now - start)
                yield chunk
        finally:
            self.close()

    def _draw(self, label: str, done: int, total: int | None, seconds: float) -> None:
        assert self.stream is not None
        text = f"{label}: {size(done)}"
        if total:
            text += f" of {size(total)} ({min(100, done * 100 // total)}%)"
        text += f", {size(done / seconds)}/s"
        text += f", {plural(self.claims, 'claim')}"
        STATUS.show(self.stream, text)

    def close(self) -> None:
        if self.stream is not None:
            STATUS.clear()


class _CountingSink:
    """Counts the claims of each transaction the pipeline settles (read, or accepted unread)."""

    def __init__(self, progress: Progress) -> None:
        self._p = progress

    def begin_transaction(self, info: Any) -> None:
        pass

    def add(self, claim: Any, decision: Any) -> None:
        self._p.claims += 1

    def add_unread(self, claims: int, charges: Any, billing_provider: Any) -> None:
        self._p.claims += claims

    def end_transaction(self) -> None:
        pass


def _plain_size(path: str | None) -> int | None:
    """The size of an uncompressed regular file (a .gz or a pipe has no known total)."""
    if not path or path == "-":
        return None
    try:
        st = os.stat(path)
        if not os.path.isfile(path) or st.st_size == 0:
            return None
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return None
        return st.st_size
    except OSError:
        return None
