"""What an API server's refusal of a worker pod create means for the run.

The engine reports what the API said (HTTP status, the Status object's reason, message
and causes, a Retry-After); `classify` decides, as a pure function, whether the
refusal is permanent (the same pod would be refused again: the attempt ends, the run
fails with reason PodRejected) or transient (the same pod may be accepted later: the
create is retried with `create_retry_delay`). The admission webhook uses the same
answer for its dry run: only a permanent refusal is refused at `kubectl apply`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: Backoff of a refused create, per run: 5 s, 10 s, 20 s, then every 30 s. In any 60 s
#: window that is at most CREATES_PER_MINUTE_BOUND creates (at 0, 5, 15 and 35 s).
CREATE_RETRY_INITIAL_SECONDS = 5.0
CREATE_RETRY_FACTOR = 2.0
CREATE_RETRY_MAX_SECONDS = 30.0
#: A Retry-After from the API server is honoured up to this long.
CREATE_RETRY_AFTER_MAX_SECONDS = 120.0
CREATES_PER_MINUTE_BOUND = 4


class RefusalCause(StrEnum):
    """Why the API server refused a pod (a bounded set: it labels a metric)."""

    INVALID = "Invalid"  # 400/422: the pod spec is invalid
    POLICY = "Policy"  # 403: PodSecurity, LimitRange, a validating webhook, RBAC …
    NAMESPACE_TERMINATING = "NamespaceTerminating"
    NAMESPACE_NOT_FOUND = "NamespaceNotFound"
    QUOTA = "QuotaExceeded"  # 403 "exceeded quota": a ResourceQuota is used up for now
    SERVICE_ACCOUNT = "ServiceAccountMissing"  # 403: the pod's ServiceAccount is missing
    THROTTLED = "TooManyRequests"  # 429
    SERVER_ERROR = "ServerError"  # 5xx, including a webhook that could not be called
    UNREACHABLE = "Unreachable"  # no answer: timeout, connection refused or reset
    CONFLICT = "Conflict"  # 409 other than "already exists"
    UNAUTHORIZED = "Unauthorized"  # 401: credentials being rotated


TRANSIENT_CAUSES = frozenset(
    {
        RefusalCause.QUOTA,
        RefusalCause.SERVICE_ACCOUNT,
        RefusalCause.THROTTLED,
        RefusalCause.SERVER_ERROR,
        RefusalCause.UNREACHABLE,
        RefusalCause.CONFLICT,
        RefusalCause.UNAUTHORIZED,
    }
)


@dataclass(frozen=True)
class ApiRefusal:
    """What the API server answered to a pod create that did not succeed."""

    status: int  # HTTP status; 0 when no answer came (timeout, connection error)
    reason: str = ""  # the Status object's reason: Invalid, Forbidden, TooManyRequests …
    message: str = ""
    causes: tuple[str, ...] = ()  # Status details.causes[].type (e.g. NamespaceTerminating)
    retry_after_seconds: float | None = None  # Retry-After / details.retryAfterSeconds


@dataclass(frozen=True)
class Refusal:
    """An observed refusal of attempt `attempt`'s pod, as `decide` receives it."""

    attempt: int
    api: ApiRefusal


@dataclass(frozen=True)
class RefusalClass:
    """The meaning of one refusal."""

    cause: RefusalCause
    transient: bool

    @property
    def permanent(self) -> bool:
        """The same pod would be refused again: retrying is pointless."""
        return not self.transient

    @property
    def outcome(self) -> RefusalOutcome:
        """What follows: the create is retried, or the run is rejected."""
        return RefusalOutcome.REJECTED if self.permanent else RefusalOutcome.RETRIED


class RefusalOutcome(StrEnum):
    """What followed a refused pod create (a metric label)."""

    RETRIED = "retried"  # transient: backoff, the slot kept
    REJECTED = "rejected"  # permanent: the run failed with reason PodRejected


def classify(refusal: ApiRefusal) -> RefusalClass:
    """Permanent or transient, and why (see the module docstring)."""
    cause = _cause(refusal)
    return RefusalClass(cause, cause in TRANSIENT_CAUSES)


def _cause(refusal: ApiRefusal) -> RefusalCause:
    status, message = refusal.status, refusal.message.lower()
    if status == 0:
        return RefusalCause.UNREACHABLE
    if status == 401:
        return RefusalCause.UNAUTHORIZED
    if status == 403:
        if "NamespaceTerminating" in refusal.causes or "being terminated" in message:
            return RefusalCause.NAMESPACE_TERMINATING
        if "exceeded quota" in message or "status unknown for quota" in message:
            return RefusalCause.QUOTA  # used up now, or not yet counted by its controller
        if "service account" in message or "serviceaccount" in message:
            return RefusalCause.SERVICE_ACCOUNT
        return RefusalCause.POLICY
    if status == 404:
        return RefusalCause.NAMESPACE_NOT_FOUND
    if status == 409:
        return RefusalCause.CONFLICT
    if status == 429:
        return RefusalCause.THROTTLED
    if status >= 500:
        return RefusalCause.SERVER_ERROR
    return RefusalCause.INVALID  # 400, 413, 422 and any other client error


def create_retry_delay(refusals: int, retry_after_seconds: float | None = None) -> float:
    """Seconds before the next create after `refusals` transient refusals (≥ 1): a
    capped exponential backoff, never below CREATE_RETRY_INITIAL_SECONDS; a Retry-After
    the API server asked for is honoured (up to CREATE_RETRY_AFTER_MAX_SECONDS)."""
    exponent = min(max(refusals, 1) - 1, 16)
    delay = min(
        CREATE_RETRY_MAX_SECONDS, CREATE_RETRY_INITIAL_SECONDS * CREATE_RETRY_FACTOR**exponent
    )
    if retry_after_seconds is not None and math.isfinite(retry_after_seconds):
        delay = max(delay, min(retry_after_seconds, CREATE_RETRY_AFTER_MAX_SECONDS))
    return delay


def describe(refusal: ApiRefusal) -> str:
    """The API server's own words, or what happened when it said nothing."""
    if refusal.message:
        return refusal.message
    if refusal.status == 0:
        return "the API server did not answer"
    return f"HTTP {refusal.status} {refusal.reason}".strip()
