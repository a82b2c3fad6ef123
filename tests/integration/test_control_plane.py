"""The control plane the tests run on is real Kubernetes: schema validation, status
subresources, RBAC, scheduling onto kwok nodes, graceful deletion, garbage collection."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from jobwarden.api.paths import resource_path
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.wait import assert_holds, wait_until

pytestmark = pytest.mark.cluster

_GROUP = "devcluster.jobwarden.dev"
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

_WIDGET_CRD: JSON = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{_GROUP}"},
    "spec": {
        "group": _GROUP,
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                                "required": ["size"],
                            },
                            "status": {
                                "type": "object",
                                "properties": {"state": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widgets(cluster: TestCluster) -> Kube:
    """A throwaway CRD with a status subresource; returns the admin client."""
    kube = cluster.kube()
    try:
        kube.create(_CRD_PATH, _WIDGET_CRD)
    except KubeError as error:
        if error.status != 409:
            raise

    def established() -> bool:
        crd = kube.get(f"{_CRD_PATH}/widgets.{_GROUP}")
        conditions = crd.get("status", {}).get("conditions", [])
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_until(established, timeout=30, message="the Widget CRD to be Established")
    wait_until(
        lambda: "items" in kube.get(resource_path(f"{_GROUP}/v1", "widgets", "default")),
        timeout=30,
        message="widgets to be served",
    )
    return kube


def _widget_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return resource_path(f"{_GROUP}/v1", "widgets", namespace, name, sub)


def test_status_subresource_separates_spec_and_status(widgets: Kube, namespace: str) -> None:
    body: JSON = {
        "apiVersion": f"{_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 2},
        "status": {"state": "set-on-create"},
    }
    created = widgets.create(_widget_path(namespace), body)
    assert not created.get("status"), "status was stored through the main resource on create"

    created["status"] = {"state": "through-main-resource"}
    updated = widgets.replace(_widget_path(namespace, "w1"), created)
    assert not updated.get("status"), "status was stored through the main resource on update"

    patched = widgets.merge_patch(
        _widget_path(namespace, "w1", "status"), {"status": {"state": "through-status"}}
    )
    assert patched["status"]["state"] == "through-status"
    assert widgets.get(_widget_path(namespace, "w1"))["status"]["state"] == "through-status"


def test_schema_rejects_invalid_object(widgets: Kube, namespace: str) -> None:
    body: JSON = {
        "apiVersion": f"{_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w-bad"},
        "spec": {"size": 0},
    }
    with pytest.raises(KubeError) as caught:
        widgets.create(_widget_path(namespace), body)
    assert caught.value.status == 422
    assert "spec.size" in caught.value.message
    assert "should be greater than or equal to 1" in caught.value.message


def test_rbac_forbids_bob_what_carol_may_do(cluster: TestCluster, namespace: str) -> None:
    admin = cluster.kube()
    rbac = "rbac.authorization.k8s.io/v1"
    admin.create(
        resource_path(rbac, "roles", namespace),
        {
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
        },
    )
    admin.create(
        resource_path(rbac, "rolebindings", namespace),
        {
            "metadata": {"name": "admins-read-secrets"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "secret-reader",
            },
            "subjects": [
                {
                    "kind": "Group",
                    "name": "jobwarden-admins",
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ],
        },
    )
    secrets = resource_path("v1", "secrets", namespace)
    wait_until(
        lambda: "items" in cluster.kube("carol").get(secrets),
        timeout=10,
        message="carol (group jobwarden-admins) to be allowed to list secrets",
    )

    with pytest.raises(KubeError) as caught:
        cluster.kube("bob").get(secrets)
    assert caught.value.status == 403
    assert 'User "bob" cannot list resource "secrets"' in caught.value.message

    denied = cluster.kubectl("get", "secrets", "-n", namespace, identity="bob", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr


def _pod(name: str, annotations: dict[str, str]) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "registry.invalid/worker:1"}],
        },
    }


def _phases_until_done(kube: Kube, namespace: str, name: str) -> tuple[list[str], JSON]:
    """Poll a pod, recording each distinct phase, until it Succeeded or Failed."""
    seen: list[str] = []
    path = resource_path("v1", "pods", namespace, name)

    def step() -> JSON | None:
        pod = kube.get(path)
        phase = pod.get("status", {}).get("phase", "")
        if not seen or seen[-1] != phase:
            seen.append(phase)
        return pod if phase in ("Succeeded", "Failed") else None

    pod = wait_until(step, timeout=30, interval=0.05, message=f"pod {name} to finish")
    return seen, pod


def _exit_code(pod: JSON) -> Any:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]


def test_pod_runs_on_kwok_node_and_succeeds(cluster: TestCluster, namespace: str) -> None:
    kube = cluster.kube()
    kube.create(
        resource_path("v1", "pods", namespace), _pod("ok", {"sim.jobwarden.dev/run-seconds": "2"})
    )
    phases, pod = _phases_until_done(kube, namespace, "ok")
    assert phases[-1] == "Succeeded"
    assert "Running" in phases
    assert pod["spec"]["nodeName"].startswith("kwok-node-")
    assert _exit_code(pod) == 0


def test_pod_fails_with_its_exit_code(cluster: TestCluster, namespace: str) -> None:
    kube = cluster.kube()
    kube.create(
        resource_path("v1", "pods", namespace),
        _pod("bad", {"sim.jobwarden.dev/run-seconds": "1", "sim.jobwarden.dev/exit-code": "3"}),
    )
    phases, pod = _phases_until_done(kube, namespace, "bad")
    assert phases[-1] == "Failed"
    assert _exit_code(pod) == 3


def _start_running(kube: Kube, namespace: str, name: str, annotations: dict[str, str]) -> str:
    path = resource_path("v1", "pods", namespace, name)
    kube.create(resource_path("v1", "pods", namespace), _pod(name, annotations))
    wait_until(
        lambda: kube.get(path).get("status", {}).get("phase") == "Running",
        timeout=30,
        message=f"pod {name} Running",
    )
    return path


def test_graceful_deletion_waits_for_grace_when_sigterm_is_ignored(
    cluster: TestCluster, namespace: str
) -> None:
    kube = cluster.kube()
    annotations = {
        "sim.jobwarden.dev/run-seconds": "600",
        "sim.jobwarden.dev/ignore-sigterm": "true",
    }
    path = _start_running(kube, namespace, "stubborn", annotations)

    started = time.monotonic()
    kube.delete(path, grace_period_seconds=5)
    assert kube.get(path)["metadata"].get("deletionTimestamp"), "pod is not Terminating"
    assert_holds(
        lambda: kube.exists(path),
        duration=3,
        message="the pod that ignores SIGTERM staying Terminating during its grace period",
    )
    wait_until(lambda: not kube.exists(path), timeout=15, message="pod deletion after grace")
    assert time.monotonic() - started >= 4.5


def test_graceful_deletion_ends_early_when_worker_exits_on_sigterm(
    cluster: TestCluster, namespace: str
) -> None:
    kube = cluster.kube()
    annotations = {
        "sim.jobwarden.dev/run-seconds": "600",
        "sim.jobwarden.dev/sigterm-exit-seconds": "1",
    }
    path = _start_running(kube, namespace, "polite", annotations)

    started = time.monotonic()
    kube.delete(path, grace_period_seconds=30)
    wait_until(lambda: not kube.exists(path), timeout=15, message="pod deletion on SIGTERM")
    assert time.monotonic() - started < 15, "pod waited for its grace period despite exiting"


def test_garbage_collection_removes_owned_pods(cluster: TestCluster, namespace: str) -> None:
    kube = cluster.kube()
    owner = kube.create(
        resource_path("v1", "configmaps", namespace),
        {"metadata": {"name": f"owner-{uuid.uuid4().hex[:6]}"}},
    )
    pod = _pod("owned", {"sim.jobwarden.dev/run-seconds": "600"})
    pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
    ]
    pod_path = resource_path("v1", "pods", namespace, "owned")
    kube.create(resource_path("v1", "pods", namespace), pod)
    assert kube.exists(pod_path)
    kube.delete(resource_path("v1", "configmaps", namespace, owner["metadata"]["name"]))
    wait_until(lambda: not kube.exists(pod_path), timeout=60, message="GC of the owned pod")
