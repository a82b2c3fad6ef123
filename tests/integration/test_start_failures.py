"""Every way a worker can fail to start, or vanish, ends visibly, in bounded time, and
never blocks the queue (issue 17) — on the real control plane with kwok nodes and the
real kube-scheduler:

- refused at `kubectl apply`: an invalid template, a PodSecurity violation (the
  admission webhook dry-runs the worker pod);
- refused only at run time: a namespace's PodSecurity label added after the run was
  created (permanent: Failed PodRejected), a ResourceQuota that runs out (transient:
  retried with backoff, bounded by startTimeoutSeconds) — for each, the phase, reason
  and message, an Event, the plugin's output, the slot freed for the run queued
  behind, and the operator's creates counted from the API server's audit log;
- Unschedulable shown within seconds, failing after startTimeoutSeconds;
- disruptions: a worker pod deleted by someone else, a node deleted under a worker;
- the operator SIGKILLed while a run is Starting and while a refusal backs off.

Tests that need real containers (an image missing with pull policy Never, a Secret
missing from env, OOMKilled) run on the real node (issue 16's node; see the unit table
tests in tests/unit/test_podstate.py and test_lifecycle_start.py meanwhile).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import WEBHOOK_READY_LINE, OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.core.podspec import WORKER_SERVICE_ACCOUNT, build_worker_pod
from jobwarden.core.refusals import CREATES_PER_MINUTE_BOUND
from tests.support import runs
from tests.support.cluster import AuditedCreate, TestCluster, most_in_any_minute
from tests.support.kube import JSON, Kube, KubeError
from tests.support.runs import PodWatcher, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

PLUGIN = Path(sys.executable).parent / "kubectl-jobwarden"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    """Admin client, with the operator running."""
    return cluster.kube()


# ------------------------------------------------------------------------ helpers
def compliant(annotations: dict[str, str], **pod_spec: Any) -> JSON:
    """A worker pod template that meets the Pod Security Standard `restricted`."""
    return {
        "metadata": {"annotations": annotations},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/worker:1",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            **pod_spec,
        },
    }


def privileged(annotations: dict[str, str]) -> JSON:
    """A worker pod template that `restricted` (and `baseline`) forbid."""
    template = runs.pod_template(annotations)
    template["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    return template


def jobrun(name: str, template: JSON, **spec: Any) -> JSON:
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def label_namespace(kube: Kube, namespace: str, labels: dict[str, str]) -> None:
    kube.merge_patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": labels}})


def worker_quota(kube: Kube, namespace: str, max_running: int) -> None:
    """A WorkerQuota, once the operator has observed it (it applies from then on)."""
    path = resource_path(runs.API, "workerquotas", namespace)
    kube.create(
        path,
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": max_running},
        },
    )
    wait_until(
        lambda: (kube.get(f"{path}/quota").get("status") or {}).get("observedGeneration") == 1,
        timeout=30,
        message="the WorkerQuota observed by the operator",
    )


def resource_quota(kube: Kube, namespace: str, pods: int) -> None:
    """A ResourceQuota of `pods` pods, once its controller has counted what is used."""
    kube.create(
        resource_path("v1", "resourcequotas", namespace),
        {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": str(pods)}}},
    )
    wait_until(
        lambda: (
            "pods"
            in (
                kube.get(resource_path("v1", "resourcequotas", namespace, "pods")).get("status")
                or {}
            ).get("used", {})
        ),
        timeout=30,
        message="the ResourceQuota counted by its controller",
    )


def bind_edit(cluster: TestCluster, namespace: str) -> None:
    """alice (group team-a) may create runs in `namespace`, as a tenant would."""
    cluster.kube().create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": "team-a-edit"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole",
                        "name": "jobwarden-edit"},
            "subjects": [{"kind": "Group", "name": "team-a", "apiGroup": RBAC_GROUP}],
        },
    )  # fmt: skip

    def allowed() -> bool:
        result = cluster.kubectl(
            "auth", "can-i", "create", "jobruns.jobwarden.dev", "-n", namespace,
            identity="alice", check=False,
        )  # fmt: skip
        return result.stdout.strip() == "yes"

    wait_until(allowed, timeout=15, message="alice may create JobRuns")


def apply_as_alice(
    cluster: TestCluster, namespace: str, body: JSON
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply` of `body` as alice (a tenant), without failing on a refusal."""
    return cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", identity="alice", input=json.dumps(body), check=False
    )


