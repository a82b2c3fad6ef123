"""The engine and the scheduler apply their plans through the API port, in order.

A run's plan is applied as: pod creations and deletions, then one status write, then
the finalizer release, then Events; a ScheduledJob's as: run creations, cancels, one
status write, prunes, Events. These tests drive the real `Engine` and `Scheduler`
against the in-memory API (`tests/support/fakeapi.py`), hold one request unanswered
to see what is (not) sent meanwhile, and inject conflicts, failures and crashes
between two steps. Swapping two steps of `Engine._apply`, `Scheduler.reconcile` or
`Backfiller.reconcile` makes them fail. A Backfill's plan is applied as: run
creations, cancels, one status write, Events, audit lines.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.api.paths import object_path, resource_path
from jobwarden.core.conditions import format_micro_time, format_time
from jobwarden.core.observed import TRACKING_FINALIZER
from jobwarden.core.scheduling import run_name
from jobwarden.engine.port import JSON
from jobwarden.engine.reconciler import Engine, EngineConfig
from tests.support.fakeapi import Crash, FakeApi
from tests.unit.factories import NAMESPACE, T0, run_body, scheduled_job_body

NAME = "nightly"
KEY = (c.KIND_JOB_RUN, NAMESPACE, NAME)
RUN = object_path(c.KIND_JOB_RUN, NAMESPACE, NAME)
STATUS = f"{RUN}/status"
PODS = resource_path("v1", "pods", NAMESPACE)
POD = f"{PODS}/{NAME}-1"
EVENTS = resource_path("v1", "events", NAMESPACE)
TEMPLATE = {"spec": {"containers": [{"name": "worker", "image": "busybox"}]}}


class Cluster:
    """The fake API, an engine on it, a clock, and the watch between the two."""

    def __init__(self, api: FakeApi | None = None) -> None:
        self.now = T0
        self.api = api or FakeApi(clock=self.clock)
        self.engine = self.start_engine()
        self._delivered = 0

    def clock(self) -> datetime.datetime:
        return self.now

    def start_engine(self) -> Engine:
        """A new operator process on the same API (a restart)."""
        self.engine = Engine(self.api, EngineConfig(operator_username="op"), clock=self.clock)
        self._delivered = 0
        return self.engine

    def deliver(self) -> None:
        """What changed in the API reaches the engine's store, as controller.py's watch
        handlers pass it on."""
        store = self.engine.store
        for change in self.api.changes[self._delivered :]:
            body, kind = change.object, change.object.get("kind")
            deleted = change.type == "DELETED"
            if kind in c.RUN_KINDS:
                key = (str(kind), NAMESPACE, body["metadata"]["name"])
                store.remove_run(key) if deleted else store.put_run(body)
            elif kind == "Pod":
                store.remove_pod(body) if deleted else store.put_pod(body)
            elif kind == c.KIND_SCHEDULED_JOB:
                name = body["metadata"]["name"]
                if deleted:
                    store.remove_scheduled_job(NAMESPACE, name)
                else:
                    store.put_scheduled_job(body)
            elif kind == c.KIND_BACKFILL:
                name = body["metadata"]["name"]
                if deleted:
                    store.remove_backfill(NAMESPACE, name)
                else:
                    store.put_backfill(body)
        self._delivered = len(self.api.changes)

    def mark(self) -> int:
        return len(self.api.calls)

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """(method, path) of every write since `since`, the worker identity's left out."""
        return [
            (call.method, call.path)
            for call in self.api.calls[since:]
            if call.method != "GET" and not _identity(call.path)
        ]

    # ------------------------------------------------------------ the world
    async def kubelet(self, path: str, exit_code: int | None = None) -> None:
        """The pod's worker container runs (or has exited with `exit_code`)."""
        stamp = format_time(self.now)
        if exit_code is None:
            state: JSON = {"running": {"startedAt": stamp}}
            phase = "Running"
        else:
            state = {"terminated": {"exitCode": exit_code, "finishedAt": stamp}}
            phase = "Succeeded" if exit_code == 0 else "Failed"
        container = {"name": "worker", "state": state}
        await self.api.merge_patch(
            f"{path}/status", {"status": {"phase": phase, "containerStatuses": [container]}}
        )
        self.deliver()

    async def reconcile(self) -> None:
        await self.engine.reconcile_run(KEY)
        self.deliver()

    async def running_run(self) -> None:
        """A run admitted, its pod created and its worker running (status written)."""
        self.api.put(RUN, _standalone())
        self.deliver()
        await self.reconcile()  # admitted, pod created (the status may wait for the start)
        await self.kubelet(POD)
        self.now += datetime.timedelta(seconds=1)
        await self.reconcile()
        assert self.status()["phase"] == "Running"

    def status(self) -> JSON:
        status: JSON = self.api.objects[RUN].get("status") or {}
        return status

    def events(self) -> list[JSON]:
        """The Events posted, in the order they were sent."""
        return [c.body for c in self.api.calls if (c.method, c.path) == ("POST", EVENTS)]

    def pod(self) -> JSON | None:
        return self.api.get_object(POD)


