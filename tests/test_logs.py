"""Logging: JSON lines off a TTY, console on one or when forced, stdlib records in the same format,
and RateLimitedLog line counts for a simulated flood with explicit clock values."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from vrrpd.logs import FloodGuard, RateLimitedLog, configure, get_logger, write_failures


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # configure() is process-global (structlog config, root logger): leave no trace for others.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_auto_is_json_when_not_a_tty() -> None:
    out = io.StringIO()
    configure("auto", "info", out)
    get_logger("vrrpd.test").info("state_change", instance="VI_1", vrid=51, old="BACKUP", new="MASTER")
    [rec] = lines(out)
    assert rec["event"] == "state_change"
    assert rec["level"] == "info"
    assert rec["logger"] == "vrrpd.test"
    assert (rec["instance"], rec["vrid"], rec["old"], rec["new"]) == ("VI_1", 51, "BACKUP", "MASTER")
    offset = datetime.fromisoformat(rec["timestamp"]).utcoffset()
    assert offset is not None and offset.total_seconds() == 0  # UTC, explicit


def test_json_tracebacks_are_dicts() -> None:
    out = io.StringIO()
    configure("json", "info", out)
    try:
        raise ValueError("bad value")
    except ValueError:
        get_logger("vrrpd.test").exception("crashed")
    [rec] = lines(out)
    assert rec["event"] == "crashed"
    assert rec["level"] == "error"
    [exc] = rec["exception"]
    assert exc["exc_type"] == "ValueError"
    assert exc["exc_value"] == "bad value"
    assert exc["frames"]


def test_level_filters() -> None:
    out = io.StringIO()
    configure("json", "warning", out)
    log = get_logger("vrrpd.test")
    log.info("quiet")
    log.debug("quieter")
    log.warning("loud")
    assert [r["event"] for r in lines(out)] == ["loud"]


def test_logger_created_before_configure_follows_it() -> None:
    early = get_logger("vrrpd.early")  # as a module-level logger would be, at import
    out = io.StringIO()
    configure("json", "info", out)
    early.info("hello")
    assert lines(out)[0]["logger"] == "vrrpd.early"


def test_stdlib_records_use_the_same_format() -> None:
    out = io.StringIO()
    configure("json", "info", out)
    logging.getLogger("pyroute2.test").warning("netlink %s", "hiccup")
    [rec] = lines(out)
    assert (rec["event"], rec["level"], rec["logger"]) == ("netlink hiccup", "warning", "pyroute2.test")
    assert "timestamp" in rec


def test_auto_is_console_on_a_tty_and_json_can_be_forced() -> None:
    tty = FakeTty()
    configure("auto", "info", tty)
    get_logger("vrrpd.test").info("state_change", instance="VI_1")
    text = tty.getvalue()
    assert "state_change" in text and "VI_1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)

    tty = FakeTty()
    configure("json", "info", tty)
    get_logger("vrrpd.test").info("state_change")
    assert lines(tty)[0]["event"] == "state_change"


def test_console_can_be_forced_off_a_tty_without_colour() -> None:
    out = io.StringIO()
    configure("console", "info", out)
    get_logger("vrrpd.test").info("state_change", instance="VI_1")
    text = out.getvalue()
    assert "state_change" in text and "instance=VI_1" in text
    assert "\x1b[" not in text  # no ANSI colour codes into a file or pipe


@pytest.mark.parametrize(("fmt", "level"), [("xml", "info"), ("json", "verbose")])
def test_bad_format_or_level_is_refused(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        configure(fmt, level, io.StringIO())


# --- RateLimitedLog ----------------------------------------------------------------------------


def test_flood_from_one_source_gives_one_line_per_period() -> None:
    with structlog.testing.capture_logs() as logs:
        limiter = RateLimitedLog(get_logger("vrrpd.rx"), "packet_dropped", period=10.0)
        # 10,000 bad packets per second for 25 s, the clock passed in explicitly.
        for i in range(250_000):
            limiter.hit("192.0.2.7 bad_checksum", i / 10_000, src="192.0.2.7", reason="checksum")
        assert [(e["event"], e["log_level"], e.get("suppressed")) for e in logs] == [
            ("packet_dropped", "warning", None),
            ("packet_dropped", "warning", 99_999),
            ("packet_dropped", "warning", 99_999),
        ]
        assert logs[0]["src"] == "192.0.2.7" and logs[0]["key"] == "192.0.2.7 bad_checksum"
        limiter.flush(29.0)  # the flood stopped at 25 s; its period (from 20 s) is not over
        assert len(logs) == 3
        limiter.flush(30.0)
        assert logs[-1]["suppressed"] == 49_999
        limiter.flush(60.0)  # nothing left to report
        assert len(logs) == 4


def test_keys_are_limited_independently_and_quiet_keys_log_plainly() -> None:
    with structlog.testing.capture_logs() as logs:
        limiter = RateLimitedLog(get_logger("vrrpd.rx"), "packet_dropped", period=10.0)
        for t in (0.0, 1.0, 2.0):
            limiter.hit("a", t)
            limiter.hit("b", t)
        limiter.hit("a", 10.0)  # a's period is over: summary with 2 suppressed
        limiter.hit("c", 15.0)
        limiter.hit("c", 30.0)  # nothing suppressed in between: a plain line again
        assert [(e["key"], e.get("suppressed")) for e in logs] == [
            ("a", None),
            ("b", None),
            ("a", 2),
            ("c", None),
            ("c", None),
        ]
        limiter.flush(11.0, force=True)  # shutdown: report b's pending count
        assert (logs[-1]["key"], logs[-1]["suppressed"]) == ("b", 2)


def test_key_table_is_bounded() -> None:
    with structlog.testing.capture_logs() as logs:
        limiter = RateLimitedLog(get_logger("vrrpd.rx"), "packet_dropped", max_keys=2)
        limiter.hit("10.0.0.1", 0.0)
        limiter.hit("10.0.0.2", 0.0)
        limiter.hit("10.0.0.3", 1.0)  # table full, nobody quiet yet: counted as "other"
        limiter.hit("10.0.0.4", 2.0)  # "other" again, within its period: suppressed
        limiter.hit("10.0.0.5", 20.0)  # 1 and 2 are quiet now: forgotten, 5 gets its own key
        assert [e["key"] for e in logs] == ["10.0.0.1", "10.0.0.2", "other", "10.0.0.5"]


def test_level_and_period_are_respected() -> None:
    with structlog.testing.capture_logs() as logs:
        limiter = RateLimitedLog(get_logger("x"), "noise", period=1.0, level="debug")
        limiter.hit("k", 0.0)
        limiter.hit("k", 0.5)
        limiter.hit("k", 1.0)
        assert [(e["log_level"], e.get("suppressed")) for e in logs] == [("debug", None), ("debug", 1)]
    with pytest.raises(ValueError, match="period"):
        RateLimitedLog(get_logger("x"), "noise", period=0)


# --- logging never raises, and no error floods it ----------------------------------------------------


def test_disk_full_drops_and_counts_lines_instead_of_raising() -> None:
    # /dev/full fails every write with ENOSPC, as a full disk under a redirected log does.
    with open("/dev/full", "w") as full:
        configure("json", "info", full)
        before = write_failures().get("ENOSPC", 0)
        log = get_logger("vrrpd.test")
        log.warning("vip_removed", vip="192.0.2.100")  # used to raise OSError in the calling task
        log.error("still_fine")
        logging.getLogger("asyncio").error("from the standard library")
    assert write_failures()["ENOSPC"] - before == 3


def test_a_vanished_reader_drops_and_counts_lines_instead_of_raising() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # stderr's reader went away (journald restarted, a pipe's consumer died)
    with os.fdopen(write_end, "w") as stream:
        configure("json", "info", stream)
        before = write_failures().get("EPIPE", 0)
        get_logger("vrrpd.test").warning("link_changed", interface="eth0", up=False)
        assert write_failures()["EPIPE"] - before == 1


def test_a_closed_stream_is_counted_too() -> None:
    stream = io.StringIO()
    configure("json", "info", stream)
    stream.close()
    before = write_failures().get("ValueError", 0)
    get_logger("vrrpd.test").info("anything")
    assert write_failures()["ValueError"] - before == 1


def test_lines_already_buffered_in_the_stream_come_first(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("w") as stream:
        stream.write("earlier\n")  # still in Python's buffer when the sink takes over the descriptor
        configure("json", "info", stream)
        get_logger("vrrpd.test").info("later")
    first, second = path.read_text().splitlines()
    assert first == "earlier" and json.loads(second)["event"] == "later"


def test_repeated_errors_are_guarded_with_a_count() -> None:
    out = io.StringIO()
    configure("json", "info", out)
    log = get_logger("vrrpd.test")
    for n in range(1000):
        log.error("accept_failed", n=n)
        log.info("routine", n=n)  # below error: never limited
    recs = lines(out)
    assert [r["n"] for r in recs if r["event"] == "accept_failed"] == list(range(10))
    assert sum(r["event"] == "routine" for r in recs) == 1000


def test_guard_lets_the_next_period_through_with_the_suppressed_count() -> None:
    guard = FloodGuard(burst=2, period=10.0)
    key = ("vrrpd.test", "accept_failed")
    assert [guard.admit(key, t) for t in (0.0, 1.0, 2.0, 3.0)] == [0, 0, None, None]
    assert guard.admit(key, 10.0) == 2  # the line after the period carries suppressed=2
    assert guard.admit(("vrrpd.test", "other"), 3.0) == 0  # keys are independent


def test_guard_key_table_is_bounded() -> None:
    guard = FloodGuard(burst=1, period=10.0, max_keys=2)
    assert guard.admit(("a", "1"), 0.0) == 0
    assert guard.admit(("a", "2"), 0.0) == 0
    assert guard.admit(("a", "3"), 0.0) == 0  # shares the overflow key
    assert guard.admit(("a", "4"), 0.0) is None  # ... which is now at its burst


def test_asyncio_error_flood_is_guarded() -> None:
    # Descriptors exhausted: asyncio's default exception handler logged one error per accept attempt
    # (3,465 lines in 10 s measured in the lab). Through the guard, 10 lines and then a count.
    out = io.StringIO()
    configure("json", "info", out)

    async def flood() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(500):
            loop.call_exception_handler({"message": "socket.accept() out of system resource"})

    asyncio.run(flood())
    recs = [r for r in lines(out) if r["event"].startswith("socket.accept()")]
    assert len(recs) == 10 and all(r["logger"] == "asyncio" for r in recs)
