# What every command shares: logging setup, exit codes, and turning errors into messages.
#
# Strategy: commands raise our own exceptions (X12Error, InputError, PolicyError ...); one
# decorator turns them into a one-line message on stderr plus a JSON log event and the
# documented exit status, so no user ever sees a traceback for bad input.
from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click
import structlog

__all__ = ["EXIT_OK", "EXIT_REJECTED", "EXIT_BAD_INPUT", "EXIT_PASSED_THROUGH", "configure_logging", "log", "handle_errors"]

EXIT_OK = 0  # nothing rejected
EXIT_REJECTED = 1  # some claims rejected; outputs complete
EXIT_BAD_INPUT = 2  # bad input or usage; no output file written
EXIT_PASSED_THROUGH = 3  # outputs complete, but some transactions could not be read as claims and were passed through
EXIT_INTERRUPTED = 130

_PHI_KEYS = frozenset({"member_id", "member_name", "patient", "subscriber", "birth_date", "first_name", "last_name"})


def _drop_phi(logger: Any, method: str, event: dict) -> dict:
    for key in list(event):
        if key in _PHI_KEYS:
            event.pop(key)
    return event


def configure_logging(level: str = "info", *, log_phi: bool = False, stream: Any = None) -> None:
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not log_phi:
        processors.append(_drop_phi)
    processors.append(structlog.processors.JSONRenderer(sort_keys=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def log() -> Any:
    return structlog.get_logger("edi_cgt")


def fail(message: str, *, status: int = EXIT_BAD_INPUT, **fields: Any) -> "click.exceptions.Exit":
    """Report a fatal problem (stderr line + log event) and return the Exit to raise."""
    log().error("fatal", message=message, **fields)
    click.echo(f"edi-cgt: error: {message}", err=True)
    return click.exceptions.Exit(status)


def _known_errors() -> tuple[type[BaseException], ...]:
    from ..io import InputError
    from ..x12.errors import X12Error

    errors: list[type[BaseException]] = [X12Error, InputError]
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
            # The reader of our stdout went away (`| head`): say so once, exit non-zero.
            _silence_stdout()
            raise fail("output pipe closed by the reader (broken pipe); output is incomplete") from None
        except (KeyboardInterrupt, Interrupted) as exc:
            import signal

            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            name = signal.Signals(signum).name
            log().error("interrupted", signal=name)
            click.echo(f"edi-cgt: interrupted by {name}; no output file was written", err=True)
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