def _standalone(**spec: Any) -> JSON:
    """A standalone JobRun as the mutating webhook leaves it (its filter label set)."""
    labels = {c.LABEL_TRIGGER: "Manual"}
    return run_body(NAME, spec={"template": TEMPLATE, **spec}, labels=labels)


def _identity(path: str) -> bool:
    return any(f"/{plural}" in path for plural in ("serviceaccounts", "roles", "rolebindings"))


def run(story: Callable[[Cluster], Coroutine[Any, Any, None]]) -> Cluster:
    cluster = Cluster()

    async def main() -> None:
        await story(cluster)
        await cluster.engine.events.drain(5)

    asyncio.run(main())
    return cluster


async def held(
    cluster: Cluster,
    method: str,
    path: str,
    step: Coroutine[Any, Any, None],
    meanwhile: Callable[[], None] = lambda: None,
) -> list[tuple[str, str]]:
    """Run `step` with the request `method path` held unanswered; return the writes
    sent until then (that request included), and let it finish (`meanwhile` runs
    while it is held)."""
    gate = cluster.api.hold(method, path)
    since = cluster.mark()
    task = asyncio.create_task(step)
    await cluster.api.settle()
    sent = cluster.writes(since)
    meanwhile()
    gate.set()
    await task
    return sent


# ------------------------------------------------------------------ runs
def test_an_outcome_is_written_then_the_finalizer_released_then_the_event_posted() -> None:
    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        since = cluster.mark()
        assert await held(cluster, "PATCH", STATUS, cluster.reconcile()) == [("PATCH", STATUS)]
        await cluster.engine.events.drain(5)
        assert cluster.writes(since) == [("PATCH", STATUS), ("PATCH", POD), ("POST", EVENTS)]

    cluster = run(story)
    assert cluster.status()["phase"] == "Succeeded"
    pod = cluster.pod()
    assert pod is not None and TRACKING_FINALIZER not in pod["metadata"]["finalizers"]
    assert [(e["type"], e["reason"]) for e in cluster.events()][-1] == ("Normal", "Succeeded")


def test_a_cancel_deletes_the_pod_before_it_writes_the_status() -> None:
    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        annotations = {c.ANNOTATION_CANCEL_REQUESTED_BY: "alice"}
        await cluster.api.merge_patch(
            RUN, {"metadata": {"annotations": annotations}, "spec": {"cancel": True}}
        )
        cluster.deliver()
        since = cluster.mark()
        assert await held(cluster, "DELETE", POD, cluster.reconcile()) == [("DELETE", POD)]
        await cluster.engine.events.drain(5)
        assert cluster.writes(since) == [("DELETE", POD), ("PATCH", STATUS), ("POST", EVENTS)]

    cluster = run(story)
    assert cluster.status()["phase"] == "Cancelling"
    assert cluster.status()["cancellation"]["signalledAt"]
    pod = cluster.pod()
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 30


def test_the_worker_identity_exists_before_the_pod_is_created() -> None:
    async def story(cluster: Cluster) -> None:
        cluster.api.put(RUN, _standalone())
        cluster.deliver()
        await cluster.reconcile()

    cluster = run(story)
    plurals = [path.rsplit("/", 1)[-1] for method, path in cluster.api.requests("POST")]
    assert plurals[:4] == ["serviceaccounts", "roles", "rolebindings", "pods"]
    assert "status" not in cluster.api.objects[RUN], "Starting may wait for the start"


