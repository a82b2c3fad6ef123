"""The jobwarden-worker identity: ServiceAccount, Role and RoleBinding per namespace,
created when missing, converged when drifted, cached; and the worker pod's defaults."""

from __future__ import annotations

import asyncio
from typing import Any

from jobwarden.api import constants as c
from jobwarden.core import podspec
from jobwarden.core.podspec import EXPORT_SOURCE_URI_ENV, export_template, worker_pod
from jobwarden.engine import workers
from jobwarden.engine.workers import (
    WORKER_RULES,
    WORKER_SERVICE_ACCOUNT,
    WorkerIdentities,
    ensure_worker_identity,
    forget_worker_identity,
    uses_worker_identity,
)
from tests.support.fakeapi import FakeApi, api_error
from tests.unit.factories import run_body

JSON = dict[str, Any]


SA = "/api/v1/namespaces/team-a/serviceaccounts/jobwarden-worker"
ROLE = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles/jobwarden-worker"
BINDING = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/jobwarden-worker"


def ensure(kube: FakeApi, identities: WorkerIdentities | None = None) -> WorkerIdentities:
    identities = identities or WorkerIdentities(kube)
    asyncio.run(identities.ensure("team-a"))
    return identities


def test_creates_the_three_objects_with_least_privilege() -> None:
    kube = FakeApi()
    ensure(kube)
    assert set(kube.objects) == {SA, ROLE, BINDING}
    assert kube.objects[ROLE]["rules"] == [
        {"apiGroups": ["jobwarden.dev"], "resources": ["jobruns", "exports"], "verbs": ["get"]},
        {
            "apiGroups": ["jobwarden.dev"],
            "resources": ["jobruns/status", "exports/status"],
            "verbs": ["get", "patch"],
        },
    ]
    binding = kube.objects[BINDING]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "jobwarden-worker",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "jobwarden-worker", "namespace": "team-a"}
    ]
    for path in (SA, ROLE, BINDING):
        assert kube.objects[path]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == (
            "jobwarden"
        )


def test_cached_per_namespace_until_forgotten() -> None:
    kube = FakeApi()
    identities = ensure(kube)
    calls = len(kube.requests())
    ensure(kube, identities)
    assert len(kube.requests()) == calls, "a second ensure must not touch the API"
    identities.forget("team-a")
    ensure(kube, identities)
    assert [m for m, _ in kube.requests()[calls:]] == ["GET", "GET", "GET"]  # all present


def test_expired_cache_checks_again() -> None:
    kube = FakeApi()
    identities = ensure(kube, WorkerIdentities(kube, cache_seconds=0))
    calls = len(kube.requests())
    ensure(kube, identities)
    assert len(kube.requests()) == calls + 3


def test_drift_is_converged() -> None:
    kube = FakeApi()
    identities = ensure(kube)
    kube.objects[ROLE]["rules"] = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    kube.objects[BINDING]["roleRef"] = {"apiGroup": "x", "kind": "ClusterRole", "name": "admin"}
    identities.forget("team-a")
    ensure(kube, identities)
    assert kube.objects[ROLE]["rules"] == WORKER_RULES
    assert kube.objects[BINDING]["roleRef"]["name"] == "jobwarden-worker"
    assert ("DELETE", BINDING) in kube.requests()  # roleRef is immutable: replaced


def test_created_meanwhile_is_fine() -> None:
    kube = FakeApi()
    # Another writer creates each object between our read and our create.
    conflict = api_error("POST", "", 409, "AlreadyExists")
    kube.fail("POST", "/", conflict, times=3, after_write=True)
    ensure(kube)
    assert set(kube.objects) == {SA, ROLE, BINDING}


def test_concurrent_ensures_create_once() -> None:
    kube = FakeApi()
    identities = WorkerIdentities(kube)

    async def both() -> None:
        await asyncio.gather(identities.ensure("team-a"), identities.ensure("team-a"))

    asyncio.run(both())
    assert [m for m, _ in kube.requests()].count("POST") == 3


def test_module_functions_keep_one_cache_per_client() -> None:
    kube = FakeApi()
    asyncio.run(ensure_worker_identity(kube, "team-a"))
    calls = len(kube.requests())
    asyncio.run(ensure_worker_identity(kube, "team-a"))
    assert len(kube.requests()) == calls
    forget_worker_identity(kube, "team-a")
    asyncio.run(ensure_worker_identity(kube, "team-a"))
    assert len(kube.requests()) == calls + 3


# --------------------------------------------------------------- the pod side
TEMPLATE: JSON = {"spec": {"containers": [{"name": "main", "image": "x"}]}}


def test_the_two_spellings_of_the_account_agree() -> None:
    assert podspec.WORKER_SERVICE_ACCOUNT == workers.WORKER_SERVICE_ACCOUNT == "jobwarden-worker"


def test_worker_pods_run_as_jobwarden_worker_unless_the_template_says() -> None:
    body = run_body(spec={"template": TEMPLATE})
    pod = worker_pod(body, TEMPLATE, 1)
    assert pod["spec"]["serviceAccountName"] == WORKER_SERVICE_ACCOUNT
    assert uses_worker_identity(pod)
    own = {"spec": {**TEMPLATE["spec"], "serviceAccountName": "reports"}}
    assert worker_pod(body, own, 1)["spec"]["serviceAccountName"] == "reports"
    legacy = {"spec": {**TEMPLATE["spec"], "serviceAccount": "old-style"}}
    pod = worker_pod(body, legacy, 1)
    assert pod["spec"]["serviceAccountName"] == "old-style"
    assert not uses_worker_identity(pod)


EXPORT: JSON = {
    "source": {"postgres": {"secretRef": {"name": "orders-db", "key": "dsn"}}},
    "query": "SELECT 1",
    "destination": {"volume": "out", "path": "x.csv"},
    "volumes": [{"name": "out", "emptyDir": {}}],
    "worker": {"serviceAccountName": "exporter", "env": [{"name": "PGSSLMODE", "value": "x"}]},
}


def test_export_pods_read_the_connection_uri_from_the_secret() -> None:
    body = run_body(kind=c.KIND_EXPORT, spec=EXPORT)
    pod = worker_pod(body, export_template(body, "img"), 1)
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env[EXPORT_SOURCE_URI_ENV] == {
        "name": EXPORT_SOURCE_URI_ENV,
        "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "dsn"}},
    }
    names = [e["name"] for e in container["env"]]
    assert names.index("PGSSLMODE") > names.index(EXPORT_SOURCE_URI_ENV)  # the user's after
    assert pod["spec"]["serviceAccountName"] == "exporter"


def test_export_pods_key_defaults_to_uri_and_sqlite_needs_no_secret() -> None:
    spec = {**EXPORT, "source": {"postgres": {"secretRef": {"name": "db"}}}, "worker": {}}
    body = run_body(kind=c.KIND_EXPORT, spec=spec)
    (container,) = export_template(body, "img")["spec"]["containers"]
    ref = {e["name"]: e for e in container["env"]}[EXPORT_SOURCE_URI_ENV]
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "uri"}
    sqlite = {**EXPORT, "source": {"sqlite": {"volume": "out", "path": "a.db"}}, "worker": {}}
    body = run_body(kind=c.KIND_EXPORT, spec=sqlite)
    (container,) = export_template(body, "img")["spec"]["containers"]
    assert EXPORT_SOURCE_URI_ENV not in {e["name"] for e in container["env"]}
