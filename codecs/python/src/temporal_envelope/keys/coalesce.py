"""Concurrent callers asking for the same key share one KMS call (the DEK cache's data keys, the
branch-key layer's branch keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")


class Coalescer:
    def __init__(self) -> None:
        self._inflight: dict[tuple[int, object], asyncio.Task[Any]] = {}

    async def run(self, key: object, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``make()`` once for every caller waiting on ``key`` at the same time."""
        # Keyed by event loop too: a codec shared by a client and a worker on different loops must
        # not await a future that belongs to another loop.
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        pending = self._inflight.get(slot)
        if pending is None:
            task = loop.create_task(make())
            self._inflight[slot] = task
            task.add_done_callback(lambda t: self._settled(slot, t))
            pending = task
        # shield: a caller cancelled while waiting must not cancel the KMS call others wait for.
        return cast(T, await asyncio.shield(pending))

    def _settled(self, slot: tuple[int, object], task: asyncio.Task[Any]) -> None:
        self._inflight.pop(slot, None)
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as lost
