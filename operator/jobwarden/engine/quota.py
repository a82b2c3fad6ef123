"""Per-namespace admission index: who holds a worker slot, who waits, who is next.

The rules are `core.admission`'s; this keeps their answers current run by run (see
`Slots`), so a namespace with thousands of waiting runs is not re-ranked per change.
"""

from __future__ import annotations

import datetime
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from jobwarden.api.enums import Priority
from jobwarden.core.admission import (
    OUT,
    Placement,
    SortKey,
    Standing,
    Ticket,
    answer,
    blocking_run,
    classify,
    free_slots,
    holds_slot,
    runs_may_overlap,
    ticket_at,
    wants_slot,
)
from jobwarden.core.eta import RATE_SAMPLES, estimate_start, min_samples, starts_soon
from jobwarden.core.observed import RunView, Slot
from jobwarden.engine.store import RunKey, Store


@dataclass
class Queue:
    """A namespace's admission state, kept current run by run.

    `order` holds the waiting runs' sort keys, sorted: a run's position is where its
    key sits, so a change of one run costs O(log n) to find and O(n) memmove at worst
    instead of a re-rank of the whole namespace.
    """

    namespace: str
    limit: int = 0
    holders: int = 0
    order: list[SortKey] = field(default_factory=list)
    entries: dict[RunKey, Placement] = field(default_factory=dict)
    deferred: dict[RunKey, datetime.datetime] = field(default_factory=dict)
    by_priority: Counter[int] = field(default_factory=Counter)  # waiting, by priority rank

    @property
    def free(self) -> int:
        """Slots the quota leaves for waiting runs."""
        return free_slots(self.holders, self.limit)

    def ticket(self, kind: str, name: str) -> Ticket | None:
        """Where a waiting run stands; None if it is not waiting."""
        entry = self.entries.get((kind, self.namespace, name))
        if entry is None or entry.sort_key is None:
            return None
        return ticket_at(bisect_left(self.order, entry.sort_key), self.free)

    def waiting(self) -> Iterator[tuple[RunKey, Ticket]]:
        """The waiting runs in admission order, with their tickets."""
        free = self.free
        for index, (_, _, kind, name) in enumerate(list(self.order)):
            yield (kind, self.namespace, name), ticket_at(index, free)

    def admitted(self) -> Iterator[RunKey]:
        """The waiting runs the free slots admit now (the head of the queue)."""
        for _, _, kind, name in self.order[: self.free]:
            yield kind, self.namespace, name

    def queued_by_priority(self) -> dict[str, int]:
        """How many runs wait, per priority (lower case, as WorkerQuota status shows)."""
        return {p.value.lower(): self.by_priority[p.rank] for p in Priority}

    def tickets(self) -> dict[tuple[str, str], Ticket]:
        """Every waiting run's ticket by (kind, name) (for tests and tools)."""
        return {(key[0], key[2]): ticket for key, ticket in self.waiting()}

    def place(self, key: RunKey, entry: Placement) -> None:
        """Replace what the queue knows of one run."""
        old = self.entries.pop(key, OUT)
        if old.standing is Standing.HOLDS:
            self.holders -= 1
        elif old.sort_key is not None:
            del self.order[bisect_left(self.order, old.sort_key)]
            self.by_priority[old.sort_key[0]] -= 1
        elif old.standing is Standing.DEFERRED:
            self.deferred.pop(key, None)
        if entry.standing is Standing.OUT:
            return
        self.entries[key] = entry
        if entry.standing is Standing.HOLDS:
            self.holders += 1
        elif entry.sort_key is not None:
            insort(self.order, entry.sort_key)
            self.by_priority[entry.sort_key[0]] += 1
        elif entry.until is not None:
            self.deferred[key] = entry.until

    def due(self, now: datetime.datetime) -> list[RunKey]:
        """Deferred runs whose next attempt time has come."""
        return [key for key, until in self.deferred.items() if until <= now]