def plugin(cluster: TestCluster, *args: str, namespace: str) -> str:
    """`kubectl jobwarden ARGS -n NAMESPACE` as the admin; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    result = subprocess.run(
        [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig()), *args, "-n", namespace],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def wait_reason(
    kube: Kube, namespace: str, name: str, phase: str, reason: str, *, timeout: float = 30
) -> JSON:
    def probe() -> JSON | None:
        body = runs.get(kube, namespace, name)
        status = body.get("status") or {}
        return body if (status.get("phase"), status.get("reason")) == (phase, reason) else None

    def now() -> str:
        status = runs.get(kube, namespace, name).get("status") or {}
        return f"{name} {phase}/{reason} (now {status.get('phase')}/{status.get('reason')})"

    return wait_until(probe, timeout=timeout, message=now)


def warning_event(kube: Kube, namespace: str, name: str, reason: str) -> JSON:
    def probe() -> JSON | None:
        for event in runs.events_for(kube, namespace, name):
            if event.get("reason") == reason:
                return event
        return None

    event = wait_until(probe, timeout=15, message=f"a {reason} Event on {name}")
    assert event["type"] == "Warning"
    return event


def check_creates(cluster: TestCluster, namespace: str, pod: str, at_least: int = 1) -> int:
    """The operator's creates of `pod` (refused ones included), from the API server's
    audit log: never more than the documented bound in any minute."""
    if not cluster.audited:
        warnings.warn(
            "creates not counted: the cluster under test (KUBECONFIG) has no audit log we read",
            stacklevel=2,
        )
        return 0

    def audited() -> list[AuditedCreate] | None:
        found = cluster.pod_creates(namespace, pod)
        return found if len(found) >= at_least else None

    # The audit log is written in batches (at most 1 s late).
    creates = wait_until(audited, timeout=10, message=f"{at_least}+ audited creates of {pod}")
    first = creates[0].time
    shown = [(round((c.time - first).total_seconds(), 1), c.code) for c in creates]
    print(f"creates of {pod} (seconds after the first, HTTP status): {shown}")
    assert most_in_any_minute(creates) <= CREATES_PER_MINUTE_BOUND, [c.time for c in creates]
    return len(creates)


# ------------------------------------------------------------- refused at apply
def test_an_invalid_template_is_refused_at_apply(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    bind_edit(cluster, namespace)
    bad_name = runs.pod_template(sim())
    bad_name["spec"]["containers"][0]["name"] = "Bad_Name"
    result = apply_as_alice(cluster, namespace, jobrun("bad-name", bad_name))
    assert result.returncode != 0
    assert "the API server would refuse the worker pod of this JobRun" in result.stderr
    assert 'spec.containers[0].name: Invalid value: "Bad_Name"' in result.stderr
    empty = runs.pod_template(sim())
    empty["spec"]["containers"] = []
    result = apply_as_alice(cluster, namespace, jobrun("no-containers", empty))
    assert result.returncode != 0
    assert "spec.containers: Required value" in result.stderr
    for name in ("bad-name", "no-containers"):
        assert not kube.exists(runs.path(namespace, name)), f"{name} was stored"


def test_a_pod_security_violation_is_refused_at_apply(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    bind_edit(cluster, namespace)
    label_namespace(kube, namespace, RESTRICTED)
    result = apply_as_alice(cluster, namespace, jobrun("root", privileged(sim())))
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr
    assert "privileged" in result.stderr
    job = {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": "root-nightly"},
        "spec": {"schedule": "0 2 * * *", "template": privileged(sim())},
    }
    result = apply_as_alice(cluster, namespace, job)
    assert result.returncode != 0 and "violates PodSecurity" in result.stderr
    # A compliant run, and an Export (the operator's own worker), are accepted and run.
    assert (
        apply_as_alice(
            cluster, namespace, jobrun("fine", compliant(sim(run_seconds=0.5)))
        ).returncode
        == 0
    )
    export = runs.export("export", sim(run_seconds=0.5))
    result = apply_as_alice(cluster, namespace, export)
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), f"warnings: {result.stderr}"
    runs.wait_phase(kube, namespace, "fine", "Succeeded")
    runs.wait_phase(kube, namespace, "export", "Succeeded", kind="Export")


def test_the_export_worker_pod_passes_restricted(kube: Kube, namespace: str) -> None:
    """The API server itself judges the exact pod the operator builds for an Export,
    in a namespace that enforces `restricted` (server-side dry run)."""
    label_namespace(kube, namespace, RESTRICTED)
    export = runs.export("orders", {})
    export["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
    pod = build_worker_pod(export, 1, "ghcr.io/jobwarden/jobwarden:test")
    assert pod["spec"]["serviceAccountName"] == WORKER_SERVICE_ACCOUNT
    pod["spec"]["serviceAccountName"] = "default"  # the engine creates its own on first use
    created = kube.create(resource_path("v1", "pods", namespace), pod, dryRun="All")
    assert created["spec"]["securityContext"]["runAsNonRoot"] is True
    privileged_pod = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
    with pytest.raises(KubeError) as refused:
        kube.create(resource_path("v1", "pods", namespace), privileged_pod, dryRun="All")
    assert "violates PodSecurity" in refused.value.message, "the namespace does enforce it"


# ----------------------------------------------------------- refused at run time
def test_a_pod_security_label_added_after_creation_fails_the_run_at_once(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    worker_quota(kube, namespace, 1)
    runs.create(kube, namespace, jobrun("blocker", compliant(sim(run_seconds=600))))
    runs.wait_phase(kube, namespace, "blocker", "Running")
    runs.create(kube, namespace, jobrun("victim", runs.pod_template(sim(run_seconds=1))))
    runs.wait_phase(kube, namespace, "victim", "Queued")
    label_namespace(kube, namespace, RESTRICTED)  # after the victim was accepted
    runs.create(kube, namespace, jobrun("next", compliant(sim(run_seconds=1))))
    runs.wait_phase(kube, namespace, "next", "Queued")
    runs.cancel(kube, namespace, "blocker")  # the slot goes to the victim, whose pod is refused

    failed = wait_reason(kube, namespace, "victim", "Failed", "PodRejected")
    status = failed["status"]
    assert 'violates PodSecurity "restricted:latest"' in status["message"]
    assert status["attempts"][0]["reason"] == "PodRejected"
    event = warning_event(kube, namespace, "victim", "PodRejected")
    assert "violates PodSecurity" in event["message"]
    shown = plugin(cluster, "status", "victim", namespace=namespace)
    assert "Failed (PodRejected)" in shown and "violates PodSecurity" in shown
    runs.wait_phase(kube, namespace, "next", "Succeeded")  # the slot was freed
    assert check_creates(cluster, namespace, "victim-1") == 1, "a permanent refusal is not retried"


def test_a_resource_quota_that_runs_out_is_retried_visibly_and_bounded(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    worker_quota(kube, namespace, 2)
    resource_quota(kube, namespace, 1)
    with PodWatcher(cluster.api(), namespace) as pods:
        runs.create(kube, namespace, jobrun("first", compliant(sim(run_seconds=600))))
        runs.wait_phase(kube, namespace, "first", "Running")
        runs.create(
            kube, namespace,
            jobrun("refused", compliant(sim(run_seconds=1)), startTimeoutSeconds=40, retries=0),
        )  # fmt: skip
        waiting = wait_reason(kube, namespace, "refused", "Starting", "PodCreateRefused")
        assert waiting["status"]["message"].startswith("pod creation refused: ")
        assert "exceeded quota: pods" in waiting["status"]["message"]
        assert warning_event(kube, namespace, "refused", "PodCreateRefused")
        active = plugin(cluster, "active", namespace=namespace)
        assert "Starting (PodCreateRefused)" in active
        # It keeps its slot while it backs off: a third run waits in the queue.
        runs.create(kube, namespace, jobrun("third", compliant(sim(run_seconds=1))))
        queued = runs.wait_phase(kube, namespace, "third", "Queued")
        assert queued["status"]["queue"]["position"] == 1

        # Past startTimeoutSeconds the attempt fails and the slot goes to the third run.
        failed = wait_reason(kube, namespace, "refused", "Failed", "PodCreateRefused", timeout=60)
        assert "did not start within 40s" in failed["status"]["message"]
        refused_creates = check_creates(cluster, namespace, "refused-1", at_least=3)
        wait_reason(kube, namespace, "third", "Starting", "PodCreateRefused")
        # The quota frees: the third run's next try creates its pod, and it runs.
        runs.cancel(kube, namespace, "first")
        runs.wait_phase(kube, namespace, "third", "Succeeded", timeout=60)
    assert pods.created_by_run.get("refused", set()) == set()
    assert pods.created_by_run["third"] == {"third-1"}
    assert pods.max_alive <= 1, "the ResourceQuota (1 pod) was never exceeded"
    assert refused_creates <= CREATES_PER_MINUTE_BOUND, "its 40 s hold at most a minute's bound"


# ------------------------------------------------------------------- Starting
def test_unschedulable_is_shown_within_seconds_and_fails_after_the_start_timeout(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    worker_quota(kube, namespace, 1)
    template = compliant(sim(run_seconds=1), nodeSelector={"jobwarden.dev/no-such-node": "x"})
    runs.create(kube, namespace, jobrun("nowhere", template, startTimeoutSeconds=15, retries=0))
    runs.create(kube, namespace, jobrun("behind", compliant(sim(run_seconds=1))))
    starting = wait_reason(kube, namespace, "nowhere", "Starting", "Unschedulable", timeout=10)
    assert "didn't match Pod's node affinity/selector" in starting["status"]["message"]
    assert warning_event(kube, namespace, "nowhere", "WorkerPending")
    assert "Starting (Unschedulable)" in plugin(cluster, "active", namespace=namespace)
    assert runs.phase(kube, namespace, "behind") == "Queued"
    failed = wait_reason(kube, namespace, "nowhere", "Failed", "Unschedulable", timeout=40)
    assert "did not start within 15s" in failed["status"]["message"]
    runs.wait_phase(kube, namespace, "behind", "Succeeded")  # the slot was freed
    wait_until(lambda: runs.no_pods_left(kube, namespace), timeout=20, message="pods released")


# ---------------------------------------------------------------- disruptions
def test_a_worker_pod_deleted_by_someone_else_is_retried_without_spending_a_retry(
    kube: Kube, namespace: str
) -> None:
    runs.create(kube, namespace, jobrun("deleted", compliant(sim(run_seconds=600)), retries=0))
    runs.wait_phase(kube, namespace, "deleted", "Running")
    kube.delete(resource_path("v1", "pods", namespace, "deleted-1"))  # not by jobwarden

    def second_attempt() -> JSON | None:
        body = runs.get(kube, namespace, "deleted")
        status = body.get("status") or {}
        return body if status.get("attempt") == 2 and status.get("phase") == "Running" else None

    body = wait_until(second_attempt, timeout=45, message="attempt 2 running")
    first = body["status"]["attempts"][0]
    assert first["reason"] == "Disrupted"
    assert "pod deleted-1 was deleted outside jobwarden" in first["message"]
    event = warning_event(kube, namespace, "deleted", "Disrupted")
    assert "not counted against retries" in event["message"]
    runs.cancel(kube, namespace, "deleted")
    runs.wait_phase(kube, namespace, "deleted", ("Cancelled", "Failed"), timeout=60)


def test_a_node_deleted_under_a_running_worker(kube: Kube, namespace: str) -> None:
    node = f"kwok-lost-{namespace}"
    taint = {"key": "jobwarden.dev/test-node", "value": namespace, "effect": "NoSchedule"}
    kube.create(
        "/api/v1/nodes",
        {
            "metadata": {
                "name": node,
                "labels": {"type": "kwok", "jobwarden.dev/node-kind": "kwok",
                           "kubernetes.io/hostname": node},
                "annotations": {"kwok.x-k8s.io/node": "fake"},
            },
            "spec": {"taints": [taint]},
        },
    )  # fmt: skip
    try:
        placed = compliant(
            sim(run_seconds=600),
            nodeSelector={"kubernetes.io/hostname": node},
            tolerations=[{"key": taint["key"], "operator": "Equal", "value": namespace,
                          "effect": "NoSchedule"}],
        )  # fmt: skip
        runs.create(kube, namespace, jobrun("stranded", placed, retries=0))
        runs.wait_phase(kube, namespace, "stranded", "Running", timeout=60)
        kube.delete(f"/api/v1/nodes/{node}")

        def disrupted() -> JSON | None:
            body = runs.get(kube, namespace, "stranded")
            attempts = (body.get("status") or {}).get("attempts") or []
            return body if attempts and attempts[0].get("reason") == "Disrupted" else None

        # The pod garbage collector waits 40 s before it fails a pod whose node is gone.
        body = wait_until(disrupted, timeout=120, message="attempt 1 ended as a disruption")
        assert f"lost with its node {node}" in body["status"]["attempts"][0]["message"]
        assert body["status"]["phase"] in ("Retrying", "Queued", "Starting", "Running")
    finally:
        if kube.exists(f"/api/v1/nodes/{node}"):
            kube.delete(f"/api/v1/nodes/{node}")
    runs.cancel(kube, namespace, "stranded")
    runs.wait_phase(kube, namespace, "stranded", ("Cancelled", "Failed"), timeout=60)


# ---------------------------------------------------------------------- crash
def test_operator_killed_while_starting_and_while_a_refusal_backs_off(
    cluster: TestCluster, operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    """A ResourceQuota of 2 pods: one worker runs, one cannot be scheduled (Starting,
    its pod counts), the third's create is refused (backing off) when the operator is
    SIGKILLed. After the restart the unschedulable one fails at its start timeout, which
    frees a pod of the quota, and the refused one then runs, once."""
    worker_quota(kube, namespace, 3)
    resource_quota(kube, namespace, 2)
    with PodWatcher(cluster.api(), namespace) as pods:
        runs.create(kube, namespace, jobrun("holder", compliant(sim(run_seconds=600))))
        runs.wait_phase(kube, namespace, "holder", "Running")
        nowhere = compliant(sim(run_seconds=1), nodeSelector={"jobwarden.dev/no-such-node": "x"})
        runs.create(kube, namespace, jobrun("nowhere", nowhere, startTimeoutSeconds=45, retries=0))
        wait_reason(kube, namespace, "nowhere", "Starting", "Unschedulable")
        runs.create(kube, namespace, jobrun("backing-off", compliant(sim(run_seconds=1))))
        wait_reason(kube, namespace, "backing-off", "Starting", "PodCreateRefused")

        operator.kill()
        offset = operator.log_size()
        operator.start(ready_line=WEBHOOK_READY_LINE)
        operator.wait_log("engine started", after=offset)

        assert runs.phase(kube, namespace, "nowhere") == "Starting"
        assert runs.phase(kube, namespace, "backing-off") == "Starting"
        failed = wait_reason(kube, namespace, "nowhere", "Failed", "Unschedulable", timeout=90)
        assert "did not start within 45s" in failed["status"]["message"]
        runs.wait_phase(kube, namespace, "backing-off", "Succeeded", timeout=90)
        runs.cancel(kube, namespace, "holder")
        runs.wait_phase(kube, namespace, "holder", ("Cancelled", "Failed"), timeout=60)
        wait_until(lambda: runs.no_pods_left(kube, namespace), timeout=30, message="released")
    assert pods.max_alive <= 2, "the ResourceQuota (2 pods) was never exceeded"
    for run in ("holder", "nowhere", "backing-off"):
        attempts = runs.get(kube, namespace, run)["status"]["attempts"]
        assert pods.created_by_run[run] == {f"{run}-1"} and len(attempts) == 1, run
    check_creates(cluster, namespace, "backing-off-1", at_least=2)
