"""Session fixtures: one Kubernetes control plane for the whole test run.

Without KUBECONFIG the local control plane (devcluster/) is started once and torn
down at the end, also on failure or Ctrl-C. With KUBECONFIG the tests use that
cluster instead. If the cluster cannot start, every test that needs it fails with
the reason and the log to read: nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.binaries import REPO_ROOT, ClusterError
from tests.support.cluster import TestCluster
from tests.support.wait import wait_until

CRDS_DIR = REPO_ROOT / "crds"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCluster]:
    """The cluster under test, with a kubeconfig and API client per identity."""
    workdir = tmp_path_factory.mktemp("devcluster")
    external = os.environ.get("KUBECONFIG")
    try:
        if external:
            handle = TestCluster.from_kubeconfig(Path(external.split(os.pathsep)[0]), workdir)
        else:
            handle = TestCluster.start_local(workdir)
    except ClusterError as error:
        pytest.fail(
            f"the Kubernetes control plane for the tests did not start: {error}", pytrace=False
        )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def crds_installed(cluster: TestCluster) -> None:
    """jobwarden's CRDs from crds/, applied and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS_DIR))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS_DIR))


@pytest.fixture
def namespace(cluster: TestCluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube = cluster.kube()
    kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    wait_until(
        lambda: kube.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        timeout=30,
        message=f"the default ServiceAccount in {name}",
    )
    yield name
    kube.delete(f"/api/v1/namespaces/{name}")
