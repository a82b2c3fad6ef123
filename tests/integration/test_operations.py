"""Operating the engine: quota usage in status, the JSON audit log, and two
replicas with one active (leader election on a Lease)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devcluster.install import STANDBY_LINE, OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.audit import audit_records
from tests.support.cluster import TestCluster
from tests.support.kube import Kube
from tests.support.runs import jobrun, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    """Admin client, with the operator running."""
    return cluster.kube()


def _quota_path(namespace: str, name: str | None = None) -> str:
    return resource_path(runs.API, "workerquotas", namespace, name)


def test_worker_quota_status_shows_usage(kube: Kube, namespace: str) -> None:
    kube.create(
        _quota_path(namespace),
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "q"},
            "spec": {"maxRunning": 1},
        },
    )
    # A quota applies once the operator has seen it (docs/operations.md).
    wait_until(
        lambda: kube.get(_quota_path(namespace, "q")).get("status", {}).get("observedGeneration"),
        timeout=15,
        message="the operator to observe the WorkerQuota",
    )
    runs.create(kube, namespace, jobrun("a", sim(run_seconds=600)))
    runs.wait_phase(kube, namespace, "a", "Running")
    runs.create(kube, namespace, jobrun("b", sim(run_seconds=1), priority="High"))
    runs.create(kube, namespace, jobrun("c", sim(run_seconds=1), priority="Low"))

    def usage() -> dict[str, Any] | None:
        status: dict[str, Any] = kube.get(_quota_path(namespace, "q")).get("status", {})
        wanted = {"high": 1, "medium": 0, "low": 1}
        ok = status.get("running") == 1 and status.get("queued") == 2
        return status if ok and status.get("queuedByPriority") == wanted else None

    status = wait_until(usage, timeout=15, message="WorkerQuota status running 1, queued 2")
    assert status["observedGeneration"] == 1
    table = runs.get(kube, namespace, "b")  # High waits at the head of the queue
    assert table["status"]["queue"]["position"] == 1
    assert runs.get(kube, namespace, "c")["status"]["queue"]["position"] == 2
    runs.cancel(kube, namespace, "a")
    runs.wait_phase(kube, namespace, "b", ("Running", "Succeeded"), timeout=30)


def _audit_lines(log: Path, name: str) -> list[dict[str, Any]]:
    return audit_records(log, name)


def test_audit_log_records_admission_cancel_and_outcome(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    runs.create(kube, namespace, jobrun("audited", sim(run_seconds=600, sigterm_exit_seconds=0.5)))
    runs.wait_phase(kube, namespace, "audited", "Running")
    kube.merge_patch(
        runs.path(namespace, "audited"),
        {
            "metadata": {"annotations": {"jobwarden.dev/cancel-reason": "wrong parameters"}},
            "spec": {"cancel": True},
        },
    )
    done = runs.wait_phase(kube, namespace, "audited", "Cancelled", timeout=30)
    assert done["status"]["cancellation"]["reason"] == "wrong parameters"

    def finished_records() -> list[dict[str, Any]] | None:
        lines = _audit_lines(operator.log_path, "audited")
        return lines if any(r["action"] == "cancel-finished" for r in lines) else None

    records = wait_until(finished_records, timeout=10, message="audit lines for the cancelled run")
    actions = [r["action"] for r in records]
    assert actions == ["admitted", "cancel-requested", "cancel-finished"], actions
    for record in records:
        assert record["namespace"] == namespace and record["kind"] == "JobRun"
        assert record["time"].endswith("Z")
        assert {"user", "outcome", "uid"} <= record.keys()
    assert records[-1]["outcome"] == "Cancelled"


def _grant_alice(kube: Kube, namespace: str) -> None:
    """alice may create, change and delete jobwarden objects in `namespace`."""
    rbac = "rbac.authorization.k8s.io/v1"
    rules = [
        {
            "apiGroups": ["jobwarden.dev"],
            "resources": ["scheduledjobs", "jobruns", "exports", "workerquotas"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
        }
    ]
    kube.create(
        resource_path(rbac, "roles", namespace), {"metadata": {"name": "edit"}, "rules": rules}
    )
    kube.create(
        resource_path(rbac, "rolebindings", namespace),
        {
            "metadata": {"name": "edit-alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "edit"},
            "subjects": [
                {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )


def test_audit_log_records_every_user_action_on_jobs_runs_and_quotas(
    operator: OperatorProcess, cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    """One JSON line per user action, with user, time, object, uid and detail: a job
    created, changed, paused, resumed, cancelled, deleted; run now; rerun; a quota."""
    _grant_alice(kube, namespace)
    alice = cluster.kube("alice")
    job_path = runs.path(namespace, "audited-job", "ScheduledJob")
    job = {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": "audited-job"},
        "spec": {"schedule": "0 0 1 1 *", "template": runs.pod_template(sim(run_seconds=0.2))},
    }
    job_uid = runs.create(alice, namespace, job)["metadata"]["uid"]
    alice.merge_patch(job_path, {"spec": {"schedule": "0 1 1 1 *", "retries": 1}})
    alice.merge_patch(job_path, {"spec": {"suspend": True}})
    wait_until(
        lambda: any(
            e["message"].startswith("suspended by alice")
            for e in runs.get(kube, namespace, "audited-job", "ScheduledJob")
            .get("status", {})
            .get("log", [])
        ),
        timeout=15,
        message="the ScheduledJob's log says alice paused it",
    )
    alice.merge_patch(job_path, {"spec": {"suspend": False}})
    wait_until(
        lambda: any(
            e["message"].startswith("resumed by alice")
            for e in runs.get(kube, namespace, "audited-job", "ScheduledJob")
            .get("status", {})
            .get("log", [])
        ),
        timeout=15,
        message="the ScheduledJob's log says alice resumed it",
    )
    now: dict[str, Any] = {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": "audited-now"},
        "spec": {"scheduledJobRef": {"name": "audited-job"}, "trigger": "Manual"},
    }
    now_uid = runs.create(alice, namespace, now)["metadata"]["uid"]
    runs.wait_phase(kube, namespace, "audited-now", "Succeeded", timeout=30)
    again: dict[str, Any] = {**now, "metadata": {"name": "audited-again"},
             "spec": {**now["spec"], "trigger": "Rerun", "rerunOf": "audited-now"}}  # fmt: skip
    runs.create(alice, namespace, again)
    runs.wait_phase(kube, namespace, "audited-again", "Succeeded", timeout=30)
    alice.merge_patch(
        job_path,
        {
            "metadata": {"annotations": {"jobwarden.dev/cancel-reason": "retired"}},
            "spec": {"cancel": True},
        },
    )
    alice.delete(job_path)
    quota = {"apiVersion": runs.API, "kind": "WorkerQuota", "metadata": {"name": "audited-q"},
             "spec": {"maxRunning": 4}}  # fmt: skip
    quota_uid = alice.create(_quota_path(namespace), quota)["metadata"]["uid"]
    alice.merge_patch(_quota_path(namespace, "audited-q"), {"spec": {"maxRunning": 6}})

    def lines(name: str, count: int) -> list[dict[str, Any]] | None:
        found = [r for r in _audit_lines(operator.log_path, name) if r["namespace"] == namespace]
        return found if len(found) >= count else None

    job_lines = wait_until(lambda: lines("audited-job", 6), timeout=15, message="job lines")
    assert [(r["action"], r.get("detail", "")) for r in job_lines] == [
        ("scheduledjob-created", "schedule 0 0 1 1 *"),
        ("scheduledjob-changed", "changed retries, schedule"),
        ("paused", ""),
        ("resumed", ""),
        ("scheduledjob-cancelled", "retired"),
        ("scheduledjob-deleted", ""),
    ]
    for record in job_lines:
        assert (record["user"], record["uid"], record["kind"]) == ("alice", job_uid, "ScheduledJob")
        assert record["time"].endswith("Z") and record["outcome"] == "allowed"
    run_now = wait_until(lambda: lines("audited-now", 2), timeout=15, message="run-now lines")
    assert [(r["action"], r["user"]) for r in run_now[:2]] == [
        ("run-now", "alice"),
        ("admitted", "alice"),
    ]
    assert run_now[0]["uid"] == now_uid and "audited-job" in run_now[0]["detail"]
    rerun = wait_until(lambda: lines("audited-again", 1), timeout=15, message="rerun line")
    assert (rerun[0]["action"], rerun[0]["user"], rerun[0]["detail"]) == (
        "rerun",
        "alice",
        "rerun of audited-now",
    )
    quota_lines = wait_until(lambda: lines("audited-q", 2), timeout=15, message="quota lines")
    assert [(r["action"], r["detail"], r["uid"]) for r in quota_lines] == [
        ("quota-changed", "maxRunning default -> 4", quota_uid),
        ("quota-changed", "maxRunning 4 -> 6", quota_uid),
    ]


def test_two_replicas_one_active_and_failover(
    cluster: TestCluster, operator: OperatorProcess, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    standby = OperatorProcess(
        cluster.kubeconfig("operator"),
        tmp_path / "standby.log",
        env={"JOBWARDEN_EXIT_MARGIN_SECONDS": "3"},
    )
    standby.start(ready_line=STANDBY_LINE)
    restarted = False
    try:
        runs.create(kube, namespace, jobrun("before", sim(run_seconds=0.5)))
        runs.wait_phase(kube, namespace, "before", "Succeeded")
        assert "engine started" not in standby.log_path.read_text(), "the standby acted"

        operator.kill()  # the active replica crashes: the standby takes over after the lease
        # The API server may still hold a connection to the killed replica's webhook
        # server (same port: SO_REUSEPORT): that one call fails ("broken pipe"); the next
        # goes to the standby.
        wait_until(
            lambda: runs.create(kube, namespace, jobrun("after", sim(run_seconds=0.5))),
            timeout=10,
            message="the standby's webhooks to admit a JobRun",
        )
        standby.wait_log("engine started", timeout=40)
        runs.wait_phase(kube, namespace, "after", "Succeeded", timeout=30)
        pods = kube.get(
            resource_path("v1", "pods", namespace), labelSelector="jobwarden.dev/run=after"
        )
        assert len(pods["items"]) == 1
        standby.stop()  # a clean stop releases the lease: the session operator leads at once
        lease = kube.get(
            resource_path(
                "coordination.k8s.io/v1", "leases", "jobwarden-system", "jobwarden-operator"
            )
        )
        assert not lease["spec"].get("holderIdentity"), f"lease kept after a clean stop: {lease}"
        # Released before kopf began its own (slower) shutdown, not in its cleanup after.
        stopped = standby.log_path.read_text()
        assert "SIGTERM received: stepping down" in stopped, stopped[-2000:]
        assert stopped.index("released the lease") < stopped.index("Operator is stopping"), stopped[
            -2000:
        ]
        operator.start()
        restarted = True
    finally:
        if not restarted:  # one failure here must not take the session's operator with it
            standby.stop()
            operator.start()
