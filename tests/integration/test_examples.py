"""Every manifest in examples/ is accepted by the real API server as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.cluster import TestCluster

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds_installed")]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples_of_every_kind() -> None:
    kinds = {
        document["kind"]
        for path in EXAMPLES
        for document in yaml.safe_load_all(path.read_text())
        if document
    }
    assert {"ScheduledJob", "JobRun", "Export", "WorkerQuota"} <= kinds


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
