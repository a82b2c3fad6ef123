"""The Helm chart: lint, strict values, renders the real API server accepts, and a real
`helm install` whose operator runs (on the process node) and serves its webhooks."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from devcluster.install import READY_LINE, WEBHOOK_READY_LINE, OperatorProcess
from devcluster.process import free_port
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.processnode import ProcessNode
from tests.support.runs import jobrun, pod_template, sim
from tests.support.wait import wait_until

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
    # The image's entrypoint is tini: args alone would replace its command, not follow it.
    assert container["command"] == ["python", "-m", "jobwarden"]
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


# ------------------------------------------------------------ helm install, for real
RELEASE = "jw"
FULLNAME = "jw-jobwarden"  # the chart's name for release "jw"
WEBHOOKS = "admissionregistration.k8s.io/v1"
WEBHOOK_KINDS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
#: The configurations kopf keeps for jobwarden (jobwarden.webhooks.runtime).
WEBHOOK_CONFIGURATION = "jobwarden.dev"
CREATED_BY = "jobwarden.dev/created-by"


def _node_address(cluster: TestCluster, process_node: ProcessNode) -> str:
    """The process node's InternalIP: the podIP of its pods (devcluster.processnode)."""
    node = cluster.kube().get(resource_path("v1", "nodes", None, process_node.name))
    (address,) = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
    if ipaddress.ip_address(address).is_loopback:
        pytest.fail(
            f"the process node reports its pods at {address}: this machine has no "
            "non-loopback IPv4 address, and EndpointSlices refuse loopback ones, so the API "
            "server cannot reach a webhook served by a pod through its Service. Give the "
            "machine an address (or start the node with --pod-ip)",
            pytrace=False,
        )
    return str(address)


def _delete_webhook_configurations(cluster: TestCluster) -> None:
    """They outlive the operator that made them (docs/access.md): a stale one would
    send every write of a jobwarden resource to an operator that is gone."""
    admin = cluster.kube()
    for kind in WEBHOOK_KINDS:
        path = resource_path(WEBHOOKS, kind, None, WEBHOOK_CONFIGURATION)
        if admin.exists(path):
            admin.delete(path)


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: the process node's pods share the machine's network."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _operator_pod(kube: Kube, namespace: str) -> JSON:
    pods = kube.get(
        resource_path("v1", "pods", namespace),
        labelSelector="app.kubernetes.io/name=jobwarden,app.kubernetes.io/component=operator",
    )["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    pod: JSON = pods[0]
    return pod


def _audit_actions(log: str, namespace: str, name: str) -> list[str]:
    """The actions of the operator's JSON audit lines about one object."""
    actions = []
    for line in log.splitlines():
        if line.startswith("{") and '"audit": true' in line:
            record = json.loads(line)
            if (record.get("namespace"), record.get("name")) == (namespace, name):
                actions.append(str(record["action"]))
    return actions


def _process_alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie) jobwarden operator process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return "-m jobwarden" in cmdline and state != "Z"