def test_a_failed_status_write_releases_nothing_and_is_retried() -> None:
    errors = metrics.RECONCILE_ERRORS.labels(c.KIND_JOB_RUN)

    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        cluster.api.fail("PATCH", STATUS)  # 500
        before, since = errors._value.get(), cluster.mark()
        await cluster.engine._handle(KEY)  # the work queue's handler
        assert errors._value.get() == before + 1
        assert KEY in cluster.engine.queue._due, "retried after a pause"
        await cluster.api.settle()
        assert cluster.writes(since) == [("PATCH", STATUS)], "no release, no Event"
        pod = cluster.pod()
        assert pod is not None and TRACKING_FINALIZER in pod["metadata"]["finalizers"]
        since = cluster.mark()
        await cluster.reconcile()
        await cluster.engine.events.drain(5)
        assert cluster.writes(since) == [("PATCH", STATUS), ("PATCH", POD), ("POST", EVENTS)]

    cluster = run(story)
    assert cluster.status()["phase"] == "Succeeded"
    assert cluster.api.requests("POST").count(("POST", PODS)) == 1


def test_a_pod_created_before_a_crash_is_adopted_on_restart() -> None:
    async def story(cluster: Cluster) -> None:
        cluster.api.put(RUN, _standalone())
        cluster.deliver()
        cluster.api.fail("POST", PODS, after_write=True)  # created, then the operator dies
        with pytest.raises(Crash):
            await cluster.engine.reconcile_run(KEY)
        assert cluster.pod() is not None and "status" not in cluster.api.objects[RUN]
        cluster.start_engine()
        await cluster.engine.resync()
        cluster.now += datetime.timedelta(seconds=1)
        await cluster.reconcile()

    cluster = run(story)
    assert cluster.api.requests("POST").count(("POST", PODS)) == 1, "never created twice"
    status = cluster.status()
    assert (status["attempt"], status["attempts"][0]["podName"]) == (1, f"{NAME}-1")


def test_an_outcome_written_before_a_crash_has_its_finalizer_released_on_restart() -> None:
    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        cluster.api.fail("PATCH", STATUS, after_write=True)  # written, then the crash
        with pytest.raises(Crash):
            await cluster.engine.reconcile_run(KEY)
        pod = cluster.pod()
        assert pod is not None and TRACKING_FINALIZER in pod["metadata"]["finalizers"]
        cluster.start_engine()
        await cluster.engine.resync()
        since = cluster.mark()
        await cluster.reconcile()
        assert cluster.writes(since) == [("PATCH", POD)], "released; the status stands"

    cluster = run(story)
    assert cluster.status()["phase"] == "Succeeded"
    pod = cluster.pod()
    assert pod is not None and TRACKING_FINALIZER not in pod["metadata"]["finalizers"]


def test_a_pod_that_already_exists_and_is_ours_is_taken_as_created() -> None:
    async def story(cluster: Cluster) -> None:
        run = cluster.api.put(RUN, _standalone())
        cluster.deliver()
        owner = {"uid": run["metadata"]["uid"], "controller": True}
        cluster.api.put(POD, {"kind": "Pod", "metadata": {"name": f"{NAME}-1",
                                                          "ownerReferences": [owner]}})  # fmt: skip
        await cluster.engine.reconcile_run(KEY)  # the watch has not shown the pod yet

    cluster = run(story)
    assert ("GET", POD) in cluster.api.requests(), "the existing pod's owner is checked"
    assert cluster.engine.slots.holds(cluster.engine.store.run(KEY))  # type: ignore[arg-type]


def test_a_pod_that_already_exists_and_is_not_ours_is_an_error() -> None:
    async def story(cluster: Cluster) -> None:
        cluster.api.put(RUN, _standalone())
        cluster.deliver()
        cluster.api.put(POD, {"kind": "Pod", "metadata": {"name": f"{NAME}-1"}})
        with pytest.raises(RuntimeError, match="not owned by this run"):
            await cluster.engine.reconcile_run(KEY)
        view = cluster.engine.store.run(KEY)
        assert view is not None and not cluster.engine.slots.holds(view), "slot given back"

    run(story)


