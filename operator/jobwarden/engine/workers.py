"""The identity of worker pods: a `jobwarden-worker` ServiceAccount per namespace.

Its Role allows nothing but reading jobwarden runs and patching their status (a worker
reports its own run's progress, and an export worker its artifact). Worker pods use it
unless their template names another ServiceAccount (see `core.podspec.worker_pod`).

`ensure_worker_identity(kube, namespace)` creates the ServiceAccount, Role and
RoleBinding when missing and converges a Role or RoleBinding that drifted; it is
idempotent and remembers, per namespace, that it has done so (for `CACHE_SECONDS`, so
a deleted ServiceAccount is recreated at the latest that much later; call
`forget_worker_identity` when a pod is rejected for a missing ServiceAccount to
recreate it at the next attempt).

The API server's ServiceAccount admission rejects a pod whose ServiceAccount does not
exist, so this must run before the worker pod is created.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.paths import resource_path
from jobwarden.engine.port import KubeApi, KubeApiError

#: Also `core.podspec.WORKER_SERVICE_ACCOUNT` (the pure core cannot import the engine;
#: a unit test keeps the two equal).
WORKER_SERVICE_ACCOUNT = "jobwarden-worker"
CACHE_SECONDS = 600.0
RBAC_VERSION = "rbac.authorization.k8s.io/v1"
_LABELS = {
    "app.kubernetes.io/name": "jobwarden",
    "app.kubernetes.io/component": "worker",
    "app.kubernetes.io/managed-by": "jobwarden",
}

#: What a worker may do: read runs, patch their status. Nothing else.
WORKER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [c.GROUP],
        "resources": [c.PLURAL_JOB_RUNS, c.PLURAL_EXPORTS],
        "verbs": ["get"],
    },
    {
        "apiGroups": [c.GROUP],
        "resources": [f"{c.PLURAL_JOB_RUNS}/status", f"{c.PLURAL_EXPORTS}/status"],
        "verbs": ["get", "patch"],
    },
]


def worker_objects(namespace: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(api version, plural, manifest) of the ServiceAccount, Role and RoleBinding."""
    metadata = {"name": WORKER_SERVICE_ACCOUNT, "namespace": namespace, "labels": dict(_LABELS)}
    return [
        (
            "v1",
            "serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata)},
        ),
        (
            RBAC_VERSION,
            "roles",
            {
                "apiVersion": RBAC_VERSION,
                "kind": "Role",
                "metadata": dict(metadata),
                "rules": WORKER_RULES,
            },
        ),
        (
            RBAC_VERSION,
            "rolebindings",
            {
                "apiVersion": RBAC_VERSION,
                "kind": "RoleBinding",
                "metadata": dict(metadata),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": WORKER_SERVICE_ACCOUNT,
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": WORKER_SERVICE_ACCOUNT,
                        "namespace": namespace,
                    }
                ],
            },
        ),
    ]


def uses_worker_identity(pod: dict[str, Any]) -> bool:
    """Whether a worker pod manifest runs as `jobwarden-worker`."""
    return (pod.get("spec") or {}).get("serviceAccountName") == WORKER_SERVICE_ACCOUNT


class WorkerIdentities:
    """Ensures the worker identity per namespace, at most once per CACHE_SECONDS."""

    def __init__(self, kube: KubeApi, cache_seconds: float = CACHE_SECONDS) -> None:
        self.kube = kube
        self.cache_seconds = cache_seconds
        self._done: dict[str, float] = {}  # namespace -> time.monotonic() of success
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, namespace: str) -> None:
        """Check the namespace again at the next `ensure`."""
        self._done.pop(namespace, None)

    async def ensure(self, namespace: str) -> None:
        """Create or converge the ServiceAccount, Role and RoleBinding."""
        if self._fresh(namespace):
            return
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            if self._fresh(namespace):
                return
            for api_version, plural, manifest in worker_objects(namespace):
                await self._ensure_one(api_version, plural, namespace, manifest)
            self._done[namespace] = time.monotonic()

    def _fresh(self, namespace: str) -> bool:
        done = self._done.get(namespace)
        return done is not None and time.monotonic() - done < self.cache_seconds

    async def _ensure_one(
        self, api_version: str, plural: str, namespace: str, manifest: dict[str, Any]
    ) -> None:
        path = resource_path(api_version, plural, namespace, WORKER_SERVICE_ACCOUNT)
        try:
            existing = await self.kube.get(path)
        except KubeApiError as error:
            if not error.not_found:
                raise
            try:
                await self.kube.create(resource_path(api_version, plural, namespace), manifest)
            except KubeApiError as create_error:
                if not create_error.conflict:  # created meanwhile: fine
                    raise
            return
        drift: dict[str, Any] = {}
        for field in ("rules", "subjects"):
            if field in manifest and existing.get(field) != manifest[field]:
                drift[field] = manifest[field]
        if existing.get("roleRef", manifest.get("roleRef")) != manifest.get("roleRef"):
            # roleRef is immutable: replace the binding.
            await self.kube.delete(path, uid=str(existing["metadata"]["uid"]))
            await self.kube.create(resource_path(api_version, plural, namespace), manifest)
            return
        if drift:
            await self.kube.merge_patch(path, drift)


_IDENTITIES: weakref.WeakKeyDictionary[KubeApi, WorkerIdentities] = weakref.WeakKeyDictionary()


def _identities(kube: KubeApi) -> WorkerIdentities:
    identities = _IDENTITIES.get(kube)
    if identities is None:
        identities = _IDENTITIES[kube] = WorkerIdentities(kube)
    return identities


async def ensure_worker_identity(kube: KubeApi, namespace: str) -> None:
    """Make sure `namespace` has the jobwarden-worker ServiceAccount, Role and
    RoleBinding (idempotent; cached per namespace and `kube`)."""
    await _identities(kube).ensure(namespace)


def forget_worker_identity(kube: KubeApi, namespace: str) -> None:
    """Drop the cache entry of `namespace` (e.g. after a pod was rejected because
    its ServiceAccount was missing)."""
    _identities(kube).forget(namespace)
