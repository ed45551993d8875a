"""Run a coroutine from a synchronous test with a hard bound, so no async test can hang the suite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 10.0) -> T:
    """`asyncio.run(coro)`, cancelled after `timeout` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())
