"""The operator's memory of the cluster: run, pod and quota projections.

Filled from kopf's watch streams (kopf fills indexes completely before any handler
runs, so after a restart or a takeover the store is whole before the first
decision). After its own status writes the engine keeps the newer object it got
back, so a decision never reads an older status than the one just written.

For the admission bookkeeping it also keeps, per namespace, the runs that may still
hold or want a slot (`live_runs`: finished runs drop out, so a namespace with
thousands of finished runs costs nothing) and which runs changed in a way a queue
ranking reads since the queue last looked (`take_changed`), so the queue is updated
run by run instead of re-ranked.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import RunPhase
from jobwarden.core.backfill import BackfillView
from jobwarden.core.observed import PodView, RunView
from jobwarden.core.scheduledjob import ScheduledJobView

RunKey = tuple[str, str, str]  # (kind, namespace, name)

#: What is kept of a finished run's status: what ScheduledJob decisions (history,
#: retention, last success) and the metrics read. A reconcile of a finished run reads
#: the whole object first (`RunView.complete` is False).
_FINISHED_FIELDS = frozenset(
    ("phase", "reason", "startTime", "completionTime", "scheduledTime", "attempt")
)

#: Changed runs kept for a namespace whose queue nobody asked for; past this the
#: queue is simply rebuilt when next asked.
_MAX_PENDING_CHANGES = 10_000


def _slim(status: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of a finished run's status: `_FINISHED_FIELDS`, and of a run that
    did not succeed its last attempt with the start of its message (the error a
    ScheduledJob's history keeps when the run is pruned)."""
    slim = {k: v for k, v in status.items() if k in _FINISHED_FIELDS}
    attempts = status.get("attempts") or []
    if attempts and status.get("phase") != RunPhase.SUCCEEDED and attempts[-1].get("message"):
        last = dict(attempts[-1])
        last["message"] = str(last["message"])[: c.MAX_SUMMARY_ERROR_CHARS + 1]  # clipped later
        slim["attempts"] = [last]
    return slim


