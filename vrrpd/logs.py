"""Logging setup for the daemon, and rate limiting for floods of identical events.

This module owns the one structlog configuration (`configure`), the logger helper every other
module uses (`get_logger`), and `RateLimitedLog`, which keeps a flood of bad packets from turning
into a flood of log lines. It must not decide *what* is logged; modules do that.

Logging never raises into the daemon: the sink (`SafeStream`) drops and counts a line the stream
refuses (stderr's reader gone: EPIPE; disk full: ENOSPC), see `write_failures`. And no error floods
it: `FloodGuard` lets through at most a burst of identical error lines (asyncio's own included) per
period, and the next line says how many were suppressed.

Output: one JSON object per line (ISO-8601 UTC timestamp, level, logger, event and fields,
tracebacks as dicts) when the stream is not a TTY — journald, files, log shippers — and
structlog's human console renderer when it is. Records from the standard `logging` module
(pyroute2, asyncio) are routed through the same renderer so a JSON stream stays parseable.
"""

from __future__ import annotations

import datetime
import errno
import logging
import os
import sys
import threading
import time
from collections import Counter
from typing import Any, TextIO, cast

import structlog
import structlog.tracebacks
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "LEVELS",
    "LOG_FORMATS",
    "FloodGuard",
    "RateLimitedLog",
    "SafeStream",
    "configure",
    "get_logger",
    "write_failures",
]

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


# Write failures of the log sink, by errno name ("EPIPE", "ENOSPC"...): the one place they can be
# counted, since they cannot be logged. Read with `write_failures`; exported as a metric.
_write_failures: Counter[str] = Counter()
_write_failures_lock = threading.Lock()


def write_failures() -> dict[str, int]:
    """Log lines lost so far because the sink refused them, by errno name (empty: none lost)."""
    with _write_failures_lock:
        return dict(_write_failures)


def _count_failure(exc: BaseException) -> None:
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
    else:
        name = type(exc).__name__  # ValueError: the stream was closed under us
    with _write_failures_lock:
        _write_failures[name] += 1


class SafeStream:
    """A log sink that never raises: a line the stream refuses is dropped and counted.

    Why: a log call sits inside every task of the daemon. When stderr's reader goes away (EPIPE) or the
    disk under a redirected log fills up (ENOSPC), the stream raises on the next line, and a task that
    logs — the netlink watcher restoring deleted VIPs, a receive loop — would die of it. Losing log lines
    is the lesser harm; each loss is counted (`write_failures`).

    A stream with a file descriptor is written with ``os.write`` on it, whole lines at a time: Python's
    own buffer would keep a refused line and fail again on every later write (and once more at exit).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            self._fd = None
        if self._fd is not None:
            # Anything already buffered goes first, so our unbuffered lines stay in order after it.
            self._flush_stream()
        self._lock = threading.Lock()  # logging may be called from executor threads too

    def write(self, text: str) -> int:
        """Write ``text`` (a whole line, as the loggers call it); never raises."""
        with self._lock:
            try:
                if self._fd is None:
                    self.stream.write(text)
                    self.stream.flush()
                else:
                    data = text.encode("utf-8", "backslashreplace")
                    while data:
                        data = data[os.write(self._fd, data) :]
            except (OSError, ValueError) as exc:
                _count_failure(exc)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered on the descriptor path; a plain stream is flushed, failures counted."""
        if self._fd is None:
            with self._lock:
                self._flush_stream()

    def _flush_stream(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError) as exc:
            _count_failure(exc)

    def isatty(self) -> bool:
        return _is_tty(self.stream)