def test_a_finalizer_release_of_a_replaced_pod_is_left_alone() -> None:
    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        # Between the watch event and the release, the pod was replaced by a newer one.
        newer = cluster.api.get_object(POD)
        assert newer is not None
        newer["metadata"]["uid"] = "a-newer-pod"
        cluster.api.put(POD, newer)
        await cluster.engine.reconcile_run(KEY)

    cluster = run(story)
    pod = cluster.pod()
    assert pod is not None and TRACKING_FINALIZER in pod["metadata"]["finalizers"]
    assert cluster.status()["phase"] == "Succeeded"


def test_a_run_of_a_missing_scheduled_job_fails_in_one_write() -> None:
    async def story(cluster: Cluster) -> None:
        labels = {c.LABEL_TRIGGER: "Manual", c.LABEL_SCHEDULED_JOB: "gone"}
        spec = {"scheduledJobRef": {"name": "gone"}}
        cluster.api.put(RUN, run_body(NAME, spec=spec, labels=labels))
        cluster.deliver()
        await cluster.reconcile()
        await cluster.reconcile()  # decided once

    cluster = run(story)
    assert cluster.writes() == [("PATCH", STATUS), ("POST", EVENTS)]
    status = cluster.status()
    assert (status["phase"], status["reason"]) == ("Failed", "ScheduledJobNotFound")
    finished = [x for x in status["conditions"] if x["type"] == "Finished"]
    assert finished[0]["status"] == "True"
    assert [e["reason"] for e in cluster.events()] == ["Failed"]


# ------------------------------------------------------------ scheduled jobs
JOB = "report"
SJ = object_path(c.KIND_SCHEDULED_JOB, NAMESPACE, JOB)
SJ_STATUS = f"{SJ}/status"
JOBRUNS = object_path(c.KIND_JOB_RUN, NAMESPACE)
FIRE = T0  # 12:00:00, a fire of "* * * * *"
NEW = run_name(JOB, FIRE)


def _job(**spec: Any) -> JSON:
    status = {
        "phase": "Suspended",  # resumed now: an Event
        "lastScheduleTime": format_micro_time(FIRE - datetime.timedelta(minutes=1)),
    }
    return scheduled_job_body(
        JOB,
        created=T0 - datetime.timedelta(hours=1),
        spec={"schedule": "* * * * *", "template": TEMPLATE, **spec},
        status=status,
    )


def _run_of_job(name: str, phase: str, age: float) -> JSON:
    created = T0 - datetime.timedelta(seconds=age)
    body = run_body(name, spec={"scheduledJobRef": {"name": JOB}}, created=created)
    body["status"] = {"phase": phase, "completionTime": format_micro_time(created)}
    if phase == "Running":
        del body["status"]["completionTime"]
    return body


def _scheduler_story(check: Callable[[Cluster], Coroutine[Any, Any, None]], **spec: Any) -> Cluster:
    async def story(cluster: Cluster) -> None:
        cluster.now = FIRE + datetime.timedelta(seconds=2)
        cluster.api.put(SJ, _job(**spec))
        cluster.api.put(f"{JOBRUNS}/old", _run_of_job("old", "Running", 30))
        cluster.api.put(f"{JOBRUNS}/done", _run_of_job("done", "Succeeded", 600))
        cluster.deliver()
        await check(cluster)

    return run(story)


def test_a_fire_creates_and_cancels_then_writes_status_then_prunes_then_posts_events() -> None:
    async def check(cluster: Cluster) -> None:
        reconcile = cluster.engine.scheduler.reconcile(NAMESPACE, JOB)
        before_status = await held(cluster, "PATCH", SJ_STATUS, reconcile)
        assert before_status == [
            ("POST", JOBRUNS),
            ("PATCH", f"{JOBRUNS}/old"),
            ("PATCH", SJ_STATUS),
        ], "runs created and cancelled first; nothing else before the status is written"
        await cluster.engine.events.drain(5)
        assert cluster.writes()[3:] == [("DELETE", f"{JOBRUNS}/done"), ("POST", EVENTS)]

    cluster = _scheduler_story(check, concurrencyPolicy="Replace", successfulRunsHistoryLimit=0)
    assert NEW in {run["metadata"]["name"] for run in cluster.api.listed(JOBRUNS)}
    old = cluster.api.objects[f"{JOBRUNS}/old"]["metadata"]["annotations"]
    assert old[c.ANNOTATION_OPERATOR_CANCEL] == "true"
    status = cluster.api.objects[SJ]["status"]
    assert (status["phase"], status["history"][0]["name"]) == ("Active", "done")
    assert [e["reason"] for e in cluster.events()] == ["Resumed"]
    assert (c.KIND_SCHEDULED_JOB, NAMESPACE, JOB) in cluster.engine.schedule_queue._due


