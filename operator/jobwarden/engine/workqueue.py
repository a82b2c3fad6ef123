"""A work queue in the manner of client-go's: keys are deduplicated, a key is never
processed by two workers at once, and keys can be added after a delay."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Deduplicating queue with delayed adds, drained by `run()` workers."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()  # queued, not yet taken
        self._processing: set[K] = set()
        self._again: set[K] = set()  # added while processing: queue when done
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}  # earliest pending delayed add per key
        self._counter = itertools.count()
        self._timer_wakeup = asyncio.Event()

    def add(self, key: K) -> None:
        """Queue `key` now (no-op if already queued)."""
        if key in self._processing:
            self._again.add(key)
            return
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: K, seconds: float) -> None:
        """Queue `key` after `seconds` (the earliest of several requests wins)."""
        if seconds <= 0:
            self.add(key)
            return
        due = time.monotonic() + seconds
        if self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._delayed, (due, next(self._counter), key))
        self._timer_wakeup.set()

    def __len__(self) -> int:
        return len(self._dirty) + len(self._processing)

    async def _timers(self) -> None:
        while True:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                due, _, key = heapq.heappop(self._delayed)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            self._timer_wakeup.clear()
            timeout = self._delayed[0][0] - now if self._delayed else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wakeup.wait(), timeout)

    async def _worker(self, handle: Callable[[K], Awaitable[None]]) -> None:
        while True:
            key = await self._queue.get()
            self._dirty.discard(key)
            self._processing.add(key)
            try:
                await handle(key)
            finally:
                self._processing.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)

    async def run(self, handle: Callable[[K], Awaitable[None]], workers: int) -> None:
        """Process keys with `workers` concurrent workers until cancelled."""
        tasks = [asyncio.create_task(self._timers())]
        tasks += [asyncio.create_task(self._worker(handle)) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
