"""Per-namespace slot accounting: who holds a worker slot, who waits, who is next."""

from __future__ import annotations

import datetime

from jobwarden.api.enums import ConcurrencyPolicy, RunPhase
from jobwarden.core.admission import Ticket, WaitingRun, rank
from jobwarden.core.conditions import parse_time
from jobwarden.core.observed import RunView, Slot
from jobwarden.engine.store import RunKey, Store

_HOLDING_PHASES = (RunPhase.RUNNING, RunPhase.CANCELLING)


class Slots:
    """Counts slots from the store plus the engine's in-flight reservations.

    A run holds a slot when its status says Running or Cancelling, when one of its
    pods may still be running, or when a decision just admitted it (`reserved`,
    before the API reflects it). Counting all three keeps the quota even across
    restarts and while writes are in flight.
    """

    def __init__(self, store: Store, default_limit: int) -> None:
        self.store = store
        self.default_limit = default_limit
        self.reserved: set[RunKey] = set()

    def holds(self, view: RunView) -> bool:
        """Whether the run occupies a worker slot now."""
        if view.key in self.reserved or view.phase in _HOLDING_PHASES:
            return True
        return any(pod.alive for pod in self.store.pods_of(view.key))

    def blocking_run(self, view: RunView) -> RunView | None:
        """Another run of the same ScheduledJob that must finish first (Forbid/Replace)."""
        if not view.scheduled_job:
            return None
        sj = self.store.scheduled_jobs.get((view.namespace, view.scheduled_job))
        policy = (sj.spec.get("concurrencyPolicy") if sj else None) or ConcurrencyPolicy.FORBID
        if policy == ConcurrencyPolicy.ALLOW:
            return None
        for other in self.store.runs_of(view.namespace, view.scheduled_job):
            if other.key != view.key and not other.phase.terminal and self.holds(other):
                return other
        return None

    def _waits(self, view: RunView, now: datetime.datetime) -> bool:
        """Competes for a slot now (not blocked by its job's concurrency policy)."""
        if view.phase.terminal or view.settings.cancel or view.deleting:
            return False
        if self.blocking_run(view) is not None:
            return False
        next_attempt = parse_time(view.status.get("nextAttemptTime"))
        return next_attempt is None or next_attempt <= now

    def tickets(
        self, namespace: str, now: datetime.datetime
    ) -> tuple[dict[tuple[str, str], Ticket], int, int]:
        """Queue tickets of the namespace's waiting runs, running count, limit."""
        holders = 0
        waiting: list[WaitingRun] = []
        for view in self.store.runs_in(namespace):
            if self.holds(view):
                holders += 1
            elif self._waits(view, now):
                waiting.append(
                    WaitingRun.of(view.settings.priority, view.created, view.kind, view.name)
                )
        limit = self.store.quota(namespace, self.default_limit)
        return rank(waiting, holders, limit), holders, limit

    def slot_for(self, view: RunView, now: datetime.datetime) -> Slot:
        """The admission answer for one run."""
        tickets, holders, limit = self.tickets(view.namespace, now)
        if self.holds(view):
            return Slot(admit=False, position=0, running=holders, limit=limit)
        blocker = self.blocking_run(view)
        if blocker is not None:
            return Slot(
                admit=False,
                position=1,
                running=holders,
                limit=limit,
                reason="ConcurrencyPolicy",
                message=f"waiting for run {blocker.name} of the same ScheduledJob to finish",
            )
        ticket = tickets.get((view.kind, view.name))
        if ticket is None:
            return Slot(admit=False, position=0, running=holders, limit=limit)
        return Slot(admit=ticket.admit, position=ticket.position, running=holders, limit=limit)
