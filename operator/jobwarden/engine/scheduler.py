"""Applies ScheduledJob decisions: creates the runs of due fires, cancels runs that
were replaced or whose job was cancelled, writes status once, prunes history.

One work queue (the engine's `schedule_queue`, apart from the runs') and one timer
heap serve every ScheduledJob: a job is requeued for the instant of its next fire, so
a run is created as soon as it is due, without polling and without a task per job.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.api.enums import Trigger
from jobwarden.core.conditions import format_micro_time
from jobwarden.core.observed import RunView
from jobwarden.core.scheduledjob import (
    CancelRun,
    CreateRun,
    ScheduledJobView,
    decide_scheduled_job,
)
from jobwarden.engine.kube import JSON, Kube, KubeApiError, resource_path

logger = logging.getLogger("jobwarden.scheduler")

#: Run settings a snapshot copies from the ScheduledJob.
SNAPSHOT_SETTINGS = (
    "priority",
    "timeoutSeconds",
    "retries",
    "retryBackoff",
    "startTimeoutSeconds",
    "cancelGracePeriodSeconds",
    "stuckAfterSeconds",
    "deadlineSeconds",
)
_WAKE_EPSILON = 0.002  # fire a hair after the instant, never before it


def sj_path(namespace: str, name: str | None = None, subresource: str | None = None) -> str:
    """REST path of ScheduledJobs."""
    return resource_path(c.API_VERSION, c.PLURAL_SCHEDULED_JOBS, namespace, name, subresource)


def jobrun_path(namespace: str, name: str | None = None) -> str:
    """REST path of JobRuns."""
    return resource_path(c.API_VERSION, c.PLURAL_JOB_RUNS, namespace, name)


def snapshot_of(sj: ScheduledJobView, now: datetime.datetime) -> JSON:
    """What a run of `sj` executes, fixed at its first reconcile."""
    spec = sj.spec
    settings = {k: spec[k] for k in SNAPSHOT_SETTINGS if spec.get(k) is not None}
    return {
        "time": format_micro_time(now),
        "scheduledJobGeneration": sj.generation,
        "settings": settings,
        "template": spec.get("template"),
    }


def run_for_fire(sj: ScheduledJobView, create: CreateRun, created_by: str = "") -> JSON:
    """The JobRun of one fire: owned by the job, labelled for filtering, stamped as
    created by the operator (`created_by`: the webhooks do not see our own writes)."""
    annotations = {c.ANNOTATION_TRIGGERED_BY: "schedule"}
    if created_by:
        annotations[c.ANNOTATION_CREATED_BY] = created_by
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_JOB_RUN,
        "metadata": {
            "name": create.name,
            "namespace": sj.namespace,
            "labels": {c.LABEL_SCHEDULED_JOB: sj.name, c.LABEL_TRIGGER: Trigger.SCHEDULE.value},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": c.API_VERSION,
                    "kind": c.KIND_SCHEDULED_JOB,
                    "name": sj.name,
                    "uid": sj.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "scheduledJobRef": {"name": sj.name},
            "trigger": Trigger.SCHEDULE.value,
            "scheduledTime": format_micro_time(create.fire),
        },
    }


class Scheduler:
    """Reconciles ScheduledJobs for the engine (same store, queue and API layer)."""

    def __init__(self, engine: Any) -> None:
        # `engine` is the reconciler.Engine (typed loosely to avoid an import cycle).
        self.engine = engine

    @property
    def kube(self) -> Kube:
        kube: Kube = self.engine.kube
        return kube

    async def reconcile(self, namespace: str, name: str) -> None:
        """One reconcile of one ScheduledJob."""
        store = self.engine.store
        sj: ScheduledJobView | None = store.scheduled_jobs.get((namespace, name))
        if sj is None:
            return
        runs: list[RunView] = store.runs_of(namespace, name)
        now: datetime.datetime = self.engine.clock()
        plan = decide_scheduled_job(sj, runs, now)

        for create in plan.create:
            await self._create_run(sj, create)
        for cancel in plan.cancel:
            await self._cancel_run(namespace, cancel, now)
        if plan.status is not None:
            written = await self.kube.merge_patch(
                sj_path(namespace, name, "status"), {"status": plan.status}
            )
            store.put_scheduled_job(written)
            metrics.observe_scheduled_job(sj, plan)  # missed fires
        for prune in plan.prune:
            try:
                await self.kube.delete(
                    jobrun_path(namespace, prune.name), uid=prune.uid, propagation="Background"
                )
            except KubeApiError as error:
                if not (error.not_found or error.conflict):
                    raise
        for event in plan.events:
            self.engine.events.emit_for(c.KIND_SCHEDULED_JOB, namespace, name, sj.uid, event)
        for record in plan.audit:
            self.engine.audit.write_object(c.KIND_SCHEDULED_JOB, namespace, name, sj.uid, record)
        for create in plan.create:
            lag = (self.engine.clock() - create.fire).total_seconds() - create.delay_seconds
            logger.info("run %s/%s created %.3fs after its fire time", namespace, create.name, lag)
            metrics.observe_fire(lag, namespace)
        if plan.requeue_after is not None:
            self.engine.requeue(sj.key, plan.requeue_after + _WAKE_EPSILON)

    async def _create_run(self, sj: ScheduledJobView, create: CreateRun) -> None:
        try:
            manifest = run_for_fire(sj, create, self.engine.identity)
            await self.kube.create(jobrun_path(sj.namespace), manifest)
        except KubeApiError as error:
            if not error.conflict:  # the run of this fire already exists: created before
                raise

    async def _cancel_run(self, namespace: str, cancel: CancelRun, now: datetime.datetime) -> None:
        await cancel_run(self.kube, namespace, cancel, now)


async def cancel_run(kube: Kube, namespace: str, cancel: CancelRun, now: datetime.datetime) -> None:
    """Cancel a run through the lifecycle's normal path, without writing a user's spec:
    the operator's cancel annotations (for Replace, a cancelled ScheduledJob or
    Backfill)."""
    annotations = {
        c.ANNOTATION_OPERATOR_CANCEL: "true",
        c.ANNOTATION_CANCEL_REQUESTED_BY: cancel.user,
        c.ANNOTATION_CANCEL_REQUESTED_AT: format_micro_time(now),
        c.ANNOTATION_CANCEL_REASON: cancel.reason[:1024],
    }
    try:
        await kube.merge_patch(
            jobrun_path(namespace, cancel.name), {"metadata": {"annotations": annotations}}
        )
    except KubeApiError as error:
        if not error.not_found:
            raise
