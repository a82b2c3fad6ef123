"""docs/install.md, run as written: its `helm install` and its checks, on the cluster
under test, with jobwarden's image (built from the Dockerfile by buildah and loaded into
the real node's containerd by the `real_node` fixture: this machine's equivalents of the
page's steps 1 and 2, which need a Docker daemon or kind)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from devcluster.install import OperatorProcess, install
from devcluster.process import free_port
from devcluster.realnode import NODE_KIND, NODE_LABEL
from jobwarden.api.paths import resource_path
from tests.support.cluster import TestCluster
from tests.support.kube import KubeError
from tests.support.realnode import RealNodeHandle

pytestmark = pytest.mark.cluster

DOC = REPO_ROOT / "docs" / "install.md"
RELEASE, NAMESPACE = "jobwarden", "jobwarden-system"  # as the page names them
#: Namespaces whose pods the page creates: the operator's and the check's JobRun.
PAGE_NAMESPACES = (NAMESPACE, "default")
WEBHOOK_CONFIGURATION = "jobwarden.dev"
NODE_SELECTOR = "scheduler.alpha.kubernetes.io/node-selector"
TOLERATIONS = "scheduler.alpha.kubernetes.io/defaultTolerations"


def doc_block(step: str) -> str:
    """The ```sh block after `<!-- step: NAME -->` in the page."""
    match = re.search(rf"<!-- step: {step} -->\s*```sh\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"{DOC} has no `<!-- step: {step} -->` shell block"
    return match.group(1)


def run_block(script: str, env: dict[str, str], timeout: float = 400) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{script}\nfailed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def adopt_for_helm(cluster: TestCluster, manifest: str) -> None:
    """Mark what the session installed itself (CRDs, operator RBAC, user roles) as the
    release's, so the page's `helm install` takes them over instead of refusing."""
    for document in yaml.safe_load_all(manifest):
        if not document:
            continue
        kind, meta = document["kind"], document["metadata"]
        args = [kind, meta["name"]]
        if meta.get("namespace"):
            args += ["-n", meta["namespace"]]
        if cluster.kubectl("get", *args, check=False).returncode != 0:
            continue
        cluster.kubectl("label", "--overwrite", *args, "app.kubernetes.io/managed-by=Helm")
        cluster.kubectl(
            "annotate",
            "--overwrite",
            *args,
            f"meta.helm.sh/release-name={RELEASE}",
            f"meta.helm.sh/release-namespace={NAMESPACE}",
        )


def test_install_doc_steps_run_on_the_cluster(
    cluster: TestCluster,
    crds_installed: None,
    operator: OperatorProcess,
    real_node: RealNodeHandle,
) -> None:
    binaries = Binaries.locate()
    env = {
        **os.environ,
        "PATH": f"{binaries.helm.parent}:{binaries.kubectl.parent}:{os.environ['PATH']}",
        "KUBECONFIG": str(cluster.kubeconfig()),
        "IMAGE": real_node.image,
    }
    admin = cluster.kube()
    # The page's default ports (9443, 8080) may be taken on this machine, where the
    # operator pods share the host's network: the test's `helm` adds free ones.
    ports = f"--set webhook.port={free_port()} --set metrics.port={free_port()}"
    helm_wrapper = f'helm() {{ command helm "$@" {ports}; }}\n'
    rendered = run_block(
        f"helm template {RELEASE} {REPO_ROOT / 'charts' / 'jobwarden'} -n {NAMESPACE}", env
    )
    placed: list[str] = []
    operator.stop()  # one engine at a time: the page's replicas take over
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        path = resource_path("admissionregistration.k8s.io/v1", kind, None, WEBHOOK_CONFIGURATION)
        if admin.exists(path):
            admin.delete(path)
    try:
        adopt_for_helm(cluster, rendered)
        if real_node.name is not None:
            # Pods of the page's namespaces go to the real node, the page unchanged.
            toleration = [{"key": NODE_LABEL, "operator": "Equal", "value": NODE_KIND}]
            for namespace in PAGE_NAMESPACES:
                if not admin.exists(resource_path("v1", "namespaces", None, namespace)):
                    admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
                admin.merge_patch(
                    resource_path("v1", "namespaces", None, namespace),
                    {
                        "metadata": {
                            "annotations": {
                                NODE_SELECTOR: f"{NODE_LABEL}={NODE_KIND}",
                                TOLERATIONS: json.dumps(toleration),
                            }
                        }
                    },
                )
                placed.append(namespace)

        run_block(helm_wrapper + f"cd {REPO_ROOT}\n" + doc_block("install"), env)
        output = run_block(f"cd {REPO_ROOT}\n" + doc_block("check"), env)

        holder = output.splitlines()[1]
        assert holder.startswith(f"{RELEASE}-"), output  # a replica's pod leads
        assert "hello from jobwarden" in output, output
        pods = admin.get(
            resource_path("v1", "pods", NAMESPACE),
            labelSelector="app.kubernetes.io/component=operator",
        )["items"]
        assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods), pods
        if real_node.name is not None:
            assert {p["spec"]["nodeName"] for p in pods} == {real_node.name}
    finally:
        subprocess.run(
            [str(binaries.helm), "uninstall", RELEASE, "-n", NAMESPACE, "--wait"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        for namespace in placed:
            with contextlib.suppress(KubeError):
                admin.json_patch(
                    resource_path("v1", "namespaces", None, namespace),
                    [
                        {"op": "remove", "path": "/metadata/annotations/" + key.replace("/", "~1")}
                        for key in (NODE_SELECTOR, TOLERATIONS)
                    ],
                )
        for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
            path = resource_path(
                "admissionregistration.k8s.io/v1", kind, None, WEBHOOK_CONFIGURATION
            )
            if admin.exists(path):
                admin.delete(path)
        # helm removed the session's operator RBAC and user roles with the release.
        install(cluster.kubectl_path, cluster.kubeconfig())
        operator.start()


def test_install_doc_names_what_the_chart_creates() -> None:
    """The page's commands name the chart's objects: Deployment `jobwarden` and Lease
    `jobwarden-operator` for release `jobwarden`."""
    check = doc_block("check")
    assert "deployment/jobwarden " in check and "lease jobwarden-operator" in check
    assert f"helm install {RELEASE} charts/jobwarden" in doc_block("install")
    assert Path(REPO_ROOT / "Dockerfile").exists()
