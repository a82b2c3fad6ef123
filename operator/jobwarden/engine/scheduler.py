"""Applies ScheduledJob decisions: creates the runs of due fires, cancels runs that
were replaced or whose job was cancelled, writes status once, prunes history.

One work queue (the engine's `schedule_queue`, apart from the runs') and one timer
heap serve every ScheduledJob: a job is requeued for the instant of its next fire, so
a run is created as soon as it is due, without polling and without a task per job.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.api.paths import object_path
from jobwarden.core.scheduledjob import (
    CancelRun,
    CreateRun,
    ScheduledJobView,
    cancel_patch,
    decide_scheduled_job,
    run_for_fire,
)
from jobwarden.engine.audit import AuditLog
from jobwarden.engine.events import EventRecorder
from jobwarden.engine.port import KubeApi, KubeApiError
from jobwarden.engine.store import RunKey, Store

logger = logging.getLogger("jobwarden.scheduler")

_WAKE_EPSILON = 0.002  # fire a hair after the instant, never before it


class Scheduler:
    """Reconciles ScheduledJobs for the engine (same store, API port and Events)."""

    def __init__(
        self,
        kube: KubeApi,
        store: Store,
        events: EventRecorder,
        *,
        clock: Callable[[], datetime.datetime],
        requeue: Callable[[RunKey, float], None],
        identity: Callable[[], str],
        audit: AuditLog | None = None,
    ) -> None:
        self.kube = kube
        self.store = store
        self.events = events
        self.clock = clock
        self.requeue = requeue  # reconcile a ScheduledJob again after some seconds
        self.identity = identity  # the operator's user name, stamped on the runs it creates
        self.audit = audit or AuditLog()  # pauses after failures, and resumes

    async def reconcile(self, namespace: str, name: str) -> None:
        """One reconcile of one ScheduledJob."""
        store = self.store
        sj = store.scheduled_jobs.get((namespace, name))
        if sj is None:
            return
        runs = store.runs_of(namespace, name)
        now = self.clock()
        plan = decide_scheduled_job(sj, runs, now)

        for create in plan.create:
            await self._create_run(sj, create)
        for cancel in plan.cancel:
            await self._cancel_run(namespace, cancel, now)
        if plan.status is not None:
            written = await self.kube.merge_patch(
                object_path(c.KIND_SCHEDULED_JOB, namespace, name, "status"),
                {"status": plan.status},
            )
            store.put_scheduled_job(written)
            metrics.observe_scheduled_job(sj, plan)  # missed fires
        for prune in plan.prune:
            try:
                await self.kube.delete(
                    object_path(c.KIND_JOB_RUN, namespace, prune.name),
                    uid=prune.uid,
                    propagation="Background",
                )
            except KubeApiError as error:
                if not (error.not_found or error.conflict):
                    raise
        for event in plan.events:
            self.events.emit_for(c.KIND_SCHEDULED_JOB, namespace, name, sj.uid, event)
        for record in plan.audit:
            self.audit.write_object(c.KIND_SCHEDULED_JOB, namespace, name, sj.uid, record)
        for create in plan.create:
            # A fire's run is due `delay_seconds` after it (spec.jitterSeconds): the lag
            # is measured from then.
            lag = (self.clock() - create.fire).total_seconds() - create.delay_seconds
            logger.info("run %s/%s created %.3fs after its fire time", namespace, create.name, lag)
            metrics.observe_fire(lag, namespace)
        if plan.requeue_after is not None:
            self.requeue(sj.key, plan.requeue_after + _WAKE_EPSILON)

    async def _create_run(self, sj: ScheduledJobView, create: CreateRun) -> None:
        try:
            manifest = run_for_fire(sj, create, self.identity())
            await self.kube.create(object_path(c.KIND_JOB_RUN, sj.namespace), manifest)
        except KubeApiError as error:
            if not error.conflict:  # the run of this fire already exists: created before
                raise

    async def _cancel_run(self, namespace: str, cancel: CancelRun, now: datetime.datetime) -> None:
        await cancel_run(self.kube, namespace, cancel, now)


async def cancel_run(
    kube: KubeApi, namespace: str, cancel: CancelRun, now: datetime.datetime
) -> None:
    """Cancel a run through the lifecycle's normal path, without writing a user's spec:
    the operator's cancel annotations (for Replace, a cancelled ScheduledJob or
    Backfill)."""
    try:
        await kube.merge_patch(
            object_path(c.KIND_JOB_RUN, namespace, cancel.name), cancel_patch(cancel, now)
        )
    except KubeApiError as error:
        if not error.not_found:
            raise
