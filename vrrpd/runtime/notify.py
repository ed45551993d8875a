"""keepalived-compatible state-change notifications: the notify script and the notify FIFO.

This module owns delivering "instance X is now STATE at priority P" to the outside world, in
order, without ever blocking or failing the daemon:

* `Notifier` runs the configured program as keepalived's ``notify`` does —
  ``path INSTANCE <name> <STATE> <priority>`` — one call at a time, in the order the state
  changes happened, each bounded by a timeout (killed and reaped when it expires);
* `NotifyFifo` writes keepalived's ``vrrp_notify_fifo`` line ``INSTANCE "<name>" <STATE> <prio>``
  to a FIFO without blocking, dropping (and counting) lines nobody is there to read.

Failures are logged (``notify_failed``, ``notify_fifo_dropped``), never raised: a broken hook
must not stop a failover. Which states exist and when to notify is the caller's business.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat

from vrrpd.logs import get_logger
from vrrpd.runtime.healthcheck import run_program

__all__ = ["Notifier", "NotifyFifo"]

_log = get_logger(__name__)

_Call = tuple[str, str, int]

_FIFO_REASONS = {
    errno.ENXIO: "no reader",
    errno.EPIPE: "reader went away",
    errno.EAGAIN: "pipe full",
    errno.ENOENT: "no such FIFO",
}


class Notifier:
    """Ordered, bounded delivery of keepalived-style notify calls to the program at ``path``.

    ``path=None`` (nothing configured) makes every method a no-op. At most ``max_pending``
    calls wait in the queue; past that the *oldest* waiting call is dropped, so the latest
    state — the one that matters — is always delivered.
    """

    def __init__(self, path: str | None, timeout: float, *, max_pending: int = 256) -> None:
        if timeout <= 0:
            raise ValueError(f"notify timeout must be > 0 seconds, got {timeout!r}")
        self.path = path
        self.timeout = timeout
        # Only with a program to run: an asyncio.Queue holds four deques (~3 KiB), and the daemon makes
        # one Notifier per instance, most of them with nothing configured.
        self._queue: asyncio.Queue[_Call] | None = None if path is None else asyncio.Queue(max_pending)
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker task on the running loop (calls queued before are run first)."""
        if self.path is None or (self._worker is not None and not self._worker.done()):
            return
        self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"notify:{self.path}")

    def notify(self, instance: str, state: str, priority: int) -> None:
        """Queue ``path INSTANCE instance state priority``; returns at once."""
        if self._queue is None:
            return
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self._queue.task_done()
            _log.warning("notify_dropped", instance=dropped[0], state=dropped[1], reason="queue full")
        self._queue.put_nowait((instance, state, priority))

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - bounded, logs, never raises
        """Wait until every queued call has run, for at most ``timeout`` seconds (shutdown:
        deliver the STOP notification, but do not hang the exit on a slow hook)."""
        if self._queue is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            _log.warning("notify_drain_timeout", pending=self._queue.qsize(), waited=timeout)

    async def close(self) -> None:
        """Stop the worker; a running call is killed and reaped, queued calls are discarded."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.cancel()
        await asyncio.wait([worker])
        if self._queue is not None and not self._queue.empty():
            _log.warning("notify_discarded", pending=self._queue.qsize())

    async def _work(self) -> None:
        assert self.path is not None and self._queue is not None  # start() needs a path
        while True:  # ends by cancellation in close()
            instance, state, priority = await self._queue.get()
            try:
                argv = [self.path, "INSTANCE", instance, state, str(priority)]
                outcome = await run_program(argv, self.timeout)
                if not outcome.ok:
                    _log.warning(
                        "notify_failed",
                        instance=instance,
                        state=state,
                        priority=priority,
                        path=self.path,
                        rc=outcome.rc,
                        reason=outcome.reason,
                    )
            finally:
                self._queue.task_done()


class NotifyFifo:
    """Write keepalived's notify-FIFO lines to ``path`` without ever blocking the loop.

    The FIFO is opened O_RDWR|O_NONBLOCK on first use and kept open, as keepalived does: holding the
    read side too means a consumer that restarts misses nothing (the pipe keeps the lines meanwhile)
    and opening never fails for want of a reader. A full pipe makes the write fail (EAGAIN): that line
    is dropped and counted in ``dropped``. Lines are shorter than PIPE_BUF, so a write is all or nothing.
    This class does not create the FIFO (the daemon does, when it is missing).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.written = 0
        self.dropped = 0
        self._fd: int | None = None

    def write(self, instance: str, state: str, priority: int) -> bool:
        """Write one line; True if it went into the pipe, False if it was dropped."""
        line = f'INSTANCE "{instance}" {state} {priority}\n'.encode()
        try:
            if self._fd is None:
                self._fd = self._open()
            os.write(self._fd, line)
        except OSError as exc:
            if exc.errno != errno.EAGAIN:  # a full pipe keeps its reader; anything else reopens
                self.close()
            self.dropped += 1
            reason = _FIFO_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
            _log.warning("notify_fifo_dropped", path=self.path, instance=instance, reason=reason)
            return False
        self.written += 1
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            # Writing at offset 0 of a regular file would silently clobber it.
            os.close(fd)
            raise OSError(errno.EINVAL, f"{self.path} is not a FIFO")
        return fd
