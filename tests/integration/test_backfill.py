"""Backfill on the real control plane (issue 22, point 3): the runs of a past range,
oldest first, under its own cap and the worker quota, idempotent (a fire with a run
is skipped and reported, a restart creates nothing twice), progress in status, and a
cancel that stops it and cancels its runs; `kubectl jobwarden backfill`."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
from typing import Any

import pytest
from kubernetes import client, watch

from devcluster.install import OperatorProcess
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.plugin import run_plugin
from tests.support.runs import sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster
UTC = datetime.UTC
BACKFILL = "Backfill"


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    return cluster.kube()


def _midnight(days_ago: int) -> datetime.datetime:
    today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - datetime.timedelta(days=days_ago)


def _stamp(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fires(days: range) -> list[datetime.datetime]:
    """The 02:00 UTC fires of those days ago, oldest first."""
    return sorted(_midnight(d) + datetime.timedelta(hours=2) for d in days)


def _name(job: str, fire: datetime.datetime) -> str:
    return f"{job}-{int(fire.timestamp())}"


def backfill(
    name: str, job: str, start: datetime.datetime, end: datetime.datetime, **spec: Any
) -> JSON:
    return {
        "apiVersion": runs.API,
        "kind": BACKFILL,
        "metadata": {"name": name},
        "spec": {
            "scheduledJobRef": {"name": job},
            "from": _stamp(start),
            "to": _stamp(end),
            **spec,
        },
    }


def _status(kube: Kube, namespace: str, name: str) -> JSON:
    status: JSON = runs.get(kube, namespace, name, BACKFILL).get("status", {})
    return status


def _wait_backfill(kube: Kube, namespace: str, name: str, phase: str, timeout: float = 90) -> JSON:
    def probe() -> JSON | None:
        status = _status(kube, namespace, name)
        return status if status.get("phase") == phase else None

    return wait_until(
        probe,
        timeout=timeout,
        message=lambda: f"Backfill {name} {phase}: {_status(kube, namespace, name)}",
    )


class RunWatcher:
    """Records each JobRun's first sighting and the most runs of a Backfill active
    (not finished) at once, and the most holding a worker slot at once."""

    def __init__(self, api: client.ApiClient, namespace: str, backfill: str) -> None:
        self.api, self.namespace, self.backfill = api, namespace, backfill
        self.order: list[str] = []
        self.phases: dict[str, str] = {}
        self.max_active = 0
        self.max_holding = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        version = ""
        while not self._stop.is_set():
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    custom.list_namespaced_custom_object,
                    "jobwarden.dev",
                    "v1alpha1",
                    self.namespace,
                    "jobruns",
                    label_selector=f"jobwarden.dev/backfill={self.backfill}",
                    resource_version=version or None,
                    timeout_seconds=60,
                ):
                    if self._stop.is_set():
                        stream.stop()  # type: ignore[no-untyped-call]
                        return
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    self._see(obj)
            except Exception:  # a dropped stream resumes where it was
                continue

    def _see(self, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        if name not in self.phases:
            self.order.append(name)
        self.phases[name] = str(obj.get("status", {}).get("phase") or "New")
        done = ("Succeeded", "Failed", "Cancelled")
        holding = ("Starting", "Running", "Cancelling")
        self.max_active = max(self.max_active, sum(p not in done for p in self.phases.values()))
        self.max_holding = max(self.max_holding, sum(p in holding for p in self.phases.values()))


def test_a_backfill_runs_each_past_fire_once_oldest_first_under_its_cap_and_the_quota(
    cluster: TestCluster, kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    runs.create(
        kube,
        namespace,
        runs.scheduledjob("nightly", sim(run_seconds=2), schedule="0 2 * * *"),
    )
    runs.create(
        kube,
        namespace,
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": 1},
        },
    )
    fires = _fires(range(7, 0, -1))  # 7 days ago ... yesterday: 7 fires
    names = [_name("nightly", f) for f in fires]
    # The fire of 5 days ago already has a run (e.g. it ran before an outage).
    existing = runs.jobrun(names[2], sim(run_seconds=0.5), trigger="Manual")
    del existing["spec"]["template"]
    existing["spec"]["scheduledJobRef"] = {"name": "nightly"}
    runs.create(kube, namespace, existing)
    runs.wait_phase(kube, namespace, names[2], "Succeeded")

    with RunWatcher(cluster.api(), namespace, "week") as watcher:
        runs.create(
            kube,
            namespace,
            backfill("week", "nightly", _midnight(7), _midnight(0), maxConcurrentRuns=2),
        )
        # Halfway, the operator restarts: nothing is created twice.
        wait_until(
            lambda: _status(kube, namespace, "week").get("created", 0) >= 3,
            timeout=60,
            message="three runs created",
        )
        operator.stop()
        operator.start()
        status = _wait_backfill(kube, namespace, "week", "Completed", timeout=120)

    assert status["fires"] == 7
    assert (status["created"], status["skipped"]) == (6, 1)
    assert (status["succeeded"], status["failed"], status["cancelled"]) == (6, 0, 0)
    assert status["skippedFires"] == [
        {
            "scheduledTime": f"{_stamp(fires[2])[:-1]}.000000Z",
            "name": names[2],
            "reason": "RunExists",
        }
    ]
    assert status["lastFireTime"].startswith(_stamp(fires[-1])[:-1])
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "True" and ready["reason"] == "Completed"
    # Oldest first, each fire once, never more than 2 active, never more than 1 running.
    assert watcher.order == [n for n in names if n != names[2]], watcher.order
    assert watcher.max_active <= 2, watcher.max_active
    assert watcher.max_holding <= 1, watcher.max_holding
    for name, fire in zip(names, fires, strict=True):
        if name == names[2]:
            continue
        run = runs.get(kube, namespace, name)
        assert run["spec"]["scheduledTime"].startswith(_stamp(fire)[:-1])
        assert run["spec"]["trigger"] == "Backfill"
        assert run["metadata"]["labels"]["jobwarden.dev/backfill"] == "week"
    job = runs.get(kube, namespace, "nightly", "ScheduledJob")
    assert job["status"].get("consecutiveFailures", 0) == 0

    # The same range again: every fire has a run, none is created.
    runs.create(kube, namespace, backfill("again", "nightly", _midnight(7), _midnight(0)))
    again = _wait_backfill(kube, namespace, "again", "Completed")
    assert (again["fires"], again["created"], again["skipped"]) == (7, 0, 7)


def test_cancelling_a_backfill_stops_it_and_cancels_its_runs(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    runs.create(
        kube,
        namespace,
        runs.scheduledjob("slow", sim(run_seconds=600), schedule="0 2 * * *"),
    )
    runs.create(
        kube,
        namespace,
        backfill("long", "slow", _midnight(6), _midnight(0), maxConcurrentRuns=2),
    )
    status = wait_until(
        lambda: (s := _status(kube, namespace, "long")).get("created") == 2 and s,
        timeout=60,
        message="two runs created",
    )
    active = list(status["activeRuns"])
    for name in active:
        runs.wait_phase(kube, namespace, name, "Running")
    cancelled = _plugin(
        cluster, namespace, "cancel", "-k", "backfill", "long", "--reason", "wrong range"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert "backfill.jobwarden.dev/long cancel requested" in cancelled.stdout
    status = _wait_backfill(kube, namespace, "long", "Cancelled")
    assert (status["created"], status["cancelled"], status["active"]) == (2, 2, 0), status["log"]
    for name in active:
        run = runs.wait_phase(kube, namespace, name, "Cancelled", timeout=60)
        assert "its Backfill long was cancelled by " in run["status"]["cancellation"]["reason"]
    labelled = kube.get(runs.path(namespace), labelSelector="jobwarden.dev/backfill=long")
    assert len(labelled["items"]) == 2  # no run after the cancel
    events = kube.get(
        f"/api/v1/namespaces/{namespace}/events",
        fieldSelector="involvedObject.kind=Backfill,involvedObject.name=long",
    )
    assert "CancelRequested" in {e["reason"] for e in events["items"]}


def test_the_webhook_refuses_a_future_range_and_one_with_too_many_fires(
    kube: Kube, namespace: str
) -> None:
    runs.create(kube, namespace, runs.scheduledjob("minutely", schedule="* * * * *"))
    future = backfill(
        "future", "minutely", _midnight(1), datetime.datetime.now(UTC) + datetime.timedelta(days=1)
    )
    with pytest.raises(KubeError) as refused:
        runs.create(kube, namespace, future)
    assert "is in the future; a Backfill runs past fires only" in refused.value.message
    week = backfill("week", "minutely", _midnight(7), _midnight(0))
    with pytest.raises(KubeError) as refused:
        runs.create(kube, namespace, week)
    assert "the range holds 10081 fires" in refused.value.message
    backwards = backfill("backwards", "minutely", _midnight(1), _midnight(2))
    with pytest.raises(KubeError) as refused:
        runs.create(kube, namespace, backwards)
    assert "to must be later than from" in refused.value.message
    # A cancelled job is not backfilled: its runs would be cancelled as they came.
    kube.merge_patch(runs.path(namespace, "minutely", "ScheduledJob"), {"spec": {"cancel": True}})
    ended = backfill(
        "ended", "minutely", _midnight(1), _midnight(1) + datetime.timedelta(minutes=3)
    )
    with pytest.raises(KubeError) as refused:
        runs.create(kube, namespace, ended)
    assert refused.value.status == 409, refused.value.message
    assert "ScheduledJob minutely is cancelled" in refused.value.message
    assert refused.value.message.endswith("there is nothing to backfill")


def _plugin(cluster: TestCluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster, namespace, *args)


def test_kubectl_jobwarden_backfill_previews_then_creates(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    runs.create(
        kube, namespace, runs.scheduledjob("daily", sim(run_seconds=0.5), schedule="0 2 * * *")
    )
    fires = _fires(range(3, 0, -1))
    done = runs.jobrun(_name("daily", fires[0]), sim(), trigger="Manual")
    del done["spec"]["template"]
    done["spec"]["scheduledJobRef"] = {"name": "daily"}
    runs.create(kube, namespace, done)
    start, end = _midnight(3).strftime("%Y-%m-%d"), _midnight(1).strftime("%Y-%m-%d")
    preview = _plugin(
        cluster,
        namespace,
        "backfill",
        "daily",
        "--from",
        start,
        "--to",
        end,
        "--dry-run",
        "-o",
        "json",
    )
    assert preview.returncode == 0, preview.stderr
    planned = json.loads(preview.stdout)
    assert [(p["run"], p["action"]) for p in planned] == [
        (_name("daily", fires[0]), "skip"),
        (_name("daily", fires[1]), "create"),
        (_name("daily", fires[2]), "create"),
    ]
    assert not kube.get(runs.path(namespace, kind=BACKFILL))["items"]  # nothing created

    created = _plugin(
        cluster, namespace, "backfill", "daily", "--from", start, "--to", end, "-o", "name"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("backfill.jobwarden.dev/daily-backfill-")
    name = created.stdout.strip().split("/")[1]
    status = _wait_backfill(kube, namespace, name, "Completed")
    assert (status["fires"], status["created"], status["skipped"], status["succeeded"]) == (
        3,
        2,
        1,
        2,
    )