def test_a_crash_between_the_run_and_the_status_never_creates_the_run_twice() -> None:
    async def check(cluster: Cluster) -> None:
        cluster.api.fail("PATCH", SJ_STATUS)
        with pytest.raises(Exception, match="500"):
            await cluster.engine.scheduler.reconcile(NAMESPACE, JOB)
        cluster.start_engine()  # a restart: the store from the API
        await cluster.engine.resync()
        await cluster.engine.scheduler.reconcile(NAMESPACE, JOB)

    cluster = _scheduler_story(check, concurrencyPolicy="Allow")
    assert cluster.api.requests("POST").count(("POST", JOBRUNS)) == 1
    status = cluster.api.objects[SJ]["status"]
    assert status["lastScheduleTime"] == format_micro_time(FIRE)
    assert status.get("missedRuns", 0) == 0, "its own run does not make the fire missed"


def test_a_run_created_before_the_watch_showed_it_is_taken_as_created() -> None:
    async def check(cluster: Cluster) -> None:
        existing = _run_of_job(NEW, "Running", 1)
        cluster.api.put(f"{JOBRUNS}/{NEW}", existing)  # not delivered: watch lag
        await cluster.engine.scheduler.reconcile(NAMESPACE, JOB)

    cluster = _scheduler_story(check, concurrencyPolicy="Allow")
    assert cluster.api.requests("POST").count(("POST", JOBRUNS)) == 1  # answered 409
    assert cluster.api.objects[SJ]["status"]["lastScheduleTime"] == format_micro_time(FIRE)


def test_a_restart_reads_every_quota_with_its_default() -> None:
    async def story(cluster: Cluster) -> None:
        for namespace, spec in ((NAMESPACE, {"maxRunning": 4}), ("team-b", {})):
            body = {"apiVersion": c.API_VERSION, "kind": c.KIND_WORKER_QUOTA, "spec": spec,
                    "metadata": {"name": "q", "namespace": namespace, "generation": 3}}  # fmt: skip
            cluster.api.put(object_path(c.KIND_WORKER_QUOTA, namespace, "q"), body)
        await cluster.engine.resync()

    cluster = run(story)
    store = cluster.engine.store
    assert store.quota(NAMESPACE, 99) == 4
    assert store.quota("team-b", 99) == cluster.engine.config.default_max_running == 10
    assert store.quota_meta[NAMESPACE, "q"][1] == 3


def test_a_finished_standalone_run_is_deleted_when_its_ttl_has_passed_and_not_before() -> None:
    async def story(cluster: Cluster) -> None:
        cluster.api.put(RUN, _standalone(ttlSecondsAfterFinished=30))
        cluster.deliver()
        await cluster.reconcile()
        await cluster.kubelet(POD)
        cluster.now += datetime.timedelta(seconds=1)
        await cluster.reconcile()
        await cluster.kubelet(POD, exit_code=0)
        await cluster.reconcile()
        assert cluster.status()["phase"] == "Succeeded"
        since = cluster.mark()
        cluster.now += datetime.timedelta(seconds=29)
        await cluster.reconcile()
        assert ("DELETE", RUN) not in cluster.writes(since)
        cluster.now += datetime.timedelta(seconds=1)
        await cluster.reconcile()
        deletes = [call for call in cluster.api.calls[since:] if call.method == "DELETE"]
        assert [(d.path, d.body["uid"]) for d in deletes] == [(RUN, "run-uid-0001")]

    cluster = run(story)
    assert RUN not in cluster.api.objects


