"""The run lifecycle on the real control plane with kwok-simulated workers:
queueing under quotas, worker pods, timeouts, retries, graceful cancellation."""

from __future__ import annotations

import datetime
import random
import threading
from typing import Any

import pytest

from devcluster.install import WEBHOOK_READY_LINE, OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.runs import PodWatcher, jobrun, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    """Admin client, with the operator running."""
    return cluster.kube()


def _quota(kube: Kube, namespace: str, max_running: int) -> None:
    kube.create(
        runs.path(namespace, kind="ScheduledJob").replace("scheduledjobs", "workerquotas"),
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": max_running},
        },
    )


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _pods(kube: Kube, namespace: str) -> list[JSON]:
    items: list[JSON] = kube.get(resource_path("v1", "pods", namespace)).get("items", [])
    return items


def _no_tracked_pods(kube: Kube, namespace: str) -> bool:
    return runs.no_pods_left(kube, namespace)


# 1 (AC-001) ------------------------------------------------------------------
def test_cancel_queued_run_never_creates_a_pod(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    _quota(kube, namespace, 1)
    with PodWatcher(cluster.api(), namespace) as pods:
        runs.create(kube, namespace, jobrun("blocker", sim(run_seconds=600)))
        runs.wait_phase(kube, namespace, "blocker", "Running")
        runs.create(kube, namespace, jobrun("waiting", sim(run_seconds=1)))
        queued = runs.wait_phase(kube, namespace, "waiting", "Queued")
        assert queued["status"]["queue"]["position"] == 1
        assert queued["status"]["queue"]["reason"] == "QuotaExhausted"

        runs.cancel(kube, namespace, "waiting")
        done = runs.wait_phase(kube, namespace, "waiting", "Cancelled")
        runs.cancel(kube, namespace, "blocker")  # frees the slot: nothing may start now
        runs.wait_phase(kube, namespace, "blocker", ("Cancelled", "Failed"), timeout=60)

    assert not pods.created_by_run.get("waiting"), "a pod was created for the cancelled run"
    status = done["status"]
    assert status.get("attempts", []) == []
    cancellation = status["cancellation"]
    assert cancellation["outcome"] == "Cancelled"
    assert cancellation["requestedBy"] == "jobwarden-admin"  # stamped by the admission webhook
    assert cancellation["requestedAt"] and cancellation["finishedAt"]
    assert "signalledAt" not in cancellation or cancellation["signalledAt"] is None
    reasons = runs.wait_events(kube, namespace, "waiting", "Queued", "CancelRequested", "Cancelled")
    assert "Started" not in reasons


# 2 (AC-002) ------------------------------------------------------------------
def test_cancel_running_run_whose_worker_exits_on_sigterm(kube: Kube, namespace: str) -> None:
    body = jobrun(
        "polite", sim(run_seconds=600, sigterm_exit_seconds=2), cancelGracePeriodSeconds=20
    )
    runs.create(kube, namespace, body)
    runs.wait_phase(kube, namespace, "polite", "Running")

    runs.cancel(kube, namespace, "polite")
    cancelling = runs.wait_phase(kube, namespace, "polite", "Cancelling", timeout=10)
    assert cancelling["status"]["cancellation"]["signalledAt"]
    done = runs.wait_phase(kube, namespace, "polite", "Cancelled", timeout=30)

    cancellation = done["status"]["cancellation"]
    for field in ("requestedBy", "requestedAt", "signalledAt", "finishedAt"):
        assert cancellation.get(field), f"cancellation.{field} missing: {cancellation}"
    assert cancellation["gracePeriodSeconds"] == 20
    assert cancellation["outcome"] == "Cancelled"
    elapsed = _time(cancellation["finishedAt"]) - _time(cancellation["signalledAt"])
    assert elapsed.total_seconds() >= 1.5, "the worker's 2 s of cleanup were not waited for"
    attempt = done["status"]["attempts"][0]
    assert attempt["exitCode"] == 143
    runs.wait_events(kube, namespace, "polite", "Started", "CancelRequested", "Cancelled")
    assert any("cancelled after" in m for m in runs.log_messages(done))
    wait_until(lambda: _no_tracked_pods(kube, namespace), timeout=20, message="finalizer release")


# 3 (AC-007) ------------------------------------------------------------------
def test_worker_ignoring_sigterm_fails_with_cancel_timeout(kube: Kube, namespace: str) -> None:
    body = jobrun("stubborn", sim(run_seconds=600, ignore_sigterm=True), cancelGracePeriodSeconds=3)
    runs.create(kube, namespace, body)
    runs.wait_phase(kube, namespace, "stubborn", "Running")
    runs.cancel(kube, namespace, "stubborn")
    done = runs.wait_phase(kube, namespace, "stubborn", "Failed", timeout=30)

    status = done["status"]
    assert status["reason"] == "CancelTimeout"
    assert status["cancellation"]["outcome"] == "CancelTimeout"
    assert status["attempts"][0]["exitCode"] == 137
    assert any("cancellation attempt timed out" in m for m in runs.log_messages(done))
    runs.wait_events(kube, namespace, "stubborn", "CancelTimeout")
    wait_until(lambda: _no_tracked_pods(kube, namespace), timeout=20, message="finalizer release")


# 4 (AC-005) ------------------------------------------------------------------
def test_cancel_after_success_is_denied(kube: Kube, namespace: str) -> None:
    """The admission webhook refuses it before it is stored. The engine's CancelIgnored
    path, for a cancel stored without the webhook (failurePolicy Ignore while the
    operator was down), is covered in tests/unit/test_lifecycle.py."""
    runs.create(kube, namespace, jobrun("quick", sim(run_seconds=0.5)))
    before = runs.wait_phase(kube, namespace, "quick", "Succeeded")
    with pytest.raises(KubeError) as caught:
        runs.cancel(kube, namespace, "quick")
    assert caught.value.status == 409
    assert "not in a cancellable state: Succeeded" in caught.value.message
    after = runs.get(kube, namespace, "quick")
    assert after["spec"]["cancel"] is False
    assert after["status"]["phase"] == "Succeeded"
    assert after["status"]["completionTime"] == before["status"]["completionTime"]
    assert "cancellation" not in after["status"]
    assert "CancelIgnored" not in runs.event_reasons(kube, namespace, "quick")


def test_the_operator_writes_status_as_its_own_field_manager(kube: Kube, namespace: str) -> None:
    """`kubectl get --show-managed-fields` names the operator, not its HTTP library."""
    runs.create(kube, namespace, jobrun("managed", sim(run_seconds=0.5)))
    run = runs.wait_phase(kube, namespace, "managed", "Succeeded")
    managers = {(m["manager"], m.get("subresource", "")) for m in run["metadata"]["managedFields"]}
    assert ("jobwarden-operator", "status") in managers, managers


def _cancel_unless_finished(kube: Kube, namespace: str, name: str) -> None:
    """Cancel; the admission webhook refuses it if the run has already finished."""
    try:
        runs.cancel(kube, namespace, name)
    except KubeError as error:
        if "not in a cancellable state" not in error.message:
            raise


# 5 (AC-006) ------------------------------------------------------------------
def test_cancel_races_around_admission(cluster: TestCluster, kube: Kube, namespace: str) -> None:
    _quota(kube, namespace, 5)
    rng = random.Random(20261122)
    names = [f"race-{i:02d}" for i in range(50)]
    with PodWatcher(cluster.api(), namespace) as pods:
        threads = []
        for name in names:
            runs.create(kube, namespace, jobrun(name, sim(run_seconds=rng.choice([0.3, 1, 3]))))
            delay = rng.uniform(0, 1.5)
            thread = threading.Timer(delay, _cancel_unless_finished, args=(kube, namespace, name))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        for name in names:
            runs.wait_phase(kube, namespace, name, ("Cancelled", "Succeeded", "Failed"), timeout=90)
        wait_until(lambda: _no_tracked_pods(kube, namespace), timeout=30, message="all released")

    phases = {name: runs.phase(kube, namespace, name) for name in names}
    unexpected = {n: p for n, p in phases.items() if p not in ("Cancelled", "Succeeded", "Failed")}
    assert not unexpected
    for name in names:
        body = runs.get(kube, namespace, name)
        created = pods.created_by_run.get(name, set())
        attempts = body["status"].get("attempts", [])
        assert len(created) == len(attempts), f"{name}: pods {created} vs attempts {attempts}"
        assert len(created) <= 1, f"{name} got more than one pod: {created}"
        if phases[name] == "Failed":  # only a cancel that timed out may fail here
            assert body["status"]["reason"] == "CancelTimeout"
    assert pods.max_alive <= 5


# 6 ---------------------------------------------------------------------------
def test_quota_is_never_exceeded_and_admission_follows_priority_then_age(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    _quota(kube, namespace, 3)
    priorities = ["Low", "Medium", "High"]
    rng = random.Random(7)
    names = [f"q-{i:02d}" for i in range(40)]
    chosen = {name: rng.choice(priorities) for name in names}
    with PodWatcher(cluster.api(), namespace) as pods:
        for index in range(3):
            runs.create(kube, namespace, jobrun(f"block-{index}", sim(run_seconds=4)))
        for index in range(3):
            runs.wait_phase(kube, namespace, f"block-{index}", "Running")
        for name in names:
            runs.create(kube, namespace, jobrun(name, sim(run_seconds=1), priority=chosen[name]))
        for name in names:
            runs.wait_phase(kube, namespace, name, "Succeeded", timeout=120)

    assert pods.max_alive <= 3, f"{pods.max_alive} worker pods were alive at once (quota 3)"
    rank = {"High": 0, "Medium": 1, "Low": 2}
    expected = sorted(names, key=lambda n: (rank[chosen[n]], names.index(n)))
    started = {
        n: _time(runs.get(kube, namespace, n)["status"]["attempts"][0]["startTime"]) for n in names
    }
    inversions = [
        (a, b)
        for i, a in enumerate(expected)
        for b in expected[i + 1 :]
        if (started[a] - started[b]).total_seconds() > 0.3
    ]
    assert not inversions, f"admitted out of order (first few): {inversions[:5]}"


# 7 ---------------------------------------------------------------------------
def test_timeout_fails_the_attempt_and_is_retried(kube: Kube, namespace: str) -> None:
    body = jobrun(
        "slow",
        sim(run_seconds=600, sigterm_exit_seconds=0.2),
        timeoutSeconds=2,
        retries=1,
        retryBackoff={"initialSeconds": 1},
        cancelGracePeriodSeconds=5,
    )
    runs.create(kube, namespace, body)
    done = runs.wait_phase(kube, namespace, "slow", "Failed", timeout=40)
    status = done["status"]
    assert status["reason"] == "DeadlineExceeded"
    assert [a["reason"] for a in status["attempts"]] == ["DeadlineExceeded", "DeadlineExceeded"]
    reasons = runs.wait_events(kube, namespace, "slow", "DeadlineExceeded", "Retrying", "Failed")
    assert reasons.count("DeadlineExceeded") == 2


# 8 ---------------------------------------------------------------------------
def test_retries_with_backoff_until_success(kube: Kube, namespace: str) -> None:
    body = jobrun(
        "flaky",
        sim(run_seconds=0.3, exit_codes="1,1,0"),
        retries=3,
        retryBackoff={"initialSeconds": 1, "factor": 2},
    )
    runs.create(kube, namespace, body)
    done = runs.wait_phase(kube, namespace, "flaky", "Succeeded", timeout=40)
    attempts = done["status"]["attempts"]
    assert [a["exitCode"] for a in attempts] == [1, 1, 0]
    # The phase is a field selector (CRD selectableFields), the trigger a label set at
    # creation: both filter without any write after the run finished.
    selected = kube.get(
        runs.path(namespace),
        fieldSelector="status.phase=Succeeded",
        labelSelector="jobwarden.dev/trigger=Manual",
    )["items"]
    assert [r["metadata"]["name"] for r in selected] == ["flaky"]
    assert kube.get(runs.path(namespace), fieldSelector="status.phase=Failed")["items"] == []
    assert [a["podName"] for a in attempts] == ["flaky-1", "flaky-2", "flaky-3"]
    delays = [
        (_time(attempts[i + 1]["startTime"]) - _time(attempts[i]["finishTime"])).total_seconds()
        for i in range(2)
    ]
    for delay, expected in zip(delays, (1, 2), strict=True):
        assert expected <= delay < expected + 1.5, f"backoff {delay:.2f}s, expected ~{expected}s"


def test_cancel_during_backoff_creates_no_new_pod(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    body = jobrun(
        "backoff", sim(run_seconds=0.3, exit_code=1), retries=3, retryBackoff={"initialSeconds": 30}
    )
    with PodWatcher(cluster.api(), namespace) as pods:
        runs.create(kube, namespace, body)
        runs.wait_phase(kube, namespace, "backoff", "Retrying", timeout=30)
        runs.cancel(kube, namespace, "backoff")
        done = runs.wait_phase(kube, namespace, "backoff", "Cancelled", timeout=15)
    assert pods.created_by_run["backoff"] == {"backoff-1"}
    assert done["status"].get("nextAttemptTime") is None


# 9 ---------------------------------------------------------------------------
def test_operator_killed_mid_admission_mid_run_and_mid_cancel(
    cluster: TestCluster, operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    _quota(kube, namespace, 2)
    with PodWatcher(cluster.api(), namespace) as pods:
        # mid-run and mid-cancel: two running workers, one of them being cancelled
        runs.create(kube, namespace, jobrun("long", sim(run_seconds=4)))
        runs.create(
            kube, namespace, jobrun("stopping", sim(run_seconds=600, sigterm_exit_seconds=3))
        )
        runs.wait_phase(kube, namespace, "long", "Running")
        runs.wait_phase(kube, namespace, "stopping", "Running")
        runs.cancel(kube, namespace, "stopping")
        runs.wait_phase(kube, namespace, "stopping", "Cancelling", timeout=10)
        # mid-admission: a burst of runs the operator is admitting when it dies
        burst = [f"burst-{i}" for i in range(6)]
        for name in burst:
            runs.create(kube, namespace, jobrun(name, sim(run_seconds=0.5)))
        operator.kill()
        # Writes wait for the admission webhooks (failurePolicy Fail). The restarted
        # operator serves them at once, but its engine waits until the dead one's Lease
        # expires: these runs are created while no engine runs.
        offset = operator.log_size()
        operator.start(ready_line=WEBHOOK_READY_LINE)
        for name in ("late-1", "late-2"):
            runs.create(kube, namespace, jobrun(name, sim(run_seconds=0.5)))
        operator.wait_log("engine started", after=offset)

        assert runs.wait_phase(kube, namespace, "long", "Succeeded", timeout=60)
        assert runs.wait_phase(kube, namespace, "stopping", "Cancelled", timeout=60)
        for name in [*burst, "late-1", "late-2"]:
            runs.wait_phase(kube, namespace, name, "Succeeded", timeout=90)
        wait_until(lambda: _no_tracked_pods(kube, namespace), timeout=30, message="all released")

    assert pods.max_alive <= 2, f"{pods.max_alive} workers alive at once under quota 2"
    for run, created in pods.created_by_run.items():
        attempts = runs.get(kube, namespace, run)["status"]["attempts"]
        assert len(created) == len(attempts) == 1, f"{run}: pods {created}"


# 10 --------------------------------------------------------------------------
def test_export_shares_the_lifecycle(kube: Kube, namespace: str) -> None:
    runs.create(kube, namespace, runs.export("daily", sim(run_seconds=0.5)))
    done = runs.wait_phase(kube, namespace, "daily", "Succeeded", kind="Export")
    assert done["status"]["attempts"][0]["podName"] == "daily-1"
    pod = kube.get(resource_path("v1", "pods", namespace, "daily-1"))
    labels: dict[str, Any] = pod["metadata"]["labels"]
    assert labels["jobwarden.dev/run-kind"] == "Export"
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "jobwarden.worker.export"]

    runs.create(kube, namespace, runs.export("big", sim(run_seconds=600, sigterm_exit_seconds=1)))
    runs.wait_phase(kube, namespace, "big", "Running", kind="Export")
    runs.cancel(kube, namespace, "big", kind="Export")
    cancelled = runs.wait_phase(kube, namespace, "big", "Cancelled", kind="Export", timeout=30)
    assert cancelled["status"]["cancellation"]["outcome"] == "Cancelled"


def test_worker_pod_shape(kube: Kube, namespace: str) -> None:
    """One pod per attempt, owned by the run, labelled, tracked, with the run's identity."""
    runs.create(kube, namespace, jobrun("shape", sim(run_seconds=600)))
    running = runs.wait_phase(kube, namespace, "shape", "Running")
    pod = kube.get(resource_path("v1", "pods", namespace, "shape-1"))
    metadata = pod["metadata"]
    assert metadata["ownerReferences"][0]["uid"] == running["metadata"]["uid"]
    assert metadata["ownerReferences"][0]["controller"] is True
    assert metadata["labels"]["jobwarden.dev/run"] == "shape"
    assert metadata["labels"]["jobwarden.dev/attempt"] == "1"
    assert metadata["labels"]["jobwarden.dev/tenant"] == namespace
    assert "jobwarden.dev/run-tracking" in metadata["finalizers"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JOBWARDEN_RUN_NAME"] == "shape"
    assert env["JOBWARDEN_RUN_NAMESPACE"] == namespace
    assert env["JOBWARDEN_RUN_KIND"] == "JobRun"
    assert env["JOBWARDEN_ATTEMPT"] == "1"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["spec"]["restartPolicy"] == "Never"
    runs.cancel(kube, namespace, "shape")
    runs.wait_phase(kube, namespace, "shape", ("Cancelled", "Failed"), timeout=40)
