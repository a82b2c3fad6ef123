"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok with a few simulated nodes, all on 127.0.0.1.

`LocalCluster.start()` brings everything up and waits until pods can be scheduled;
`LocalCluster.stop()` (or `stop_recorded()` from another process) tears it down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from devcluster.binaries import DEVCLUSTER_DIR, Binaries
from devcluster.kubeconfig import write_cert_kubeconfig, write_token_kubeconfig
from devcluster.pki import CertificateAuthority, KeyPair, write_service_account_keys
from devcluster.process import Component, free_port, stop_pids, wait_for
from devcluster.progress import Progress

STATE_FILE = "state.json"
#: Static bearer tokens (`--token-auth-file`) of the TOKEN_IDENTITIES, in the pki directory.
TOKEN_FILE = "tokens.csv"
KWOK_STAGES = DEVCLUSTER_DIR / "kwok" / "stages.yaml"
NODE_LABEL = "type"
NODE_LABEL_VALUE = "kwok"
#: The API server's identity at the kubelet (logs, exec).
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class Identity:
    """A user of the local cluster: a client certificate with CN = user, O = groups."""

    user: str
    groups: tuple[str, ...] = ()


#: The identities the tests and the demo act as, each with its own kubeconfig.
IDENTITIES: dict[str, Identity] = {
    "admin": Identity("jobwarden-admin", ("system:masters",)),
    "operator": Identity("jobwarden-operator", ("jobwarden:operators",)),
    "alice": Identity("alice", ("team-a",)),
    "bob": Identity("bob", ("team-a",)),
    "carol": Identity("carol", ("jobwarden-admins",)),
}

#: Identities that sign in with a bearer token, as the operator does in a cluster (its
#: ServiceAccount's): the API server verifies a client certificate's signature on every
#: request (6 % of its CPU in the bench's admission scenario, most of it the operator's),
#: while a token is looked up. Same user and groups either way.
TOKEN_IDENTITIES: Final = frozenset({"operator"})

# Identities of the cluster's own components (bound by Kubernetes' default RBAC).
_COMPONENT_IDENTITIES: dict[str, Identity] = {
    "kube-controller-manager": Identity("system:kube-controller-manager"),
    "kube-scheduler": Identity("system:kube-scheduler"),
    "kwok": Identity("kwok", ("system:masters",)),
}


