"""Admission order of waiting runs in one namespace, under its worker quota.

Pure: the engine passes what it observed (who holds a slot, who waits) and gets
back, for every waiting run, its queue position and whether it may start now.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from jobwarden.api.enums import Priority


@dataclass(frozen=True, order=True)
class WaitingRun:
    """A run that wants a slot. Sorts by priority (High first), age, then name."""

    priority_rank: int
    created: datetime.datetime
    kind: str
    name: str

    @classmethod
    def of(cls, priority: Priority, created: datetime.datetime, kind: str, name: str) -> WaitingRun:
        """Build from a run's priority and creation time."""
        return cls(priority.rank, created, kind, name)

    def sort_key(self) -> tuple[int, datetime.datetime, str, str]:
        """The same order as the dataclass comparison, for a faster sort."""
        return (self.priority_rank, self.created, self.kind, self.name)


@dataclass(frozen=True)
class Ticket:
    """Where one waiting run stands."""

    position: int  # 1-based
    admit: bool


def free_slots(holders: int, limit: int) -> int:
    """Slots the quota leaves for waiting runs (none when it was lowered below use)."""
    return max(0, limit - holders)


def ticket_at(index: int, free: int) -> Ticket:
    """The ticket of the run at 0-based `index` of the ordered queue: the first `free`
    are admitted. The engine's incremental queue (`engine.quota`) uses this too."""
    return Ticket(position=index + 1, admit=index < free)


def rank(waiting: Iterable[WaitingRun], holders: int, limit: int) -> dict[tuple[str, str], Ticket]:
    """Positions of the waiting runs, and which of them fit in the free slots.

    `holders` counts runs that hold a slot now (running workers, including slots
    reserved in memory but not yet visible in the API), so the quota holds even
    while writes are in flight.
    """
    free = free_slots(holders, limit)
    ordered = sorted(waiting, key=WaitingRun.sort_key)  # tuples compare in C
    return {(run.kind, run.name): ticket_at(index, free) for index, run in enumerate(ordered)}