def test_helm_install_runs_the_operator_and_serves_its_webhooks(
    cluster: TestCluster,
    crds_installed: None,
    operator: OperatorProcess,
    process_node: ProcessNode,
    namespace: str,
    tmp_path: Path,
) -> None:
    """A real `helm install`: the operator pod runs as a process on the process node,
    with the chart's ServiceAccount (which holds exactly the operator's permissions);
    the API server calls its webhooks through the chart's Service (identity stamps,
    schedule checks); it reconciles runs; `helm uninstall` stops it and keeps the CRDs.

    The session's local operator is stopped meanwhile (two engines would both act on
    every run, and both keep the one pair of webhook configurations), and restarted.
    """
    address = _node_address(cluster, process_node)
    release_namespace = f"jobwarden-helm-{uuid.uuid4().hex[:6]}"
    admin, alice = cluster.kube(), cluster.kube("alice")
    webhook_port, metrics_port, health_port = _free_ports(3)
    values = {
        "replicaCount": 1,  # host network: a second replica's ports would collide
        "crds": {"install": False},  # the session installed them (and the user roles)
        "rbac": {"userRoles": False},
        "webhook": {"port": webhook_port},
        "metrics": {"port": metrics_port},
        "operator": {"healthPort": health_port, "exitMarginSeconds": 3},
        **process_node.placement(),  # nodeSelector and tolerations
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm_args = ["--kubeconfig", str(cluster.kubeconfig()), "--namespace", release_namespace]

    operator.stop()
    _delete_webhook_configurations(cluster)
    uninstalled = False
    try:
        helm(
            "install",
            RELEASE,
            str(CHART),
            *helm_args,
            "--create-namespace",
            "--values",
            str(values_file),
            "--wait",
            "--timeout",
            "120s",
        )
        # 1. The pod runs on the process node, as a live process of the operator.
        pod = _operator_pod(admin, release_namespace)
        pod_name = pod["metadata"]["name"]

        def logs() -> str:
            return process_node.pod_logs(release_namespace, pod_name)

        assert pod["spec"]["nodeName"] == process_node.name
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == address
        (status,) = pod["status"]["containerStatuses"]
        pid = int(status["containerID"].removeprefix("process://"))
        assert _process_alive(pid), f"operator process {pid} is not running\n{logs()}"
        wait_until(
            lambda: READY_LINE in logs() and WEBHOOK_READY_LINE in logs(),
            timeout=90,
            message=lambda: f"the operator pod to lead and serve its webhooks\n{logs()}",
        )
        lease = admin.get(
            resource_path(
                "coordination.k8s.io/v1", "leases", release_namespace, "jobwarden-operator"
            )
        )
        assert lease["spec"]["holderIdentity"].startswith(f"{pod_name}_")

        # 2. Its webhooks are live, called through the chart's Service and its endpoints.
        for kind in WEBHOOK_KINDS:
            configuration = admin.get(resource_path(WEBHOOKS, kind, None, WEBHOOK_CONFIGURATION))
            for webhook in configuration["webhooks"]:
                config = webhook["clientConfig"]
                assert "url" not in config
                assert (config["service"]["namespace"], config["service"]["name"]) == (
                    release_namespace,
                    f"{FULLNAME}-webhook",
                )
        slices = admin.get(
            resource_path("discovery.k8s.io/v1", "endpointslices", release_namespace),
            labelSelector=f"kubernetes.io/service-name={FULLNAME}-webhook",
        )["items"]
        endpoints = [
            (a, p["port"])
            for s in slices
            for e in s.get("endpoints") or []
            for a in e["addresses"]
            for p in s.get("ports") or []
        ]
        assert endpoints == [(address, webhook_port)], slices
        admin.create(
            resource_path("rbac.authorization.k8s.io/v1", "rolebindings", namespace),
            {
                "metadata": {"name": "team-a-edit"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "jobwarden-edit",
                },
                "subjects": [
                    {"kind": "Group", "name": "team-a", "apiGroup": "rbac.authorization.k8s.io"}
                ],
            },
        )
        wait_until(
            lambda: (
                cluster.kubectl(
                    "auth",
                    "can-i",
                    "create",
                    "jobruns.jobwarden.dev",
                    "-n",
                    namespace,
                    identity="alice",
                    check=False,
                ).stdout.strip()
                == "yes"
            ),
            timeout=15,
            message="alice may create JobRuns",
        )
        bad = {
            "apiVersion": runs.API,
            "kind": "ScheduledJob",
            "metadata": {"name": "on-mars"},
            "spec": {
                "schedule": "0 2 * * *",
                "timeZone": "Mars/Olympus",  # the CRD lets it through, the webhook does not
                "template": pod_template(sim()),
            },
        }
        with pytest.raises(KubeError) as denied:
            runs.create(alice, namespace, bad)
        assert 'admission webhook "' in denied.value.message
        assert 'spec.timeZone: unknown time zone "Mars/Olympus"' in denied.value.message

        # 3. It reconciles: a run under a WorkerQuota is admitted and succeeds.
        quota_path = resource_path(runs.API, "workerquotas", namespace, "q")
        admin.create(
            resource_path(runs.API, "workerquotas", namespace),
            {
                "apiVersion": runs.API,
                "kind": "WorkerQuota",
                "metadata": {"name": "q"},
                "spec": {"maxRunning": 1},
            },
        )
        wait_until(
            lambda: admin.get(quota_path).get("status", {}).get("observedGeneration"),
            timeout=30,
            message="the helm-installed operator to observe the WorkerQuota",
        )
        created = runs.create(alice, namespace, jobrun("via-helm", sim(run_seconds=0.5)))
        assert created["metadata"]["annotations"][CREATED_BY] == "alice"  # the mutating webhook
        done = runs.wait_phase(alice, namespace, "via-helm", runs.TERMINAL, timeout=60)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        wait_until(
            lambda: "admitted" in _audit_actions(logs(), namespace, "via-helm"),
            timeout=10,
            message=lambda: f"the operator pod's audit line admitting via-helm\n{logs()}",
        )

        # 4. The chart's ServiceAccount holds exactly the operator's permissions.
        account = f"system:serviceaccount:{release_namespace}:{FULLNAME}"
        can = {
            ("patch", "jobruns.jobwarden.dev/status", "-A"): "yes",
            ("create", "pods", "-A"): "yes",
            ("create", "subjectaccessreviews.authorization.k8s.io", ""): "yes",
            ("get", "leases.coordination.k8s.io", f"-n={release_namespace}"): "yes",
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

        # 5. Uninstall: the operator stops; the CRDs, and the webhook configurations
        # (docs/access.md: they outlive the operator until deleted), stay.
        helm("uninstall", RELEASE, *helm_args, "--wait", "--timeout", "60s")
        uninstalled = True
        wait_until(
            lambda: not admin.get(resource_path("v1", "pods", release_namespace))["items"],
            timeout=60,
            message="the operator pod to be gone",
        )
        wait_until(lambda: not _process_alive(pid), timeout=10, message="the process to exit")
        assert not admin.get(resource_path("apps/v1", "deployments", release_namespace))["items"]
        assert not admin.exists(
            resource_path("v1", "services", release_namespace, f"{FULLNAME}-webhook")
        )
        assert admin.exists(
            resource_path(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                None,
                "jobruns.jobwarden.dev",
            )
        ), "the CRDs must survive an uninstall"
        for kind in WEBHOOK_KINDS:
            assert admin.exists(resource_path(WEBHOOKS, kind, None, WEBHOOK_CONFIGURATION))
    finally:
        if not uninstalled:
            helm("uninstall", RELEASE, *helm_args, "--wait", "--timeout", "60s", check=False)
        _delete_webhook_configurations(cluster)
        if admin.exists(resource_path("v1", "namespaces", None, release_namespace)):
            admin.delete(resource_path("v1", "namespaces", None, release_namespace))
        operator.start()  # it makes its webhook configurations again
