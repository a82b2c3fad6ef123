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

from devcluster.binaries import ClusterError
from devcluster.install import OperatorProcess, install
from tests.support.cluster import TestCluster
from tests.support.dist import Dists, build_dists
from tests.support.postgres import PostgresServer, PostgresUnavailableError
from tests.support.realnode import RealNodeHandle, RealNodeService
from tests.support.wait import wait_until


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
    """jobwarden's CRDs (applied and Established), operator namespace and RBAC."""
    try:
        install(cluster.kubectl_path, cluster.kubeconfig())
    except ClusterError as error:
        pytest.fail(f"installing jobwarden's CRDs and RBAC failed: {error}", pytrace=False)


@pytest.fixture(scope="session")
def operator(
    cluster: TestCluster, crds_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The jobwarden operator, running as the `operator` identity for the session.

    Tests that kill or restart it must leave it running when they end.
    """
    log_dir = tmp_path_factory.mktemp("operator")
    process = OperatorProcess(
        cluster.kubeconfig("operator"),
        log_dir / "jobwarden-operator.log",
        env={"JOBWARDEN_EXIT_MARGIN_SECONDS": "3"},
    )
    try:
        process.start()
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield process
    finally:
        process.stop()


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


# ------------------------------------------------------------ real containers
@pytest.fixture(scope="session")
def real_node_service(
    cluster: TestCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealNodeService]:
    """Owns the session's real node; it only starts when a test asks for `real_node`."""
    service = RealNodeService(cluster, tmp_path_factory.mktemp("realnode"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def real_node(real_node_service: RealNodeService) -> RealNodeHandle:
    """Where pods run as real containers from jobwarden's image: the local cluster's
    real node (kubelet + containerd), started on first use; on a KUBECONFIG cluster,
    its own nodes.

    The image is built first (cached by content: an unchanged tree builds nothing);
    then the machine-wide real-node lock is taken, waiting for another session's node
    up to JOBWARDEN_REAL_NODE_WAIT seconds (devcluster.realnode).
    """
    return real_node_service.ensure_running()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server (Debian's, with PostGIS when installed) for the session."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailableError as error:
        pytest.fail(f"PostgreSQL for the tests did not start: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """jobwarden's sdist and wheel, built once per session as a release builds them."""
    return build_dists(tmp_path_factory.mktemp("dist"))