def test_finished_runs_past_their_ttl_are_deleted_after_a_restart_and_others_are_not_read() -> None:
    """At start finished runs without pods are not reconciled (no GET apiece), except
    those whose TTL has passed: they are deleted."""
    old = format_micro_time(T0)
    expired = run_body(
        "expired",
        spec={"template": TEMPLATE, "ttlSecondsAfterFinished": 60},
        status={"phase": "Succeeded", "completionTime": old},
    )
    young = run_body(
        "young",
        spec={"template": TEMPLATE, "ttlSecondsAfterFinished": 3600},
        status={"phase": "Succeeded", "completionTime": old},
    )

    async def story(cluster: Cluster) -> None:
        cluster.api.put(object_path(c.KIND_JOB_RUN, NAMESPACE, "expired"), expired)
        cluster.api.put(object_path(c.KIND_JOB_RUN, NAMESPACE, "young"), young)
        cluster.now = T0 + datetime.timedelta(minutes=5)
        task = asyncio.create_task(cluster.engine.run())
        for _ in range(200):
            if cluster.api.requests("DELETE"):
                break
            await asyncio.sleep(0.01)
        await cluster.api.settle()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    cluster = run(story)
    paths = [p for m, p in cluster.api.requests() if m in ("GET", "DELETE") and "/jobruns/" in p]
    young_path = object_path(c.KIND_JOB_RUN, NAMESPACE, "young")
    assert ("DELETE", object_path(c.KIND_JOB_RUN, NAMESPACE, "expired")) in cluster.api.requests()
    assert young_path not in paths and young_path in cluster.api.objects


def test_a_pause_after_failures_writes_status_then_posts_the_event_and_the_audit_line() -> None:
    audit = io.StringIO()

    async def check(cluster: Cluster) -> None:
        cluster.engine.audit.stream = audit
        for name in ("f1", "f2"):
            cluster.api.put(f"{JOBRUNS}/{name}", _run_of_job(name, "Failed", 300))
        cluster.deliver()
        reconcile = cluster.engine.scheduler.reconcile(NAMESPACE, JOB)
        audited: list[str] = []
        before_status = await held(
            cluster, "PATCH", SJ_STATUS, reconcile, lambda: audited.append(audit.getvalue())
        )
        assert before_status == [("PATCH", SJ_STATUS)], "paused: no run for the fire"
        assert audited == [""], "the audit line follows the status write"

    cluster = _scheduler_story(check, pauseAfterConsecutiveFailures=2)
    status = cluster.api.objects[SJ]["status"]
    assert (status["phase"], status["failurePause"]["failures"]) == ("Suspended", 2)
    assert [e["reason"] for e in cluster.events()] == ["PausedAfterFailures"]
    lines = [json.loads(line) for line in audit.getvalue().splitlines()]
    assert [(x["action"], x["outcome"], x["kind"]) for x in lines] == [
        ("paused-after-failures", "paused", c.KIND_SCHEDULED_JOB)
    ]


def test_a_run_that_arrives_before_its_scheduled_job_reads_the_job_and_does_not_fail() -> None:
    """Runs and ScheduledJobs come in on separate watches: a run created just after its
    job (a Backfill's, a run now) can be seen first. The job is read, not presumed gone."""

    async def story(cluster: Cluster) -> None:
        cluster.api.put(SJ, _job())
        labels = {c.LABEL_TRIGGER: "Manual", c.LABEL_SCHEDULED_JOB: JOB}
        cluster.api.put(RUN, run_body(NAME, spec={"scheduledJobRef": {"name": JOB}}, labels=labels))
        body = cluster.api.get_object(RUN)
        assert body is not None
        cluster.engine.store.put_run(body)  # the run's watch is ahead of the job's
        await cluster.reconcile()

    cluster = run(story)
    assert ("GET", SJ) in cluster.api.requests()
    status = cluster.status()
    assert status.get("reason") != "ScheduledJobNotFound"
    assert status["snapshot"]["template"] == TEMPLATE


# ------------------------------------------------------------------ backfills
BACKFILL = "catch-up"
BF = object_path(c.KIND_BACKFILL, NAMESPACE, BACKFILL)
BF_STATUS = f"{BF}/status"
HOUR = datetime.timedelta(hours=1)
#: The fires the Backfill covers, oldest first ("0 * * * *": 07:00 to 11:00).
BACKFILLED = [run_name(JOB, T0 - n * HOUR) for n in (5, 4, 3, 2, 1)]


