"""Every manifest in examples/ is accepted by the real API server as it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwarden.core.podspec import WORKER_SERVICE_ACCOUNT, build_worker_pod
from tests.support.cluster import TestCluster
from tests.support.kube import KubeError

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds_installed")]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples_of_every_kind() -> None:
    kinds = {
        document["kind"]
        for path in EXAMPLES
        for document in yaml.safe_load_all(path.read_text())
        if document
    }
    assert {"ScheduledJob", "JobRun", "Export", "WorkerQuota", "Backfill"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_is_accepted(cluster: TestCluster, namespace: str, path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    # Manifests with generateName are created (kubectl apply needs a fixed name).
    verb = "create" if any("generateName" in d["metadata"] for d in documents) else "apply"
    result = cluster.kubectl(verb, "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), f"warnings: {result.stderr}"
    for document in documents:
        listed = cluster.kubectl("get", "-n", namespace, document["kind"], "-o", "name").stdout
        name = document["metadata"].get("name") or document["metadata"]["generateName"]
        assert name in listed, f"{document['kind']} {name} not stored"
    if verb == "apply":
        # Re-applying an unchanged manifest is a no-op, not an immutability error.
        again = cluster.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
        assert again.returncode == 0, again.stderr
        assert "unchanged" in again.stdout


RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def _runs_of(document: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The run (JobRun or Export body) whose worker pod an example makes the operator
    create: the document itself, or a run of a ScheduledJob's template."""
    if document["kind"] not in ("ScheduledJob", "JobRun", "Export"):
        return []
    metadata = {
        "name": document["metadata"].get("name") or document["metadata"]["generateName"][:-1],
        "namespace": namespace,
        "uid": "00000000-0000-0000-0000-000000000017",
    }
    spec = document["spec"]
    if document["kind"] == "ScheduledJob":
        return [{"kind": "JobRun", "metadata": metadata, "spec": {"template": spec["template"]}}]
    if document["kind"] == "Export" or (document["kind"] == "JobRun" and spec.get("template")):
        return [{"kind": document["kind"], "metadata": metadata, "spec": spec}]
    return []


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_worker_pods_meet_the_restricted_pod_security_standard(
    cluster: TestCluster, namespace: str, path: Path
) -> None:
    """The API server judges the exact pods the operator would build (server-side dry
    run) in a namespace that enforces `restricted`."""
    kube = cluster.kube()
    kube.merge_patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": RESTRICTED}})
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for document in documents:
        if document["kind"] == "ServiceAccount":  # named by a template: create it first
            kube.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", document)
    for document in documents:
        for run in _runs_of(document, namespace):
            pod = build_worker_pod(run, 1, "ghcr.io/jobwarden/jobwarden:test")
            if pod["spec"]["serviceAccountName"] == WORKER_SERVICE_ACCOUNT:
                pod["spec"]["serviceAccountName"] = "default"  # the operator creates its own
            try:
                kube.create(f"/api/v1/namespaces/{namespace}/pods", pod, dryRun="All")
            except KubeError as error:
                pytest.fail(f"{path.name}: {document['kind']} worker pod refused: {error.message}")
