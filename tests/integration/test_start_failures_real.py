"""Every way a worker can fail to start, on the real node (issue 17 with issue 16's
kubelet + containerd + runc): what only a real kubelet reports.

- an image missing with pull policy Never: ErrImageNeverPull, the run fails at once
  (it cannot heal) and its slot goes to the run queued behind it;
- an image name that cannot be parsed: InvalidImageName, the same;
- an image that cannot be pulled (a registry at 127.0.0.1 where nothing listens: no
  name is looked up, nothing leaves this machine): ErrImagePull / ImagePullBackOff
  shown as Starting with the kubelet's message, failing at startTimeoutSeconds;
- a Secret missing from env: CreateContainerConfigError shown while Starting, then
  Failed once it has lasted CONFIG_ERROR_GRACE_SECONDS, the slot freed;
- a container over its memory limit: every attempt OOMKilled with the limit in its
  message, the run Failed (OOMKilled) when its retries are spent;
- an Export in a namespace that enforces Pod Security `restricted`, run to Succeeded
  by the export worker as uid 65532 on a read-only root filesystem, its SQLite sort
  spilling to the scratch emptyDir (TMPDIR), its file written to an emptyDir.

The simulated-pod side (refusals, Unschedulable, disruptions, crashes) is in
test_start_failures.py.
"""

from __future__ import annotations

import datetime
import json
import textwrap
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.core.podstate import CONFIG_ERROR_GRACE_SECONDS
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.realnode import RealNodeHandle
from tests.support.runs import sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
#: A registry on this machine where nothing listens: a pull fails at once, locally.
UNREACHABLE_REGISTRY = "127.0.0.1:9"


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess, real_node: RealNodeHandle) -> Kube:
    """Admin client, with the operator and the real node running."""
    return cluster.kube()


# ------------------------------------------------------------------------ helpers
def real_jobrun(node: RealNodeHandle, name: str, container: JSON, **spec: Any) -> JSON:
    """A JobRun whose worker is one container on the real node (jobwarden's image,
    unless `container` names another)."""
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    **node.placement(),
                    "containers": [
                        {
                            "name": "job",
                            "image": node.image,
                            "imagePullPolicy": "IfNotPresent",
                            **container,
                        }
                    ],
                }
            },
            **spec,
        },
    }


def queue_of_one(kube: Kube, namespace: str) -> None:
    """A WorkerQuota of one worker, once the operator has observed it."""
    path = resource_path(runs.API, "workerquotas", namespace)
    kube.create(
        path,
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": 1},
        },
    )
    wait_until(
        lambda: (kube.get(f"{path}/quota").get("status") or {}).get("observedGeneration") == 1,
        timeout=30,
        message="the WorkerQuota observed by the operator",
    )


def queued_behind(kube: Kube, namespace: str) -> None:
    """A quick (simulated) run queued behind the one holding the only slot."""
    runs.create(kube, namespace, runs.jobrun("behind", sim(run_seconds=0.2)))
    runs.wait_phase(kube, namespace, "behind", "Queued")


def status_of(kube: Kube, namespace: str, name: str) -> JSON:
    status: JSON = runs.get(kube, namespace, name).get("status") or {}
    return status


def pod_state(kube: Kube, namespace: str, pod: str) -> str:
    """The worker pod's container state and the kubelet's words, for messages."""
    try:
        body = kube.get(resource_path("v1", "pods", namespace, pod))
    except KubeError as error:
        return f"pod {pod}: {error}"
    return f"pod {pod}: {json.dumps((body.get('status') or {}).get('containerStatuses'))}"


def wait_reason(
    kube: Kube, namespace: str, name: str, phase: str, reason: str, *, timeout: float = 60
) -> JSON:
    """Wait for (phase, reason) in the run's status; say where it stands if not."""

    def probe() -> JSON | None:
        status = status_of(kube, namespace, name)
        return status if (status.get("phase"), status.get("reason")) == (phase, reason) else None

    def now() -> str:
        status = status_of(kube, namespace, name)
        return (
            f"{name} {phase}/{reason} (now {status.get('phase')}/{status.get('reason')}: "
            f"{status.get('message')}); {pod_state(kube, namespace, f'{name}-1')}"
        )

    found: JSON = wait_until(probe, timeout=timeout, message=now)
    return found


def started_after(status: JSON, seconds: float) -> float:
    """Seconds from the first attempt's start to the run's completion."""
    begun = _time(status["attempts"][0]["startTime"])
    return (_time(status["completionTime"]) - begun).total_seconds() - seconds


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_slot_freed(kube: Kube, namespace: str) -> None:
    """The run queued behind got the slot and ran."""
    runs.wait_phase(kube, namespace, "behind", "Succeeded", timeout=60)