class LocalCluster:
    """One local control plane living in `workdir` (certificates, data, logs)."""

    def __init__(
        self,
        workdir: Path,
        binaries: Binaries | None = None,
        *,
        nodes: int = 3,
        die_with_parent: bool = True,
        kwok_config: Path = KWOK_STAGES,
        audit_policy: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        """`audit_policy` (opt-in, for benchmarks): an audit.k8s.io/v1 Policy file; the
        API server then writes its audit log, in batches, to `audit_log_path`.
        `progress` (for `python -m devcluster up`): say what each wait is for."""
        self.workdir = workdir.resolve()
        self.binaries = binaries or Binaries.locate()
        self.nodes = nodes
        self.die_with_parent = die_with_parent
        self.kwok_config = kwok_config
        self.components: list[Component] = []
        self.pki_dir = self.workdir / "pki"
        self.log_dir = self.workdir / "logs"
        self.audit_policy = audit_policy.resolve() if audit_policy is not None else None
        self.audit_log_path = self.log_dir / "kube-apiserver-audit.log"
        self.server = ""
        self.progress = progress
        self._ssl: ssl.SSLContext | None = None

    # ----------------------------------------------------------------- paths
    def kubeconfig(self, identity: str = "admin") -> Path:
        """Path of the kubeconfig of one identity ("admin" is `kubeconfig`)."""
        if identity == "admin":
            return self.workdir / "kubeconfig"
        return self.workdir / f"{identity}.kubeconfig"

    # ------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 120.0) -> None:
        """Start every component and wait until the cluster can run pods.

        On any failure everything already started is stopped before the error
        (naming the component, command and log) is raised.
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        if self.workdir.exists():
            if (self.workdir / STATE_FILE).exists():
                stop_recorded(self.workdir)
            for child in ("etcd-data", "pki", "logs", "kwok"):
                shutil.rmtree(self.workdir / child, ignore_errors=True)
        for directory in (self.workdir, self.pki_dir, self.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        ports = {
            name: free_port()
            for name in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok")
        }
        self.server = f"https://127.0.0.1:{ports['apiserver']}"
        ca, serving, service_account = self._write_pki()
        self._write_kubeconfigs(ca)

        etcd = self._component(
            "etcd",
            self.binaries.etcd,
            [
                "--name=default",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                f"--initial-cluster=default=http://127.0.0.1:{ports['etcd-peer']}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=8589934592",
            ],
        )
        wait_for(
            "etcd /health",
            lambda: b'"health":"true"' in _http_get(f"http://127.0.0.1:{ports['etcd']}/health"),
            self.components,
            30,
            blame=etcd,
            progress=self.progress,
        )

        apiserver = self._component(
            "kube-apiserver",
            self.binaries.kube_apiserver,
            [
                f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}",
                f"--cert-dir={self.pki_dir / 'apiserver'}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={service_account.cert}",
                f"--service-account-signing-key-file={service_account.key}",
                f"--token-auth-file={self.pki_dir / TOKEN_FILE}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                # Webhooks (and aggregated APIs) behind a Service are called at its
                # endpoints: no kube-proxy routes ClusterIPs here (devcluster.realnode).
                "--enable-aggregator-routing=true",
                "--max-requests-inflight=1000",
                "--max-mutating-requests-inflight=500",
                # DEVCLUSTER_PROFILING=1 serves /debug/pprof (bench: where the API
                # server's CPU goes); off otherwise, as a production server would be.
                f"--profiling={'true' if os.environ.get('DEVCLUSTER_PROFILING') else 'false'}",
                # `kubectl logs/exec` on the real node: the API server's client
                # certificate at the kubelet (bound to system:kubelet-api-admin).
                f"--kubelet-client-certificate={self.pki_dir / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={self.pki_dir / 'apiserver-kubelet-client.key'}",
                # The real node's host-network policy (devcluster.realnode) is a
                # MutatingAdmissionPolicy, beta in this Kubernetes.
                "--feature-gates=MutatingAdmissionPolicy=true",
                # Namespace-wide node selectors and tolerations (annotations): the
                # install-doc test puts a namespace's pods on the real node unchanged.
                "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
                "--runtime-config=admissionregistration.k8s.io/v1beta1=true",
                "--v=1",
                *self._audit_args(),
            ],
            env={"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"},
        )
        self._ssl = self._admin_ssl_context(ca.pair.cert)
        wait_for(
            "kube-apiserver /readyz",
            lambda: self._get("/readyz") == b"ok",
            self.components,
            90,
            blame=apiserver,
            progress=self.progress,
        )

        self._post(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "metadata": {"name": "devcluster:apiserver-kubelet-client"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:kubelet-api-admin",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": KUBELET_CLIENT_USER,
                    }
                ],
            },
        )

        kcm_kubeconfig = self.workdir / "kube-controller-manager.kubeconfig"
        kcm = self._component(
            "kube-controller-manager",
            self.binaries.kube_controller_manager,
            [
                f"--kubeconfig={kcm_kubeconfig}",
                f"--authentication-kubeconfig={kcm_kubeconfig}",
                f"--authorization-kubeconfig={kcm_kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['kcm']}",
                f"--cert-dir={self.pki_dir / 'kcm'}",
                f"--service-account-private-key-file={service_account.key}",
                f"--root-ca-file={ca.pair.cert}",
                "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--concurrent-gc-syncs=20",
                "--use-service-account-credentials=true",
                "--v=1",
            ],
        )
        scheduler = self._component(
            "kube-scheduler",
            self.binaries.kube_scheduler,
            [
                f"--kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'kube-scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
                f"--cert-dir={self.pki_dir / 'scheduler'}",
                "--v=1",
            ],
        )
        kwok = self._component(
            "kwok",
            self.binaries.kwok,
            [
                f"--kubeconfig={self.workdir / 'kwok.kubeconfig'}",
                f"--config={self.kwok_config}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-label-selector={NODE_LABEL}={NODE_LABEL_VALUE}",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                "--node-ip=127.0.0.1",
                # No node leases: a restarted kwok has a new identity and could not take
                # them over for their whole duration; the heartbeat Stage keeps nodes Ready.
                "--v=INFO",
            ],
            env={"KWOK_WORKDIR": str(self.workdir / "kwok")},
        )
        self._write_state()

        wait_for(
            "the `default` ServiceAccount (kube-controller-manager's service-account controller)",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") != b"",
            self.components,
            timeout,
            blame=kcm,
            progress=self.progress,
        )
        for index in range(self.nodes):
            self._create_node(f"kwok-node-{index}")
        wait_for(
            f"{self.nodes} kwok nodes Ready and untainted",
            lambda: self._ready_nodes() >= self.nodes,
            self.components,
            timeout,
            blame=kwok,
            progress=self.progress,
        )
        wait_for(
            "kube-scheduler /healthz",
            lambda: (
                _http_get(f"https://127.0.0.1:{ports['scheduler']}/healthz", insecure=True) == b"ok"
            ),
            self.components,
            timeout,
            blame=scheduler,
            progress=self.progress,
        )

    def stop(self) -> None:
        """Stop every component this object started (and anything recorded)."""
        if (self.workdir / STATE_FILE).exists():
            stop_recorded(self.workdir)
        for component in self.components:
            if component.process is not None and component.process.poll() is None:
                component.process.kill()
                component.process.wait(timeout=10)
        self.components.clear()

    # --------------------------------------------------------------- helpers
    def _audit_args(self) -> list[str]:
        """kube-apiserver flags for the opt-in audit log (none by default)."""
        if self.audit_policy is None:
            return []
        return [
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log_path}",
            "--audit-log-format=json",
            # Batched, so auditing does not add latency to the requests it records.
            "--audit-log-mode=batch",
            "--audit-log-batch-max-wait=1s",
            "--audit-log-maxsize=0",
            "--audit-log-maxbackup=0",
        ]

    def _component(
        self, name: str, binary: Path, args: list[str], env: dict[str, str] | None = None
    ) -> Component:
        component = Component(
            name=name,
            argv=[str(binary), *args],
            log_path=self.log_dir / f"{name}.log",
            env=env or {},
        )
        component.start(die_with_parent=self.die_with_parent)
        self.components.append(component)
        self._write_state()
        return component

    def _write_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig()),
            "pids": {c.name: [c.pid, str(c.argv[0])] for c in self.components},
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _write_pki(self) -> tuple[CertificateAuthority, KeyPair, KeyPair]:
        ca = CertificateAuthority(self.pki_dir)
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_ips=("127.0.0.1", "10.96.0.1"),
            server_dns=("localhost", "kubernetes", "kubernetes.default.svc"),
        )
        ca.issue("apiserver-kubelet-client", KUBELET_CLIENT_USER)
        return ca, serving, write_service_account_keys(self.pki_dir)

    def _write_kubeconfigs(self, ca: CertificateAuthority) -> None:
        tokens: list[str] = []
        for name, identity in {**IDENTITIES, **_COMPONENT_IDENTITIES}.items():
            path = (
                self.kubeconfig(name) if name in IDENTITIES else self.workdir / f"{name}.kubeconfig"
            )
            if name in TOKEN_IDENTITIES:
                token = secrets.token_urlsafe(32)
                groups = ",".join(identity.groups)
                tokens.append(f'{token},{identity.user},{identity.user},"{groups}"')
                write_token_kubeconfig(
                    path, server=self.server, ca_file=ca.pair.cert, token=token, user=identity.user
                )
                continue
            pair = ca.issue(f"user-{name}", identity.user, identity.groups)
            write_cert_kubeconfig(
                path, server=self.server, ca_file=ca.pair.cert, pair=pair, user=identity.user
            )
        token_file = self.pki_dir / TOKEN_FILE
        token_file.write_text("".join(f"{line}\n" for line in tokens))
        token_file.chmod(0o600)

    def _admin_ssl_context(self, ca_file: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.load_cert_chain(self.pki_dir / "user-admin.crt", self.pki_dir / "user-admin.key")
        return context

    def _get(self, path: str) -> bytes:
        assert self._ssl is not None
        return _http_get(self.server + path, context=self._ssl)

    def _post(self, path: str, body: dict[str, Any]) -> bytes:
        assert self._ssl is not None
        request = urllib.request.Request(
            self.server + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, context=self._ssl, timeout=10) as response:
            return bytes(response.read())

    def _create_node(self, name: str) -> None:
        self._post(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        NODE_LABEL: NODE_LABEL_VALUE,
                        "jobwarden.dev/node-kind": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                },
                "spec": {},
            },
        )

    def _ready_nodes(self) -> int:
        nodes = json.loads(
            self._get(f"/api/v1/nodes?labelSelector={NODE_LABEL}%3D{NODE_LABEL_VALUE}")
        )
        ready = 0
        for node in nodes.get("items", []):
            # Schedulable only once the node lifecycle controller lifted its not-ready taint.
            if node.get("spec", {}).get("taints"):
                continue
            for condition in node.get("status", {}).get("conditions", []) or []:
                if condition.get("type") == "Ready" and condition.get("status") == "True":
                    ready += 1
        return ready


def _http_get(url: str, *, context: ssl.SSLContext | None = None, insecure: bool = False) -> bytes:
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return bytes(response.read())
    except urllib.error.HTTPError:
        return b""


def stop_recorded(workdir: Path) -> bool:
    """Stop the cluster whose processes are recorded in `workdir`; False if none."""
    state_path = workdir / STATE_FILE
    if not state_path.exists():
        return False
    state = json.loads(state_path.read_text())
    pids = {name: (int(entry[0]), str(entry[1])) for name, entry in state.get("pids", {}).items()}
    stop_pids(pids)
    state_path.unlink(missing_ok=True)
    time.sleep(0.1)
    return True