class FloodGuard:
    """At most ``burst`` lines per key and ``period`` seconds; the rest are counted, not written.

    Applied to every error (and, from other libraries such as asyncio, every warning) before it is
    rendered, keyed by logger and event: a fault that repeats on every loop iteration — asyncio's
    "socket.accept() out of system resource" when descriptors run out — becomes a handful of lines
    per period instead of thousands per second. The first line after a period with drops carries
    ``suppressed=N``. At most ``max_keys`` keys are tracked; beyond that new keys share one.
    """

    OVERFLOW_KEY = ("", "other")

    def __init__(self, burst: int = 10, period: float = 60.0, max_keys: int = 256) -> None:
        if burst < 1 or period <= 0:
            raise ValueError(f"flood guard needs burst >= 1 and period > 0, got {burst!r}/{period!r}")
        self.burst = burst
        self.period = period
        self.max_keys = max_keys
        self._keys: dict[tuple[str, str], list[float]] = {}  # key -> [window start, lines, suppressed]
        self._lock = threading.Lock()

    def admit(self, key: tuple[str, str], now: float) -> int | None:
        """None if the line must be dropped; else how many were dropped before it (0: none)."""
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                if len(self._keys) >= self.max_keys:
                    self._forget(now)
                if len(self._keys) >= self.max_keys:
                    key = self.OVERFLOW_KEY
                    state = self._keys.get(key)
                if state is None:
                    self._keys[key] = [now, 1, 0]
                    return 0
            if now - state[0] >= self.period:
                suppressed = int(state[2])
                state[:] = [now, 1, 0]
                return suppressed
            if state[1] < self.burst:
                state[1] += 1
                return 0
            state[2] += 1
            return None

    def _forget(self, now: float) -> None:
        for key in [k for k, s in self._keys.items() if now - s[0] >= self.period and not s[2]]:
            del self._keys[key]


# Levels the guard applies to: our events from error up; records of other libraries from warning.
_GUARDED = frozenset({"error", "critical", "exception"})


class _GuardProcessor:
    """structlog processor: drops an error line the guard refuses, adds ``suppressed`` to the next one."""

    def __init__(self, guard: FloodGuard) -> None:
        self._guard = guard

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        if method not in _GUARDED:
            return event_dict
        key = (str(getattr(logger, "name", "") or ""), str(event_dict.get("event", "")))
        suppressed = self._guard.admit(key, time.monotonic())
        if suppressed is None:
            raise structlog.DropEvent
        if suppressed:
            event_dict["suppressed"] = suppressed
        return event_dict


class _GuardFilter(logging.Filter):
    """The same guard for records of the standard `logging` module (asyncio, pyroute2)."""

    def __init__(self, guard: FloodGuard) -> None:
        super().__init__()
        self._guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        suppressed = self._guard.admit((record.name, str(record.msg)), time.monotonic())
        if suppressed is None:
            return False
        if suppressed:
            record.suppressed = suppressed
        return True


def _given_time(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """An event logged after it happened carries its own time (``_at``, `time.time()`) as its timestamp, in
    TimeStamper's format: a state change `runtime.prestart` made before logging was set up (issue 17)."""
    at = event_dict.pop("_at", None)
    if at is not None:
        stamp = datetime.datetime.fromtimestamp(at, tz=datetime.UTC).isoformat()
        event_dict["timestamp"] = stamp.replace("+00:00", "Z")
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
    target = sys.stderr if stream is None else stream
    out = target if isinstance(target, SafeStream) else SafeStream(target)
    sink = cast(TextIO, out)  # duck-typed: write, flush, isatty
    as_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    guard = FloodGuard()  # fresh per configure(): counts do not leak between configurations

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _given_time,
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
        renderer = [structlog.dev.ConsoleRenderer(colors=out.isatty())]

    structlog.configure(
        processors=[
            _add_logger_name,
            _GuardProcessor(guard),
            *shared,
            structlog.processors.StackInfoRenderer(),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=lambda *args: _NamedWriteLogger(sink, args[0] if args else None),
        # Not cached: module-level loggers created at import must follow a later configure().
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(sink)
    handler.addFilter(_GuardFilter(guard))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=["suppressed"]),
                *shared,
            ],
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
