"""A scenario helper process run under `ip netns exec` by the kernel adapter tests: JSON lines out, with
every wait bounded by `STEP`."""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from typing import Any

STEP = 5.0  # upper bound for any single wait


class Helper:
    """One running scenario helper (`tests/kernel/_io_helper.py`, `_io6_helper.py`): its JSON lines read
    with a deadline, a newline on stdin to tell it to go on."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        self._sel.register(proc.stdout, selectors.EVENT_READ)

    def line(self, timeout: float = STEP) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not self._sel.select(timeout):
            raise AssertionError(f"helper silent for {timeout}s")
        text = self.proc.stdout.readline()
        if not text:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"helper exited early: {err}")
        result: dict[str, Any] = json.loads(text)
        return result

    def until(self, pred: Any, timeout: float = STEP) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for _ in range(50):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = self.line(left)
            if pred(msg):
                return msg
        raise AssertionError("expected helper output did not arrive")

    def tell(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self._sel.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=STEP)