def _backfill(**spec: Any) -> JSON:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_BACKFILL,
        "metadata": {
            "name": BACKFILL,
            "namespace": NAMESPACE,
            "generation": 1,
            "creationTimestamp": format_time(T0),
        },
        "spec": {
            "scheduledJobRef": {"name": JOB},
            "from": format_time(T0 - 5 * HOUR),
            "to": format_time(T0 - HOUR),
            "maxConcurrentRuns": 2,
            **spec,
        },
    }


def _backfill_story(check: Callable[[Cluster], Coroutine[Any, Any, None]]) -> Cluster:
    async def story(cluster: Cluster) -> None:
        cluster.now = T0 + datetime.timedelta(seconds=5)
        job = _job()
        job["spec"]["schedule"] = "0 * * * *"
        cluster.api.put(SJ, job)
        cluster.api.put(BF, _backfill())
        cluster.deliver()
        await check(cluster)

    return run(story)


def _created(cluster: Cluster) -> list[str]:
    return [
        call.body["metadata"]["name"]
        for call in cluster.api.calls
        if (call.method, call.path) == ("POST", JOBRUNS)
    ]


def test_a_backfill_creates_its_oldest_runs_then_writes_status_then_posts_events() -> None:
    async def check(cluster: Cluster) -> None:
        reconcile = cluster.engine.backfiller.reconcile(NAMESPACE, BACKFILL)
        before_status = await held(cluster, "PATCH", BF_STATUS, reconcile)
        assert before_status == [("POST", JOBRUNS), ("POST", JOBRUNS), ("PATCH", BF_STATUS)]
        await cluster.engine.events.drain(5)
        assert cluster.writes()[3:] == [("POST", EVENTS)]

    cluster = _backfill_story(check)
    assert _created(cluster) == BACKFILLED[:2], "oldest fire first, up to maxConcurrentRuns"
    run = cluster.api.objects[f"{JOBRUNS}/{BACKFILLED[0]}"]
    assert run["metadata"]["labels"][c.LABEL_BACKFILL] == BACKFILL
    assert run["spec"]["trigger"] == "Backfill"
    assert run["metadata"]["finalizers"] == [c.FINALIZER_STOP_BEFORE_DELETE], "stop before delete"
    status = cluster.api.objects[BF]["status"]
    assert (status["phase"], status["fires"], status["created"]) == ("Running", 5, 2)
    assert status["activeRuns"] == BACKFILLED[:2]
    assert [e["reason"] for e in cluster.events()] == ["Started"]


def test_a_crash_between_a_backfill_run_and_its_status_never_creates_the_run_twice() -> None:
    async def check(cluster: Cluster) -> None:
        cluster.api.fail("PATCH", BF_STATUS)
        with pytest.raises(Exception, match="500"):
            await cluster.engine.backfiller.reconcile(NAMESPACE, BACKFILL)
        cluster.start_engine()  # a restart: the store from the API
        await cluster.engine.resync()
        await cluster.engine.backfiller.reconcile(NAMESPACE, BACKFILL)

    cluster = _backfill_story(check)
    assert _created(cluster) == BACKFILLED[:2], "adopted on restart, not created again"
    status = cluster.api.objects[BF]["status"]
    assert (status["created"], status["activeRuns"]) == (2, BACKFILLED[:2])


