"""Per-namespace slot accounting: who holds a worker slot, who waits, who is next."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from jobwarden.api.enums import ConcurrencyPolicy, RunPhase
from jobwarden.core.admission import Ticket, WaitingRun, rank
from jobwarden.core.conditions import parse_time
from jobwarden.core.observed import RunView, Slot
from jobwarden.engine.store import RunKey, Store

_HOLDING_PHASES = (RunPhase.RUNNING, RunPhase.CANCELLING)


@dataclass(frozen=True)
class _Ranking:
    """A namespace's queue, valid while the store's version is `version` and, when
    a waiting run is only held back by its next attempt time, until `valid_until`."""

    version: int
    valid_until: datetime.datetime | None
    tickets: dict[tuple[str, str], Ticket]
    holders: int
    limit: int


class Slots:
    """Counts slots from the store plus the engine's in-flight reservations.

    A run holds a slot when its status says Running or Cancelling, when one of its
    pods may still be running, or when a decision just admitted it (`reserved`,
    before the API reflects it). Counting all three keeps the quota even across
    restarts and while writes are in flight.

    Rankings are cached per namespace until the store says something they read has
    changed: every reconcile of a waiting run asks for its ticket, and re-ranking a
    namespace of n waiting runs for each of them would cost O(n² log n) per wave.
    """

    def __init__(self, store: Store, default_limit: int) -> None:
        self.store = store
        self.default_limit = default_limit
        self.reserved: set[RunKey] = set()  # change only through reserve/unreserve
        self._rankings: dict[str, _Ranking] = {}

    def reserve(self, key: RunKey) -> None:
        """A decision admitted the run: it holds a slot before the API shows it."""
        if key not in self.reserved:
            self.reserved.add(key)
            self.store.touch(key[1])

    def unreserve(self, key: RunKey) -> None:
        """The API shows the run's slot now, or the admission did not happen."""
        if key in self.reserved:
            self.reserved.discard(key)
            self.store.touch(key[1])

    def holds(self, view: RunView) -> bool:
        """Whether the run occupies a worker slot now."""
        if view.key in self.reserved or view.phase in _HOLDING_PHASES:
            return True
        return self.store.has_alive_pod(view.key)

    def blocking_run(self, view: RunView) -> RunView | None:
        """Another run of the same ScheduledJob that must finish first (Forbid/Replace)."""
        if not view.scheduled_job:
            return None
        sj = self.store.scheduled_jobs.get((view.namespace, view.scheduled_job))
        policy = sj.concurrency_policy if sj else ConcurrencyPolicy.FORBID
        if policy == ConcurrencyPolicy.ALLOW:
            return None
        for other in self.store.runs_of(view.namespace, view.scheduled_job, live_only=True):
            if other.key != view.key and not other.phase.terminal and self.holds(other):
                return other
        return None

    def tickets(
        self, namespace: str, now: datetime.datetime
    ) -> tuple[dict[tuple[str, str], Ticket], int, int]:
        """Queue tickets of the namespace's waiting runs, running count, limit."""
        ranking = self._rankings.get(namespace)
        if (
            ranking is None
            or ranking.version != self.store.version(namespace)
            or (ranking.valid_until is not None and now >= ranking.valid_until)
        ):
            ranking = self._rank(namespace, now)
            self._rankings[namespace] = ranking
        return ranking.tickets, ranking.holders, ranking.limit

    def _rank(self, namespace: str, now: datetime.datetime) -> _Ranking:
        version = self.store.version(namespace)
        holders = 0
        waiting: list[WaitingRun] = []
        valid_until: datetime.datetime | None = None
        for view in self.store.live_runs(namespace):
            if self.holds(view):
                holders += 1
                continue
            if view.phase.terminal or view.settings.cancel or view.deleting:
                continue
            if self.blocking_run(view) is not None:
                continue
            next_attempt = parse_time(view.status.get("nextAttemptTime"))
            if next_attempt is not None and next_attempt > now:
                valid_until = min(valid_until or next_attempt, next_attempt)
                continue
            waiting.append(
                WaitingRun.of(view.settings.priority, view.created, view.kind, view.name)
            )
        limit = self.store.quota(namespace, self.default_limit)
        return _Ranking(version, valid_until, rank(waiting, holders, limit), holders, limit)

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
