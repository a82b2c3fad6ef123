"""Applies Backfill decisions: creates the runs of past fires, cancels the runs of a
cancelled Backfill, writes status once, emits Events and audit lines.

Backfills share the ScheduledJobs' work queue (`schedule_queue`). A Backfill moves
when its runs change (the controller kicks it for runs carrying its label) and when
its ScheduledJob appears or changes; it needs no timer.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.paths import object_path
from jobwarden.core.backfill import backfill_run, decide_backfill
from jobwarden.core.observed import RunView
from jobwarden.engine.audit import AuditLog
from jobwarden.engine.events import EventRecorder
from jobwarden.engine.port import KubeApi, KubeApiError
from jobwarden.engine.scheduler import cancel_run
from jobwarden.engine.store import Store

logger = logging.getLogger("jobwarden.backfill")


class Backfiller:
    """Reconciles Backfills for the engine (same store, API port, Events and audit)."""

    def __init__(
        self,
        kube: KubeApi,
        store: Store,
        events: EventRecorder,
        audit: AuditLog,
        *,
        clock: Callable[[], datetime.datetime],
        identity: Callable[[], str],
    ) -> None:
        self.kube = kube
        self.store = store
        self.events = events
        self.audit = audit
        self.clock = clock
        self.identity = identity  # the operator's user name, stamped on the runs it creates

    async def reconcile(self, namespace: str, name: str) -> None:
        """One reconcile of one Backfill."""
        store = self.store
        view = store.backfills.get((namespace, name))
        if view is None:
            return
        job = store.scheduled_jobs.get((namespace, view.scheduled_job))
        runs: list[RunView] = store.runs_of(namespace, view.scheduled_job) if job else []
        if job is not None:
            active = [str(name) for name in view.status.get("activeRuns") or []]
            runs = await self._with_unseen(namespace, active, job.status, runs)
        now = self.clock()
        plan = decide_backfill(view, job, runs, now)
        for create in plan.create:
            assert job is not None  # a plan creates runs only for an existing job
            manifest = backfill_run(job, view, create, self.identity())
            try:
                created = await self.kube.create(object_path(c.KIND_JOB_RUN, namespace), manifest)
            except KubeApiError as error:
                if not error.conflict:  # that fire's run exists: the next decision skips it
                    raise
                continue
            created.setdefault("kind", c.KIND_JOB_RUN)
            store.put_run(created)  # so the next decision sees it before the watch does
        for cancel in plan.cancel:
            await cancel_run(self.kube, namespace, cancel, now)
        if plan.status is not None:
            written = await self.kube.merge_patch(
                object_path(c.KIND_BACKFILL, namespace, name, "status"), {"status": plan.status}
            )
            store.put_backfill(written)
        for event in plan.events:
            self.events.emit_for(c.KIND_BACKFILL, namespace, name, view.uid, event)
        for record in plan.audit:
            self.audit.write_object(c.KIND_BACKFILL, namespace, name, view.uid, record)

    async def _with_unseen(
        self, namespace: str, active: list[str], job_status: Mapping[str, Any], runs: list[RunView]
    ) -> list[RunView]:
        """The runs, plus any active one the store does not hold (its watch event has
        not arrived yet): read from the API, so the decision never takes a run that
        is merely unseen for one that was deleted."""
        known = {run.name for run in runs}
        known |= {str(h.get("name")) for h in job_status.get("history") or []}
        for name in active:
            if name in known:
                continue
            try:
                body = await self.kube.get(object_path(c.KIND_JOB_RUN, namespace, name))
            except KubeApiError as error:
                if error.not_found:
                    continue  # gone for good: the decision counts it
                raise
            body.setdefault("kind", c.KIND_JOB_RUN)
            runs.append(self.store.put_run(body))
        return runs
