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
VERB_CREATE = "create"
#: The verb a hand-made run of a sensitive ScheduledJob needs (the webhook's rule).
VERB_EXECUTE_SENSITIVE = "execute-sensitive"


@dataclass(frozen=True)
class Right:
    """Whether the caller may do something to an object (cancel it, run it…), and why."""

    allowed: bool
    why: str

    def cell(self) -> str:
        """`yes`, `no`, or `requested` once a cancel was asked for."""
        if self.why == "requested":
            return "requested"
        return "yes" if self.allowed else "no"


#: The name the plugin's views use for the answer about cancelling.
CancelRight = Right


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


def run_right(
    access: Access,
    namespace: str,
    job: Mapping[str, Any] | None,
    kind: str = c.KIND_JOB_RUN,
) -> Right:
    """May the caller create a run by hand (run now, re-run) in `namespace`? As RBAC
    and the admission webhook decide: `create` on the run's kind, and for a run of a
    sensitive ScheduledJob (`job`) the verb execute-sensitive on that job."""
    plural = PLURALS[kind]
    if not access.allowed(VERB_CREATE, plural, namespace):
        return Right(False, f"no RBAC create on {plural}")
    if job is not None and bool((job.get("spec") or {}).get("sensitive")):
        name = name_of(job)
        if not access.allowed(VERB_EXECUTE_SENSITIVE, c.PLURAL_SCHEDULED_JOBS, namespace, name):
            return Right(False, f"{name} is sensitive: no RBAC verb {VERB_EXECUTE_SENSITIVE}")
        return Right(True, f"RBAC create and {VERB_EXECUTE_SENSITIVE}")
    return Right(True, "RBAC create")


def patch_right(access: Access, obj: Mapping[str, Any]) -> Right:
    """May the caller patch `obj` (pause and resume a ScheduledJob)? RBAC `patch`."""
    plural = PLURALS[str(obj.get("kind") or "")]
    if access.allowed(VERB_PATCH, plural, namespace_of(obj), name_of(obj)):
        return Right(True, "RBAC patch")
    return Right(False, f"no RBAC patch on {plural}")


def create_right(access: Access, kind: str, namespace: str) -> Right:
    """May the caller create objects of `kind` in `namespace`? RBAC `create`."""
    plural = PLURALS[kind]
    if access.allowed(VERB_CREATE, plural, namespace):
        return Right(True, "RBAC create")
    return Right(False, f"no RBAC create on {plural} in {namespace}")
