"""The engine: reconciles runs from the work queue.

For each run: gather (store + namespace slots + clock) → `decide` (pure) → apply
the plan (pod actions, one status write, finalizer release, Events, audit) →
requeue when the plan asks. A namespace key re-ranks its queue when a slot frees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import aiohttp

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.api.paths import object_path, resource_path
from jobwarden.api.shapes import QueuedByPriorityDict, WorkerQuotaStatusDict
from jobwarden.core.admission import HOLDING_PHASES
from jobwarden.core.eta import ESTIMATE_WRITES_PER_PASS
from jobwarden.core.lifecycle import (
    at_rest,
    decide,
    decide_without_scheduled_job,
    needs_snapshot,
    queue_refresh,
)
from jobwarden.core.observed import TRACKING_FINALIZER, RunView, Slot
from jobwarden.core.plan import CreatePod, DeletePod, DeleteRun, Plan, ReleasePod, ReleaseRun
from jobwarden.core.podspec import TemplateMissingError, build_worker_pod
from jobwarden.core.refusals import ApiRefusal, Refusal
from jobwarden.core.retention import decide_retention
from jobwarden.core.scheduledjob import ScheduledJobView, snapshot_of
from jobwarden.engine.audit import AuditLog
from jobwarden.engine.backfill import Backfiller
from jobwarden.engine.events import EventRecorder
from jobwarden.engine.port import JSON, KubeApi, KubeApiError, whoami
from jobwarden.engine.quota import Slots
from jobwarden.engine.scheduler import Scheduler
from jobwarden.engine.store import RunKey, Store
from jobwarden.engine.workers import (
    ensure_worker_identity,
    forget_worker_identity,
    uses_worker_identity,
)
from jobwarden.engine.workqueue import WorkQueue

logger = logging.getLogger("jobwarden.engine")

NamespaceKey = tuple[str, str]  # ("namespace", name)
Key = RunKey | NamespaceKey  # RunKey doubles as ("ScheduledJob", namespace, name)

_RETRY_AFTER_ERROR = 2.0
#: Keys served by the schedule queue (apart from the runs').
_SCHEDULE_KINDS = (c.KIND_SCHEDULED_JOB, c.KIND_BACKFILL)
#: The whole queue of a namespace is walked for shown positions at most this often.
_POSITION_SCAN_SECONDS = 1.0


@dataclass(frozen=True)
class EngineConfig:
    """Operator-wide settings (from the environment, see `jobwarden.settings`)."""

    default_max_running: int = c.DEFAULT_MAX_RUNNING
    worker_image: str = "jobwarden:latest"
    exit_margin_seconds: float = 10.0
    workers: int = 16
    operator_username: str = ""  # who the API knows us as; asked at start when empty
    #: How long finished standalone runs without ttlSecondsAfterFinished are kept
    #: (runRetentionDays); None: for ever.
    retention_seconds: float | None = c.DEFAULT_RUN_RETENTION_DAYS * 86400.0


class Engine:
    """Owns the store, the slots and the work queue; one per operator process."""

    def __init__(
        self,
        kube: KubeApi,
        config: EngineConfig,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.kube = kube
        self.config = config
        self.clock = clock
        self.store = Store()
        self.slots = Slots(self.store, config.default_max_running)
        self.queue: WorkQueue[Key] = WorkQueue()
        # ScheduledJobs have their own queue and workers: a flood of run and pod events
        # must never delay a fire (at 5,000 jobs a shared queue fell behind at once).
        self.schedule_queue: WorkQueue[Key] = WorkQueue()
        self.events = EventRecorder(kube, clock=clock)
        self.audit = AuditLog()
        self.scheduler = Scheduler(
            kube,
            self.store,
            self.events,
            clock=clock,
            requeue=self.requeue,
            identity=lambda: self.identity,
            audit=self.audit,
        )
        self.backfiller = Backfiller(
            kube, self.store, self.events, self.audit, clock=clock, identity=lambda: self.identity
        )
        self._released: set[str] = set()  # pod uids whose finalizer we removed
        self._quota_usage: dict[tuple[str, str], tuple[object, ...]] = {}  # last published
        self._position_scans: dict[str, float] = {}  # per namespace: last walk (monotonic)
        #: Statuses decided but not written yet (`Plan.status_may_wait`), by run.
        self._unwritten: dict[RunKey, _Unwritten] = {}
        self.identity = ""  # the operator's user name (see `run`)

    # ------------------------------------------------------------------ kicks
    def kick_run(self, key: RunKey) -> None:
        """Reconcile a run soon."""
        self.queue.add(key)

    def kick_namespace(self, namespace: str, delay: float = 0.0) -> None:
        """Re-rank a namespace's queue: at once when a slot or the quota changed,
        after `delay` (coalescing bursts) when only the counts shown may have moved."""
        self.queue.add_after(("namespace", namespace), delay)

    def kick_scheduled_job(self, namespace: str, name: str) -> None:
        """Reconcile a ScheduledJob soon (its spec or one of its runs changed)."""
        self.schedule_queue.add((c.KIND_SCHEDULED_JOB, namespace, name))

    def kick_backfill(self, namespace: str, name: str) -> None:
        """Reconcile a Backfill soon (it, one of its runs or its ScheduledJob changed)."""
        self.schedule_queue.add((c.KIND_BACKFILL, namespace, name))

    def requeue(self, key: Key, delay: float) -> None:
        """Reconcile `key` again after `delay` seconds, on the queue of its kind."""
        queue = self.schedule_queue if key[0] in _SCHEDULE_KINDS else self.queue
        queue.add_after(key, delay)

    def forget_pod_uid(self, uid: str) -> None:
        """A pod is gone: drop it from the released-finalizer memory."""
        self._released.discard(uid)

    def state(self) -> metrics.EngineState:
        """A snapshot for the state gauges (`metrics.watch_state`): queue depths now; the
        namespaces and ScheduledJobs as the store has them when they are read."""
        return metrics.EngineState(
            workqueue_depth=len(self.queue) + len(self.schedule_queue),
            events_waiting=self.events.waiting(),
            namespaces=self._namespace_states(),
            scheduled_jobs=self._scheduled_jobs(),
        )

    def _scheduled_jobs(self) -> Iterator[ScheduledJobView]:
        yield from list(self.store.scheduled_jobs.values())

    def _namespace_states(self) -> Iterator[metrics.NamespaceState]:
        store, slots = self.store, self.slots
        namespaces = {ns for ns, keys in list(store.by_namespace.items()) if keys}
        namespaces |= {ns for ns, quotas in list(store.quotas.items()) if quotas}
        namespaces |= {namespace for namespace, _ in list(store.scheduled_jobs)}
        for namespace in sorted(namespaces):
            runs = ((view, slots.holds(view)) for view in store.live_runs(namespace))
            limit = store.quota(namespace, slots.default_limit)
            yield metrics.NamespaceState(namespace, limit, runs)

    async def run(self) -> None:
        """Lead: resync the store from the API, then process the queue until cancelled."""
        if not self.identity:
            # The webhooks skip our own writes, so our creates carry `created-by` themselves.
            self.identity = self.config.operator_username or await whoami(self.kube)
        await self.resync()
        self._quota_usage.clear()
        self._unwritten.clear()  # a new term: the API (and adoption) are the truth
        # Finished runs without pods need nothing: with thousands of them, reconciling
        # each (a GET apiece) would hold up the runs that do need the engine.
        for key, view in list(self.store.runs.items()):
            if not self._resting(key, view):
                self.queue.add(key)
        for namespace in list(self.store.quotas):
            self.kick_namespace(namespace)
        for namespace, name in list(self.store.scheduled_jobs):
            self.kick_scheduled_job(namespace, name)
        for namespace, name in list(self.store.backfills):
            self.kick_backfill(namespace, name)
        logger.info(
            "engine started: %d runs, %d pods known",
            len(self.store.runs),
            sum(len(p) for p in self.store.pods.values()),
        )
        await asyncio.gather(
            self.queue.run(self._handle, self.config.workers),
            self.schedule_queue.run(self._handle, self.config.workers),
        )

    async def resync(self) -> None:
        """List every run, worker pod and quota, so the first decision sees them all.

        The watch streams keep the store current afterwards; this closes the gap of a
        replica that just started or just became the leader.
        """
        for kind in c.RUN_KINDS:
            async for item in self.kube.list_pages(object_path(kind)):
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", c.API_VERSION)
                self.store.put_run(item)
        async for item in self.kube.list_pages(object_path(c.KIND_SCHEDULED_JOB)):
            self.store.put_scheduled_job(item)
        async for item in self.kube.list_pages(object_path(c.KIND_BACKFILL)):
            self.store.put_backfill(item)
        pods_path = resource_path("v1", "pods")
        async for item in self.kube.list_pages(pods_path, labelSelector=c.LABEL_RUN):
            self.store.put_pod(item)
        async for item in self.kube.list_pages(object_path(c.KIND_WORKER_QUOTA)):
            self.store.put_quota_object(item, self.config.default_max_running)

    async def _handle(self, key: Key) -> None:
        try:
            if len(key) == 2:
                await self._rerank(key[1])
            elif key[0] == c.KIND_SCHEDULED_JOB:
                await self.scheduler.reconcile(key[1], key[2])
            elif key[0] == c.KIND_BACKFILL:
                await self.backfiller.reconcile(key[1], key[2])
            else:
                await self.reconcile_run(key)
        except KubeApiError as error:
            if error.not_found and len(key) == 3 and key[0] not in _SCHEDULE_KINDS:
                self.store.remove_run(key)  # deleted meanwhile
                self.kick_namespace(key[1])
                return
            logger.warning(
                "reconciling %s failed: %s; retrying in %ss", key, error, _RETRY_AFTER_ERROR
            )
            metrics.reconcile_error(key)
            self.requeue(key, _RETRY_AFTER_ERROR)
        except Exception:
            logger.exception("reconciling %s failed; retrying in %ss", key, _RETRY_AFTER_ERROR)
            metrics.reconcile_error(key)
            self.requeue(key, _RETRY_AFTER_ERROR)

    # ------------------------------------------------------------ namespaces
    async def _rerank(self, namespace: str) -> None:
        """Kick the runs a freed slot admits and those whose shown position is due for
        an update; publish the namespace's usage in its WorkerQuota status.

        The head of the queue is kicked on every call (a slot turns over many times a
        second); the walk over the whole queue for shown positions, which change at
        most every 30 s per run, and the usage write run at most once per
        `_POSITION_SCAN_SECONDS` (a later call is scheduled for what that skips).
        """
        now = self.clock()
        ranking = self.slots.queue(namespace, now)
        for key in ranking.admitted():
            self.kick_run(key)
        since = time.monotonic() - self._position_scans.get(namespace, -math.inf)
        if since < _POSITION_SCAN_SECONDS:  # a rate limit (real time), not a decision
            self.kick_namespace(namespace, _POSITION_SCAN_SECONDS - since)
        else:
            self._position_scans[namespace] = time.monotonic()
            budget = ESTIMATE_WRITES_PER_PASS  # a rate limit on writes, head first
            for key, ticket in ranking.waiting():
                if ticket.admit:
                    continue
                view = self.store.run(key)
                if view is None:
                    continue
                estimate = self.slots.estimate_start(namespace, ticket.position, now)
                soon = self.slots.starts_soon(namespace, ticket.position, now)
                refresh = queue_refresh(
                    view.status.get("queue") or {}, ticket.position, estimate, now, soon
                )
                if refresh.position_due == 0:
                    self.kick_run(key)
                elif refresh.estimate and budget > 0:
                    budget -= 1
                    self.kick_run(key)
                elif refresh.position_due is not None:
                    self.queue.add_after(key, refresh.position_due + 0.05)
            # Counts shown in WorkerQuota status: at most once per scan, not per slot turn.
            await self._publish_quota_usage(
                namespace, ranking.holders, ranking.queued_by_priority()
            )

    async def _publish_quota_usage(
        self, namespace: str, running: int, queued_by_priority: dict[str, int]
    ) -> None:
        for name, limit in list(self.store.quotas.get(namespace, {}).items()):
            uid, generation = self.store.quota_meta.get((namespace, name), ("", 1))
            usage = (uid, running, tuple(sorted(queued_by_priority.items())), generation)
            if self._quota_usage.get((namespace, name)) == usage:
                continue
            status = WorkerQuotaStatusDict(
                observedGeneration=generation,
                running=running,
                queued=sum(queued_by_priority.values()),
                queuedByPriority=cast(QueuedByPriorityDict, queued_by_priority),
            )
            path = object_path(c.KIND_WORKER_QUOTA, namespace, name, "status")
            try:
                await self.kube.merge_patch(path, {"status": status})
            except KubeApiError as error:
                if error.not_found:
                    continue
                raise
            self._quota_usage[namespace, name] = usage
            logger.debug("quota %s/%s: %d/%d running", namespace, name, running, limit)

    # ------------------------------------------------------------------ runs
    async def reconcile_run(self, key: RunKey) -> None:
        """One reconcile of one run."""
        view = self.store.run(key)
        if view is None:
            self._unwritten.pop(key, None)
            await self._release_orphans(key)
            self.slots.unreserve(key)
            self.kick_namespace(key[1])
            return
        if not view.complete:
            if self._resting(key, view):
                return
            view = await self._refresh(view)
            if view is None:
                return
        stored_status = view.status  # as the API has it: status writes send the difference
        unwritten = self._unwritten.get(key)
        if unwritten is not None and view.attempt >= int(unwritten.status.get("attempt") or 0):
            del self._unwritten[key]  # the API has caught up (or moved on)
            unwritten = None
        if unwritten is not None:
            view = unwritten.applied_to(view)  # decide from what was decided last
        snapshot_added = False
        if needs_snapshot(view):
            sj = self.store.scheduled_jobs.get((view.namespace, str(view.scheduled_job)))
            if sj is None:
                sj = await self._read_scheduled_job(view.namespace, str(view.scheduled_job))
            if sj is None:
                plan = decide_without_scheduled_job(view, self.clock())
                await self._apply(view, plan, stored_status)
                return
            view = view.with_snapshot(snapshot_of(sj, self.clock()))
            snapshot_added = True
        pods = []
        for pod in self.store.pods_of(key):
            if pod.owner_uid and pod.owner_uid != view.uid:
                # A predecessor's pod under the same run name: never adopt it.
                if pod.tracked:
                    await self._release_pod(view.namespace, pod.name, pod.uid)
                continue
            pods.append(pod)
        now = self.clock()
        held_before = self.slots.holds(view)
        # Deciding and reserving happen without an await in between: two runs can
        # never both take the last slot.
        self.slots.unreserve(key)
        slot = self.slots.slot_for(view, now) if not view.phase.terminal else _NO_SLOT
        margin = self.config.exit_margin_seconds
        retention = self.config.retention_seconds
        plan = decide(
            view, pods, slot, now, exit_margin_seconds=margin, retention_seconds=retention
        )
        if held_before and not plan.holds_slot:
            self.slots.record_release(view.namespace, now)
        if snapshot_added and plan.status is None:
            plan.status = dict(view.status)  # persist the snapshot even if nothing else changed
        if snapshot_added:
            plan.status_may_wait = None  # the snapshot must be what the pod was built from
        if plan.status is None and unwritten is not None and now >= unwritten.due:
            plan.status = unwritten.status  # its time has come: write what was decided
        if plan.holds_slot:
            self.slots.reserve(key)
        try:
            try:
                await self._apply(view, plan, stored_status)
            except PodCreateRefused as refused:
                # The same decision again, now knowing what the API server said: it
                # records the refusal (and a backoff) instead of the create.
                logger.info("run %s/%s: %s", view.namespace, view.name, refused)
                plan = decide(
                    view,
                    pods,
                    slot,
                    now,
                    exit_margin_seconds=margin,
                    refusal=refused.refusal,
                    retention_seconds=retention,
                )
                if plan.pre_actions and any(isinstance(a, CreatePod) for a in plan.pre_actions):
                    raise RuntimeError("a refused create was planned again") from refused
                await self._apply(view, plan, stored_status)
        except BaseException:
            if view.phase not in HOLDING_PHASES:
                self.slots.unreserve(key)
            raise
        if not plan.holds_slot:
            self.slots.unreserve(key)
        if (held_before or plan.refusal is not None) and not plan.holds_slot:
            self.kick_namespace(view.namespace)  # a slot freed: the next run may start
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after + 0.05)
        if view.scheduled_job and plan.status is not None:
            self.kick_scheduled_job(view.namespace, view.scheduled_job)

    def _resting(self, key: RunKey, view: RunView) -> bool:
        """A finished run `at_rest` whose retention is not due: nothing to reconcile (on
        the slim copy, without a GET); woken when its retention is due."""
        if not at_rest(view, self.store.pods_of(key)):
            return False
        retention = decide_retention(view, self.clock(), self.config.retention_seconds)
        if retention.delete:
            return False
        if retention.wake_after is not None:
            self.queue.add_after(key, retention.wake_after + 0.05)
        return True

    async def _read_scheduled_job(self, namespace: str, name: str) -> ScheduledJobView | None:
        """A ScheduledJob the store has not seen (yet): the runs and the jobs come in on
        separate watches, so a run created just after its job can arrive first. Asked of
        the API once before the run is failed as an orphan."""
        try:
            body = await self.kube.get(object_path(c.KIND_SCHEDULED_JOB, namespace, name))
        except KubeApiError as error:
            if error.not_found:
                return None
            raise
        return self.store.put_scheduled_job(body)

    async def _refresh(self, view: RunView) -> RunView | None:
        try:
            body = await self.kube.get(object_path(view.kind, view.namespace, view.name))
        except KubeApiError as error:
            if error.not_found:
                return None
            raise
        self.store.remember_written(body)
        return RunView.from_body(body)

    async def _apply(self, view: RunView, plan: Plan, stored_status: Mapping[str, Any]) -> None:
        for action in plan.pre_actions:
            if isinstance(action, CreatePod):
                # From the view (the watch's object, with a snapshot taken now): no GET.
                await self._create_pod(view, view.manifest(), action)
            elif isinstance(action, DeletePod):
                await self._delete_pod(view.namespace, action)
        if plan.status is not None and plan.status_may_wait is not None:
            due = self.clock() + datetime.timedelta(seconds=plan.status_may_wait)
            self._unwritten[view.key] = _Unwritten(plan.status, due)
            metrics.observe_plan(view, plan, self.clock())
            plan.wake_in(plan.status_may_wait)
        elif plan.status is not None:
            # Only the fields that changed (a merge patch leaves the others as they are):
            # the API server decodes, validates and stores less, the watchers get the same.
            status = {
                k: v
                for k, v in plan.status.items()
                if k != "progress" and stored_status.get(k) != v  # null = absent
            }
            if status:
                written = await self.kube.merge_patch(
                    object_path(view.kind, view.namespace, view.name, "status"), {"status": status}
                )
                self._unwritten.pop(view.key, None)
                self.store.remember_written(written)
                metrics.observe_plan(view, plan, self.clock())  # transitions, latencies
                await self._label_finished(RunView.from_body(written))
        for action in plan.post_actions:
            if isinstance(action, ReleasePod):
                await self._release_pod(view.namespace, action.name, action.uid)
            elif isinstance(action, DeleteRun):
                await self._delete_run(view, action)
            elif isinstance(action, ReleaseRun):
                await self._release_run(view, action)
        for event in plan.events:
            self.events.emit(view, event)
        for record in plan.audit:
            self.audit.write(view, record)

    async def _label_finished(self, view: RunView) -> None:
        """A finished run created without its filter labels gets them (metadata only,
        never spec). Usually a no-op: they are set at creation."""
        if not view.phase.terminal:
            return
        missing = view.filter_labels()
        if missing:
            await self.kube.merge_patch(
                object_path(view.kind, view.namespace, view.name), {"metadata": {"labels": missing}}
            )

    async def _release_run(self, view: RunView, action: ReleaseRun) -> None:
        """Drop our finalizer from a deleted run that has finished (a merge patch of the
        list, conditional on the resourceVersion it was read at: a conflict retries)."""
        body = {
            "metadata": {
                "finalizers": list(action.keep),
                "resourceVersion": action.resource_version,
            }
        }
        try:
            await self.kube.merge_patch(object_path(view.kind, view.namespace, view.name), body)
        except KubeApiError as error:
            if not error.not_found:
                raise
            return
        logger.info("%s %s/%s released: stopped, the delete goes on", *view.key)

    async def _delete_run(self, view: RunView, action: DeleteRun) -> None:
        """Delete a finished run whose TTL has passed (only that very object: a new run
        of the same name is left alone); its pods go with it (garbage collection)."""
        try:
            await self.kube.delete(
                object_path(view.kind, view.namespace, view.name),
                uid=action.uid or None,
                propagation="Background",
            )
        except KubeApiError as error:
            if not (error.not_found or error.conflict):
                raise
            return
        logger.info("%s %s/%s deleted: finished, its TTL has passed", *view.key)

    # ------------------------------------------------------------------ pods
    async def _create_pod(self, view: RunView, body: JSON, action: CreatePod) -> None:
        """Create the attempt's pod; a refusal is reported as what the API said
        (`PodCreateRefused`), for the decision to classify."""
        try:
            manifest = build_worker_pod(body, action.attempt, self.config.worker_image)
        except TemplateMissingError as error:
            raise RuntimeError(str(error)) from error
        if uses_worker_identity(manifest):
            await ensure_worker_identity(self.kube, view.namespace)
        try:
            await self.kube.create(resource_path("v1", "pods", view.namespace), manifest)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            # No answer: the pod may or may not exist; a retry meets 409 if it does.
            raise PodCreateRefused(action.attempt, ApiRefusal(0, message=str(error))) from error
        except KubeApiError as error:
            if not error.conflict or error.reason != "AlreadyExists":
                if "serviceaccount" in error.message.lower():
                    forget_worker_identity(self.kube, view.namespace)  # recreate next time
                raise PodCreateRefused(
                    action.attempt,
                    ApiRefusal(
                        error.status,
                        error.reason,
                        error.message,
                        error.causes,
                        error.retry_after_seconds,
                    ),
                ) from error
            existing = await self.kube.get(resource_path("v1", "pods", view.namespace, action.name))
            owners = existing.get("metadata", {}).get("ownerReferences") or []
            if not any(o.get("uid") == view.uid for o in owners):
                raise RuntimeError(
                    f"pod {view.namespace}/{action.name} exists and is not owned by this run"
                ) from error

    async def _delete_pod(self, namespace: str, action: DeletePod) -> None:
        try:
            await self.kube.delete(
                resource_path("v1", "pods", namespace, action.name),
                grace_period_seconds=action.grace_period_seconds,
                uid=action.uid or None,
            )
        except KubeApiError as error:
            if not (error.not_found or error.conflict):
                raise

    async def _release_pod(self, namespace: str, name: str, uid: str) -> None:
        """Remove our tracking finalizer in one request, without reading the pod first:
        a strategic merge patch deletes it from the list by value (no index to race
        with another controller's finalizers), and the uid in the patch is a
        precondition (a newer pod of the same name is left alone)."""
        if uid in self._released:
            return
        metadata: JSON = {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}
        if uid:
            metadata["uid"] = uid
        try:
            await self.kube.strategic_merge_patch(
                resource_path("v1", "pods", namespace, name), {"metadata": metadata}
            )
        except KubeApiError as error:
            if not (error.not_found or error.conflict):
                raise
            return  # gone, or another pod by now: nothing of ours to release
        self._released.add(uid)

    async def _release_orphans(self, key: RunKey) -> None:
        """The run is gone: its pods must not be kept by our finalizer."""
        for pod in self.store.pods_of(key):
            if pod.tracked:
                await self._release_pod(key[1], pod.name, pod.uid)


_NO_SLOT = Slot(admit=False, position=0, running=0, limit=0)


@dataclass(frozen=True)
class _Unwritten:
    """A status decided and not written yet, and when it is written at the latest."""

    status: dict[str, Any]
    due: datetime.datetime

    def applied_to(self, view: RunView) -> RunView:
        """The run as the next decision must see it: with this status (and the
        settings of the snapshot in it)."""
        snapshot = self.status.get("snapshot")
        if snapshot and not view.status.get("snapshot"):
            view = view.with_snapshot(snapshot)
        return dataclasses.replace(view, status=self.status)


class PodCreateRefused(Exception):  # noqa: N818 - a report, handed back to the decision
    """The API server refused (or did not answer) the create of an attempt's pod."""

    def __init__(self, attempt: int, api: ApiRefusal) -> None:
        super().__init__(f"pod of attempt {attempt} refused: {api.status} {api.message}")
        self.refusal = Refusal(attempt, api)
