"""Admission: who holds a worker slot, who waits and in what order, who may start.

Pure: the engine passes what it observed and gets the answers back. The rules:

- a run *holds* a slot while its status says Starting, Running or Cancelling, while one
  of its pods may still be running, or once a decision admitted it (reserved in memory
  before the API shows it), so the quota holds across restarts and writes in flight;
- a run of a ScheduledJob whose `concurrencyPolicy` is not Allow (a job not known
  counts as Forbid) is *blocked* while another unfinished run of the job holds a slot;
  a Backfill's runs are outside the policy (its own maxConcurrentRuns caps them): they
  neither block nor are blocked;
- a run whose next attempt is not due yet (retry backoff) is *deferred*;
- every other unfinished run *waits*: by priority (High first), then age, then name,
  and the first ones that fit in the free slots are admitted; a waiting run is told
  when it should start (`core.eta`).

`classify` places one run, `answer` is what the lifecycle decision is told (`Slot`);
`engine.quota` keeps the per-namespace index that applies these rules run by run.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from jobwarden.api.enums import ConcurrencyPolicy, Priority, QueueReason, RunPhase, Trigger
from jobwarden.core.conditions import parse_time
from jobwarden.core.observed import RunView, Slot

#: Phases in which a run holds its slot.
HOLDING_PHASES = frozenset({RunPhase.STARTING, RunPhase.RUNNING, RunPhase.CANCELLING})

SortKey = tuple[int, datetime.datetime, str, str]  # WaitingRun.sort_key()


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

    def sort_key(self) -> SortKey:
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
    while writes are in flight. (The engine keeps the same order incrementally.)
    """
    free = free_slots(holders, limit)
    ordered = sorted(waiting, key=WaitingRun.sort_key)  # tuples compare in C
    return {(run.kind, run.name): ticket_at(index, free) for index, run in enumerate(ordered)}


# ------------------------------------------------------------------ the rules
def holds_slot(run: RunView, *, reserved: bool, pod_alive: bool) -> bool:
    """Whether the run occupies a worker slot now (see the module docstring)."""
    return reserved or run.phase in HOLDING_PHASES or pod_alive


def wants_slot(run: RunView) -> bool:
    """Whether a run that holds no slot may still want one."""
    return not (run.phase.terminal or run.settings.cancel or run.deleting)


def runs_may_overlap(run: RunView, policy: str | None) -> bool:
    """Whether the run may hold a slot beside other runs of its ScheduledJob
    (`policy`: the job's concurrencyPolicy; None: the job is not known). A Backfill's
    runs are outside the policy: its maxConcurrentRuns caps them."""
    return (
        not run.scheduled_job
        or run.trigger == Trigger.BACKFILL
        or policy == ConcurrencyPolicy.ALLOW
    )


def blocking_run(
    run: RunView,
    policy: str | None,
    siblings: Iterable[RunView],
    holds: Callable[[RunView], bool],
) -> RunView | None:
    """Another unfinished run of the same ScheduledJob, holding a slot, that must
    finish first (Forbid, Replace, or a job not known); a Backfill's runs never block."""
    if runs_may_overlap(run, policy):
        return None
    for other in siblings:
        if (
            other.key != run.key
            and other.trigger != Trigger.BACKFILL
            and not other.phase.terminal
            and holds(other)
        ):
            return other
    return None


class Standing(Enum):
    """Where a run stands in its namespace's queue."""

    HOLDS = "holds"  # occupies a slot
    WAITING = "waiting"  # in the queue, ranked by its sort key
    DEFERRED = "deferred"  # waiting once its next attempt time has come
    BLOCKED = "blocked"  # another run of its ScheduledJob must finish first
    OUT = "out"  # finished, cancelled or being deleted: no slot wanted


@dataclass(frozen=True)
class Placement:
    """One run's standing, with what the queue index needs to keep it."""

    standing: Standing
    sort_key: SortKey | None = None  # WAITING
    until: datetime.datetime | None = None  # DEFERRED
    scheduled_job: str | None = None


OUT = Placement(Standing.OUT)


def classify(
    run: RunView, *, holds: bool, blocker: RunView | None, now: datetime.datetime
) -> Placement:
    """Where one run belongs in its namespace's queue. `blocker` (see `blocking_run`)
    is read only for a run that wants a slot and holds none."""
    job = run.scheduled_job
    if holds:
        return Placement(Standing.HOLDS, scheduled_job=job)
    if not wants_slot(run):
        return OUT
    if blocker is not None:
        return Placement(Standing.BLOCKED, scheduled_job=job)
    next_attempt = parse_time(run.status.get("nextAttemptTime"))
    if next_attempt is not None and next_attempt > now:
        return Placement(Standing.DEFERRED, until=next_attempt, scheduled_job=job)
    waiting = WaitingRun.of(run.settings.priority, run.created, run.kind, run.name)
    return Placement(Standing.WAITING, sort_key=waiting.sort_key(), scheduled_job=job)


def answer(
    *,
    holds: bool,
    blocker: RunView | None,
    ticket: Ticket | None,
    holders: int,
    limit: int,
    estimate: Callable[[int], datetime.datetime | None] | None = None,
    soon: Callable[[int], bool] | None = None,
) -> Slot:
    """The namespace's answer to one run: admitted, or where it waits and why, and for
    a run waiting for the quota when it should start (`estimate` of its position,
    `core.eta`) and whether that is soon (`soon`)."""
    if holds:
        return Slot(admit=False, position=0, running=holders, limit=limit)
    if blocker is not None:
        return Slot(
            admit=False,
            position=1,
            running=holders,
            limit=limit,
            reason=QueueReason.CONCURRENCY_POLICY,
            message=f"waiting for run {blocker.name} of the same ScheduledJob to finish",
        )
    if ticket is None:
        return Slot(admit=False, position=0, running=holders, limit=limit)
    waits = not ticket.admit
    return Slot(
        admit=ticket.admit,
        position=ticket.position,
        running=holders,
        limit=limit,
        estimated_start=estimate(ticket.position) if estimate is not None and waits else None,
        starts_soon=soon is not None and waits and soon(ticket.position),
    )
