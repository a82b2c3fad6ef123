"""The cluster the integration tests run against: the local control plane started
for the session, or any cluster named by KUBECONFIG (kind, …)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from kubernetes import client, config

from devcluster.binaries import Binaries, ClusterError
from devcluster.cluster import IDENTITIES, LocalCluster
from devcluster.kubeconfig import write_impersonating_kubeconfig
from tests.support.csr import issue_client_certificate, write_certificate_kubeconfig
from tests.support.kube import Kube

OPERATOR_USER = IDENTITIES["operator"].user
#: The test cluster audits the operator's pod creates only (Metadata level: who, what,
#: when, the answer's code): the tests count the creates of refused pods.
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["{OPERATOR_USER}"]
    verbs: ["create"]
    resources: [{{group: "", resources: ["pods"]}}]
  - level: None
"""


@dataclass(frozen=True)
class AuditedCreate:
    """One pod create the API server audited."""

    time: datetime.datetime
    code: int  # the answer's HTTP status: 201 created, 403 refused, …


def _parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def most_in_any_minute(creates: list[AuditedCreate]) -> int:
    """The most creates within any 60 s window."""
    times = [c.time for c in creates]
    return max(
        (sum(1 for t in times if start <= t < start + datetime.timedelta(seconds=60))
         for start in times),
        default=0,
    )  # fmt: skip


class TestCluster:
    """Per-identity kubeconfigs, API clients and kubectl for one cluster."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, kubeconfigs: dict[str, Path], kubectl_path: str, local: LocalCluster | None):
        self._kubeconfigs = kubeconfigs
        self.kubectl_path = kubectl_path
        self.local = local

    @classmethod
    def start_local(cls, workdir: Path) -> TestCluster:
        """Start the local control plane in `workdir` (raises ClusterError), with an
        audit log of the operator's pod creates (see `pod_creates`)."""
        workdir.mkdir(parents=True, exist_ok=True)
        policy = workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        local = LocalCluster(workdir, die_with_parent=True, audit_policy=policy)
        local.start()
        kubeconfigs = {name: local.kubeconfig(name) for name in IDENTITIES}
        return cls(kubeconfigs, str(local.binaries.kubectl), local)

    @classmethod
    def from_kubeconfig(cls, admin_kubeconfig: Path, workdir: Path) -> TestCluster:
        """Use an existing cluster; the operator signs in with a certificate the cluster
        issues (tests/support/csr.py), other identities act through impersonation."""
        if not admin_kubeconfig.exists():
            raise ClusterError(f"KUBECONFIG names {admin_kubeconfig}, which does not exist")
        kubeconfigs = {"admin": admin_kubeconfig}
        admin = Kube(_api_client(str(admin_kubeconfig)))
        for name, identity in IDENTITIES.items():
            if name == "operator":
                # kopf ignores `as`: the operator gets a certificate of its own.
                cert, key = issue_client_certificate(admin, identity.user, identity.groups)
                path = workdir / f"{name}.kubeconfig"
                write_certificate_kubeconfig(admin_kubeconfig, path, cert, key)
                kubeconfigs[name] = path
            elif name != "admin":
                path = workdir / f"{name}.kubeconfig"
                write_impersonating_kubeconfig(
                    admin_kubeconfig, path, identity.user, identity.groups
                )
                kubeconfigs[name] = path
        try:
            kubectl = str(Binaries.locate().kubectl)
        except ClusterError:
            kubectl = shutil.which("kubectl") or "kubectl"
        return cls(kubeconfigs, kubectl, None)

    @property
    def audited(self) -> bool:
        """Whether this cluster's API server writes the audit log tests can read (the
        local one does; a cluster named by KUBECONFIG is not ours to configure)."""
        return self.local is not None and self.local.audit_policy is not None

    def pod_creates(self, namespace: str, name: str) -> list[AuditedCreate]:
        """Every create of the pod `namespace`/`name` the operator sent, refused ones
        included (dry runs excluded), oldest first, from the API server's audit log."""
        if self.local is None:
            raise AssertionError("no audit log: the cluster under test is not the local one")
        path = self.local.audit_log_path
        found = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            ref = event.get("objectRef") or {}
            if (
                event.get("stage") == "ResponseComplete"
                and event.get("verb") == "create"
                and ref.get("resource") == "pods"
                and not ref.get("subresource")
                and (ref.get("namespace"), ref.get("name")) == (namespace, name)
                and "dryRun" not in str(event.get("requestURI", ""))
                and (event.get("user") or {}).get("username") == OPERATOR_USER
            ):
                found.append(
                    AuditedCreate(
                        time=_parse_time(str(event["requestReceivedTimestamp"])),
                        code=int((event.get("responseStatus") or {}).get("code") or 0),
                    )
                )
        return sorted(found, key=lambda c: c.time)

    def stop(self) -> None:
        """Stop the local control plane, if this session started one."""
        if self.local is not None:
            self.local.stop()

    def kubeconfig(self, identity: str = "admin") -> Path:
        """The kubeconfig file of an identity: admin, operator, alice, bob, carol."""
        return self._kubeconfigs[identity]

    def api(self, identity: str = "admin") -> client.ApiClient:
        """A (cached) Kubernetes API client acting as `identity`."""
        return _api_client(str(self.kubeconfig(identity)))

    def kube(self, identity: str = "admin") -> Kube:
        """A raw-JSON client acting as `identity`."""
        return Kube(self.api(identity))

    def kubectl(
        self,
        *args: str,
        identity: str = "admin",
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as `identity`; raises with stderr when `check` and it fails."""
        result = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig(identity)}", *args],
            input=input,
            capture_output=True,
            check=False,
            text=True,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig(identity))},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} (as {identity}) failed with {result.returncode}:\n"
                f"{result.stderr}{result.stdout}"
            )
        return result


@cache
def _api_client(kubeconfig: str) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    for name, value in _impersonation_headers(Path(kubeconfig)).items():
        api.set_default_header(name, value)  # type: ignore[no-untyped-call]
    return api


def _impersonation_headers(kubeconfig: Path) -> dict[str, str]:
    """Impersonate-* headers for a kubeconfig whose user has `as` / `as-groups` (the
    test identities on a KUBECONFIG cluster): the Python client ignores those fields,
    and would act as the admin. The API server adds system:authenticated itself; more
    than one other group cannot be sent (the client keeps one value per header)."""
    document = yaml.safe_load(kubeconfig.read_text()) or {}
    contexts = {c["name"]: c["context"] for c in document.get("contexts") or []}
    context = contexts.get(document.get("current-context"), {})
    users = {u["name"]: u.get("user") or {} for u in document.get("users") or []}
    user = users.get(context.get("user"), {})
    if not user.get("as"):
        return {}
    headers = {"Impersonate-User": str(user["as"])}
    groups = [g for g in user.get("as-groups") or [] if g != "system:authenticated"]
    if len(groups) > 1:
        raise AssertionError(f"{kubeconfig}: cannot impersonate several groups {groups}")
    if groups:
        headers["Impersonate-Group"] = str(groups[0])
    return headers
