# What every command shares: logging setup, exit codes, and turning errors into messages.
#
# Strategy: commands log structured events once; `configure_logging` picks the renderer: JSON
# lines for a machine (stderr not a terminal, or --log-format json), readable lines for a person
# (edi_cgt.cli.terminal). Commands raise our own exceptions (X12Error, InputError, PolicyError
# ...); one decorator turns each into ONE `fatal` event (the text renderer prints it as
# `edi-cgt: error: ...`) and the documented exit status, so no user sees a traceback for bad
# input, or the same error twice.
from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click
import structlog

from ._site import resolve_site

__all__ = ["DATE", "EXIT_OK", "EXIT_REJECTED", "EXIT_BAD_INPUT", "EXIT_PASSED_THROUGH", "EXIT_PIPE_CLOSED", "configure_logging",
           "log", "fail", "handle_errors", "log_options", "resolve_site", "text_logging", "progress_stream"]

EXIT_OK = 0  # nothing rejected
EXIT_REJECTED = 1  # some claims rejected; outputs complete
EXIT_BAD_INPUT = 2  # bad input or usage; no output file written
EXIT_PASSED_THROUGH = 3  # outputs complete, but some transactions could not be read as claims and were passed through
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: the reader of stdout went away; what a shell reports for `cat | head`

class _Date(click.DateTime):
    """A calendar date, shown as DATE in --help (click's own shows [%Y-%m-%d])."""

    name = "date"

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:
        return "DATE"


DATE = _Date(formats=["%Y-%m-%d"])  # for --as-of: YYYY-MM-DD

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "text", "json")

_PHI_KEYS = frozenset({"member_id", "member_name", "patient", "subscriber", "birth_date", "first_name", "last_name"})
_state: dict[str, Any] = {"text": False, "logger": None}


def _drop_phi(logger: Any, method: str, event: dict) -> dict:
    for key in list(event):
        if key in _PHI_KEYS:
            event.pop(key)
    return event


