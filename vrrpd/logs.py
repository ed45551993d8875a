"""Logging setup for the daemon, and rate limiting for floods of identical events.

This module owns the one structlog configuration (`configure`), the logger helper every other
module uses (`get_logger`), and `RateLimitedLog`, which keeps a flood of bad packets from turning
into a flood of log lines. It must not decide *what* is logged; modules do that.

Output: one JSON object per line (ISO-8601 UTC timestamp, level, logger, event and fields,
tracebacks as dicts) when the stream is not a TTY — journald, files, log shippers — and
structlog's human console renderer when it is. Records from the standard `logging` module
(pyroute2, asyncio) are routed through the same renderer so a JSON stream stays parseable.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
import structlog.tracebacks
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = ["LEVELS", "LOG_FORMATS", "RateLimitedLog", "configure", "get_logger"]

LOG_FORMATS = ("auto", "json", "console")
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or already closed
        return False


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that remembers the name `get_logger` asked for, so a processor can log it
    (structlog's own ``logger=`` initial value would clash with ``get_logger``'s signature)."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def configure(log_format: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog (and the stdlib root logger) to write to ``stream``.

    ``log_format``: "auto" (JSON unless ``stream`` is a TTY), "json" or "console".
    ``level``: one of `LEVELS`. ``stream`` defaults to the *current* ``sys.stderr``, looked up at
    call time rather than bound at import, so a replaced stderr is honoured.
    Raises ValueError naming the allowed values for an unknown format or level.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    levelno = LEVELS.get(level.lower())
    if levelno is None:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    out = sys.stderr if stream is None else stream
    as_json = log_format == "json" or (log_format == "auto" and not _is_tty(out))

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    if as_json:
        # Tracebacks as dicts, but never with frame locals: a local may hold an encoded advert with
        # its password (auth_pass must not reach logs).
        renderer = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=_is_tty(out))]

    structlog.configure(
        processors=[
            _add_logger_name,
            *shared,
            structlog.processors.StackInfoRenderer(),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=lambda *args: _NamedWriteLogger(out, args[0] if args else None),
        # Not cached: module-level loggers created at import must follow a later configure().
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(levelno)


def get_logger(name: str) -> FilteringBoundLogger:
    """A lazy structlog logger whose lines carry ``logger=name``; it follows whatever `configure`
    set last, also when created at import time."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger


class _KeyState:
    __slots__ = ("suppressed", "window_start")

    def __init__(self, window_start: float) -> None:
        self.window_start = window_start
        self.suppressed = 0


class RateLimitedLog:
    """Log one ``event`` per key at most once per ``period`` seconds, counting what it drops.

    The first hit of a key is logged with its fields. Later hits within ``period`` of the last
    line are only counted; the first hit after that is logged with ``suppressed=N``, the number
    of hits dropped since the previous line, and starts a new period. So a flood of 10,000 bad
    packets per second from one source yields one line every ``period`` seconds. Time is a
    parameter (``now``, any monotonic clock), so this never reads a clock itself.

    At most ``max_keys`` keys are tracked (a spoofed-source flood must not grow memory without
    bound); beyond that, quiet keys are forgotten and, if still full, new keys share the key
    "other". `flush` reports counts a flood left behind when it stopped.
    """

    OVERFLOW_KEY = "other"

    def __init__(
        self,
        logger: FilteringBoundLogger,
        event: str,
        *,
        period: float = 10.0,
        level: str = "warning",
        max_keys: int = 1024,
    ) -> None:
        if period <= 0:
            raise ValueError(f"rate limit period must be > 0 seconds, got {period!r}")
        self._logger = logger
        self._event = event
        self._period = period
        self._level = LEVELS[level]
        self._max_keys = max_keys
        self._keys: dict[str, _KeyState] = {}

    def hit(self, key: str, now: float, **fields: Any) -> None:
        """Record one occurrence of ``key`` at ``now``; log it unless rate-limited."""
        state = self._keys.get(key)
        if state is None:
            key = self._admit(key, now)
            state = self._keys.get(key)
        if state is None:
            self._keys[key] = _KeyState(now)
            self._logger.log(self._level, self._event, key=key, **fields)
            return
        if now - state.window_start < self._period:
            state.suppressed += 1
            return
        suppressed, state.suppressed, state.window_start = state.suppressed, 0, now
        if suppressed:
            self._logger.log(self._level, self._event, key=key, suppressed=suppressed, **fields)
        else:
            self._logger.log(self._level, self._event, key=key, **fields)

    def flush(self, now: float, *, force: bool = False) -> None:
        """Emit a summary line for each key with suppressed hits whose period is over at ``now``
        (or for all of them when ``force``, e.g. at shutdown). Call it now and then so a flood
        that stopped still gets its count reported."""
        for key, state in self._keys.items():
            if state.suppressed and (force or now - state.window_start >= self._period):
                self._logger.log(self._level, self._event, key=key, suppressed=state.suppressed)
                state.suppressed, state.window_start = 0, now

    def _admit(self, key: str, now: float) -> str:
        if len(self._keys) < self._max_keys:
            return key
        quiet = [
            k for k, s in self._keys.items() if not s.suppressed and now - s.window_start >= self._period
        ]
        for k in quiet:
            del self._keys[k]
        return key if len(self._keys) < self._max_keys else self.OVERFLOW_KEY
