"""Who the caller is, and what it may do: SelfSubjectReview and
SelfSubjectAccessReview, answered by the API server (never guessed)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jobwarden.api import constants as c
from jobwarden.client.kube import JSON, Kube, KubeError
from jobwarden.client.objects import (
    PLURALS,
    cancel_requested,
    is_terminal,
    name_of,
    namespace_of,
    owner_candidates,
    phase_of,
    scheduled_job_of,
)

VERB_CANCEL = "cancel"
VERB_PATCH = "patch"


@dataclass(frozen=True)
class CancelRight:
    """Whether the caller may cancel an object, and why."""

    allowed: bool
    why: str

    def cell(self) -> str:
        """`yes`, `no`, or `requested` once a cancel was asked for."""
        if self.why == "requested":
            return "requested"
        return "yes" if self.allowed else "no"


def whoami(kube: Kube) -> str | None:
    """The caller's user name, from a SelfSubjectReview (None if the API server
    cannot tell: older than 1.28 without the beta API)."""
    for version in ("v1", "v1beta1"):
        try:
            review = kube.create(
                f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                {"apiVersion": f"authentication.k8s.io/{version}", "kind": "SelfSubjectReview"},
            )
        except KubeError as error:
            if error.status in (404, 405):
                continue
            raise
        user = ((review.get("status") or {}).get("userInfo") or {}).get("username")
        return str(user) if user else None
    return None


class Access:
    """Cached SelfSubjectAccessReviews for `jobwarden.dev` resources."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._cache: dict[tuple[str, str, str, str], bool] = {}

    def allowed(self, verb: str, plural: str, namespace: str, name: str = "") -> bool:
        """Whether the caller may `verb` the resource (name: that object only).

        A grant for the whole resource covers every object, so that is asked first.
        """
        if name and self._ask(verb, plural, namespace, ""):
            return True
        return self._ask(verb, plural, namespace, name)

    def _ask(self, verb: str, plural: str, namespace: str, name: str) -> bool:
        key = (verb, plural, namespace, name)
        if key not in self._cache:
            attributes: JSON = {
                "namespace": namespace,
                "verb": verb,
                "group": c.GROUP,
                "resource": plural,
            }
            if name:
                attributes["name"] = name
            review = self.kube.create(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                },
            )
            self._cache[key] = bool((review.get("status") or {}).get("allowed"))
        return self._cache[key]


def cancel_right(
    obj: Mapping[str, Any],
    me: str | None,
    access: Access,
    job: Mapping[str, Any] | None = None,
) -> CancelRight:
    """May the caller cancel `obj`? As the admission webhook decides: `patch`, and
    either being its creator or holding the RBAC verb `cancel` on it."""
    kind = str(obj.get("kind") or "")
    plural, namespace, name = PLURALS[kind], namespace_of(obj), name_of(obj)
    if cancel_requested(obj):
        return CancelRight(False, "requested")
    if is_terminal(obj):
        return CancelRight(False, f"already {phase_of(obj)}")
    if not access.allowed(VERB_PATCH, plural, namespace, name):
        return CancelRight(False, f"no RBAC patch on {plural}")
    if me and me in owner_candidates(obj, job):
        return CancelRight(True, "creator")
    if access.allowed(VERB_CANCEL, plural, namespace, name):
        return CancelRight(True, "RBAC verb cancel")
    return CancelRight(False, "not the creator, no RBAC verb cancel")


def cancel_rights(
    kube: Kube,
    objects: Iterable[Mapping[str, Any]],
    me: str | None,
    jobs: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    parallel: int = 8,
) -> dict[tuple[str, str, str], CancelRight]:
    """`cancel_right` for many objects, keyed by (kind, namespace, name); the access
    reviews run a few at a time."""
    access = Access(kube)
    listed = list(objects)

    def one(obj: Mapping[str, Any]) -> tuple[tuple[str, str, str], CancelRight]:
        key = (str(obj.get("kind") or ""), namespace_of(obj), name_of(obj))
        job_name = scheduled_job_of(obj)
        job = jobs.get((namespace_of(obj), job_name)) if job_name else None
        return key, cancel_right(obj, me, access, job)

    # The namespace-wide answers first (cached), so the pool asks only per-object ones.
    for namespace, plural in sorted(
        {(namespace_of(o), PLURALS[str(o.get("kind"))]) for o in listed}
    ):
        access.allowed(VERB_PATCH, plural, namespace)
        access.allowed(VERB_CANCEL, plural, namespace)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(pool.map(one, listed))
