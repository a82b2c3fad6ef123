"""Every manifest in examples/ is accepted by the real API server as it stands, and
runs where it can: the Export example on the real node (with a PostgreSQL of the tests
behind its Secret and a volume behind its claim) in a namespace enforcing `restricted`,
and examples/demo.sh (`make demo`) to its end, its Exports in real containers."""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.core.podspec import WORKER_SERVICE_ACCOUNT, build_worker_pod
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import KubeError
from tests.support.postgres import PostgresServer
from tests.support.realnode import RealNodeHandle

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds_installed")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


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


# ------------------------------------------------------------------ run for real
def _orders_database(postgres: PostgresServer) -> tuple[str, int]:
    """A database with the `orders` table the Export example queries: 2,000 orders a
    day apart from 2025-09-01, of which those of October 2025 are exported."""
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute(
            "CREATE TABLE orders AS SELECT g AS id, g % 97 AS customer_id, "
            "g * 125 AS total_cents, 'EUR' AS currency, "
            "timestamptz '2025-09-01' + (g - 1) * interval '1 hour' AS created_at "
            "FROM generate_series(1, 2000) AS g"
        )
    return database, 31 * 24  # October 2025's hours


def test_the_export_example_runs_on_the_real_node_where_restricted_is_enforced(
    cluster: TestCluster,
    operator: OperatorProcess,
    real_node: RealNodeHandle,
    namespace: str,
    postgres: PostgresServer,
) -> None:
    """examples/export-postgres-csv.yaml as a user applies it, with what their cluster
    provides: its Secret names the tests' PostgreSQL, a PersistentVolume (a directory
    of the real node) binds its claim, and its worker runs on the real node from
    jobwarden's image. Nothing else of the example changes."""
    kube = cluster.kube()
    kube.merge_patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": RESTRICTED}})
    database, october = _orders_database(postgres)
    directory = real_node.host_dir(f"example-pv-{namespace}")
    manifest = (ROOT / "examples" / "export-postgres-csv.yaml").read_text()
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    by_kind = {d["kind"]: d for d in documents}
    by_kind["Secret"]["stringData"]["uri"] = postgres.uri(database)
    claim = by_kind["PersistentVolumeClaim"]
    kube.create(
        "/api/v1/persistentvolumes",
        {
            "metadata": {"name": f"example-{namespace}"},
            "spec": {
                "capacity": claim["spec"]["resources"]["requests"],
                "accessModes": claim["spec"]["accessModes"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": claim["metadata"]["name"]},
            },
        },
    )
    export = by_kind["Export"]
    export["spec"]["worker"].update(
        {**real_node.placement(), "image": real_node.image, "imagePullPolicy": "IfNotPresent"}
    )
    try:
        applied = cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents)
        )
        assert not applied.stderr.strip(), f"warnings: {applied.stderr}"
        name = export["metadata"]["name"]
        done = runs.wait_phase(
            kube, namespace, name, ("Succeeded", "Failed", "Cancelled"), kind="Export", timeout=120
        )
        status = done["status"]
        assert status["phase"] == "Succeeded", status
        written = directory / export["spec"]["destination"]["path"]
        with written.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["id", "customer_id", "total_cents", "currency", "created_at"]
        assert len(rows) == october + 1, len(rows)
        first = datetime.datetime.fromisoformat(rows[1][4])
        assert (first.year, first.month, first.day, first.hour) == (2025, 10, 1, 0), rows[1]
        assert status["artifact"]["rows"] == october
        assert status["artifact"]["sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
        pod = kube.get(resource_path("v1", "pods", namespace, f"{name}-1"))
        (container,) = pod["spec"]["containers"]
        assert container["resources"]["limits"] == {"memory": "512Mi"}  # the example's
    finally:
        kube.delete(f"/api/v1/persistentvolumes/example-{namespace}")


def test_the_demo_runs_to_its_end(
    cluster: TestCluster, operator: OperatorProcess, real_node: RealNodeHandle, tmp_path: Path
) -> None:
    """examples/demo.sh, what `make demo` runs after `make up`, on this session's
    cluster: every step ends as it says, its Exports in real containers."""
    if real_node.data_dir is None:
        pytest.skip("the demo writes its Exports' files on the real node: this machine")
    env = {
        **os.environ,
        "KUBECONFIG_LOCAL": str(cluster.kubeconfig()),
        "DEMO_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(ROOT / "examples" / "demo.sh")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown[-4000:]
    out = tmp_path / "exports" / "demo" / "out"
    assert [p.name for p in out.iterdir()] == ["orders-csv.csv"], shown[-2000:]
    with (out / "orders-csv.csv").open(newline="") as handle:
        assert len(list(csv.reader(handle))) == 1001
    assert "no partial file left behind" in shown
    kube = cluster.kube()
    exports = {
        e["metadata"]["name"]: e["status"]
        for e in kube.get(runs.path("jobwarden-demo", kind="Export"))["items"]
    }
    assert exports["orders-csv"]["phase"] == "Succeeded", exports
    assert exports["events-csv"]["phase"] == "Cancelled", exports
    assert exports["events-csv"]["attempts"][0]["exitCode"] == 143, exports
    kube.delete("/api/v1/namespaces/jobwarden-demo")
