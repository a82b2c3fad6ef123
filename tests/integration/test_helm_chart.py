"""The Helm chart: lint, strict values, renders the real API server accepts, a pod that
meets the restricted Pod Security Standard, and a real `helm install` whose two operator
replicas run as real containers of jobwarden's image (on the real node): probes pass,
webhooks answer, one replica leads, and a deleted leader hands over within its grace."""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from devcluster.install import READY_LINE, WEBHOOK_READY_LINE, OperatorProcess
from devcluster.process import free_port
from devcluster.realnode import NODE_NAME
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.audit import audit_records
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.realnode import RealNodeHandle
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
    assert len(kept) == 5  # ScheduledJob, JobRun, Export, WorkerQuota, Backfill
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
    # No command: the image's entrypoint, tini, stays PID 1 and runs these args.
    assert "command" not in container
    assert container["args"][:3] == ["python", "-m", "jobwarden"]
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


def test_operator_pod_meets_the_restricted_pod_security_standard(
    cluster: TestCluster, crds_installed: None
) -> None:
    """The API server's PodSecurity admission, enforcing `restricted`, admits the chart's
    operator pod as rendered (a server-side dry run of a Pod from the Deployment)."""
    namespace = f"jobwarden-pss-{uuid.uuid4().hex[:6]}"
    admin = cluster.kube()
    admin.create(
        "/api/v1/namespaces",
        {
            "metadata": {
                "name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            }
        },
    )
    try:
        deployment = next(d for d in render(namespace=namespace) if d["kind"] == "Deployment")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "operator",
                "labels": deployment["spec"]["template"]["metadata"]["labels"],
            },
            "spec": {**deployment["spec"]["template"]["spec"], "serviceAccountName": "default"},
        }
        admitted = admin.create(resource_path("v1", "pods", namespace), pod, dryRun="All")
        assert admitted["metadata"]["name"] == "operator"
        # And the standard is really enforced there: a root pod is refused.
        root = json.loads(json.dumps(pod))
        root["spec"]["securityContext"] = {"runAsNonRoot": False}
        with pytest.raises(KubeError) as refused:
            admin.create(resource_path("v1", "pods", namespace), root, dryRun="All")
        assert 'violates PodSecurity "restricted' in refused.value.message
    finally:
        admin.delete(resource_path("v1", "namespaces", None, namespace))


# ------------------------------------------------------------ helm install, for real
RELEASE = "jw"
FULLNAME = "jw-jobwarden"  # the chart's name for release "jw"
WEBHOOKS = "admissionregistration.k8s.io/v1"
WEBHOOK_KINDS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
#: The configurations kopf keeps for jobwarden (jobwarden.webhooks.runtime).
WEBHOOK_CONFIGURATION = "jobwarden.dev"
CREATED_BY = "jobwarden.dev/created-by"
LEASE = "jobwarden-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=jobwarden,app.kubernetes.io/component=operator"
GRACE_SECONDS = 30  # the chart's terminationGracePeriodSeconds


