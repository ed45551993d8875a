"""Task supervision: a long-running task that dies makes /healthz fail and stops the systemd watchdog
pings (so systemd restarts the daemon), and says so in the log and in STATUS= — whatever the task."""

from __future__ import annotations

import asyncio
import errno
from typing import cast

import structlog

from tests.support.aio import run
from tests.support.fakes import STATUS_CONFIG as CONFIG
from vrrpd.config import parse_config
from vrrpd.ops.metrics import Body, make_registry, routes
from vrrpd.runtime.daemon import Daemon
from vrrpd.runtime.healthcheck import HealthChecker
from vrrpd.runtime.notify import Notifier
from vrrpd.runtime.sdnotify import SdNotifier


class FakeSd:
    """Records what the daemon tells systemd."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def watchdog(self) -> None:
        self.sent.append("WATCHDOG=1")

    async def status(self, status: str) -> None:
        self.sent.append(f"STATUS={status}")


async def _crash_later(delay: float) -> None:
    await asyncio.sleep(delay)
    # What a log line raised in the netlink watcher before logging was made safe.
    raise BrokenPipeError(errno.EPIPE, "Broken pipe")


async def _forever() -> None:
    await asyncio.Event().wait()


def test_a_dead_task_fails_healthz_and_stops_the_watchdog_pings() -> None:
    async def main() -> tuple[list[str], tuple[int, str, Body], tuple[int, str, Body]]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        healthz = routes(daemon, make_registry(daemon))["/healthz"]
        daemon._tasks.append(loop.create_task(_forever(), name="recv-eth0"))
        daemon._tasks.append(loop.create_task(_crash_later(0.25), name="netlink-events"))
        sd = FakeSd()
        supervisor = loop.create_task(daemon._supervise(cast(SdNotifier, sd), watchdog=0.1))
        await asyncio.sleep(0.2)
        before = healthz()
        await asyncio.sleep(0.5)
        after = healthz()
        supervisor.cancel()
        for task in daemon._tasks:
            task.cancel()
        await asyncio.gather(supervisor, *daemon._tasks, return_exceptions=True)
        return sd.sent, before, after

    with structlog.testing.capture_logs() as logs:
        sent, before, after = run(main())
    assert before[0] == 200
    assert after[0] == 503 and b"netlink-events" in after[2]
    died = next(i for i, m in enumerate(sent) if m.startswith("STATUS=unhealthy"))
    assert sent[died] == "STATUS=unhealthy: netlink-events ended; watchdog pings stopped"
    assert sent[:died].count("WATCHDOG=1") >= 3  # pinging every 50 ms while healthy
    assert "WATCHDOG=1" not in sent[died:]  # ... and never again: systemd's WatchdogSec restarts it
    [event] = [e for e in logs if e["event"] == "task_died"]
    assert event["task"] == "netlink-events" and "Broken pipe" in event["error"]
    assert event["log_level"] == "critical"


def test_without_a_watchdog_the_supervisor_sleeps_until_a_task_ends_and_reports_it_at_once() -> None:
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        unwatch = daemon._watch_tasks(loop)
        passes: list[float] = []
        dead_tasks = daemon.dead_tasks

        def counting() -> list[str]:
            passes.append(loop.time())
            return dead_tasks()

        daemon.dead_tasks = counting  # type: ignore[method-assign]
        daemon._tasks.append(loop.create_task(_forever(), name="recv-eth0"))
        crash = loop.time() + 0.3
        daemon._tasks.append(loop.create_task(_crash_later(0.3), name="netlink-events"))
        supervisor = loop.create_task(daemon._supervise(None, watchdog=None))
        await asyncio.sleep(0.25)
        idle = len(passes)  # no periodic wake-up: the first pass only
        for _ in range(100):  # bounded: 0.5 s
            if len(passes) > idle:
                break
            await asyncio.sleep(0.005)
        supervisor.cancel()
        for task in daemon._tasks:
            task.cancel()
        await asyncio.gather(supervisor, *daemon._tasks, return_exceptions=True)
        unwatch()
        return idle, passes[idle] - crash if len(passes) > idle else 1.0

    with structlog.testing.capture_logs() as logs:
        idle, late = run(main())
    assert idle == 1
    assert late < 0.1  # the task's end woke it (a second's polling would be up to 1 s)
    [event] = [e for e in logs if e["event"] == "task_died"]
    assert event["task"] == "netlink-events"


def test_checks_and_notifiers_count_as_long_running_tasks() -> None:
    async def main() -> list[list[str]]:
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))

        async def probe() -> bool:
            return True

        check = HealthChecker(probe, 0.05, 1, 1, lambda up, detail: None, name="VI_1")
        daemon._checkers[("eth0", 51, 4)] = check
        notifier = Notifier("/bin/true", 1.0)
        daemon._notifiers[("eth0", 51, 4)] = notifier
        seen = [daemon.dead_tasks()]
        check.start()
        notifier.start()
        await asyncio.sleep(0.05)
        seen.append(daemon.dead_tasks())
        # Killed from outside, as an exception escaping their loops would end them.
        assert check._task is not None and notifier._worker is not None
        check._task.cancel()
        notifier._worker.cancel()
        await asyncio.sleep(0.01)
        seen.append(daemon.dead_tasks())
        await check.stop()  # a stopped check or closed notifier is not a dead one
        await notifier.close()
        seen.append(daemon.dead_tasks())
        return seen

    assert run(main()) == [[], [], ["healthcheck:VI_1", "notify:/bin/true"], []]