def _rv(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


@dataclass
class Store:
    """In-memory projections, keyed for the engine's lookups."""

    runs: dict[RunKey, RunView] = field(default_factory=dict)
    fresh: dict[RunKey, RunView] = field(default_factory=dict)  # our own latest writes
    pods: dict[RunKey, dict[str, PodView]] = field(default_factory=lambda: defaultdict(dict))
    quotas: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    quota_meta: dict[tuple[str, str], tuple[str, int]] = field(
        default_factory=dict
    )  # uid, generation
    by_namespace: dict[str, set[RunKey]] = field(default_factory=lambda: defaultdict(set))
    scheduled_jobs: dict[tuple[str, str], ScheduledJobView] = field(default_factory=dict)
    by_scheduled_job: dict[tuple[str, str], set[RunKey]] = field(
        default_factory=lambda: defaultdict(set)
    )
    live: dict[str, set[RunKey]] = field(default_factory=lambda: defaultdict(set))
    backfills: dict[tuple[str, str], BackfillView] = field(default_factory=dict)
    #: Per namespace, the runs changed since the queue last looked; None: look at all.
    changes: dict[str, set[RunKey] | None] = field(default_factory=dict)

    def changed(self, key: RunKey) -> None:
        """Something a queue ranking reads of this run (or its slot) changed."""
        namespace = key[1]
        if namespace not in self.changes:
            self.changes[namespace] = {key}
            return
        pending = self.changes[namespace]
        if pending is not None:
            pending.add(key)
            if len(pending) > _MAX_PENDING_CHANGES:  # nobody looked for long: start over
                self.changes[namespace] = None

    def take_changed(self, namespace: str) -> set[RunKey] | None:
        """The runs changed since the last call (None: rank the namespace afresh)."""
        return self.changes.pop(namespace, set())

    def _track(self, before: RunView | None, after: RunView) -> None:
        """Keep `live` and `changes` current for a run whose newest view changed."""
        if not after.phase.terminal:
            self.live[after.namespace].add(after.key)
        if before is None or _rank_signature(before) != _rank_signature(after):
            self.changed(after.key)

    # ------------------------------------------------------------------ runs
    def put_run(self, body: Mapping[str, Any]) -> RunView:
        """Record a run from a watch event or a list; finished runs are kept slim.

        An older version never replaces a newer one (a list can race the watch).
        """
        view = RunView.from_body(body)
        known = self.runs.get(view.key)
        if known is not None and _rv(known.resource_version) > _rv(view.resource_version):
            return known
        if view.phase.terminal:
            slim = _slim(view.status)
            view = dataclasses.replace(view, status=slim, complete=False, spec={})
        before = self.run(view.key)
        self.runs[view.key] = view
        self.by_namespace[view.namespace].add(view.key)
        if view.scheduled_job:
            self.by_scheduled_job[view.namespace, view.scheduled_job].add(view.key)
        fresh = self.fresh.get(view.key)
        if fresh is not None and _rv(view.resource_version) >= _rv(fresh.resource_version):
            del self.fresh[view.key]
        self._track(before, self.run(view.key) or view)
        return view

    def remember_written(self, body: Mapping[str, Any]) -> None:
        """Keep the object returned by our own write until the watch catches up."""
        view = RunView.from_body(body)
        current = self.runs.get(view.key)
        if current is None or _rv(view.resource_version) > _rv(current.resource_version):
            before = self.run(view.key)
            self.fresh[view.key] = view
            self._track(before, view)

    def remove_run(self, key: RunKey) -> None:
        """Forget a deleted run."""
        view = self.runs.get(key)
        if view is not None and view.scheduled_job:
            self.by_scheduled_job[view.namespace, view.scheduled_job].discard(key)
        self.runs.pop(key, None)
        self.fresh.pop(key, None)
        self.by_namespace[key[1]].discard(key)
        self.live[key[1]].discard(key)
        self.changed(key)

    def run(self, key: RunKey) -> RunView | None:
        """The newest known view of a run."""
        return self.fresh.get(key) or self.runs.get(key)

    def runs_in(self, namespace: str) -> Iterator[RunView]:
        """Every known run of a namespace (newest views)."""
        for key in list(self.by_namespace.get(namespace, ())):
            view = self.run(key)
            if view is not None:
                yield view

    def live_runs(self, namespace: str) -> Iterator[RunView]:
        """The runs of a namespace that may hold or want a slot: unfinished ones, and
        finished ones whose pods are still known. The others drop out as they are met."""
        live = self.live.get(namespace)
        if not live:
            return
        for key in list(live):
            view = self.run(key)
            if view is None or (view.phase.terminal and key not in self.pods):
                live.discard(key)
                continue
            yield view

    # ---------------------------------------------------------- scheduled jobs
    def put_scheduled_job(self, body: Mapping[str, Any]) -> ScheduledJobView:
        """Record a ScheduledJob (newer versions only)."""
        view = ScheduledJobView.from_body(body)
        known = self.scheduled_jobs.get((view.namespace, view.name))
        if (
            known is not None
            and known.uid == view.uid
            and _rv(known.resource_version) > _rv(view.resource_version)
        ):
            return known
        self.scheduled_jobs[view.namespace, view.name] = view
        if known is None or known.concurrency_policy != view.concurrency_policy:
            self._runs_of_job_changed(view.namespace, view.name)
        return view

    def remove_scheduled_job(self, namespace: str, name: str) -> None:
        """Forget a deleted ScheduledJob."""
        if self.scheduled_jobs.pop((namespace, name), None) is not None:
            self._runs_of_job_changed(namespace, name)

    def _runs_of_job_changed(self, namespace: str, name: str) -> None:
        """Its concurrency policy decides whether its runs may wait side by side."""
        for key in list(self.by_scheduled_job.get((namespace, name), ())):
            self.changed(key)

    def runs_of(
        self, namespace: str, scheduled_job: str, *, live_only: bool = False
    ) -> list[RunView]:
        """The runs that reference a ScheduledJob (newest views); with `live_only`,
        only those that may hold or want a slot (see `live_runs`)."""
        live = self.live.get(namespace, set()) if live_only else None
        found = []
        for key in list(self.by_scheduled_job.get((namespace, scheduled_job), ())):
            if live is not None and key not in live:
                continue
            view = self.run(key)
            if view is not None:
                found.append(view)
        return found

    # -------------------------------------------------------------- backfills
    def put_backfill(self, body: Mapping[str, Any]) -> BackfillView:
        """Record a Backfill (newer versions only)."""
        view = BackfillView.from_body(body)
        known = self.backfills.get((view.namespace, view.name))
        if (
            known is not None
            and known.uid == view.uid
            and _rv(known.resource_version) > _rv(view.resource_version)
        ):
            return known
        self.backfills[view.namespace, view.name] = view
        return view

    def remove_backfill(self, namespace: str, name: str) -> None:
        """Forget a deleted Backfill."""
        self.backfills.pop((namespace, name), None)

    def backfills_of(self, namespace: str, scheduled_job: str) -> list[BackfillView]:
        """The Backfills of a ScheduledJob."""
        return [
            view
            for (ns, _), view in self.backfills.items()
            if ns == namespace and view.scheduled_job == scheduled_job
        ]

    # ------------------------------------------------------------------ pods
    @staticmethod
    def pod_owner(body: Mapping[str, Any]) -> RunKey | None:
        """The run a worker pod belongs to, from its labels."""
        metadata = body.get("metadata") or {}
        labels = metadata.get("labels") or {}
        name, kind = labels.get(c.LABEL_RUN), labels.get(c.LABEL_RUN_KIND)
        if not name or not kind:
            return None
        return (str(kind), str(metadata.get("namespace", "")), str(name))

    def put_pod(self, body: Mapping[str, Any]) -> RunKey | None:
        """Record a worker pod; returns its run's key."""
        owner = self.pod_owner(body)
        if owner is not None:
            view = PodView.from_body(body)
            known = self.pods[owner].get(view.name)
            if known is None or _rv(known.resource_version) <= _rv(view.resource_version):
                self.pods[owner][view.name] = view
                live = self.live[owner[1]]
                if known is None or known.alive != view.alive or owner not in live:
                    self.changed(owner)
                live.add(owner)
        return owner

    def remove_pod(self, body: Mapping[str, Any]) -> RunKey | None:
        """Forget a deleted pod; returns its run's key."""
        owner = self.pod_owner(body)
        if owner is not None:
            name = str((body.get("metadata") or {}).get("name", ""))
            if self.pods.get(owner, {}).pop(name, None) is not None:
                self.changed(owner)
            if not self.pods.get(owner):
                self.pods.pop(owner, None)
        return owner

    def pods_of(self, key: RunKey) -> list[PodView]:
        """The worker pods of a run, by attempt."""
        return sorted(self.pods.get(key, {}).values(), key=lambda p: p.attempt)

    def has_alive_pod(self, key: RunKey) -> bool:
        """Whether a pod of the run may still be running (no sorting: called often)."""
        pods = self.pods.get(key)
        return pods is not None and any(pod.alive for pod in pods.values())

    # ---------------------------------------------------------------- quotas
    def put_quota(
        self, namespace: str, name: str, max_running: int, *, uid: str = "", generation: int = 1
    ) -> None:
        """Record a WorkerQuota (read at every admission: nothing to invalidate)."""
        self.quotas[namespace][name] = max_running
        self.quota_meta[namespace, name] = (uid, generation)

    def put_quota_object(self, body: Mapping[str, Any], default: int) -> None:
        """Record a WorkerQuota object (`default`: its limit when maxRunning is unset)."""
        metadata = body.get("metadata") or {}
        self.put_quota(
            str(metadata.get("namespace", "")),
            str(metadata.get("name", "")),
            int((body.get("spec") or {}).get("maxRunning", default)),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 1),
        )

    def remove_quota(self, namespace: str, name: str) -> None:
        """Forget a deleted WorkerQuota."""
        self.quotas.get(namespace, {}).pop(name, None)
        self.quota_meta.pop((namespace, name), None)

    def quota(self, namespace: str, default: int) -> int:
        """The namespace's limit: the smallest of its WorkerQuotas, else the default."""
        limits = self.quotas.get(namespace)
        return min(limits.values()) if limits else default


def _rank_signature(view: RunView) -> tuple[object, ...]:
    """What a queue ranking reads of a run (see `Slots`)."""
    return (
        view.phase,
        view.settings.cancel,
        view.settings.priority,
        view.deleting,
        view.created,
        view.status.get("nextAttemptTime"),
        view.scheduled_job,
    )