# ------------------------------------------------------------------ images
def test_a_missing_image_with_pull_policy_never_fails_at_once_and_frees_the_slot(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    queue_of_one(kube, namespace)
    missing = f"{real_node.image}-not-imported"
    body = real_jobrun(
        real_node, "never", {"image": missing, "imagePullPolicy": "Never"}, retries=2
    )
    runs.create(kube, namespace, body)
    queued_behind(kube, namespace)
    status = wait_reason(kube, namespace, "never", "Failed", "ErrImageNeverPull")
    # The kubelet's own words, and no retry: another attempt would meet the same image.
    assert (
        f'Container image "{missing}" is not present with pull policy of Never'
        in (status["message"])
    ), status
    (attempt,) = status["attempts"]
    assert attempt["reason"] == "ErrImageNeverPull", attempt
    assert "cannot start" in attempt["message"], attempt
    # At once, not at the start timeout (600 s by default).
    assert started_after(status, 0) < 60, status
    assert_slot_freed(kube, namespace)
    reasons = runs.event_reasons(kube, namespace, "never")
    assert "WorkerPending" in reasons and "Failed" in reasons, reasons


def test_an_image_name_that_cannot_be_parsed_fails_at_once(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    body = real_jobrun(real_node, "badname", {"image": "localhost/Not_Lower/Case:1"})
    runs.create(kube, namespace, body)
    status = wait_reason(kube, namespace, "badname", "Failed", "InvalidImageName")
    assert "localhost/Not_Lower/Case:1" in status["message"], status
    assert len(status["attempts"]) == 1


def test_an_image_that_cannot_be_pulled_is_shown_as_starting_until_the_start_timeout(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    """A registry at 127.0.0.1 where nothing listens: containerd's pull is refused at
    once on this machine (no name to look up), then the kubelet backs off."""
    queue_of_one(kube, namespace)
    image = f"{UNREACHABLE_REGISTRY}/jobwarden/nowhere:1"
    body = real_jobrun(
        real_node,
        "unpulled",
        {"image": image, "imagePullPolicy": "IfNotPresent"},
        startTimeoutSeconds=25,
        retries=0,
    )
    runs.create(kube, namespace, body)
    queued_behind(kube, namespace)

    def pulling() -> JSON | None:
        status = status_of(kube, namespace, "unpulled")
        good = status.get("reason") in ("ErrImagePull", "ImagePullBackOff")
        return status if status.get("phase") == "Starting" and good else None

    shown = wait_until(
        pulling,
        timeout=20,
        message=lambda: f"Starting with a pull error; {pod_state(kube, namespace, 'unpulled-1')}",
    )
    assert image in shown["message"], shown
    assert runs.phase(kube, namespace, "behind") == "Queued", "the slot is held while it starts"
    failed = runs.wait_phase(kube, namespace, "unpulled", "Failed", timeout=60)["status"]
    assert failed["reason"] in ("ErrImagePull", "ImagePullBackOff"), failed
    assert "did not start within 25s" in failed["message"], failed
    assert_slot_freed(kube, namespace)


# ---------------------------------------------------------------- configuration
def test_a_missing_secret_is_shown_while_starting_then_fails_after_the_grace(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    queue_of_one(kube, namespace)
    env = [
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}},
        }
    ]
    body = real_jobrun(
        real_node, "nosecret", {"command": ["python", "-c", "print('ran')"], "env": env}
    )
    runs.create(kube, namespace, body)
    queued_behind(kube, namespace)
    starting = wait_reason(kube, namespace, "nosecret", "Starting", "CreateContainerConfigError")
    assert 'secret "db-credentials" not found' in starting["message"], starting
    assert runs.phase(kube, namespace, "behind") == "Queued"
    failed = wait_reason(
        kube,
        namespace,
        "nosecret",
        "Failed",
        "CreateContainerConfigError",
        timeout=CONFIG_ERROR_GRACE_SECONDS + 45,
    )
    assert 'secret "db-credentials" not found' in failed["message"], failed
    # Not before the grace (a GitOps tool may apply the Secret a moment later).
    assert started_after(failed, CONFIG_ERROR_GRACE_SECONDS) > -2, failed
    assert len(failed["attempts"]) == 1
    assert_slot_freed(kube, namespace)
    wait_until(lambda: runs.no_pods_left(kube, namespace), timeout=30, message="pods released")


# ---------------------------------------------------------------------- memory
ALLOCATES = textwrap.dedent(
    """
    import sys
    print("allocating", flush=True)
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(16 * 1024 * 1024))  # touched: zero-filled pages
    print("still alive", flush=True)
    sys.exit(0)
    """
)


def test_a_container_over_its_memory_limit_is_oom_killed_on_every_attempt(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    body = real_jobrun(
        real_node,
        "hungry",
        {
            "command": ["python", "-c", ALLOCATES],
            "resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}},
        },
        retries=1,
        retryBackoff={"initialSeconds": 1, "factor": 1, "maxSeconds": 1},
    )
    runs.create(kube, namespace, body)
    done = wait_reason(kube, namespace, "hungry", "Failed", "OOMKilled", timeout=120)
    attempts = done["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2], attempts
    for attempt in attempts:
        assert attempt["reason"] == "OOMKilled", attempt
        assert attempt["exitCode"] == 137, attempt
        assert "exceeded its memory limit of 64Mi" in attempt["message"], attempt
    assert "no retries left (1 allowed)" in done["message"], done
    log = runs.log_messages(runs.get(kube, namespace, "hungry"))
    assert any("attempt 1 was OOMKilled" in m and "attempt 2 in" in m for m in log), log


# -------------------------------------------------------------- Pod Security
#: Rows made by the query itself (the database file is empty), sorted by a key that
#: is not their order: SQLite's sorter spills them to temporary files in TMPDIR (the
#: scratch emptyDir at /tmp), open (and unlinked) while it sorts and merges: about 10 s.
ROWS = 1_000_000
SORTED_QUERY = (
    f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) "
    "SELECT i, printf('%08d-%s', (i * 7919) % 1000003, hex(randomblob(24))) AS k "
    "FROM n ORDER BY k"
)
#: Run in the worker's container (`kubectl exec`): who it runs as, whether / and /tmp
#: are writable, and the temporary files the worker (PID 1) holds open under /tmp.
PROBE = textwrap.dedent(
    """
    import os
    print("uid", os.getuid())
    try:
        open("/probe", "w")
        print("root writable")
    except OSError as error:
        print("root", error.strerror)
    with open("/tmp/probe", "w") as handle:
        handle.write("x")
    print("tmp writable")
    held = []
    for fd in os.listdir("/proc/1/fd"):
        try:
            held.append(os.readlink(f"/proc/1/fd/{fd}"))
        except OSError:
            pass
    print("worker temp files", sorted(f for f in held if f.startswith("/tmp/etilqs_")))
    """
)


def test_an_export_runs_to_succeeded_where_restricted_is_enforced(
    cluster: TestCluster, kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    kube.merge_patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": RESTRICTED}})
    # The namespace does enforce it, on the real node as anywhere (no hostNetwork here).
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            **real_node.placement(),
            "containers": [
                {"name": "c", "image": real_node.image, "securityContext": {"privileged": True}}
            ],
        },
    }
    with pytest.raises(KubeError) as refused:
        kube.create(resource_path("v1", "pods", namespace), privileged, dryRun="All")
    assert 'violates PodSecurity "restricted:latest"' in refused.value.message
    # The source: an empty SQLite file from a ConfigMap (hostPath is not allowed here).
    kube.create(
        resource_path("v1", "configmaps", namespace),
        {"metadata": {"name": "empty-db"}, "data": {"db.sqlite": ""}},
    )
    export = {
        "apiVersion": runs.API,
        "kind": "Export",
        "metadata": {"name": "sorted"},
        "spec": {
            "source": {"sqlite": {"volume": "db", "path": "db.sqlite"}},
            "query": SORTED_QUERY,
            "format": "csv",
            "batchSize": 2000,
            "destination": {"volume": "out", "path": "sorted.csv"},
            "volumes": [
                {"name": "db", "configMap": {"name": "empty-db"}},
                {"name": "out", "emptyDir": {}},
            ],
            "worker": {
                **real_node.placement(),
                "image": real_node.image,
                "imagePullPolicy": "IfNotPresent",
            },
            "retries": 0,
        },
    }
    applied = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(export))
    assert not applied.stderr.strip(), f"warnings: {applied.stderr}"

    runs.wait_phase(kube, namespace, "sorted", "Running", kind="Export", timeout=90)
    probes: list[str] = []

    def spilled() -> str | None:
        """The probe's output once the worker holds temporary files in /tmp."""
        result = cluster.kubectl(
            "exec", "-n", namespace, "sorted-1", "--", "python", "-c", PROBE, check=False
        )
        probes.append(result.stdout + result.stderr)
        if runs.phase(kube, namespace, "sorted", "Export") != "Running":
            raise AssertionError(f"the export ended before its sort was seen: {probes}")
        return result.stdout if "worker temp files ['/tmp/etilqs_" in result.stdout else None

    shown = wait_until(
        spilled, timeout=120, interval=0.2, message=lambda: f"a spilled sort; probes: {probes}"
    )
    assert "uid 65532" in shown, shown
    assert "root Read-only file system" in shown, shown
    assert "tmp writable" in shown, shown

    done = runs.wait_phase(
        kube, namespace, "sorted", ("Succeeded", "Failed", "Cancelled"), kind="Export", timeout=180
    )
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert status["artifact"]["rows"] == ROWS, status["artifact"]
    assert status["artifact"]["path"] == "sorted.csv"
    pod = kube.get(resource_path("v1", "pods", namespace, "sorted-1"))
    assert not pod["spec"].get("hostNetwork")
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 65532, security
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    if real_node.name is not None:
        assert pod["spec"]["nodeName"] == real_node.name
    print(f"sorted export of {ROWS} rows: {_took(status)}")


def _took(status: JSON) -> str:
    attempt = status["attempts"][0]
    seconds = (_time(attempt["finishTime"]) - _time(attempt["startTime"])).total_seconds()
    return f"{seconds:.1f} s from the attempt's start to its end"