def configure_logging(level: str = "info", *, log_phi: bool = False, log_format: str = "auto",
                      stream: Any = None) -> None:
    """Log events at or above `level` to `stream` (default: stderr at the time of each line).

    `log_format` auto: readable lines when the stream is a terminal, else JSON lines; text or
    json force one. Without `log_phi`, member names, ids and birth dates are dropped from events.
    """
    from .terminal import LineLogger, TextRenderer, is_terminal, use_colour

    target = stream if stream is not None else sys.stderr
    text = log_format == "text" or (log_format == "auto" and is_terminal(target))
    _state["text"] = text
    _state["logger"] = None
    processors: list[Any] = [structlog.processors.add_log_level]
    if not text:
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    if not log_phi:
        processors.append(_drop_phi)
    if text:
        processors.append(TextRenderer(colour=use_colour(target), stream=target))
    else:
        processors.append(structlog.processors.JSONRenderer(sort_keys=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=lambda *args: LineLogger(stream),
        cache_logger_on_first_use=False,
    )


def text_logging() -> bool:
    """True when log events are rendered for a person (see configure_logging)."""
    return _state["text"]


def progress_stream(*, stdout_used: bool = False) -> Any:
    """stderr when a progress line belongs there, else None: stderr is a terminal, and stdout
    is not that same terminal while the command streams to it (lines would tear)."""
    from .terminal import is_terminal

    if not is_terminal(sys.stderr):
        return None
    if stdout_used and is_terminal(sys.stdout):
        return None
    return sys.stderr


def log_options(func: Callable) -> Callable:
    """--log-level, --log-format and --log-phi on a command, as on the group (the command's win).

    Put it below @click.command and the command's own options, above @click.pass_context."""

    @click.option("--log-phi", "_log_phi", is_flag=True, default=False,
                  help="Allow member names, ids and birth dates in logs (off by default).")
    @click.option("--log-format", "_log_format", type=click.Choice(LOG_FORMATS), default=None,
                  help="auto (default): readable lines on a terminal, JSON lines otherwise; text; json.")
    @click.option("--log-level", "_log_level", type=click.Choice(LOG_LEVELS), default=None,
                  help="Log events at or above this level (default info).")
    @functools.wraps(func)
    def wrapper(*args: Any, _log_phi: bool, _log_format: str | None, _log_level: str | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        obj = ctx.find_root().ensure_object(dict)
        obj["log_phi"] = bool(obj.get("log_phi")) or _log_phi
        obj["log_format"] = _log_format or obj.get("log_format", "auto")
        obj["log_level"] = _log_level or obj.get("log_level", "info")
        configure_logging(obj["log_level"], log_phi=obj["log_phi"], log_format=obj["log_format"])
        return func(*args, **kwargs)

    return wrapper


def log() -> Any:
    """The logger, as configured last (bound once per configure_logging: a run logs an event
    per rejected claim, and building a logger per event costs more than writing it)."""
    logger = _state.get("logger")
    if logger is None:
        logger = _state["logger"] = structlog.get_logger("edi_cgt").bind()
    return logger


_WARNING_EVENTS = frozenset({"transaction_passed_through", "claim_passed_through", "transaction_not_supported",
                             "envelope_issue", "syntax_rejected"})


def log_event(name: str, **fields: Any) -> None:
    """A pipeline event (edi_cgt.pipeline on_event) as a log line: problems as warnings."""
    getattr(log(), "warning" if name in _WARNING_EVENTS else "info")(name, **fields)


def fail(message: str, *, status: int = EXIT_BAD_INPUT, **fields: Any) -> "click.exceptions.Exit":
    """Report a fatal problem once (the `fatal` event: a JSON line, or `edi-cgt: error: ...` on a
    terminal) and return the Exit to raise."""
    _end_progress()
    log().error("fatal", message=message, **fields)
    return click.exceptions.Exit(status)


def _end_progress() -> None:
    """Erase a progress line for good (the run is over), so a last message is not followed by it."""
    from .terminal import STATUS

    STATUS.clear()


def _known_errors() -> tuple[type[BaseException], ...]:
    from ..io import InputError, OverwriteError
    from ..x12.errors import X12Error

    errors: list[type[BaseException]] = [X12Error, InputError, OverwriteError]
    try:
        from ..policy.safexml import PolicyError
        from ..policy.site import SiteError

        errors += [PolicyError, SiteError]
    except ImportError:  # pragma: no cover - policy package incomplete
        pass
    return tuple(errors)


class Interrupted(BaseException):
    """SIGTERM/SIGINT arrived: unwind so that temporary outputs are discarded. A BaseException,
    like KeyboardInterrupt, so that no `except Exception` on the way (a per-file handler in
    replay) swallows it. The one signal handler of every command, and of replay's workers."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGINT into Interrupted, so `with` blocks roll back their outputs."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread
            pass


def handle_errors(func: Callable) -> Callable:
    """Turn the project's exceptions into a message and a documented exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        known = _known_errors()
        try:
            return func(*args, **kwargs)
        except known as exc:
            raise fail(str(exc)) from None
        except BrokenPipeError:
            # The reader of our stdout went away (`| head`): not an input error. Stop quietly
            # (one JSON event for a machine, nothing on a terminal), as a SIGPIPE would.
            _silence_stdout()
            _end_progress()
            try:
                log().info("output_closed", message="the reader of standard output went away: stopped, "
                                                    "stdout incomplete, no output file left")
            except OSError:
                pass
            raise click.exceptions.Exit(EXIT_PIPE_CLOSED) from None
        except (KeyboardInterrupt, Interrupted) as exc:
            import signal

            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            name = signal.Signals(signum).name
            _end_progress()
            log().error("interrupted", signal=name, message=f"interrupted by {name}; no output file was written")
            raise click.exceptions.Exit(128 + signum) from None
        except OSError as exc:
            target = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            raise fail(f"cannot write output{target}: {exc.strerror or exc}") from None

    return wrapper


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