def test_a_cancelled_backfill_cancels_its_runs_before_its_status_and_audits_it() -> None:
    audit = io.StringIO()

    async def check(cluster: Cluster) -> None:
        cluster.engine.audit.stream = audit
        await cluster.engine.backfiller.reconcile(NAMESPACE, BACKFILL)
        cancelled = cluster.api.get_object(BF) or {}
        cancelled["spec"]["cancel"] = True
        cancelled["metadata"]["annotations"] = {c.ANNOTATION_CANCEL_REQUESTED_BY: "alice"}
        cluster.api.put(BF, cancelled)
        cluster.deliver()
        await cluster.engine.events.drain(5)  # the first reconcile's Event
        since = cluster.mark()
        reconcile = cluster.engine.backfiller.reconcile(NAMESPACE, BACKFILL)
        audited: list[str] = []
        before_status = await held(
            cluster, "PATCH", BF_STATUS, reconcile, lambda: audited.append(audit.getvalue())
        )
        assert sorted(before_status[:2]) == [("PATCH", f"{JOBRUNS}/{n}") for n in BACKFILLED[:2]]
        assert before_status[2:] == [("PATCH", BF_STATUS)]
        assert cluster.writes(since)[: len(before_status)] == before_status
        assert audited == [""], "the audit line follows the status write"

    cluster = _backfill_story(check)
    assert _created(cluster) == BACKFILLED[:2], "no run created once cancelled"
    for name in BACKFILLED[:2]:
        annotations = cluster.api.objects[f"{JOBRUNS}/{name}"]["metadata"]["annotations"]
        assert annotations[c.ANNOTATION_OPERATOR_CANCEL] == "true"
        assert annotations[c.ANNOTATION_CANCEL_REQUESTED_BY] == "alice"
    assert cluster.api.objects[BF]["status"]["phase"] == "Cancelling"
    lines = [json.loads(line) for line in audit.getvalue().splitlines()]
    assert [(x["action"], x["user"], x["kind"]) for x in lines] == [
        ("backfill-cancel-requested", "alice", c.KIND_BACKFILL)
    ]


def test_each_fire_writes_its_jobs_status_twice_at_the_fire_and_at_the_end() -> None:
    """As CronJob's controller: one write lists the new run, one when it has ended;
    its creation, admission and start write nothing to the ScheduledJob."""
    per_fire: list[int] = []

    async def story(cluster: Cluster) -> None:
        spec = {"concurrencyPolicy": "Forbid", "successfulRunsHistoryLimit": 1}
        cluster.api.put(SJ, _job(**spec))
        cluster.deliver()
        scheduler = cluster.engine.scheduler
        for minute in range(1, 4):
            fire = FIRE + datetime.timedelta(minutes=minute)
            cluster.now = fire + datetime.timedelta(seconds=0.2)
            since = cluster.mark()
            await scheduler.reconcile(NAMESPACE, JOB)
            cluster.deliver()
            name = run_name(JOB, fire)
            key, pod = (c.KIND_JOB_RUN, NAMESPACE, name), f"{PODS}/{name}-1"
            for exit_code in (None, None, 0):  # admitted (pod created), running, succeeded
                if exit_code is not None or cluster.api.get_object(pod) is not None:
                    cluster.now += datetime.timedelta(seconds=1)
                    await cluster.kubelet(pod, exit_code)
                await cluster.engine.reconcile_run(key)
                cluster.deliver()
                await scheduler.reconcile(NAMESPACE, JOB)  # kicked by the run's events
                cluster.deliver()
            per_fire.append(cluster.writes(since).count(("PATCH", SJ_STATUS)))

    run(story)
    assert per_fire == [2, 2, 2]


def test_a_finished_run_at_rest_is_not_read_again_for_its_later_events() -> None:
    """Once its outcome is written and its pod released, the events that follow (its
    own status, the pod's finalizer gone) cost no GET of the run."""

    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        await cluster.reconcile()  # Succeeded written, the pod released
        pod = cluster.pod()
        assert pod is not None and TRACKING_FINALIZER not in pod["metadata"]["finalizers"]
        since = cluster.mark()
        await cluster.reconcile()  # the run's own status event
        await cluster.reconcile()  # the pod's update
        assert [c for c in cluster.api.calls[since:] if c.path == RUN] == []
        assert cluster.writes(since) == []

    run(story)


def test_a_finished_run_whose_pod_release_failed_is_read_and_released() -> None:
    """Not at rest: its pod still holds the tracking finalizer, whose release needs
    the whole run (the attempt that recorded the pod's outcome)."""

    async def story(cluster: Cluster) -> None:
        await cluster.running_run()
        await cluster.kubelet(POD, exit_code=0)
        cluster.api.fail("PATCH", POD)  # the release after the outcome: a 500
        await cluster.engine._handle(KEY)  # the work queue's handler: logged, retried
        cluster.deliver()
        assert cluster.status()["phase"] == "Succeeded"
        since = cluster.mark()
        await cluster.reconcile()
        assert ("GET", RUN) in cluster.api.requests("GET")[-3:]
        assert cluster.writes(since) == [("PATCH", POD)]

    cluster = run(story)
    pod = cluster.pod()
    assert pod is not None and TRACKING_FINALIZER not in pod["metadata"]["finalizers"]