class Slots:
    """Counts slots from the store plus the engine's in-flight reservations.

    A run holds a slot when its status says Starting, Running or Cancelling, when one of its
    pods may still be running, or when a decision just admitted it (`reserved`,
    before the API reflects it). Counting all three keeps the quota even across
    restarts and while writes are in flight.

    Each namespace's `Queue` is updated only for the runs the store reports changed
    (`Store.take_changed`): every reconcile reserves or releases a slot, and a full
    re-rank of a namespace with n waiting runs for each of them cost O(n log n) per
    change (two thirds of the operator's CPU with 2,000 queued runs).
    """

    def __init__(self, store: Store, default_limit: int) -> None:
        self.store = store
        self.default_limit = default_limit
        self.reserved: set[RunKey] = set()  # change only through reserve/unreserve
        self._queues: dict[str, Queue] = {}
        #: Per namespace, when its latest worker slots were freed (core.eta): what
        #: queue start estimates are computed from.
        self.freed: dict[str, deque[datetime.datetime]] = {}
        self.classified = 0  # runs (re)classified, for tests of the incremental path

    def reserve(self, key: RunKey) -> None:
        """A decision admitted the run: it holds a slot before the API shows it."""
        if key not in self.reserved:
            self.reserved.add(key)
            self.store.changed(key)

    def unreserve(self, key: RunKey) -> None:
        """The API shows the run's slot now, or the admission did not happen."""
        if key in self.reserved:
            self.reserved.discard(key)
            self.store.changed(key)

    def record_release(self, namespace: str, when: datetime.datetime) -> None:
        """A worker slot of `namespace` was freed: the pace queued runs move at
        (core.eta)."""
        self.freed.setdefault(namespace, deque(maxlen=RATE_SAMPLES)).append(when)

    def estimate_start(
        self, namespace: str, position: int, now: datetime.datetime
    ) -> datetime.datetime | None:
        """When the run at `position` of the namespace's queue should start."""
        return estimate_start(position, *self._pace(namespace, now))

    def starts_soon(self, namespace: str, position: int, now: datetime.datetime) -> bool:
        """Whether the run at `position` should start within `eta.SOON` (core.eta)."""
        return starts_soon(position, *self._pace(namespace, now))

    def _pace(
        self, namespace: str, now: datetime.datetime
    ) -> tuple[list[datetime.datetime], datetime.datetime, int]:
        """The arguments core.eta measures a namespace's pace from, after a position."""
        needed = min_samples(self.store.quota(namespace, self.default_limit))
        return list(self.freed.get(namespace, ())), now, needed

    def holds(self, view: RunView) -> bool:
        """Whether the run occupies a worker slot now (`core.admission.holds_slot`)."""
        return holds_slot(
            view,
            reserved=view.key in self.reserved,
            pod_alive=self.store.has_alive_pod(view.key),
        )

    def blocking_run(self, view: RunView) -> RunView | None:
        """Another run of the same ScheduledJob that must finish first (Forbid/Replace)."""
        policy = self._policy(view)
        if runs_may_overlap(view, policy):
            return None
        assert view.scheduled_job is not None  # runs_may_overlap: a run of no job may
        siblings = self.store.runs_of(view.namespace, view.scheduled_job, live_only=True)
        return blocking_run(view, policy, siblings, self.holds)

    def _policy(self, view: RunView) -> str | None:
        """The concurrencyPolicy of the run's ScheduledJob; None if it is not known."""
        sj = self.store.scheduled_jobs.get((view.namespace, str(view.scheduled_job)))
        return sj.concurrency_policy if sj else None

    def queue(self, namespace: str, now: datetime.datetime) -> Queue:
        """The namespace's queue, brought up to date."""
        queue = self._queues.get(namespace)
        changed = self.store.take_changed(namespace)
        if queue is None or changed is None:
            queue = self._rebuild(namespace, now)
        else:
            changed.update(queue.due(now))
            for key in self._with_siblings(queue, changed):
                queue.place(key, self._classify(self.store.run(key), now))
        queue.limit = self.store.quota(namespace, self.default_limit)
        return queue

    def _with_siblings(self, queue: Queue, keys: set[RunKey]) -> set[RunKey]:
        """Whether a run is blocked depends on the other runs of its ScheduledJob
        (unless the job allows concurrent runs): re-check those too."""
        siblings: set[RunKey] = set()
        for key in keys:
            view = self.store.run(key)
            entry = queue.entries.get(key)
            job = view.scheduled_job if view else entry.scheduled_job if entry else None
            if not job or (view and runs_may_overlap(view, self._policy(view))):
                continue
            siblings.update(v.key for v in self.store.runs_of(key[1], job, live_only=True))
        return keys | siblings

    def _rebuild(self, namespace: str, now: datetime.datetime) -> Queue:
        queue = Queue(namespace)
        entries = {view.key: self._classify(view, now) for view in self.store.live_runs(namespace)}
        queue.order = sorted(e.sort_key for e in entries.values() if e.sort_key is not None)
        queue.by_priority = Counter(key[0] for key in queue.order)
        queue.holders = sum(1 for e in entries.values() if e.standing is Standing.HOLDS)
        queue.deferred = {k: e.until for k, e in entries.items() if e.until is not None}
        queue.entries = {k: e for k, e in entries.items() if e.standing is not Standing.OUT}
        self._queues[namespace] = queue
        return queue

    def _classify(self, view: RunView | None, now: datetime.datetime) -> Placement:
        """Where one run belongs in its namespace's queue (`core.admission.classify`)."""
        self.classified += 1
        if (
            view is None
            or view.key not in self.store.live.get(view.namespace, ())
            or (view.phase.terminal and view.key not in self.store.pods)
        ):
            return OUT  # not among `Store.live_runs`
        holds = self.holds(view)
        # The blocker is looked up only where classify reads it (it walks the job's runs).
        blocker = self.blocking_run(view) if not holds and wants_slot(view) else None
        return classify(view, holds=holds, blocker=blocker, now=now)

    def slot_for(self, view: RunView, now: datetime.datetime) -> Slot:
        """The admission answer for one run (`core.admission.answer`)."""
        queue = self.queue(view.namespace, now)
        holds = self.holds(view)
        return answer(
            holds=holds,
            blocker=None if holds else self.blocking_run(view),
            ticket=queue.ticket(view.kind, view.name),
            holders=queue.holders,
            limit=queue.limit,
            estimate=lambda position: self.estimate_start(view.namespace, position, now),
            soon=lambda position: self.starts_soon(view.namespace, position, now),
        )
