"""The engine's one seam to the Kubernetes API: a small typed port.

Everything the engine, the leader election and the webhooks ask of the API goes
through `KubeApi`: `engine.kube.Kube` implements it over HTTP, and the unit tests use
the in-memory API server of `tests/support/fakeapi.py`. Objects are plain dicts, as
in manifests; paths are REST paths (`jobwarden.api.paths`); every non-2xx answer is a
`KubeApiError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

JSON = dict[str, Any]


class KubeApi(Protocol):
    """What the operator asks of the Kubernetes API."""

    async def get(self, path: str, **params: str) -> JSON:
        """Read an object or list a collection."""
        ...

    def list_pages(self, path: str, page_size: int = 500, **params: str) -> AsyncIterator[JSON]:
        """The items of a collection, a page at a time."""
        ...

    async def create(self, path: str, body: JSON, *, dry_run: bool = False) -> JSON:
        """POST a new object into a collection (`dry_run`: checked, not stored)."""
        ...

    async def replace(self, path: str, body: JSON) -> JSON:
        """PUT an object (conditional on its metadata.resourceVersion)."""
        ...

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        """A JSON merge patch (RFC 7386)."""
        ...

    async def strategic_merge_patch(self, path: str, body: JSON) -> JSON:
        """A strategic merge patch (built-in kinds: list items by value)."""
        ...

    async def delete(
        self,
        path: str,
        *,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        propagation: str | None = None,
    ) -> JSON:
        """DELETE an object; `uid` makes it conditional on the very same object."""
        ...

    async def close(self) -> None:
        """Release connections and scratch files."""
        ...


class KubeApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(
        self, method: str, path: str, status: int, body: str, retry_after: str | None = None
    ) -> None:
        self.status = status
        try:
            answer: JSON = json.loads(body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        self.reason = str(answer.get("reason", ""))
        self.message = str(answer.get("message", body[:500]))
        details = answer.get("details") or {}
        #: The Status' causes, by type (StatusCause.type is sent as `reason`).
        self.causes = tuple(
            str(cause.get("reason") or "")
            for cause in (details.get("causes") or [])
            if isinstance(cause, dict)
        )
        self.retry_after_seconds = _seconds(details.get("retryAfterSeconds")) or _seconds(
            retry_after
        )
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}")

    @property
    def not_found(self) -> bool:
        """404: the object is gone."""
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: already exists, or a stale resourceVersion."""
        return self.status == 409


def _seconds(value: object) -> float | None:
    """A Retry-After in seconds (an HTTP date is not used by the API server)."""
    try:
        seconds = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


async def whoami(kube: KubeApi) -> str:
    """The user name the API server knows these credentials by (SelfSubjectReview)."""
    review = await kube.create(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    username = str(((review.get("status") or {}).get("userInfo") or {}).get("username", ""))
    if not username:
        raise RuntimeError(
            "the API server did not say who the operator is (SelfSubjectReview); set "
            "JOBWARDEN_OPERATOR_USERNAME"
        )
    return username