def _delete_webhook_configurations(cluster: TestCluster) -> None:
    """They outlive the operator that made them (docs/access.md): a stale one would
    send every write of a jobwarden resource to an operator that is gone."""
    admin = cluster.kube()
    for kind in WEBHOOK_KINDS:
        path = resource_path(WEBHOOKS, kind, None, WEBHOOK_CONFIGURATION)
        if admin.exists(path):
            admin.delete(path)


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: pods on the real node share the machine's network."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _operator_pods(kube: Kube, namespace: str) -> list[JSON]:
    items: list[JSON] = kube.get(
        resource_path("v1", "pods", namespace), labelSelector=OPERATOR_SELECTOR
    )["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _audit_actions(log: str, namespace: str, name: str) -> list[str]:
    """The actions of the operator's JSON audit lines about one object."""
    return [
        str(r["action"])
        for r in audit_records(log)
        if r.get("namespace") == namespace and r.get("name") == name
    ]


def _holder(kube: Kube, namespace: str) -> str:
    path = resource_path("coordination.k8s.io/v1", "leases", namespace, LEASE)
    if not kube.exists(path):
        return ""
    return str(kube.get(path)["spec"].get("holderIdentity") or "")


class PodWatch:
    """Follows one pod until it is deleted and keeps its last status (the kubelet
    reports the container's exit before the object goes away)."""

    def __init__(self, cluster: TestCluster, namespace: str, name: str) -> None:
        self.statuses: list[JSON] = []
        self.deleted_at: float | None = None
        self._args = [
            cluster.kubectl_path,
            f"--kubeconfig={cluster.kubeconfig()}",
            "get",
            "pod",
            name,
            "-n",
            namespace,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ]
        self._process = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        decoder = json.JSONDecoder()
        buffer = ""
        for line in self._process.stdout:
            buffer += line
            try:
                event, _ = decoder.raw_decode(buffer.strip())
            except ValueError:
                continue
            buffer = ""
            status = event["object"].get("status") or {}
            self.statuses.append(status)
            if event["type"] == "DELETED":
                self.deleted_at = time.monotonic()
                return

    def wait_deleted(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._process.kill()
        self._process.wait(timeout=10)

    def last_termination(self) -> JSON | None:
        """The operator container's last `terminated` state seen."""
        for status in reversed(self.statuses):
            for container in status.get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated")
                if terminated:
                    return dict(terminated)
        return None


def _kubelet_probe_metrics(cluster: TestCluster, node_name: str) -> str | None:
    """The real node's kubelet /metrics/probes. The API server's node proxy refuses a
    loopback kubelet, so on the local cluster the test asks it directly, as the API
    server would (with the API server's kubelet client certificate). On a KUBECONFIG
    cluster it asks through the node proxy; None if that refuses (a loopback kubelet,
    such as `make up`'s, whose PKI is not ours)."""
    if cluster.local is None:
        try:
            return cluster.kube().get_text(f"/api/v1/nodes/{node_name}/proxy/metrics/probes")
        except KubeError as error:
            if error.status == 400 and "address not allowed" in error.message:
                return None
            raise
    node = cluster.kube().get(resource_path("v1", "nodes", None, NODE_NAME))
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert cluster.local is not None
    pki = cluster.local.pki_dir
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(
        pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key"
    )
    url = f"https://127.0.0.1:{port}/metrics/probes"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return str(response.read().decode())


def _probe_successes(cluster: TestCluster, node: str, pod: str, probe_type: str) -> float:
    """The kubelet's count of successful probes of one pod (its /metrics/probes)."""
    text = _kubelet_probe_metrics(cluster, node) or ""
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("prober_probe_total{")
            and f'pod="{pod}"' in line
            and f'probe_type="{probe_type}"' in line
            and 'result="successful"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_helm_install_runs_two_operator_replicas_in_real_containers(
    cluster: TestCluster,
    crds_installed: None,
    operator: OperatorProcess,
    real_node: RealNodeHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    """A real `helm install` with jobwarden's image: two operator replicas run as real
    containers (tini as PID 1, non-root, read-only root filesystem) with the chart's
    ServiceAccount; probes pass; the API server calls their webhooks through the chart's
    Service; one replica leads and reconciles runs; deleting the leader's pod sends
    SIGTERM, it stops cleanly (exit 0) and releases the Lease within its grace period,
    and the other replica takes over; `helm uninstall` stops them and keeps the CRDs.

    The session's local operator is stopped meanwhile (two engines would both act on
    every run, and both keep the one pair of webhook configurations), and restarted.
    """
    release_namespace = f"jobwarden-helm-{uuid.uuid4().hex[:6]}"
    admin, alice = cluster.kube(), cluster.kube("alice")
    webhook_port, metrics_port = _free_ports(2)
    repository, tag = real_node.image.rsplit(":", 1)
    values = {
        "replicaCount": 2,
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "crds": {"install": False},  # the session installed them (and the user roles)
        "rbac": {"userRoles": False},
        "webhook": {"port": webhook_port},
        "metrics": {"port": metrics_port},
        "operator": {"exitMarginSeconds": 3},
        **real_node.placement(),  # nodeSelector and tolerations
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm_args = ["--kubeconfig", str(cluster.kubeconfig()), "--namespace", release_namespace]

    def logs(pod: str) -> str:
        result = cluster.kubectl("logs", "-n", release_namespace, pod, check=False)
        return result.stdout + result.stderr

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
            "180s",
        )
        # 1. Two replicas, each a real container of the image, Ready (readiness probe).
        pods = _operator_pods(admin, release_namespace)
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        names = sorted(p["metadata"]["name"] for p in pods)
        for pod in pods:
            (status,) = pod["status"]["containerStatuses"]
            assert status["ready"] is True, status
            assert status["containerID"].startswith(("containerd://", "cri-o://", "docker://"))
            assert status["image"].endswith(real_node.image.rsplit("/", 1)[-1]), status
            if real_node.name is not None:
                assert pod["spec"]["nodeName"] == real_node.name
                address = pod["status"]["podIP"]
                assert not ipaddress.ip_address(address).is_loopback  # the node's own address
        first = names[0]
        # tini is PID 1 and runs the operator as the image's non-root user; the root
        # filesystem cannot be written.
        pid1 = cluster.kubectl(
            "exec", "-n", release_namespace, first, "--", "cat", "/proc/1/cmdline"
        ).stdout
        assert pid1.split("\0")[0] == "/usr/bin/tini", repr(pid1)
        ids = cluster.kubectl("exec", "-n", release_namespace, first, "--", "id", "-u").stdout
        assert ids.strip() == "65532"
        touch = cluster.kubectl(
            "exec", "-n", release_namespace, first, "--", "touch", "/opt/jobwarden/x", check=False
        )
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr, touch.stderr

        # 2. One replica leads: the Lease names it, and only its engine runs.
        wait_until(
            lambda: _holder(admin, release_namespace).split("_")[0] in names,
            timeout=90,
            message=lambda: f"one replica to hold the Lease\n{logs(first)}",
        )
        leader = _holder(admin, release_namespace).split("_")[0]
        standby = next(n for n in names if n != leader)
        wait_until(
            lambda: READY_LINE in logs(leader) and WEBHOOK_READY_LINE in logs(leader),
            timeout=90,
            message=lambda: f"the leader's engine and webhooks\n{logs(leader)}",
        )
        assert READY_LINE not in logs(standby), logs(standby)

        # 3. Its webhooks are live, called through the chart's Service and its endpoints.
        for kind in WEBHOOK_KINDS:
            configuration = admin.get(resource_path(WEBHOOKS, kind, None, WEBHOOK_CONFIGURATION))
            for webhook in configuration["webhooks"]:
                config = webhook["clientConfig"]
                assert "url" not in config
                assert (config["service"]["namespace"], config["service"]["name"]) == (
                    release_namespace,
                    f"{FULLNAME}-webhook",
                )
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

        # 4. The leader reconciles: a run is admitted and succeeds (on kwok).
        created = runs.create(alice, namespace, jobrun("via-helm", sim(run_seconds=0.5)))
        assert created["metadata"]["annotations"][CREATED_BY] == "alice"  # the mutating webhook
        done = runs.wait_phase(alice, namespace, "via-helm", runs.TERMINAL, timeout=60)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        wait_until(
            lambda: "admitted" in _audit_actions(logs(leader), namespace, "via-helm"),
            timeout=10,
            message=lambda: f"the leader's audit line admitting via-helm\n{logs(leader)}",
        )

        # 5. Liveness probes pass (the kubelet counts them), on both replicas (where
        # this test can read the kubelet's metrics: not a KUBECONFIG cluster's loopback
        # kubelet; the replicas' Ready condition above still shows their readiness).
        nodes = {
            str(p["metadata"]["name"]): str(p["spec"]["nodeName"])
            for p in _operator_pods(admin, release_namespace)
        }
        if all(_kubelet_probe_metrics(cluster, n) is not None for n in set(nodes.values())):
            wait_until(
                lambda: all(_probe_successes(cluster, nodes[n], n, "Liveness") >= 1 for n in names),
                timeout=60,
                message="a successful liveness probe of each replica",
            )
            for name in names:
                assert _probe_successes(cluster, nodes[name], name, "Readiness") >= 1
        restarts = [
            c["restartCount"]
            for p in _operator_pods(admin, release_namespace)
            for c in p["status"]["containerStatuses"]
        ]
        assert restarts == [0, 0], restarts

        # 6. Deleting the leader's pod: SIGTERM, a clean stop that releases the Lease
        # within the grace period, and the standby leads.
        watch = PodWatch(cluster, release_namespace, leader)
        deleted = time.monotonic()
        admin.delete(resource_path("v1", "pods", release_namespace, leader))
        wait_until(
            lambda: _holder(admin, release_namespace).split("_")[0] == standby,
            timeout=GRACE_SECONDS,
            interval=0.1,
            message=lambda: f"{standby} to take the Lease over\n{logs(standby)}",
        )
        handover = time.monotonic() - deleted
        # Faster than the Lease could expire: the old leader released it as it stopped.
        lease = admin.get(
            resource_path("coordination.k8s.io/v1", "leases", release_namespace, LEASE)
        )
        assert handover < lease["spec"]["leaseDurationSeconds"], (handover, lease["spec"])
        wait_until(
            lambda: READY_LINE in logs(standby),
            timeout=30,
            message=lambda: f"the new leader's engine\n{logs(standby)}",
        )
        watch.wait_deleted(timeout=GRACE_SECONDS + 10)
        assert watch.deleted_at is not None, "the old leader's pod was not removed"
        terminated = watch.last_termination()
        assert terminated is not None, watch.statuses[-3:]
        assert terminated["exitCode"] == 0, terminated  # not 137: no SIGKILL was needed
        assert watch.deleted_at - deleted < GRACE_SECONDS, watch.deleted_at - deleted
        gone = watch.deleted_at - deleted
        print(f"leader handover {handover:.2f} s; old pod gone after {gone:.2f} s")

        # 7. The chart's ServiceAccount holds exactly the operator's permissions.
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

        # 8. Uninstall: the operators stop; the CRDs, and the webhook configurations
        # (docs/access.md: they outlive the operator until deleted), stay.
        helm("uninstall", RELEASE, *helm_args, "--wait", "--timeout", "90s")
        uninstalled = True
        wait_until(
            lambda: not admin.get(resource_path("v1", "pods", release_namespace))["items"],
            timeout=60,
            message="the operator pods to be gone",
        )
        assert not admin.get(resource_path("apps/v1", "deployments", release_namespace))["items"]
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
            helm("uninstall", RELEASE, *helm_args, "--wait", "--timeout", "90s", check=False)
        _delete_webhook_configurations(cluster)
        if admin.exists(resource_path("v1", "namespaces", None, release_namespace)):
            admin.delete(resource_path("v1", "namespaces", None, release_namespace))
        operator.start()  # it makes its webhook configurations again
