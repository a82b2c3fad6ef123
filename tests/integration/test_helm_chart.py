"""The Helm chart: lint, strict values, and renders the real API server accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from tests.support.cluster import TestCluster

pytestmark = pytest.mark.cluster

CHART = REPO_ROOT / "charts" / "jobwarden"
#: Kinds whose API this control plane does not serve (cert-manager, Prometheus Operator):
#: rendered and checked here, but not sent to the server.
FOREIGN_KINDS = {"Certificate", "Issuer", "ServiceMonitor", "PrometheusRule"}

NON_DEFAULT = [
    "replicaCount=3",
    "image.tag=1.2.3",
    "crds.keep=false",
    "operator.defaultMaxRunning=25",
    "operator.verbose=true",
    "webhook.failurePolicy=Ignore",
    "webhook.certManager.enabled=true",
    "rbac.userRoles=false",
    "serviceAccount.name=jw-operator",
    "podDisruptionBudget.minAvailable=2",
    "nodeSelector.kubernetes\\.io/os=linux",
    "dashboard.enabled=false",
]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the helm built for the local cluster."""
    result = subprocess.run(
        [str(Binaries.locate().helm), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def render(
    *sets: str, namespace: str = "jobwarden-system", extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """`helm template` with --set values; the documents as dicts."""
    args = ["template", "jw", str(CHART), "--namespace", namespace, *extra]
    for value in sets:
        args += ["--set", value]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def test_lint_default_and_non_default_values() -> None:
    assert "0 chart(s) failed" in helm("lint", str(CHART)).stdout
    args = ["lint", str(CHART)]
    for value in NON_DEFAULT:
        args += ["--set", value]
    assert "0 chart(s) failed" in helm(*args).stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("unknownKey=1", "additional properties 'unknownKey' not allowed"),
        ("webhook.failurePolicy=Sometimes", "value must be one of 'Fail', 'Ignore'"),
        ("replicaCount=0", "minimum"),
        ("metrics.serviceMonitor.interval=often", "does not match pattern"),
    ],
    ids=["unknown-key", "bad-failure-policy", "zero-replicas", "bad-interval"],
)
def test_values_schema_rejects_bad_values(value: str, message: str) -> None:
    result = helm("template", "jw", str(CHART), "--set", value, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_standard_labels_everywhere() -> None:
    for document in render():
        labels = document["metadata"].get("labels", {})
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/managed-by",
        ):
            assert key in labels, f"{document['kind']} {document['metadata']['name']} lacks {key}"


def test_crds_are_kept_on_uninstall_unless_asked_otherwise() -> None:
    kept = [d for d in render() if d["kind"] == "CustomResourceDefinition"]
    assert len(kept) == 4
    assert all(d["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for d in kept)
    dropped = [d for d in render("crds.keep=false") if d["kind"] == "CustomResourceDefinition"]
    assert all(
        "helm.sh/resource-policy" not in (d["metadata"].get("annotations") or {}) for d in dropped
    )
    assert not [d for d in render("crds.install=false") if d["kind"] == "CustomResourceDefinition"]


def test_monitoring_objects_only_where_the_api_exists() -> None:
    assert not [d for d in render() if d["kind"] in ("ServiceMonitor", "PrometheusRule")]
    with_api = render(extra=("--api-versions", "monitoring.coreos.com/v1"))
    kinds = {d["kind"] for d in with_api}
    assert "ServiceMonitor" in kinds
    if (CHART / "files" / "prometheusrule.yaml").exists():
        assert "PrometheusRule" in kinds


def test_operator_deployment_is_hardened() -> None:
    deployment = next(d for d in render() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"] and container["readinessProbe"]
    assert container["resources"]["limits"]["memory"]
    env = {e["name"] for e in container["env"]}
    assert {"JOBWARDEN_NAMESPACE", "POD_NAME", "JOBWARDEN_WEBHOOK_SERVICE"} <= env


@pytest.mark.parametrize("values", [[], NON_DEFAULT], ids=["default", "non-default"])
def test_renders_are_accepted_by_the_api_server(
    cluster: TestCluster, crds_installed: None, tmp_path: Path, values: list[str]
) -> None:
    namespace = "jobwarden-chart-test"
    cluster.kubectl("create", "namespace", namespace, check=False)
    documents = render(*values, namespace=namespace)
    sendable = [d for d in documents if d["kind"] not in FOREIGN_KINDS]
    assert len(sendable) >= 10
    manifest = tmp_path / "render.yaml"
    manifest.write_text(yaml.safe_dump_all(sendable))
    result = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", str(manifest)
    )
    assert "(server dry run)" in result.stdout
    if "webhook.certManager.enabled=true" in values:
        assert {"Certificate", "Issuer"} <= {d["kind"] for d in documents}


def test_helm_install_runs_the_operator_with_its_least_privilege_identity(
    cluster: TestCluster, crds_installed: None
) -> None:
    """A real `helm install`: CRDs served, the Deployment's pods running (kwok simulates
    them), and the chart's ServiceAccount holding exactly the operator's permissions."""
    namespace = "jobwarden-helm"
    kubeconfig = str(cluster.kubeconfig())
    helm_args = ["--kubeconfig", kubeconfig, "--namespace", namespace]
    pod_annotations = "podAnnotations.sim\\.jobwarden\\.dev/run-seconds=3600"  # a string
    helm(
        "install",
        "jw",
        str(CHART),
        *helm_args,
        "--create-namespace",
        "--wait",
        "--timeout",
        "120s",
        "--set-string",
        pod_annotations,
        "--set",
        "crds.install=false",  # the session installed them (and the user roles) already
        "--set",
        "rbac.userRoles=false",
    )
    try:
        deployment = json.loads(
            cluster.kubectl("get", "deployment", "-n", namespace, "-o", "json").stdout
        )["items"][0]
        assert deployment["status"].get("readyReplicas") == 2
        pods = json.loads(
            cluster.kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/name=jobwarden",
                "-o",
                "json",
            ).stdout
        )["items"]
        assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
        account = f"system:serviceaccount:{namespace}:jw-jobwarden"
        can = {
            ("patch", "jobruns.jobwarden.dev/status", "-A"): "yes",
            ("create", "pods", "-A"): "yes",
            ("create", "subjectaccessreviews.authorization.k8s.io", ""): "yes",
            ("get", "leases.coordination.k8s.io", f"-n={namespace}"): "yes",
            ("update", "jobruns.jobwarden.dev", "-A"): "no",  # never a user's spec
            ("get", "secrets", "-A"): "no",
            ("delete", "namespaces", ""): "no",
        }
        for (verb, resource, scope), expected in can.items():
            args = ["auth", "can-i", verb, resource, f"--as={account}"]
            if scope:
                args.append(scope)
            answer = cluster.kubectl(*args, check=False).stdout.strip()
            assert answer == expected, f"{account} can-i {verb} {resource} {scope}: {answer}"
    finally:
        helm("uninstall", "jw", *helm_args, "--wait", "--timeout", "60s")
    crds = cluster.kubectl("get", "crd", "jobruns.jobwarden.dev", check=False)
    assert crds.returncode == 0, "the CRDs must survive an uninstall"
