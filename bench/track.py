"""Trackers fed by watch streams: when (client wall clock) each run reached each phase,
when each pod appeared and when its deletion was first seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
TERMINAL = ("Succeeded", "Failed", "Cancelled")


def key_of(obj: JSON) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


class RunTracker:
    """JobRun (or Job) events: first arrival of each phase, and the latest object."""

    def __init__(self, phase_of: Callable[[JSON], str] | None = None) -> None:
        self.phase_of = phase_of or (lambda o: str((o.get("status") or {}).get("phase") or ""))
        self.first: dict[str, dict[str, float]] = {}
        self.added: dict[str, float] = {}
        self.latest: dict[str, JSON] = {}
        self.deleted: set[str] = set()

    def handle(self, kind: str, obj: JSON, arrival: float) -> None:
        key = key_of(obj)
        if kind == "DELETED":
            self.deleted.add(key)
            return
        self.added.setdefault(key, arrival)
        self.latest[key] = obj
        phase = self.phase_of(obj)
        seen = self.first.setdefault(key, {})
        if phase and phase not in seen:
            seen[phase] = arrival

    def phase(self, key: str) -> str:
        obj = self.latest.get(key)
        return self.phase_of(obj) if obj is not None else ""

    def first_of(self, key: str, phases: tuple[str, ...]) -> float | None:
        times = [t for p, t in self.first.get(key, {}).items() if p in phases]
        return min(times) if times else None

    def count(self, keys: list[str], phases: tuple[str, ...]) -> int:
        return sum(1 for k in keys if self.phase(k) in phases)


class PodTracker:
    """Pod events: first arrival, first arrival of a deletion, running, by pod key."""

    def __init__(self) -> None:
        self.added: dict[str, float] = {}
        self.deleting: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.latest: dict[str, JSON] = {}

    def handle(self, kind: str, obj: JSON, arrival: float) -> None:
        key = key_of(obj)
        self.added.setdefault(key, arrival)
        if kind != "DELETED":
            self.latest[key] = obj
        if (obj.get("metadata") or {}).get("deletionTimestamp") or kind == "DELETED":
            self.deleting.setdefault(key, arrival)
        if (obj.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(key, arrival)


async def wait_for(
    probe: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02
) -> float:
    """Wait until `probe()`; returns the wall-clock time it held. Raises on timeout."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.time()
