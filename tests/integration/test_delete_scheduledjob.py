"""Deleting a ScheduledJob does not bypass the cancel rules of its active runs
(issue 20, point 1): only who may cancel them may delete it, and its runs stop through
the cancel path (status.cancellation by the deleter, reason "deleted with its
ScheduledJob …", audit lines) before they go with it."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.audit import audit_records
from tests.support.cluster import TestCluster
from tests.support.dashboard import wait_can
from tests.support.kube import JSON, KubeError
from tests.support.runs import pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture
def team(cluster: TestCluster, operator: OperatorProcess, namespace: str) -> str:
    """The test namespace, where group team-a (alice, bob) has jobwarden-edit."""
    cluster.kube().create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": "team-a-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jobwarden-edit",
            },
            "subjects": [
                {"kind": "Group", "name": "team-a", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )
    for user in ("alice", "bob"):
        wait_can(cluster, namespace, user, "delete", "scheduledjobs.jobwarden.dev")
    return namespace


def _audit(operator: OperatorProcess, name: str) -> list[JSON]:
    return audit_records(operator.log_path, name)


def test_deleting_a_scheduledjob_stops_its_active_runs_as_a_cancel_first(
    cluster: TestCluster, operator: OperatorProcess, team: str
) -> None:
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    job_path = runs.path(team, "nightly", "ScheduledJob")
    alice.create(
        runs.path(team, kind="ScheduledJob"),
        {
            "apiVersion": runs.API,
            "kind": "ScheduledJob",
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 0 1 1 *",  # once a year: the only run is the manual one
                "template": pod_template(sim(run_seconds=600, sigterm_exit_seconds=1)),
            },
        },
    )
    manual = runs.create(
        alice,
        team,
        {
            "apiVersion": runs.API,
            "kind": "JobRun",
            "metadata": {"name": "nightly-now"},
            "spec": {"scheduledJobRef": {"name": "nightly"}, "trigger": "Manual"},
        },
    )
    owners = manual["metadata"].get("ownerReferences") or []
    job_uid = alice.get(job_path)["metadata"]["uid"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [
        ("ScheduledJob", "nightly", job_uid)
    ], owners  # owned: it goes with its job, as `kubectl create job --from=cronjob/…`
    runs.wait_phase(alice, team, "nightly-now", "Running")
    wait_until(
        lambda: (alice.get(job_path).get("status") or {}).get("activeCount") == 1,
        timeout=30,
        message="nightly counts its active run",
    )

    # bob may neither cancel alice's run nor delete the job it runs under.
    with pytest.raises(KubeError) as refused:
        bob.delete(job_path)
    assert refused.value.status == 403, refused.value.message
    assert "active runs" in refused.value.message, refused.value.message
    assert alice.get(job_path)["metadata"].get("deletionTimestamp") is None
    assert runs.phase(alice, team, "nightly-now") == "Running"

    # alice may: the run is stopped through the cancel path before it goes with its job.
    alice.delete(job_path)
    seen: dict[str, Any] = {}

    def stopped_then_gone() -> bool:
        try:
            body = runs.get(alice, team, "nightly-now")
        except KubeError as error:
            return error.status == 404
        status = body.get("status") or {}
        if status.get("cancellation"):
            seen["cancellation"] = status["cancellation"]
            seen["phase"] = status.get("phase")
        return False

    wait_until(
        stopped_then_gone,
        timeout=90,
        message=lambda: f"nightly-now stopped, then deleted with its job (seen {seen})",
    )
    assert not alice.exists(job_path)
    assert seen["phase"] in ("Cancelling", "Cancelled"), seen
    assert seen["cancellation"]["requestedBy"] == "alice", seen
    assert seen["cancellation"]["reason"] == "deleted with its ScheduledJob nightly", seen
    actions = [r["action"] for r in _audit(operator, "nightly-now")]
    assert "cancel-requested" in actions and "cancel-finished" in actions, actions
